// SPDX-License-Identifier: MIT — `fbdefio-emu exec`: an unmodified Linux program as one of the emulated machine's
// processes, drawing on the emulated fb_defio device.
//
// The program's framebuffer is the emulated one: the vmalloc'd pages of the emulated screen are replaced, in the
// emulator's own address space, by the pages of a memory file the program maps (ExecHost.share), so its stores and
// the emulated driver's reads see the same bytes, with no copy. Write tracking is the host MMU's, decided by the
// emulated kernel: the program maps the file read-only; its first write to a page raises SIGSEGV in the preload
// library, which asks the emulator; the emulator replays that write in a fake process standing for the program
// (same VMA, page tables, PTE states: the full handle_mm_fault → do_wp_page → page_mkwrite path), and only when the
// emulated PTE is writable does the page become writable in the program. Before the driver reads a batch, every
// page the emulated worker write-protected is made read-only in the program again, and the emulator waits until it
// is — the TLB-shootdown moment of the real kernel.
//
// Time: virtual time is paced against the wall clock — never ahead of it (a reply to the program waits until the
// wall clock has reached the virtual time the emulated operation finished at) and, while idle, caught up with it —
// so the delay, the bus time and the panel's frame rate are those the program would meet on the hardware.
import Kernel
import Panels
import Workloads

