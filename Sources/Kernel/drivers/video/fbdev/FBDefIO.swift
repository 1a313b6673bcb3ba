// SPDX-License-Identifier: MIT — framebuffer deferred I/O, newest upstream semantics (2026) with named historical
// variants (kernel: drivers/video/fbdev/core/fb_defio.c).
//
// Lock order (kernel-spec.md §2.13): fault path mmap_lock/VMA lock → state.lock → page lock → PTL;
// worker state.lock → i_mmap_rwsem → PTL → driver locks. The driver callback runs with state.lock held, so every
// mkwrite (and, since 2026, every fault) on the device waits for the whole of the driver's I/O.

/// One tracked page: which page, and its byte offset in the framebuffer (always pgoff × PAGE_SIZE).
/// Kernel: `struct fb_deferred_io_pageref`
public struct FBDeferredIOPageref: Sendable, Equatable {
    package let page: PFN
    @usableFromInline package let offset: Int
    @inlinable package var pgoff: PgOff { PgOff(offset >> PAGE_SHIFT) }
}

/// What a driver asks of deferred I/O. Kernel: `struct fb_deferred_io` — include/linux/fb.h
public struct FBDeferredIO {
    /// Batching delay from the first write of a batch; 0 means the default, HZ (one second).
    package var delay: Jiffies
    /// Keep the page list in ascending offset order (O(n) per insert) instead of first-write order.
    package var sortPagereflist: Bool
    /// Optional offset → page lookup for memory that is not vmalloc or contiguous. Kernel: ->get_page
    package var getPage: (@EmuActor (FBInfo, Int) -> PFN?)?
    /// The driver's callback: the pages written since the last batch, in list order. It runs in the worker with the
    /// defio mutex held and must not keep the array. Kernel: ->deferred_io
    package var deferredIO: @EmuActor (FBInfo, [FBDeferredIOPageref]) -> Void

    public init(delay: Jiffies, sortPagereflist: Bool = false, getPage: (@EmuActor (FBInfo, Int) -> PFN?)? = nil,
                deferredIO: @escaping @EmuActor (FBInfo, [FBDeferredIOPageref]) -> Void) {
        self.delay = delay
        self.sortPagereflist = sortPagereflist
        self.getPage = getPage
        self.deferredIO = deferredIO
    }
}

/// The page list as the kernel keeps it: an intrusive doubly linked list of nodes (one per pageref, or per page
/// before 5.19) behind a head, with CONFIG_DEBUG_LIST's checks on every add and delete. A node that is not listed
/// points at itself. Kernel: `struct list_head` — include/linux/list.h, lib/list_debug.c
package struct PagerefList: Sendable, Equatable {
    private var next: [Int32]
    private var prev: [Int32]

    init(nodes: Int) {
        next = (0 ... nodes).map { Int32($0) }
        prev = next
    }

    /// The node index of the list head.
    var head: Int { next.count - 1 }

    /// Kernel: list_empty(&node)
    package func isUnlisted(_ node: Int) -> Bool { Int(next[node]) == node }

    /// Kernel: INIT_LIST_HEAD(&node)
    mutating func initNode(_ node: Int) {
        next[node] = Int32(node)
        prev[node] = Int32(node)
    }

    private func name(_ node: Int) -> String { node == head ? "head" : "node \(node)" }

    /// Links `node` in before `successor`; returns the DEBUG_LIST report and leaves the list alone if the neighbours
    /// do not point at each other. Kernel: __list_add() with __list_add_valid()
    mutating func add(_ node: Int, before successor: Int) -> String? {
        let p = Int(prev[successor])
        if Int(next[p]) != successor {
            return "list_add corruption. prev->next should be next (\(name(successor))), but was "
                + "\(name(Int(next[p]))). (prev=\(name(p)))"
        }
        if node == p || node == successor {
            return "list_add double add: new=\(name(node)), prev=\(name(p)), next=\(name(successor))"
        }
        next[node] = Int32(successor)
        prev[node] = Int32(p)
        next[p] = Int32(node)
        prev[successor] = Int32(node)
        return nil
    }

    /// Kernel: list_add_tail()
    mutating func addTail(_ node: Int) -> String? { add(node, before: head) }

    /// Unlinks `node` and points it at itself. Kernel: list_del_init() with __list_del_entry_valid()
    mutating func delInit(_ node: Int) -> String? {
        let p = Int(prev[node]), n = Int(next[node])
        if Int(next[p]) != node {
            return "list_del corruption. prev->next should be \(name(node)), but was \(name(Int(next[p]))). "
                + "(prev=\(name(p)))"
        }
        if Int(prev[n]) != node {
            return "list_del corruption. next->prev should be \(name(node)), but was \(name(Int(prev[n]))). "
                + "(next=\(name(n)))"
        }
        next[p] = Int32(n)
        prev[n] = Int32(p)
        initNode(node)
        return nil
    }

    /// The nodes from the head, in list order. `looped` is set when the walk does not come back to the head within
    /// one step per node (a node that points at itself while listed: list_for_each() would spin forever).
    package func walk() -> (nodes: [Int], looped: Bool) {
        var out: [Int] = []
        var n = Int(next[head])
        while n != head {
            if out.count >= head { return (out, true) }
            out.append(n)
            n = Int(next[n])
        }
        return (out, false)
    }

    /// The node before which an entry for `node` goes in ascending order (the sorted insert of track_page).
    func sortedSuccessor(of node: Int) -> Int {
        var n = Int(next[head]), steps = 0
        while n != head && n < node && steps < head {
            n = Int(next[n])
            steps += 1
        }
        return n
    }
}

