// SPDX-License-Identifier: MIT — `fbdefio-emu heatmap TRACE`: a trace's per-page page_mkwrite counts as a PNG.
import ArgumentParser
import Foundation
import Frontend
import Kernel
import Lab

struct HeatmapCLI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heatmap",
        abstract: "Replay an access trace silently and draw its per-page page_mkwrite counts over the screen as a PNG.")

    @Argument(help: "The trace file, or - for stdin.")
    var trace: String

    @Option(name: [.short, .customLong("output")], help: "The PNG to write.")
    var output: String = "heatmap.png"

    func run() throws {
        let parsed = try ReplayCLI.load(trace)
        let result = runOnEmulator { Replay(parsed).run() }
        let image = Heatmap.image(counts: result.mkwritesPerPage, layout: result.layout)
        do { try PNGEncoder.write(output, width: image.width, height: image.height, argb: image.pixels) } catch {
            throw ValidationError("--output: cannot write '\(output)': \(error)")
        }
        let total = result.mkwritesPerPage.reduce(0, +)
        let touched = result.mkwritesPerPage.filter { $0 > 0 }.count
        print("heatmap: \(output) (\(image.width)x\(image.height)), \(total) page_mkwrite on \(touched) pages, "
            + "most \(result.mkwritesPerPage.max() ?? 0) on one page")
        if !result.errors.isEmpty { throw ExitCode(1) }
    }
}
