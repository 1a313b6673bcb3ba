// SPDX-License-Identifier: MIT — generic page-table walks over the processes that map a file (kernel:
// mm/pagewalk.c walk_page_mapping() and the walk_pgd_range() … walk_pte_range() descent, include/linux/pagewalk.h).

/// What a walker does after a `pmdEntry` (or `pteEntry`) callback. Kernel: `enum page_walk_action` —
/// include/linux/pagewalk.h
package enum PageWalkAction: Sendable, Equatable {
    /// Descend to the next level. Kernel: ACTION_SUBTREE
    case subtree
    /// Do not descend; go on with the next entry. Kernel: ACTION_CONTINUE
    case `continue`
    /// Look at the same entry again. Kernel: ACTION_AGAIN
    case again
}

/// The hooks an `MMWalkOps` conformer implements. The walker calls only listed hooks and, like the kernel, descends
/// below the PMD level only when `.pteEntry` is listed.
/// Kernel: the non-NULL members of a `struct mm_walk_ops` — include/linux/pagewalk.h
package struct MMWalkHooks: OptionSet, Hashable, Sendable {
    package let rawValue: UInt8
    package init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Kernel: `ops->pmd_entry`
    package static let pmdEntry = MMWalkHooks(rawValue: 1 << 0)
    /// Kernel: `ops->pte_entry`
    package static let pteEntry = MMWalkHooks(rawValue: 1 << 1)
    /// Kernel: `ops->pte_hole`
    package static let pteHole = MMWalkHooks(rawValue: 1 << 2)
    /// Kernel: `ops->test_walk`
    package static let testWalk = MMWalkHooks(rawValue: 1 << 3)
    /// Kernel: `ops->pre_vma`
    package static let preVMA = MMWalkHooks(rawValue: 1 << 4)
    /// Kernel: `ops->post_vma`
    package static let postVMA = MMWalkHooks(rawValue: 1 << 5)
}

/// The per-walk context handed to every hook. Kernel: `struct mm_walk` — include/linux/pagewalk.h (`private` is
/// the ops struct itself; `pgd` and `no_vma` do not apply to mapping walks).
@EmuActor package struct MMWalk {
    /// The address space of the VMA being walked. Kernel: `walk->mm`
    package let mm: MM
    /// Kernel: `walk->vma`
    package let vma: VMArea
    /// Set by `pmdEntry`/`pteEntry` to steer the descent. Kernel: `walk->action`
    package var action: PageWalkAction = .subtree

    package init(mm: MM, vma: VMArea) {
        self.mm = mm
        self.vma = vma
    }

    /// The machine the walk runs on (no kernel counterpart: the kernel is global).
    package var kernel: EmuKernel { mm.kernel }
}

/// A PMD entry as a `pmdEntry` hook sees it. The machine's page tables only ever point PMDs at PTE tables; a leaf
/// (a 2 MiB mapping, PSE set) can only appear if something forges one.
/// Kernel: `pmd_t`, pmd_leaf() / pmd_trans_huge(), pmd_write(), pmd_dirty() — arch/x86/include/asm/pgtable.h
package struct PMDEntry: Hashable, Sendable {
    package var raw: UInt64
    package init(raw: UInt64) { self.raw = raw }
    /// Kernel: _PAGE_PSE — the entry maps a huge page instead of pointing at a PTE table.
    package static let pse: UInt64 = 1 << 7
    package var isNone: Bool { raw == 0 }
    package var isPresent: Bool { raw & PTE.present != 0 }
    package var isLeaf: Bool { isPresent && raw & Self.pse != 0 }
    package var isWrite: Bool { raw & PTE.rw != 0 }
    package var isDirty: Bool { raw & PTE.dirtyBit != 0 }
    /// The PTE table (or, for a leaf, the first page) the entry points at. Kernel: pmd_pfn()
    package var pfn: PFN { PTE(raw: raw).pfn }
}

