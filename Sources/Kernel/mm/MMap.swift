// SPDX-License-Identifier: MIT — mapping system calls (kernel: mm/mmap.c, mm/vma.c, mm/mprotect.c, kernel/fork.c
// dup_mmap, mm/memory.c copy_page_range).

@EmuActor extension EmuKernel {
    // MARK: - mmap

    /// Creates a mapping. `file` nil means anonymous memory (only private anonymous mappings are modelled).
    /// Kernel: do_mmap() + mmap_region() — mm/mmap.c
    package func doMmap(_ mm: MM, file: KFile?, address hint: VirtAddr?, length: Int, prot: Prot, flags: MapFlags,
                       pgoff: PgOff) throws(Errno) -> VirtAddr {
        guard length > 0 else { throw .EINVAL }
        let len = pageAlign(length)
        guard flags.contains(.shared) != flags.contains(.private) else { throw .EINVAL }
        guard pgoff.rawValue >= 0, pgoff.rawValue <= Int.max >> PAGE_SHIFT - (len >> PAGE_SHIFT) else { throw .EOVERFLOW }
        var vmFlags = VMFlags([.mayRead, .mayWrite, .mayExec])
        if prot.contains(.read) { vmFlags.insert(.read) }
        if prot.contains(.write) { vmFlags.insert(.write) }
        if prot.contains(.exec) { vmFlags.insert(.exec) }
        if let file {
            guard !flags.contains(.anonymous) else { throw .EINVAL }
            if flags.contains(.shared) {
                if prot.contains(.write) && !file.mode.contains(.write) { throw .EACCES }
                vmFlags.formUnion([.shared, .mayShare])
                if !file.mode.contains(.write) { vmFlags.subtract([.mayWrite, .shared]) }
            }
            if !file.mode.contains(.read) { throw .EACCES }
        } else {
            guard flags.contains(.anonymous) else { throw .EBADF }
            guard flags.contains(.private) else { throw .EINVAL }  // shared anonymous memory is not modelled
        }

        sched.charge(costs.vmaUpdate)
        mmapWriteLock(mm)
        let start: VirtAddr
        if flags.contains(.fixed) {
            guard let hint, hint.isPageAligned, hint >= mm.mmapMin, hint + len <= mm.mmapBase else {
                mmapWriteUnlock(mm)
                throw .EINVAL
            }
            start = hint
            doVmiMunmap(mm, start, start + len)  // MAP_FIXED replaces whatever was there.
        } else {
            guard let free = getUnmappedArea(mm, len) else {
                mmapWriteUnlock(mm)
                throw .ENOMEM
            }
            start = free
        }
        let vma = VMArea(id: allocVMAId(), mm: mm, start: start, end: start + len,
                         pgoff: file == nil ? PgOff(Int(start.vpn)) : pgoff, flags: vmFlags)
        if let file {
            file.get()
            vma.file = file
            if let mmapHook = file.ops.mmap, let err = mmapHook(file, vma) {
                file.put()
                mmapWriteUnlock(mm)
                throw err
            }
        }
        // Write-locked before it becomes visible: a fault that finds it before the mmap is complete (its page
        // protection not final yet) waits for mmap_lock instead (kernel: __mmap_new_vma()).
        vmaStartWrite(vma)
        mm.insertVMA(vma)
        if let file { linkFileVMA(vma, file.mapping) }
        vma.setPageProt()
        event(.mmap(start: vma.start, end: vma.end, pgoff: vma.pgoff, flags: vma.flags, ops: vma.ops?.name))
        mmapWriteUnlock(mm)
        return start
    }

    /// Top-down search for a free range below `mmapBase`. Kernel: get_unmapped_area() (topdown)
    func getUnmappedArea(_ mm: MM, _ len: Int) -> VirtAddr? {
        var top = mm.mmapBase
        for vma in mm.vmas.reversed() {
            if vma.start >= top { continue }
            if vma.end <= top, top - vma.end >= len { return top + (-len) }
            top = min(top, vma.start)
        }
        guard top - mm.mmapMin >= len else { return nil }
        return top + (-len)
    }

    /// Inserts a file VMA into its mapping's i_mmap tree. Kernel: vma_link_file()
    func linkFileVMA(_ vma: VMArea, _ mapping: AddressSpace, after prev: VMArea? = nil) {
        mapping.iMmapRwsem.downWrite()
        __vmaLinkFile(vma, mapping, after: prev)
        mapping.iMmapRwsem.upWrite()
    }

