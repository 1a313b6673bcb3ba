// SPDX-License-Identifier: MIT — the fault engine's entry, handle_mm_fault(), anonymous faults, PFN inserts and
// zapping (kernel: mm/memory.c, arch/x86/mm/fault.c); FileFault.swift has do_fault(), WriteProtectFault.swift
// do_wp_page().
//
// Lock order on these paths (kernel-spec.md §2.13): per-VMA lock or mmap_lock (read) → driver locks inside the
// hooks → page lock → PTL. Every function states what it enters and leaves with. Preemption points sit wherever the
// kernel takes or drops a lock (inside KLock/KRWSemaphore/lockPage) plus the named windows of PreemptionPoint.

@EmuActor extension EmuKernel {
    // MARK: - Architecture entry

    /// The user-fault entry of the emulated CPU: resolves one faulting access of `mm` at `address`.
    /// Returns nil when the access should be re-executed, or the signal the task gets.
    ///
    /// Tries the per-VMA lock first (when `config.perVMALocks`); a VMA that cannot be read-locked (being changed
    /// by a writer holding mmap_lock) sends the fault straight to `mmap_lock`, where it waits for the writer. A RETRY
    /// from under the VMA lock (the callee has released it) is redone under `mmap_lock`, and a RETRY under
    /// `mmap_lock` (lock released by the callee) is redone with FAULT_FLAG_TRIED. COMPLETED: done, lock released.
    /// Kernel: do_user_addr_fault() — arch/x86/mm/fault.c
    package func doUserAddrFault(_ mm: MM, _ address: VirtAddr, write: Bool) -> UserFault? {
        sched.charge(costs.faultEntry)
        stats.faultAttempts += 1
        sched.preempt(.faultEntry)
        var flags: FaultFlags = [.allowRetry, .killable, .user]
        if write { flags.insert(.write) }
        event(.fault(address: address, write: write))

        if config.perVMALocks, let vma = lockVMAUnderRCU(mm, address) {
            if accessError(vma, write: write) {
                vmaEndRead(vma)  // bad_area_access_error() releases it
                stats.vmaLockSuccess += 1
                return signal(.sigsegv(address, .accErr))
            }
            let ret = handleMMFault(vma, address, flags.union(.vmaLock))
            if !ret.contains(.retry) && !ret.contains(.completed) { vmaEndRead(vma) }
            if !ret.contains(.retry) {
                stats.vmaLockSuccess += 1
                return faultOutcome(ret, address)
            }
            stats.vmaLockRetries += 1
            // A retry after waiting for I/O (MAJOR) is a second attempt: under mmap_lock it must not drop the lock
            // and retry once more.
            if ret.contains(.major) { flags.insert(.tried) }
            event(.retry(address: address, result: ret, lock: .vmaLock))
        }

        while true {
            mm.mmapLock.downRead()
            guard let vma = mm.vmaLookup(address) else {
                mm.mmapLock.upRead()
                return signal(.sigsegv(address, .mapErr))
            }
            if accessError(vma, write: write) {
                mm.mmapLock.upRead()
                return signal(.sigsegv(address, .accErr))
            }
            let ret = handleMMFault(vma, address, flags)
            if ret.contains(.completed) { return faultOutcome(ret, address) }  // done, and mmap_lock released
            if ret.contains(.retry) {
                // The callee dropped mmap_lock; go around once more, marked as a second try.
                flags.insert(.tried)
                event(.retry(address: address, result: ret, lock: .mmapLock))
                continue
            }
            mm.mmapLock.upRead()
            return faultOutcome(ret, address)
        }
    }

    /// Kernel: access_error() — arch/x86/mm/fault.c
    func accessError(_ vma: VMArea, write: Bool) -> Bool {
        if write { return !vma.flags.contains(.write) }
        return vma.flags.isDisjoint(with: [.read, .write, .exec])
    }

