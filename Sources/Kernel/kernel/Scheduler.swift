// SPDX-License-Identifier: MIT — the deterministic scheduler (kernel analogue: kernel/sched/, one emulated CPU).

/// The places where the running task may lose the CPU. The scheduler switches here and nowhere else.
///
/// Each case exists for a kernel window whose interleavings matter; the comment names it.
public enum PreemptionPoint: UInt8, CaseIterable, Sendable, CustomStringConvertible {
    /// The first decision of a run.
    case boot
    /// A task's store budget ran out on the fast path (the timer interrupt of a busy user loop).
    case quantum
    /// System-call entry: mmap, munmap, mprotect, fork, fsync, close.
    case syscall
    /// A user access missed the TLB and entered the fault handler (`do_user_addr_fault`).
    case faultEntry
    /// Before taking a sleeping lock (mutex, rw-semaphore), and after releasing one.
    case mutexLock, mutexUnlock
    case rwsemDown, rwsemUp
    /// Before taking a spinlock (the split page-table lock), and after releasing one.
    case spinLock, spinUnlock
    /// Before `lock_page`, after `unlock_page`.
    case pageLock, pageUnlock
    /// The running task blocked (lock contention, waiting for work or for a flush) or went to sleep.
    case blocked
    /// The running task ended.
    case taskExit
    /// memory.c dropped the PTL to call `->page_mkwrite`/`->pfn_mkwrite`: another task may change the PTE
    /// before `finish_mkwrite_fault` rechecks it (pte_same, scenario 23).
    case beforeMkwrite
    /// `->page_mkwrite` returned (the page is locked if it returned LOCKED) and the PTE is not yet writable:
    /// the window of bugs A and H, where the fb_defio worker may write-protect before the PTE is upgraded.
    case afterMkwrite
    /// `->fault` returned a page and `finish_fault` has not yet taken the PTL (vmf_pte_changed recheck).
    case beforeFinishFault
    /// `__rmap_walk_file` may reschedule between VMAs (`cond_resched`).
    case rmapWalkVMA
    /// The fb_defio worker between write-protecting the pages and calling the driver (issue 4's window).
    case workerBeforeCallback

    public var description: String {
        switch self {
        case .boot: "boot"
        case .quantum: "quantum"
        case .syscall: "syscall"
        case .faultEntry: "fault-entry"
        case .mutexLock: "mutex-lock"
        case .mutexUnlock: "mutex-unlock"
        case .rwsemDown: "rwsem-down"
        case .rwsemUp: "rwsem-up"
        case .spinLock: "spin-lock"
        case .spinUnlock: "spin-unlock"
        case .pageLock: "page-lock"
        case .pageUnlock: "page-unlock"
        case .blocked: "blocked"
        case .taskExit: "task-exit"
        case .beforeMkwrite: "before-mkwrite"
        case .afterMkwrite: "after-mkwrite"
        case .beforeFinishFault: "before-finish-fault"
        case .rmapWalkVMA: "rmap-walk-vma"
        case .workerBeforeCallback: "worker-before-callback"
        }
    }
}

