// SPDX-License-Identifier: MIT — the invariants of DESIGN.md §7, checked while the machine runs: after every event
// that can break them, so that a lost update is reported at the moment it becomes lost.
import Kernel

/// What a checker found: the first broken invariant of a run.
public struct Violation: Sendable, Equatable, CustomStringConvertible {
    package enum Kind: String, Sendable {
        case dirtyTracking = "dirty tracking", rearm = "re-arm", faultAccounting = "fault accounting"
        case listIntegrity = "list integrity", deadlock, livelock, hungTask = "hung task", oops
        case lostUpdate = "lost update", notification = "write notification"
    }
    package var kind: Kind
    package var what: String
    /// Page offset in the device, process id, batch number and virtual time, where known.
    package var page: Int?
    package var pid: Int?
    package var batch: Int
    package var time: VirtualTime

    public var description: String {
        var place: [String] = []
        if let page { place.append("page \(page)") }
        if let pid { place.append("pid \(pid)") }
        place.append("batch \(batch)")
        place.append("t=\(time)")
        return "VIOLATION (\(kind.rawValue)): \(what) [\(place.joined(separator: ", "))]"
    }
}

/// Every online checker of one machine with a deferred-I/O framebuffer. Subscribe once; read `first`.
///
/// - Dirty tracking: a PTE that becomes writable maps a listed page or one whose `page_mkwrite` is in flight; when
///   the worker empties the list, no PTE of an unlisted page is writable.
/// - Re-arm: when the worker hands a batch to the driver, no PTE of a page in it is writable and no TLB entry lets a
///   store reach it without a fault.
/// - Fault accounting: at most one `page_mkwrite` per (process, page, batch) that made a PTE writable.
/// - List integrity: the list walks back to its head, each entry's offset is its slot's, sorted when it must be.
/// - Livelock, oops, list corruption, soft lockup and hung task as the kernel model reports them.
@EmuActor public final class OnlineCheckers: KernelEventSubscriber {
    unowned let kernel: EmuKernel
    unowned let info: FBInfo
    /// The first violation; the run should stop when it is set.
    public private(set) var first: Violation? { didSet { stopped = first != nil } }
    /// `first != nil`, kept as a flag: every event tests it, and a test of the optional copies the violation.
    private var stopped = false
    /// Told once, at the first violation.
    package var onViolation: ((Violation) -> Void)?
    /// By mm id (ids are small and handed out in order), for each device page: the batch (and event) in which a
    /// `page_mkwrite` of that process made it writable (nil: not since the process's last zap). Arrays, not
    /// dictionaries: a check is two indexings per fault.
    private var granted: [[Grant?]] = []
    private struct Grant {
        var batch: Int
        var seq: Int
    }
    /// Events seen (of `kinds`), and the event at which each task's current fault began: a `page_mkwrite` is a second
    /// one only if its fault began after the PTE was made writable (threads of one address space that fault on the same
    /// PTE at once each call `->page_mkwrite`, as in the kernel).
    private var seq = 0
    /// By scheduler task id (0: no fault seen).
    private var faultBegan: [Int] = []
    /// Pages of the current worker pass whose write-protect changed nothing (kept back by 49bbd815).
    private var uncleaned: Set<Int> = []
    /// Checks run (a measure of the checkers' cost).
    package private(set) var checks = 0

    package init(kernel: EmuKernel, info: FBInfo) {
        self.kernel = kernel
        self.info = info
        super.init()
        // Held by the kernel's event log (the checkers hold the kernel unowned, so there is no cycle).
        kernel.events.subscribe(self, Self.kinds)
        kernel.onFailure.append { [unowned self] f in self.failure(f) }
    }

    /// The events `kernelEvent(_:)` checks after.
    static let kinds = KernelEvent.KindSet([.fault, .pteSet, .mkwrite, .pteZap, .defioProtect, .defioBatch,
                                            .defioListClear, .livelock])

    private var state: FBDeferredIOState? { info.fbdefioState }
    private var batch: Int { info.defioStats.batches }

    /// Records a violation found outside the event stream (deadlock, lost update at quiescence).
    package func report(_ kind: Violation.Kind, _ what: String, page: Int? = nil, pid: Int? = nil) {
        guard first == nil else { return }
        let v = Violation(kind: kind, what: what, page: page, pid: pid, batch: batch, time: kernel.now)
        first = v
        onViolation?(v)
    }

    /// The run ended: a deadlock is a violation too.
    public func runEnded(_ outcome: RunOutcome) {
        if case .deadlock(let why) = outcome { report(.deadlock, why) }
    }

    private func failure(_ f: KernelFailure) {
        let kind: Violation.Kind
        switch f {
        case .oops, .softLockup: kind = .oops
        case .listCorruption: kind = .listIntegrity
        case .hungTask: kind = .hungTask
        }
        report(kind, f.description, pid: task(kernel.sched.current)?.pid)
    }

    private func task(_ schedID: Int) -> UserTask? { kernel.process(schedID: schedID) }

    public override func kernelEvent(_ e: KernelEvent) {
        guard !stopped else { return }
        seq += 1
        switch e.payload {
        case .fault:
            if e.task >= 0 {
                faultBegan.grow(to: e.task + 1, with: 0)
                faultBegan[e.task] = seq
            }
        case .pteSet(let address, let pte, _):
            checkNewPTE(e.task, address, pte)
        case .mkwrite(let pgoff, _):
            checkMkwrite(e.task, pgoff.rawValue)
        case .pteZap:
            if let t = task(e.task) { forget(mm: t.mm) }
        case .defioProtect(let pgoff, let ptes):
            if ptes == 0 && info.variant.workerKeepsUncleanedPages { uncleaned.insert(pgoff) }
        case .defioBatch:
            checkRearm()
            checkList()
            uncleaned = []
        case .defioListClear:
            checkNoWritableUnlisted()
            checkList()
        case .livelock(let address, let attempts):
            let t = task(e.task)
            report(.livelock, "\(t?.name ?? "T\(e.task)") faulted \(attempts) times at \(address) without progress",
                   pid: t?.pid)
        default:
            break
        }
    }

