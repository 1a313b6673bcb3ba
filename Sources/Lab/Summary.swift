// SPDX-License-Identifier: MIT — the end-of-run summary of a demo machine.
import Kernel
import Panels

@EmuActor enum Summary {
    static func text(machine m: Machine, outcome: RunOutcome, frames: Int, check: CheckResult) -> String {
        let k = m.kernel, info = m.info, o = m.options, s = m.panel.stats, d = info.defioStats
        let tick = k.sched.tickRate
        let delay = info.fbdefio!.delay
        let seconds = max(Double(k.now.picoseconds) / 1e12, 1e-12)
        var lines: [String] = []
        lines.append("fbdefio-emu: \(o.workload) on \(m.profile.name) — \(o.width)x\(o.height) \(o.bpp)bpp, "
            + "\(o.procs) processes, \(frames) frames, seed \(o.machine.seed), policy \(k.sched.policy), "
            + "variant \(o.machine.variant)")
        lines.append("fb_defio: delay \(delay.rawValue) jiffies = \(tick.jiffiesToMsecs(delay)) ms at HZ=\(tick.hz) "
            + "(a driver would log fps=\(tick.hz / max(delay.rawValue, 1))), "
            + "\(info.fbdefio!.sortPagereflist ? "sorted" : "FIFO") pagereflist, smem_len \(info.fix.smemLen) "
            + "(\(info.fix.smemLen >> PAGE_SHIFT) pages)")
        if let work = info.deferredWork, let slot = work.lastSlot {
            let fired = work.timersFired
            let spread = fired == 0 ? "none fired"
                : "\(fired) fired \(ms(work.fireDelayMin))–\(ms(work.fireDelayMax)) ms after arming (mean "
                    + "\(ms(VirtualTime(picoseconds: work.fireDelaySum.picoseconds / Int64(fired)))) ms)"
            let filing = slot.level == 0 ? "level 0, run at the tick after expires"
                : "level \(slot.level) (\(slot.granularity)-jiffy buckets), rounded up"
            lines.append("timer wheel: expires = jiffies + \(delay.rawValue), filed at \(filing); \(work.armed) armed, "
                + spread)
        }
        let sched = k.sched
        let placement = sched.cpuCount > 1 ? " (processes placed round robin, a worker per CPU)" : " (uniprocessor)"
        lines.append("cpus: \(sched.cpuCount)\(placement), context switches \(sched.switches), cross-CPU hand-overs "
            + "\(sched.handoffs), TLB shootdowns \(k.stats.tlbShootdowns) (\(k.stats.tlbShootdownIPIs) IPIs)")
        lines.append("outcome: \(outcome); virtual time \(k.now)")
        for t in k.processes { lines.append("  pid \(t.pid) \(t.name): \(t.exitStatus), \(t.accesses) accesses") }
        let batches = max(d.batches, 1)
        lines.append("faults: \(k.stats.faults) (\(fmt(Double(k.stats.faults) / seconds))/s), page_mkwrite \(d.mkwrites) "
            + "(\(d.alreadyListed) already listed), write-protected PTEs \(d.ptesWrprotected)")
        lines.append("batches: \(d.batches) (\(fmt(Double(d.batches) / seconds))/s, \(d.emptyBatches) empty), "
            + "pages \(d.pagesDelivered) (\(fmt(Double(d.pagesDelivered) / Double(batches))) per batch), "
            + "fsyncs \(d.fsyncs)")
        let amplification = s.changedBytes > 0 ? Double(s.busBytes) / Double(s.changedBytes) : 0
        lines.append("panel: \(s.updates) updates, \(s.busBytes) bytes sent vs \(s.changedBytes) changed "
            + "(write amplification \(fmt(amplification))x), bus busy \(s.busBusy) "
            + "(\(fmt(100 * Double(s.busBusy.picoseconds) / Double(max(k.now.picoseconds, 1))))%), "
            + "sustainable \(fmt(s.sustainableFPS)) full frames/s")
        lines.append("vmstat: " + k.stats.fields.filter { $0.1 != 0 }.map { "\($0.0)=\($0.1)" }.joined(separator: " "))
        for r in k.sched.reports.prefix(10) { lines.append("report: \(r)") }
        for w in k.onceWarningCounts { lines.append("report: \(w)") }
        lines.append(check.report)
        if let v = m.checkers.first {
            lines.append(v.description)
            lines.append("replay: fbdefio-emu " + CommandLine.arguments.dropFirst().joined(separator: " "))
        }
        lines.append("event hash: \(hex(k.events.hash))   schedule hash: \(hex(k.sched.switchHash))   "
            + "decisions: \(k.sched.recorded.count)")
        return lines.joined(separator: "\n")
    }

    /// Milliseconds with one decimal.
    static func ms(_ t: VirtualTime) -> String {
        let tenths = (t.picoseconds + 50_000_000) / 100_000_000
        return "\(tenths / 10).\(tenths % 10)"
    }

    nonisolated static func fmt(_ v: Double) -> String {
        guard v.isFinite else { return "unlimited" }
        let scaled = (v * 10).rounded() / 10
        return scaled == scaled.rounded() ? String(Int(scaled)) : String(scaled)
    }
}
