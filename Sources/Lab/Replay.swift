// SPDX-License-Identifier: MIT — `fbdefio-emu replay`: an access trace run against the emulated kernel.
//
// The machine: a framebuffer of `size` bytes (rounded up to pages) of vmalloc memory, 1024 pixels of 32 bpp a line
// (line_length 4096, one page a line), fb_defio in the upstream variant, and one process per `proc` number that
// opens /dev/fb0 and maps all of it MAP_SHARED read/write at offset 0. Every emulated operation costs zero virtual
// time, so the clock moves only at `sleep` lines and the deferred work's timer can fire only during a sleep.
//
// Lines run strictly in trace order: a coordinator process (which has /dev/fb0 open for `flush`'s fsync) hands each
// `proc` line to its process and waits until that process has done it; `flush` and `sleep` it runs itself. After a
// sleep it also waits for a batch its timer queued, so a timer batch is always delivered inside the sleep that fired
// it. At the end the pending work is cancelled before the processes exit, so their last close does not flush.
//
// A `mode` header gives the framebuffer that geometry instead. With a panel (`--panel`), each batch also goes to
// that panel's driver after the replay's own bookkeeping, so its bus time passes in virtual time and the panel's
// image is what the panel would show; the summary then reports the panel's updates.
import Kernel
import Panels

/// The flags of a replay.
public struct ReplayOptions: Sendable {
    /// Timer ticks per second. 1000 by default, so that a millisecond is one jiffy.
    package var hz: Int64 = 1000
    /// fb_defio's delay, converted like msecs_to_jiffies(); 50 ms (HZ/20) by default.
    package var delayMilliseconds: Int64 = 50
    /// Print `display epoch=E crc32=…` after each flush line, with this checksum of the panel's `size` bytes.
    package var displayChecksum: (@Sendable ([UInt8]) -> UInt32)?
    /// Collect every kernel event as JSON lines (`--events`).
    package var keepEvents = false
    /// Collect a Chrome trace (`--trace`).
    package var keepTrace = false
    /// The kernel version and bugs the machine runs (`--variant`).
    package var variant = Variants.upstream
    /// CPUs of the machine (`--cpus`); the trace's processes are placed on them round robin.
    package var cpus = 4
    /// A panel profile (`--panel`) whose driver receives every batch too; nil: none.
    package var panel: String?
    /// With a panel: use its driver's delay instead of `delayMilliseconds`.
    package var panelDelay = false
    public init() {}
}

/// What a replay produced.
public struct ReplayResult: Sendable {
    /// What the replay prints on stdout: its lines (`fault`, `flush`, `display`, `end`), each ending in a newline.
    public var text: String
    /// The same lines, each without its newline.
    public var lines: [String] { text.split(separator: "\n").map(String.init) }
    /// JSON lines of the kernel and replay events (with `keepEvents`).
    package var events: [String]
    /// Chrome trace-event JSON (with `keepTrace`).
    package var trace: String?
    package var stats: RunStats
    /// Per-page `page_mkwrite` counts, and the framebuffer's layout they are drawn over (the heatmap).
    package var mkwritesPerPage: [Int]
    package var layout: FramebufferLayout
    /// The panel's final bytes (`size` of them).
    public var panel: [UInt8]
    package var outcome: RunOutcome
    /// Empty when every process ran its commands; otherwise what went wrong.
    public var errors: [String]
    package var summary: String
    /// What the `--panel` shows at the end (0xAARRGGBB, `panelSize.width × panelSize.height`), if there is one.
    package var panelImage: [UInt32]?
    package var panelSize: (width: Int, height: Int)?
}

/// One replay machine. Create, `run()`, read the result.
@EmuActor public final class Replay {
    package let trace: ReplayTrace
    package let options: ReplayOptions
    package let kernel: EmuKernel
    package let info: FBInfo
    /// What the panel shows: delivered pages copied in, clipped to `size`.
    package private(set) var panel: [UInt8]

