// SPDX-License-Identifier: MIT — the root of one emulated machine's kernel: scheduler, RAM, counters, events.

/// Switches of the memory-management core that differ between kernel versions or architectures.
public struct MMConfig: Sendable, Equatable {
    /// Try the per-VMA lock first on user faults (x86-64 since 6.4). Every fault that needs `->fault` or
    /// `->page_mkwrite` then returns RETRY once and is redone under mmap_lock (kernel-spec.md §5.1, scenario 21).
    public var perVMALocks = true
    /// Consecutive fault attempts on one access without progress after which the task is declared livelocked.
    public var livelockAttempts = 1000
    /// Accesses a task may make on the TLB fast path before it reaches a `.quantum` preemption point.
    public var storeBudget = 256
    /// `walk_page_mapping()` ends the whole walk when a VMA's `test_walk` answers "skip" (> 0) instead of skipping
    /// only that VMA, so one private mapping of the file that sorts earlier in `i_mmap` hides every later shared one
    /// from `wp_shared_mapping_range()` / `clean_record_shared_mapping_range()` (kernel-spec.md §4.1, bug O). True is
    /// the kernel's behaviour; false skips just the VMA.
    public var walkPageMappingBreaksOnSkip = true
    /// `page_vma_mkclean_one()` flushes the TLB entry of every PTE it write-protects (`ptep_clear_flush`). Off:
    /// the hypothetical missing flush, which leaves a writable TLB entry behind a read-only PTE.
    public var wrprotectFlushesTLB = true
    /// Before 5.16 a `VM_FAULT_OOM` out of a user fault ran the OOM killer on the faulting task; since then
    /// `pagefault_out_of_memory()` only warns and the access is retried (a handler that keeps returning OOM spins).
    public var oomKillsOnUserFault = false
    public init() {}
}

/// Counters of the mm, in the spirit of /proc/vmstat. Every fault path bumps its own.
public struct VMStat: Sendable, Equatable {
    /// `handle_mm_fault` calls that were accounted (a RETRY is not).
    public var faults = 0
    /// Every entry into the fault handler, retries included.
    public var faultAttempts = 0
    public var vmaLockRetries = 0
    public var readFaults = 0, cowFaults = 0, sharedFaults = 0, anonFaults = 0
    /// `do_wp_page` and where it went.
    public var wpFaults = 0, wpPageShared = 0, wpPFNShared = 0, wpPageCopy = 0, wpAnonReuse = 0
    /// Faults that found the PTE already fixed (changed under them, or writable already).
    public var spuriousFaults = 0
    /// NOPAGE from a pte_same / vmf_pte_changed recheck after a hook dropped the PTL.
    public var pteChangedBailouts = 0
    public var faultHookCalls = 0, pageMkwriteCalls = 0, pfnMkwriteCalls = 0
    /// `do_page_mkwrite` returned 0 because the page lost its mapping (the access is retried).
    public var mkwriteRetries = 0
    public var sigsegv = 0, sigbus = 0, oom = 0, livelocks = 0
    public var tlbRefills = 0, tlbFlushPage = 0, tlbFlushRange = 0, tlbFlushAll = 0
    public var ptesInstalled = 0, ptesZapped = 0, ptesWrprotected = 0
    /// PTEs whose DIRTY bit `clean_record_shared_mapping_range()` cleared (write permission kept).
    public var ptesCleaned = 0
    /// VMAs visited by `__rmap_walk_file()` and by `walk_page_mapping()` (each i_mmap overlap reported once).
    public var rmapWalkVMAs = 0, pageWalkVMAs = 0
    public var fileTimeUpdates = 0
    public var pfnInserts = 0

    public init() {}

