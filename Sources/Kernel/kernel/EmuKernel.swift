// SPDX-License-Identifier: MIT — the root of one emulated machine's kernel: scheduler, RAM, counters, events.

/// Switches of the memory-management core that differ between kernel versions or architectures.
public struct MMConfig: Sendable, Equatable {
    /// Try the per-VMA lock first on user faults (x86-64 since 6.4). Every fault that needs `->fault` or
    /// `->page_mkwrite` then returns RETRY once and is redone under mmap_lock (kernel-spec.md §5.1, scenario 21).
    package var perVMALocks = true
    /// Consecutive fault attempts on one access without progress after which the task is declared livelocked.
    package var livelockAttempts = 1000
    /// Accesses a task may make on the TLB fast path before it reaches a `.quantum` preemption point.
    public var storeBudget = 256
    /// `walk_page_mapping()` ends the whole walk when a VMA's `test_walk` answers "skip" (> 0) instead of skipping
    /// only that VMA, so one private mapping of the file that sorts earlier in `i_mmap` hides every later shared one
    /// from `wp_shared_mapping_range()` / `clean_record_shared_mapping_range()` (kernel-spec.md §4.1, bug O). True is
    /// the kernel's behaviour; false skips just the VMA.
    package var walkPageMappingBreaksOnSkip = true
    /// `page_vma_mkclean_one()` flushes the TLB entry of every PTE it write-protects (`ptep_clear_flush`). Off:
    /// the hypothetical missing flush, which leaves a writable TLB entry behind a read-only PTE.
    package var wrprotectFlushesTLB = true
    /// Before 5.16 a `VM_FAULT_OOM` out of a user fault ran the OOM killer on the faulting task; since then
    /// `pagefault_out_of_memory()` only warns and the access is retried (a handler that keeps returning OOM spins).
    package var oomKillsOnUserFault = false
    /// What `fault_dirty_shared_page()` does once it has dirtied a page that belongs to a mapping (`page->mapping`
    /// set: fb_defio's `->fault` set it up to 6.14) on a fault's first attempt: drop the fault's lock before
    /// throttling the dirtier and report the fault done (5.19 and later), drop it and ask for a retry (5.5–5.18),
    /// or keep it (before 5.5). Pages without a mapping (fb_defio since 6.15) never drop the lock.
    package var faultDirtySharedPageUnlock = FaultDirtyUnlock.completed
    public init() {}
}

/// The three behaviours of `fault_dirty_shared_page()` when it may drop the fault's lock.
/// Kernel: fault_dirty_shared_page() + maybe_unlock_mmap_for_io() — mm/memory.c, mm/internal.h
package enum FaultDirtyUnlock: String, Sendable, Equatable {
    /// Since 5.19 (VM_FAULT_COMPLETED): the lock is dropped and the fault is finished.
    case completed
    /// 5.5–5.18: the lock is dropped and VM_FAULT_RETRY returned, so the fault runs again with FAULT_FLAG_TRIED.
    case retry
    /// Before 5.5: the dirtier is throttled with the lock held.
    case never
}