    private var out = OutputText()
    private var epoch = 0
    /// The coordinator is inside a `sleep` line: a batch delivered now was fired by the timer.
    private var inSleep = false
    /// Set once the `end` line is out: the teardown prints and records nothing.
    private var ended = false
    private var procOfTask: [Int] = []
    private var tasks: [UserTask] = []
    private var commands: [ReplayLine?]
    private var queues: [WaitQueue] = []
    private var coordinatorQueue: WaitQueue
    private var ready = 0
    private var finished = false
    private var errors: [String] = []
    private var pendingStores: [[VirtualTime]]
    private var latency = LatencyHistogram()
    private var bytesSent = 0
    private var bytesChanged = 0
    private var mkwritesPerPage: [Int]
    let recorder: EventRecorder
    /// The online checkers; a violation makes the replay fail like a process error.
    package let checkers: OnlineCheckers
    /// The `--panel`'s driver.
    package let panelDriver: (any PanelDriver)?
    private var panelUpdates: [VirtualTime] = []


    public init(_ trace: ReplayTrace, options: ReplayOptions = ReplayOptions()) {
        self.trace = trace
        self.options = options
        let fbPages = pageAlign(trace.size) >> PAGE_SHIFT
        // Page tables: at most a PTE page per 512 pages plus the upper levels, per process.
        let ramPages = fbPages + 1024 + trace.procs * (fbPages / 512 + 8)
        var machine = MachineOptions()
        machine.policy = .rr
        machine.quantumMicros = 1000
        machine.hz = options.hz
        machine.cpus = options.cpus
        machine.variant = options.variant
        var config = MachineConfig(machine)
        config.costs = .zero  // every emulated operation free: only `sleep` moves the clock
        kernel = config.makeKernel(ramPages: ramPages)
        let mode = trace.mode ?? ReplayMode(xres: 1024, yres: fbPages, bitsPerPixel: 32, lineLength: PAGE_SIZE)
        guard let (info, checkers) = config.makeFramebuffer(kernel, xres: mode.xres, yres: mode.yres,
                                                          bitsPerPixel: mode.bitsPerPixel, lineLength: mode.lineLength,
                                                          id: "replay") else {
            preconditionFailure("RAM sized for the framebuffer")
        }
        self.info = info
        self.checkers = checkers
        panelDriver = options.panel.flatMap(PanelProfile.named).map { profile in
            makePanelDriver(profile, for: info, options: config.variant.switches.panel)
        }
        panel = [UInt8](repeating: 0, count: trace.size)
        commands = Array(repeating: nil, count: trace.procs)
        pendingStores = Array(repeating: [], count: fbPages)
        mkwritesPerPage = Array(repeating: 0, count: fbPages)
        coordinatorQueue = WaitQueue("replay coordinator", scheduler: kernel.sched, uninterruptible: false)
        recorder = EventRecorder(kernel: kernel, keepEvents: options.keepEvents, keepTrace: options.keepTrace)
        let delay = options.panelDelay ? panelDriver.map { $0.fbDeferredIO().delay } : nil
        let set = config.setUpDeferredIO(info, FBDeferredIO(
            delay: delay ?? kernel.sched.tickRate.msecsToJiffies(options.delayMilliseconds),
            deferredIO: { [unowned self] info, pages in
                self.deferredIO(info, pages)
                self.panelDriver?.deferredIO(info, pages)
            }))
        precondition(set, "fb_deferred_io_init failed with RAM sized for the framebuffer")
        queues = (0 ..< trace.procs).map { WaitQueue("replay proc\($0)", scheduler: kernel.sched, uninterruptible: false) }
        panelDriver?.onUpdate = { [unowned self] update in self.panelUpdates.append(update.end) }
    }

