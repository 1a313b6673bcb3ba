// SPDX-License-Identifier: MIT — a fake user process: its address space, files, and the emulated CPU's loads and
// stores (kernel: task_struct, the MMU, and the syscalls a process uses here).

/// How a process ended.
package enum ProcessExit: Sendable, Equatable, CustomStringConvertible {
    case running
    case exited
    /// Killed by an uncaught signal (SIGSEGV, SIGBUS, OOM kill, livelock kill).
    case killed(UserFault)
    /// The program stopped on an error a syscall returned.
    case failed(Errno)
    package var description: String {
        switch self {
        case .running: "running"
        case .exited: "exited"
        case .killed(let f): "killed: \(f)"
        case .failed(let e): "failed: \(e)"
        }
    }
}

/// A fake user process (single-threaded): an `MM`, a file table, and the CPU's access path into its memory.
///
/// Stores and loads go TLB → page-table walk → fault, like a real MMU. The TLB-hit path is synchronous and inlined;
/// a miss, a read-only entry, or the end of the task's budget takes the out-of-line slow path, which is where the
/// task may be preempted. Kernel: `struct task_struct` (as `UserTask`, not to shadow Swift's `Task`).
@EmuActor public final class UserTask {
    package let pid: Int
    package let name: String
    package unowned(unsafe) let kernel: EmuKernel
    package let mm: MM
    /// The scheduler task this process runs as.
    package internal(set) var schedID = -1
    private var files: [KFile?] = []
    /// Every signal delivered to this process, in order (whether or not the program caught it).
    package private(set) var signals: [UserFault] = []
    package internal(set) var exitStatus = ProcessExit.running
    /// Accesses this process made.
    package private(set) var accesses = 0
    /// The CPU this process runs on, and that CPU's TLB for `mm` (set when the process is started).
    package private(set) var cpu = 0
    package private(set) var tlb: SoftTLB
    /// Raw slots of `tlb`, cached for the inlined fast path.
    @usableFromInline nonisolated(unsafe) private(set) var tlbSlots: UnsafeMutablePointer<TLBEntry>
    /// Fast-path accesses left before the next `.quantum` preemption point.
    @usableFromInline var budget: Int
    let budgetStart: Int

    init(pid: Int, name: String, kernel: EmuKernel, mm: MM) {
        self.pid = pid
        self.name = name
        self.kernel = kernel
        self.mm = mm
        tlb = mm.tlbs[0]
        tlbSlots = tlb.slots
        budgetStart = kernel.config.storeBudget
        budget = budgetStart
    }

    // MARK: - Stores and loads (the emulated CPU)

    /// Stores one byte. Kernel analogue: a user `mov` to `va`.
    @inlinable @inline(__always) package func store8(_ va: VirtAddr, _ value: UInt8) throws(UserFault) {
        let e = tlbSlots[Int(va.vpn & SoftTLB.mask)]
        if _fastPath(e.storeVPN == va.vpn && budget > 0) {
            budget &-= 1
            e.bytes.unsafelyUnwrapped.storeBytes(of: value, toByteOffset: va.offsetInPage, as: UInt8.self)
            return
        }
        try storeSlow(va, UInt64(value), width: 1)
    }

    /// Stores a 32-bit pixel (little endian). A store that straddles two pages is done byte by byte.
    @inlinable @inline(__always) public func store32(_ va: VirtAddr, _ value: UInt32) throws(UserFault) {
        let e = tlbSlots[Int(va.vpn & SoftTLB.mask)]
        let off = va.offsetInPage
        if _fastPath(e.storeVPN == va.vpn && budget > 0 && off <= PAGE_SIZE - 4) {
            budget &-= 1
            e.bytes.unsafelyUnwrapped.storeBytes(of: value.littleEndian, toByteOffset: off, as: UInt32.self)
            return
        }
        try storeSlow(va, UInt64(value), width: 4)
    }