/// Counters of the mm, in the spirit of /proc/vmstat. Every fault path bumps its own.
public struct VMStat: Sendable, Equatable {
    /// `handle_mm_fault` calls that did not end in VM_FAULT_RETRY, failed ones (SIGBUS, SIGSEGV, OOM) included.
    /// Kernel: PGFAULT, counted in mm_account_fault() — mm/memory.c
    public var faults = 0
    /// Every entry into the fault handler, retries included.
    package var faultAttempts = 0
    /// Faults handled under the per-VMA lock alone, those it handed to mmap_lock with VM_FAULT_RETRY, lookups that
    /// found no VMA or one that could not be read-locked (write-locked by a writer holding mmap_lock, or being
    /// write-locked), and lookups that found a VMA detached under them and looked again.
    /// Kernel: VMA_LOCK_SUCCESS, VMA_LOCK_RETRY, VMA_LOCK_ABORT, VMA_LOCK_MISS (CONFIG_PER_VMA_LOCK_STATS)
    package var vmaLockSuccess = 0, vmaLockRetries = 0, vmaLockAborts = 0, vmaLockMisses = 0
    package var readFaults = 0, cowFaults = 0, sharedFaults = 0, anonFaults = 0
    /// `do_wp_page` and where it went.
    package var wpFaults = 0, wpPageShared = 0, wpPFNShared = 0, wpPageCopy = 0, wpAnonReuse = 0
    /// Faults that found the PTE already fixed (changed under them, or writable already).
    package var spuriousFaults = 0
    /// NOPAGE from a pte_same / vmf_pte_changed recheck after a hook dropped the PTL.
    package var pteChangedBailouts = 0
    package var faultHookCalls = 0, pageMkwriteCalls = 0, pfnMkwriteCalls = 0
    /// `do_page_mkwrite` returned 0 because the page lost its mapping (the access is retried).
    package var mkwriteRetries = 0
    package var sigsegv = 0, sigbus = 0, oom = 0, livelocks = 0
    package var tlbRefills = 0, tlbFlushPage = 0, tlbFlushRange = 0, tlbFlushAll = 0
    /// Flushes that reached other CPUs, and the IPIs they sent.
    package var tlbShootdowns = 0, tlbShootdownIPIs = 0
    package var ptesInstalled = 0, ptesZapped = 0, ptesWrprotected = 0
    /// PTEs whose DIRTY bit `clean_record_shared_mapping_range()` cleared (write permission kept).
    package var ptesCleaned = 0
    /// VMAs visited by `__rmap_walk_file()` and by `walk_page_mapping()` (each i_mmap overlap reported once).
    public var rmapWalkVMAs = 0, pageWalkVMAs = 0
    package var fileTimeUpdates = 0
    package var pfnInserts = 0

    public init() {}

    /// name=value pairs in a fixed order, for summaries and golden files.
    package var fields: [(String, Int)] {
        [
            ("faults", faults), ("fault_attempts", faultAttempts), ("vma_lock_success", vmaLockSuccess),
            ("vma_lock_retries", vmaLockRetries), ("vma_lock_aborts", vmaLockAborts),
            ("vma_lock_misses", vmaLockMisses),
            ("read_faults", readFaults), ("cow_faults", cowFaults), ("shared_faults", sharedFaults),
            ("anon_faults", anonFaults), ("wp_faults", wpFaults), ("wp_page_shared", wpPageShared),
            ("wp_pfn_shared", wpPFNShared), ("wp_page_copy", wpPageCopy), ("wp_anon_reuse", wpAnonReuse),
            ("spurious_faults", spuriousFaults), ("pte_changed_bailouts", pteChangedBailouts),
            ("fault_hook_calls", faultHookCalls), ("page_mkwrite_calls", pageMkwriteCalls),
            ("pfn_mkwrite_calls", pfnMkwriteCalls), ("mkwrite_retries", mkwriteRetries),
            ("sigsegv", sigsegv), ("sigbus", sigbus), ("oom", oom), ("livelocks", livelocks),
            ("tlb_refills", tlbRefills), ("tlb_flush_page", tlbFlushPage), ("tlb_flush_range", tlbFlushRange),
            ("tlb_flush_all", tlbFlushAll), ("tlb_shootdowns", tlbShootdowns),
            ("tlb_shootdown_ipis", tlbShootdownIPIs), ("ptes_installed", ptesInstalled), ("ptes_zapped", ptesZapped),
            ("ptes_wrprotected", ptesWrprotected), ("ptes_cleaned", ptesCleaned), ("rmap_walk_vmas", rmapWalkVMAs),
            ("page_walk_vmas", pageWalkVMAs), ("file_time_updates", fileTimeUpdates),
            ("pfn_inserts", pfnInserts),
        ]
    }
}

