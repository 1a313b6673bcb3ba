// SPDX-License-Identifier: MIT — a software TLB per address space (kernel: arch/x86/mm/tlb.c, flush_tlb_*).

/// One cached translation: a virtual page to the bytes of its physical page, with the permission the PTE granted
/// when it was loaded.
public struct TLBEntry: Sendable {
    public static let invalidVPN = UInt64.max
    public var vpn: UInt64 = TLBEntry.invalidVPN
    public var pfn: PFN = PFN(0)
    /// The store may go straight through: the PTE was writable *and* dirty when loaded. An x86 CPU that holds a
    /// clean writable entry re-walks to set the dirty bit on the first store, which the slow path models.
    public var writable = false
    public nonisolated(unsafe) var bytes: UnsafeMutableRawPointer? = nil
}

/// A direct-mapped software TLB. Stores that hit a writable entry never leave the inlined fast path; everything
/// else walks the page tables (a refill) and may fault. Entries are only ever *removed* by the kernel's flushes,
/// exactly as a real TLB: a PTE downgrade that forgets to flush leaves a stale writable entry behind.
/// Kernel: the CPU TLB plus flush_tlb_page()/flush_tlb_range()/flush_tlb_mm().
@EmuActor public final class SoftTLB {
    /// Slots (a power of two). Computed properties, not stored ones: another module reading a stored `static let`
    /// goes through its lazy initialiser (`swift_once`) on every access, which the store fast path cannot afford.
    @inlinable public static var size: Int { 64 }
    @inlinable static var mask: UInt64 { UInt64(size - 1) }
    /// Raw slots, so the store fast path reads one entry with no ARC or exclusivity checks.
    public nonisolated(unsafe) let slots: UnsafeMutablePointer<TLBEntry>
    public private(set) var refills = 0
    public private(set) var pageFlushes = 0
    public private(set) var rangeFlushes = 0
    public private(set) var fullFlushes = 0
    /// Entries invalidated by flushes (a measure of how much each flush threw away).
    public private(set) var invalidated = 0

    public init() {
        slots = .allocate(capacity: Self.size)
        slots.initialize(repeating: TLBEntry(), count: Self.size)
    }

    deinit { slots.deallocate() }

    @inline(__always) public func slot(for vpn: UInt64) -> Int { Int(vpn & Self.mask) }

    /// The cached entry for a page, if any.
    public func lookup(_ addr: VirtAddr) -> TLBEntry? {
        let e = slots[slot(for: addr.vpn)]
        return e.vpn == addr.vpn ? e : nil
    }

    func fill(_ addr: VirtAddr, pfn: PFN, bytes: UnsafeMutableRawPointer, writable: Bool) {
        refills += 1
        slots[slot(for: addr.vpn)] = TLBEntry(vpn: addr.vpn, pfn: pfn, writable: writable, bytes: bytes)
    }

    /// Drops the entry of one page. Kernel: flush_tlb_page()
    public func flushPage(_ addr: VirtAddr) {
        pageFlushes += 1
        let i = slot(for: addr.vpn)
        if slots[i].vpn == addr.vpn {
            slots[i] = TLBEntry()
            invalidated += 1
        }
    }

    /// Drops every entry in [start, end). Kernel: flush_tlb_range()
    public func flushRange(_ start: VirtAddr, _ end: VirtAddr) {
        rangeFlushes += 1
        for i in 0 ..< Self.size where slots[i].vpn != TLBEntry.invalidVPN {
            if slots[i].vpn >= start.vpn && slots[i].vpn < end.pageAligned.vpn + (end.isPageAligned ? 0 : 1) {
                slots[i] = TLBEntry()
                invalidated += 1
            }
        }
    }

    /// Drops everything. Kernel: flush_tlb_mm()
    public func flushAll() {
        fullFlushes += 1
        for i in 0 ..< Self.size where slots[i].vpn != TLBEntry.invalidVPN {
            slots[i] = TLBEntry()
            invalidated += 1
        }
    }

    /// Every valid entry (for coherence checks in tests and checkers).
    public var validEntries: [TLBEntry] {
        (0 ..< Self.size).map { slots[$0] }.filter { $0.vpn != TLBEntry.invalidVPN }
    }
}
