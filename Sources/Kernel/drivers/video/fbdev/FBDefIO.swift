// SPDX-License-Identifier: MIT — framebuffer deferred I/O, newest upstream semantics (2026) with named historical
// variants (kernel: drivers/video/fbdev/core/fb_defio.c).
//
// Lock order (kernel-spec.md §2.13): fault path mmap_lock/VMA lock → state.lock → page lock → PTL;
// worker state.lock → i_mmap_rwsem → PTL → driver locks. The driver callback runs with state.lock held, so every
// mkwrite (and, since 2026, every fault) on the device waits for the whole of the driver's I/O.

/// One tracked page: which page, and its byte offset in the framebuffer (always pgoff × PAGE_SIZE).
/// Kernel: `struct fb_deferred_io_pageref`
public struct FBDeferredIOPageref: Sendable, Equatable {
    public let page: PFN
    public let offset: Int
    public var pgoff: PgOff { PgOff(offset >> PAGE_SHIFT) }
}

/// What a driver asks of deferred I/O. Kernel: `struct fb_deferred_io` — include/linux/fb.h
public struct FBDeferredIO {
    /// Batching delay from the first write of a batch; 0 means the default, HZ (one second).
    public var delay: Jiffies
    /// Keep the page list in ascending offset order (O(n) per insert) instead of first-write order.
    public var sortPagereflist: Bool
    /// Optional offset → page lookup for memory that is not vmalloc or contiguous. Kernel: ->get_page
    public var getPage: (@EmuActor (FBInfo, Int) -> PFN?)?
    /// The driver's callback: the pages written since the last batch, in list order. It runs in the worker with the
    /// defio mutex held and must not keep the array. Kernel: ->deferred_io
    public var deferredIO: @EmuActor (FBInfo, [FBDeferredIOPageref]) async -> Void

    public init(delay: Jiffies, sortPagereflist: Bool = false, getPage: (@EmuActor (FBInfo, Int) -> PFN?)? = nil,
                deferredIO: @escaping @EmuActor (FBInfo, [FBDeferredIOPageref]) async -> Void) {
        self.delay = delay
        self.sortPagereflist = sortPagereflist
        self.getPage = getPage
        self.deferredIO = deferredIO
    }
}

/// Switches between the deferred-I/O core's historical behaviours (kernel-spec.md §2.14 and §9).
/// The default, `.upstream`, is the newest kernel's.
public struct FBDefIOVariant: Sendable, Equatable {
    public enum Lastclose: String, Sendable { case flush, cancel }
    /// ≤ 6.14: ->fault sets `page->mapping`/`index`, the worker locks each page around `folio_mkclean`, and the last
    /// close clears `page->mapping` (scenario 13's stale display).
    public var legacyPageMkclean = false
    /// 6.15+ fix of bug H: lock each page around the worker's write-protect (as ≤ 6.14 did).
    public var workerLocksPage = false
    /// 2022–2024 bug F: page_mkwrite computes the offset as `address − vm_start`, ignoring the mmap offset.
    public var offsetFromVMAStart = false
    /// Bug E: what the last close does with pending work (flush since 6.8; cancel in 6.2–6.7).
    public var lastclose = Lastclose.flush

    public init() {}
    public static let upstream = FBDefIOVariant()
}

/// The refcounted state of deferred I/O, outliving the fb_info while VMAs still map it (2026).
/// Kernel: `struct fb_deferred_io_state` — fb_defio.c
@EmuActor public final class FBDeferredIOState {
    struct Slot {
        var page: PFN?
        var offset = 0
        var listed = false
    }

