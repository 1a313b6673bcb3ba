// SPDX-License-Identifier: MIT — the observation files of the commands that run a machine (run, exec, replay).
import ArgumentParser

/// Where a run's observations go: every kernel event, the counters with the store→panel latency histogram, and a
/// Perfetto trace. The machine keeps events and trace records only when a file asks for them.
struct ObservabilityFlags: ParsableArguments {
    @Option(help: "Write every kernel event of the run as JSON lines to FILE.")
    var events: String?

    @Option(help: "Write counters and the store→panel latency histogram as JSON to FILE.")
    var stats: String?

    @Option(help: "Write a Chrome trace-event JSON (opens in Perfetto) to FILE.")
    var trace: String?

    /// Writes the files asked for: the events as JSON lines, the counters' JSON, the Chrome trace if the run made one.
    func write(events eventLines: [String], stats json: @autoclosure () -> String, trace chrome: String?) throws {
        if let events { try writeOutput(eventLines.map { $0 + "\n" }.joined(), to: events, flag: "--events") }
        if let stats { try writeOutput(json(), to: stats, flag: "--stats") }
        if let trace, let chrome { try writeOutput(chrome, to: trace, flag: "--trace") }
    }
}