    /// name=value pairs in a fixed order, for summaries and golden files.
    public var fields: [(String, Int)] {
        [
            ("faults", faults), ("fault_attempts", faultAttempts), ("vma_lock_retries", vmaLockRetries),
            ("read_faults", readFaults), ("cow_faults", cowFaults), ("shared_faults", sharedFaults),
            ("anon_faults", anonFaults), ("wp_faults", wpFaults), ("wp_page_shared", wpPageShared),
            ("wp_pfn_shared", wpPFNShared), ("wp_page_copy", wpPageCopy), ("wp_anon_reuse", wpAnonReuse),
            ("spurious_faults", spuriousFaults), ("pte_changed_bailouts", pteChangedBailouts),
            ("fault_hook_calls", faultHookCalls), ("page_mkwrite_calls", pageMkwriteCalls),
            ("pfn_mkwrite_calls", pfnMkwriteCalls), ("mkwrite_retries", mkwriteRetries),
            ("sigsegv", sigsegv), ("sigbus", sigbus), ("oom", oom), ("livelocks", livelocks),
            ("tlb_refills", tlbRefills), ("tlb_flush_page", tlbFlushPage), ("tlb_flush_range", tlbFlushRange),
            ("tlb_flush_all", tlbFlushAll), ("ptes_installed", ptesInstalled), ("ptes_zapped", ptesZapped),
            ("ptes_wrprotected", ptesWrprotected), ("ptes_cleaned", ptesCleaned), ("rmap_walk_vmas", rmapWalkVMAs),
            ("page_walk_vmas", pageWalkVMAs), ("file_time_updates", fileTimeUpdates),
            ("pfn_inserts", pfnInserts),
        ]
    }
}

/// One kernel event: what happened, to whom, when. Cheap to record (no strings until rendered).
public struct KernelEvent: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case fault, faultResult = "fault-result", retry, mkwrite = "page-mkwrite", pfnMkwrite = "pfn-mkwrite"
        case faultHook = "fault-hook", pteSet = "pte-set", pteZap = "pte-zap", wrprotect, tlbFlush = "tlb-flush"
        case signal, livelock, mmap, munmap, mprotect, fork, exit, schedSwitch = "switch", cowCopy = "cow-copy"
        case defioBatch = "defio-batch", pteClean = "pte-clean"
        /// A pageref joined the list (a: pgoff, b: batches so far); the worker emptied it (a: pages, b: batch).
        case defioListAdd = "defio-list-add", defioListClear = "defio-list-clear"
        /// The worker write-protected one listed page (a: pgoff, b: PTEs changed).
        case defioProtect = "defio-protect"
    }
    public var time: VirtualTime
    public var task: Int
    public var kind: Kind
    public var a: Int64
    public var b: Int64
    public var note: String

    /// One fixed-column line: time (ns), task, kind, two operands in hex, free text.
    public var line: String {
        let t = String(time.nanoseconds)
        let pad = String(repeating: " ", count: max(0, 12 - t.count))
        let k = kind.rawValue + String(repeating: " ", count: max(0, 12 - kind.rawValue.count))
        return "\(pad)\(t) T\(task) \(k) \(String(a, radix: 16)) \(String(b, radix: 16))\(note.isEmpty ? "" : " " + note)"
    }
}

/// The event trace of a run: a running FNV-1a hash of every event, and optionally the events themselves.
@EmuActor public final class EventLog {
    public var hash: UInt64 { fnv.value }
    private var fnv = FNV1a()
    public private(set) var count = 0
    /// Keep events in memory (tests, `--events`). Off by default: long runs only hash.
    public var keep = false
    public private(set) var events: [KernelEvent] = []
    /// Called for every event with its note (exporters attach here).
    public var observer: ((KernelEvent) -> Void)?
    /// Called for every event, in order of subscription; notes are not built for them (checkers attach here).
    public private(set) var subscribers: [(KernelEvent) -> Void] = []

    public func subscribe(_ s: @escaping (KernelEvent) -> Void) { subscribers.append(s) }

    public init() {}

    public func record(_ e: KernelEvent) {
        count += 1
        fnv.mix(UInt64(bitPattern: e.time.picoseconds))
        fnv.mix(UInt64(bitPattern: Int64(e.task)))
        fnv.mix(bytes: e.kind.rawValue.utf8)
        fnv.mix(UInt64(bitPattern: e.a))
        fnv.mix(UInt64(bitPattern: e.b))
        if keep { events.append(e) }
        observer?(e)
        for s in subscribers { s(e) }
    }

