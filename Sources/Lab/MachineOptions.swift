// SPDX-License-Identifier: MIT — the options every machine is booted with: seed, scheduling policy, clock, CPUs,
// the per-VMA lock switch, a schedule to replay and the kernel variant.
import Kernel

/// Which scheduling policy a run uses.
public enum PolicyChoice: String, CaseIterable, Sendable {
    case random, rr
}

/// Options shared by every machine the CLI boots.
public struct MachineOptions: Sendable {
    public var seed: UInt64 = 1
    public var policy: PolicyChoice = .random
    /// Probability of a switch at a preemption point (random policy).
    package var switchRatio = Ratio(1, 4)
    /// Time slice (round-robin policy), in microseconds.
    public var quantumMicros: Int64 = 100
    public var hz: Int64 = 250
    /// CPUs of the machine (`--cpus`); processes are placed on them round robin.
    package var cpus = 4
    package var perVMALocks = true
    package var replay: Schedule?
    /// The kernel version and bugs the machine runs (`--variant`).
    public var variant = Variants.upstream
    public init() {}

    package var schedPolicy: SchedPolicy {
        switch policy {
        case .random: .random(seed: seed, switchRatio: switchRatio)
        case .rr: .roundRobin(quantum: .us(quantumMicros), seed: seed)
        }
    }
}
