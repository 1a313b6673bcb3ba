// SPDX-License-Identifier: MIT — a software TLB per address space and the kernel's flushes of it (kernel:
// arch/x86/mm/tlb.c flush_tlb_*, include/linux/mm_types.h tlb_flush_pending).

/// One cached translation: a virtual page to the bytes of its physical page, with the permission the PTE granted
/// when it was loaded.
public struct TLBEntry: Sendable {
    /// No page (a computed property: see `SoftTLB.size`).
    @inlinable package static var invalidVPN: UInt64 { UInt64.max }
    public private(set) var vpn: UInt64 = TLBEntry.invalidVPN
    package private(set) var pfn: PFN = PFN(0)
    /// `vpn` when the entry lets stores through, else no page: a store's hit is this one compare.
    public private(set) var storeVPN: UInt64 = TLBEntry.invalidVPN
    public nonisolated(unsafe) private(set) var bytes: UnsafeMutableRawPointer? = nil

    /// The store may go straight through: the PTE was writable *and* dirty when loaded. An x86 CPU that holds a
    /// clean writable entry re-walks to set the dirty bit on the first store, which the slow path models.
    @inlinable public var writable: Bool { storeVPN != TLBEntry.invalidVPN }

    /// An empty slot.
    init() {}

    init(vpn: UInt64, pfn: PFN, writable: Bool, bytes: UnsafeMutableRawPointer) {
        self.vpn = vpn
        self.pfn = pfn
        storeVPN = writable ? vpn : TLBEntry.invalidVPN
        self.bytes = bytes
    }
}

/// A direct-mapped software TLB. Stores that hit a writable entry never leave the inlined fast path; everything
/// else walks the page tables (a refill) and may fault. Entries are only ever *removed* by the kernel's flushes,
/// exactly as a real TLB: a PTE downgrade that forgets to flush leaves a stale writable entry behind. Its
/// `invalidate…` methods are the CPU's instructions; the kernel's counted flushes that use them follow.
/// Kernel: one CPU's TLB (the entries of one ASID)
@EmuActor public final class SoftTLB {
    /// Slots (a power of two). Computed properties, not stored ones: another module reading a stored `static let`
    /// goes through its lazy initialiser (`swift_once`) on every access, which the store fast path cannot afford.
    @inlinable package static var size: Int { 64 }
    @inlinable static var mask: UInt64 { UInt64(size - 1) }
    /// Raw slots, so the store fast path reads one entry with no ARC or exclusivity checks.
    @usableFromInline package nonisolated(unsafe) let slots: UnsafeMutablePointer<TLBEntry>

    package init() {
        slots = .allocate(capacity: Self.size)
        slots.initialize(repeating: TLBEntry(), count: Self.size)
    }

    deinit { slots.deallocate() }

    @inlinable @inline(__always) package func slot(for vpn: UInt64) -> Int { Int(vpn & Self.mask) }

    /// The cached entry for a page, if any.
    @inlinable package func lookup(_ addr: VirtAddr) -> TLBEntry? {
        let e = slots[slot(for: addr.vpn)]
        return e.vpn == addr.vpn ? e : nil
    }

    func fill(_ addr: VirtAddr, pfn: PFN, bytes: UnsafeMutableRawPointer, writable: Bool) {
        slots[slot(for: addr.vpn)] = TLBEntry(vpn: addr.vpn, pfn: pfn, writable: writable, bytes: bytes)
    }

    /// Drops the entry of one page on this CPU only; the kernel's flush is `EmuKernel.flushTLBPage`.
    /// Kernel: INVLPG — flush_tlb_one_user() (arch/x86/mm/tlb.c)
    package func invalidatePage(_ addr: VirtAddr) {
        let i = slot(for: addr.vpn)
        if slots[i].vpn == addr.vpn {
            slots[i] = TLBEntry()
        }
    }

    /// Drops every entry in [start, end) on this CPU only; the kernel's flush is `EmuKernel.flushTLBRange`.
    /// Kernel: the per-page INVLPG loop of flush_tlb_func()
    package func invalidateRange(_ start: VirtAddr, _ end: VirtAddr) {
        for i in 0 ..< Self.size where slots[i].vpn != TLBEntry.invalidVPN {
            if slots[i].vpn >= start.vpn && slots[i].vpn < end.pageAligned.vpn + (end.isPageAligned ? 0 : 1) {
                slots[i] = TLBEntry()
            }
        }
    }

