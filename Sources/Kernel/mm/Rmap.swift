// SPDX-License-Identifier: MIT — the file reverse map: which PTEs of which processes map a page, and cleaning
// them (kernel: mm/rmap.c, mm/page_vma_mapped.c, mm/internal.h vma_address()).
//
// Lock order on these paths (kernel-spec.md §2.13, §3): i_mmap_rwsem (read) → PTL. No mmap_lock is taken: the walk
// spans every process mapping the file. Preemption points: taking and dropping i_mmap_rwsem, every PTL acquisition
// and release, and `.rmapWalkVMA` between VMAs (the kernel's cond_resched()).

/// The callbacks and the private state of one reverse-map walk. The conforming struct *is* the walk state (the
/// kernel's `arg`); the walker is generic over it.
///
/// Absent hooks read as the kernel's NULL members: the defaults of `done` and `invalidVMA` answer false, which is
/// what the walker does when the member is NULL, and `tryLock` defaults to false.
///
/// Kernel: `struct rmap_walk_control` — include/linux/rmap.h
@EmuActor package protocol RmapWalkControl {
    /// Must not sleep on the rmap lock: if `i_mmap_rwsem` cannot be read-locked at once, set `contended` and return
    /// without walking. Kernel: `rwc->try_lock`
    var tryLock: Bool { get }
    /// Set by the walker when `tryLock` failed. Kernel: `rwc->contended`
    var contended: Bool { get set }
    /// Called for each VMA that may map the range, at the address where the range starts in it. Runs with
    /// `i_mmap_rwsem` held for read and no PTL. Returns false to stop the walk. Kernel: `rwc->rmap_one`
    mutating func rmapOne(_ kernel: EmuKernel, _ folio: PFN?, _ vma: VMArea, _ address: VirtAddr) -> Bool
    /// Checked after each `rmapOne`; true stops the walk. Kernel: `rwc->done`
    mutating func done(_ folio: PFN?) -> Bool
    /// True skips the VMA (`rmapOne` is not called for it). Kernel: `rwc->invalid_vma`
    func invalidVMA(_ vma: VMArea) -> Bool
}

extension RmapWalkControl {
    package var tryLock: Bool { false }
    package mutating func done(_ folio: PFN?) -> Bool { false }
    package func invalidVMA(_ vma: VMArea) -> Bool { false }
}