/// How the scheduler chooses the next task: a pure, synchronous, seeded value (testable without any task).
public struct SchedPolicy: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// At every preemption point, with probability `switchRatio`, hand the CPU to a uniformly chosen other
        /// runnable task. Explores interleavings.
        case randomWalk(switchRatio: Ratio)
        /// Keep the CPU for `quantum` of virtual time, then pass it to the next runnable task in id order.
        case roundRobin(quantum: VirtualTime)
        /// Probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010): every task gets a random priority
        /// when first seen, the highest-priority runnable task runs, and at `depth − 1` decisions chosen uniformly
        /// among the first `steps` the running task drops below every initial priority.
        case pct(depth: Int, steps: Int)
        /// Only the listed switches: at decision k, `switches[k]` if it can run; elsewhere the running task stays,
        /// or the lowest runnable id takes over when it cannot. A schedule in this form shrinks by dropping entries.
        case scripted(switches: [Int: Int])
    }
    public let kind: Kind
    public private(set) var rng: SplitMix64
    /// Decisions taken so far (PCT's step counter and the scripted policy's index).
    public private(set) var step = 0
    /// PCT: each task's priority (higher runs first), and the steps at which the running task is demoted.
    public private(set) var priorities: [Int: Int] = [:]
    public private(set) var changePoints: [Int] = []

    public init(_ kind: Kind, seed: UInt64) {
        self.kind = kind
        rng = SplitMix64(seed: SplitMix64.derive(seed, "sched"))
        if case .pct(let depth, let steps) = kind {
            var points = Set<Int>()
            while points.count < min(max(depth - 1, 0), max(steps, 1)) { points.insert(rng.below(max(steps, 1))) }
            changePoints = points.sorted()
        }
    }

    public static func pct(seed: UInt64, depth: Int = 3, steps: Int = 400) -> SchedPolicy {
        SchedPolicy(.pct(depth: depth, steps: steps), seed: seed)
    }

    /// A script of switches (decision → task); no randomness is involved.
    public static func scripted(_ switches: [Int: Int]) -> SchedPolicy {
        SchedPolicy(.scripted(switches: switches), seed: 0)
    }

    /// The default choice of the scripted policy: stay if possible, else the lowest runnable id.
    public static func stayOrLowest(current: Int, runnable: [Int]) -> Int {
        runnable.contains(current) ? current : runnable[0]
    }

    /// PCT's priority of `task`, drawn on first sight: above every demotion value (which are 1 … depth − 1).
    private mutating func priority(_ task: Int) -> Int {
        if let p = priorities[task] { return p }
        let p = changePoints.count + 1 + Int(rng.below(1 << 30))
        priorities[task] = p
        return p
    }

    public static func random(seed: UInt64, switchRatio: Ratio = Ratio(1, 4)) -> SchedPolicy {
        SchedPolicy(.randomWalk(switchRatio: switchRatio), seed: seed)
    }
    public static func roundRobin(quantum: VirtualTime = .us(100), seed: UInt64 = 0) -> SchedPolicy {
        SchedPolicy(.roundRobin(quantum: quantum), seed: seed)
    }

    /// Picks the task to run next.
    /// - Parameters:
    ///   - current: the task on the CPU (it may be absent from `runnable` if it just blocked or exited).
    ///   - runnable: runnable task ids, ascending, never empty.
    ///   - sliceUsed: virtual time `current` has run since it was last picked.
    public mutating func pick(current: Int, runnable: [Int], sliceUsed: VirtualTime) -> Int {
        precondition(!runnable.isEmpty)
        let currentRunnable = runnable.contains(current)
        defer { step += 1 }
        switch kind {
        case .pct:
            if let i = changePoints.firstIndex(of: step), currentRunnable {
                _ = priority(current)
                priorities[current] = changePoints.count - i  // below every initial priority, later points lower
            }
            var best = runnable[0], bestPriority = Int.min
            for t in runnable {
                let p = priority(t)
                if p > bestPriority { (best, bestPriority) = (t, p) }
            }
            return best
        case .scripted(let switches):
            if let t = switches[step], runnable.contains(t) { return t }
            return Self.stayOrLowest(current: current, runnable: runnable)
        case .randomWalk(let ratio):
            if currentRunnable {
                guard runnable.count > 1, rng.chance(ratio) else { return current }
                let k = rng.below(runnable.count - 1)
                let others = runnable.filter { $0 != current }
                return others[k]
            }
            return runnable[rng.below(runnable.count)]
        case .roundRobin(let quantum):
            if currentRunnable && sliceUsed < quantum { return current }
            return runnable.first(where: { $0 > current }) ?? runnable[0]
        }
    }

    public var description: String {
        switch kind {
        case .randomWalk(let r): "random(switch=\(r))"
        case .roundRobin(let q): "rr(quantum=\(q.nanoseconds)ns)"
        case .pct(let d, let k): "pct(depth=\(d), steps=\(k))"
        case .scripted(let s): "scripted(\(s.count) switches)"
        }
    }
}

/// A recorded run of scheduling decisions: the task chosen at every point where more than one could run.
/// Replaying it against the same machine and flags reproduces the run exactly.
public struct Schedule: Sendable, Equatable {
    public var decisions: [Int]
    public init(decisions: [Int] = []) { self.decisions = decisions }