/// The callbacks and private state of a page-table walk. The conforming struct *is* the walk state (the kernel's
/// `walk->private`); `hooks` lists which callbacks it implements. Hooks run synchronously: `pteEntry` runs under
/// the PTL of its page table and must not sleep (a spinlock is held), and none of them may assume `mmap_lock`.
///
/// Return values follow the kernel: 0 goes on, non-zero stops the walk and is returned by it (negative: an error;
/// positive: a caller-defined early end). For `testWalk`, positive means "do not walk this VMA" — see
/// `walkPageMapping` for what that does to a mapping walk.
///
/// Kernel: `struct mm_walk_ops` — include/linux/pagewalk.h (pgd/p4d/pud entries, hugetlb and install_pte are not
/// modelled: the machine has 4 KiB pages only)
@EmuActor package protocol MMWalkOps {
    /// The ops table: which of the hooks below exist.
    static var hooks: MMWalkHooks { get }
    /// Called for each present PMD entry in range before descending; may set `walk.action`.
    /// Kernel: `ops->pmd_entry`
    mutating func pmdEntry(_ pmd: PMDEntry, _ addr: VirtAddr, _ next: VirtAddr, _ walk: inout MMWalk) -> Int
    /// Called for every PTE slot in range, empty ones included, with the PTL of `slot.table` held.
    /// Kernel: `ops->pte_entry`
    mutating func pteEntry(_ slot: PTESlot, _ addr: VirtAddr, _ next: VirtAddr, _ walk: inout MMWalk) -> Int
    /// Called for a range with no page table at `depth` (1: top level, the folded P4D; 2: PUD; 3: PMD; -1: a
    /// VM_PFNMAP VMA skipped by the default test). Kernel: `ops->pte_hole`
    mutating func pteHole(_ addr: VirtAddr, _ next: VirtAddr, depth: Int, _ walk: inout MMWalk) -> Int
    /// Decides whether to walk a VMA (`start`..`end` is the whole VMA). Kernel: `ops->test_walk`
    mutating func testWalk(_ start: VirtAddr, _ end: VirtAddr, _ walk: inout MMWalk) -> Int
    /// Called before walking the (clipped) range of a VMA. Kernel: `ops->pre_vma`
    mutating func preVMA(_ start: VirtAddr, _ end: VirtAddr, _ walk: inout MMWalk) -> Int
    /// Called after walking a VMA whose `preVMA` succeeded. Kernel: `ops->post_vma`
    mutating func postVMA(_ walk: inout MMWalk)
}

extension MMWalkOps {
    package mutating func pmdEntry(_ pmd: PMDEntry, _ addr: VirtAddr, _ next: VirtAddr, _ walk: inout MMWalk) -> Int {
        0
    }
    package mutating func pteEntry(_ slot: PTESlot, _ addr: VirtAddr, _ next: VirtAddr, _ walk: inout MMWalk) -> Int {
        0
    }
    package mutating func pteHole(_ addr: VirtAddr, _ next: VirtAddr, depth: Int, _ walk: inout MMWalk) -> Int { 0 }
    package mutating func testWalk(_ start: VirtAddr, _ end: VirtAddr, _ walk: inout MMWalk) -> Int { 0 }
    package mutating func preVMA(_ start: VirtAddr, _ end: VirtAddr, _ walk: inout MMWalk) -> Int { 0 }
    package mutating func postVMA(_ walk: inout MMWalk) {}
}

@EmuActor extension EmuKernel {
    // MARK: - walk_page_mapping

    /// Walks the page tables of every VMA (of every process) that maps a page of `[firstIndex, firstIndex + nr)` of
    /// `mapping`, clipped to that range, calling `ops`' hooks. VMAs come in i_mmap order (ascending `vm_pgoff`).
    ///
    /// Per VMA: the clipped range is skipped if empty; then the test hook decides (`testWalk`, or by default: a
    /// VM_PFNMAP VMA is not walked). A positive answer ends the **whole** walk with result 0 when
    /// `config.walkPageMappingBreaksOnSkip` is set (the kernel's behaviour, kernel-spec.md bug O), and skips only
    /// that VMA otherwise; a negative answer ends the walk with that error. A walked VMA gets `preVMA`, the
    /// page-table descent, then `postVMA`.
    ///
    /// Returns 0, the first negative error, or a hook's positive early-end value.
    ///
    /// Locking: the caller holds `mapping.iMmapRwsem` (checked); no `mmap_lock` is held or needed, so only VMA
    /// fields that cannot change under i_mmap_rwsem are reliable. Each PTE table is walked under its PTL; taking and
    /// releasing it are the preemption points.
    /// Kernel: walk_page_mapping() — mm/pagewalk.c
    package func walkPageMapping<Ops: MMWalkOps>(_ mapping: AddressSpace, firstIndex: PgOff, nr: Int,
                                                _ ops: inout Ops) -> Int {
        mapping.iMmapRwsem.assertHeld()
        var err = 0
        let first = firstIndex.rawValue, last = firstIndex.rawValue &+ nr &- 1
        var cursor = mapping.iMmap.iterFirst(first: first, last: last)
        while let h = cursor {
            cursor = mapping.iMmap.iterNext(after: h, first: first, last: last)
            let vma = mapping.iMmap.element(h)
            // Clip the file range to the VMA, then turn it into addresses.
            let vba = vma.pgoff.rawValue, vea = vba + vma.pageCount
            let cba = max(first, vba), cea = min(first &+ nr, vea)
            let startAddr = vma.start + ((cba - vba) << PAGE_SHIFT)
            let endAddr = vma.start + ((cea - vba) << PAGE_SHIFT)
            if startAddr >= endAddr { continue }
            stats.pageWalkVMAs += 1
            sched.charge(costs.rmapVisit)
            var walk = MMWalk(mm: vma.mm, vma: vma)
            err = walkPageTest(vma.start, vma.end, &walk, &ops)
            if err > 0 {
                err = 0
                if config.walkPageMappingBreaksOnSkip { break }
                continue
            }
            if err < 0 { break }
            err = __walkPageRange(startAddr, endAddr, &walk, &ops)
            if err != 0 { break }
        }
        return err
    }