    /// The driver callback: copy each delivered page to the panel, print the batch, account latency.
    private func deferredIO(_ info: FBInfo, _ pages: [FBDeferredIOPageref]) {
        guard !ended else { return }
        let now = kernel.now
        var sent = 0, changed = 0
        for ref in pages {
            let n = min(PAGE_SIZE, trace.size - ref.offset)
            guard n > 0 else { continue }
            let src = kernel.phys.address(of: ref.page)
            panel.withUnsafeMutableBytes { panelBytes in
                let dst = panelBytes.baseAddress! + ref.offset
                changed += copyCountingChanges(from: src, to: dst, count: n)
            }
            sent += n
            let pgoff = ref.pgoff.rawValue
            for t in pendingStores[pgoff] { latency.record(now - t) }
            pendingStores[pgoff].removeAll()
        }
        bytesSent += sent
        bytesChanged += changed
        let list = pages.map(\.pgoff.rawValue).sorted()
        recorder.callback(pages: list, bytesSent: sent, bytesChanged: changed)
        out.line(numbers: 1 + list.count) { line in
            line.put("flush epoch="); line.put(epoch); line.put(" pages="); line.put(list: list)
            if inSleep { line.put(" timer=1") }
        }
        if let crc = options.displayChecksum { out.line(displayLine(crc)) }
    }

    private func displayLine(_ crc: @Sendable ([UInt8]) -> UInt32) -> String {
        let hex = String(crc(panel), radix: 16, uppercase: true)
        return "display epoch=\(epoch) crc32=\(String(repeating: "0", count: 8 - hex.count))\(hex)"
    }

    /// Runs the whole trace and tears the machine down.
    public func run() -> ReplayResult {
        recorder.onMkwrite = { [unowned self] e in self.mkwrite(e) }
        recorder.taskName = { [unowned self] id in
            if let p = self.proc(ofTask: id) { return "proc \(p)" }
            return self.kernel.sched.name(of: id)
        }
        recorder.attach()
        recorder.workerIDs = kernel.systemWorkqueue.workerIDs
        for p in 0 ..< trace.procs {
            guard let t = kernel.spawnProcess("proc\(p)", { [unowned self] t in try self.procBody(p, t) }) else {
                preconditionFailure("RAM sized for the processes")
            }
            tasks.append(t)
            procOfTask.grow(to: t.schedID + 1, with: -1)
            procOfTask[t.schedID] = p
            recorder.declareTrack(t.schedID)
        }
        let coordinator = kernel.spawnProcess("replay") { [unowned self] t in try self.coordinate(t) }!
        let outcome = kernel.sched.run()
        if outcome != .completed { errors.append("run: \(outcome)") }
        for t in tasks + [coordinator] where t.exitStatus != .exited {
            errors.append("\(t.name): \(t.exitStatus)")
        }
        for r in kernel.sched.reports { errors.append(r) }
        if let v = checkers.first { errors.append(v.description) }
        latency.undelivered = pendingStores.reduce(0) { $0 + $1.count }
        var stats = RunStats(kernel: kernel, info: info, bytesSent: bytesSent, bytesChanged: bytesChanged,
                             latency: latency, variant: options.variant.name)
        stats.violation = checkers.first?.description
        var summary = "replay (variant \(options.variant)): \(trace.lines.count) commands, \(trace.procs) processes, "
            + "size \(trace.size) "
            + "(\(pageAlign(trace.size) >> PAGE_SHIFT) pages), delay \(info.fbdefio!.delay.rawValue) jiffies at "
            + "HZ=\(options.hz), virtual time \(kernel.now)\n" + stats.summary
        if let driver = panelDriver {
            summary += "\n" + Self.panelLine(driver, updates: panelUpdates)
        }
        return ReplayResult(text: out.text, events: recorder.jsonLines, trace: recorder.chromeTrace(), stats: stats,
                            mkwritesPerPage: mkwritesPerPage, layout: info.layout, panel: panel, outcome: outcome, errors: errors,
                            summary: summary, panelImage: panelDriver?.image,
                            panelSize: panelDriver.map { ($0.width, $0.height) })
    }

    /// The `proc` line number of a scheduler task, if it is one of the trace's processes.
    private func proc(ofTask id: Int) -> Int? {
        id >= 0 && id < procOfTask.count && procOfTask[id] >= 0 ? procOfTask[id] : nil
    }

    /// A page_mkwrite: one `fault` line.
    private func mkwrite(_ e: KernelEvent) {
        guard !ended else { return }
        let page = Int(e.operands.a)
        if page >= 0 && page < mkwritesPerPage.count { mkwritesPerPage[page] += 1 }
        let proc = proc(ofTask: e.task) ?? -1
        out.line(numbers: 3) { line in
            line.put("fault proc="); line.put(proc); line.put(" page="); line.put(page); line.put(" epoch="); line.put(epoch)
        }
    }