    public func events(of kind: KernelEvent.Kind) -> [KernelEvent] { events.filter { $0.kind == kind } }
}

/// Something the kernel would print and then not recover from: the run is over when one happens.
public enum KernelFailure: Sendable, Equatable, CustomStringConvertible {
    /// A NULL or freed pointer was dereferenced. Kernel: "BUG: kernel NULL pointer dereference" / KASAN UAF
    case oops(String)
    /// CONFIG_DEBUG_LIST found a list whose neighbours do not point at each other. Kernel: lib/list_debug.c
    case listCorruption(String)
    /// A kernel loop that never ends with a lock held. Kernel: "watchdog: BUG: soft lockup"
    case softLockup(String)
    /// A task waited longer than the hung-task timeout. Kernel: khungtaskd — kernel/hung_task.c
    case hungTask(String)

    public var kind: String {
        switch self {
        case .oops: "oops"
        case .listCorruption: "list corruption"
        case .softLockup: "soft lockup"
        case .hungTask: "hung task"
        }
    }

    public var description: String {
        switch self {
        case .oops(let t): "BUG: \(t)"
        case .listCorruption(let t): "list corruption: \(t)"
        case .softLockup(let t): "watchdog: BUG: soft lockup - \(t)"
        case .hungTask(let t): "INFO: \(t)"
        }
    }
}

/// One emulated machine's kernel: the scheduler (and with it the clock), RAM, vmalloc, counters and events.
@EmuActor public final class EmuKernel {
    public let sched: Scheduler
    public let phys: PhysicalMemory
    public let vmalloc: Vmalloc
    public var config: MMConfig
    public var stats = VMStat()
    public let events = EventLog()
    /// Oopses, list corruptions, soft lockups and hung tasks, in order.
    public private(set) var failures: [KernelFailure] = []
    /// Called with each failure as it happens (checkers stop the run here).
    public var onFailure: [(KernelFailure) -> Void] = []
    private var nextMMId = 1
    private var nextVMAId = 1
    var nextPid = 0
    /// Every process ever created, in creation order.
    public internal(set) var processes: [UserTask] = []
    /// The system workqueue and its worker thread, created on first use. Kernel: system_wq
    public private(set) lazy var systemWorkqueue = Workqueue("events", kernel: self)

    public init(policy: SchedPolicy, tickRate: TickRate = TickRate(hz: 250), ramPages: Int = 16384,
                costs: CostTable = .default, config: MMConfig = MMConfig(), replay: Schedule? = nil) {
        sched = Scheduler(policy: policy, tickRate: tickRate, costs: costs, replay: replay)
        phys = PhysicalMemory(pages: ramPages, scheduler: sched)
        vmalloc = Vmalloc(phys: phys)
        self.config = config
        sched.onHungTask = { [unowned self] text in self.fail(.hungTask(text)) }
    }

    /// Records a failure the kernel would print (and not recover from), and tells the subscribers.
    public func fail(_ f: KernelFailure) {
        failures.append(f)
        sched.report(f.description)
        for s in onFailure { s(f) }
    }

    /// Kernel: an oops (NULL or freed dereference) in the running task.
    public func oops(_ text: String) { fail(.oops(text)) }
    /// Kernel: CHECK_DATA_CORRUPTION() in lib/list_debug.c
    public func listCorruption(_ text: String) { fail(.listCorruption(text)) }
    /// Kernel: the soft-lockup watchdog — kernel/watchdog.c
    public func softLockup(_ text: String) { fail(.softLockup(text)) }

    public var now: VirtualTime { sched.now }
    public var costs: CostTable { sched.costs }

    /// Records an event on behalf of the running task.
    /// The note is only built when someone keeps or observes the events (long runs just hash them).
    public func event(_ kind: KernelEvent.Kind, _ a: Int64 = 0, _ b: Int64 = 0, _ note: @autoclosure () -> String = "") {
        let text = events.keep || events.observer != nil ? note() : ""
        events.record(KernelEvent(time: sched.now, task: sched.current, kind: kind, a: a, b: b, note: text))
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
