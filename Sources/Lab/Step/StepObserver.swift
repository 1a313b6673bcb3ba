// SPDX-License-Identifier: MIT — watches one machine's event stream and, at the event boundaries the caller asks
// for, reads the state the step views show. It subscribes after the checkers and the exporters, so the state it
// reads is the state after every other subscriber has seen the event.
import Kernel

/// Records every event of a run as a `StepEvent`, and a `StepState` for the events in `window`.
@EmuActor package final class StepObserver {
    let kernel: EmuKernel
    let info: FBInfo
    let checkers: OnlineCheckers
    /// Event numbers whose state is read (nil: every event).
    let window: ClosedRange<Int>?
    package private(set) var events: [StepEvent] = []
    package private(set) var states: [Int: StepState] = [:]
    /// Given: each state of the window goes here instead of into `states` (a long run's page is built as it runs).
    package var sink: (@EmuActor (StepState) -> Void)?
    /// page_mkwrite calls per framebuffer page (the heatmap of the run so far).
    package private(set) var mkwritesPerPage: [Int]
    /// The event at which the first checker fired (nil: none did).
    package private(set) var violationEvent: Int?
    private var workerIDs: Set<Int> = []
    /// Per task, the last replay line it started (set through the replay's recorder).
    var context: [Int: String] = [:]
    /// mm id → the process that owns it (for events that name an mm, not a task).
    private var processOfMM: [Int: UserTask] = [:]

    package init(kernel: EmuKernel, info: FBInfo, checkers: OnlineCheckers, window: ClosedRange<Int>?) {
        self.kernel = kernel
        self.info = info
        self.checkers = checkers
        self.window = window
        mkwritesPerPage = Array(repeating: 0, count: info.fix.smemLen >> PAGE_SHIFT)
    }

    /// Starts watching (call after the machine set up its checkers and exporters).
    package func attach() {
        workerIDs = Set(kernel.systemWorkqueue.workerIDs)
        kernel.events.subscribe { [unowned self] e in self.observe(e) }
    }

    private var pages: Int { info.fix.smemLen >> PAGE_SHIFT }

    private func observe(_ e: KernelEvent) {
        let number = events.count + 1
        let page = self.page(of: e)
        if e.kind == .mkwrite, let page, page < mkwritesPerPage.count { mkwritesPerPage[page] += 1 }
        let who = e.task < 0 ? "irq" : kernel.sched.name(of: e.task)
        let event = StepEvent(number: number, time: e.time, task: e.task, who: who, cpu: e.cpu, kind: e.kind,
                              function: StepText.function(e), text: StepText.describe(e, page: page),
                              isWorker: workerIDs.contains(e.task), page: page,
                              context: context[e.task])
        events.append(event)
        if violationEvent == nil && checkers.first != nil { violationEvent = number }
        if window.map({ $0.contains(number) }) ?? true {
            let s = snapshot(event)
            if let sink { sink(s) } else { states[number] = s }
        }
    }

    /// The framebuffer page an event concerns, if it names one (directly, or by an address in an fb mapping).
    private func page(of e: KernelEvent) -> Int? {
        switch e.payload {
        case .mkwrite(let pgoff, _), .pfnMkwrite(let pgoff, _), .faultHook(let pgoff, _):
            return pgoff.rawValue
        case .defioListAdd(let pgoff, _), .defioProtect(let pgoff, _):
            return pgoff
        case .fault(let address, _), .faultResult(let address, _), .retry(let address, _, _):
            return kernel.process(schedID: e.task).flatMap { fbPage(mm: $0.mm, address) }
        case .pteSet(let address, _, let mm), .pteZap(let address, _, let mm), .wrprotect(let address, _, let mm, _),
             .pteClean(let address, _, let mm), .tlbFlush(let address, _, let mm):
            return mmByID(mm).flatMap { fbPage(mm: $0, address) }
        default:
            return nil
        }
    }

    private func mmByID(_ id: Int) -> MM? {
        if let t = processOfMM[id] { return t.mm }
        for t in kernel.processes where t.mm.id == id {
            processOfMM[id] = t
            return t.mm
        }
        return nil
    }

    private func isFramebuffer(_ vma: VMArea) -> Bool {
        guard let inode = vma.file?.inode else { return false }
        return info.nodes.contains { $0 === inode }
    }

    private func fbPage(mm: MM, _ address: VirtAddr) -> Int? {
        guard let vma = mm.vmaLookup(address), isFramebuffer(vma) else { return nil }
        let p = vma.linearPageIndex(address).rawValue
        return p >= 0 && p < pages ? p : nil
    }

    private func name(_ task: Int) -> String {
        task < 0 ? "kernel" : "\(kernel.sched.name(of: task))"
    }

    /// Reads the state the views show, now.
    func snapshot(_ event: StepEvent) -> StepState {
        let n = pages
        var rows: [MappingRow] = []
        var fbVMAs: [(task: UserTask, vma: VMArea)] = []
        for t in kernel.processes where t.exitStatus == .running {
            for vma in t.mm.vmas where isFramebuffer(vma) {
                var cells = [PTECell](repeating: .uncovered, count: n)
                let first = max(0, vma.pgoff.rawValue), last = min(n - 1, vma.lastPgoff.rawValue)
                var p = first
                while p <= last {
                    // One page-table walk per PTE page: the entries after it in the same table are read in place.
                    let address = vma.start + (p - vma.pgoff.rawValue) * PAGE_SIZE
                    let inTable = 512 - Int((address.rawValue >> UInt64(PAGE_SHIFT)) & 511)
                    let run = min(inTable, last - p + 1)
                    if let slot = t.mm.pageTables.lookup(address) {
                        let table = kernel.phys.address(of: slot.table)
                        for k in 0 ..< run {
                            let raw = table.load(fromByteOffset: (slot.index + k) * 8, as: UInt64.self)
                            cells[p + k] = PTECell(PTE(raw: raw))
                        }
                    } else {
                        for k in 0 ..< run { cells[p + k] = .none }
                    }
                    p += run
                }
                rows.append(MappingRow(process: t.name, pid: t.pid, mm: t.mm.id, start: vma.start, cells: cells))
                fbVMAs.append((t, vma))
            }
        }
        // TLBs: the valid slots of each address space on each CPU that fall in one of its framebuffer mappings.
        var tlb: [[TLBCell]] = Array(repeating: [], count: kernel.sched.cpuCount)
        for (t, vma) in fbVMAs {
            for cpu in 0 ..< kernel.sched.cpuCount {
                let soft = t.mm.tlb(on: cpu)
                for i in 0 ..< SoftTLB.size {
                    let e = soft.slots[i]
                    guard e.vpn != TLBEntry.invalidVPN, e.vpn >= vma.start.vpn, e.vpn < vma.end.vpn else { continue }
                    let page = vma.pgoff.rawValue + Int(e.vpn - vma.start.vpn)
                    guard page >= 0 && page < n else { continue }
                    tlb[cpu].append(TLBCell(process: t.name, page: page, writable: e.writable))
                }
            }
        }
        for cpu in tlb.indices {
            tlb[cpu].sort { ($0.process, $0.page) < ($1.process, $1.page) }
        }
        let state = info.fbdefioState
        let work: WorkState
        if let w = info.deferredWork {
            if w.isRunning {
                work = .running(pending: w.isPending)
            } else if let t = w.timerDeadline {
                work = .timer(expiry: t)
            } else {
                work = w.isPending ? .queued : .idle
            }
        } else {
            work = .idle
        }
        let mutex = state?.lock
        var pageLocks: [(page: Int, holder: String)] = []
        for p in 0 ..< n {
            guard let pfn = state?.boundPage(p) ?? info.page(at: p << PAGE_SHIFT) else { continue }
            if let holder = kernel.phys.pageLockHolder(of: pfn) { pageLocks.append((p, name(holder))) }
        }
        let first = checkers.first
        let statuses = stepCheckerKinds.map { kind in
            CheckerStatus(name: kind.rawValue, violation: first?.kind == kind ? first!.description : nil)
        }
        return StepState(
            event: event, mappings: rows, tlb: tlb, pagereflist: state?.pagereflist ?? [], work: work,
            mutexName: mutex?.name ?? "fb_deferred_io_state->lock",
            mutexHolder: mutex.flatMap { $0.isLocked ? name($0.owner) : nil },
            mutexWaiters: mutex?.waiterIDs.map(name) ?? [],
            infoLockHolder: info.lock.isLocked ? name(info.lock.owner) : nil,
            pageLocks: pageLocks, checkers: statuses, mkwrites: kernel.stats.pageMkwriteCalls,
            batches: info.defioStats.batches, pages: n)
    }
}