/// The refcounted state of deferred I/O, outliving the fb_info while VMAs still map it (2026).
/// Kernel: `struct fb_deferred_io_state` — fb_defio.c
@EmuActor package final class FBDeferredIOState {
    struct Slot {
        var page: PFN?
        var offset = 0
    }

    /// References: the device's own, plus one per VMA. Kernel: kref
    package private(set) var refcount = 1
    package private(set) var freed = false
    /// Open files of the device. Protected by fb_info->lock.
    package internal(set) var openCount = 0
    /// The address_space whose i_mmap the worker walks: set by the latest open. Kernel: state->mapping
    package internal(set) var mapping: AddressSpace?
    /// Kernel: state->lock
    package let lock: KMutex
    /// Cleared when the device goes away. Protected by `lock`. Not an owning reference: fb_info owns the state.
    package internal(set) weak var info: FBInfo?
    /// Before 2026 the driver freed fb_info at removal while VMAs still pointed at it (bug G).
    package internal(set) var infoFreed = false
    /// The tracked pages' list. Protected by `lock`.
    package internal(set) var list: PagerefList
    /// One slot per page of smem_len (1:1 with the page offset). Protected by `lock`.
    var pagerefs: [Slot]
    /// `page_mkwrite` calls in progress per page offset (entered, not yet returned): the checkers' "in flight".
    package internal(set) var mkwritesInFlight: [Int]

    init(info: FBInfo, npagerefs: Int) {
        lock = KMutex.mutex("fb_deferred_io_state->lock", info.kernel.sched)
        self.info = info
        pagerefs = Array(repeating: Slot(), count: npagerefs)
        list = PagerefList(nodes: npagerefs)
        mkwritesInFlight = Array(repeating: 0, count: npagerefs)
    }

    package var npagerefs: Int { pagerefs.count }

    /// Page offsets of the tracked pages, in list order (as far as the list can be walked).
    package var pagereflist: [Int] { list.walk().nodes }

    /// Whether page offset `pgoff` is on the list. Kernel: !list_empty(&pageref->list)
    package func isListed(_ pgoff: Int) -> Bool { pgoff >= 0 && pgoff < npagerefs && !list.isUnlisted(pgoff) }

    /// The page bound to the pageref of `pgoff`, if any.
    package func boundPage(_ pgoff: Int) -> PFN? { pgoff >= 0 && pgoff < npagerefs ? pagerefs[pgoff].page : nil }

    /// The pageref of a bound slot, as the driver sees it.
    func pageref(_ pgoff: Int) -> FBDeferredIOPageref {
        FBDeferredIOPageref(page: pagerefs[pgoff].page!, offset: pagerefs[pgoff].offset)
    }

    func get() {
        precondition(!freed, "reference to freed deferred-I/O state")
        refcount += 1
    }

    /// Kernel: fb_deferred_io_state_put() → kref_put(…, release)
    func put(_ kernel: EmuKernel) {
        precondition(refcount > 0)
        refcount -= 1
        if refcount == 0 {
            let listed = pagereflist.count
            if listed > 0 { kernel.warn("freeing deferred-I/O state with \(listed) pages listed") }
            freed = true
        }
    }
}

// MARK: - init / open / release / cleanup