    /// References: the device's own, plus one per VMA. Kernel: kref
    public private(set) var refcount = 1
    public private(set) var freed = false
    /// Open files of the device. Protected by fb_info->lock.
    public internal(set) var openCount = 0
    /// The address_space whose i_mmap the worker walks: set by the latest open. Kernel: state->mapping
    public internal(set) var mapping: AddressSpace?
    /// Kernel: state->lock
    public let lock: KMutex
    /// Cleared when the device goes away. Protected by `lock`.
    public internal(set) var info: FBInfo?
    /// Page offsets of the tracked pages, in list order. Protected by `lock`.
    public internal(set) var pagereflist: [Int] = []
    /// One slot per page of smem_len (1:1 with the page offset). Protected by `lock`.
    var pagerefs: [Slot]

    init(info: FBInfo, npagerefs: Int) {
        lock = KMutex.mutex("fb_deferred_io_state->lock", info.kernel.sched)
        self.info = info
        pagerefs = Array(repeating: Slot(), count: npagerefs)
    }

    public var npagerefs: Int { pagerefs.count }

    /// The tracked pages, in list order.
    public var pagereflistRefs: [FBDeferredIOPageref] {
        pagereflist.map { FBDeferredIOPageref(page: pagerefs[$0].page!, offset: pagerefs[$0].offset) }
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
            if !pagereflist.isEmpty { kernel.warn("freeing deferred-I/O state with \(pagereflist.count) pages listed") }
            freed = true
        }
    }
}

// MARK: - init / open / release / cleanup

/// Sets up deferred I/O for a driver that filled `info.fbdefio`. Returns an error for `smem_len == 0` (bug K).
/// Kernel: fb_deferred_io_init()
@EmuActor public func fbDeferredIOInit(_ info: FBInfo) -> Errno? {
    precondition(info.fbdefio != nil, "fb_deferred_io_init without info->fbdefio")
    guard info.fix.smemLen > 0 else {
        info.kernel.warn("fb_deferred_io_init: smem_len is 0")
        return .EINVAL
    }
    let state = FBDeferredIOState(info: info, npagerefs: (info.fix.smemLen + PAGE_SIZE - 1) / PAGE_SIZE)
    info.deferredWork = DelayedWork("fb_deferred_io_work", on: info.kernel.systemWorkqueue) { [unowned info] in
        await fbDeferredIOWork(info)
    }
    if info.fbdefio!.delay.rawValue == 0 { info.fbdefio!.delay = Jiffies(info.kernel.sched.tickRate.hz) }
    info.fbdefioState = state
    info.fbops.mmap = { info, vma in await fbDeferredIOMmap(info, vma) }
    return nil
}

/// Called from fb_open with fb_info->lock held. Kernel: fb_deferred_io_open()
@EmuActor func fbDeferredIOOpen(_ info: FBInfo, _ inode: Inode, _ file: KFile) {
    guard let state = info.fbdefioState else { return }
    state.mapping = file.mapping
    file.mapping.aops = AddressSpaceOperations(name: "fb_deferred_io_aops", dirtyFolio: { _, _ in false })
    state.openCount += 1
}

/// Called from fb_release with fb_info->lock held: the last close pushes pending updates out.
/// Kernel: fb_deferred_io_release() → fb_deferred_io_lastclose()
@EmuActor func fbDeferredIORelease(_ info: FBInfo) async {
    guard let state = info.fbdefioState else { return }
    state.openCount -= 1
    if state.openCount == 0 { await fbDeferredIOLastclose(info) }
}

/// Kernel: fb_deferred_io_lastclose()
@EmuActor func fbDeferredIOLastclose(_ info: FBInfo) async {
    guard let work = info.deferredWork else { return }
    switch info.variant.lastclose {
    case .flush: await work.flush()
    case .cancel: await work.cancelSync()
    }
    if info.variant.legacyPageMkclean {
        // ≤ 6.14: page->mapping of every framebuffer page is cleared; PTEs made writable later can no longer be
        // found by folio_mkclean.
        for i in 0 ..< (info.fix.smemLen >> PAGE_SHIFT) {
            if let p = info.page(at: i << PAGE_SHIFT) { info.kernel.phys.frames[p.rawValue].mapping = .none }
        }
    }
}