    /// Kernel: __vma_link_file() — the caller holds i_mmap_rwsem for write.
    func __vmaLinkFile(_ vma: VMArea, _ mapping: AddressSpace, after prev: VMArea? = nil) {
        if let prev, let h = prev.iMmapHandle {
            vma.iMmapHandle = mapping.iMmap.insert(vma, first: vma.pgoff.rawValue, last: vma.lastPgoff.rawValue, after: h)
        } else {
            vma.iMmapHandle = mapping.iMmap.insert(vma, first: vma.pgoff.rawValue, last: vma.lastPgoff.rawValue)
        }
    }

    /// Kernel: __remove_shared_vm_struct() — the caller holds i_mmap_rwsem for write.
    func __vmaUnlinkFile(_ vma: VMArea, _ mapping: AddressSpace) {
        guard let h = vma.iMmapHandle else { return }
        mapping.iMmap.remove(h)
        vma.iMmapHandle = nil
    }

    /// Kernel: unlink_file_vma() — mm/mmap.c
    func unlinkFileVMA(_ vma: VMArea) {
        guard let file = vma.file, vma.iMmapHandle != nil else { return }
        file.mapping.iMmapRwsem.downWrite()
        __vmaUnlinkFile(vma, file.mapping)
        file.mapping.iMmapRwsem.upWrite()
    }

    // MARK: - munmap

    /// Kernel: __vm_munmap() — mm/mmap.c
    package func doMunmap(_ mm: MM, _ address: VirtAddr, _ length: Int) throws(Errno) {
        guard address.isPageAligned, length > 0 else { throw .EINVAL }
        sched.charge(costs.vmaUpdate)
        mmapWriteLock(mm)
        doVmiMunmap(mm, address, address + pageAlign(length))
        mmapWriteUnlock(mm)
    }

    /// Removes every mapping in [start, end), splitting VMAs that straddle the edges. First every VMA of the range
    /// is write-locked, detached and taken out of the tree (so no fault can find or hold it any more), then each is
    /// torn down. Enters and leaves with mmap_lock held for write (the kernel's munmap downgrades it to read for the
    /// teardown; the model keeps it). Kernel: do_vmi_munmap() / do_vmi_align_munmap() — mm/vma.c
    func doVmiMunmap(_ mm: MM, _ start: VirtAddr, _ end: VirtAddr) {
        mm.mmapLock.assertWriteHeld()
        for vma in mm.vmas where vma.end > start && vma.start < end {
            if vma.start < start { splitVMA(vma, at: start) }
        }
        for vma in mm.vmas where vma.end > start && vma.start < end {
            if vma.end > end { splitVMA(vma, at: end) }
        }
        let doomed = mm.vmas.filter { $0.start >= start && $0.end <= end }
        for vma in doomed { detachVMA(vma) }  // vms_gather_munmap_vmas() + vma_iter_clear_gfp()
        for vma in doomed {
            removeVMA(vma)  // vms_complete_munmap_vmas()
            event(.munmap(start: vma.start, length: vma.end - vma.start))
        }
    }

    /// Write-locks `vma` (waiting for faults that hold it for read), detaches it and takes it out of the mm's tree.
    /// Kernel: vma_start_write() + vma_mark_detached() — mm/vma.c vms_gather_munmap_vmas(), then
    /// vma_iter_clear_gfp()
    func detachVMA(_ vma: VMArea) {
        vmaStartWrite(vma)
        vmaMarkDetached(vma)
        vma.mm.removeVMA(vma)
    }

    /// Tears a detached VMA down: zap its PTEs, unlink it from i_mmap, call ->close and drop its file reference.
    /// Kernel: unmap_region() + remove_vma() — mm/vma.c
    func removeVMA(_ vma: VMArea) {
        precondition(vma.vmRefcnt == 0, "remove_vma of an attached VMA")
        zapPTERange(vma, vma.start, vma.end)
        unlinkFileVMA(vma)
        vma.ops?.close?(vma)
        if let file = vma.file {
            vma.file = nil
            file.put()
        }
    }