/// Sets up deferred I/O for a driver that filled `info.fbdefio`. Returns an error for `smem_len == 0` (bug K).
/// Kernel: fb_deferred_io_init()
@EmuActor package func fbDeferredIOInit(_ info: FBInfo) -> Errno? {
    precondition(info.fbdefio != nil, "fb_deferred_io_init without info->fbdefio")
    guard info.fix.smemLen > 0 else {
        info.kernel.warn("fb_deferred_io_init: smem_len is 0")
        return .EINVAL
    }
    let state = FBDeferredIOState(info: info, npagerefs: (info.fix.smemLen + PAGE_SIZE - 1) / PAGE_SIZE)
    info.deferredWork = DelayedWork("fb_deferred_io_work", on: info.kernel.systemWorkqueue) { [unowned info] in
        fbDeferredIOWork(info)
    }
    if info.fbdefio!.delay.rawValue == 0 { info.fbdefio!.delay = Jiffies(info.kernel.sched.tickRate.hz) }
    info.fbdefioState = state
    info.fbops.mmap = { info, vma in fbDeferredIOMmap(info, vma) }
    return nil
}

/// Called from fb_open with fb_info->lock held. Kernel: fb_deferred_io_open()
@EmuActor func fbDeferredIOOpen(_ info: FBInfo, _ inode: Inode, _ file: KFile) {
    guard let state = info.fbdefioState else {
        // A driver that kept info->fbdefio although fb_deferred_io_init failed (bug K): the state is NULL here.
        if info.deferredWork == nil {
            info.kernel.oops("NULL pointer dereference in fb_deferred_io_open: info->fbdefio_state is NULL "
                + "(fb_deferred_io_init failed and the driver went on)")
        }
        return
    }
    state.mapping = file.mapping
    // Dirtying a page sets PG_dirty and nothing else: there is no writeback (kernel: fb_deferred_io_aops).
    let kernel = info.kernel
    file.mapping.aops = AddressSpaceOperations(name: "fb_deferred_io_aops", dirtyFolio: { [unowned kernel] m, page in
        kernel.noopDirtyFolio(m, page)
    })
    state.openCount += 1
}

/// Called from fb_release with fb_info->lock held. Kernel: fb_deferred_io_release() → fb_deferred_io_lastclose()
@EmuActor func fbDeferredIORelease(_ info: FBInfo) {
    guard let state = info.fbdefioState else { return }
    switch info.variant.release {
    case .nothing:
        return
    case .everyClose:
        // 6.2: what was meant for the last close runs at every close (bug D).
        state.openCount -= 1
        fbDeferredIOLastclose(info)
    case .lastclose:
        state.openCount -= 1
        if state.openCount == 0 { fbDeferredIOLastclose(info) }
    }
}

/// Kernel: fb_deferred_io_lastclose()
@EmuActor func fbDeferredIOLastclose(_ info: FBInfo) {
    guard let work = info.deferredWork else { return }
    switch info.variant.lastclose {
    case .flush: work.flush()
    case .cancel: work.cancelSync()
    }
    fbDeferredIOClearMappings(info, info.variant.lastcloseClearsMapping)
}

/// ≤ 6.14: lastclose and cleanup strip `page->mapping`; a PTE made writable after that can no longer be found by
/// `folio_mkclean` (scenario 13's stale display). 6.11 – 6.14 only touch pages bound to a pageref.
@EmuActor func fbDeferredIOClearMappings(_ info: FBInfo, _ which: FBDefIOVariant.ClearMapping) {
    let phys = info.kernel.phys
    switch which {
    case .none:
        return
    case .allPages:
        for i in 0 ..< (info.fix.smemLen >> PAGE_SHIFT) {
            if let p = info.page(at: i << PAGE_SHIFT) { phys.frames[p.rawValue].mapping = .none }
        }
    case .boundPagerefs:
        guard let state = info.fbdefioState else { return }
        for slot in state.pagerefs { if let p = slot.page { phys.frames[p.rawValue].mapping = .none } }
    }
}

/// Device removal: flush, then cut the state loose so that every later fault or mkwrite gets SIGBUS (2026), or —
/// before 2026 — free fb_info under the VMAs that still point at it (bug G).
/// Kernel: fb_deferred_io_cleanup()
@EmuActor package func fbDeferredIOCleanup(_ info: FBInfo) {
    fbDeferredIOLastclose(info)
    guard let state = info.fbdefioState else { return }
    if !info.variant.stateOutlivesInfo {
        // The pre-2026 cleanup also stripped every page's mapping and freed the pagerefs; then the driver's
        // framebuffer_release() freed fb_info itself.
        fbDeferredIOClearMappings(info, info.variant.protect == .pageMkclean ? .allPages : .none)
        info.fbdefioState = nil
        state.infoFreed = true
        return
    }
    info.fbdefioState = nil
    state.lock.lock()
    state.info = nil
    state.lock.unlock()
    state.put(info.kernel)
}

