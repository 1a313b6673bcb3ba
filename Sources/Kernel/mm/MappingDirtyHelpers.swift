// SPDX-License-Identifier: MIT — write-protect and clean utilities for address-space ranges, built on
// walk_page_mapping() (kernel: mm/mapping_dirty_helpers.c, added in 2019 for vmwgfx).
//
// A second dirty-tracking backend beside the rmap one (Rmap.swift): it walks page tables instead of matching PFNs,
// changes one bit per PTE (RW or DIRTY, never both), and flushes the TLB once per VMA over the window of PTEs it
// changed. Locks: i_mmap_rwsem (read) → PTL; never mmap_lock.

/// The state both walks share: the VMA range being worked on, the window of addresses whose PTEs changed, and the
/// count. Write-protects: a writable PTE loses RW and keeps DIRTY.
///
/// Kernel: `struct wp_walk` with `wp_walk_ops` (pte_entry = wp_pte; pmd_entry, test_walk, pre_vma, post_vma shared
/// with the clean walk) — mm/mapping_dirty_helpers.c
package struct WPWalk: MMWalkOps {
    package static let hooks: MMWalkHooks = [.pmdEntry, .pteEntry, .testWalk, .preVMA, .postVMA]
    /// The clipped range of the VMA being walked (the MMU-notifier range; no secondary MMUs are modelled).
    /// Kernel: `wpwalk->range.start` / `.end`
    package private(set) var rangeStart = VirtAddr(0), rangeEnd = VirtAddr(0)
    /// `[tlbflushStart, tlbflushEnd)` covers every PTE changed in the current VMA; empty while start >= end.
    /// Kernel: `wpwalk->tlbflush_start` / `tlbflush_end`
    package private(set) var tlbflushStart = VirtAddr(0), tlbflushEnd = VirtAddr(0)
    /// PTEs changed over the whole walk. Kernel: `wpwalk->total`
    package internal(set) var total = 0

    package init() {}

    /// Clears RW of a writable PTE, keeping DIRTY (no TLB flush yet). Kernel: wp_pte()
    package mutating func pteEntry(_ slot: PTESlot, _ addr: VirtAddr, _ next: VirtAddr, _ walk: inout MMWalk) -> Int {
        let pte = slot.read()
        guard pte.isWrite else { return 0 }
        // ptep_modify_prot_start() / _commit(): read-and-clear, then write the new value.
        let entry = pte.wrprotected()
        slot.write(entry)
        let kernel = walk.kernel
        kernel.sched.charge(kernel.costs.pteUpdate)
        kernel.stats.ptesWrprotected += 1
        kernel.event(.wrprotect(address: addr, pte: entry, mm: walk.mm.id, pageWalk: true))
        widenFlushWindow(addr)
        return 0
    }

    /// Counts one changed PTE and widens the flush window to cover it. Kernel: the tail of wp_pte() /
    /// clean_record_pte()
    mutating func widenFlushWindow(_ addr: VirtAddr) {
        total += 1
        tlbflushStart = min(tlbflushStart, addr)
        tlbflushEnd = max(tlbflushEnd, addr + PAGE_SIZE)
    }

    /// Kernel: wp_clean_pmd_entry()
    package mutating func pmdEntry(_ pmd: PMDEntry, _ addr: VirtAddr, _ next: VirtAddr, _ walk: inout MMWalk) -> Int {
        wpCleanPMDEntry(pmd, &walk)
    }

    /// Kernel: wp_clean_test_walk()
    package mutating func testWalk(_ start: VirtAddr, _ end: VirtAddr, _ walk: inout MMWalk) -> Int {
        wpCleanTestWalk(walk)
    }

    /// Starts a VMA: the flush window becomes empty (start = end of range, end = start of range) and a deferred
    /// flush is announced on the MM. Kernel: wp_clean_pre_vma()
    package mutating func preVMA(_ start: VirtAddr, _ end: VirtAddr, _ walk: inout MMWalk) -> Int {
        rangeStart = start
        rangeEnd = end
        tlbflushStart = end
        tlbflushEnd = start
        // flush_cache_range() is a no-op on x86. The kernel deliberately avoids an mmu_gather here: it would record
        // the whole range while typically only a few PTEs change.
        walk.kernel.incTLBFlushPending(walk.mm)
        return 0
    }

    /// Ends a VMA: if another deferred flush is in flight on the MM, flush the whole VMA range (the other walker
    /// may have changed PTEs we saw unchanged); else flush only the window of changed PTEs, if any. Then the
    /// announcement is withdrawn. Kernel: wp_clean_post_vma()
    package mutating func postVMA(_ walk: inout MMWalk) {
        let kernel = walk.kernel
        if kernel.mmTLBFlushNested(walk.mm) {
            kernel.flushTLBRange(walk.mm, rangeStart, rangeEnd)
        } else if tlbflushEnd > tlbflushStart {
            kernel.flushTLBRange(walk.mm, tlbflushStart, tlbflushEnd)
        }
        kernel.decTLBFlushPending(walk.mm)
    }
}