    /// Text form: a header line, then the decisions, 32 per line.
    public var text: String {
        var out = "# fbdefio-emu schedule v1: one task id per decision\n"
        for start in stride(from: 0, to: decisions.count, by: 32) {
            out += decisions[start ..< min(start + 32, decisions.count)].map(String.init).joined(separator: " ")
            out += "\n"
        }
        return out
    }

    public enum ParseError: Error, CustomStringConvertible {
        case badToken(line: Int, token: String)
        public var description: String {
            switch self {
            case .badToken(let line, let token): "schedule line \(line): '\(token)' is not a task id"
            }
        }
    }

    public init(parsing text: String) throws(ParseError) {
        var decisions: [Int] = []
        for (n, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            for token in line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }) {
                guard let id = Int(token), id >= 0, id < 65536 else {
                    throw .badToken(line: n + 1, token: String(token))
                }
                decisions.append(id)
            }
        }
        self.decisions = decisions
    }
}

/// How a run of the scheduler ended.
public enum RunOutcome: Sendable, Equatable, CustomStringConvertible {
    /// Every non-daemon task finished and no timer is pending.
    case completed
    /// Tasks remain blocked, nothing is runnable and no timer can ever wake them.
    case deadlock(String)
    /// A replayed schedule named a task that could not run at that point.
    case replayDiverged(String)

    public var description: String {
        switch self {
        case .completed: "completed"
        case .deadlock(let report): "DEADLOCK: \(report)"
        case .replayDiverged(let report): "REPLAY DIVERGED: \(report)"
        }
    }
}

/// The scheduler of one emulated machine: task states, the virtual clock, timers, and the switch mechanism.
///
/// Exactly one task of a machine runs at a time. A task gives up the CPU only inside `preempt`, `block`,
/// `sleep` or when it ends; every other task of the machine is parked on a continuation. A preemption point where
/// the policy keeps the current task costs a few nanoseconds and never suspends.
@EmuActor public final class Scheduler {
    public enum TaskState: Equatable, Sendable { case runnable, blocked, sleeping, done }

    final class Entry {
        let id: Int
        let name: String
        let daemon: Bool
        var state: TaskState = .runnable
        var waitReason = ""
        /// When the task last blocked, and whether the wait counts for the hung-task detector (TASK_UNINTERRUPTIBLE).
        var blockedSince = VirtualTime.zero
        var uninterruptible = false
        var hungReported = false
        var continuation: UnsafeContinuation<Void, Never>?
        init(id: Int, name: String, daemon: Bool) {
            self.id = id
            self.name = name
            self.daemon = daemon
        }
    }

    struct Timer {
        let deadline: VirtualTime
        let seq: Int
        let action: @EmuActor () -> Void
    }

    /// The virtual clock. Advanced by `charge` (work) and by warps to the next timer when nobody can run.
    public private(set) var now = VirtualTime.zero
    public let tickRate: TickRate
    public var jiffies: Jiffies { tickRate.jiffies(at: now) }

    private var entries: [Entry] = []
    private var runQueue: [Int] = []  // Runnable task ids, ascending.
    /// The task on the CPU, or -1 outside a run.
    public private(set) var current = -1
    private var sliceStart = VirtualTime.zero
    public private(set) var policy: SchedPolicy
    private var replay: [Int]?
    private var replayPosition = 0
    /// Every decision taken where more than one task could run, in order (replayable with `Schedule`).
    public private(set) var recorded: [Int] = []
    /// The decisions that differ from "stay, or the lowest runnable id": replayed with `.scripted`, they give the
    /// same run, and dropping one gives a run with one switch fewer.
    public private(set) var deviations: [Int: Int] = [:]
    private var timers: [Timer] = []  // Sorted by (deadline, seq).
    private var timerSeq = 0
    private var finished: UnsafeContinuation<Void, Never>?
    public private(set) var outcome: RunOutcome?
    public private(set) var isRunning = false

