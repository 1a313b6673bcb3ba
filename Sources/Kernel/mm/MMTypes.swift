// SPDX-License-Identifier: MIT — mm_struct, vm_area_struct, vm_operations_struct, vm_fault, address_space, file
// (kernel: include/linux/mm_types.h, include/linux/mm.h, include/linux/fs.h).

/// The result of a fault handler or hook: bits ORed together, with the kernel's values.
/// Kernel: `vm_fault_t`, enum vm_fault_reason in include/linux/mm_types.h
public struct VMFaultResult: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    package static let oom = VMFaultResult(rawValue: 0x0001)
    public static let sigbus = VMFaultResult(rawValue: 0x0002)
    package static let major = VMFaultResult(rawValue: 0x0004)
    package static let hwpoison = VMFaultResult(rawValue: 0x0010)
    package static let hwpoisonLarge = VMFaultResult(rawValue: 0x0020)
    package static let sigsegv = VMFaultResult(rawValue: 0x0040)
    package static let nopage = VMFaultResult(rawValue: 0x0100)
    public static let locked = VMFaultResult(rawValue: 0x0200)
    package static let retry = VMFaultResult(rawValue: 0x0400)
    package static let fallback = VMFaultResult(rawValue: 0x0800)
    package static let doneCOW = VMFaultResult(rawValue: 0x1000)
    package static let needDSync = VMFaultResult(rawValue: 0x2000)
    package static let completed = VMFaultResult(rawValue: 0x4000)
    /// Kernel: VM_FAULT_ERROR
    package static let error: VMFaultResult = [.oom, .sigbus, .sigsegv, .hwpoison, .hwpoisonLarge, .fallback]
    /// Kernel: a return of 0 — "done", or for `page_mkwrite` "retry the access".
    public static let zero: VMFaultResult = []

    public var description: String {
        if isEmpty { return "0" }
        let names: [(VMFaultResult, String)] = [
            (.oom, "OOM"), (.sigbus, "SIGBUS"), (.major, "MAJOR"), (.hwpoison, "HWPOISON"), (.sigsegv, "SIGSEGV"),
            (.nopage, "NOPAGE"), (.locked, "LOCKED"), (.retry, "RETRY"), (.fallback, "FALLBACK"),
            (.doneCOW, "DONE_COW"), (.needDSync, "NEEDDSYNC"), (.completed, "COMPLETED"),
        ]
        return names.filter { contains($0.0) }.map(\.1).joined(separator: "|")
    }
}

/// Flags describing a fault, the ones the model uses, with the kernel's bit values.
/// Kernel: `enum fault_flag` (FAULT_FLAG_*) in include/linux/mm_types.h
public struct FaultFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    package static let write = FaultFlags(rawValue: 1 << 0)
    package static let mkwrite = FaultFlags(rawValue: 1 << 1)
    package static let allowRetry = FaultFlags(rawValue: 1 << 2)
    package static let retryNowait = FaultFlags(rawValue: 1 << 3)
    package static let killable = FaultFlags(rawValue: 1 << 4)
    package static let tried = FaultFlags(rawValue: 1 << 5)
    package static let user = FaultFlags(rawValue: 1 << 6)
    package static let remote = FaultFlags(rawValue: 1 << 7)
    package static let unshare = FaultFlags(rawValue: 1 << 10)
    package static let origPTEValid = FaultFlags(rawValue: 1 << 11)
    package static let vmaLock = FaultFlags(rawValue: 1 << 12)
}

/// The hooks a mapping's owner supplies. An absent hook changes behaviour, exactly as a NULL member does in the
/// kernel (no `pageMkwrite` ⇒ shared writes are not write-notified; no `fault` ⇒ SIGBUS).
/// Kernel: `struct vm_operations_struct` — include/linux/mm.h (`map_pages` is not modelled: no fault-around).
public struct VMOperations {
    package var name: String
    /// Kernel: ->open — a VMA was duplicated (fork) or split.
    package var open: (@EmuActor (VMArea) -> Void)?
    /// Kernel: ->close — a VMA is being torn down.
    package var close: (@EmuActor (VMArea) -> Void)?
    /// Kernel: ->fault — find the page for `vmf.pgoff` and put it in `vmf.page` (with a reference).
    package var fault: (@EmuActor (inout VMFault) -> VMFaultResult)?
    /// Kernel: ->page_mkwrite — a page is about to become writable.
    package var pageMkwrite: (@EmuActor (inout VMFault) -> VMFaultResult)?
    /// Kernel: ->pfn_mkwrite — the same for PFN-map ("special") PTEs.
    package var pfnMkwrite: (@EmuActor (inout VMFault) -> VMFaultResult)?