    /// Stores a 16-bit pixel (little endian).
    @inlinable @inline(__always) package func store16(_ va: VirtAddr, _ value: UInt16) throws(UserFault) {
        let e = tlbSlots[Int(va.vpn & SoftTLB.mask)]
        let off = va.offsetInPage
        if _fastPath(e.storeVPN == va.vpn && budget > 0 && off <= PAGE_SIZE - 2) {
            budget &-= 1
            e.bytes.unsafelyUnwrapped.storeBytes(of: value.littleEndian, toByteOffset: off, as: UInt16.self)
            return
        }
        try storeSlow(va, UInt64(value), width: 2)
    }

    /// Loads one byte.
    @inlinable @inline(__always) package func load8(_ va: VirtAddr) throws(UserFault) -> UInt8 {
        let e = tlbSlots[Int(va.vpn & SoftTLB.mask)]
        if _fastPath(e.vpn == va.vpn && budget > 0) {
            budget &-= 1
            return e.bytes.unsafelyUnwrapped.load(fromByteOffset: va.offsetInPage, as: UInt8.self)
        }
        return UInt8(try loadSlow(va, width: 1))
    }

    /// Loads a 32-bit value (little endian).
    @inlinable @inline(__always) package func load32(_ va: VirtAddr) throws(UserFault) -> UInt32 {
        let e = tlbSlots[Int(va.vpn & SoftTLB.mask)]
        let off = va.offsetInPage
        if _fastPath(e.vpn == va.vpn && budget > 0 && off <= PAGE_SIZE - 4) {
            budget &-= 1
            return UInt32(littleEndian: e.bytes.unsafelyUnwrapped.loadUnaligned(fromByteOffset: off, as: UInt32.self))
        }
        return UInt32(try loadSlow(va, width: 4))
    }

    /// Stores `bytes` at `va`, page by page in ascending order (one translation per page, like a `rep movsb`).
    public func storeBytes(_ va: VirtAddr, _ bytes: UnsafeRawBufferPointer) throws(UserFault) {
        try forEachPage(va, count: bytes.count, write: true) { at, done, n in
            at.copyMemory(from: bytes.baseAddress! + done, byteCount: n)
        }
    }

    /// Stores `count` bytes at `va` that `produce` writes straight into each page piece (given the piece, its offset
    /// into the access and its length), page by page in ascending order: `storeBytes` of bytes the caller computes
    /// in place, with no staging buffer to copy from. The translations, charges and pauses are `storeBytes`'s.
    package func store(_ va: VirtAddr, count: Int,
                       producing produce: (_ at: UnsafeMutableRawPointer, _ done: Int, _ n: Int) -> Void)
        throws(UserFault) {
        try forEachPage(va, count: count, write: true, produce)
    }

    /// Stores `count` copies of `byte` at `va`, page by page in ascending order (`rep stosb`).
    package func fill(_ va: VirtAddr, count: Int, byte: UInt8) throws(UserFault) {
        try forEachPage(va, count: count, write: true) { at, _, n in
            at.initializeMemory(as: UInt8.self, repeating: byte, count: n)
        }
    }