    /// FNV-1a over every switch (from, point, to, time): equal hashes mean equal interleavings.
    public var switchHash: UInt64 { switchFNV.value }
    private var switchFNV = FNV1a()
    public private(set) var preemptionPoints = 0
    public private(set) var switches = 0
    /// Reports of problems found while running (livelocks, warnings) that do not stop the run.
    public private(set) var reports: [String] = []
    /// khungtaskd's timeout: a task blocked uninterruptibly for longer than this is reported (once per wait).
    /// 122 s, the figure real reports print (the 120 s timeout plus the check interval's slack).
    public var hungTaskTimeout = VirtualTime.ms(122_000)
    /// Told of each hung task as the detector finds it.
    public var onHungTask: ((String) -> Void)?
    /// Optional observer of switches, for event logs.
    public var onSwitch: ((_ from: Int, _ point: PreemptionPoint, _ to: Int) -> Void)?

    /// The cost of each emulated operation, charged to the virtual clock.
    public let costs: CostTable

    public init(policy: SchedPolicy, tickRate: TickRate = TickRate(hz: 250), costs: CostTable = .default,
                replay: Schedule? = nil) {
        self.policy = policy
        self.tickRate = tickRate
        self.costs = costs
        self.replay = replay?.decisions
    }

    // MARK: - Tasks

    /// Creates a task that starts parked and first runs when the policy picks it.
    @discardableResult
    public func spawn(_ name: String, daemon: Bool = false, _ body: @escaping @EmuActor () async -> Void) -> Int {
        let id = entries.count
        entries.append(Entry(id: id, name: name, daemon: daemon))
        insertRunnable(id)
        Task { @EmuActor in
            await self.waitForFirstRun(id)
            await body()
            await self.exit(id)
        }
        return id
    }

    public func name(of id: Int) -> String { entries[id].name }
    public func state(of id: Int) -> TaskState { entries[id].state }
    public var taskCount: Int { entries.count }

    private func waitForFirstRun(_ id: Int) async {
        if current == id { return }
        await withTaskExecutorPreference(EmuExecutor.shared) {
            // Entering the preference scope may hop through the executor queue, during which the running task
            // can already have picked this one; then there is nothing to wait for.
            await withUnsafeContinuation { c in
                if current == id { c.resume() } else { entries[id].continuation = c }
            }
        }
    }

    private func exit(_ id: Int) async {
        precondition(current == id, "task \(id) ended while not on the CPU")
        entries[id].state = .done
        removeRunnable(id)
        if isShuttingDown {
            shutdownWaiter?.resume()
            shutdownWaiter = nil
            return
        }
        await switchAway(from: id, .taskExit)
    }

    /// Set while `shutdown` winds down the daemons of a finished run.
    public private(set) var isShuttingDown = false
    private var shutdownWaiter: UnsafeContinuation<Void, Never>?

    /// After a run: lets every daemon task parked in an idle wait (the workqueue worker waiting for work) return
    /// and end, so that nothing keeps the machine alive. Call it only once the run is over; tasks left blocked in
    /// a deadlock stay parked.
    public func shutdown() async {
        precondition(!isRunning, "shutdown during a run")
        isShuttingDown = true
        for e in entries where e.daemon && e.state == .blocked && !e.uninterruptible && e.continuation != nil {
            current = e.id
            await withTaskExecutorPreference(EmuExecutor.shared) {
                await withUnsafeContinuation { c in
                    shutdownWaiter = c
                    resume(e.id)
                }
            }
        }
        current = -1
    }

    // MARK: - Running

    /// Runs the machine until every non-daemon task has ended (or a deadlock), then returns how it ended.
    public func run() async -> RunOutcome {
        precondition(!isRunning, "the scheduler is already running")
        isRunning = true
        outcome = nil
        guard let first = selectNext(from: -1, .boot) else {
            finishRun(nil)
            return outcome!
        }
        current = first
        sliceStart = now
        resume(first)
        await withTaskExecutorPreference(EmuExecutor.shared) {
            await withUnsafeContinuation { c in
                if isRunning { finished = c } else { c.resume() }  // The run may end during the scope's hop.
            }
        }
        return outcome!
    }

    /// Advances the virtual clock by the cost of work done by the running task.
    @inline(__always) public func charge(_ cost: VirtualTime) {
        now.picoseconds &+= cost.picoseconds
    }