/// Kernel: fb_deferred_io_fsync() — also reached by msync(MS_SYNC): run pending work now and wait for it.
@EmuActor package func fbDeferredIOFsync(_ info: FBInfo, _ file: KFile) -> Errno? {
    guard info.fbdefio != nil, let work = info.deferredWork else { return nil }
    info.defioStats.fsyncs += 1
    file.inode.iRwsem.downWrite()
    work.flush()
    file.inode.iRwsem.upWrite()
    return nil
}

// MARK: - mmap and the VMA operations

/// The driver's fb_mmap for deferred I/O. Kernel: fb_deferred_io_mmap()
@EmuActor package func fbDeferredIOMmap(_ info: FBInfo, _ vma: VMArea) -> Errno? {
    guard let state = info.fbdefioState else { return .EINVAL }
    info.moduleRefs += 1
    vma.ops = fbDeferredIOVMOps
    vma.flags.formUnion([.dontExpand, .dontDump])
    if !info.flags.contains(.virtfb) { vma.flags.insert(.io) }
    vma.privateData = state
    state.get()
    return nil
}

/// Kernel: fb_deferred_io_vm_ops
@EmuActor let fbDeferredIOVMOps = VMOperations(
    name: "fb_deferred_io_vm_ops",
    open: { vma in
        // A VMA copied by fork or split: one more reference on the state and the module.
        guard let state = vma.privateData as? FBDeferredIOState else { return }
        state.info?.moduleRefs += 1
        state.get()
    },
    close: { vma in
        guard let state = vma.privateData as? FBDeferredIOState else { return }
        state.info?.moduleRefs -= 1
        state.put(vma.mm.kernel)
    },
    fault: { vmf in fbDeferredIOFault(&vmf) },
    pageMkwrite: { vmf in fbDeferredIOMkwrite(&vmf) })

/// The page behind a byte offset: the driver's hook, else vmalloc, else contiguous memory.
/// Kernel: fb_deferred_io_get_page()
@EmuActor func fbDeferredIOGetPage(_ info: FBInfo, _ offset: Int) -> PFN? {
    let page: PFN?
    if let hook = info.fbdefio?.getPage {
        page = hook(info, offset)
    } else if info.kernel.vmalloc.isVmallocAddr(info.screenBuffer + UInt64(offset)) {
        page = info.kernel.vmalloc.vmallocToPage(info.screenBuffer + UInt64(offset))
    } else if info.fix.smemStart != 0 {
        page = PFN(Int((info.fix.smemStart + UInt64(offset)) >> UInt64(PAGE_SHIFT)))
    } else {
        page = nil
    }
    if let page { info.kernel.phys.getPage(page) }
    return page
}

/// Before 2026 the VMAs' private data is the fb_info itself; once the driver freed it, a fault or mkwrite through
/// a surviving mapping dereferences freed memory (bug G). Reports the oops and answers for the caller.
@EmuActor func fbDeferredIOUseAfterFree(_ state: FBDeferredIOState, _ vmf: VMFault, _ function: String) -> Bool {
    guard state.infoFreed else { return false }
    vmf.vma.mm.kernel.oops("use-after-free in \(function): fb_info was freed by the driver's removal while "
        + "mm\(vmf.vma.mm.id) still maps it (address \(vmf.address))")
    return true
}