    /// Maps a fault result to what the task sees (nil: re-execute the access).
    func faultOutcome(_ ret: VMFaultResult, _ address: VirtAddr) -> UserFault? {
        event(.faultResult(address: address, result: ret))
        if ret.contains(.oom) {
            if config.oomKillsOnUserFault { return signal(.oom(address)) }
            // pagefault_out_of_memory(): warn and let the access fault again.
            stats.oom += 1
            if stats.oom == 1 { warn("Huh VM_FAULT_OOM leaked out to the #PF handler. Retrying PF") }  // ratelimited
            return nil
        }
        if !ret.isDisjoint(with: [.sigbus, .hwpoison, .hwpoisonLarge]) { return signal(.sigbus(address)) }
        if ret.contains(.sigsegv) { return signal(.sigsegv(address, .accErr)) }
        return nil
    }

    func signal(_ f: UserFault) -> UserFault {
        switch f {
        case .sigsegv: stats.sigsegv += 1
        case .sigbus: stats.sigbus += 1
        case .oom: stats.oom += 1
        case .livelock: stats.livelocks += 1
        }
        event(.signal(f))
        return f
    }

    // MARK: - handle_mm_fault

    /// Kernel: handle_mm_fault() — mm/memory.c. Enters with the VMA lock or mmap_lock held for read.
    @inline(__always)
    package func handleMMFault(_ vma: VMArea, _ address: VirtAddr, _ flags: FaultFlags) -> VMFaultResult {
        let ret: VMFaultResult
        if let refused = sanitizeFaultFlags(vma, flags) {
            ret = refused
        } else {
            ret = __handleMMFault(vma, address, flags)
        }
        mmAccountFault(ret)
        return ret
    }

    /// A write fault must be possible on this VMA at all; the arch code has already refused plain permission
    /// violations, so reaching this is a kernel bug worth one warning. Kernel: sanitize_fault_flags() — mm/memory.c
    func sanitizeFaultFlags(_ vma: VMArea, _ flags: FaultFlags) -> VMFaultResult? {
        guard flags.contains(.write) else { return nil }
        if !vma.flags.contains(.mayWrite) {
            warnOnOnce("sanitize_fault_flags: !(vm_flags & VM_MAYWRITE)", "write fault on a VMA without VM_MAYWRITE")
            return .sigsegv
        }
        if !vma.flags.contains(.write) && !vma.isCOWMapping {
            warnOnOnce("sanitize_fault_flags: !(vm_flags & VM_WRITE) && !is_cow_mapping()",
                       "write fault on a shared VMA without VM_WRITE")
            return .sigsegv
        }
        return nil
    }

    /// Counts a fault in PGFAULT unless it is to be retried (it is counted when it completes). Failed faults count
    /// too, as they always have; only the per-task and perf counters, not modelled here, skip VM_FAULT_ERROR.
    /// Kernel: mm_account_fault() — mm/memory.c (since 6.4; before, handle_mm_fault counted every entry)
    func mmAccountFault(_ ret: VMFaultResult) {
        if ret.contains(.retry) { return }
        stats.faults += 1
    }

    /// Kernel: __handle_mm_fault() — mm/memory.c
    @inline(__always)
    func __handleMMFault(_ vma: VMArea, _ address: VirtAddr, _ flags: FaultFlags) -> VMFaultResult {
        var vmf = VMFault(vma: vma, address: address, flags: flags)
        // Upper page-table levels (and here the PTE table too) are allocated up front; no page lock is held.
        guard vma.mm.pageTables.allocate(vmf.address) != nil else { return .oom }
        return handlePTEFault(&vmf)
    }