    /// A preemption point: the policy may hand the CPU to another runnable task here.
    @inline(__always) public func preempt(_ point: PreemptionPoint) async {
        guard current >= 0 else { return }
        preemptionPoints &+= 1
        if !timers.isEmpty && timers[0].deadline <= now { fireDueTimers() }
        let me = current
        let next = decide(point)
        if _fastPath(next == me) { return }
        await park(me, switchingTo: next, point)
    }

    /// Blocks the running task until `wake` is called for it. `reason` names what it waits for (deadlock and
    /// hung-task reports); an `uninterruptible` wait (a lock, a flush) is what the hung-task detector watches.
    public func block(_ reason: String, uninterruptible: Bool = true) async {
        let me = current
        precondition(me >= 0, "block outside a task: \(reason)")
        entries[me].state = .blocked
        entries[me].waitReason = reason
        entries[me].blockedSince = now
        entries[me].uninterruptible = uninterruptible
        entries[me].hungReported = false
        removeRunnable(me)
        await switchAway(from: me, .blocked)
    }

    /// Makes a blocked or sleeping task runnable again. It runs when the policy picks it.
    public func wake(_ id: Int) {
        let e = entries[id]
        guard e.state == .blocked || e.state == .sleeping else { return }
        e.state = .runnable
        e.waitReason = ""
        insertRunnable(id)
    }

    /// Sleeps the running task until virtual time `deadline`.
    public func sleep(until deadline: VirtualTime) async {
        let me = current
        precondition(me >= 0, "sleep outside a task")
        guard deadline > now else { return }
        entries[me].state = .sleeping
        entries[me].waitReason = "sleep until \(deadline)"
        removeRunnable(me)
        addTimer(at: deadline) { [unowned self] in self.wake(me) }
        await switchAway(from: me, .blocked)
    }

    /// Records a problem (for example a livelock) found by kernel code; the run goes on.
    public func report(_ text: String) {
        reports.append("[\(now)] \(text)")
    }

    // MARK: - Timers

    /// Arms a timer; its action runs on whatever task is current when the clock passes `deadline` (like a
    /// softirq), and may only wake tasks or queue work. Returns a handle for `cancelTimer`.
    @discardableResult
    public func addTimer(at deadline: VirtualTime, _ action: @escaping @EmuActor () -> Void) -> Int {
        timerSeq += 1
        let t = Timer(deadline: deadline, seq: timerSeq, action: action)
        let i = timers.firstIndex(where: { ($0.deadline, $0.seq) > (deadline, t.seq) }) ?? timers.count
        timers.insert(t, at: i)
        return t.seq
    }

    /// Removes a pending timer; returns false if it already fired or never existed.
    @discardableResult
    public func cancelTimer(_ handle: Int) -> Bool {
        guard let i = timers.firstIndex(where: { $0.seq == handle }) else { return false }
        timers.remove(at: i)
        return true
    }

    public var pendingTimers: Int { timers.count }

    private func fireDueTimers() {
        while let t = timers.first, t.deadline <= now {
            timers.removeFirst()
            t.action()
        }
    }

    // MARK: - Switching

    private func insertRunnable(_ id: Int) {
        let i = runQueue.firstIndex(where: { $0 > id }) ?? runQueue.count
        runQueue.insert(id, at: i)
    }

    private func removeRunnable(_ id: Int) {
        if let i = runQueue.firstIndex(of: id) { runQueue.remove(at: i) }
    }

    /// The policy's (or the replayed schedule's) choice among the runnable tasks; `current` if it stays.
    private func decide(_ point: PreemptionPoint) -> Int {
        let me = current
        if runQueue.count == 1 && runQueue[0] == me { return me }
        let choice: Int
        if let replay {
            guard replayPosition < replay.count else {
                // Past the end of the recording: continue deterministically with the live policy.
                self.replay = nil
                return decide(point)
            }
            choice = replay[replayPosition]
            replayPosition += 1
            if !runQueue.contains(choice) {
                outcomeDiverged("decision \(replayPosition - 1) at \(point) names task \(choice), "
                    + "runnable are \(runQueue)")
                return runQueue.contains(me) ? me : runQueue[0]
            }
        } else {
            choice = policy.pick(current: me, runnable: runQueue, sliceUsed: now - sliceStart)
        }
        if choice != SchedPolicy.stayOrLowest(current: me, runnable: runQueue) { deviations[recorded.count] = choice }
        recorded.append(choice)
        return choice
    }

