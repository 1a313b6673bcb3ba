// SPDX-License-Identifier: MIT — the fb_defio demo machine: framebuffer, fb_defio, a panel, workload processes,
// the lost-update checker and the summary.
import Kernel
import Panels
import Workloads

/// The batching delay a run uses.
package enum DelayChoice: Sendable, Equatable {
    /// What the panel's real driver uses.
    case panelDefault
    case milliseconds(Int64)
    case jiffies(Int64)

    /// The delay in jiffies at `rate`, or nil for the panel driver's own (msecs_to_jiffies for milliseconds).
    package func jiffies(at rate: TickRate) -> Jiffies? {
        switch self {
        case .panelDefault: nil
        case .milliseconds(let ms): rate.msecsToJiffies(ms)
        case .jiffies(let j): Jiffies(j)
        }
    }
}

/// Everything that defines a demo run (besides where its frames go).
public struct DemoOptions: Sendable {
    public var machine = MachineOptions()
    public var width = 320
    public var height = 240
    public var bpp = 16
    package var delay = DelayChoice.panelDefault
    /// nil: the panel driver's own choice.
    package var sortPagereflist: Bool?
    public var panel = "ili9341-spi32"
    public var workload = "console"
    public var procs = 3
    /// Workload frames each process draws; nil runs until stopped (live mode only).
    public var frames: Int? = 60
    /// Virtual time between the starts of two workload frames.
    package var frameInterval = VirtualTime.ms(20)
    /// Pace virtual time against the wall clock and poll the mailbox's stop flag (live window only).
    package var live = false
    /// Where the workloads find their assets (nil: search next to the executable, then FBDEFIO_ASSETS).
    package var assetsPath: String?
    /// Keep every kernel event as JSON lines (`--events`) and build a Chrome trace (`--trace`).
    package var keepEvents = false
    package var keepTrace = false
    public init() {}
}

/// The outcome of a demo run.
public struct DemoReport: Sendable {
    public var summary: String
    public var checkerPassed: Bool
    package var checkerReport: String
    package var finalFrame: Frame
    /// `frameHash` of the final panel image (a golden per workload and seed).
    public var frameHash: UInt64
    package var eventHash: UInt64
    package var outcome: RunOutcome
    package var schedule: Schedule
    /// Counters and the store→panel latency (`--stats`).
    package var stats: RunStats
    /// JSON lines of every kernel event (with `keepEvents`), and the Chrome trace (with `keepTrace`).
    package var events: [String]
    package var trace: String?
    /// `page_mkwrite` calls per framebuffer page, and the framebuffer's layout they are drawn over (the heatmap).
    package var mkwritesPerPage: [Int]
    package var layout: FramebufferLayout
    /// Frames the furthest process drew, and the write faults of the run (for the host-speed line).
    package var framesDrawn: Int
    package var faults: Int

    /// The emulator's own speed, given the host wall time the run took (measured by the caller: the machine reads
    /// no wall clock): frames per host second and host time per fault, formatted like the summary's numbers.
    package func hostLine(wall: Duration) -> String {
        let seconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
        let perFault = faults > 0 ? "\(Summary.fmt(seconds * 1e6 / Double(faults))) µs of host time per fault "
            + "(\(faults) faults, all included)" : "no faults"
        let fps = seconds > 0 ? Double(framesDrawn) / seconds : 0
        return "host: \(Summary.fmt(seconds * 1000)) ms wall, \(Summary.fmt(fps)) frames/s, \(perFault)"
    }
}