/// ->fault: find the framebuffer page (any access to a page with no PTE). Kernel: fb_deferred_io_fault()
@EmuActor func fbDeferredIOFault(_ vmf: inout VMFault) -> VMFaultResult {
    guard let state = vmf.vma.privateData as? FBDeferredIOState else { return .sigbus }
    if fbDeferredIOUseAfterFree(state, vmf, "fb_deferred_io_fault") { return .sigbus }
    let variant = state.info?.variant ?? .upstream
    let locks = variant.faultTakesMutex
    if locks { state.lock.lock() }
    guard let info = state.info else {
        if locks { state.lock.unlock() }
        return .sigbus
    }
    let offset = vmf.pgoff.byteOffset
    guard offset < info.fix.smemLen, let page = fbDeferredIOGetPage(info, offset) else {
        if locks { state.lock.unlock() }
        return .sigbus
    }
    if vmf.vma.file == nil { info.kernel.warn("no mapping available (fault on a VMA without a file)") }
    if state.mapping == nil { info.kernel.warn("fb_deferred_io_fault: no address_space recorded by open") }
    if variant.faultReinitsListNode {
        // 5.18: the page's list node is (re)initialised here, with no lock — even while it is listed (bug B).
        state.list.initNode(vmf.pgoff.rawValue)
    }
    if variant.faultSetsPageMapping {
        // ≤ 6.14: fake page-cache membership so that folio_mkclean can find the PTEs.
        info.kernel.phys.frames[page.rawValue].mapping = PageMapping(id: vmf.vma.file!.mapping.id, tag: .file)
        info.kernel.phys.frames[page.rawValue].index = vmf.pgoff
    }
    if locks { state.lock.unlock() }
    vmf.page = page
    return .zero
}

/// ->page_mkwrite. Kernel: fb_deferred_io_mkwrite() → fb_deferred_io_page_mkwrite()
@inline(__always)
@EmuActor func fbDeferredIOMkwrite(_ vmf: inout VMFault) -> VMFaultResult {
    guard let state = vmf.vma.privateData as? FBDeferredIOState else { return .sigbus }
    if fbDeferredIOUseAfterFree(state, vmf, "fb_deferred_io_mkwrite") { return .sigbus }
    let offset: Int
    if let info = state.info, info.variant.offsetFromVMAStart {
        offset = vmf.address - vmf.vma.start  // bug F: ignores the mmap offset
    } else {
        offset = vmf.pgoff.byteOffset
    }
    if let file = vmf.vma.file { fileUpdateTime(vmf.vma.mm.kernel, file) }
    let inFlight = vmf.pgoff.rawValue < state.npagerefs ? vmf.pgoff.rawValue : nil
    if let i = inFlight { state.mkwritesInFlight[i] += 1 }
    let ret = fbDeferredIOTrackPage(state, offset, vmf.page!)
    if let i = inFlight { state.mkwritesInFlight[i] -= 1 }
    return ret
}

/// Records a write to the page at `offset` and makes sure the work will run. Returns with the pageref's page
/// locked (VM_FAULT_LOCKED), so that — in kernels whose worker takes the page lock — the write-protect step cannot
/// run before the PTE is writable and dirty. Kernel: fb_deferred_io_track_page()
@inline(__always)
@EmuActor func fbDeferredIOTrackPage(_ state: FBDeferredIOState, _ offset: Int, _ page: PFN) -> VMFaultResult {
    state.lock.lock()
    guard let info = state.info else {
        state.lock.unlock()
        return .sigbus
    }
    info.defioStats.mkwrites += 1
    guard let pageref = fbDeferredIOPagerefGet(info, state, offset, page) else {
        state.lock.unlock()
        info.kernel.warnOnOnce("fb_deferred_io_track_page: !pageref",
                               "fb_deferred_io_track_page: no pageref (reported as VM_FAULT_OOM)")
        return .oom
    }
    let locked = info.variant.mkwriteLocksPage
    // The page stays locked until the fault path has made its PTE writable and dirty.
    if locked { info.kernel.phys.lockPage(pageref.page) }
    state.lock.unlock()
    info.deferredWork!.schedule(info.fbdefio!.delay)
    return locked ? .locked : .zero
}