/// One kernel event: what happened, to whom, when — a typed value that carries no text; exporters render it.
public struct KernelEvent: Sendable, Equatable {
    /// The names events have in exports and in the event hash.
    public enum Kind: String, Sendable {
        case fault, faultResult = "fault-result", retry, mkwrite = "page-mkwrite", pfnMkwrite = "pfn-mkwrite"
        case faultHook = "fault-hook", pteSet = "pte-set", pteZap = "pte-zap", wrprotect, tlbFlush = "tlb-flush"
        case signal, livelock, mmap, munmap, mprotect, fork, exit, cowCopy = "cow-copy"
        case defioBatch = "defio-batch", pteClean = "pte-clean"
        case defioListAdd = "defio-list-add", defioListClear = "defio-list-clear", defioProtect = "defio-protect"
        case timerArm = "timer-arm", timerFire = "timer-fire", tlbShootdown = "tlb-shootdown"
    }

    /// Which lock a RETRY gave up.
    @usableFromInline package enum RetryLock: String, Sendable { case vmaLock = "per-VMA lock", mmapLock = "mmap_lock" }

    @usableFromInline package enum Payload: Sendable, Equatable {
        /// The CPU raised a page fault (do_user_addr_fault).
        case fault(address: VirtAddr, write: Bool)
        /// What the fault came to, and its signal if any.
        case faultResult(address: VirtAddr, result: VMFaultResult)
        case retry(address: VirtAddr, result: VMFaultResult, lock: RetryLock)
        case mkwrite(pgoff: PgOff, result: VMFaultResult)
        case pfnMkwrite(pgoff: PgOff, result: VMFaultResult)
        case faultHook(pgoff: PgOff, result: VMFaultResult)
        case pteSet(address: VirtAddr, pte: PTE, mm: Int)
        case pteZap(address: VirtAddr, pte: PTE, mm: Int)
        /// The PTE made read-only and clean (by the rmap walk, or by walk_page_mapping's `wp` callback).
        case wrprotect(address: VirtAddr, pte: PTE, mm: Int, pageWalk: Bool)
        /// clean_record_shared_mapping_range cleared the dirty bit.
        case pteClean(address: VirtAddr, pte: PTE, mm: Int)
        case tlbFlush(address: VirtAddr, pages: Int, mm: Int)
        case signal(UserFault)
        case livelock(address: VirtAddr, attempts: Int)
        case mmap(start: VirtAddr, end: VirtAddr, pgoff: PgOff, flags: VMFlags, ops: String?)
        case munmap(start: VirtAddr, length: Int)
        case mprotect(start: VirtAddr, end: VirtAddr, pgoff: PgOff, flags: VMFlags, ops: String?, prot: Prot)
        case fork(parent: Int, child: Int)
        case exit(mm: Int)
        /// A private copy of `from` (-1: none, a zero page) into `to`.
        case cowCopy(from: Int, to: Int)
        /// The fb_defio worker hands `pages` to the driver as batch number `batch`.
        case defioBatch(batch: Int, pages: [FBDeferredIOPageref])
        case defioListAdd(pgoff: Int, batch: Int)
        case defioListClear(pages: Int, batch: Int)
        case defioProtect(pgoff: Int, ptes: Int)
        /// A delayed work's timer was filed for tick `expires`; the wheel runs its bucket at tick `bucket`.
        case timerArm(expires: Int64, bucket: Int64, level: Int)
        /// The timer wheel ran the bucket (the event's time is the tick's), `armedAt` being when it was armed.
        case timerFire(bucket: Int64, armedAt: VirtualTime)
        /// A TLB flush of `mm` also reached `cpus` other CPUs by IPI (they had run it).
        case tlbShootdown(mm: Int, cpus: Int)
    }

    package var time: VirtualTime
    package var task: Int
    /// The CPU the event happened on.
    package var cpu: Int
    @usableFromInline package var payload: Payload

    package init(time: VirtualTime, task: Int, cpu: Int = 0, payload: Payload) {
        self.time = time
        self.task = task
        self.cpu = cpu
        self.payload = payload
    }