    private func outcomeDiverged(_ text: String) {
        if outcome == nil { outcome = .replayDiverged(text) }
    }

    /// Picks the next task when the current one may not continue, warping the clock to the next timer while
    /// nothing is runnable. Returns nil when nothing can ever run again.
    private func selectNext(from me: Int, _ point: PreemptionPoint) -> Int? {
        while true {
            fireDueTimers()
            if !runQueue.isEmpty {
                if runQueue.count == 1 { return runQueue[0] }
                return decide(point)
            }
            guard let t = timers.first else { return nil }
            if t.deadline > now {
                now = t.deadline
                detectHungTasks()
            }
        }
    }

    /// Reports every task blocked uninterruptibly for longer than the timeout (once per wait). Runs when the clock
    /// warps, which is when a long wait can have passed. Kernel: check_hung_uninterruptible_tasks()
    private func detectHungTasks() {
        for e in entries where e.state == .blocked && e.uninterruptible && !e.hungReported
            && now - e.blockedSince >= hungTaskTimeout {
            e.hungReported = true
            let seconds = (now - e.blockedSince).picoseconds / 1_000_000_000_000
            onHungTask?("task \(e.name):T\(e.id) blocked for more than \(seconds) seconds, waiting for \(e.waitReason)")
        }
    }

    private func switchAway(from me: Int, _ point: PreemptionPoint) async {
        guard let next = selectNext(from: me, point) else {
            finishRun(me)
            if entries[me].state == .done { return }
            // Deadlocked: this task never runs again (its continuation is left parked).
            await withUnsafeContinuation { (_: UnsafeContinuation<Void, Never>) in }
            return
        }
        if next == me { return }  // A timer fired during the warp and woke this very task.
        await park(me, switchingTo: next, point)
    }

    @inline(never) private func park(_ me: Int, switchingTo next: Int, _ point: PreemptionPoint) async {
        switches &+= 1
        mixHash(UInt64(me), UInt64(point.rawValue), UInt64(next), UInt64(bitPattern: now.picoseconds))
        onSwitch?(me, point, next)
        sliceStart = now
        if entries[me].state == .done {
            current = next
            resume(next)
            return
        }
        // The hand-over happens inside the continuation's closure: entering the preference scope can hop through
        // the executor queue, and until then this task must still count as the one on the CPU.
        await withTaskExecutorPreference(EmuExecutor.shared) {
            await withUnsafeContinuation { c in
                entries[me].continuation = c
                current = next
                resume(next)
            }
        }
    }

    private func resume(_ id: Int) {
        if let c = entries[id].continuation {
            entries[id].continuation = nil
            c.resume()
        }
        // Else the task has not started yet; its first job finds itself current and runs on.
    }

    private func finishRun(_ last: Int?) {
        let live = entries.filter { $0.state != .done && !$0.daemon }
        if outcome == nil {
            if live.isEmpty {
                outcome = .completed
            } else {
                // Nothing will ever wake them: khungtaskd would see every one of the waits pass its timeout.
                if let last = entries.filter({ $0.state == .blocked && $0.uninterruptible })
                    .map(\.blockedSince).max() {
                    now = max(now, last + hungTaskTimeout)
                    detectHungTasks()
                }
                let stuck = entries.filter { $0.state == .blocked }
                    .map { "T\($0.id) \($0.name) waits for \($0.waitReason)" }
                outcome = .deadlock(stuck.joined(separator: "; "))
            }
        }
        isRunning = false
        current = -1
        if let f = finished {
            finished = nil
            f.resume()
        }
    }

    private func mixHash(_ values: UInt64...) {
        for v in values { switchFNV.mix(v) }
    }

    /// The decisions of this run, as a replayable schedule.
    public var schedule: Schedule { Schedule(decisions: recorded) }
}
