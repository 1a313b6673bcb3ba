// SPDX-License-Identifier: MIT — a missing PTE of a file mapping: do_fault(), __do_fault() and the read, COW and
// shared faults (kernel: mm/memory.c).
//
// Lock order and preemption points: as stated at the top of Memory.swift.

@EmuActor extension EmuKernel {
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
}
