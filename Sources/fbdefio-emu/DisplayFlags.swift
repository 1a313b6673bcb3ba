// SPDX-License-Identifier: MIT — the window and snapshot flags of the commands that show a panel (run, exec).
import ArgumentParser
import Foundation
import Frontend

/// How a panel is shown: the live window's scale, HUD and hold, and PNG snapshots of the panel.
struct DisplayFlags: ParsableArguments {
    @Option(name: .customLong("png-out"), help: "Directory for PNG snapshots (final.png, plus one every --png-every updates).")
    var pngOut: String?

    @Option(name: .customLong("png-every"), help: "With --png-out: also write a snapshot every N panel updates (0 = final only).")
    var pngEvery: Int = 0

    @Option(help: "Window scale factor 1-8 (default: fits the panel to at least 640 pixels wide).")
    var scale: Int?

    @Flag(name: .customLong("no-hud"), help: "Start with the HUD hidden (toggle with 'h').")
    var noHUD = false

    @Flag(help: "Live: keep the window open with the final picture after the run ended, until it is closed.")
    var hold = false

    func validate() throws {
        guard pngEvery >= 0 else { throw ValidationError("--png-every: must be 0 or more") }
        if let scale, !SDLWindowOptions.scaleRange.contains(scale) { throw ValidationError("--scale: '\(scale)' is not in 1...8") }
    }

    /// The flags that only make sense with a window.
    func check(headless: Bool) throws {
        if hold && headless { throw ValidationError("--hold: only for the live window, not with --headless") }
    }

    /// The snapshot writer of `--png-out`, its directory created; nil without the flag.
    func snapshots() throws -> PNGSnapshots? {
        guard let pngOut else { return nil }
        do { try FileManager.default.createDirectory(atPath: pngOut, withIntermediateDirectories: true) } catch {
            throw ValidationError("--png-out: cannot create '\(pngOut)': \(error.localizedDescription)")
        }
        return PNGSnapshots(directory: pngOut)
    }

    /// The live window's options: `--scale`, or the scale that makes a `width`-pixel panel at least 640 wide.
    func windowOptions(title: String, width: Int) -> SDLWindowOptions {
        let autoScale = max(1, min(8, 640 / max(width, 1)))
        var options = SDLWindowOptions(title: title, scale: scale ?? autoScale, hudInitiallyOn: !noHUD)
        options.stayOpenAfterFinish = hold
        return options
    }
}