/// Finds (binding it as the variant does) and lists the pageref of `offset`. Returns nil (reported as OOM) when
/// the offset is out of range, or — since 6.11 — when the slot is bound to another page.
/// Kernel: fb_deferred_io_pageref_get() (≤ 5.18: the page's own `lru` node, inline in page_mkwrite)
@EmuActor func fbDeferredIOPagerefGet(_ info: FBInfo, _ state: FBDeferredIOState, _ offset: Int,
                                       _ page: PFN) -> FBDeferredIOPageref? {
    let variant = info.variant
    var pgoff = offset >> PAGE_SHIFT
    if variant.pagerefLookup == .pageLRU {
        // The node belongs to the page; its offset is the page's index in the framebuffer.
        pgoff = Int(info.kernel.phys.frames[page.rawValue].index.rawValue)
    }
    guard pgoff >= 0 && pgoff < state.npagerefs else {
        info.kernel.warnOnOnce("fb_deferred_io_pageref_lookup: pgoff >= npagerefs",
                               "fb_deferred_io_pageref_lookup: incorrect allocation size (pgoff \(pgoff))")
        return nil
    }
    let listed = !state.list.isUnlisted(pgoff)
    let bind: Bool
    switch variant.pagerefLookup {
    case .pageLRU, .rebindUnlisted:
        bind = !listed
    case .bindOnce:
        if let bound = state.pagerefs[pgoff].page, bound != page {
            info.kernel.warnOnOnce("fb_deferred_io_pageref_lookup: pageref->page != page",
                                   "fb_deferred_io_pageref_lookup: inconsistent state at pgoff \(pgoff)")
            return nil
        }
        bind = state.pagerefs[pgoff].page == nil
    }
    if bind {
        state.pagerefs[pgoff].page = page
        state.pagerefs[pgoff].offset = pgoff << PAGE_SHIFT
    }
    let ref = state.pageref(pgoff)
    if listed {
        info.defioStats.alreadyListed += 1
        return ref
    }
    let sorted = info.fbdefio!.sortPagereflist || variant.alwaysSorted
    let successor = sorted ? state.list.sortedSuccessor(of: pgoff) : state.list.head
    if let corruption = state.list.add(pgoff, before: successor) {
        info.kernel.listCorruption(corruption)  // CONFIG_DEBUG_LIST refuses the add and reports it
    }
    info.kernel.event(.defioListAdd(pgoff: pgoff, batch: info.defioStats.batches))
    return ref
}

// MARK: - The worker

/// Write-protects every listed page in every process mapping it, hands the list to the driver, clears it.
/// Kernel: fb_deferred_io_work()
@EmuActor func fbDeferredIOWork(_ info: FBInfo) {
    let kernel = info.kernel
    guard let state = info.fbdefioState else {
        // Work scheduled between cleanup's flush and its clearing of the state (bug N): the worker reads a NULL
        // info->fbdefio_state.
        kernel.oops("NULL pointer dereference in fb_deferred_io_work: info->fbdefio_state is NULL "
            + "(work queued after the device's cleanup)")
        return
    }
    state.lock.lock()
    let (nodes, looped) = state.list.walk()
    if looped {
        // list_for_each_entry() would never come back to the head: the worker spins with the mutex held.
        kernel.softLockup("fb_deferred_io_work: the page list loops at node \(nodes.last ?? -1) "
            + "(a listed node was re-initialised)")
        state.lock.unlock()
        return
    }
    // Protect first, then let the driver read: a store after the copy must fault again (§2.8).
    var kept: Set<Int> = []
    for pgoff in nodes {
        let page = state.pagerefs[pgoff].page!
        if kernel.phys.frames[page.rawValue].refcount == 0 {
            kernel.oops("use-after-free in fb_deferred_io_work: page \(page) of pgoff \(pgoff) was freed while "
                + "listed (pages processed after close)")
            state.lock.unlock()
            return
        }
        let lockPage = info.variant.workerLocksPage
        if lockPage { kernel.phys.lockPage(page) }
        let cleaned: Int
        switch info.variant.protect {
        case .pageMkclean:
            cleaned = kernel.folioMkclean(page)
        case .mappingWrprotectRange:
            cleaned = kernel.mappingWrprotectRange(state.mapping, pgoff: PgOff(pgoff), pfn: page, nrPages: 1)
        }
        info.defioStats.ptesWrprotected += cleaned
        kernel.event(.defioProtect(pgoff: pgoff, ptes: cleaned))
        if lockPage { kernel.phys.unlockPage(page) }
        if cleaned == 0 && info.variant.workerKeepsUncleanedPages { kept.insert(pgoff) }
    }
    kernel.sched.preempt(.workerBeforeCallback)
    let delivered = nodes.filter { !kept.contains($0) }
    let list = delivered.map(state.pageref)
    info.defioStats.batches += 1
    if list.isEmpty { info.defioStats.emptyBatches += 1 }
    info.defioStats.pagesDelivered += list.count
    kernel.event(.defioBatch(batch: info.defioStats.batches, pages: list))
    info.fbdefio!.deferredIO(info, list)
    for pgoff in delivered {
        if let corruption = state.list.delInit(pgoff) { kernel.listCorruption(corruption) }
    }
    // 49bbd815 puts the kept pages back for the next run without scheduling one: they go out with the next
    // batch somebody else starts.
    kernel.event(.defioListClear(pages: delivered.count, batch: info.defioStats.batches))
    state.lock.unlock()
}