    /// Splits `vma` at `address`: the VMA keeps the lower part and a new VMA (->open called on it) takes the upper.
    /// Both are write-locked before `vma` shrinks, so a fault holding `vma` for read finishes first and a later one
    /// waits for mmap_lock: none sees the range half moved. Enters with mmap_lock held for write.
    /// Kernel: __split_vma() — mm/vma.c
    func splitVMA(_ vma: VMArea, at address: VirtAddr) {
        precondition(address > vma.start && address < vma.end && address.isPageAligned)
        vma.mm.mmapLock.assertWriteHeld()
        sched.charge(costs.vmaUpdate)
        let upper = VMArea(id: allocVMAId(), mm: vma.mm, start: address, end: vma.end,
                           pgoff: vma.linearPageIndex(address), flags: vma.flags)
        upper.pageProt = vma.pageProt
        upper.ops = vma.ops
        upper.privateData = vma.privateData
        upper.anonVMA = vma.anonVMA
        if let file = vma.file {
            file.get()
            upper.file = file
        }
        upper.ops?.open?(upper)
        vmaStartWrite(vma)
        vmaStartWrite(upper)
        if let file = vma.file {
            // One i_mmap_rwsem critical section around the whole change: an rmap walk must never find the file
            // range half unlinked (kernel: vma_prepare() / vma_complete()).
            file.mapping.iMmapRwsem.downWrite()
            __vmaUnlinkFile(vma, file.mapping)
            vma.end = address
            __vmaLinkFile(vma, file.mapping)
            __vmaLinkFile(upper, file.mapping)
            file.mapping.iMmapRwsem.upWrite()
        } else {
            vma.end = address
        }
        vma.mm.insertVMA(upper)
    }

    // MARK: - mprotect

    /// Changes the protection of [address, address+length). Kernel: do_mprotect_pkey() + mprotect_fixup() +
    /// change_protection() — mm/mprotect.c (no VMA merging).
    package func doMprotect(_ mm: MM, _ address: VirtAddr, _ length: Int, _ prot: Prot) throws(Errno) {
        guard address.isPageAligned, length >= 0 else { throw .EINVAL }
        if length == 0 { return }
        let end = address + pageAlign(length)
        sched.charge(costs.vmaUpdate)
        mmapWriteLock(mm)
        // The range must be fully mapped, and every VMA must allow what is asked.
        var cursor = address
        for vma in mm.vmas where vma.end > address && vma.start < end {
            if vma.start > cursor { break }
            if prot.contains(.write) && !vma.flags.contains(.mayWrite) {
                mmapWriteUnlock(mm)
                throw .EACCES
            }
            cursor = vma.end
        }
        guard cursor >= end else {
            mmapWriteUnlock(mm)
            throw .ENOMEM
        }
        for vma in mm.vmas where vma.end > address && vma.start < end {
            if vma.start < address { splitVMA(vma, at: address) }
        }
        for vma in mm.vmas where vma.end > address && vma.start < end {
            if vma.end > end { splitVMA(vma, at: end) }
        }
        for vma in mm.vmas where vma.start >= address && vma.end <= end {
            // Write-locked until mmap_write_unlock, not just for this VMA's turn: a fault must not see one VMA of
            // the range changed while the syscall is still working on the next (kernel: mprotect_fixup()).
            vmaStartWrite(vma)
            var flags = vma.flags.subtracting([.read, .write, .exec])
            if prot.contains(.read) { flags.insert(.read) }
            if prot.contains(.write) { flags.insert(.write) }
            if prot.contains(.exec) { flags.insert(.exec) }
            vma.flags = flags
            vma.setPageProt()
            changeProtection(vma)
            event(.mprotect(start: vma.start, end: vma.end, pgoff: vma.pgoff, flags: vma.flags, ops: vma.ops?.name,
                            prot: prot))
        }
        mmapWriteUnlock(mm)
    }

    /// Rewrites every present PTE of `vma` for its new `pageProt`. A write-notify shared mapping may regain write
    /// access directly only for dirty PTEs (they were already notified); clean ones stay read-only and fault.
    /// Kernel: change_pte_range() + can_change_pte_writable() — mm/mprotect.c
    func changeProtection(_ vma: VMArea) {
        var changed = 0
        var address = vma.start
        while address < vma.end {
            if let slot = vma.mm.pageTables.lookup(address) {
                let old = slot.read()
                if old.isPresent {
                    var new = old.modify(vma.pageProt)
                    if vma.flags.contains(.write) && !new.isWrite && vma.flags.contains(.shared)
                        && vma.wantsWritenotify && old.isDirty && !new.isProtNone {
                        new = new.mkwrite()
                    }
                    if new != old {
                        slot.write(new)
                        changed += 1
                    }
                }
            }
            address = address + PAGE_SIZE
        }
        sched.charge(VirtualTime(picoseconds: costs.pteUpdate.picoseconds * Int64(changed)))
        if changed > 0 { flushTLBRange(vma.mm, vma.start, vma.end) }
    }