/// Builds and runs one demo machine on the emulator thread.
@EmuActor public final class Machine {
    package let options: DemoOptions
    public let kernel: EmuKernel
    package let info: FBInfo
    package let panel: any PanelDriver
    package let profile: PanelProfile
    let mailbox: FrameMailbox?
    /// Called at deterministic points (every `snapshotEvery` panel updates, and at the end) with a frame.
    let snapshot: (@Sendable (Frame) -> Void)?
    let snapshotEvery: Int
    let pacer: WallClockPacer?
    private var frameIndex = 0
    private var pendingDirty: [Rect] = []
    private var lastBatch: [Rect] = []
    private var updates = 0
    private var stopDrawing = false
    /// Told each time the furthest process finishes a frame (frames done, frames planned, virtual time).
    package var progress: (@Sendable (Int, Int?, VirtualTime) -> Void)?
    /// The invariants of DESIGN.md §7, checked after every event that can break them.
    package let checkers: OnlineCheckers
    /// Exports events and trace slices; also feeds the latency histogram and the heatmap.
    package let recorder: EventRecorder
    /// Per page: when the first `page_mkwrite` since its last delivery happened (latency starts there).
    private var firstWrite: [VirtualTime?]
    private var latency = LatencyHistogram()
    private var mkwritesPerPage: [Int]

    public enum SetupError: Error, CustomStringConvertible {
        case unknownPanel(String), unknownWorkload(String), outOfMemory(String), assets(String)
        public var description: String {
            switch self {
            case .unknownPanel(let p): "--panel: unknown panel '\(p)' (see 'fbdefio-emu panels')"
            case .unknownWorkload(let w): "--workload: unknown workload '\(w)' (one of \(WorkloadKind.allCases.map(\.rawValue).joined(separator: ", ")))"
            case .outOfMemory(let what): "out of emulated RAM for \(what)"
            case .assets(let m): m
            }
        }
    }

    public init(_ options: DemoOptions, mailbox: FrameMailbox? = nil, snapshotEvery: Int = 0,
                snapshot: (@Sendable (Frame) -> Void)? = nil) throws(SetupError) {
        guard let profile = PanelProfile.named(options.panel) else { throw .unknownPanel(options.panel) }
        guard WorkloadKind(rawValue: options.workload) != nil else { throw .unknownWorkload(options.workload) }
        self.options = options
        self.profile = profile
        self.mailbox = mailbox
        self.snapshot = snapshot
        self.snapshotEvery = snapshotEvery
        pacer = options.live ? WallClockPacer() : nil
        let fbPages = pageAlign(options.height * options.width * options.bpp / 8) >> PAGE_SHIFT
        let config = MachineConfig(options.machine)
        kernel = config.makeKernel(ramPages: fbPages * 2 + 4096 + 256 * options.procs)
        guard let (info, checkers) = config.makeFramebuffer(kernel, xres: options.width, yres: options.height,
                                                          bitsPerPixel: options.bpp, id: "fbdefio-emu") else {
            throw .outOfMemory("the framebuffer")
        }
        self.info = info
        self.checkers = checkers
        firstWrite = Array(repeating: nil, count: fbPages)
        mkwritesPerPage = Array(repeating: 0, count: fbPages)
        recorder = EventRecorder(kernel: kernel, keepEvents: options.keepEvents, keepTrace: options.keepTrace)
        panel = makePanelDriver(profile, for: info, options: config.variant.switches.panel)
        guard config.setUpDeferredIO(info, for: panel, delay: options.delay, sortPagereflist: options.sortPagereflist)
        else { throw .outOfMemory("the deferred-I/O state") }
        panel.onUpdate = { [unowned self] update in self.panelUpdated(update) }
        recorder.logicalClock = false
        recorder.workerIDs = kernel.systemWorkqueue.workerIDs
        recorder.onMkwrite = { [unowned self] e in
            let page = Int(e.operands.a)
            guard page >= 0 && page < self.firstWrite.count else { return }
            self.mkwritesPerPage[page] += 1
            if self.firstWrite[page] == nil { self.firstWrite[page] = self.kernel.now }
        }
        recorder.attach()
        // A violation stops the drawing; the processes fsync and exit, and the summary says what broke.
        checkers.onViolation = { [unowned self] _ in self.stopDrawing = true }
    }

    /// The bands of the screen the processes draw into, top to bottom.
    package var bands: [Rect] { Rect.bands(width: options.width, height: options.height, count: options.procs) }

