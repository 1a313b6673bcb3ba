// SPDX-License-Identifier: MIT — `--walkthrough FILE.html` of run, replay, explore and replay-schedule: one more
// deterministic pass of the same run with the step observer on, written as a self-contained page.
import ArgumentParser
import Foundation
import Frontend
import Kernel
import Lab

/// Runs `source` again with the step observer and writes the page to `path`. `expectedHash` is the event hash of
/// the run the command just made (nil: none to compare); a different one is said on the page and on stderr.
func writeWalkthrough(_ source: StepSource, to path: String, expectedHash: UInt64? = nil) throws {
    let command = "fbdefio-emu " + CommandLine.arguments.dropFirst().joined(separator: " ")
    let result = runOnEmulator {
        Walkthrough.build(source, command: command, expectedHash: expectedHash) { image in
            (try? PNGEncoder.encode(width: image.width, height: image.height, argb: image.pixels))
                .map { "data:image/png;base64," + Data($0).base64EncodedString() }
        }
    }
    switch result {
    case .success(let (html, run)):
        if let expectedHash, expectedHash != run.eventHash {
            FileHandle.standardError.write(Data(("fbdefio-emu: --walkthrough: the page's pass gave event hash "
                + "\(hex(run.eventHash)), the run \(hex(expectedHash)) (the page says so)\n").utf8))
        }
        try writeOutput(html, to: path, flag: "--walkthrough")
    case .failure(let e): throw ValidationError("--walkthrough: \(e)")
    }
}