/// Flags of a `PageVMAMappedWalk`. Kernel: PVMW_SYNC / PVMW_MIGRATION — include/linux/rmap.h
package struct PVMWFlags: OptionSet, Hashable, Sendable {
    package let rawValue: UInt8
    package init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Take the PTL of every PTE table looked at, before reading any entry (mkclean and write-protect need a stable
    /// answer). Without it, a table whose first entry is not present is scanned unlocked until an entry is found.
    /// Kernel: PVMW_SYNC
    package static let sync = PVMWFlags(rawValue: 1 << 0)
}

/// The cursor of a walk over the PTEs of one VMA that map a PFN range, in PFN mode: a PTE matches when it is
/// present and its PFN lies in `[pfn, pfn + nrPages)`, whatever `page->mapping` says.
///
/// Between a `true` answer of `pageVMAMappedWalk` and the next call, `slot` is the matching entry and `ptl` (its
/// page table's lock) is held. When the walk answers `false`, no lock is held.
///
/// Kernel: `struct page_vma_mapped_walk` — include/linux/rmap.h (no huge PMDs, hugetlb or swap entries here: the
/// machine maps only 4 KiB pages and has no device-private memory).
package struct PageVMAMappedWalk {
    /// The first PFN looked for. Kernel: `pvmw->pfn`
    package let pfn: PFN
    /// How many physically contiguous PFNs from `pfn` match. Kernel: `pvmw->nr_pages`
    package let nrPages: Int
    /// The file page mapped at `pfn`. Kernel: `pvmw->pgoff`
    package let pgoff: PgOff
    package let vma: VMArea
    /// Where the walk is: the start address, then the address of the last match. Kernel: `pvmw->address`
    package internal(set) var address: VirtAddr
    /// Kernel: `pvmw->flags`
    package let flags: PVMWFlags
    /// The current PTE (kernel: `pvmw->pte`), nil before the first call and after the walk ended.
    package internal(set) var slot: PTESlot?
    /// The PTL held for `slot`, if any. Kernel: `pvmw->ptl`
    package internal(set) var ptl: KLock?

    package init(pfn: PFN, nrPages: Int, pgoff: PgOff, vma: VMArea, address: VirtAddr, flags: PVMWFlags) {
        precondition(nrPages > 0, "a page_vma_mapped_walk covers at least one page")
        self.pfn = pfn
        self.nrPages = nrPages
        self.pgoff = pgoff
        self.vma = vma
        self.address = address
        self.flags = flags
    }
}

/// The state of `mappingWrprotectRange`'s walk: the PFN range, its file offset and the running count.
/// Kernel: `struct wrprotect_file_state` with its `rmap_walk_control` (rmap_one = mapping_wrprotect_range_one,
/// invalid_vma = invalid_mkclean_vma) — mm/rmap.c
package struct WrprotectFileState: RmapWalkControl {
    /// PTEs changed so far. Kernel: `state->cleaned`
    package var cleaned = 0
    /// The file page mapped at `pfn`. Kernel: `state->pgoff`
    package let pgoff: PgOff
    /// Kernel: `state->pfn`
    package let pfn: PFN
    /// Kernel: `state->nr_pages`
    package let nrPages: Int
    /// Kernel: `rwc->contended`
    package var contended = false

    package init(pgoff: PgOff, pfn: PFN, nrPages: Int) {
        self.pgoff = pgoff
        self.pfn = pfn
        self.nrPages = nrPages
    }

    /// Cleans the matching PTEs of one VMA. Kernel: mapping_wrprotect_range_one() — mm/rmap.c
    package mutating func rmapOne(_ kernel: EmuKernel, _ folio: PFN?, _ vma: VMArea, _ address: VirtAddr) -> Bool {
        var pvmw = PageVMAMappedWalk(pfn: pfn, nrPages: nrPages, pgoff: pgoff, vma: vma, address: address,
                                     flags: .sync)
        cleaned += kernel.pageVMAMkcleanOne(&pvmw)
        return true
    }

    /// Kernel: invalid_mkclean_vma() — mm/rmap.c
    package func invalidVMA(_ vma: VMArea) -> Bool { invalidMkcleanVMA(vma) }
}

/// The state of `folioMkclean`'s walk. Kernel: the `cleaned` counter and `rmap_walk_control` of folio_mkclean()
/// (rmap_one = page_mkclean_one, invalid_vma = invalid_mkclean_vma) — mm/rmap.c
package struct PageMkcleanState: RmapWalkControl {
    /// PTEs changed so far. Kernel: the `cleaned` local of folio_mkclean()
    package var cleaned = 0
    /// Kernel: `rwc->contended`
    package var contended = false
    package init() {}

    /// Cleans the PTEs of one VMA that map the folio. Kernel: page_mkclean_one() — mm/rmap.c
    package mutating func rmapOne(_ kernel: EmuKernel, _ folio: PFN?, _ vma: VMArea, _ address: VirtAddr) -> Bool {
        guard let folio else { preconditionFailure("page_mkclean_one needs a folio") }
        // DEFINE_FOLIO_VMA_WALK: the folio's own PFN, size and index.
        var pvmw = PageVMAMappedWalk(pfn: folio, nrPages: 1, pgoff: kernel.phys.frames[folio.rawValue].index,
                                     vma: vma, address: address, flags: .sync)
        cleaned += kernel.pageVMAMkcleanOne(&pvmw)
        return true
    }

    /// Kernel: invalid_mkclean_vma() — mm/rmap.c
    package func invalidVMA(_ vma: VMArea) -> Bool { invalidMkcleanVMA(vma) }
}

/// Private and COW mappings are never cleaned: their writes never reach the file. Kernel: invalid_mkclean_vma()
/// — mm/rmap.c
@EmuActor package func invalidMkcleanVMA(_ vma: VMArea) -> Bool {
    !vma.flags.contains(.shared)
}

/// The user address of file page `pgoff` in `vma`, or of `vma`'s start when the range `[pgoff, pgoff + nrPages)`
/// begins before the VMA but reaches into it; nil (the kernel's -EFAULT) when the range misses the VMA.
/// Kernel: vma_address() — mm/internal.h
@EmuActor package func vmaAddress(_ vma: VMArea, _ pgoff: PgOff, _ nrPages: Int) -> VirtAddr? {
    if pgoff >= vma.pgoff {
        let address = vma.start + ((pgoff.rawValue &- vma.pgoff.rawValue) &<< PAGE_SHIFT)
        // Beyond the VMA (or wrapped through zero).
        guard address >= vma.start && address < vma.end else { return nil }
        return address
    }
    if pgoff.rawValue &+ nrPages &- 1 >= vma.pgoff.rawValue { return vma.start }
    return nil
}

/// The end of the address range a PFN-mode walk looks at: one page for a single page, else the end of the file
/// range clamped to the VMA. Recomputed from the walk's current address on every step, as the kernel does.
/// Kernel: vma_address_end() — mm/internal.h
@EmuActor package func vmaAddressEnd(_ pvmw: PageVMAMappedWalk) -> VirtAddr {
    if pvmw.nrPages == 1 { return pvmw.address + PAGE_SIZE }
    let vma = pvmw.vma
    let pgoff = pvmw.pgoff.rawValue &+ pvmw.nrPages
    let address = vma.start + ((pgoff &- vma.pgoff.rawValue) &<< PAGE_SHIFT)
    if address < vma.start || address > vma.end { return vma.end }
    return address
}

@EmuActor extension EmuKernel {
    // MARK: - The file rmap walk

    /// Calls `rwc.rmapOne` for every VMA in `mapping.iMmap` whose page range overlaps `[pgoffStart, pgoffStart +
    /// nrPages)`, in interval-tree order (ascending `vm_pgoff`; every process's VMAs, shared and private), at the
    /// address where the range starts in that VMA. `folio` may be nil (a range that is not a page-cache folio);
    /// when given it must agree with `mapping`, `pgoffStart` and `nrPages`, else a warning is reported.
    ///
    /// Locking: if `locked`, the caller holds `mapping.iMmapRwsem` (checked). Otherwise the walk read-locks it itself,
    /// with a trylock first: when that fails and `rwc.tryLock` is set, it sets `rwc.contended` and returns without
    /// walking; else it sleeps for the lock. It releases what it took. Taking the lock, releasing it and each step
    /// between VMAs (`.rmapWalkVMA`) are preemption points.
    ///
    /// Kernel: __rmap_walk_file() — mm/rmap.c (2025+, the traversal split out of rmap_walk_file())
    package func __rmapWalkFile<C: RmapWalkControl>(_ folio: PFN?, _ mapping: AddressSpace, pgoffStart: PgOff,
                                                   nrPages: Int, _ rwc: inout C, locked: Bool) {
        let pgoffEnd = pgoffStart.rawValue &+ nrPages &- 1
        if let folio {
            // VM_WARN_ON_FOLIO: the folio must describe the same range.
            if phys.fileMapping(of: folio) !== mapping { warn("__rmap_walk_file: \(folio) belongs to another mapping") }
            if phys.frames[folio.rawValue].index != pgoffStart {
                warn("__rmap_walk_file: \(folio) has index \(phys.frames[folio.rawValue].index), not \(pgoffStart)")
            }
            if nrPages != 1 { warn("__rmap_walk_file: an order-0 folio spans 1 page, not \(nrPages)") }
        }
        if locked {
            mapping.iMmapRwsem.assertHeld()
        } else {
            // i_mmap_trylock_read() first; only on failure decide between giving up and sleeping.
            sched.preempt(.rwsemDown)
            sched.charge(costs.lock)
            if !mapping.iMmapRwsem.tryDownRead() {
                if rwc.tryLock {
                    rwc.contended = true
                    return
                }
                mapping.iMmapRwsem.downRead()
            }
        }
        var cursor = mapping.iMmap.iterFirst(first: pgoffStart.rawValue, last: pgoffEnd)
        while let h = cursor {
            let vma = mapping.iMmap.element(h)
            guard let address = vmaAddress(vma, pgoffStart, nrPages) else {
                preconditionFailure("i_mmap gave \(vma) for pgoff \(pgoffStart.rawValue)+\(nrPages)")  // VM_BUG_ON_VMA
            }
            stats.rmapWalkVMAs += 1
            sched.charge(costs.rmapVisit)
            sched.preempt(.rmapWalkVMA)  // cond_resched()
            if !rwc.invalidVMA(vma) {
                if !(rwc.rmapOne(self, folio, vma, address)) { break }
                if rwc.done(folio) { break }
            }
            cursor = mapping.iMmap.iterNext(after: h, first: pgoffStart.rawValue, last: pgoffEnd)
        }
        if !locked { mapping.iMmapRwsem.upRead() }
    }

    /// Walks the VMAs mapping a locked page-cache folio, taking mapping and index from the folio itself; does nothing
    /// for a folio without `page->mapping`. Precondition: the folio is locked (the lock keeps `mapping` from being
    /// truncated away and the address_space alive). `rmap_walk()` dispatches here for file folios; the anonymous and
    /// KSM reverse maps are not modelled, so callers check `phys.fileMapping(of:)` first.
    /// Kernel: rmap_walk_file() — mm/rmap.c
    package func rmapWalkFile<C: RmapWalkControl>(folio: PFN, _ rwc: inout C, locked: Bool = false) {
        precondition(phys.isLocked(folio), "rmap_walk_file: \(folio) is not locked")  // VM_BUG_ON_FOLIO
        guard let mapping = phys.fileMapping(of: folio) else { return }
        __rmapWalkFile(folio, mapping, pgoffStart: phys.frames[folio.rawValue].index, nrPages: 1, &rwc,
                             locked: locked)
    }

    // MARK: - PFN-mode page_vma_mapped_walk

    /// Advances `pvmw` to the next present PTE of `pvmw.vma` whose PFN lies in the walk's PFN range, scanning
    /// `[pvmw.address, vmaAddressEnd(pvmw))`. Returns true with `pvmw.slot` set and `pvmw.ptl` held; call again to
    /// continue after that match. Returns false when the range is exhausted, with no lock held.
    ///
    /// Absent PGD/PUD/PMD entries are stepped over to the next boundary of their level. With `.sync` the PTL of each
    /// PTE table is taken before its first entry is read; without it, a table whose first entry is not present is
    /// scanned unlocked up to the first non-empty entry. The PTL is dropped when the scan crosses into the next PTE
    /// table. Taking and dropping a PTL are preemption points.
    ///
    /// Kernel: page_vma_mapped_walk() with map_pte(), check_pte(), step_forward() — mm/page_vma_mapped.c
    @inline(__always)
    package func pageVMAMappedWalk(_ pvmw: inout PageVMAMappedWalk) -> Bool {
        enum Step { case restart, thisPTE, nextPTE }
        let pageTables = pvmw.vma.mm.pageTables
        let end = vmaAddressEnd(pvmw)
        let pmdSize = PageTables.levelSizes[2]
        var step: Step = pvmw.slot == nil ? .restart : .nextPTE
        var table = pvmw.slot?.table
        while true {
            switch step {
            case .restart:
                guard pvmw.address < end else { return false }
                switch pageTables.pteTable(pvmw.address) {
                case .hole(let size):
                    stepForward(&pvmw, size)
                case .table(let t):
                    // map_pte()
                    table = t
                    let slot = pageTables.slot(in: t, pvmw.address)
                    pvmw.slot = slot
                    if pvmw.flags.contains(.sync) || slot.read().isPresent {
                        let ptl = phys.ptl(t)
                        ptl.lock()
                        pvmw.ptl = ptl
                        step = .thisPTE
                    } else {
                        step = .nextPTE
                    }
                }
            case .thisPTE:
                if checkPTE(pvmw) { return true }
                step = .nextPTE
            case .nextPTE:
                repeat {
                    pvmw.address = pvmw.address + PAGE_SIZE
                    if pvmw.address >= end {
                        pageVMAMappedWalkDone(&pvmw)
                        return false
                    }
                    if Int(pvmw.address.rawValue & UInt64(pmdSize - PAGE_SIZE)) == 0 {
                        // Crossed into the next PTE table: drop this one's lock and descend afresh.
                        if let ptl = pvmw.ptl {
                            pvmw.ptl = nil
                            ptl.unlock()
                        }
                        pvmw.slot = nil
                        step = .restart
                        break
                    }
                    pvmw.slot = pageTables.slot(in: table!, pvmw.address)
                } while pvmw.slot!.read().isNone
                if step == .restart { continue }
                if pvmw.ptl == nil {
                    let ptl = phys.ptl(table!)
                    ptl.lock()
                    pvmw.ptl = ptl
                }
                step = .thisPTE
            }
        }
    }

    /// Ends a walk early (or after its last match): drops the PTL if held. Kernel: page_vma_mapped_walk_done()
    @inline(__always)
    package func pageVMAMappedWalkDone(_ pvmw: inout PageVMAMappedWalk) {
        pvmw.slot = nil
        if let ptl = pvmw.ptl {
            pvmw.ptl = nil
            ptl.unlock()
        }
    }

    /// Moves the walk to the next `size`-aligned boundary (saturating at the top of the address space).
    /// Kernel: step_forward() — mm/page_vma_mapped.c
    func stepForward(_ pvmw: inout PageVMAMappedWalk, _ size: Int) {
        let next = (pvmw.address.rawValue &+ UInt64(size)) & ~UInt64(size - 1)
        pvmw.address = VirtAddr(next == 0 ? UInt64.max : next)
    }

    /// Whether the current PTE maps a PFN of the walk's range. Only present entries can: the machine has no
    /// device-private or device-exclusive swap entries. Kernel: check_pte() — mm/page_vma_mapped.c
    func checkPTE(_ pvmw: PageVMAMappedWalk) -> Bool {
        let pte = pvmw.slot!.read()
        guard pte.isPresent else { return false }
        let pfn = pte.pfn.rawValue
        return pfn >= pvmw.pfn.rawValue && pfn <= pvmw.pfn.rawValue + pvmw.nrPages - 1
    }

    // MARK: - Cleaning

    /// Write-protects and cleans every PTE of `pvmw.vma` that maps the walk's PFN range and is dirty or writable:
    /// under the PTL, the PTE is cleared and its TLB entry flushed at once (the PTE is NONE in between), then the
    /// same entry is written back with RW and DIRTY cleared. PTEs that are already read-only and clean are left
    /// alone and not counted. Returns how many PTEs changed. Enters and leaves with no PTL held.
    ///
    /// Secondary MMUs (the MMU-notifier invalidation around the walk) and the cache flush (a no-op on x86) are not
    /// modelled.
    /// Kernel: page_vma_mkclean_one() — mm/rmap.c
    @inline(__always)
    package func pageVMAMkcleanOne(_ pvmw: inout PageVMAMappedWalk) -> Int {
        var cleaned = 0
        let mm = pvmw.vma.mm
        while pageVMAMappedWalk(&pvmw) {
            let slot = pvmw.slot!
            let address = pvmw.address
            let old = slot.read()
            guard old.isPresent else { continue }
            if !old.isDirty && !old.isWrite { continue }
            // ptep_clear_flush(): the entry is NONE until set_pte_at() below.
            slot.write(.none)
            if config.wrprotectFlushesTLB { flushTLBPage(mm, address) }
            let entry = old.wrprotected().mkclean()
            slot.write(entry)
            sched.charge(costs.pteWrprotect)
            stats.ptesWrprotected += 1
            event(.wrprotect(address: address, pte: entry, mm: mm.id, pageWalk: false))
            cleaned += 1
        }
        return cleaned
    }

    /// Write-protects and cleans the PTEs of every process that map a page-cache folio through a shared mapping;
    /// returns how many PTEs changed. Returns 0 when the folio is not mapped (mapcount 0) or has no file mapping
    /// (`page->mapping` NULL, as for a vmalloc'd framebuffer page that no driver dressed up as a page-cache page):
    /// matching is by PFN, but the rmap walk needs the folio's mapping and index to find the VMAs.
    /// Precondition: the folio is locked.
    /// Kernel: folio_mkclean() — mm/rmap.c (page_mkclean() in older kernels)
    package func folioMkclean(_ folio: PFN) -> Int {
        precondition(phys.isLocked(folio), "folio_mkclean: \(folio) is not locked")  // BUG_ON
        guard phys.frames[folio.rawValue].mapcount > 0 else { return 0 }  // folio_mapped()
        guard phys.fileMapping(of: folio) != nil else { return 0 }        // folio_mapping()
        var rwc = PageMkcleanState()
        rmapWalkFile(folio: folio, &rwc)
        return rwc.cleaned
    }

    /// Write-protects and cleans, in every process, each PTE of a shared mapping of `mapping` that maps one of the
    /// physically contiguous pages `[pfn, pfn + nrPages)` at file offset `pgoff`. Private (COW) mappings are skipped.
    /// Every changed PTE's TLB entry is flushed right away (no batching). Returns the number of PTEs changed (those
    /// already read-only and clean are not counted); 0 for a nil mapping. No page lock is needed: the PFNs need not
    /// be page-cache pages; the caller keeps `mapping` alive.
    ///
    /// Locking: takes `mapping.iMmapRwsem` for read (sleeping if needed) and each PTL in turn; enters and leaves with
    /// none of them held.
    /// Kernel: mapping_wrprotect_range() — mm/rmap.c (v6.15+)
    public func mappingWrprotectRange(_ mapping: AddressSpace?, pgoff: PgOff, pfn: PFN, nrPages: Int) -> Int {
        guard let mapping else { return 0 }
        var state = WrprotectFileState(pgoff: pgoff, pfn: pfn, nrPages: nrPages)
        __rmapWalkFile(nil, mapping, pgoffStart: pgoff, nrPages: nrPages, &state, locked: false)
        return state.cleaned
    }

    /// Write-protects and cleans the PTEs of one VMA that map `[pfn, pfn + nrPages)` at file offset `pgoff`; 0 for a
    /// VMA that is not shared. The caller keeps the VMA alive (DAX holds i_mmap_rwsem while it iterates).
    /// Kernel: pfn_mkclean_range() — mm/rmap.c
    package func pfnMkcleanRange(_ pfn: PFN, nrPages: Int, pgoff: PgOff, _ vma: VMArea) -> Int {
        if invalidMkcleanVMA(vma) { return 0 }
        guard let address = vmaAddress(vma, pgoff, nrPages) else {
            preconditionFailure("pfn_mkclean_range: pgoff \(pgoff.rawValue)+\(nrPages) is outside \(vma)")
        }
        var pvmw = PageVMAMappedWalk(pfn: pfn, nrPages: nrPages, pgoff: pgoff, vma: vma, address: address,
                                     flags: .sync)
        return pageVMAMkcleanOne(&pvmw)
    }
}