    /// Reads `count` bytes at `va`, page by page.
    package func loadBytes(_ va: VirtAddr, count: Int) throws(UserFault) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        try forEachPage(va, count: count, write: false) { at, done, n in
            out.withUnsafeMutableBytes { dst in (dst.baseAddress! + done).copyMemory(from: at, byteCount: n) }
        }
        return out
    }

    /// A bulk access of [va, va + count), one page piece at a time in ascending order: each piece is translated
    /// (without a walk on a TLB hit), handed to `access` with its offset into the access, and its copy charged;
    /// between two pieces a passed tick may preempt and other CPUs catch up.
    @inline(__always)
    private func forEachPage(_ va: VirtAddr, count: Int, write: Bool,
                             _ access: (_ at: UnsafeMutableRawPointer, _ done: Int, _ n: Int) -> Void)
        throws(UserFault) {
        let sched = kernel.sched
        var done = 0, tick = sched.jiffies
        var pauseAt = sched.pauseHorizon(after: tick)
        while done < count {
            let a = va + done
            let n = min(PAGE_SIZE - a.offsetInPage, count - done)
            let page: UnsafeMutableRawPointer
            if let hit = tlbHit(a, write: write) {
                page = hit
            } else {
                page = try translate(a, write: write)
                pauseAt = sched.pauseHorizon(after: tick)
            }
            access(page + a.offsetInPage, done, n)
            sched.charge(kernel.costs.copy(n))
            done += n
            if done < count && sched.now >= pauseAt {
                betweenPages(&tick)
                pauseAt = sched.pauseHorizon(after: tick)
            }
        }
    }

    /// `translate`'s outcome when it needs neither a walk nor a preemption point — the budget is not used up and this
    /// CPU's TLB holds an entry that allows the access; nil when `translate` must run.
    private func tlbHit(_ va: VirtAddr, write: Bool) -> UnsafeMutableRawPointer? {
        guard budget > 0, let e = tlb.lookup(va), !write || e.writable else { return nil }
        chargeUsedBudget()
        budget &-= 1
        return e.bytes!
    }

    /// Between two pages of a bulk access: a tick that passed may preempt (the copy is interruptible, like a long
    /// `rep movsb`), and other CPUs whose clocks are behind run first, so a TLB shootdown can land mid-copy.
    @inline(__always)
    private func betweenPages(_ tick: inout Jiffies) {
        let j = kernel.sched.jiffies
        if j != tick {
            tick = j
            kernel.sched.preempt(.tick)
        } else {
            kernel.sched.catchUpOtherCPUs()
        }
    }

    @usableFromInline @inline(never)
    func storeSlow(_ va: VirtAddr, _ value: UInt64, width: Int) throws(UserFault) {
        if va.offsetInPage > PAGE_SIZE - width {
            for i in 0 ..< width { try storeSlow(va + i, (value >> UInt64(8 * i)) & 0xFF, width: 1) }
            return
        }
        let page = try translate(va, write: true)
        let p = page + va.offsetInPage
        switch width {
        case 1: p.storeBytes(of: UInt8(truncatingIfNeeded: value), as: UInt8.self)
        case 2: p.storeBytes(of: UInt16(truncatingIfNeeded: value).littleEndian, as: UInt16.self)
        default: p.storeBytes(of: UInt32(truncatingIfNeeded: value).littleEndian, as: UInt32.self)
        }
    }

    @usableFromInline @inline(never)
    func loadSlow(_ va: VirtAddr, width: Int) throws(UserFault) -> UInt64 {
        if va.offsetInPage > PAGE_SIZE - width {
            var v: UInt64 = 0
            for i in 0 ..< width { v |= try loadSlow(va + i, width: 1) << UInt64(8 * i) }
            return v
        }
        let page = try translate(va, write: false)
        let p = page + va.offsetInPage
        switch width {
        case 1: return UInt64(p.load(as: UInt8.self))
        case 2: return UInt64(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))
        default: return UInt64(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
        }
    }

    /// Charges the fast-path accesses made since the last slow path and, if the budget ran out, reaches the
    /// `.quantum` preemption point.
    @inline(__always)
    func settleBudget() {
        let exhausted = budget <= 0
        chargeUsedBudget()
        if exhausted { kernel.sched.preempt(.quantum) }
    }

    /// Counts and charges the fast-path accesses since the last settlement, and refills the budget.
    private func chargeUsedBudget() {
        let used = budgetStart - budget
        if used > 0 {
            accesses += used
            kernel.sched.charge(VirtualTime(picoseconds: kernel.costs.access.picoseconds &* Int64(used)))
        }
        budget = budgetStart
    }

    /// Resolves `va` for an access the way the MMU does: TLB, then a page-table walk that sets the accessed and
    /// dirty bits, then the fault handler — re-executing until the access can proceed. Returns the page's bytes.
    /// The access itself happens right after, with no preemption point in between.
    func translate(_ va: VirtAddr, write: Bool) throws(UserFault) -> UnsafeMutableRawPointer {
        settleBudget()
        budget &-= 1
        if let e = tlb.lookup(va), !write || e.writable { return e.bytes! }
        var attempts = 0
        while true {
            if let slot = mm.pageTables.lookup(va) {
                let pte = slot.read()
                if pte.isHardwarePresent && (!write || pte.isWrite) {
                    // The hardware walk: set accessed (and dirty for a store) atomically, then cache.
                    var updated = pte.mkyoung()
                    if write { updated = updated.mkdirty() }
                    if updated != pte { slot.write(updated) }
                    let bytes = kernel.phys.address(of: pte.pfn)
                    tlb.fill(va, pfn: pte.pfn, bytes: bytes, writable: updated.isWrite && updated.isDirty)
                    kernel.stats.tlbRefills += 1
                    kernel.sched.charge(kernel.costs.tlbRefill)
                    return bytes
                }
            }
            // A real CPU drops its own stale entry before raising the fault (no other CPU hears of it), so this
            // is not a counted flush. Kernel: none — the CPU invalidates the faulting address itself when it raises
            // a #PF, which is why x86 defines flush_tlb_fix_spurious_fault() empty
            tlb.invalidatePage(va)
            attempts += 1
            if attempts > kernel.config.livelockAttempts {
                let f = kernel.signal(.livelock(va, attempts: attempts - 1))
                kernel.event(.livelock(address: va, attempts: attempts - 1))
                kernel.sched.report("LIVELOCK: \(name) (pid \(pid)) faulted \(attempts - 1) times at \(va) "
                    + "without progress; schedule so far: \(kernel.sched.recorded.count) decisions")
                signals.append(f)
                throw f
            }
            if let f = kernel.doUserAddrFault(mm, va, write: write) {
                signals.append(f)
                throw f
            }
        }
    }

    // MARK: - System calls

    /// Opens a device node and returns a file descriptor. Kernel: open(2) → chrdev_open → ->open
    public func open(_ inode: Inode, _ mode: FileMode = .readWrite) throws(Errno) -> Int {
        kernel.sched.charge(kernel.costs.syscall)
        kernel.sched.preempt(.syscall)
        let file = KFile(inode: inode, mode: mode)
        if let hook = file.ops.open, let err = hook(inode, file) { throw err }
        if let free = files.firstIndex(where: { $0 == nil }) {
            files[free] = file
            return free
        }
        files.append(file)
        return files.count - 1
    }

    /// The open file behind a descriptor.
    package func file(_ fd: Int) throws(Errno) -> KFile {
        guard fd >= 0, fd < files.count, let f = files[fd] else { throw .EBADF }
        return f
    }

    /// Kernel: close(2) → fput (->release runs when the last reference, including mappings', is gone)
    public func close(_ fd: Int) throws(Errno) {
        kernel.sched.charge(kernel.costs.syscall)
        kernel.sched.preempt(.syscall)
        let f = try file(fd)
        files[fd] = nil
        f.put()
    }

    /// Kernel: fsync(2) → ->fsync
    public func fsync(_ fd: Int) throws(Errno) {
        kernel.sched.charge(kernel.costs.syscall)
        kernel.sched.preempt(.syscall)
        let f = try file(fd)
        guard let hook = f.ops.fsync else { throw .EINVAL }
        if let err = hook(f) { throw err }
    }

    /// Kernel: mmap(2). `fd` nil with `.anonymous` maps private anonymous memory.
    public func mmap(_ address: VirtAddr? = nil, length: Int, prot: Prot, flags: MapFlags, fd: Int? = nil,
                     offset: Int = 0) throws(Errno) -> VirtAddr {
        kernel.sched.charge(kernel.costs.syscall)
        kernel.sched.preempt(.syscall)
        guard offset >= 0, offset & (PAGE_SIZE - 1) == 0 else { throw .EINVAL }
        let f: KFile? = try fd.map { (d: Int) throws(Errno) -> KFile in try file(d) }
        return try kernel.doMmap(mm, file: f, address: address, length: length, prot: prot, flags: flags,
                                       pgoff: PgOff(offset >> PAGE_SHIFT))
    }

    /// Kernel: munmap(2)
    package func munmap(_ address: VirtAddr, length: Int) throws(Errno) {
        kernel.sched.charge(kernel.costs.syscall)
        kernel.sched.preempt(.syscall)
        try kernel.doMunmap(mm, address, length)
    }

    /// Kernel: mprotect(2)
    package func mprotect(_ address: VirtAddr, length: Int, prot: Prot) throws(Errno) {
        kernel.sched.charge(kernel.costs.syscall)
        kernel.sched.preempt(.syscall)
        try kernel.doMprotect(mm, address, length, prot)
    }

    /// Kernel: fork(2). The child runs `body` as its program (instead of returning twice); its address space is
    /// `dupMM` of this one and it inherits every open file.
    @discardableResult
    package func fork(_ name: String, cpu: Int? = nil, _ body: @escaping @EmuActor (UserTask) throws -> Void)
        throws(Errno) -> UserTask {
        kernel.sched.charge(kernel.costs.syscall)
        kernel.sched.preempt(.syscall)
        guard let childMM = kernel.dupMM(mm) else { throw .ENOMEM }
        let child = kernel.makeProcess(name: name, mm: childMM)
        for f in files { f?.get() }
        child.files = files
        kernel.start(child, cpu: cpu, body)
        return child
    }

    /// Starts a thread of this process: a new task sharing this address space (and, on the same CPU, its TLB
    /// entries), with its own copy of the file table. Kernel: clone(CLONE_VM) — the threads of scenario 23.
    @discardableResult
    package func clone(_ name: String, cpu: Int? = nil, _ body: @escaping @EmuActor (UserTask) throws -> Void)
        -> UserTask {
        kernel.sched.charge(kernel.costs.syscall)
        kernel.sched.preempt(.syscall)
        mm.users += 1
        let thread = kernel.makeProcess(name: name, mm: mm)
        for f in files { f?.get() }
        thread.files = files
        kernel.start(thread, cpu: cpu, body)
        return thread
    }

    /// Puts the process on its CPU: the CPU's TLB for the address space, and the CPU in the mm's mask.
    /// Kernel: switch_mm_irqs_off() setting the CPU in mm_cpumask()
    func place(on cpu: Int) {
        self.cpu = cpu
        tlb = mm.tlbs[cpu]
        tlbSlots = tlb.slots
        mm.cpuMask |= 1 << UInt64(cpu)
    }

    /// Kernel: do_exit() — exit_mm() (the address space goes with its last user) then exit_files().
    func exitProcess() {
        chargeUsedBudget()
        mm.users -= 1
        if mm.users == 0 { kernel.exitMMap(mm) }
        let open = files
        files = []
        for f in open { f?.put() }
    }

}

