// SPDX-License-Identifier: MIT — event export of a run: JSON lines (`--events`) and Chrome trace-event JSON
// (`--trace`, opens in Perfetto / chrome://tracing).
import Kernel

/// Watches a kernel's event log and scheduler switches and turns them into JSON lines and trace slices.
///
/// JSON lines: one object a line, `{"seq":…,"t_ns":…,"task":"proc 0","kind":…, …}`, with kind-specific fields:
/// `fault` (addr, write), `fault-result` (addr, result, path: the fault paths whose counters moved, e.g.
/// `shared_faults` or `wp_faults+wp_page_shared`), `retry`, `page-mkwrite` (pgoff, result), `fault-hook`,
/// `pte-set`, `wrprotect` (addr, pte, mm), `tlb-flush` (addr, pages, mm), `defio-batch` (pages, batch, list),
/// plus the exporter's own `worker-start`/`worker-end` (the worker gets/leaves the CPU), `callback` (pages, bytes
/// sent and changed, PTEs write-protected in the pass before it), `line` (replay: the trace line started) and `end`.
///
/// Chrome trace: one process, one track (thread) per fake process, the worker and the panel bus. Slices: `fault`
/// (with `page_mkwrite` nested), the worker's `write-protect pass` and `deferred_io` callback, and `bus transfer`.
/// Timestamps are virtual time (µs with ns decimals); with `logicalClock` every recorded event also adds one µs, so that
/// a run whose operations cost no time (replay) still shows its order and nesting.
@EmuActor package final class EventRecorder: KernelEventSubscriber {
    unowned let kernel: EmuKernel
    package let keepEvents: Bool
    package let keepTrace: Bool
    /// Adds 1 µs per recorded event to the trace clock (for zero-cost runs).
    package var logicalClock = true
    package private(set) var jsonLines: [String] = []
    private var traceEvents: [String] = []
    private var seq = 0
    /// The workqueue's worker threads (one per CPU); `workerID` is the one that last got a CPU.
    package var workerIDs: [Int] = [] {
        didSet { workerID = workerIDs.first ?? -1 }
    }
    private var workerID = -1
    package var onMkwrite: ((KernelEvent) -> Void)?
    /// Told each replay line as it starts (the step view shows the line the events belong to).
    package var onLine: ((ReplayLine) -> Void)?
    package var taskName: ((Int) -> String)?
    private var stopped = false
    private var faultStart: [Int: (ts: Int64, stats: VMStat)] = [:]
    private var lastTS: [Int: Int64] = [:]
    private var workerRunStart: Int64?
    private var callbackStart: Int64?
    private var wrprotectedInPass = 0
    private var tracks: [Int: String] = [:]
    private var timerArmedTS: Int64?
    static let busTrack = 1_000_000
    /// The delayed work's timer: a slice from arming to the tick the wheel fired it at.
    static let timerTrack = 1_000_001

    package init(kernel: EmuKernel, keepEvents: Bool, keepTrace: Bool) {
        self.kernel = kernel
        self.keepEvents = keepEvents
        self.keepTrace = keepTrace
    }

    /// Starts observing the kernel's events (and, for worker start/end, the scheduler's switches).
    package func attach() {
        // Held by the kernel's event log, as the checkers are (the recorder holds the kernel unowned).
        kernel.events.subscribe(self, keepEvents || keepTrace ? .all : KernelEvent.KindSet(.mkwrite))
        kernel.sched.onSwitch = { [unowned self] from, _, to in
            guard !self.stopped, !self.workerIDs.isEmpty else { return }
            if self.workerIDs.contains(from) { self.record(from, "worker-end", "") }
            if self.workerIDs.contains(to) {
                self.workerID = to
                self.workerRunStart = self.ts()
                self.wrprotectedInPass = 0
                self.record(to, "worker-start", "")
            }
        }
    }

    /// Trace time in ns (virtual, plus the logical step of 1 µs per event).
    private func ts(_ at: VirtualTime? = nil) -> Int64 {
        (at ?? kernel.now).nanoseconds + (logicalClock ? Int64(seq) * 1000 : 0)
    }

    /// Nanoseconds as the trace format's microseconds.
    private func us(_ ns: Int64) -> String {
        let f = String(ns % 1000)
        return "\(ns / 1000).\(String(repeating: "0", count: 3 - f.count))\(f)"
    }

    private func name(_ task: Int) -> String {
        if task < 0 { return "kernel" }
        if let n = taskName?(task) { return n }
        return kernel.sched.name(of: task)
    }

    /// One JSON line; `fields` is only built when the lines are kept.
    private func record(_ task: Int, _ kind: String, _ fields: @autoclosure () -> String, at time: VirtualTime? = nil) {
        seq += 1
        guard keepEvents else { return }
        let fields = fields()
        jsonLines.append("{\"seq\":\(seq),\"t_ns\":\((time ?? kernel.now).nanoseconds),\"task\":\(jsonString(name(task))),"
            + "\"kind\":\"\(kind)\"\(fields.isEmpty ? "" : "," + fields)}")
    }

    private func slice(_ track: Int, _ name: String, from start: Int64, to end: Int64, args: String = "") {
        guard keepTrace else { return }
        if tracks[track] == nil {
            tracks[track] = track == Self.busTrack ? "panel bus" : track == Self.timerTrack ? "timer wheel"
                : workerIDs.contains(track) ? workerTrackName(track) : self.name(track)
        }
        traceEvents.append("{\"ph\":\"X\",\"pid\":1,\"tid\":\(track),\"name\":\(jsonString(name)),\"ts\":\(us(start)),"
            + "\"dur\":\(us(max(0, end - start)))\(args.isEmpty ? "" : ",\"args\":{\(args)}")}")
    }

    package override func kernelEvent(_ e: KernelEvent) {
        guard !stopped else { return }
        if e.kind == .wrprotect { wrprotectedInPass += 1 }
        guard keepEvents || keepTrace else {
            // Exporting nothing, the recorder is told page_mkwrite alone, for its users.
            onMkwrite?(e)
            return
        }
        let t = e.task
        let (a, b) = e.operands
        let fields = keepEvents ? jsonFields(e, a, b) : ""
        let now = ts(e.time)
        switch e.kind {
        case .timerArm:
            timerArmedTS = now
        case .timerFire:
            slice(Self.timerTrack, "delayed-work timer", from: timerArmedTS ?? now, to: now,
                  args: "\"bucket_jiffies\":\(a),\"fired_after_ns\":\(e.time.nanoseconds - b)")
            timerArmedTS = nil
        case .fault:
            faultStart[t] = (now, kernel.stats)
        case .faultResult:
            if let s = faultStart.removeValue(forKey: t) {
                slice(t, "fault", from: s.ts, to: now + (logicalClock ? 1000 : 0), args: "\"addr\":\"\(hexAddr(a))\",\"result\":\(jsonString(e.note))")
            }
        case .mkwrite:
            slice(t, "page_mkwrite", from: lastTS[t] ?? now, to: now, args: "\"pgoff\":\(a)")
            onMkwrite?(e)
        case .defioBatch:
            if let start = workerRunStart {
                slice(workerID, "write-protect pass", from: start, to: now, args: "\"ptes\":\(wrprotectedInPass)")
            }
            callbackStart = now
        default:
            break
        }
        lastTS[t] = now
        record(t, e.kind.rawValue, fields, at: e.time)
    }

    /// The kind-specific fields of an event's JSON line.
    private func jsonFields(_ e: KernelEvent, _ a: Int64, _ b: Int64) -> String {
        let fields: String
        switch e.kind {
        case .fault:
            fields = "\"addr\":\"\(hexAddr(a))\",\"write\":\(b != 0)"
        case .faultResult:
            fields = "\"addr\":\"\(hexAddr(a))\",\"result\":\(jsonString(e.note)),\"path\":\"\(faultPath(e.task))\""
        case .retry:
            fields = "\"addr\":\"\(hexAddr(a))\",\"result\":\(b),\"lock\":\(jsonString(e.note))"
        case .mkwrite, .faultHook, .pfnMkwrite:
            fields = "\"pgoff\":\(a),\"result\":\(jsonString(e.note))"
        case .wrprotect, .pteSet, .pteClean, .pteZap:
            fields = "\"addr\":\"\(hexAddr(a))\",\"pte\":\"\(hexAddr(b))\",\"mm\":\(jsonString(e.note))"
        case .tlbFlush:
            fields = "\"addr\":\"\(hexAddr(a))\",\"pages\":\(b),\"mm\":\(jsonString(e.note))"
        case .defioBatch:
            fields = "\"pages\":\(a),\"batch\":\(b),\"list\":\(jsonString(e.note))"
        case .timerArm:
            fields = "\"expires\":\(a),\"bucket\":\(b),\"note\":\(jsonString(e.note))"
        case .timerFire:
            fields = "\"bucket\":\(a),\"armed_ns\":\(b)"
        default:
            fields = "\"a\":\(a),\"b\":\(b),\"note\":\(jsonString(e.note))"
        }
        return kernel.sched.cpuCount > 1 ? fields + ",\"cpu\":\(e.cpu)" : fields
    }

    /// The counters of fault paths that moved since the task's `fault` event.
    private func faultPath(_ task: Int) -> String {
        guard let before = faultStart[task]?.stats else { return "" }
        let after = kernel.stats
        var names: [String] = []
        for ((name, a), (_, b)) in zip(after.fields, before.fields) where a != b {
            switch name {
            case "read_faults", "cow_faults", "shared_faults", "anon_faults", "wp_faults", "wp_page_shared",
                 "wp_pfn_shared", "wp_page_copy", "wp_anon_reuse", "spurious_faults", "pte_changed_bailouts",
                 "vma_lock_retries", "sigbus", "sigsegv", "oom":
                names.append(name)
            default: break
            }
        }
        return names.joined(separator: "+")
    }

    /// The driver callback finished delivering `pages` (ascending pgoffs); `bytesSent` went over the bus.
    /// `bus` is when the transfer occupied the bus (virtual time); nil: one tick at the callback's end.
    package func callback(pages: [Int], bytesSent: Int, bytesChanged: Int, bus: Range<VirtualTime>? = nil) {
        guard !stopped, keepEvents || keepTrace else { return }
        let now = ts()
        let start = callbackStart ?? now
        let list = pages.map(String.init).joined(separator: ",")
        slice(workerID, "deferred_io", from: start, to: now + (logicalClock ? 1000 : 0), args: "\"pages\":[\(list)],\"bytes\":\(bytesSent)")
        if bytesSent > 0 {
            let from = bus.map { $0.lowerBound.nanoseconds } ?? now
            let to = bus.map { $0.upperBound.nanoseconds } ?? now + 1000
            slice(Self.busTrack, "bus transfer", from: from, to: to, args: "\"bytes\":\(bytesSent),\"changed\":\(bytesChanged)")
        }
        callbackStart = nil
        record(workerID, "callback", "\"pages\":[\(list)],\"bytes_sent\":\(bytesSent),\"bytes_changed\":\(bytesChanged),"
            + "\"wrprotected\":\(wrprotectedInPass)")
    }

    /// A replay line started (in the task that runs it).
    package func line(_ l: ReplayLine) {
        guard !stopped else { return }
        onLine?(l)
        record(kernel.sched.current, "line", "\"line\":\(l.number),\"cmd\":\(jsonString(describe(l.command)))")
    }

    /// Stops recording (the teardown after the last line is not part of the log).
    package func end() {
        record(kernel.sched.current, "end", "")
        stopped = true
    }

    /// The Chrome trace-event JSON, or nil without `keepTrace`.
    package func chromeTrace() -> String? {
        guard keepTrace else { return nil }
        var meta = ["{\"ph\":\"M\",\"pid\":1,\"name\":\"process_name\",\"args\":{\"name\":\"fbdefio-emu\"}}"]
        var named = tracks
        for w in workerIDs.prefix(1) where named[w] == nil { named[w] = workerTrackName(w) }
        if named[Self.busTrack] == nil { named[Self.busTrack] = "panel bus" }
        for (tid, name) in named.sorted(by: { $0.key < $1.key }) {
            meta.append("{\"ph\":\"M\",\"pid\":1,\"tid\":\(tid),\"name\":\"thread_name\",\"args\":{\"name\":\(jsonString(name))}}")
            meta.append("{\"ph\":\"M\",\"pid\":1,\"tid\":\(tid),\"name\":\"thread_sort_index\",\"args\":{\"sort_index\":\(tid)}}")
        }
        return "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n" + (meta + traceEvents).joined(separator: ",\n") + "\n]}\n"
    }

    private func workerTrackName(_ task: Int) -> String { "worker (\(kernel.sched.name(of: task)))" }

    /// Makes sure a track exists (processes that never faulted still get one).
    package func declareTrack(_ task: Int) {
        if keepTrace && tracks[task] == nil { tracks[task] = name(task) }
    }
}

func describe(_ c: ReplayCommand) -> String {
    switch c {
    case .write(let p, let o, let l, let b): "proc \(p) write \(o) \(l) \(b)"
    case .read(let p, let o, let l): "proc \(p) read \(o) \(l)"
    case .flush: "flush"
    case .sleep(let ms): "sleep \(ms)"
    case .put(let p, let o, let bytes): "proc \(p) put \(o) (\(bytes.count) bytes)"
    case .at(let us): "at \(us)"
    }
}

func hexAddr(_ v: Int64) -> String { "0x" + String(UInt64(bitPattern: v), radix: 16) }

/// A JSON string literal.
package func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 {
                let h = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    return out + "\""
}