    @inlinable package var kind: Kind {
        switch payload {
        case .fault: .fault
        case .faultResult: .faultResult
        case .retry: .retry
        case .mkwrite: .mkwrite
        case .pfnMkwrite: .pfnMkwrite
        case .faultHook: .faultHook
        case .pteSet: .pteSet
        case .pteZap: .pteZap
        case .wrprotect: .wrprotect
        case .pteClean: .pteClean
        case .tlbFlush: .tlbFlush
        case .signal: .signal
        case .livelock: .livelock
        case .mmap: .mmap
        case .munmap: .munmap
        case .mprotect: .mprotect
        case .fork: .fork
        case .exit: .exit
        case .cowCopy: .cowCopy
        case .defioBatch: .defioBatch
        case .defioListAdd: .defioListAdd
        case .defioListClear: .defioListClear
        case .defioProtect: .defioProtect
        case .timerArm: .timerArm
        case .timerFire: .timerFire
        case .tlbShootdown: .tlbShootdown
        }
    }

    /// The two numbers the event hash mixes in (and the old fixed-column format showed): address or page first.
    package var operands: (a: Int64, b: Int64) {
        func addr(_ v: VirtAddr) -> Int64 { Int64(bitPattern: v.rawValue) }
        func raw(_ p: PTE) -> Int64 { Int64(bitPattern: p.raw) }
        switch payload {
        case .fault(let a, let w): return (addr(a), w ? 1 : 0)
        case .faultResult(let a, let r): return (addr(a), Int64(r.rawValue))
        case .retry(let a, let r, _): return (addr(a), Int64(r.rawValue))
        case .mkwrite(let p, let r), .pfnMkwrite(let p, let r), .faultHook(let p, let r):
            return (Int64(p.rawValue), Int64(r.rawValue))
        case .pteSet(let a, let p, _), .pteZap(let a, let p, _), .pteClean(let a, let p, _),
             .wrprotect(let a, let p, _, _): return (addr(a), raw(p))
        case .tlbFlush(let a, let n, _): return (addr(a), Int64(n))
        case .signal: return (0, 0)
        case .livelock(let a, let n): return (addr(a), Int64(n))
        case .mmap(let s, let e, _, _, _): return (addr(s), Int64(e - s))
        case .munmap(let s, let n): return (addr(s), Int64(n))
        case .mprotect(let s, _, _, _, _, let prot): return (addr(s), Int64(prot.rawValue))
        case .fork(let p, let c): return (Int64(p), Int64(c))
        case .exit(let mm): return (Int64(mm), 0)
        case .cowCopy(let f, let t): return (Int64(f), Int64(t))
        case .defioBatch(let batch, let pages): return (Int64(pages.count), Int64(batch))
        case .defioListAdd(let p, let b): return (Int64(p), Int64(b))
        case .defioListClear(let n, let b): return (Int64(n), Int64(b))
        case .defioProtect(let p, let n): return (Int64(p), Int64(n))
        case .timerArm(let e, let b, _): return (e, b)
        case .timerFire(let b, let at): return (b, at.nanoseconds)
        case .tlbShootdown(let mm, let n): return (Int64(mm), Int64(n))
        }
    }

    /// The free text exporters show beside the operands (rendered on demand).
    package var note: String {
        switch payload {
        case .faultResult(_, let r), .mkwrite(_, let r), .pfnMkwrite(_, let r), .faultHook(_, let r):
            return r.description
        case .retry(_, _, let lock): return lock.rawValue
        case .pteSet(_, _, let mm), .pteZap(_, _, let mm), .pteClean(_, _, let mm), .tlbFlush(_, _, let mm):
            return "mm\(mm)"
        case .wrprotect(_, _, let mm, let pageWalk): return pageWalk ? "mm\(mm) wp" : "mm\(mm)"
        case .signal(let f): return f.description
        case .mmap(let s, let e, let pgoff, let flags, let ops),
             .mprotect(let s, let e, let pgoff, let flags, let ops, _):
            return "[\(s)-\(e)) pgoff \(pgoff.rawValue) \(flags)\(ops.map { " ops=\($0)" } ?? "")"
        case .defioBatch(_, let pages): return pages.map { String($0.pgoff.rawValue) }.joined(separator: ",")
        case .timerArm(_, _, let level): return "wheel level \(level)"
        case .tlbShootdown(let mm, _): return "mm\(mm)"
        default: return ""
        }
    }
}

