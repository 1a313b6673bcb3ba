// SPDX-License-Identifier: MIT — x86-64 PTEs and 4-level page tables (kernel: arch/x86/include/asm/pgtable*.h,
// include/linux/pgtable.h, mm/memory.c pte_offset_map_lock).

/// A page-table entry with x86-64 bit positions. A pure value: every `mk*` returns a new entry.
/// Kernel: `pte_t` with pte_write()/pte_dirty()/pte_wrprotect()/pte_mkclean()/pte_mkwrite()…
public struct PTE: Hashable, Sendable, CustomStringConvertible {
    @usableFromInline package var raw: UInt64
    @usableFromInline package init(raw: UInt64) { self.raw = raw }

    @usableFromInline package static let present: UInt64 = 1 << 0   // _PAGE_PRESENT
    @usableFromInline package static let rw: UInt64 = 1 << 1         // _PAGE_RW
    package static let user: UInt64 = 1 << 2       // _PAGE_USER
    package static let accessed: UInt64 = 1 << 5   // _PAGE_ACCESSED ("young")
    package static let dirtyBit: UInt64 = 1 << 6   // _PAGE_DIRTY
    @usableFromInline package static let protnone: UInt64 = 1 << 8   // _PAGE_PROTNONE (shares the GLOBAL bit; user PTEs only)
    package static let specialBit: UInt64 = 1 << 9 // _PAGE_SPECIAL (software bit 1)
    static let pfnMask: UInt64 = 0x000F_FFFF_FFFF_F000

    /// Kernel: pte_none()
    @usableFromInline package static let none = PTE(raw: 0)
    package var isNone: Bool { raw == 0 }
    /// Kernel: pte_present() — PROT_NONE entries count as present for the kernel, not for the MMU.
    @inlinable package var isPresent: Bool { raw & (Self.present | Self.protnone) != 0 }
    /// The MMU may use the entry.
    package var isHardwarePresent: Bool { raw & Self.present != 0 }
    @inlinable package var isWrite: Bool { raw & Self.rw != 0 }
    package var isDirty: Bool { raw & Self.dirtyBit != 0 }
    package var isYoung: Bool { raw & Self.accessed != 0 }
    package var isSpecial: Bool { raw & Self.specialBit != 0 }
    package var isProtNone: Bool { raw & Self.protnone != 0 && raw & Self.present == 0 }
    package var pfn: PFN { PFN(Int((raw & Self.pfnMask) >> UInt64(PAGE_SHIFT))) }

    /// Kernel: pfn_pte(pfn, prot)
    package init(pfn: PFN, prot: PageProt) {
        raw = (UInt64(pfn.rawValue) << UInt64(PAGE_SHIFT)) & Self.pfnMask | prot.bits
    }

    package func wrprotected() -> PTE { PTE(raw: raw & ~Self.rw) }         // pte_wrprotect()
    package func mkwrite() -> PTE { PTE(raw: raw | Self.rw) }              // pte_mkwrite()
    package func mkclean() -> PTE { PTE(raw: raw & ~Self.dirtyBit) }       // pte_mkclean()
    package func mkdirty() -> PTE { PTE(raw: raw | Self.dirtyBit) }        // pte_mkdirty()
    package func mkyoung() -> PTE { PTE(raw: raw | Self.accessed) }        // pte_mkyoung()
    package func mkspecial() -> PTE { PTE(raw: raw | Self.specialBit) }    // pte_mkspecial()
    /// Kernel: pte_modify() — keep PFN and the accessed/dirty/special bits, take the rest from `prot`.
    package func modify(_ prot: PageProt) -> PTE {
        let keep = Self.pfnMask | Self.accessed | Self.dirtyBit | Self.specialBit
        return PTE(raw: raw & keep | prot.bits)
    }

    /// A short state for traces and ASCII pictures: NONE, RO, RW (+ "D" when dirty, "*" when special).
    package var state: String {
        if isNone { return "NONE" }
        if isProtNone { return "PROTNONE" }
        var s = isWrite ? "RW" : "RO"
        if isDirty { s += "+D" }
        if isSpecial { s += "*" }
        return s
    }
    public var description: String { "\(state)@\(pfn)" }
}

/// The protection bits a new PTE gets. Kernel: `pgprot_t` / `vma->vm_page_prot`.
package struct PageProt: Hashable, Sendable {
    package var bits: UInt64
    package init(bits: UInt64) { self.bits = bits }
    /// Kernel: vm_get_page_prot() for x86-64 (no NX modelling). PROT_NONE becomes a PROTNONE entry.
    package static func from(_ flags: VMFlags) -> PageProt {
        if !flags.contains(.read) && !flags.contains(.write) && !flags.contains(.exec) {
            return PageProt(bits: PTE.protnone | PTE.accessed)
        }
        var bits = PTE.present | PTE.user | PTE.accessed
        // Private writable mappings get RO PTEs: write access comes from COW. Shared ones get RW.
        if flags.contains(.write) && flags.contains(.shared) { bits |= PTE.rw }
        return PageProt(bits: bits)
    }
}