    /// Whether to walk `walk.vma`: the ops' own test, else skip VM_PFNMAP VMAs (reporting them as a hole if the ops
    /// want holes). Kernel: walk_page_test() — mm/pagewalk.c
    func walkPageTest<Ops: MMWalkOps>(_ start: VirtAddr, _ end: VirtAddr, _ walk: inout MMWalk,
                                      _ ops: inout Ops) -> Int {
        if Ops.hooks.contains(.testWalk) { return ops.testWalk(start, end, &walk) }
        if walk.vma.flags.contains(.pfnMap) {
            var err = 1
            if Ops.hooks.contains(.pteHole) { err = ops.pteHole(start, end, depth: -1, &walk) }
            return err != 0 ? err : 1
        }
        return 0
    }

    /// `preVMA`, the descent over `[start, end)` of one VMA, `postVMA`. A hugetlb VMA is not descended (no
    /// hugetlb_entry hook exists here). Kernel: __walk_page_range() — mm/pagewalk.c
    func __walkPageRange<Ops: MMWalkOps>(_ start: VirtAddr, _ end: VirtAddr, _ walk: inout MMWalk,
                                         _ ops: inout Ops) -> Int {
        var err = 0
        if Ops.hooks.contains(.preVMA) {
            err = ops.preVMA(start, end, &walk)
            if err != 0 { return err }
        }
        if !walk.vma.flags.contains(.hugetlb) {
            err = walkLevelRange(level: 0, table: walk.mm.pageTables.pgd, start, end, &walk, &ops)
        }
        if Ops.hooks.contains(.postVMA) { ops.postVMA(&walk) }
        return err
    }

    /// One level of the descent over `[addr, end)` in the table `table`: level 0 is the PGD (the folded P4D), 1 the
    /// PUD, 2 the PMD. Empty entries are reported to `pteHole`; at the PMD level `pmdEntry` runs first and may steer
    /// the descent with `walk.action`; PTE tables are walked only if the ops have a `pteEntry` hook.
    /// Kernel: walk_pgd_range() / walk_p4d_range() / walk_pud_range() / walk_pmd_range() — mm/pagewalk.c
    func walkLevelRange<Ops: MMWalkOps>(level: Int, table: PFN, _ start: VirtAddr, _ end: VirtAddr,
                                        _ walk: inout MMWalk, _ ops: inout Ops) -> Int {
        let pageTables = walk.mm.pageTables
        let shift = PageTables.levelShifts[level]
        let size = UInt64(1) << UInt64(shift)
        let isPMD = level == PageTables.levelShifts.count - 1
        let hasHandler = !Ops.hooks.isDisjoint(with: isPMD ? [.pteEntry] : [.pmdEntry, .pteEntry])
        var err = 0
        var addr = start
        while addr < end {
            // pXd_addr_end(): the next boundary of this level, or `end` if that comes first.
            let boundary = (addr.rawValue &+ size) & ~(size - 1)
            let next = boundary &- 1 < end.rawValue &- 1 ? VirtAddr(boundary) : end
            let e = pageTables.entry(table, Int((addr.rawValue >> UInt64(shift)) & 511))
            again: while true {
                let raw = e.pointee
                if raw == 0 || raw & PTE.present == 0 {
                    if Ops.hooks.contains(.pteHole) { err = ops.pteHole(addr, next, depth: level + 1, &walk) }
                    break again
                }
                if !isPMD {
                    if hasHandler {
                        err = walkLevelRange(level: level + 1, table: PTE(raw: raw).pfn, addr, next, &walk, &ops)
                    }
                    break again
                }
                walk.action = .subtree
                if Ops.hooks.contains(.pmdEntry) {
                    err = ops.pmdEntry(PMDEntry(raw: raw), addr, next, &walk)
                    if err != 0 { break again }
                }
                if walk.action == .again { continue again }
                if walk.action == .continue || !hasHandler { break again }
                // A huge PMD would be split here (split_huge_pmd()); the machine never maps one, so there is
                // nothing below a forged leaf to walk.
                if PMDEntry(raw: raw).isLeaf { break again }
                err = walkPTERange(table: PTE(raw: raw).pfn, addr, next, &walk, &ops)
                if err != 0 { break again }
                if walk.action == .again { continue again }
                break again
            }
            if err != 0 { break }
            addr = next
        }
        return err
    }

    /// Calls `pteEntry` for every slot of `[addr, end)` in one PTE table, empty slots included, holding the table's
    /// PTL throughout. Kernel: walk_pte_range() / walk_pte_range_inner() — mm/pagewalk.c
    func walkPTERange<Ops: MMWalkOps>(table: PFN, _ start: VirtAddr, _ end: VirtAddr, _ walk: inout MMWalk,
                                      _ ops: inout Ops) -> Int {
        let ptl = phys.ptl(table)
        ptl.lock()  // pte_offset_map_lock()
        var err = 0
        var addr = start
        let pageTables = walk.mm.pageTables
        while true {
            err = ops.pteEntry(pageTables.slot(in: table, addr), addr, addr + PAGE_SIZE, &walk)
            if err != 0 || addr >= end + (-PAGE_SIZE) { break }
            addr = addr + PAGE_SIZE
        }
        ptl.unlock()
        return err
    }
}
