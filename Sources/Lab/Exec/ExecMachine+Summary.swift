// SPDX-License-Identifier: MIT — the summary of an exec run and the header of its recorded trace.
import Kernel
import Panels

extension ExecMachine {
    var traceHeader: String {
        "recorded by fbdefio-emu exec: \(options.argv.joined(separator: " "))\n"
            + "on \(profile.name), \(width)x\(height) \(bpp)bpp, HZ=\(kernel.sched.tickRate.hz), delay "
            + "\(info.fbdefio!.delay.rawValue) jiffies, variant \(options.machine.variant)"
    }

    func summaryText(outcome: RunOutcome, check: String) -> String {
        let k = kernel, d = info.defioStats, s = panel.stats
        let tick = k.sched.tickRate
        let delay = info.fbdefio!.delay
        let name = options.argv.first.map(Self.baseName) ?? "program"
        var lines: [String] = []
        lines.append("fbdefio-emu exec: \(options.argv.joined(separator: " "))")
        lines.append("machine: \(profile.name) — \(width)x\(height) \(bpp)bpp, line_length \(info.fix.lineLength), "
            + "smem_len \(info.fix.smemLen) (\(info.fix.smemLen >> PAGE_SHIFT) pages), variant "
            + "\(options.machine.variant), HZ=\(tick.hz), delay \(delay.rawValue) jiffies = "
            + "\(tick.jiffiesToMsecs(delay)) ms, seed \(options.machine.seed)")
        lines.append("tracking: \(mechanism)")
        let exit = host?.exit.map(\.description) ?? "not started"
        let stopped = stopRequestedAt.map { " after it was asked to stop at \(Summary.fmt(Double($0) / 1e9)) s" } ?? ""
        lines.append("program: \(name) (host pid \(host?.pid ?? -1)) \(exit)\(stopped); "
            + (opened ? "opened the framebuffer, \(regions.count) mapping(s)" : "never opened the framebuffer"))
        let seconds = Double(k.now.picoseconds) / 1e12
        lines.append("outcome: \(outcome); virtual time \(k.now) (paced against the wall clock)")
        let faultsSeen = log.filter { $0.hasPrefix("fault ") }.count
        if userfaults > 0 {
            lines.append("faults: \(faultsSeen) write faults of the program reached the emulated kernel "
                + "(page_mkwrite \(d.mkwrites), \(d.alreadyListed) already listed); \(userfaults) through the "
                + "userfaultfd, where the program waited \(Summary.fmt(Double(userfaultNanos) / 1e6)) ms from the "
                + "emulator reading the fault to waking it ("
                + "\(Summary.fmt(Double(userfaultNanos) / Double(userfaults) / 1000)) µs a fault; the host kernel's "
                + "delivery not included)")
        }
        let stall = sawBye ? programStall : lastStallBefore
        let perFault = programFaults > 0 ? Double(stall) / Double(programFaults) / 1000
            : (faultsSeen > 0 ? Double(stall) / Double(faultsSeen) / 1000 : 0)
        if userfaults < faultsSeen || faultsSeen == 0 {
            lines.append("faults: \(faultsSeen) write faults of the program reached the emulated kernel "
            + "(page_mkwrite \(d.mkwrites), \(d.alreadyListed) already listed); the program was stalled "
            + "\(Summary.fmt(Double(stall) / 1e6)) ms in them (\(Summary.fmt(perFault)) µs a fault"
            + (sawBye ? "" : ", up to its last fault: it did not exit through exit()")
            + "), the emulator's part \(Summary.fmt(Double(handlingNanos) / 1e6)) ms")
        }
        lines.append("re-protection: \(pagesReprotected) pages made read-only in the program again"
            + (userfaults > 0 ? " (UFFDIO_WRITEPROTECT from the emulator)" : ", in \(protectCalls) round trips to the "
                + "library's helper thread (one per batch with pages to protect)"))
        lines.append("batches: \(d.batches) (\(d.emptyBatches) empty), pages \(d.pagesDelivered), fsyncs \(d.fsyncs)")
        let shown: String
        if let a = firstUpdate, let b = lastUpdate, updates > 1, b > a {
            let span = Double((b - a).picoseconds) / 1e12
            shown = "\(Summary.fmt(Double(updates - 1) / span)) updates/s shown between the first and the last"
        } else {
            shown = "\(updates) update(s)"
        }
        let fullFrames = Double(s.busBytes) / Double(max(width * height * bpp / 8, 1))
        let amplification = s.changedBytes > 0 ? Double(s.busBytes) / Double(s.changedBytes) : 0
        lines.append("panel: \(s.updates) updates, \(shown); \(Summary.fmt(fullFrames)) framebuffers of bus traffic "
            + "(\(Summary.fmt(seconds > 0 ? fullFrames / seconds : 0))/s); \(s.busBytes) bytes sent vs "
            + "\(s.changedBytes) changed (write amplification \(Summary.fmt(amplification))x), bus busy \(s.busBusy); "
            + "the bus allows \(Summary.fmt(s.sustainableFPS)) full frames/s")
        lines.append(latency.summary)
        for r in k.sched.reports.prefix(10) { lines.append("report: \(r)") }
        for w in k.onceWarningCounts { lines.append("report: \(w)") }
        lines.append(check)
        if let workloadReport { lines.append(workloadReport) }
        if let v = checkers.first { lines.append(v.description) }
        for e in errors { lines.append("error: \(e)") }
        return lines.joined(separator: "\n")
    }
}