    /// `panel NAME: N updates, F updates/s between the first and the last, bytes sent vs changed, bus busy`.
    static func panelLine(_ driver: any PanelDriver, updates: [VirtualTime]) -> String {
        let s = driver.stats
        var rate = ""
        if let a = updates.first, let b = updates.last, updates.count > 1, b > a {
            rate = ", \(Summary.fmt(Double(updates.count - 1) / (Double((b - a).picoseconds) / 1e12))) updates/s "
                + "between the first and the last"
        }
        return "panel \(driver.profile.name): \(s.updates) updates\(rate); \(s.busBytes) bytes sent vs "
            + "\(s.changedBytes) changed, bus busy \(s.busBusy)"
    }

    /// A `proc` process: open and map the framebuffer, then run the lines handed to it until the trace ends.
    private func procBody(_ p: Int, _ t: UserTask) throws {
        let fd = try t.open(info.node)
        let base = try t.mmap(length: info.fix.smemLen, prot: .readWrite, flags: .shared, fd: fd, offset: 0)
        ready += 1
        coordinatorQueue.wakeAll()
        while true {
            queues[p].wait { commands[p] != nil || finished }
            guard let line = commands[p] else { return }
            recorder.line(line)
            do {
                switch line.command {
                case .write(_, let offset, let length, let byte):
                    for page in (offset >> PAGE_SHIFT) ... ((offset + length - 1) >> PAGE_SHIFT) {
                        pendingStores[page].append(kernel.now)
                    }
                    try t.fill(base + offset, count: length, byte: byte)
                case .read(_, let offset, let length):
                    _ = try t.loadBytes(base + offset, count: length)
                case .put(_, let offset, let bytes):
                    for page in (offset >> PAGE_SHIFT) ... ((offset + bytes.count - 1) >> PAGE_SHIFT) {
                        pendingStores[page].append(kernel.now)
                    }
                    let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 8)
                    defer { raw.deallocate() }
                    raw.copyBytes(from: bytes)
                    try t.storeBytes(base + offset, UnsafeRawBufferPointer(raw))
                case .flush, .sleep, .at:
                    preconditionFailure("the coordinator runs \(line.command)")
                }
            } catch {
                errors.append("line \(line.number): proc \(p): \(error)")
                commands[p] = nil
                coordinatorQueue.wakeAll()
                throw error
            }
            commands[p] = nil
            coordinatorQueue.wakeAll()
        }
    }

    /// The coordinator: runs the trace line by line, then prints `end` and lets the processes exit.
    private func coordinate(_ t: UserTask) throws {
        let fd = try t.open(info.node)
        coordinatorQueue.wait { ready == trace.procs }
        let work = info.deferredWork!
        for line in trace.lines {
            if !errors.isEmpty { break }
            switch line.command {
            case .write(let p, _, _, _), .read(let p, _, _), .put(let p, _, _):
                commands[p] = line
                queues[p].wakeAll()
                coordinatorQueue.wait { commands[p] == nil }
            case .flush:
                recorder.line(line)
                let before = info.defioStats.batches
                try t.fsync(fd)
                if info.defioStats.batches == before {
                    // Nothing was pending: the callback delivered nothing.
                    out.line("flush epoch=\(epoch) pages=[]")
                    recorder.callback(pages: [], bytesSent: 0, bytesChanged: 0)
                    if let crc = options.displayChecksum { out.line(displayLine(crc)) }
                }
                epoch += 1
            case .sleep, .at:
                recorder.line(line)
                inSleep = true
                if case .sleep(let ms) = line.command {
                    kernel.sched.sleep(until: kernel.now + .ms(ms))
                } else if case .at(let us) = line.command, kernel.now < .us(us) {
                    kernel.sched.sleep(until: .us(us))
                }
                // A batch the timer queued at the very end of the sleep is still part of it.
                if work.timerDeadline == nil && (work.isPending || work.isRunning) { work.flush() }
                inSleep = false
            }
        }
        let pending = (info.fbdefioState?.pagereflist ?? []).sorted()
        out.line(numbers: 1 + pending.count) { line in
            line.put("end epoch="); line.put(epoch); line.put(" pending="); line.put(list: pending)
        }
        recorder.end()
        ended = true
        work.cancelSync()  // No implicit flush: the last close finds nothing pending.
        finished = true
        for q in queues { q.wakeAll() }
        try t.close(fd)
    }
}