/// Device removal: flush, then cut the state loose so that every later fault or mkwrite gets SIGBUS.
/// Kernel: fb_deferred_io_cleanup()
@EmuActor public func fbDeferredIOCleanup(_ info: FBInfo) async {
    await fbDeferredIOLastclose(info)
    guard let state = info.fbdefioState else { return }
    info.fbdefioState = nil
    await state.lock.lock()
    state.info = nil
    await state.lock.unlock()
    state.put(info.kernel)
}

/// Kernel: fb_deferred_io_fsync() — also reached by msync(MS_SYNC): run pending work now and wait for it.
@EmuActor public func fbDeferredIOFsync(_ info: FBInfo, _ file: KFile) async -> Errno? {
    guard info.fbdefio != nil, let work = info.deferredWork else { return nil }
    info.defioStats.fsyncs += 1
    await file.inode.iRwsem.downWrite()
    await work.flush()
    await file.inode.iRwsem.upWrite()
    return nil
}

// MARK: - mmap and the VMA operations

/// The driver's fb_mmap for deferred I/O. Kernel: fb_deferred_io_mmap()
@EmuActor public func fbDeferredIOMmap(_ info: FBInfo, _ vma: VMArea) async -> Errno? {
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
    fault: { vmf in await fbDeferredIOFault(&vmf) },
    pageMkwrite: { vmf in await fbDeferredIOMkwrite(&vmf) })

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

/// ->fault: find the framebuffer page (any access to a page with no PTE). Kernel: fb_deferred_io_fault()
@EmuActor func fbDeferredIOFault(_ vmf: inout VMFault) async -> VMFaultResult {
    guard let state = vmf.vma.privateData as? FBDeferredIOState else { return .sigbus }
    await state.lock.lock()
    guard let info = state.info else {
        await state.lock.unlock()
        return .sigbus
    }
    let offset = vmf.pgoff.byteOffset
    guard offset < info.fix.smemLen, let page = fbDeferredIOGetPage(info, offset) else {
        await state.lock.unlock()
        return .sigbus
    }
    if vmf.vma.file == nil { info.kernel.warn("no mapping available (fault on a VMA without a file)") }
    if state.mapping == nil { info.kernel.warn("fb_deferred_io_fault: no address_space recorded by open") }
    if info.variant.legacyPageMkclean {
        // ≤ 6.14: fake page-cache membership so that folio_mkclean can find the PTEs.
        info.kernel.phys.frames[page.rawValue].mapping = PageMapping(id: vmf.vma.file!.mapping.id, tag: .file)
        info.kernel.phys.frames[page.rawValue].index = vmf.pgoff
    }
    await state.lock.unlock()
    vmf.page = page
    return .zero
}

/// ->page_mkwrite. Kernel: fb_deferred_io_mkwrite() → fb_deferred_io_page_mkwrite()
@EmuActor func fbDeferredIOMkwrite(_ vmf: inout VMFault) async -> VMFaultResult {
    guard let state = vmf.vma.privateData as? FBDeferredIOState else { return .sigbus }
    let offset: Int
    if let info = state.info, info.variant.offsetFromVMAStart {
        offset = vmf.address - vmf.vma.start  // bug F: ignores the mmap offset
    } else {
        offset = vmf.pgoff.byteOffset
    }
    if let file = vmf.vma.file { fileUpdateTime(vmf.vma.mm.kernel, file) }
    return await fbDeferredIOTrackPage(state, offset, vmf.page!)
}