    /// Kernel: handle_pte_fault() — mm/memory.c
    @inline(__always)
    func handlePTEFault(_ vmf: inout VMFault) -> VMFaultResult {
        let slot = vmf.vma.mm.pageTables.lookup(vmf.address)!
        let entry = slot.read()  // Read without the PTL, as the kernel does.
        if entry.isNone {
            return vmf.vma.isAnonymous ? doAnonymousPage(&vmf) : doFault(&vmf)
        }
        vmf.origPTE = entry
        vmf.flags.insert(.origPTEValid)
        mapLock(&vmf, slot)
        if slot.read() != vmf.origPTE {
            // Changed since we looked: somebody else handled it.
            stats.spuriousFaults += 1
            unmapUnlock(&vmf)
            return .zero
        }
        var newEntry = entry
        if !vmf.flags.isDisjoint(with: [.write, .unshare]) {
            if !entry.isWrite { return doWPPage(&vmf) }
            if vmf.flags.contains(.write) { newEntry = newEntry.mkdirty() }
        }
        newEntry = newEntry.mkyoung()
        stats.spuriousFaults += 1
        if newEntry != entry {
            slot.write(newEntry)  // ptep_set_access_flags()
            sched.charge(costs.pteUpdate)
        } else {
            fixSpuriousFault(vmf)
        }
        unmapUnlock(&vmf)
        return .zero
    }

    /// The PTE already allows the access, so a stale TLB entry raised the fault: drop it, for writes only. Not for
    /// a retried fault: the PTE it finds is its own first attempt's work, no TLB entry is stale.
    /// The model flushes as the generic flush_tlb_fix_spurious_fault() = flush_tlb_page(); x86 defines it empty,
    /// because the CPU itself drops the faulting entry, as `UserTask.translate` does before every fault.
    /// Kernel: fix_spurious_fault() — mm/memory.c (written inline in handle_pte_fault() in older kernels)
    func fixSpuriousFault(_ vmf: VMFault) {
        if vmf.flags.contains(.tried) { return }
        if vmf.flags.contains(.write) { flushTLBPage(vmf.vma.mm, vmf.address) }  // flush_tlb_fix_spurious_fault()
    }

    // MARK: - PTL helpers

    /// Takes the PTL of the page table holding `slot`. Kernel: pte_offset_map_lock()
    @inline(__always)
    func mapLock(_ vmf: inout VMFault, _ slot: PTESlot) {
        let ptl = phys.ptl(slot.table)
        ptl.lock()
        vmf.slot = slot
        vmf.ptl = ptl
    }

    /// Kernel: pte_unmap_unlock(vmf->pte, vmf->ptl)
    @inline(__always)
    func unmapUnlock(_ vmf: inout VMFault) {
        guard let ptl = vmf.ptl else { preconditionFailure("PTL not held") }
        vmf.ptl = nil
        ptl.unlock()
    }

    // MARK: - Missing PTE: anonymous memory

    /// Kernel: do_anonymous_page() — mm/memory.c. A read maps the shared zero page read-only; a write gets a
    /// fresh private page.
    func doAnonymousPage(_ vmf: inout VMFault) -> VMFaultResult {
        stats.anonFaults += 1
        let vma = vmf.vma
        let slot = vma.mm.pageTables.lookup(vmf.address)!
        var entry: PTE
        var page: PFN? = nil
        if !vmf.flags.contains(.write) {
            entry = PTE(pfn: phys.zeroPage, prot: vma.pageProt).mkspecial()
        } else {
            if vma.anonVMA == nil { vma.anonVMA = AnonVMA(phys: phys) }
            guard let p = phys.allocPage(zeroed: true) else { return .oom }
            setAnonRmap(p, vma, vmf.pgoff)
            page = p
            entry = PTE(pfn: p, prot: vma.pageProt).mkdirty()
            if vma.flags.contains(.write) { entry = entry.mkwrite() }
        }
        mapLock(&vmf, slot)
        if !slot.read().isNone {
            stats.spuriousFaults += 1
            unmapUnlock(&vmf)
            if let page { phys.putPage(page) }
            return .zero
        }
        if let page { phys.frames[page.rawValue].mapcount += 1 }
        setPTE(vmf.vma, vmf.address, slot, entry.mkyoung())
        unmapUnlock(&vmf)
        return .zero
    }