    public init(name: String,
                open: (@EmuActor (VMArea) -> Void)? = nil,
                close: (@EmuActor (VMArea) -> Void)? = nil,
                fault: (@EmuActor (inout VMFault) -> VMFaultResult)? = nil,
                pageMkwrite: (@EmuActor (inout VMFault) -> VMFaultResult)? = nil,
                pfnMkwrite: (@EmuActor (inout VMFault) -> VMFaultResult)? = nil) {
        self.name = name
        self.open = open
        self.close = close
        self.fault = fault
        self.pageMkwrite = pageMkwrite
        self.pfnMkwrite = pfnMkwrite
    }
}

/// The state of one fault as it moves through memory.c. Kernel: `struct vm_fault` — include/linux/mm.h
public struct VMFault {
    package let vma: VMArea
    /// The faulting address, page aligned. Kernel: vmf->address
    package let address: VirtAddr
    /// Kernel: vmf->pgoff = vm_pgoff + (address - vm_start) / PAGE_SIZE
    public let pgoff: PgOff
    package var flags: FaultFlags
    /// The PTE as first read (valid when `.origPTEValid` is set). Kernel: vmf->orig_pte
    package var origPTE: PTE = .none
    /// The page found by ->fault or by vm_normal_page. Kernel: vmf->page
    public var page: PFN?
    /// The private copy for COW faults. Kernel: vmf->cow_page
    package var cowPage: PFN?
    /// The mapped PTE slot and its lock while held. Kernel: vmf->pte, vmf->ptl
    var slot: PTESlot?
    var ptl: KLock?

    @EmuActor init(vma: VMArea, address: VirtAddr, flags: FaultFlags) {
        self.vma = vma
        self.address = address.pageAligned
        pgoff = vma.linearPageIndex(address)
        self.flags = flags
    }
}

/// Kernel: `struct anon_vma` — the reverse map of anonymous (COW) pages. Only what COW and fork need is modelled.
@EmuActor package final class AnonVMA {
    /// The id `page->mapping` uses to name this object (tagged anon).
    package let id: Int
    init(phys: PhysicalMemory) {
        id = phys.reserveMappingId()
        phys.setMappingObject(id, self)
    }
}

/// Hooks of an address space. Kernel: `struct address_space_operations` (only `dirty_folio` matters here).
package struct AddressSpaceOperations {
    package var name: String
    /// Kernel: ->dirty_folio — returns whether the folio became dirty.
    package var dirtyFolio: (@EmuActor (AddressSpace, PFN) -> Bool)?
    package init(name: String, dirtyFolio: (@EmuActor (AddressSpace, PFN) -> Bool)? = nil) {
        self.name = name
        self.dirtyFolio = dirtyFolio
    }
}

/// A file's page cache and reverse map. Kernel: `struct address_space` — include/linux/fs.h
@EmuActor public final class AddressSpace {
    /// The id `page->mapping` uses to name this object.
    package let id: Int
    package let name: String
    /// Every VMA of every process mapping this file, keyed by page-offset range. Kernel: mapping->i_mmap
    package var iMmap = IntervalTree<VMArea>()  // Protected by iMmapRwsem.
    /// Kernel: mapping->i_mmap_rwsem
    package let iMmapRwsem: KRWSemaphore
    /// Kernel: mapping->a_ops
    package var aops: AddressSpaceOperations
    /// Dirty pages of this mapping are written back to a backing device (a file system, DAX). Device memory such
    /// as a framebuffer has none. Kernel: mapping_can_writeback()
    package var canWriteback = false

    init(phys: PhysicalMemory, name: String) {
        id = phys.reserveMappingId()
        self.name = name
        iMmapRwsem = KRWSemaphore("i_mmap_rwsem(\(name))", scheduler: phys.sched)
        aops = AddressSpaceOperations(name: "default")
        phys.setMappingObject(id, self)
    }

    /// Every VMA overlapping pages [first, last] (inclusive), in tree order. Kernel: vma_interval_tree_foreach()
    package func vmas(overlapping first: PgOff, _ last: PgOff) -> [VMArea] {
        iMmap.overlapping(first: first.rawValue, last: last.rawValue)
    }
}