extension KernelEvent {
    /// A set of event kinds, one bit a kind: what a subscriber wants to be told.
    package struct KindSet: OptionSet, Sendable {
        package let rawValue: UInt64
        package init(rawValue: UInt64) { self.rawValue = rawValue }
        @inline(__always) package init(_ kind: Kind) { rawValue = 1 << UInt64(kind.tag) }
        package init(_ kinds: [Kind]) { rawValue = kinds.reduce(0) { $0 | Self($1).rawValue } }
        package static let all = Self(Kind.allCases)
    }
}

/// A 64-bit fingerprint of a stream of 64-bit words: per word one xor, one multiply by an odd constant and one
/// xorshift, so that every input bit reaches the high and the low half. The event and frame hashes use it: a byte-wise
/// FNV-1a, which they used before, is a chain of eight dependent multiplies per word (about 60 an event, the largest
/// single cost of recording one), where this is one.
@usableFromInline package struct Fingerprint: Sendable, Hashable {
    @usableFromInline package internal(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325
    package init() {}

    @inlinable @inline(__always) package mutating func mix(_ word: UInt64) {
        let x = (value ^ word) &* 0x9E37_79B9_7F4A_7C15
        value = x ^ (x >> 32)
    }
}

extension KernelEvent.Kind: CaseIterable {
    /// The FNV-1a of the kind's name: the event hash mixes the name, so it does not depend on the order the kinds
    /// are declared in. A kind's position among the cases is its tag, which indexes the table.
    @inline(__always) var nameHash: UInt64 { Self.nameHashes[tag] }

    /// The kind's position among the cases.
    @inline(__always) var tag: Int { Int(unsafeBitCast(self, to: UInt8.self)) }

    static let nameHashes: [UInt64] = allCases.map { kind in
        var f = FNV1a()
        f.mix(bytes: kind.rawValue.utf8)
        return f.value
    }
}

/// What the event log tells of the events of the kinds it was subscribed for. A class rather than a closure: the
/// log holds each subscriber for its own life and calls it without counting a reference per event (a closure call
/// retains its context, and the log calls subscribers several times a fault). `open`, hence public: the subscribers
/// are in other modules of the package.
@EmuActor open class KernelEventSubscriber {
    public init() {}
    /// One event, after the subscribers before this one were told it.
    open func kernelEvent(_ e: KernelEvent) {}
}

/// A closure as a subscriber, for the watchers off the hot path (the step view, tests).
@EmuActor final class ClosureSubscriber: KernelEventSubscriber {
    let call: (KernelEvent) -> Void
    init(_ call: @escaping (KernelEvent) -> Void) { self.call = call }
    override func kernelEvent(_ e: KernelEvent) { call(e) }
}

/// The event trace of a run: a running fingerprint of every event, and optionally the events themselves.
@EmuActor package final class EventLog {
    package var hash: UInt64 { fingerprint.value }
    private var fingerprint = Fingerprint()
    package private(set) var count = 0
    /// Keep events in memory (tests, `--events`). Off by default: long runs only hash.
    package var keep = false
    package private(set) var events: [KernelEvent] = []
    /// The subscribers, in order of subscription (checkers, exporters, the step view), held for the log's life.
    private var owned: [KernelEventSubscriber] = []
    /// The same, each with its kinds, called through `Unmanaged` (no reference count per call).
    private var subscribers: [(kinds: KernelEvent.KindSet, sink: Unmanaged<KernelEventSubscriber>)] = []
    /// The kinds some subscriber wants: most events of a fault (retry, TLB flushes, list adds) interest none while
    /// nothing is exported, and then cost only their hash.
    private var wanted: KernelEvent.KindSet = []

    /// Tells `s` every event of `kinds` (all by default), after the subscribers before it. The log keeps `s`.
    package func subscribe(_ s: KernelEventSubscriber, _ kinds: KernelEvent.KindSet = .all) {
        owned.append(s)
        subscribers.append((kinds, Unmanaged.passUnretained(s)))
        wanted.formUnion(kinds)
    }

    /// Calls `call` with every event of `kinds` (all by default), after the subscribers before it.
    package func subscribe(_ kinds: KernelEvent.KindSet = .all, _ call: @escaping (KernelEvent) -> Void) {
        subscribe(ClosureSubscriber(call), kinds)
    }

    package init() {}

    package func record(_ e: KernelEvent) {
        count += 1
        let (a, b) = e.operands
        var f = fingerprint
        f.mix(UInt64(bitPattern: e.time.picoseconds))
        f.mix(UInt64(bitPattern: Int64(e.task)))
        f.mix(e.kind.nameHash)
        f.mix(UInt64(bitPattern: a))
        f.mix(UInt64(bitPattern: b))
        if e.cpu != 0 { f.mix(UInt64(e.cpu)) }
        fingerprint = f
        if keep { events.append(e) }
        let kind = KernelEvent.KindSet(e.kind)
        guard wanted.contains(kind) else { return }
        for s in subscribers where s.kinds.contains(kind) { s.sink._withUnsafeGuaranteedRef { $0.kernelEvent(e) } }
    }

    package func events(of kind: KernelEvent.Kind) -> [KernelEvent] { events.filter { $0.kind == kind } }
}

/// Something the kernel would print and then not recover from: the run is over when one happens.
package enum KernelFailure: Sendable, Equatable, CustomStringConvertible {
    /// A NULL or freed pointer was dereferenced. Kernel: "BUG: kernel NULL pointer dereference" / KASAN UAF
    case oops(String)
    /// CONFIG_DEBUG_LIST found a list whose neighbours do not point at each other. Kernel: lib/list_debug.c
    case listCorruption(String)
    /// A kernel loop that never ends with a lock held. Kernel: "watchdog: BUG: soft lockup"
    case softLockup(String)
    /// A task waited longer than the hung-task timeout. Kernel: khungtaskd — kernel/hung_task.c
    case hungTask(String)

    package var description: String {
        switch self {
        case .oops(let t): "BUG: \(t)"
        case .listCorruption(let t): "list corruption: \(t)"
        case .softLockup(let t): "watchdog: BUG: soft lockup - \(t)"
        case .hungTask(let t): "INFO: \(t)"
        }
    }
}

/// A WARN_ON_ONCE site that was reached: the kernel prints it the first time only, the emulator also counts the
/// hits. Kernel: WARN_ON_ONCE() — include/asm-generic/bug.h (one `__warned` flag per call site)
package struct OnceWarning: Sendable, Equatable {
    /// The kernel function and the condition that fired.
    package let site: String
    /// What the first hit printed.
    package let text: String
    /// When the first hit happened.
    package let first: VirtualTime
    /// How many times the site was reached with its condition true.
    package internal(set) var hits: Int
}

/// One emulated machine's kernel: the scheduler (and with it the clock), RAM, vmalloc, counters and events.
@EmuActor public final class EmuKernel {
    public let sched: Scheduler
    public let phys: PhysicalMemory
    public let vmalloc: Vmalloc
    package var config: MMConfig
    public var stats = VMStat()
    package let events = EventLog()
    /// Oopses, list corruptions, soft lockups and hung tasks, in order.
    package private(set) var failures: [KernelFailure] = []
    /// Called with each failure as it happens (checkers stop the run here).
    package var onFailure: [(KernelFailure) -> Void] = []
    /// Every WARN_ON_ONCE site reached, in the order they were first reached.
    package private(set) var onceWarnings: [OnceWarning] = []
    private var nextMMId = 1
    private var nextVMAId = 1
    var nextPid = 0
    /// Every process ever created, in creation order.
    package internal(set) var processes: [UserTask] = []
    /// The same processes by scheduler task id.
    var processBySchedID: [UserTask?] = []
    /// The system workqueue and its worker thread, created on first use. Kernel: system_wq
    package private(set) lazy var systemWorkqueue = Workqueue("events", kernel: self)

    public init(policy: SchedPolicy, cpus: Int = 1, tickRate: TickRate = TickRate(hz: 250), ramPages: Int = 16384,
                costs: CostTable = .default, config: MMConfig = MMConfig(), replay: Schedule? = nil) {
        sched = Scheduler(policy: policy, cpus: cpus, tickRate: tickRate, costs: costs, replay: replay)
        phys = PhysicalMemory(pages: ramPages, scheduler: sched)
        vmalloc = Vmalloc(phys: phys)
        self.config = config
        sched.onHungTask = { [unowned self] text in self.fail(.hungTask(text)) }
    }

    /// Records a failure the kernel would print (and not recover from), and tells the subscribers.
    package func fail(_ f: KernelFailure) {
        failures.append(f)
        sched.report(f.description)
        for s in onFailure { s(f) }
    }

    /// Kernel: an oops (NULL or freed dereference) in the running task.
    package func oops(_ text: String) { fail(.oops(text)) }
    /// Kernel: CHECK_DATA_CORRUPTION() in lib/list_debug.c
    package func listCorruption(_ text: String) { fail(.listCorruption(text)) }
    /// Kernel: the soft-lockup watchdog — kernel/watchdog.c
    package func softLockup(_ text: String) { fail(.softLockup(text)) }

    /// A kernel warning that does not stop the machine, reported every time (`warnOnOnce` for the once-only
    /// kind). Kernel: WARN_ON() / dev_warn() / pr_warn(), and VM_BUG_ON turned into a warning
    package func warn(_ text: String) {
        sched.report("WARNING: \(text)")
    }

    /// A warning printed once per site: the first hit of `site` becomes a report of the run, every later hit only
    /// raises the site's count. `site` names the kernel function and condition (one flag per call site, as the
    /// kernel's static `__warned`). Kernel: WARN_ON_ONCE() / WARN_ONCE() / dev_warn_once()
    package func warnOnOnce(_ site: String, _ text: @autoclosure () -> String) {
        if let i = onceWarnings.firstIndex(where: { $0.site == site }) {
            onceWarnings[i].hits += 1
            return
        }
        let t = text()
        onceWarnings.append(OnceWarning(site: site, text: t, first: now, hits: 1))
        sched.report("WARNING: \(t)")
    }

    /// One line per WARN_ON_ONCE site reached more than once (the report shows only the first hit).
    package var onceWarningCounts: [String] {
        onceWarnings.filter { $0.hits > 1 }.map { "WARN_ON_ONCE \($0.site): \($0.hits) hits, printed once" }
    }

    public var now: VirtualTime { sched.now }
    public var costs: CostTable { sched.costs }

    /// Records an event on behalf of the running task. Nothing but the typed value is made: text is rendered only by
    /// the exporters that subscribe.
    package func event(_ payload: KernelEvent.Payload) {
        events.record(KernelEvent(time: sched.now, task: sched.current, cpu: sched.executingCPU, payload: payload))
    }

    /// Records an event of interrupt context (task -1) that happened at `time` on `cpu` — a timer's tick — rather
    /// than at the executing CPU's clock.
    package func event(_ payload: KernelEvent.Payload, at time: VirtualTime, cpu: Int) {
        events.record(KernelEvent(time: time, task: -1, cpu: cpu, payload: payload))
    }

    func allocMMId() -> Int {
        defer { nextMMId += 1 }
        return nextMMId
    }

    func allocVMAId() -> Int {
        defer { nextVMAId += 1 }
        return nextVMAId
    }
}
