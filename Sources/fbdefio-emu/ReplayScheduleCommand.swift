// SPDX-License-Identifier: MIT — `fbdefio-emu replay-schedule FILE`: a schedule saved by explore, run again.
import ArgumentParser
import Foundation
import Kernel
import Lab

struct ReplaySchedule: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay-schedule",
        abstract: "Run a schedule saved by 'explore' again: the same violation and the same event hash.")

    @Argument(help: "The schedule file.")
    var file: String

    @Option(help: "Write every kernel event as JSON lines to FILE.")
    var events: String?

    @Option(help: "Write a Chrome trace-event JSON to FILE.")
    var trace: String?

    @Flag(name: .customLong("run-on"), help: "Let the scenario's programs go on after the violation and report which pages never reached the panel by the end.")
    var runOn = false

    @Option(help: "Write a self-contained HTML walkthrough of the schedule (stopping at the violation) to FILE.")
    var walkthrough: String?

    func run() throws {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw ValidationError("replay-schedule: cannot read '\(file)'")
        }
        let record: ScheduleRecord
        do { record = try ScheduleRecord(parsing: text) } catch { throw ValidationError("replay-schedule: \(error)") }
        guard Scenario.named(record.scenario) != nil else {
            throw ValidationError("replay-schedule: unknown scenario '\(record.scenario)'")
        }
        _ = try parseVariant(record.variant)
        let keepExports = events != nil || trace != nil
        let runOn = self.runOn
        let result = runOnEmulator { () -> (ScenarioRun, [String], String?)? in
            Explorer.replayExporting(record, events: keepExports, trace: trace != nil, runOn: runOn)
        }
        guard let (run, lines, chrome) = result else {
            throw ValidationError("replay-schedule: unknown variant or scenario in '\(file)'")
        }
        if let events { try writeOutput(lines.map { $0 + "\n" }.joined(), to: events, flag: "--events") }
        if let trace, let chrome { try writeOutput(chrome, to: trace, flag: "--trace") }
        print("replay-schedule: \(record.variant), scenario \(record.scenario), \(record.switches.count) switches")
        print(run.diagram)
        print("event hash: \(hex(run.eventHash))")
        if let walkthrough {
            try writeWalkthrough(.schedule(record), to: walkthrough, expectedHash: runOn ? nil : run.eventHash)
        }
        if runOn {
            print("at the end of the run (\(run.outcome)): "
                + (run.undelivered.isEmpty ? "every page reached the panel"
                   : "pages \(run.undelivered) of the framebuffer never reached the panel"))
        }
        if let v = run.violation {
            print(v)
            throw ExitCode(1)
        }
        print("no violation")
    }
}
