// SPDX-License-Identifier: MIT — the flags of every command that boots a machine: scheduler, clock, CPUs, variant,
// and the schedule to record or replay.
import ArgumentParser
import Foundation
import Kernel
import Lab

/// Options that pick the machine's scheduler and clock.
struct MachineFlags: ParsableArguments {
    @Option(help: "Seed of every random choice (scheduler, workloads). Same seed and flags ⇒ same trace.")
    var seed: UInt64 = 1

    @Option(help: "Scheduling policy: random (seeded random walk) or rr (round robin with a quantum).")
    var policy: PolicyChoice = .random

    @Option(name: .customLong("switch-ratio"), help: "Random policy: probability N/D of a switch at a preemption point.")
    var switchRatio: String = "1/4"

    @Option(name: .customLong("quantum-us"), help: "Round-robin time slice in microseconds of virtual time.")
    var quantumMicros: Int64 = 100

    @Option(help: "Timer ticks per second (CONFIG_HZ): 100, 250, 300 or 1000.")
    var hz: Int64 = 250

    @Option(help: "CPUs of the emulated machine (1 to 64): processes placed round robin, a worker thread per CPU. 1 is a preemptive uniprocessor.")
    var cpus: Int = 4

    @Flag(name: .customLong("no-per-vma-locks"), help: "Fault under mmap_lock only (no per-VMA lock first try).")
    var noPerVMALocks = false

    @Option(name: .customLong("record-schedule"), help: "Write the run's scheduling decisions to FILE.")
    var recordSchedule: String?

    @Option(name: .customLong("replay-schedule"), help: "Replay the decisions recorded in FILE.")
    var replaySchedule: String?

    @Option(help: "Kernel variant (see 'fbdefio-emu variants'); VERSION+PATCH+… composes. Default: upstream.")
    var variant: String = "upstream"

    func validate() throws {
        guard Ratio(parsing: switchRatio) != nil else {
            throw ValidationError("--switch-ratio: '\(switchRatio)' is not N/D with 0 <= N <= D, D > 0")
        }
        guard quantumMicros > 0 else { throw ValidationError("--quantum-us: must be a positive number of µs") }
        try FlagCheck.hz(hz)
        try FlagCheck.cpus(cpus)
        _ = try parseVariant(variant)
    }

    /// Writes the run's schedule when --record-schedule was given.
    func writeSchedule(_ schedule: Schedule) throws {
        guard let path = recordSchedule else { return }
        try writeOutput(schedule.text, to: path, flag: "--record-schedule")
    }

    func machineOptions() throws -> MachineOptions {
        var o = MachineOptions()
        o.seed = seed
        o.policy = policy
        o.switchRatio = Ratio(parsing: switchRatio)!
        o.quantumMicros = quantumMicros
        o.hz = hz
        o.cpus = cpus
        o.perVMALocks = !noPerVMALocks
        o.variant = try parseVariant(variant)
        if let path = replaySchedule {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ValidationError("--replay-schedule: cannot read '\(path)'")
            }
            do { o.replay = try Schedule(parsing: text) } catch {
                throw ValidationError("--replay-schedule: \(error)")
            }
        }
        return o
    }
}

extension PolicyChoice: ExpressibleByArgument {}

/// Parses `--variant` for every command that boots a machine.
func parseVariant(_ text: String) throws -> Variants.Selection {
    do { return try Variants.select(text) } catch { throw ValidationError("--variant: \(error)") }
}
