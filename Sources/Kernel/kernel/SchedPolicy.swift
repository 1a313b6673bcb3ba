// SPDX-License-Identifier: MIT — the scheduler's vocabulary: preemption points, policies, recorded schedules and
// how a run ended.

/// The places where the running task may lose the CPU. The scheduler switches here and nowhere else.
///
/// Each case exists for a kernel window whose interleavings matter; the comment names it.
package enum PreemptionPoint: UInt8, CaseIterable, Sendable, CustomStringConvertible {
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
    /// The fb_defio worker between write-protecting the pages and calling the driver (the callback's window).
    case workerBeforeCallback
    /// A timer tick in the middle of long CPU-bound work (a driver's conversion, a CPU-driven bus transfer, a big
    /// copy): the tick interrupt runs expired timers and the scheduler may preempt. Kernel: scheduler_tick()
    case tick

    package var description: String {
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
        case .tick: "tick"
        }
    }
}

/// How the scheduler chooses the next task: a pure, synchronous, seeded value (testable without any task).
public struct SchedPolicy: Sendable, Equatable, CustomStringConvertible {
    package enum Kind: Sendable, Equatable {
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
    package let kind: Kind
    package private(set) var rng: SplitMix64
    /// Decisions taken so far (PCT's step counter and the scripted policy's index).
    package private(set) var step = 0
    /// PCT: each task's priority (higher runs first), and the steps at which the running task is demoted.
    package private(set) var priorities: [Int: Int] = [:]
    package private(set) var changePoints: [Int] = []

    package init(_ kind: Kind, seed: UInt64) {
        self.kind = kind
        rng = SplitMix64(seed: SplitMix64.derive(seed, "sched"))
        if case .pct(let depth, let steps) = kind {
            var points = Set<Int>()
            while points.count < min(max(depth - 1, 0), max(steps, 1)) { points.insert(rng.below(max(steps, 1))) }
            changePoints = points.sorted()
        }
    }

    package static func pct(seed: UInt64, depth: Int = 3, steps: Int = 400) -> SchedPolicy {
        SchedPolicy(.pct(depth: depth, steps: steps), seed: seed)
    }

    /// A script of switches (decision → task); no randomness is involved.
    package static func scripted(_ switches: [Int: Int]) -> SchedPolicy {
        SchedPolicy(.scripted(switches: switches), seed: 0)
    }

    /// The default choice of the scripted policy: stay if possible, else the lowest runnable id.
    package static func stayOrLowest(current: Int, runnable: [Int]) -> Int {
        runnable.contains(current) ? current : runnable[0]
    }

    /// PCT's priority of `task`, drawn on first sight: above every demotion value (which are 1 … depth − 1).
    private mutating func priority(_ task: Int) -> Int {
        if let p = priorities[task] { return p }
        let p = changePoints.count + 1 + Int(rng.below(1 << 30))
        priorities[task] = p
        return p
    }

    package static func random(seed: UInt64, switchRatio: Ratio = Ratio(1, 4)) -> SchedPolicy {
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
    package mutating func pick(current: Int, runnable: [Int], sliceUsed: VirtualTime) -> Int {
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
    package var decisions: [Int]
    package init(decisions: [Int] = []) { self.decisions = decisions }

    /// Text form: a header line, then the decisions, 32 per line.
    package var text: String {
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

    package init(parsing text: String) throws(ParseError) {
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