    /// Runs the workloads to the end (or until stopped), flushes, checks, and reports.
    public func run() throws(SetupError) -> DemoReport {
        let kind = WorkloadKind(rawValue: options.workload)!
        let assets: Assets
        do { assets = try Assets.load(from: options.assetsPath, backdrop: kind.showsBackdrop) } catch {
            throw .assets(error.message)
        }
        let bands = self.bands
        let layout = info.layout
        let screen = (options.width, options.height)
        for (i, band) in bands.enumerated() {
            let seed = SplitMix64.derive(options.machine.seed, "workload", i)
            let workload = kind.make(seed: seed, clip: band, screenWidth: screen.0, screenHeight: screen.1,
                                     assets: assets)
            // The pages a process maps when it maps only its own band.
            let bandPages = layout.pageRange(of: band)
            let forkedChild = bands.count >= 2 && i == bands.count - 1
            if forkedChild { continue }  // Drawn by a child of process 0.
            let mapsWhole = i == 0
            kernel.spawnProcess("draw\(i)") { [unowned self] t in
                let fd = try t.open(self.info.node)
                let length = mapsWhole ? self.info.fix.smemLen : bandPages.count
                let offset = mapsWhole ? 0 : bandPages.lowerBound
                let base = try t.mmap(length: length, prot: .readWrite, flags: .shared, fd: fd, offset: offset)
                let origin = base + (-offset)
                if mapsWhole, bands.count >= 2 {
                    let last = bands.count - 1
                    let childWorkload = kind.make(seed: SplitMix64.derive(self.options.machine.seed, "workload", last),
                                                  clip: bands[last], screenWidth: screen.0, screenHeight: screen.1,
                                                  assets: assets)
                    try t.fork("draw\(last)") { c in
                        let canvas = MappedCanvas(task: c, origin: origin, layout: layout, clip: bands[last])
                        try self.drawLoop(c, childWorkload, canvas, fd: fd, band: last)
                    }
                }
                let canvas = MappedCanvas(task: t, origin: origin, layout: layout, clip: band)
                try self.drawLoop(t, workload, canvas, fd: fd, band: i)
            }
        }
        let outcome = kernel.sched.run()
        // Quiescence: every writer fsynced after its last store. Compare panel, framebuffer and reference.
        let framesDrawn = drawnFrames
        let reference = PlainCanvas(layout: layout)
        for (i, band) in bands.enumerated() {
            let w = kind.make(seed: SplitMix64.derive(options.machine.seed, "workload", i), clip: band,
                              screenWidth: screen.0, screenHeight: screen.1, assets: assets)
            reference.clip = band
            // Each band as far as its process got (a stop request can catch the processes at different frames).
            for n in 0 ..< framesPerBand[i, default: 0] { try? w.drawFrame(n, on: reference) }
        }
        let check = LostUpdateChecker.check(info: info, panel: panel, reference: reference)
        let final = makeFrame(dirty: [layout.screen])
        snapshot?(final)
        mailbox?.publish(final)
        mailbox?.finish()
        latency.undelivered = firstWrite.reduce(0) { $0 + ($1 == nil ? 0 : 1) }
        checkers.runEnded(outcome)
        var stats = RunStats(kernel: kernel, info: info, bytesSent: panel.stats.busBytes,
                             bytesChanged: panel.stats.changedBytes, latency: latency,
                             variant: options.machine.variant.name)
        stats.violation = checkers.first?.description
        let summary = Summary.text(machine: self, outcome: outcome, frames: framesDrawn, check: check)
            + "\n" + stats.latency.summary + drawFailures.map { "\n" + $0 }.joined()
        let ok = check.passed && outcome == .completed && checkers.first == nil
            && kernel.processes.allSatisfy { $0.exitStatus == .exited }
        return DemoReport(summary: summary, checkerPassed: ok, checkerReport: check.report, finalFrame: final,
                          frameHash: frameHash(final.pixels), eventHash: kernel.events.hash, outcome: outcome,
                          schedule: kernel.sched.schedule, stats: stats, events: recorder.jsonLines,
                          trace: recorder.chromeTrace(), mkwritesPerPage: mkwritesPerPage, layout: layout,
                          framesDrawn: framesDrawn, faults: kernel.stats.faults)
    }