    /// The device page a user address of `mm` maps, when it is in a shared deferred-I/O VMA of this framebuffer.
    private func devicePage(_ mm: MM, _ address: VirtAddr) -> Int? {
        guard let vma = mm.vmaLookup(address), vma.flags.contains(.shared), let s = state, vma.privateData === s
        else { return nil }
        return vma.linearPageIndex(address).rawValue
    }

    private func tracked(_ s: FBDeferredIOState, _ pgoff: Int) -> Bool {
        pgoff >= s.npagerefs || s.isListed(pgoff) || s.mkwritesInFlight[pgoff] > 0
    }

    private func checkNewPTE(_ schedID: Int, _ address: VirtAddr, _ pte: PTE) {
        guard pte.isWrite, let s = state, s.info != nil, let t = task(schedID) else { return }
        guard let pgoff = devicePage(t.mm, address) else { return }
        checks += 1
        let id = t.mm.id
        granted.grow(to: id + 1, with: [])
        granted[id].grow(to: max(s.npagerefs, pgoff + 1), with: nil)
        granted[id][pgoff] = Grant(batch: batch, seq: seq)
        if !tracked(s, pgoff) {
            report(.dirtyTracking, "\(t.name) made its PTE of page \(pgoff) writable while the page is not listed: "
                + "its stores from now on are never delivered (the update is lost here)", page: pgoff, pid: t.pid)
        }
    }

    private func forget(mm: MM) {
        if mm.id < granted.count { granted[mm.id] = [] }
    }

    private func checkMkwrite(_ schedID: Int, _ pgoff: Int) {
        guard let t = task(schedID) else { return }
        checks += 1
        let began = schedID >= 0 && schedID < faultBegan.count ? faultBegan[schedID] : 0
        let id = t.mm.id
        if id < granted.count, pgoff >= 0, pgoff < granted[id].count, let g = granted[id][pgoff], g.batch == batch,
           g.seq < began {
            report(.faultAccounting, "a second page_mkwrite of page \(pgoff) by \(t.name) in batch \(batch): its "
                + "PTE was already made writable in this batch", page: pgoff, pid: t.pid)
        }
    }

    /// Every present PTE of this device, per process: (task, vma, pgoff, address, pte).
    private func forEachDevicePTE(_ body: (UserTask, VMArea, Int, VirtAddr, PTE) -> Void) {
        var seen = Set<Int>()
        for t in kernel.processes where t.exitStatus == .running && !seen.contains(t.mm.id) {
            seen.insert(t.mm.id)
            for vma in t.mm.vmas where vma.flags.contains(.shared) {
                guard let s = vma.privateData as? FBDeferredIOState, s === state else { continue }
                var a = vma.start
                while a < vma.end {
                    let pte = t.mm.pte(at: a)
                    if pte.isPresent { body(t, vma, vma.linearPageIndex(a).rawValue, a, pte) }
                    a = a + PAGE_SIZE
                }
            }
        }
    }

    private func checkNoWritableUnlisted() {
        guard let s = state, s.info != nil else { return }
        checks += 1
        forEachDevicePTE { t, _, pgoff, _, pte in
            if pte.isWrite && !tracked(s, pgoff) {
                report(.dirtyTracking, "after the worker emptied the list, \(t.name)'s PTE of page \(pgoff) is still "
                    + "writable: its stores are never delivered", page: pgoff, pid: t.pid)
            }
        }
    }

    private func checkRearm() {
        guard let s = state else { return }
        // The batch's pages (less those the worker kept back), as flags by pgoff.
        let list = s.pagereflist
        var processed = [Bool](repeating: false, count: (list.max() ?? -1) + 1)
        for p in list where !uncleaned.contains(p) { processed[p] = true }
        checks += 1
        forEachDevicePTE { t, _, pgoff, address, pte in
            guard pgoff < processed.count, processed[pgoff] else { return }
            if pte.isWrite {
                report(.rearm, "the worker write-protected page \(pgoff) but \(t.name)'s PTE of it is writable",
                       page: pgoff, pid: t.pid)
            } else if let entry = t.tlb.lookup(address), entry.writable {
                let where_ = t.kernel.sched.cpuCount > 1 ? "CPU \(t.cpu)'s TLB" : "TLB"
                report(.rearm, "the worker write-protected page \(pgoff) but \(t.name)'s \(where_) still holds a "
                    + "writable entry for it: stores go through without a fault", page: pgoff, pid: t.pid)
            }
        }
    }

    private func checkList() {
        guard let s = state else { return }
        checks += 1
        let (nodes, looped) = s.list.walk()
        if looped {
            report(.listIntegrity, "the page list does not lead back to its head (node \(nodes.last ?? -1))")
            return
        }
        let sorted = info.fbdefio?.sortPagereflist == true || info.variant.alwaysSorted
        let bindOnce = info.variant.pagerefLookup == .bindOnce
        var previous = -1
        for n in nodes {
            if bindOnce, let p = s.boundPage(n), info.page(at: n << PAGE_SHIFT) != p {
                report(.listIntegrity, "pageref \(n) is bound to \(p), not to its own page", page: n)
                return
            }
            if sorted && n < previous {
                report(.listIntegrity, "the sorted page list has \(n) after \(previous)", page: n)
                return
            }
            previous = n
        }
    }
}