/// Where one PTE lives: a slot of a page-table page in physical memory.
public struct PTESlot {
    /// The page-table page holding the entry (its lock is the split PTL).
    package let table: PFN
    package let index: Int
    @usableFromInline let pointer: UnsafeMutablePointer<UInt64>
    @inlinable @inline(__always) package func read() -> PTE { PTE(raw: pointer.pointee) }
    @inline(__always) package func write(_ pte: PTE) { pointer.pointee = pte.raw }
}

/// What a walk down the page tables found for an address.
enum PTETableLookup {
    /// The PTE table (a page-table page) that holds the entry.
    case table(PFN)
    /// An upper level has no entry; `size` is the span that entry would cover (PGDIR_SIZE, PUD_SIZE or PMD_SIZE).
    case hole(size: Int)
}

/// The 4-level page tables of one address space (PGD → PUD → PMD → PTE; P4D folded), stored in physical pages.
/// Kernel: `mm->pgd`, pgd_offset()/pud_offset()/pmd_offset()/pte_offset_map(), __pte_alloc().
@EmuActor @usableFromInline package final class PageTables {
    unowned(unsafe) let phys: PhysicalMemory
    package let pgd: PFN
    /// Every page-table page of this address space, for teardown.
    private(set) var tablePages: [PFN]

    init?(phys: PhysicalMemory) {
        guard let root = phys.allocPageTable() else { return nil }
        self.phys = phys
        pgd = root
        tablePages = [root]
    }

    static let levelShifts = [39, 30, 21]  // PGD, PUD, PMD index shifts; the PTE index uses 12.
    /// The span of one entry at each level walked: PGDIR_SIZE (512 GiB), PUD_SIZE (1 GiB), PMD_SIZE (2 MiB).
    /// Kernel: PGDIR_SIZE / PUD_SIZE / PMD_SIZE — arch/x86/include/asm/pgtable_64_types.h (4-level paging)
    static let levelSizes = [1 << 39, 1 << 30, 1 << 21]

    @inline(__always) func entry(_ table: PFN, _ index: Int) -> UnsafeMutablePointer<UInt64> {
        (phys.address(of: table) + index * 8).assumingMemoryBound(to: UInt64.self)
    }

    /// The PTE slot for `addr` if every upper level exists. Kernel: pte_offset_map() after the p*d_offset walk.
    @usableFromInline package func lookup(_ addr: VirtAddr) -> PTESlot? {
        var table = pgd
        for shift in Self.levelShifts {
            let e = entry(table, Int((addr.rawValue >> UInt64(shift)) & 511)).pointee
            guard e & PTE.present != 0 else { return nil }
            table = PTE(raw: e).pfn
        }
        let i = Int((addr.rawValue >> UInt64(PAGE_SHIFT)) & 511)
        return PTESlot(table: table, index: i, pointer: entry(table, i))
    }

    /// Like `lookup`, allocating missing levels; nil when RAM runs out. Kernel: __pud_alloc/__pmd_alloc/__pte_alloc
    package func allocate(_ addr: VirtAddr) -> PTESlot? {
        var table = pgd
        for shift in Self.levelShifts {
            let p = entry(table, Int((addr.rawValue >> UInt64(shift)) & 511))
            if p.pointee & PTE.present == 0 {
                guard let next = phys.allocPageTable() else { return nil }
                tablePages.append(next)
                p.pointee = PTE(pfn: next, prot: PageProt(bits: PTE.present | PTE.rw | PTE.user)).raw
            }
            table = PTE(raw: p.pointee).pfn
        }
        let i = Int((addr.rawValue >> UInt64(PAGE_SHIFT)) & 511)
        return PTESlot(table: table, index: i, pointer: entry(table, i))
    }

    /// Descends PGD → PUD → PMD for `addr` without allocating, reporting the first missing level.
    /// Kernel: the pgd_offset()/pud_offset()/pmd_offset() descent of page_vma_mapped_walk() — mm/page_vma_mapped.c
    func pteTable(_ addr: VirtAddr) -> PTETableLookup {
        var table = pgd
        for (level, shift) in Self.levelShifts.enumerated() {
            let e = entry(table, Int((addr.rawValue >> UInt64(shift)) & 511)).pointee
            guard e & PTE.present != 0 else { return .hole(size: Self.levelSizes[level]) }
            table = PTE(raw: e).pfn
        }
        return .table(table)
    }

    /// The slot of `addr` in the PTE table `table`. Kernel: pte_offset_map() — mm/pgtable-generic.c
    func slot(in table: PFN, _ addr: VirtAddr) -> PTESlot {
        let i = Int((addr.rawValue >> UInt64(PAGE_SHIFT)) & 511)
        return PTESlot(table: table, index: i, pointer: entry(table, i))
    }

    /// Frees every page-table page (at exit, after all PTEs were zapped). Kernel: free_pgtables() + pgd_free()
    func freeAll() {
        for t in tablePages {
            phys.frames[t.rawValue].flags.remove(.pageTable)
            phys.putPage(t)
        }
        tablePages = []
    }
}