/// The clean-and-record walk: a dirty PTE loses DIRTY and keeps RW, and its page's bit is set in the caller's
/// bitmap. Kernel: `struct clean_walk` with `clean_walk_ops` (pte_entry = clean_record_pte) —
/// mm/mapping_dirty_helpers.c
package struct CleanWalk: MMWalkOps {
    package static let hooks: MMWalkHooks = [.pmdEntry, .pteEntry, .testWalk, .preVMA, .postVMA]
    /// Kernel: `cwalk->base`
    package var base = WPWalk()
    /// The file page that bit 0 of `bitmap` stands for. Kernel: `cwalk->bitmap_pgoff`
    package let bitmapPgoff: PgOff
    /// One bit per page (bit `i` is bit `i % 64` of word `i / 64`). Bits are only ever set. Kernel: `cwalk->bitmap`
    package internal(set) var bitmap: [UInt64]
    /// The set-bit range `[start, end)` in bit indices, widened as bits are set. Kernel: `cwalk->start` / `end`
    package internal(set) var start: Int, end: Int

    package init(bitmapPgoff: PgOff, bitmap: [UInt64], start: Int, end: Int) {
        self.bitmapPgoff = bitmapPgoff
        self.bitmap = bitmap
        self.start = start
        self.end = end
    }

    /// Clears DIRTY of a dirty PTE (RW kept), records its page in the bitmap and widens `[start, end)`.
    /// Kernel: clean_record_pte()
    package mutating func pteEntry(_ slot: PTESlot, _ addr: VirtAddr, _ next: VirtAddr, _ walk: inout MMWalk) -> Int {
        let pte = slot.read()
        guard pte.isDirty else { return 0 }
        let bit = walk.vma.linearPageIndex(addr).rawValue - bitmapPgoff.rawValue
        let entry = pte.mkclean()
        slot.write(entry)  // ptep_modify_prot_start() / _commit()
        let kernel = walk.kernel
        kernel.sched.charge(kernel.costs.pteUpdate)
        kernel.stats.ptesCleaned += 1
        kernel.event(.pteClean(address: addr, pte: entry, mm: walk.mm.id))
        base.widenFlushWindow(addr)
        bitmap[bit >> 6] |= 1 << UInt64(bit & 63)  // __set_bit()
        start = min(start, bit)
        end = max(end, bit + 1)
        return 0
    }

    /// Kernel: wp_clean_pmd_entry()
    package mutating func pmdEntry(_ pmd: PMDEntry, _ addr: VirtAddr, _ next: VirtAddr, _ walk: inout MMWalk) -> Int {
        wpCleanPMDEntry(pmd, &walk)
    }

    /// Kernel: wp_clean_test_walk()
    package mutating func testWalk(_ start: VirtAddr, _ end: VirtAddr, _ walk: inout MMWalk) -> Int {
        wpCleanTestWalk(walk)
    }

    /// Kernel: wp_clean_pre_vma()
    package mutating func preVMA(_ start: VirtAddr, _ end: VirtAddr, _ walk: inout MMWalk) -> Int {
        base.preVMA(start, end, &walk)
    }

    /// Kernel: wp_clean_post_vma()
    package mutating func postVMA(_ walk: inout MMWalk) {
        base.postVMA(&walk)
    }
}

/// Never splits a huge PMD (that would lose its dirty state): warns if one is writable or dirty, and skips it.
/// Table-pointing PMDs are descended. Kernel: wp_clean_pmd_entry() — mm/mapping_dirty_helpers.c
@EmuActor func wpCleanPMDEntry(_ pmd: PMDEntry, _ walk: inout MMWalk) -> Int {
    if pmd.isLeaf {
        if pmd.isWrite || pmd.isDirty {
            walk.kernel.warn("mapping_dirty_helpers: huge PMD at \(walk.vma) is writable or dirty; not split")
        }
        walk.action = .continue
    }
    return 0
}