    func setAnonRmap(_ page: PFN, _ vma: VMArea, _ pgoff: PgOff) {
        phys.frames[page.rawValue].mapping = PageMapping(id: vma.anonVMA!.id, tag: .anon)
        phys.frames[page.rawValue].index = pgoff
        phys.frames[page.rawValue].flags.insert(.anonExclusive)
    }

    func setPTE(_ vma: VMArea, _ address: VirtAddr, _ slot: PTESlot, _ entry: PTE) {
        slot.write(entry)
        stats.ptesInstalled += 1
        sched.charge(costs.pteUpdate)
        event(.pteSet(address: address, pte: entry, mm: vma.mm.id))
    }

    // MARK: - vm_normal_page

    /// The page behind a PTE, or nil for special (PFN-map, zero page) entries. Kernel: vm_normal_page()
    package func vmNormalPage(_ vma: VMArea, _ pte: PTE) -> PFN? {
        if pte.isSpecial { return nil }
        let pfn = pte.pfn
        guard phys.pfnValid(pfn), pfn != phys.zeroPage else { return nil }
        return pfn
    }

    // MARK: - PFN maps

    /// Kernel: vmf_insert_mixed() — mm/memory.c (x86 has special PTEs, so this is insert_pfn too).
    package func vmfInsertMixed(_ vma: VMArea, _ address: VirtAddr, _ pfn: PFN) -> VMFaultResult {
        precondition(vma.flags.contains(.mixedMap), "vmf_insert_mixed needs VM_MIXEDMAP")
        return insertPFN(vma, address, pfn)
    }

    /// Inserts a special PTE for `pfn` (no struct-page reference); an entry already there is left alone.
    /// Kernel: insert_pfn() with mkwrite false — mm/memory.c
    func insertPFN(_ vma: VMArea, _ address: VirtAddr, _ pfn: PFN) -> VMFaultResult {
        guard vma.contains(address) else { return .sigbus }
        guard let slot = vma.mm.pageTables.allocate(address.pageAligned) else { return .oom }
        let ptl = phys.ptl(slot.table)
        ptl.lock()
        if !slot.read().isNone {
            ptl.unlock()
            return .nopage
        }
        stats.pfnInserts += 1
        setPTE(vma, address.pageAligned, slot, PTE(pfn: pfn, prot: vma.pageProt).mkspecial())
        ptl.unlock()
        return .nopage
    }

    // MARK: - Zapping

    /// Clears every PTE in [start, end) of `vma`, dropping the page references the PTEs held (dirty PTEs mark their
    /// page dirty), then flushes the TLB for the range once. Kernel: zap_pte_range() with an mmu_gather
    func zapPTERange(_ vma: VMArea, _ start: VirtAddr, _ end: VirtAddr) {
        var zapped = 0
        var address = start
        var held: (table: PFN, lock: KLock)? = nil
        while address < end {
            if let slot = vma.mm.pageTables.lookup(address) {
                if held?.table != slot.table {
                    // One PTL per page table, as zap_pte_range() takes it per PMD.
                    if let h = held { h.lock.unlock() }
                    let l = phys.ptl(slot.table)
                    l.lock()
                    held = (slot.table, l)
                }
                let pte = slot.read()
                if !pte.isNone {
                    slot.write(.none)
                    zapped += 1
                    if let page = vmNormalPage(vma, pte) {
                        // A file page learns of the write through its mapping; an anonymous one needs no flag.
                        if pte.isDirty && !phys.frames[page.rawValue].mapping.isAnon { folioMarkDirty(page) }
                        phys.frames[page.rawValue].mapcount -= 1
                        phys.putPage(page)
                    }
                    event(.pteZap(address: address, pte: pte, mm: vma.mm.id))
                }
            }
            address = address + PAGE_SIZE
        }
        if let h = held { h.lock.unlock() }
        stats.ptesZapped += zapped
        sched.charge(VirtualTime(picoseconds: costs.pteUpdate.picoseconds * Int64(zapped)))
        if zapped > 0 { flushTLBRange(vma.mm, start, end) }
    }
}
