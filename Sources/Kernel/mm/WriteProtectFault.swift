// SPDX-License-Identifier: MIT — a write to a present, read-only PTE: do_wp_page() and its reuse, copy and
// shared-page paths with ->page_mkwrite / ->pfn_mkwrite (kernel: mm/memory.c).
//
// Lock order and preemption points: as stated at the top of Memory.swift.

@EmuActor extension EmuKernel {
    // MARK: - Write-protect faults

    /// The PTE is present and read-only and the access writes. Enters with the PTL held; returns with it released.
    /// Kernel: do_wp_page() — mm/memory.c
    @inline(__always)
    func doWPPage(_ vmf: inout VMFault) -> VMFaultResult {
        stats.wpFaults += 1
        let vma = vmf.vma
        vmf.page = vmNormalPage(vma, vmf.origPTE)
        if !vma.flags.isDisjoint(with: [.shared, .mayShare]) {
            guard let page = vmf.page else { return wpPFNShared(&vmf) }
            return wpPageShared(&vmf, page)
        }
        if let page = vmf.page, phys.frames[page.rawValue].mapping.isAnon,
           phys.frames[page.rawValue].flags.contains(.anonExclusive) || phys.frames[page.rawValue].refcount == 1 {
            stats.wpAnonReuse += 1
            wpPageReuse(&vmf)
            return .zero
        }
        return wpPageCopy(&vmf)
    }

    /// Makes the faulting PTE young, dirty and (if the VMA allows) writable. Enters with the PTL held; releases it.
    /// Kernel: wp_page_reuse() — mm/memory.c
    func wpPageReuse(_ vmf: inout VMFault) {
        var entry = vmf.origPTE.mkyoung().mkdirty()
        if vmf.vma.flags.contains(.write) { entry = entry.mkwrite() }
        if entry != vmf.origPTE { setPTE(vmf.vma, vmf.address, vmf.slot!, entry) }  // ptep_set_access_flags()
        unmapUnlock(&vmf)
    }

    /// A write to a read-only PTE of a shared mapping with a normal page: notify the driver, then upgrade.
    /// Enters with the PTL held; returns with it released.
    /// Kernel: wp_page_shared() — mm/memory.c
    @inline(__always)
    func wpPageShared(_ vmf: inout VMFault, _ page: PFN) -> VMFaultResult {
        stats.wpPageShared += 1
        phys.getPage(page)
        if let mkwrite = vmf.vma.ops?.pageMkwrite {
            unmapUnlock(&vmf)
            sched.preempt(.beforeMkwrite)
            var tmp = vmfCanCallFault(&vmf)
            if !tmp.isEmpty {
                phys.putPage(page)
                return tmp
            }
            tmp = doPageMkwrite(&vmf, page, mkwrite)
            if tmp.isEmpty || !tmp.isDisjoint(with: VMFaultResult.error.union(.nopage)) {
                phys.putPage(page)
                return tmp
            }
            sched.preempt(.afterMkwrite)
            tmp = finishMkwriteFault(&vmf)
            if !tmp.isDisjoint(with: VMFaultResult.error.union(.nopage)) {
                phys.unlockPage(page)
                phys.putPage(page)
                return tmp
            }
        } else {
            wpPageReuse(&vmf)
            phys.lockPage(page)
        }
        let ret = faultDirtySharedPage(&vmf)
        phys.putPage(page)
        return ret
    }

    /// A write to a read-only special (PFN-map) PTE of a shared mapping. Without ->pfn_mkwrite the PTE is made
    /// writable silently (the 2015 DAX mtime bug, scenario 26). Enters with the PTL held; returns with it released.
    /// Kernel: wp_pfn_shared() — mm/memory.c
    @inline(__always)
    func wpPFNShared(_ vmf: inout VMFault) -> VMFaultResult {
        stats.wpPFNShared += 1
        guard let hook = vmf.vma.ops?.pfnMkwrite else {
            wpPageReuse(&vmf)
            return .zero
        }
        unmapUnlock(&vmf)
        sched.preempt(.beforeMkwrite)
        var ret = vmfCanCallFault(&vmf)
        if !ret.isEmpty { return ret }
        vmf.flags.insert(.mkwrite)
        stats.pfnMkwriteCalls += 1
        sched.charge(costs.hookCall)
        ret = hook(&vmf)
        event(.pfnMkwrite(pgoff: vmf.pgoff, result: ret))
        if !ret.isDisjoint(with: VMFaultResult.error.union(.nopage)) { return ret }
        sched.preempt(.afterMkwrite)
        return finishMkwriteFault(&vmf)
    }