/// One exec machine. Create, `run()`, read the report.
@EmuActor package final class ExecMachine {
    package let options: ExecOptions
    package let kernel: EmuKernel
    package let info: FBInfo
    package let panel: any PanelDriver
    package let profile: PanelProfile
    package let checkers: OnlineCheckers
    package let recorder: EventRecorder
    package let width: Int, height: Int, bpp: Int
    let mailbox: FrameMailbox?
    let snapshot: (@Sendable (Frame) -> Void)?
    let snapshotEvery: Int

    /// A mapping of the program's, mirrored in the fake process.
    struct Region {
        var va: VirtAddr
        var offset: Int
        var length: Int
        var writable: Bool
        /// Where the program has it, and whether its write-protect faults come through the userfaultfd.
        var address: UInt64 = 0
        var userfaultfd = false
        var mapped = true
        /// Pages (from the region's start) the program may write without faulting. Protected by nothing: the
        /// emulator thread is the only one that changes the program's protections.
        var open: Set<Int> = []
    }
    var regions: [Region] = []
    var handles: Set<Int> = []
    var host: ExecHost?
    var task: UserTask?
    var log: [String] = []
    var errors: [String] = []
    var opened = false
    var programFaults = 0
    var programStall: UInt64 = 0
    var lastStallBefore: UInt64 = 0
    var sawBye = false
    /// Wall time the emulator spent answering faults (receipt → reply), summed.
    var handlingNanos: UInt64 = 0
    var protectCalls = 0
    var pagesReprotected = 0
    var updates = 0
    var firstUpdate: VirtualTime?
    var lastUpdate: VirtualTime?
    var frameIndex = 0
    var pendingDirty: [Rect] = []
    var firstWrite: [VirtualTime?]
    var latency = LatencyHistogram()
    var traceRecorder: ExecTraceRecorder?
    var stopRequestedAt: UInt64?
    var sharedPages: [UnsafeMutableRawPointer] = []
    /// Ask the library for userfaultfd tracking (decided from `options.tracking` and the host).
    let wantUserfaultfd: Bool
    /// Wall time the program's threads waited in userfaultfd faults, from the emulator reading the fault to
    /// lifting the protection (the host kernel's delivery not included).
    var userfaultNanos: UInt64 = 0
    var userfaults = 0
    var setupError: String?
    var programEnded = false
    var framesPerBand: [Int] = []
    var workloadReport: String?

    package init(_ options: ExecOptions, mailbox: FrameMailbox? = nil, snapshotEvery: Int = 0,
                snapshot: (@Sendable (Frame) -> Void)? = nil) throws(Machine.SetupError) {
        guard let profile = PanelProfile.named(options.panel) else { throw .unknownPanel(options.panel) }
        self.options = options
        self.profile = profile
        self.mailbox = mailbox
        self.snapshot = snapshot
        self.snapshotEvery = snapshotEvery
        switch options.tracking {
        case .auto: wantUserfaultfd = ExecHost.userfaultfdWPAvailable
        case .uffd: wantUserfaultfd = true
        case .mprotect: wantUserfaultfd = false
        }
        width = options.width ?? profile.width
        height = options.height ?? profile.height
        bpp = options.bpp ?? profile.defaultFramebufferBPP
        let fbPages = pageAlign(height * width * bpp / 8) >> PAGE_SHIFT
        let config = MachineConfig(options.machine)
        kernel = config.makeKernel(ramPages: fbPages * 2 + 4096)
        guard let (info, checkers) = config.makeFramebuffer(kernel, xres: width, yres: height, bitsPerPixel: bpp,
                                                          id: "fbdefio-emu") else {
            throw .outOfMemory("the framebuffer")
        }
        self.info = info
        self.checkers = checkers
        firstWrite = Array(repeating: nil, count: fbPages)
        recorder = EventRecorder(kernel: kernel, keepEvents: options.keepEvents, keepTrace: options.keepTrace)
        panel = makePanelDriver(profile, for: info, options: config.variant.switches.panel)
        guard config.setUpDeferredIO(info, for: panel, delay: options.delay, sortPagereflist: options.sortPagereflist,
                                     beforeDriver: { [unowned self] pages in self.beforeDriver(pages) })
        else { throw .outOfMemory("the deferred-I/O state") }
        panel.onUpdate = { [unowned self] update in self.panelUpdated(update) }
        recorder.logicalClock = false
        recorder.workerIDs = kernel.systemWorkqueue.workerIDs
        recorder.onMkwrite = { [unowned self] e in
            let page = Int(e.operands.a)
            guard page >= 0 && page < self.firstWrite.count else { return }
            if self.firstWrite[page] == nil { self.firstWrite[page] = self.kernel.now }
        }
        recorder.attach()
        if options.record { traceRecorder = ExecTraceRecorder(pages: fbPages) }
    }

    /// The tracking mechanism the program's mappings used, as the summary names it.
    package var mechanism: String {
        let uffd = regions.contains { $0.userfaultfd }, segv = regions.contains { !$0.userfaultfd && $0.writable }
        let available = ExecHost.userfaultfdWPAvailable ? "available on this host" : "not available on this host"
        switch (uffd, segv) {
        case (true, false):
            return "userfaultfd write-protect (the library passed the descriptor over the socket; the emulator reads "
                + "the faults and lifts the protection)"
        case (true, true): return "userfaultfd write-protect for some mappings, mprotect + SIGSEGV for the others"
        case (false, true):
            return "mprotect + SIGSEGV in the preload library (userfaultfd write-protect: \(available)"
                + (wantUserfaultfd ? ", refused for this mapping" : ", not asked for") + ")"
        case (false, false): return "none (no writable mapping of the framebuffer)"
        }
    }

    /// Starts the program, runs the machine until the program has ended and its last close has flushed, checks,
    /// and reports.
    package func run() -> ExecReport {
        let smemLen = info.fix.smemLen
        do {
            let host = try ExecHost(memfdSize: smemLen)
            self.host = host
            // The program's memory file becomes the emulated framebuffer's memory, page by page.
            for pgoff in 0 ..< smemLen >> PAGE_SHIFT {
                let address = kernel.phys.address(of: info.page(at: pgoff << PAGE_SHIFT)!)
                try host.share(page: address, pgoff: pgoff)
                sharedPages.append(address)
            }
        } catch {
            setupError = error.description
        }
        if setupError == nil, options.workload != nil { startWorkloads() }
        if setupError == nil {
            let t = kernel.spawnProcess(options.argv.first.map(Self.baseName) ?? "program") { [unowned self] t in
                try self.session(t)
            }
            task = t
            if let t { recorder.declareTrack(t.schedID) }
        }
        let outcome = kernel.sched.run()
        panel.flush()
        // Quiescence: the program is gone and its last close flushed. The panel must show the framebuffer memory.
        let want = panel.expectedImage(), got = panel.image
        var mismatches = 0
        var first: Int?
        for i in 0 ..< min(want.count, got.count) where want[i] != got[i] {
            mismatches += 1
            if first == nil { first = i }
        }
        let checkReport = mismatches == 0 ? "checker: panel == framebuffer memory (\(width * height) pixels)"
            : "LOST UPDATE: \(mismatches) pixels of the panel differ from the framebuffer memory; first at "
                + "(\(first! % width),\(first! / width))"
        checkers.runEnded(outcome)
        if options.workload != nil && setupError == nil { checkWorkloads() }
        if let e = setupError { errors.append(e) }
        if outcome != .completed { errors.append("run: \(outcome)") }
        if mismatches > 0 { errors.append(checkReport) }
        if let v = checkers.first { errors.append(v.description) }
        if host?.exit != nil && !opened {
            errors.append("the program never opened the framebuffer (/dev/fb0): nothing was tracked")
        }
        let final = makeFrame(dirty: [info.layout.screen])
        snapshot?(final)
        mailbox?.publish(final)
        mailbox?.finish()
        latency.undelivered = firstWrite.reduce(0) { $0 + ($1 == nil ? 0 : 1) }
        var stats = RunStats(kernel: kernel, info: info, bytesSent: panel.stats.busBytes,
                             bytesChanged: panel.stats.changedBytes, latency: latency,
                             variant: options.machine.variant.name)
        stats.violation = checkers.first?.description
        let summary = summaryText(outcome: outcome, check: checkReport)
        let trace = traceRecorder.map { r in
            r.render(header: traceHeader, size: smemLen, mode: (width, height, bpp, info.fix.lineLength),
                     end: kernel.now)
        }
        // The arena goes back to private memory before the machine (and its RAM) is gone.
        if let host { for page in sharedPages { host.unshare(page: page) } }
        sharedPages = []
        return ExecReport(summary: summary, exit: host?.exit, setupFailed: setupError != nil,
                          openedFramebuffer: opened, errors: errors,
                          checkerPassed: mismatches == 0 && checkers.first == nil,
                          stoppedOnRequest: stopRequestedAt != nil, log: log, trace: trace,
                          stats: stats, events: recorder.jsonLines, chromeTrace: recorder.chromeTrace(),
                          finalFrame: final, mechanism: mechanism)
    }

    static func baseName(_ path: String) -> String { String(path.split(separator: "/").last ?? Substring(path)) }

    // MARK: - The fake process standing for the program

    /// The program's requests, in order: the fake process's main thread serves them (it owns the file table). Its
    /// write faults are run by a second thread sharing the address space, the one that reads the program, so that
    /// an fsync in one of the program's threads does not hold up another's first write.
    /// With `faultThreads`, the faults go to that many more threads instead, which run them concurrently (as the
    /// program's threads fault concurrently).
    private var requests: [ExecRequest] = []
    private var requestsInFlight = 0
    private enum FaultWork {
        /// FBX_FAULT from the SIGSEGV handler: region and offset in it.
        case signal(region: Int, offset: Int)
        /// A userfaultfd write-protect fault at this address of the program's.
        case userfault(UInt64)
    }
    private var faultWork: [FaultWork] = []
    private var faultsInFlight = 0
    private var dispatcherDone = false
    /// Something of the program's is queued or being served by another thread than the reading one.
    private var busy: Bool { !requests.isEmpty || requestsInFlight > 0 || !faultWork.isEmpty || faultsInFlight > 0 }
    private var work: WaitQueue?

    /// The fake process's main thread: starts the program and the thread that reads it, serves the program's
    /// requests until it has ended; then closes what it left open, as its exit would (munmap, then the
    /// last fput → fb_release → fb_deferred_io_lastclose, which flushes).
    private func session(_ t: UserTask) throws {
        defer { programEnded = true }  // the workloads beside it stop too, whatever happened
        guard let host else { return }
        do { try host.spawn(argv: options.argv, preload: options.preload, environment: options.environment) } catch {
            errors.append(error.description)
            return
        }
        let work = WaitQueue("exec work", scheduler: kernel.sched, uninterruptible: false)
        self.work = work
        // Cloned before the first open, so it holds no file; on the main thread's CPU: one clock, so that a reply is
        // paced against the time its operation really ended.
        t.clone("\(t.name)-faults", cpu: t.cpu) { [unowned self] d in self.dispatch(d) }
        for i in 0 ..< options.faultThreads {
            t.clone("\(t.name)-t\(i)", cpu: t.cpu) { [unowned self] f in self.serveFaults(f) }
        }
        while true {
            work.wait { !self.requests.isEmpty || self.dispatcherDone }
            guard !requests.isEmpty else { break }
            requestsInFlight += 1
            handle(requests.removeFirst(), t)
            requestsInFlight -= 1
            work.wakeAll()
        }
        work.wait { self.faultWork.isEmpty && self.faultsInFlight == 0 }
        log.append("exit")
        programEnded = true  // before the last close: the workloads' fsyncs and this one's close flush together
        for (i, r) in regions.enumerated() where r.mapped {
            regions[i].mapped = false
            try? t.munmap(r.va, length: r.length)
        }
        for h in handles.sorted() { try? t.close(h) }
        handles = []
    }

    /// A fault thread (`faultThreads`): takes the program's faults one at a time until the program is gone.
    private func serveFaults(_ f: UserTask) {
        guard let work else { return }
        while true {
            work.wait { !self.faultWork.isEmpty || self.dispatcherDone }
            guard !faultWork.isEmpty else { return }
            let item = faultWork.removeFirst()
            faultsInFlight += 1
            switch item {
            case .signal(let r, let offset): fault(region: r, offset: offset, f)
            case .userfault(let address): userfault(address, f)
            }
            faultsInFlight -= 1
            work.wakeAll()
        }
    }

    /// Runs a fault in the reading thread, or hands it to the fault threads.
    private func runFault(_ item: FaultWork, _ d: UserTask) {
        guard options.faultThreads > 0, let work else {
            switch item {
            case .signal(let r, let offset): fault(region: r, offset: offset, d)
            case .userfault(let address): userfault(address, d)
            }
            return
        }
        faultWork.append(item)
        work.wakeAll()
        kernel.sched.sleep(until: kernel.now + .ns(1))  // a fault thread takes it now, at this virtual time
    }

    /// The fake process's second thread: reads what the program sends, runs its write faults itself and hands its
    /// requests to the main thread; keeps virtual time with the wall clock; notices when the program has ended,
    /// and stops it on request.
    private func dispatch(_ d: UserTask) {
        guard let host, let work else { return }
        defer {
            dispatcherDone = true
            work.wakeAll()
        }
        let limit = options.duration.map { UInt64($0 * 1e9) }
        while true {
            if let address = host.nextUserfault() {
                runFault(.userfault(address), d)
                continue
            }
            if let request = host.nextRequest(timeoutMs: 0) {
                if case .fault(let r, let offset, let stallBefore) = request {
                    lastStallBefore = stallBefore
                    runFault(.signal(region: r, offset: offset), d)
                } else {
                    requests.append(request)
                    work.wakeAll()
                    // The main thread takes it now, at this virtual time.
                    kernel.sched.sleep(until: kernel.now + .ns(1))
                }
                continue
            }
            // Ended, and the pass after that found nothing more from it: done.
            if !busy && host.exit != nil { return }
            if host.exit == nil && host.reap() != nil { continue }
            let elapsed = host.elapsedNanoseconds
            if stopRequestedAt == nil && (mailbox?.stopRequested == true || limit.map({ elapsed >= $0 }) == true) {
                host.terminate()
                stopRequestedAt = elapsed
            } else if let at = stopRequestedAt, elapsed > at + 3_000_000_000 {
                host.terminate(force: true)
            }
            // Bring virtual time up to the wall clock (timers fire, the worker, the panel and the fake threads run),
            // then wait a millisecond at most for the program.
            // (Within 50 µs counts as caught up: chasing the wall clock exactly would spin here.)
            let wall = VirtualTime.ns(Int64(elapsed))
            if kernel.now + .us(50) < wall {
                kernel.sched.sleep(until: wall)
                continue
            }
            if busy {
                // Another thread is inside the emulated kernel and may need virtual time to pass (an fsync waiting
                // for the worker and the bus, a fault for the defio mutex held over a transfer): wait for it, but at most 200 µs of virtual time — then the wall clock
                // catches up and the program is read again, so its other threads are not held up meanwhile.
                var expired = false
                let timer = kernel.sched.addTimer(at: kernel.now + .us(200)) {
                    expired = true
                    work.wakeAll()
                }
                work.wait { expired || !self.busy }
                _ = kernel.sched.cancelTimer(timer)
                pace()
                continue
            }
            host.waitForProgram(timeoutMs: 1)
            let arrived = VirtualTime.ns(Int64(host.elapsedNanoseconds))
            if kernel.now < arrived { kernel.sched.sleep(until: arrived) }
        }
    }

    /// Lets the program go on only once the wall clock has reached the virtual time the emulated operation ended at.
    private func pace() {
        guard let host, kernel.now.nanoseconds > 0 else { return }
        host.sleep(untilElapsed: UInt64(kernel.now.nanoseconds))
    }

    private func handle(_ request: ExecRequest, _ t: UserTask) {
        guard let host else { return }
        switch request {
        case .hello:
            host.sendMode(ExecMode(xres: width, yres: height, bitsPerPixel: bpp, lineLength: info.fix.lineLength,
                                   smemLen: info.fix.smemLen, id: info.fix.id), userfaultfd: wantUserfaultfd)
        case .userfaultfd(let accepted):
            host.reply(errno: accepted && wantUserfaultfd ? 0 : 22)
        case .open:
            do {
                let fd = try t.open(info.node)
                handles.insert(fd)
                opened = true
                log.append("open")
                pace()
                host.reply(value: fd)
            } catch {
                log.append("open: \(error)")
                host.reply(errno: error.rawValue)
            }
        case .close(let h):
            handles.remove(h)
            do { try t.close(h) } catch {}
            log.append("close")
            pace()
            host.reply()
        case .mmap(let h, let offset, let length, let writable, let address, let userfaultfd):
            do {
                let va = try t.mmap(length: length, prot: writable ? .readWrite : .read, flags: .shared, fd: h,
                                          offset: offset)
                regions.append(Region(va: va, offset: offset, length: length, writable: writable, address: address,
                                      userfaultfd: userfaultfd && host.uffd >= 0))
                log.append("mmap offset=\(offset) length=\(length)")
                pace()
                host.reply(value: regions.count - 1)
            } catch {
                log.append("mmap: \(error)")
                host.reply(errno: error.rawValue)
            }
        case .munmap(let r, let offset, let length):
            guard r >= 0 && r < regions.count && regions[r].mapped else { return host.reply(errno: 22) }
            let region = regions[r]
            try? t.munmap(region.va + offset, length: length)
            if offset == 0 && length >= region.length { regions[r].mapped = false }
            let first = offset >> PAGE_SHIFT, end = (offset + length) >> PAGE_SHIFT
            regions[r].open = regions[r].open.filter { $0 < first || $0 >= end }
            log.append("munmap")
            host.reply()
        case .fault:
            preconditionFailure("the reading thread runs the faults itself")
        case .fsync(let h):
            do { try t.fsync(h) } catch { log.append("fsync: \(error)") }
            log.append("fsync")
            traceRecorder?.fsync(at: kernel.now)
            pace()
            host.reply()
        case .badMode(let x, let y, let b):
            errors.append("the program asked FBIOPUT_VSCREENINFO for \(x)x\(y) at \(b) bpp; the machine provides only "
                + "\(width)x\(height) at \(bpp) bpp (it got EINVAL)")
            host.reply()
        case .putMode, .blank:
            host.reply()
        case .pan(let x, let y, let refused):
            if refused { log.append("pan \(x),\(y) refused") }
            host.reply()
        case .bye(let faults, let stall):
            sawBye = true
            programFaults = faults
            programStall = stall
        case .unknown(let type):
            errors.append("the preload library sent an unknown request (type \(type))")
            host.reply(errno: 22)
        }
    }

    /// A write of the program's to a read-only page: the same write by the fake process, through the emulated
    /// fault path; then the page is opened in the program.
    /// A write-protect fault a thread of the program waits in (userfaultfd): the same path, then the emulator lifts
    /// the protection of the page, which wakes the thread.
    private func userfault(_ address: UInt64, _ t: UserTask) {
        guard let host else { return }
        let received = host.elapsedNanoseconds
        let page = address & ~UInt64(PAGE_SIZE - 1)
        guard let r = regions.firstIndex(where: {
            $0.mapped && $0.userfaultfd && address >= $0.address && address - $0.address < UInt64($0.length)
        }) else {
            host.userfaultWriteprotect(page, length: PAGE_SIZE, protect: false)  // not ours any more: let it go
            return
        }
        fault(region: r, offset: Int(address - regions[r].address), t, userfaultPage: page)
        userfaults += 1
        userfaultNanos &+= host.elapsedNanoseconds &- received
    }

    private func fault(region r: Int, offset: Int, _ t: UserTask, userfaultPage: UInt64? = nil) {
        guard let host else { return }
        let received = host.elapsedNanoseconds
        /// Lets the program go on (`signal` 0) or delivers the emulated SIGBUS/SIGSEGV; true once the page is open.
        func complete(signal: Int32 = 0) -> Bool {
            if let page = userfaultPage {
                if signal != 0 { host.signal(signal) }
                return host.userfaultWriteprotect(page, length: PAGE_SIZE, protect: false) && signal == 0
            }
            host.reply(errno: signal)
            return signal == 0 && host.awaitDone()
        }
        guard r >= 0 && r < regions.count && regions[r].mapped && offset < regions[r].length else {
            _ = complete(signal: 11)
            return
        }
        let region = regions[r]
        let local = offset >> PAGE_SHIFT
        let fbOffset = region.offset + offset
        let pgoff = fbOffset >> PAGE_SHIFT
        guard fbOffset < info.fix.smemLen, let page = info.page(at: fbOffset & ~(PAGE_SIZE - 1)) else {
            _ = complete(signal: 7)  // past the end of the framebuffer: what fb_deferred_io_fault answers, SIGBUS
            return
        }
        if region.open.contains(local) {
            // Another thread of the program opened the page while this one was on its way: a spurious fault.
            _ = complete()
            return
        }
        let at = kernel.now
        let batch = info.defioStats.batches
        // The byte already there: the store changes nothing, the program's own write follows once it may.
        let byte = kernel.phys.address(of: page).load(fromByteOffset: fbOffset & (PAGE_SIZE - 1), as: UInt8.self)
        traceRecorder?.fault(at: at, pgoff: pgoff, offset: fbOffset)
        do {
            try t.store8(region.va + offset, byte)
        } catch {
            log.append("fault page=\(pgoff) batch=\(batch): \(error)")
            errors.append("the program's write to page \(pgoff) failed in the emulated kernel: \(error)")
            if case .sigbus = error { _ = complete(signal: 7) } else { _ = complete(signal: 11) }
            return
        }
        log.append("fault page=\(pgoff) batch=\(batch)")
        pace()
        handlingNanos &+= host.elapsedNanoseconds &- received
        if complete() { regions[r].open.insert(local) }
    }

    /// Runs in the worker after it write-protected the batch, before the driver reads it: every page the emulated
    /// PTEs (and the TLBs of every CPU) no longer let the fake process write becomes read-only in the program, and the worker waits
    /// until it is. Pages a variant leaves writable stay writable in the program too.
    private func beforeDriver(_ pages: [FBDeferredIOPageref]) {
        guard let host, let t = task else { return }
        var protect: [Int] = []
        for (i, region) in regions.enumerated() where region.mapped && !region.open.isEmpty {
            for local in region.open.sorted() {
                let va = region.va + (local << PAGE_SHIFT)
                let writable = t.mm.pte(at: va).isWrite
                    || (0 ..< kernel.sched.cpuCount).contains { t.mm.tlb(on: $0).lookup(va)?.writable ?? false }
                if !writable {
                    regions[i].open.remove(local)
                    if region.userfaultfd {
                        // The emulator write-protects it itself; the host kernel flushes the program's TLB.
                        host.userfaultWriteprotect(region.address + UInt64(local << PAGE_SHIFT), length: PAGE_SIZE,
                                                   protect: true)
                        pagesReprotected += 1
                    } else {
                        protect.append((region.offset >> PAGE_SHIFT) + local)
                    }
                }
            }
        }
        protect = Array(Set(protect)).sorted()
        if !protect.isEmpty {
            protectCalls += 1
            pagesReprotected += protect.count
            _ = host.protect(protect)
        }
        if traceRecorder != nil {
            for ref in pages {
                let base = kernel.phys.address(of: ref.page)
                let n = min(PAGE_SIZE, info.fix.smemLen - ref.offset)
                traceRecorder!.snapshot(pgoff: ref.pgoff.rawValue,
                                        bytes: Array(UnsafeRawBufferPointer(start: base, count: n)))
            }
        }
    }

    // MARK: - The panel

    private func panelUpdated(_ update: PanelUpdate) {
        updates += 1
        if firstUpdate == nil { firstUpdate = update.end }
        lastUpdate = update.end
        for p in update.pages where p.rawValue < firstWrite.count {
            if let t = firstWrite[p.rawValue] { latency.record(update.end - t) }
            firstWrite[p.rawValue] = nil
        }
        recorder.callback(pages: update.pages.map(\.rawValue).sorted(), bytesSent: update.busBytes,
                          bytesChanged: 0, bus: update.start ..< max(update.end, update.start))
        pendingDirty.append(contentsOf: update.rects)
        if mailbox != nil {
            pace()
            mailbox!.publish(makeFrame(dirty: pendingDirty))
            pendingDirty = []
        }
        if let snapshot, snapshotEvery > 0, updates % snapshotEvery == 0 { snapshot(makeFrame(dirty: [])) }
    }

    func makeFrame(dirty: [Rect]) -> Frame {
        frameIndex += 1
        let h = HUDStats(kernel: kernel, info: info, panel: panel, profile: profile,
                         workload: options.argv.first.map(Self.baseName) ?? "exec")
        return Frame(index: frameIndex, width: width, height: height, pixels: panel.image, dirty: dirty,
                     lastBatchPages: [], hud: h)
    }
}
