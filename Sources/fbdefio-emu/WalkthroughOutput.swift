// SPDX-License-Identifier: MIT — `--walkthrough FILE.html` of run, replay, explore and replay-schedule: one more
// deterministic pass of the same run with the step observer on, written as a self-contained page.
import ArgumentParser
import Foundation
import Frontend
import Kernel
import Lab

/// Runs `source` again with the step observer, and writes the page to `path`. `expectedHash` is the event hash
/// of the run the command just made (nil: none to compare): a different one is said on the page and on stderr.
func writeWalkthrough(_ source: StepSource, to path: String, expectedHash: UInt64? = nil) throws {
    let maxSteps = Walkthrough.defaultMaxSteps
    var run: StepRun
    switch runStepPass(source, 1 ... maxSteps) {
    case .success(let r): run = r
    case .failure(let e): throw ValidationError("--walkthrough: \(e)")
    }
    let window = Walkthrough.window(total: run.events.count, violationEvent: run.violationEvent, maxSteps: maxSteps)
    if run.states[window.lowerBound] == nil {
        // The violation is past the first window: run once more keeping the events that lead to it.
        switch runStepPass(source, window) {
        case .success(let r): run = r
        case .failure(let e): throw ValidationError("--walkthrough: \(e)")
        }
    }
    var notes: [String] = []
    if let expectedHash, expectedHash != run.eventHash {
        let text = "the walkthrough's pass gave event hash \(hex(run.eventHash)), the run itself \(hex(expectedHash)) "
            + "(a live run stops when its window closes: the walkthrough replays the frames it was asked for)"
        notes.append(text)
        FileHandle.standardError.write(Data("fbdefio-emu: --walkthrough: \(text)\n".utf8))
    }
    let image = Heatmap.image(counts: run.mkwritesPerPage, layout: run.layout)
    let png = try? PNGEncoder.encode(width: image.width, height: image.height, argb: image.pixels)
    let uri = png.map { "data:image/png;base64," + Data($0).base64EncodedString() }
    let command = "fbdefio-emu " + CommandLine.arguments.dropFirst().joined(separator: " ")
    let html = Walkthrough.html(run, window: window, command: command, heatmapPNG: uri, notes: notes)
    try writeOutput(html, to: path, flag: "--walkthrough")
}