    /// A write to a read-only PTE of a private mapping whose page cannot be reused: copy it.
    /// Enters with the PTL held; returns with it released. Kernel: wp_page_copy() — mm/memory.c
    func wpPageCopy(_ vmf: inout VMFault) -> VMFaultResult {
        stats.wpPageCopy += 1
        let vma = vmf.vma
        let old = vmf.page
        if let old { phys.getPage(old) }
        unmapUnlock(&vmf)
        if vma.anonVMA == nil { vma.anonVMA = AnonVMA(phys: phys) }
        guard let new = phys.allocPage(zeroed: old == nil) else {
            if let old { phys.putPage(old) }
            return .oom
        }
        if let old {
            phys.address(of: new).copyMemory(from: phys.address(of: old), byteCount: PAGE_SIZE)
            sched.charge(costs.copy(PAGE_SIZE))
        }
        setAnonRmap(new, vma, vmf.pgoff)
        let slot = vma.mm.pageTables.lookup(vmf.address)!
        mapLock(&vmf, slot)
        if slot.read() == vmf.origPTE {
            if !vmf.origPTE.isSpecial, let oldPage = vmNormalPage(vma, vmf.origPTE) {
                phys.frames[oldPage.rawValue].mapcount -= 1  // folio_remove_rmap_pte()
                phys.putPage(oldPage)                          // the reference the old PTE held
            }
            var entry = PTE(pfn: new, prot: vma.pageProt).mkyoung().mkdirty()
            if vma.flags.contains(.write) { entry = entry.mkwrite() }
            slot.write(.none)  // ptep_clear_flush()
            flushTLBPage(vma.mm, vmf.address)
            phys.frames[new.rawValue].mapcount += 1
            setPTE(vma, vmf.address, slot, entry)
            event(.cowCopy(from: old?.rawValue ?? -1, to: new.rawValue))
        } else {
            stats.pteChangedBailouts += 1
            phys.putPage(new)
        }
        unmapUnlock(&vmf)
        if let old { phys.putPage(old) }
        return .zero
    }

    /// Calls ->page_mkwrite and returns with the page locked unless the result is 0 (retry) or an error.
    /// Kernel: do_page_mkwrite() — mm/memory.c
    @inline(__always)
    func doPageMkwrite(_ vmf: inout VMFault, _ page: PFN,
                       _ hook: @EmuActor (inout VMFault) -> VMFaultResult) -> VMFaultResult {
        let saved = vmf.flags
        vmf.flags = [.write, .mkwrite]
        stats.pageMkwriteCalls += 1
        sched.charge(costs.hookCall)
        var ret = hook(&vmf)
        vmf.flags = saved
        event(.mkwrite(pgoff: vmf.pgoff, result: ret))
        if !ret.isDisjoint(with: VMFaultResult.error.union(.nopage)) { return ret }
        if !ret.contains(.locked) {
            phys.lockPage(page)
            if phys.frames[page.rawValue].mapping.isNone {
                // Truncated (or never in a page cache): let the access fault again.
                phys.unlockPage(page)
                stats.mkwriteRetries += 1
                return .zero
            }
            ret.insert(.locked)
        } else if !phys.isLocked(page) {
            warn("->page_mkwrite returned LOCKED but \(page) is not locked")  // VM_BUG_ON_PAGE without DEBUG_VM
        }
        return ret
    }

    /// Retakes the PTL after a hook ran and upgrades the PTE unless it changed (pte_same). Returns with the PTL
    /// released. Kernel: finish_mkwrite_fault() — mm/memory.c
    @inline(__always)
    func finishMkwriteFault(_ vmf: inout VMFault) -> VMFaultResult {
        guard let slot = vmf.vma.mm.pageTables.lookup(vmf.address) else { return .nopage }
        mapLock(&vmf, slot)
        if slot.read() != vmf.origPTE {
            stats.pteChangedBailouts += 1
            unmapUnlock(&vmf)
            return .nopage
        }
        wpPageReuse(&vmf)
        return .zero
    }

    /// Marks the page dirty through its mapping, unlocks it, and updates the file times when no ->page_mkwrite
    /// did so. Then, if the page belongs to a mapping (`page->mapping`: fb_defio's ->fault set it up to 6.14, not
    /// since) and was just dirtied or the VMA has ->page_mkwrite, the dirtier is throttled — and on a first attempt
    /// the fault's lock is dropped for that, so the fault ends here: COMPLETED since 5.19, RETRY before
    /// (`config.faultDirtySharedPageUnlock`). A page with no mapping (fb_defio since 6.15) returns 0 with the lock
    /// still held. Throttling itself is a no-op here (device memory has no writeback). Enters with the page locked.
    /// Kernel: fault_dirty_shared_page() — mm/memory.c (the same code in 6.12 and in the 2026 tree)
    @inline(__always)
    func faultDirtySharedPage(_ vmf: inout VMFault) -> VMFaultResult {
        let page = vmf.page!
        let pageMkwrite = vmf.vma.ops?.pageMkwrite != nil
        let dirtied = folioMarkDirty(page)
        // folio_raw_mapping(): read before the unlock, after which truncation could clear it.
        let mapping = phys.fileMapping(of: page)
        phys.unlockPage(page)
        if !pageMkwrite, let file = vmf.vma.file { fileUpdateTime(self, file) }
        guard dirtied || pageMkwrite, mapping != nil else { return .zero }
        switch config.faultDirtySharedPageUnlock {
        case .never:
            return .zero  // balance_dirty_pages_ratelimited() under the lock
        case .completed, .retry:
            guard maybeUnlockMmapForIO(vmf) else { return .zero }
            // balance_dirty_pages_ratelimited(mapping) runs here, unlocked: nothing to wait for on device memory.
            return config.faultDirtySharedPageUnlock == .completed ? .completed : .retry
        }
    }
}