/// The operations of an open file. Kernel: `struct file_operations` — include/linux/fs.h
public struct FileOperations {
    package var name: String
    /// Kernel: ->open. An error refuses the open.
    package var open: (@EmuActor (Inode, KFile) -> Errno?)?
    /// Kernel: ->release — the last reference to the open file went away.
    package var release: (@EmuActor (Inode, KFile) -> Void)?
    /// Kernel: ->mmap — set up a new VMA (vm_ops, flags). An error refuses the mmap.
    package var mmap: (@EmuActor (KFile, VMArea) -> Errno?)?
    /// Kernel: ->fsync (also reached by msync(MS_SYNC)).
    package var fsync: (@EmuActor (KFile) -> Errno?)?

    public init(name: String,
                open: (@EmuActor (Inode, KFile) -> Errno?)? = nil,
                release: (@EmuActor (Inode, KFile) -> Void)? = nil,
                mmap: (@EmuActor (KFile, VMArea) -> Errno?)? = nil,
                fsync: (@EmuActor (KFile) -> Errno?)? = nil) {
        self.name = name
        self.open = open
        self.release = release
        self.mmap = mmap
        self.fsync = fsync
    }
}

/// A file-system node: here, a device node. Kernel: `struct inode` — include/linux/fs.h
@EmuActor public final class Inode {
    package let name: String
    /// Kernel: inode->i_mapping (the inode's own address_space, i_data).
    public let mapping: AddressSpace
    /// Kernel: inode->i_fop
    package var fops: FileOperations
    /// Kernel: inode->i_mtime / i_ctime (updated by file_update_time()).
    package var mtime = VirtualTime.zero
    package var ctime = VirtualTime.zero
    /// Driver data (e.g. the fb_info behind a /dev/fbN node). Kernel: i_private / the char device's data.
    package weak var privateData: AnyObject?
    /// Held by the fsync path. Kernel: inode->i_rwsem (inode_lock()).
    package let iRwsem: KRWSemaphore

    public init(kernel: EmuKernel, name: String, fops: FileOperations) {
        self.name = name
        mapping = AddressSpace(phys: kernel.phys, name: name)
        self.fops = fops
        iRwsem = KRWSemaphore("i_rwsem(\(name))", scheduler: kernel.sched)
    }
}

/// Whether an open file may be read and/or written. Kernel: FMODE_READ / FMODE_WRITE.
public struct FileMode: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    package static let read = FileMode(rawValue: 1)
    package static let write = FileMode(rawValue: 2)
    public static let readWrite: FileMode = [.read, .write]
}

/// An open file. Kernel: `struct file` — include/linux/fs.h
@EmuActor public final class KFile {
    package let inode: Inode
    /// Kernel: file->f_mapping
    package let mapping: AddressSpace
    package let mode: FileMode
    /// Kernel: file->f_op
    package let ops: FileOperations
    /// Kernel: file->private_data
    package weak var privateData: AnyObject?
    /// References: one per file descriptor and one per VMA. Kernel: file->f_count
    package private(set) var refcount = 1

    init(inode: Inode, mode: FileMode) {
        self.inode = inode
        mapping = inode.mapping
        self.mode = mode
        ops = inode.fops
    }

    /// Kernel: get_file()
    func get() { refcount += 1 }

    /// Drops a reference; the last one calls ->release. Kernel: fput() (here synchronous, not task_work).
    func put() {
        precondition(refcount > 0, "fput of a dead file")
        refcount -= 1
        if refcount == 0, let release = ops.release {
            release(inode, self)
        }
    }
}

/// Kernel: file_update_time() — fs/inode.c (mtime and ctime of the inode).
@EmuActor package func fileUpdateTime(_ kernel: EmuKernel, _ file: KFile) {
    kernel.sched.charge(kernel.costs.fileUpdateTime)
    kernel.stats.fileTimeUpdates += 1
    file.inode.mtime = kernel.now
    file.inode.ctime = kernel.now
}

