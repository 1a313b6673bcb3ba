// SPDX-License-Identifier: MIT — the fault engine (kernel: mm/memory.c, arch/x86/mm/fault.c).
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
    public func doUserAddrFault(_ mm: MM, _ address: VirtAddr, write: Bool) -> UserFault? {
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
    public func handleMMFault(_ vma: VMArea, _ address: VirtAddr, _ flags: FaultFlags) -> VMFaultResult {
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

    // MARK: - Missing PTE: file memory (do_fault)

    /// Kernel: do_fault() — mm/memory.c
    func doFault(_ vmf: inout VMFault) -> VMFaultResult {
        let vma = vmf.vma
        guard vma.ops?.fault != nil else {
            // No ->fault: SIGBUS unless somebody installed the PTE meanwhile.
            let slot = vma.mm.pageTables.lookup(vmf.address)!
            mapLock(&vmf, slot)
            let ret: VMFaultResult = slot.read().isNone ? .sigbus : .nopage
            unmapUnlock(&vmf)
            return ret
        }
        if !vmf.flags.contains(.write) { return doReadFault(&vmf) }
        if !vma.flags.contains(.shared) { return doCOWFault(&vmf) }
        return doSharedFault(&vmf)
    }

    /// Without fault-around (`map_pages`), a hook may only be called under mmap_lock: under the VMA lock, release
    /// it and ask for a retry. Kernel: vmf_can_call_fault() — mm/memory.c
    @inline(__always)
    func vmfCanCallFault(_ vmf: inout VMFault) -> VMFaultResult {
        guard vmf.flags.contains(.vmaLock) else { return .zero }
        vmaEndRead(vmf.vma)
        return .retry
    }

    /// Releases whichever lock the fault holds. Kernel: release_fault_lock() — include/linux/mm.h
    @inline(__always)
    func releaseFaultLock(_ vmf: VMFault) {
        if vmf.flags.contains(.vmaLock) {
            vmaEndRead(vmf.vma)
        } else {
            vmf.vma.mm.mmapLock.upRead()  // mmap_read_unlock()
        }
    }

    /// Drops the fault's lock before something that may sleep for I/O, but only on a first attempt that may be
    /// retried (FAULT_FLAG_ALLOW_RETRY without TRIED or RETRY_NOWAIT). Returns whether it did; the file stays pinned
    /// by the VMA. Kernel: maybe_unlock_mmap_for_io() — mm/internal.h
    func maybeUnlockMmapForIO(_ vmf: VMFault) -> Bool {
        let f = vmf.flags
        guard f.contains(.allowRetry), !f.contains(.tried), !f.contains(.retryNowait) else { return false }
        releaseFaultLock(vmf)
        return true
    }

    /// Calls ->fault and returns with the page locked and referenced.
    /// Kernel: __do_fault() — mm/memory.c
    func __doFault(_ vmf: inout VMFault) -> VMFaultResult {
        stats.faultHookCalls += 1
        sched.charge(costs.hookCall)
        let ret = vmf.vma.ops!.fault!(&vmf)
        event(.faultHook(pgoff: vmf.pgoff, result: ret))
        if !ret.isDisjoint(with: VMFaultResult.error.union([.nopage, .retry, .doneCOW])) { return ret }
        guard let page = vmf.page else {
            warn("->fault returned \(ret) without a page")
            return .sigbus
        }
        if !ret.contains(.locked) {
            phys.lockPage(page)
        } else if !phys.isLocked(page) {
            warn("->fault returned LOCKED but \(page) is not locked")  // VM_BUG_ON_PAGE without DEBUG_VM
        }
        return ret
    }

    /// Kernel: do_read_fault() — mm/memory.c. The PTE installed is read-only (vm_page_prot).
    func doReadFault(_ vmf: inout VMFault) -> VMFaultResult {
        stats.readFaults += 1
        var ret = vmfCanCallFault(&vmf)
        if !ret.isEmpty { return ret }
        ret = __doFault(&vmf)
        if !ret.isDisjoint(with: VMFaultResult.error.union([.nopage, .retry])) { return ret }
        let page = vmf.page!
        ret.formUnion(finishFault(&vmf))
        phys.unlockPage(page)
        if !ret.isDisjoint(with: VMFaultResult.error.union([.nopage, .retry])) { phys.putPage(page) }
        return ret
    }

    /// A write to a private file mapping: the page is copied and the copy mapped; ->page_mkwrite is never called
    /// and the file never sees the write. Kernel: do_cow_fault() — mm/memory.c
    func doCOWFault(_ vmf: inout VMFault) -> VMFaultResult {
        stats.cowFaults += 1
        var ret = vmfCanCallFault(&vmf)
        if !ret.isEmpty { return ret }
        if vmf.vma.anonVMA == nil { vmf.vma.anonVMA = AnonVMA(phys: phys) }
        guard let cow = phys.allocPage(zeroed: false) else { return .oom }
        vmf.cowPage = cow
        ret = __doFault(&vmf)
        if !ret.isDisjoint(with: VMFaultResult.error.union([.nopage, .retry, .doneCOW])) {
            phys.putPage(cow)
            return ret
        }
        let page = vmf.page!
        phys.address(of: cow).copyMemory(from: phys.address(of: page), byteCount: PAGE_SIZE)
        sched.charge(costs.copy(PAGE_SIZE))
        setAnonRmap(cow, vmf.vma, vmf.pgoff)
        event(.cowCopy(from: page.rawValue, to: cow.rawValue))
        ret.formUnion(finishFault(&vmf))
        phys.unlockPage(page)
        phys.putPage(page)
        if !ret.isDisjoint(with: VMFaultResult.error.union([.nopage, .retry])) { phys.putPage(cow) }
        return ret
    }

    /// A write to a shared file mapping with no PTE yet: ->fault, then ->page_mkwrite, then a writable dirty PTE.
    /// Kernel: do_shared_fault() — mm/memory.c
    @inline(__always)
    func doSharedFault(_ vmf: inout VMFault) -> VMFaultResult {
        stats.sharedFaults += 1
        var ret = vmfCanCallFault(&vmf)
        if !ret.isEmpty { return ret }
        ret = __doFault(&vmf)
        if !ret.isDisjoint(with: VMFaultResult.error.union([.nopage, .retry])) { return ret }
        let page = vmf.page!
        if let mkwrite = vmf.vma.ops?.pageMkwrite {
            // The page is unlocked while the driver runs; do_page_mkwrite returns with it locked again.
            phys.unlockPage(page)
            let tmp = doPageMkwrite(&vmf, page, mkwrite)
            if tmp.isEmpty || !tmp.isDisjoint(with: VMFaultResult.error.union(.nopage)) {
                phys.putPage(page)
                return tmp
            }
            sched.preempt(.afterMkwrite)
        }
        ret.formUnion(finishFault(&vmf))
        if !ret.isDisjoint(with: VMFaultResult.error.union([.nopage, .retry])) {
            phys.unlockPage(page)
            phys.putPage(page)
            return ret
        }
        ret.formUnion(faultDirtySharedPage(&vmf))
        return ret
    }

    /// Installs the PTE for a page found by ->fault (or its COW copy) unless the PTE changed meanwhile.
    /// Enters with the page locked; the page's reference passes to the PTE.
    /// Kernel: finish_fault() + set_pte_range() — mm/memory.c
    func finishFault(_ vmf: inout VMFault) -> VMFaultResult {
        sched.preempt(.beforeFinishFault)
        let vma = vmf.vma
        let write = vmf.flags.contains(.write)
        let cow = write && !vma.flags.contains(.shared)
        let page = cow ? vmf.cowPage! : vmf.page!
        guard let slot = vma.mm.pageTables.allocate(vmf.address) else { return .oom }
        mapLock(&vmf, slot)
        // vmf_pte_changed()
        let current = slot.read()
        let changed = vmf.flags.contains(.origPTEValid) ? current != vmf.origPTE : !current.isNone
        if changed {
            stats.pteChangedBailouts += 1
            unmapUnlock(&vmf)
            return .nopage
        }
        var entry = PTE(pfn: page, prot: vma.pageProt).mkyoung()
        if write {
            entry = entry.mkdirty()
            if vma.flags.contains(.write) { entry = entry.mkwrite() }  // maybe_mkwrite()
        }
        phys.frames[page.rawValue].mapcount += 1  // folio_add_file_rmap_ptes() / folio_add_new_anon_rmap()
        setPTE(vma, vmf.address, slot, entry)
        unmapUnlock(&vmf)
        return .zero
    }

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

    /// The page behind a PTE, or nil for special (PFN-map, zero page) entries. Kernel: vm_normal_page()
    public func vmNormalPage(_ vma: VMArea, _ pte: PTE) -> PFN? {
        if pte.isSpecial { return nil }
        let pfn = pte.pfn
        guard phys.pfnValid(pfn), pfn != phys.zeroPage else { return nil }
        return pfn
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

    // MARK: - PFN maps

    /// Inserts a special PTE for `pfn` (no struct-page reference). Kernel: vmf_insert_pfn() — mm/memory.c
    public func vmfInsertPFN(_ vma: VMArea, _ address: VirtAddr, _ pfn: PFN) -> VMFaultResult {
        precondition(vma.flags.contains(.pfnMap) != vma.flags.contains(.mixedMap), "exactly one of PFNMAP/MIXEDMAP")
        precondition(!(vma.flags.contains(.pfnMap) && vma.isCOWMapping), "a PFNMAP must not be a COW mapping")
        return insertPFN(vma, address, pfn, mkwrite: false)
    }

    /// Kernel: vmf_insert_mixed() — mm/memory.c (x86 has special PTEs, so this is insert_pfn too).
    public func vmfInsertMixed(_ vma: VMArea, _ address: VirtAddr, _ pfn: PFN) -> VMFaultResult {
        precondition(vma.flags.contains(.mixedMap), "vmf_insert_mixed needs VM_MIXEDMAP")
        return insertPFN(vma, address, pfn, mkwrite: false)
    }

    /// Kernel: vmf_insert_mixed_mkwrite() — used from ->pfn_mkwrite to make the entry writable.
    public func vmfInsertMixedMkwrite(_ vma: VMArea, _ address: VirtAddr, _ pfn: PFN) -> VMFaultResult {
        precondition(vma.flags.contains(.mixedMap), "vmf_insert_mixed_mkwrite needs VM_MIXEDMAP")
        return insertPFN(vma, address, pfn, mkwrite: true)
    }

    /// Kernel: insert_pfn() — mm/memory.c
    func insertPFN(_ vma: VMArea, _ address: VirtAddr, _ pfn: PFN, mkwrite: Bool) -> VMFaultResult {
        guard vma.contains(address) else { return .sigbus }
        guard let slot = vma.mm.pageTables.allocate(address.pageAligned) else { return .oom }
        let ptl = phys.ptl(slot.table)
        ptl.lock()
        let current = slot.read()
        if !current.isNone {
            if mkwrite {
                if current.pfn != pfn {
                    if current.pfn != phys.zeroPage {
                        warnOnOnce("insert_pfn: !is_zero_pfn(pte_pfn(entry))",
                                   "insert_pfn: \(address) already maps \(current.pfn), not \(pfn)")
                    }
                } else {
                    var entry = current.mkyoung().mkdirty()
                    if vma.flags.contains(.write) { entry = entry.mkwrite() }
                    if entry != current { setPTE(vma, address.pageAligned, slot, entry) }
                }
            }
            ptl.unlock()
            return .nopage
        }
        var entry = PTE(pfn: pfn, prot: vma.pageProt).mkspecial()
        if mkwrite {
            entry = entry.mkyoung().mkdirty()
            if vma.flags.contains(.write) { entry = entry.mkwrite() }
        }
        stats.pfnInserts += 1
        setPTE(vma, address.pageAligned, slot, entry)
        ptl.unlock()
        return .nopage
    }

    // MARK: - TLB

    /// Kernel: flush_tlb_page() → flush_tlb_mm_range() — arch/x86/mm/tlb.c
    public func flushTLBPage(_ mm: MM, _ address: VirtAddr) {
        stats.tlbFlushPage += 1
        sched.charge(costs.tlbFlushPage)
        shootDown(mm) { $0.flushPage(address) }
        event(.tlbFlush(address: address, pages: 1, mm: mm.id))
    }

    /// Kernel: flush_tlb_range() → flush_tlb_mm_range()
    public func flushTLBRange(_ mm: MM, _ start: VirtAddr, _ end: VirtAddr) {
        stats.tlbFlushRange += 1
        let pages = Int64((end - start) >> PAGE_SHIFT)
        sched.charge(costs.tlbFlushRange + VirtualTime(picoseconds: costs.tlbFlushRangePerPage.picoseconds * pages))
        shootDown(mm) { $0.flushRange(start, end) }
        event(.tlbFlush(address: start, pages: Int(pages), mm: mm.id))
    }

    /// Kernel: flush_tlb_mm()
    public func flushTLBMM(_ mm: MM) {
        stats.tlbFlushAll += 1
        sched.charge(costs.tlbFlushRange)
        shootDown(mm) { $0.flushAll() }
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

    /// A kernel warning that does not stop the machine, reported every time (`warnOnOnce` for the once-only
    /// kind). Kernel: WARN_ON() / dev_warn() / pr_warn(), and VM_BUG_ON turned into a warning
    public func warn(_ text: String) {
        sched.report("WARNING: \(text)")
    }
}
