// SPDX-License-Identifier: MIT — the boot demo: fake processes fault on a scratch device and a summary is printed.
import Kernel

/// What a finished run hands back to the (non-emulator) caller.
package struct RunReport: Sendable {
    package var text: String
    package var outcome: RunOutcome
    package var schedule: Schedule
    package var eventHash: UInt64
    /// Jobs enqueued on the emulator executor from another thread while the machine ran (must be 0).
    package var foreignEnqueues: Int
    package var succeeded: Bool
}

/// Boots a machine with a scratch device (`ScratchDevice`, fb_defio-style hooks) and `procs` fake processes that
/// read and write their share of it: one maps at a file offset, one forks a child, the last maps privately (COW).
/// Prints what faulted where. This is what the machine can show before the fb_defio demo exists.
@EmuActor package enum BootDemo {
    package static func run(_ options: MachineOptions, procs: Int, pagesPerProc: Int = 4) -> RunReport {
        let before = EmuExecutor.shared.foreignEnqueues
        let k = MachineConfig(options).makeKernel()
        let pages = procs * pagesPerProc
        let dev = ScratchDevice(k, pages: pages)
        var rng = SplitMix64(seed: SplitMix64.derive(options.seed, "boot-demo"))
        let salts = (0 ..< procs).map { _ in UInt32(truncatingIfNeeded: rng.next()) }
        for p in 0 ..< procs {
            let isPrivate = procs > 2 && p == procs - 1
            k.spawnProcess("proc\(p)") { t in
                let fd = try t.open(dev.inode)
                // proc1 maps only its own stripe, at a file offset; the others map the whole device.
                let offsetPages = p == 1 ? p * pagesPerProc : 0
                let length = (p == 1 ? pagesPerProc : pages) * PAGE_SIZE
                let base = try t.mmap(length: length, prot: .readWrite, flags: isPrivate ? .private : .shared,
                                            fd: fd, offset: offsetPages * PAGE_SIZE)
                let stripe = base + (p * pagesPerProc - offsetPages) * PAGE_SIZE
                for page in 0 ..< pagesPerProc {
                    let pageBase = stripe + page * PAGE_SIZE
                    _ = try t.load32(pageBase)  // Read first: a read-only PTE, then a write-protect fault.
                    for i in stride(from: 0, to: PAGE_SIZE, by: 4) {
                        try t.store32(pageBase + i, salts[p] ^ UInt32(page << 16 | i))
                    }
                }
                if p == 0 {
                    try t.fork("proc0-child") { c in
                        // The child shares the mapping but none of its PTEs: its writes fault afresh.
                        try c.store32(stripe, 0xC0FF_EE00)
                    }
                }
            }
        }
        let outcome = k.sched.run()
        let after = EmuExecutor.shared.foreignEnqueues
        var lines: [String] = []
        lines.append("fbdefio-emu boot demo: \(procs) processes on a \(pages)-page scratch device, "
            + "policy \(k.sched.policy), seed \(options.seed), variant \(options.variant)")
        lines.append("outcome: \(outcome)")
        for t in k.processes { lines.append("  pid \(t.pid) \(t.name): \(t.exitStatus), \(t.accesses) accesses") }
        lines.append("virtual time: \(k.now)   switches: \(k.sched.switches)   "
            + "preemption points: \(k.sched.preemptionPoints)")
        lines.append("hook calls: \(dev.log.count) (first: \(dev.log.prefix(4).joined(separator: ", ")))")
        lines.append("vmstat: " + k.stats.fields.filter { $0.1 != 0 }.map { "\($0.0)=\($0.1)" }
            .joined(separator: " "))
        for r in k.sched.reports { lines.append("report: \(r)") }
        for w in k.onceWarningCounts { lines.append("report: \(w)") }
        lines.append("event hash: \(hex(k.events.hash))   schedule hash: \(hex(k.sched.switchHash))   "
            + "decisions: \(k.sched.recorded.count)")
        lines.append("executor: foreign_enqueues=\(after - before)")
        let ok = outcome == .completed && k.processes.allSatisfy { $0.exitStatus == .exited }
        return RunReport(text: lines.joined(separator: "\n"), outcome: outcome, schedule: k.sched.schedule,
                         eventHash: k.events.hash, foreignEnqueues: after - before, succeeded: ok)
    }
}

/// 16 hex digits.
package func hex(_ v: UInt64) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
}
