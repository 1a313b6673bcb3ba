// SPDX-License-Identifier: MIT — the framebuffer and panel flags of the commands that boot a panel (run, exec).
import ArgumentParser
import Lab
import Panels

/// Which panel, the framebuffer's mode, and fb_defio's delay and page-list order.
struct FramebufferFlags: ParsableArguments {
    @Option(help: "Panel profile (see 'fbdefio-emu panels').")
    var panel: PanelProfile = PanelProfile.named("ili9341-spi32")!

    @Option(help: "Framebuffer size WxH (default: the panel's resolution).")
    var resolution: String?

    @Option(help: "Bits per pixel of the framebuffer: 16 (RGB565) or 32 (XRGB8888). Default: the panel's.")
    var bpp: Int?

    @Option(name: .customLong("delay-ms"), help: "fb_defio delay in ms (converted like msecs_to_jiffies). Default: the panel driver's.")
    var delayMs: Int64?

    @Option(name: .customLong("delay-jiffies"), help: "fb_defio delay in jiffies (0 = HZ, as the kernel does).")
    var delayJiffies: Int64?

    @Flag(name: .customLong("sort-pagereflist"), help: "Keep the page list sorted by offset (default: the driver's choice).")
    var sortPagereflist = false

    func validate() throws {
        if let resolution { try FlagCheck.resolution(resolution) }
        if let bpp { try FlagCheck.bpp(bpp) }
        if delayMs != nil && delayJiffies != nil {
            throw ValidationError("--delay-ms and --delay-jiffies: give at most one")
        }
        if let delayMs { try FlagCheck.delayMs(delayMs) }
        if let delayJiffies, delayJiffies < 0 || delayJiffies > 60_000 {
            throw ValidationError("--delay-jiffies: '\(delayJiffies)' is not in 0...60000")
        }
    }

    static func parseResolution(_ text: String) -> (Int, Int)? {
        let parts = text.lowercased().split(separator: "x")
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), (16 ... 4096).contains(w),
              (16 ... 4096).contains(h) else { return nil }
        return (w, h)
    }

    /// The panel's profile.
    var profile: PanelProfile { panel }

    /// `--resolution`, or nil for the panel's own.
    var size: (width: Int, height: Int)? { resolution.flatMap(Self.parseResolution) }

    /// `--delay-ms` or `--delay-jiffies`, else the panel driver's delay.
    var delay: DelayChoice {
        if let delayMs { return .milliseconds(delayMs) }
        if let delayJiffies { return .jiffies(delayJiffies) }
        return .panelDefault
    }
}