/// One mapping of a process. Kernel: `struct vm_area_struct` — include/linux/mm_types.h
@EmuActor public final class VMArea {
    package let id: Int
    /// The address space this VMA is in. Not reference-counted (every fault reads it several times): an `mm` outlives
    /// its VMAs, which exit_mmap() and the unwinding of a failed dup_mmap() take out of every tree first.
    package unowned(unsafe) let mm: MM
    @usableFromInline package internal(set) var start: VirtAddr
    package internal(set) var end: VirtAddr
    /// The file page mapped at `start`. Kernel: vma->vm_pgoff
    @usableFromInline package internal(set) var pgoff: PgOff
    package var flags: VMFlags
    /// Protection for new PTEs (write removed when write-notify is wanted). Kernel: vma->vm_page_prot
    package internal(set) var pageProt: PageProt
    public var ops: VMOperations?
    package internal(set) var file: KFile?
    /// Kernel: vma->vm_private_data
    package var privateData: AnyObject?
    var anonVMA: AnonVMA?
    var iMmapHandle: IntervalTree<VMArea>.Handle?
    /// The per-VMA lock's reference count: 0 while the VMA is in no tree (detached), 1 once attached, plus one per
    /// fault holding it for read, plus `excludeReadersFlag` while a writer waits for those readers to leave.
    /// Kernel: vma->vm_refcnt (6.15 and later; before, vma->vm_lock was an rw_semaphore)
    package internal(set) var vmRefcnt = 0
    /// The mm's sequence number of the mmap_lock write epoch in which this VMA was write-locked; the VMA stays
    /// write-locked for as long as the mm's number still equals it. Kernel: vma->vm_lock_seq (initially UINT_MAX)
    package internal(set) var vmLockSeq = -1
    /// The tasks holding the VMA for read (for reports; the count is what the kernel has).
    package internal(set) var vmLockReaders: [Int] = []

    init(id: Int, mm: MM, start: VirtAddr, end: VirtAddr, pgoff: PgOff, flags: VMFlags) {
        self.id = id
        self.mm = mm
        self.start = start
        self.end = end
        self.pgoff = pgoff
        self.flags = flags
        pageProt = PageProt.from(flags)
    }

    /// Kernel: VM_REFCNT_EXCLUDE_READERS_FLAG — include/linux/mm_types.h (bit 30)
    package static let excludeReadersFlag = 1 << 30
    /// The most read locks a VMA can carry; a writer's flag lies above it, so no reader gets in while it is set.
    /// Kernel: VM_REFCNT_LIMIT
    package static let refcntLimit = excludeReadersFlag - 1

    /// Write-locked in the mm's current mmap_lock write epoch (meaningful to the holder of mmap_lock for write).
    /// Kernel: __is_vma_write_locked() — include/linux/mmap_lock.h
    package var isWriteLocked: Bool { vmLockSeq == mm.mmLockSeq }

    package var pageCount: Int { (end - start) >> PAGE_SHIFT }
    /// The last file page mapped (inclusive). Kernel: vma_last_pgoff()
    package var lastPgoff: PgOff { PgOff(pgoff.rawValue + pageCount - 1) }
    /// Kernel: linear_page_index()
    @inlinable package func linearPageIndex(_ addr: VirtAddr) -> PgOff {
        PgOff(pgoff.rawValue + ((addr - start) >> PAGE_SHIFT))
    }
    /// The address where file page `p` is mapped, if this VMA maps it.
    package func address(of p: PgOff) -> VirtAddr? {
        guard p >= pgoff && p <= lastPgoff else { return nil }
        return start + ((p.rawValue - pgoff.rawValue) << PAGE_SHIFT)
    }
    package func contains(_ addr: VirtAddr) -> Bool { addr >= start && addr < end }
    /// Kernel: vma_is_anonymous() — no vm_ops.
    package var isAnonymous: Bool { ops == nil }
    /// Kernel: is_cow_mapping() — private and may be written.
    package var isCOWMapping: Bool { !flags.contains(.shared) && flags.contains(.mayWrite) }

    /// Kernel: vma_wants_writenotify() — mm/mmap.c (the parts that apply to the emulated machine).
    package var wantsWritenotify: Bool {
        guard flags.contains(.shared) && flags.contains(.write) else { return false }
        if let ops, ops.pageMkwrite != nil || ops.pfnMkwrite != nil { return true }
        // (Soft-dirty and userfaultfd write-protect are not modelled.)
        if let file, !flags.contains(.pfnMap), file.mapping.canWriteback { return true }
        return false
    }

    /// Recomputes `pageProt` from the flags, dropping write when write-notify is wanted.
    /// Kernel: vma_set_page_prot() — mm/mmap.c
    package func setPageProt() {
        var prot = PageProt.from(flags)
        if wantsWritenotify { prot = PageProt.from(flags.subtracting(.shared)) }
        pageProt = prot
    }