/// Copies `count` bytes from `src` to `dst` (which must not overlap) and returns how many of them differed, in one
/// pass: 16 lanes at a time, each lane counting its own differences (a mask lane is all ones where the bytes differ,
/// so subtracting the mask adds one), emptied into the total before a lane can overflow; then the tail byte by byte.
func copyCountingChanges(from src: UnsafeRawPointer, to dst: UnsafeMutableRawPointer, count: Int) -> Int {
    var changed = 0, i = 0
    var lanes = SIMD16<UInt8>(), rounds = 0
    while i &+ 16 <= count {
        let x = src.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self)
        let y = dst.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self)
        lanes &-= unsafeBitCast(x .!= y, to: SIMD16<UInt8>.self)
        dst.storeBytes(of: x, toByteOffset: i, as: SIMD16<UInt8>.self)
        i &+= 16
        rounds &+= 1
        if rounds == 255 {
            changed &+= Int(SIMD16<UInt16>(truncatingIfNeeded: lanes).wrappedSum())
            lanes = SIMD16<UInt8>()
            rounds = 0
        }
    }
    changed &+= Int(SIMD16<UInt16>(truncatingIfNeeded: lanes).wrappedSum())
    while i < count {
        let x = src.load(fromByteOffset: i, as: UInt8.self)
        if x != dst.load(fromByteOffset: i, as: UInt8.self) { changed &+= 1 }
        dst.storeBytes(of: x, toByteOffset: i, as: UInt8.self)
        i &+= 1
    }
    return changed
}

/// The replay's stdout as it is written: one buffer of lines, each written digit by digit into it. The replay prints a
/// line per fault and a list of every delivered page per flush; a `String` per line, interpolated and `joined`, costs
/// many more steps and two allocations a line.
struct OutputText {
    private var bytes: [UInt8] = []

    /// Appends one line of at most `64 + 21 × numbers` bytes, written by `write`, and its newline.
    mutating func line(numbers: Int, _ write: (inout OutputLine) -> Void) {
        let start = bytes.count, room = 64 + 21 * numbers
        bytes.append(contentsOf: repeatElement(0, count: room))
        let n = bytes.withUnsafeMutableBufferPointer { all in
            var line = OutputLine(buffer: UnsafeMutableBufferPointer(rebasing: all[start ..< start + room]))
            write(&line)
            line.put("\n")
            return line.n
        }
        bytes.removeLast(room - n)
    }

    /// Appends a line made elsewhere, and its newline.
    mutating func line(_ text: String) {
        bytes.append(contentsOf: text.utf8)
        bytes.append(UInt8(ascii: "\n"))
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }
}

/// One line being written into its room in `OutputText`.
struct OutputLine {
    private let buffer: UnsafeMutableBufferPointer<UInt8>
    fileprivate private(set) var n = 0

    fileprivate init(buffer: UnsafeMutableBufferPointer<UInt8>) { self.buffer = buffer }

    mutating func put(_ text: StaticString) {
        text.withUTF8Buffer { for b in $0 { buffer[n] = b; n += 1 } }
    }

    mutating func put(_ value: Int) {
        if value < 0 { buffer[n] = UInt8(ascii: "-"); n += 1 }
        var m = value.magnitude, digits = 1
        while m >= 10 { m /= 10; digits += 1 }
        m = value.magnitude
        for i in stride(from: digits - 1, through: 0, by: -1) {
            buffer[n + i] = UInt8(ascii: "0") + UInt8(m % 10)
            m /= 10
        }
        n += digits
    }

    /// `[a,b,c]`.
    mutating func put(list: [Int]) {
        put("[")
        for (i, v) in list.enumerated() {
            if i > 0 { put(",") }
            put(v)
        }
        put("]")
    }
}