    // MARK: - fork and exit

    /// Duplicates an address space for a child. Every VMA of the parent is write-locked first, so a fault of
    /// another thread of the parent cannot change its PTEs while they are copied (it waits for mmap_lock). Shared
    /// file VMAs are copied without their PTEs (the child faults them in); private mappings with anonymous pages
    /// and PFN maps copy PTEs, write-protecting COW pages in both.
    ///
    /// Out of memory midway (the child's PGD or a page-table page for a copied PTE), the child is unwound
    /// completely and nil returned: every VMA copied so far is zapped, taken out of `i_mmap`, closed and drops its
    /// file reference, and the child's page tables are freed. The parent's PTEs write-protected up to that point
    /// stay so (a later write fault reuses the page) and its TLB is flushed all the same.
    /// Kernel: dup_mmap() + copy_page_range() — mm/mmap.c (kernel/fork.c before 6.14), mm/memory.c; the failure
    /// path: dup_mmap()'s teardown of the copied VMAs (unmap_region(), tear_down_vmas()) and dup_mm()'s mmput() →
    /// exit_mmap()
    package func dupMM(_ parent: MM) -> MM? {
        mmapWriteLock(parent)
        defer { mmapWriteUnlockNoPreempt(parent) }
        guard let child = MM(kernel: self) else { return nil }
        var wrprotected = false
        var outOfMemory = false
        copying: for vma in parent.vmas {
            vmaStartWrite(vma)
            if vma.flags.contains(.dontCopy) { continue }
            sched.charge(costs.vmaUpdate)
            let copy = VMArea(id: allocVMAId(), mm: child, start: vma.start, end: vma.end, pgoff: vma.pgoff,
                              flags: vma.flags)
            copy.pageProt = vma.pageProt
            copy.ops = vma.ops
            copy.privateData = vma.privateData
            copy.anonVMA = vma.anonVMA
            child.insertVMA(copy)
            copy.ops?.open?(copy)
            if let file = vma.file {
                file.get()
                copy.file = file
                linkFileVMA(copy, file.mapping, after: vma)
            }
            let needsCopy = !vma.flags.isDisjoint(with: [.pfnMap, .mixedMap]) || vma.anonVMA != nil
            guard needsCopy else { continue }
            var address = vma.start
            while address < vma.end {
                if let src = parent.pageTables.lookup(address), case let pte = src.read(), !pte.isNone {
                    guard let dst = child.pageTables.allocate(address) else {
                        outOfMemory = true
                        break copying
                    }
                    var entry = pte
                    if vma.isCOWMapping && pte.isWrite {
                        entry = pte.wrprotected()
                        src.write(entry)
                        wrprotected = true
                    }
                    if let page = vmNormalPage(vma, pte) {
                        phys.getPage(page)
                        phys.frames[page.rawValue].mapcount += 1
                        if vma.isCOWMapping { phys.frames[page.rawValue].flags.remove(.anonExclusive) }
                    }
                    dst.write(entry)
                }
                address = address + PAGE_SIZE
            }
        }
        if wrprotected { flushTLBMM(parent) }
        if outOfMemory {
            exitMMap(child)
            return nil
        }
        event(.fork(parent: parent.id, child: child.id))
        return child
    }

    /// Tears down every mapping and the page tables. Kernel: exit_mmap() — mm/mmap.c
    package func exitMMap(_ mm: MM) {
        mmapWriteLock(mm)
        for vma in mm.vmas {
            detachVMA(vma)  // tear_down_vmas(): vma_mark_detached() (free_pgtables() write-locked it)
            removeVMA(vma)
        }
        mmapWriteUnlockNoPreempt(mm)
        // Not a counted flush: no CPU runs this address space any more and its ASID dies with it, so no IPI
        // is sent. Kernel: the fullmm tlb_finish_mmu() of exit_mmap() (arm64's tlb_flush() skips it outright)
        for tlb in mm.tlbs { tlb.invalidateAll() }
        mm.pageTables.freeAll()
        event(.exit(mm: mm.id))
    }
}