    /// Drops every entry of this address space on this CPU only; the kernel's flush is `EmuKernel.flushTLBMM`.
    /// Kernel: flush_tlb_local() (a CR3 reload of the ASID)
    package func invalidateAll() {
        for i in 0 ..< Self.size where slots[i].vpn != TLBEntry.invalidVPN {
            slots[i] = TLBEntry()
        }
    }

    /// Every valid entry (for coherence checks in tests and checkers).
    package var validEntries: [TLBEntry] {
        (0 ..< Self.size).map { slots[$0] }.filter { $0.vpn != TLBEntry.invalidVPN }
    }
}

@EmuActor extension EmuKernel {
    // MARK: - flush_tlb_*

    /// Kernel: flush_tlb_page() → flush_tlb_mm_range() — arch/x86/mm/tlb.c
    package func flushTLBPage(_ mm: MM, _ address: VirtAddr) {
        stats.tlbFlushPage += 1
        sched.charge(costs.tlbFlushPage)
        shootDown(mm) { $0.invalidatePage(address) }
        event(.tlbFlush(address: address, pages: 1, mm: mm.id))
    }

    /// Kernel: flush_tlb_range() → flush_tlb_mm_range()
    package func flushTLBRange(_ mm: MM, _ start: VirtAddr, _ end: VirtAddr) {
        stats.tlbFlushRange += 1
        let pages = Int64((end - start) >> PAGE_SHIFT)
        sched.charge(costs.tlbFlushRange + VirtualTime(picoseconds: costs.tlbFlushRangePerPage.picoseconds * pages))
        shootDown(mm) { $0.invalidateRange(start, end) }
        event(.tlbFlush(address: start, pages: Int(pages), mm: mm.id))
    }

    /// Kernel: flush_tlb_mm()
    package func flushTLBMM(_ mm: MM) {
        stats.tlbFlushAll += 1
        sched.charge(costs.tlbFlushRange)
        shootDown(mm) { $0.invalidateAll() }
    }

    /// Applies a flush to the TLB of every CPU that has run `mm`: this CPU's directly, every other one's by an IPI
    /// whose round trip the flushing CPU waits for (charged here). Kernel: native_flush_tlb_multi() /
    /// flush_tlb_func() — arch/x86/mm/tlb.c
    private func shootDown(_ mm: MM, _ flush: (SoftTLB) -> Void) {
        let me = sched.executingCPU
        var remote = 0
        for cpu in 0 ..< mm.tlbs.count where mm.cpuMask & (1 << UInt64(cpu)) != 0 || cpu == me {
            flush(mm.tlbs[cpu])
            if cpu != me { remote += 1 }
        }
        guard remote > 0 else { return }
        stats.tlbShootdowns += 1
        stats.tlbShootdownIPIs += remote
        sched.charge(costs.tlbShootdown + VirtualTime(picoseconds: costs.tlbShootdownPerCPU.picoseconds
            &* Int64(remote - 1)))
        event(.tlbShootdown(mm: mm.id, cpus: remote))
    }

    // MARK: - Deferred TLB flush bookkeeping

    /// Announces that PTEs of `mm` are being changed with the TLB flush deferred. Kernel: inc_tlb_flush_pending()
    package func incTLBFlushPending(_ mm: MM) {
        mm.tlbFlushPending += 1
    }

    /// The deferred flush announced by `incTLBFlushPending` is done. Kernel: dec_tlb_flush_pending()
    package func decTLBFlushPending(_ mm: MM) {
        guard mm.tlbFlushPending > 0 else {
            preconditionFailure("dec_tlb_flush_pending on mm\(mm.id) with nothing pending")
        }
        mm.tlbFlushPending -= 1
    }

    /// Another batched flush is in progress on `mm` besides the caller's own. Kernel: mm_tlb_flush_nested()
    package func mmTLBFlushNested(_ mm: MM) -> Bool { mm.tlbFlushPending > 1 }
}