/// Records a write to the page at `offset` and makes sure the work will run. Returns with the pageref's page
/// locked (VM_FAULT_LOCKED), so that — in kernels whose worker takes the page lock — the write-protect step cannot
/// run before the PTE is writable and dirty. Kernel: fb_deferred_io_track_page()
@EmuActor func fbDeferredIOTrackPage(_ state: FBDeferredIOState, _ offset: Int, _ page: PFN) async -> VMFaultResult {
    await state.lock.lock()
    guard let info = state.info else {
        await state.lock.unlock()
        return .sigbus
    }
    info.defioStats.mkwrites += 1
    guard let pageref = fbDeferredIOPagerefGet(info, state, offset, page) else {
        await state.lock.unlock()
        info.kernel.warn("fb_deferred_io_track_page: no pageref (reported as VM_FAULT_OOM)")
        return .oom
    }
    // The page stays locked until the fault path has made its PTE writable and dirty.
    await info.kernel.phys.lockPage(pageref.page)
    await state.lock.unlock()
    info.deferredWork!.schedule(info.fbdefio!.delay)
    return .locked
}

/// Finds (binding on first use) and lists the pageref of `offset`. Kernel: fb_deferred_io_pageref_get()
@EmuActor func fbDeferredIOPagerefGet(_ info: FBInfo, _ state: FBDeferredIOState, _ offset: Int,
                                       _ page: PFN) -> FBDeferredIOPageref? {
    let pgoff = offset >> PAGE_SHIFT
    guard pgoff < state.npagerefs else {
        info.kernel.warn("fb_deferred_io_pageref_lookup: incorrect allocation size (pgoff \(pgoff))")
        return nil
    }
    if state.pagerefs[pgoff].page == nil {
        state.pagerefs[pgoff].page = page
        state.pagerefs[pgoff].offset = pgoff << PAGE_SHIFT
    } else if state.pagerefs[pgoff].page != page {
        info.kernel.warn("fb_deferred_io_pageref_lookup: inconsistent state at pgoff \(pgoff)")
        return nil
    }
    let ref = FBDeferredIOPageref(page: state.pagerefs[pgoff].page!, offset: state.pagerefs[pgoff].offset)
    if state.pagerefs[pgoff].listed {
        info.defioStats.alreadyListed += 1
        return ref
    }
    if info.fbdefio!.sortPagereflist {
        let i = state.pagereflist.firstIndex(where: { $0 > pgoff }) ?? state.pagereflist.count
        state.pagereflist.insert(pgoff, at: i)
    } else {
        state.pagereflist.append(pgoff)
    }
    state.pagerefs[pgoff].listed = true
    return ref
}

// MARK: - The worker

/// Write-protects every listed page in every process mapping it, hands the list to the driver, clears it.
/// Kernel: fb_deferred_io_work()
@EmuActor func fbDeferredIOWork(_ info: FBInfo) async {
    let kernel = info.kernel
    guard let state = info.fbdefioState else {
        kernel.warn("fb_deferred_io_work: no deferred-I/O state (work ran after cleanup)")
        return
    }
    await state.lock.lock()
    // Protect first, then let the driver read: a store after the copy must fault again (§2.8).
    for pgoff in state.pagereflist {
        let page = state.pagerefs[pgoff].page!
        if info.variant.legacyPageMkclean {
            await kernel.phys.lockPage(page)
            info.defioStats.ptesWrprotected += await kernel.folioMkclean(page)
            await kernel.phys.unlockPage(page)
        } else {
            if info.variant.workerLocksPage { await kernel.phys.lockPage(page) }
            info.defioStats.ptesWrprotected += await kernel.mappingWrprotectRange(
                state.mapping, pgoff: PgOff(pgoff), pfn: page, nrPages: 1)
            if info.variant.workerLocksPage { await kernel.phys.unlockPage(page) }
        }
    }
    await kernel.sched.preempt(.workerBeforeCallback)
    let list = state.pagereflistRefs
    info.defioStats.batches += 1
    if list.isEmpty { info.defioStats.emptyBatches += 1 }
    info.defioStats.pagesDelivered += list.count
    kernel.event(.defioBatch, Int64(list.count), Int64(info.defioStats.batches),
                 list.map { String($0.pgoff.rawValue) }.joined(separator: ","))
    await info.fbdefio!.deferredIO(info, list)
    for pgoff in state.pagereflist { state.pagerefs[pgoff].listed = false }
    state.pagereflist.removeAll()
    await state.lock.unlock()
}