    /// What ended a drawing process other than a fault (a workload's failure), one line each.
    private var drawFailures: [String] = []
    /// Frames the furthest process drew, and frames each band's process drew.
    private var drawnFrames = 0
    private var framesPerBand: [Int: Int] = [:]

    private func drawLoop(_ t: UserTask, _ workload: any Workload, _ canvas: MappedCanvas, fd: Int,
                          band: Int) throws {
        var n = 0
        let start = kernel.now
        while options.frames.map({ n < $0 }) ?? true {
            if mailbox?.stopRequested == true { stopDrawing = true }
            if stopDrawing { break }
            try drawFrameInProcess(workload, n, on: canvas, process: t.name) { drawFailures.append($0) }
            n += 1
            framesPerBand[band] = n
            if n > drawnFrames {
                drawnFrames = n
                progress?(n, options.frames, kernel.now)
            }
            kernel.sched.sleep(until: start + VirtualTime(picoseconds: options.frameInterval.picoseconds * Int64(n)))
        }
        try t.fsync(fd)  // Push the last writes out before exiting: the run ends quiescent.
    }

    private func panelUpdated(_ update: PanelUpdate) {
        updates += 1
        for p in update.pages where p.rawValue < firstWrite.count {
            if let t = firstWrite[p.rawValue] { latency.record(update.end - t) }
            firstWrite[p.rawValue] = nil
        }
        recorder.callback(pages: update.pages.map(\.rawValue).sorted(), bytesSent: update.busBytes,
                          bytesChanged: 0, bus: update.start ..< max(update.end, update.start))
        pendingDirty.append(contentsOf: update.rects)
        let layout = info.layout
        lastBatch = update.pages.flatMap { layout.screenRects(ofPage: $0.rawValue) }
        pacer?.pace(to: kernel.now)
        if let mailbox {
            mailbox.publish(makeFrame(dirty: pendingDirty))
            pendingDirty = []
        }
        if let snapshot, snapshotEvery > 0, updates % snapshotEvery == 0 { snapshot(makeFrame(dirty: [])) }
    }

    func makeFrame(dirty: [Rect]) -> Frame {
        frameIndex += 1
        return Frame(index: frameIndex, width: options.width, height: options.height, pixels: panel.image,
                     dirty: dirty, lastBatchPages: lastBatch, hud: hudStats)
    }

    var hudStats: HUDStats {
        HUDStats(kernel: kernel, info: info, panel: panel, profile: profile, workload: options.workload)
    }
}

/// Draws frame `n` of `workload` in the body of process `process`: a fault reaches the kernel as what the process is
/// killed by (its `UserFault`); any other failure is handed to `report` and ends the process with EINVAL — a
/// workload's failure is reported with the run, never a trap.
@EmuActor func drawFrameInProcess(_ workload: any Workload, _ n: Int, on canvas: MappedCanvas, process: String,
                                  report: (String) -> Void) throws {
    do {
        try workload.drawFrame(n, on: canvas)
    } catch .fault(let f) {
        throw f
    } catch {
        report("\(process): \(error)")
        throw Errno.EINVAL
    }
}

/// The frame hash: the fingerprint of the pixels two to a word (the first of a pair in the low half), then of their
/// count.
public func frameHash(_ pixels: [UInt32]) -> UInt64 {
    var f = Fingerprint()
    pixels.withUnsafeBufferPointer { p in
        var i = 0
        while i + 1 < p.count {
            f.mix(UInt64(p[i]) | UInt64(p[i + 1]) << 32)
            i += 2
        }
        if i < p.count { f.mix(UInt64(p[i])) }
    }
    f.mix(UInt64(pixels.count))
    return f.value
}