/// Only shared, may-write, non-hugetlb VMAs are worked on; anything else answers "skip" (1), which
/// `walkPageMapping` turns into the end of the whole walk under the kernel's behaviour (bug O).
/// Kernel: wp_clean_test_walk() — mm/mapping_dirty_helpers.c
@EmuActor func wpCleanTestWalk(_ walk: MMWalk) -> Int {
    let flags = walk.vma.flags.intersection([.shared, .mayWrite, .hugetlb])
    return flags == [.shared, .mayWrite] ? 0 : 1
}

@EmuActor extension EmuKernel {
    /// Write-protects every writable PTE that maps a page of `[firstIndex, firstIndex + nr)` of `mapping` through a
    /// shared, may-write mapping, in every process; DIRTY is kept. Each VMA's changed PTEs are flushed from the TLB
    /// with one range flush over `[lowest, highest + PAGE_SIZE)` (the whole VMA range when another deferred flush is
    /// in flight on that MM). Returns how many PTEs were writable and are now read-only.
    ///
    /// A non-zero walk result (none of these hooks produce one) is reported as a warning. Under the kernel's
    /// behaviour a private mapping of the file earlier in i_mmap ends the walk (bug O; `config.
    /// walkPageMappingBreaksOnSkip`).
    ///
    /// Locking: takes `mapping.iMmapRwsem` for read around the walk, and each PTL in turn; not `mmap_lock`.
    /// Kernel: wp_shared_mapping_range() — mm/mapping_dirty_helpers.c
    package func wpSharedMappingRange(_ mapping: AddressSpace, firstIndex: PgOff, nr: Int) -> Int {
        var wpwalk = WPWalk()
        mapping.iMmapRwsem.downRead()
        let err = walkPageMapping(mapping, firstIndex: firstIndex, nr: nr, &wpwalk)
        if err != 0 { warn("wp_shared_mapping_range: walk_page_mapping returned \(err)") }
        mapping.iMmapRwsem.upRead()
        return wpwalk.total
    }

    /// Cleans every dirty PTE that maps a page of `[firstIndex, firstIndex + nr)` of `mapping` through a shared,
    /// may-write mapping, in every process (write permission kept), sets bit `pgoff - bitmapPgoff` of `bitmap` for
    /// each, and widens `[start, end)` (bit indices) to cover them. Returns how many PTEs were cleaned.
    ///
    /// `start >= end` on entry means "no bit set yet": the walk then starts from `start = nr, end = 0`, as the kernel
    /// does — which assumes `bitmapPgoff == firstIndex`; with a lower `bitmapPgoff`, `start` can end up below the
    /// first bit really set (a wider, still conservative range). Bits are never cleared, so results accumulate
    /// across calls. Every PTE dirty when the call starts ends up in the bitmap; a PTE dirtied during the call stays
    /// dirty or is recorded. Precondition: the bitmap has a bit for every page of the range.
    ///
    /// Locking: as `wpSharedMappingRange`.
    /// Kernel: clean_record_shared_mapping_range() — mm/mapping_dirty_helpers.c
    package func cleanRecordSharedMappingRange(_ mapping: AddressSpace, firstIndex: PgOff, nr: Int,
                                              bitmapPgoff: PgOff, bitmap: inout [UInt64], start: inout Int,
                                              end: inout Int) -> Int {
        precondition(firstIndex >= bitmapPgoff
                     && firstIndex.rawValue + nr - bitmapPgoff.rawValue <= bitmap.count * 64,
                     "clean_record_shared_mapping_range: the bitmap does not cover the range")
        let noneSet = start >= end
        var cwalk = CleanWalk(bitmapPgoff: bitmapPgoff, bitmap: [], start: noneSet ? nr : start,
                              end: noneSet ? 0 : end)
        swap(&cwalk.bitmap, &bitmap)  // The walk works on the caller's words in place.
        mapping.iMmapRwsem.downRead()
        let err = walkPageMapping(mapping, firstIndex: firstIndex, nr: nr, &cwalk)
        if err != 0 { warn("clean_record_shared_mapping_range: walk_page_mapping returned \(err)") }
        mapping.iMmapRwsem.upRead()
        swap(&cwalk.bitmap, &bitmap)
        start = cwalk.start
        end = cwalk.end
        return cwalk.base.total
    }
}