@EmuActor extension EmuKernel {
    /// Creates a process with a fresh address space running `body`; it first runs when the scheduler picks it.
    /// Returns nil if RAM cannot hold its page tables.
    @discardableResult
    public func spawnProcess(_ name: String, cpu: Int? = nil,
                             _ body: @escaping @EmuActor (UserTask) throws -> Void) -> UserTask? {
        guard let mm = MM(kernel: self) else { return nil }
        let task = makeProcess(name: name, mm: mm)
        start(task, cpu: cpu, body)
        return task
    }

    func makeProcess(name: String, mm: MM) -> UserTask {
        nextPid += 1
        let t = UserTask(pid: nextPid, name: name, kernel: self, mm: mm)
        processes.append(t)
        return t
    }

    func start(_ task: UserTask, cpu: Int? = nil, _ body: @escaping @EmuActor (UserTask) throws -> Void) {
        task.schedID = sched.spawn(task.name, cpu: cpu) {
            do {
                try body(task)
                task.exitStatus = .exited
            } catch let f as UserFault {
                task.exitStatus = .killed(f)
            } catch let e as Errno {
                task.exitStatus = .failed(e)
            } catch {
                preconditionFailure("a process body threw \(error)")
            }
            task.exitProcess()
        }
        task.place(on: sched.cpu(of: task.schedID))
        while processBySchedID.count <= task.schedID { processBySchedID.append(nil) }
        processBySchedID[task.schedID] = task
    }

    /// The process a scheduler task runs as (nil for kernel threads).
    package func process(schedID: Int) -> UserTask? {
        schedID >= 0 && schedID < processBySchedID.count ? processBySchedID[schedID] : nil
    }
}