    package var description: String {
        "[\(start)-\(end)) pgoff \(pgoff.rawValue) \(flags)\(ops.map { " ops=\($0.name)" } ?? "")"
    }
}

/// An address space of a fake process. Kernel: `struct mm_struct` — include/linux/mm_types.h
@EmuActor @usableFromInline package final class MM {
    package let id: Int
    package unowned(unsafe) let kernel: EmuKernel
    @usableFromInline package let pageTables: PageTables
    /// Each CPU's TLB entries for this address space (a tagged, PCID-style TLB: switching to another address space
    /// does not drop them). Kernel: the CPUs' TLBs, tagged by the ASID arch/x86/mm/tlb.c gives the mm
    package let tlbs: [SoftTLB]
    /// The CPUs that have run this address space: where a flush must reach. Kernel: mm_cpumask()
    package internal(set) var cpuMask: UInt64 = 0
    /// Deferred TLB flushes announced and not yet done on this address space (`incTLBFlushPending`), for
    /// mm_tlb_flush_nested(). Kernel: mm->tlb_flush_pending
    package internal(set) var tlbFlushPending = 0
    /// Kernel: mm->mmap_lock (take it for write with `mmapWriteLock`, which also opens a VMA-lock epoch)
    package let mmapLock: KRWSemaphore
    /// The write-epoch counter of the per-VMA locks: odd while mmap_lock is held for write, bumped again by
    /// `mmapWriteUnlock`, which releases every VMA write lock of the epoch at once.
    /// Kernel: mm->mm_lock_seq (a seqcount since 6.13; before, a plain counter bumped only at the unlock)
    package internal(set) var mmLockSeq = 0
    /// The one writer that may wait for a VMA's readers to leave (only the mmap_lock writer can).
    /// Kernel: mm->vma_writer_wait (an rcuwait)
    var vmaWriterWait: Int?
    /// VMAs sorted by start address. Kernel: the maple tree mm->mm_mt.  Protected by mmapLock.
    package internal(set) var vmas: [VMArea] = []
    /// Where top-down placement of new mappings starts. Kernel: mm->mmap_base
    package let mmapBase = VirtAddr(UInt64(0x7F00_0000_0000))
    package let mmapMin = VirtAddr(UInt64(0x1_0000))
    /// Tasks using this address space (threads share one). Kernel: mm->mm_users
    package internal(set) var users = 1

    init?(kernel: EmuKernel) {
        guard let pt = PageTables(phys: kernel.phys) else { return nil }
        self.kernel = kernel
        pageTables = pt
        tlbs = (0 ..< kernel.sched.cpuCount).map { _ in SoftTLB() }
        id = kernel.allocMMId()
        mmapLock = KRWSemaphore("mmap_lock(mm\(id))", scheduler: kernel.sched)
    }

    /// The first VMA ending above `addr`. Kernel: find_vma()
    @usableFromInline package func findVMA(_ addr: VirtAddr) -> VMArea? {
        var lo = 0, hi = vmas.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if vmas[mid].end > addr { hi = mid } else { lo = mid + 1 }
        }
        return lo < vmas.count ? vmas[lo] : nil
    }

    /// The VMA containing `addr`. Kernel: vma_lookup()
    @inlinable package func vmaLookup(_ addr: VirtAddr) -> VMArea? {
        guard let v = findVMA(addr), v.start <= addr else { return nil }
        return v
    }

    /// The TLB of one CPU for this address space.
    package func tlb(on cpu: Int) -> SoftTLB { tlbs[cpu] }

    /// The PTE mapping `addr` (NONE if there is no page table).
    @inlinable package func pte(at addr: VirtAddr) -> PTE { pageTables.lookup(addr)?.read() ?? .none }

    /// Puts `v` in the tree; from now on it can be found and read-locked. Kernel: vma_iter_store_new() →
    /// vma_mark_attached()
    func insertVMA(_ v: VMArea) {
        precondition(v.vmRefcnt == 0, "vma_mark_attached of an attached VMA")
        let i = vmas.firstIndex(where: { $0.start > v.start }) ?? vmas.count
        vmas.insert(v, at: i)
        v.vmRefcnt = 1
    }

    /// Takes a detached VMA out of the tree. Kernel: vma_iter_clear_gfp()
    func removeVMA(_ v: VMArea) {
        precondition(v.vmRefcnt == 0, "a VMA leaves the tree only once detached")
        vmas.removeAll { $0 === v }
    }
}
