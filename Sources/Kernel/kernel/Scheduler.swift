// SPDX-License-Identifier: MIT — the deterministic scheduler of an SMP machine (kernel analogue: kernel/sched/).

import CTaskSwitch

/// The scheduler of one emulated machine: its CPUs, the task states, the per-CPU virtual clocks, the timers, and the
/// switch mechanism.
///
/// The machine is a discrete-event model of an SMP system. Every task is placed on one CPU for its life; a CPU runs
/// one of its runnable tasks at a time and has its own clock, which the work of that task advances. Exactly one task
/// of the whole machine executes at a time: the one on the CPU whose clock is the earliest, so that what the CPUs do
/// happens in virtual-time order (to the granularity of the work between two preemption points). Timers fire in
/// deadline order once the earliest clock has passed them. A task gives up its CPU only inside `preempt`, `block`,
/// `sleep` or when it ends; every other task is switched out on its own stack (`TaskStack`), and the kernel code
/// itself is synchronous. A preemption point where the policy keeps the current task and no other CPU is behind
/// costs a few nanoseconds. With one CPU the machine is a preemptive uniprocessor.
@EmuActor public final class Scheduler {
    package enum TaskState: Equatable, Sendable { case runnable, blocked, sleeping, done }

    /// The executing CPU's clock. Advanced by `charge` (work) and by warps to the next timer when nobody can run.
    public private(set) var now = VirtualTime.zero
    public let tickRate: TickRate
    package var jiffies: Jiffies { tickRate.jiffies(at: now) }

    /// CPUs of the machine (1: a uniprocessor).
    package let cpuCount: Int
    var cpus: [CPU]
    /// The CPU whose task is executing.
    package private(set) var executingCPU = 0 {
        didSet { othersKnown = false }
    }
    /// While a task executes, the earliest of the other CPUs that have a runnable task on them, and its clock (nil:
    /// none), so that a preemption point on an SMP machine need not look at every CPU. The other CPUs stand still
    /// while one executes: only a wake-up (`makeRunnable`) or a change of the executing CPU alters it.
    private var othersEarliest: (cpu: Int, clock: VirtualTime)?
    private var othersKnown = false
    /// Where the next non-daemon task is placed (round robin over the CPUs).
    private var nextPlacement = 0
    /// True inside `selectNext`, while no task executes: every CPU's clock is then in `cpus`.
    var betweenTasks = false
    /// While a timer's action runs: its deadline, the time at which the wake-ups it makes happen.
    var eventTime: VirtualTime?

    private var entries: [Entry] = []
    /// The task executing, or -1 outside a run.
    package private(set) var current = -1
    package private(set) var policy: SchedPolicy
    private var replay: [Int]?
    private var replayPosition = 0
    /// Every decision taken where more than one task could run, in order (replayable with `Schedule`).
    package private(set) var recorded: [Int] = []
    /// The decisions that differ from "stay, or the lowest runnable id": replayed with `.scripted`, they give the
    /// same run, and dropping one gives a run with one switch fewer.
    package private(set) var deviations: [Int: Int] = [:]
    var timers: [Timer] = []  // Sorted by (deadline, seq).
    var timerSeq = 0
    /// The context of the host code inside `run` or `shutdown`, which the last task switches back to.
    private let driver = TaskStack()
    /// The stack of a task that has just ended, released by whatever runs next (not on the stack itself).
    private var retiring: TaskStack?
    package private(set) var outcome: RunOutcome?
    package private(set) var isRunning = false

    /// FNV-1a over every switch (from, point, to, time) and every hand-over between CPUs: equal hashes mean equal
    /// interleavings.
    package var switchHash: UInt64 { switchFNV.value }
    private var switchFNV = FNV1a()
    package private(set) var preemptionPoints = 0
    /// Context switches (a CPU changing the task on it).
    package private(set) var switches = 0
    /// Times the execution moved to another CPU whose clock was earlier (no context switch on either).
    package private(set) var handoffs = 0
    /// Reports of problems found while running (livelocks, warnings) that do not stop the run.
    package private(set) var reports: [String] = []
    /// khungtaskd's timeout: a task blocked uninterruptibly for longer than this is reported (once per wait).
    /// 122 s, the figure real reports print (the 120 s timeout plus the check interval's slack).
    package var hungTaskTimeout = VirtualTime.ms(122_000)
    /// Told of each hung task as the detector finds it.
    package var onHungTask: ((String) -> Void)?
    /// Optional observer of context switches, for event logs.
    package var onSwitch: ((_ from: Int, _ point: PreemptionPoint, _ to: Int) -> Void)?

    /// The cost of each emulated operation, charged to the virtual clock.
    package let costs: CostTable

    package init(policy: SchedPolicy, cpus: Int = 1, tickRate: TickRate = TickRate(hz: 250),
                costs: CostTable = .default, replay: Schedule? = nil) {
        precondition(cpus >= 1 && cpus <= 64, "a machine has 1 to 64 CPUs")
        self.policy = policy
        self.cpuCount = cpus
        self.cpus = Array(repeating: CPU(), count: cpus)
        self.tickRate = tickRate
        self.costs = costs
        self.replay = replay?.decisions
    }

    // MARK: - Tasks

    /// Creates a task that first runs, on a stack of its own, when its CPU picks it. A task without a `cpu` is placed
    /// round robin (daemons on CPU 0).
    @discardableResult
    package func spawn(_ name: String, daemon: Bool = false, cpu: Int? = nil,
                      _ body: @escaping @EmuActor () -> Void) -> Int {
        let id = entries.count
        let placed: Int
        if let cpu {
            precondition(cpu >= 0 && cpu < cpuCount, "CPU \(cpu) does not exist")
            placed = cpu
        } else if daemon {
            placed = 0
        } else {
            placed = nextPlacement % cpuCount
            nextPlacement += 1
        }
        entries.append(Entry(id: id, name: name, daemon: daemon, cpu: placed, body: body))
        makeRunnable(id)
        return id
    }

    package func name(of id: Int) -> String { entries[id].name }
    package func state(of id: Int) -> TaskState { entries[id].state }
    /// The CPU a task runs on.
    package func cpu(of id: Int) -> Int { entries[id].cpu }
    /// The clock of a CPU (the live clock for the executing one).
    package func clock(of cpu: Int) -> VirtualTime { cpu == executingCPU && !betweenTasks ? now : cpus[cpu].clock }

    /// Where a task's stack starts: runs the current task's body, ends the task, and says where its last switch
    /// goes. The switch itself is made by the caller (CTaskSwitch) once these frames have returned, so that nothing
    /// they held stays referenced from a stack that never runs again.
    private static let taskEntry: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutablePointer<fbd_final_switch>?)
        -> Void = { raw, last in
        let sched = Unmanaged<Scheduler>.fromOpaque(raw!).takeUnretainedValue()
        // Only the scheduler switches to a task stack, from code isolated to the emulator's actor, on its thread:
        // the new stack is on that thread too. A synchronous isolated function has the plain function's layout.
        nonisolated(unsafe) let last = last!
        let start: @EmuActor () -> Void = { sched.runCurrent(endingWith: last) }
        unsafeBitCast(start, to: (() -> Void).self)()
    }

    private func runCurrent(endingWith last: UnsafeMutablePointer<fbd_final_switch>) {
        retiring = nil
        let id = current
        runBody(of: id)
        let (from, to) = exit(id)
        last.pointee = fbd_final_switch(from: from, to: to)
    }

    private func runBody(of id: Int) {
        let body = entries[id].body!
        entries[id].body = nil
        body()
    }

    /// Ends the running task and picks what runs next: returns the task's last switch, from its stack (which the
    /// next context releases) to the next task, or to the code in `run`/`shutdown` when nothing can run.
    private func exit(_ id: Int) -> (UnsafeMutablePointer<fbd_stack>, UnsafeMutablePointer<fbd_stack>) {
        precondition(current == id, "task \(id) ended while not on the CPU")
        entries[id].state = .done
        removeRunnable(id)
        let own = entries[id].stack!
        retiring = own
        entries[id].stack = nil
        if isShuttingDown { return (own.context, driver.context) }
        guard let next = selectNext(from: id, .taskExit) else {
            finishRun(id)
            return (own.context, driver.context)
        }
        current = next
        return (own.context, target(next))
    }

    /// Set while `shutdown` winds down the daemons of a finished run.
    package private(set) var isShuttingDown = false

    /// After a run: lets every daemon task parked in an idle wait (the workqueue worker waiting for work) return
    /// and end, so that nothing keeps the machine alive. Call it only once the run is over; tasks left blocked in
    /// a deadlock stay blocked.
    package func shutdown() {
        precondition(!isRunning, "shutdown during a run")
        isShuttingDown = true
        for e in entries where isIdleDaemon(e) {
            current = e.id
            continueTask(e.id, from: driver.context)
            retiring = nil
        }
        current = -1
    }

    /// A daemon parked in an interruptible wait: `shutdown` continues it.
    private func isIdleDaemon(_ e: Entry) -> Bool { e.daemon && e.state == .blocked && !e.uninterruptible && e.parked }

    /// After a deadlock, the tasks stuck in it can never run again (nothing can wake them): their stacks go back to
    /// the pool. What their frames held is never released, as a deadlocked kernel never releases it either.
    private func abandonStuckTasks() {
        for e in entries where e.state != .done && e.stack != nil && !isIdleDaemon(e) {
            e.stack = nil
            e.parked = false
            e.abandoned = true
        }
    }

    // MARK: - Running

    /// Runs the machine until every non-daemon task has ended (or a deadlock), then returns how it ended.
    public func run() -> RunOutcome {
        precondition(!isRunning, "the scheduler is already running")
        isRunning = true
        outcome = nil
        guard let first = selectNext(from: -1, .boot) else {
            finishRun(nil)
            return outcome!
        }
        current = first
        continueTask(first, from: driver.context)
        retiring = nil
        if case .deadlock = outcome { abandonStuckTasks() }
        return outcome!
    }

    /// Advances the executing CPU's clock by the cost of work done by the task on it.
    @inline(__always) package func charge(_ cost: VirtualTime) {
        now.picoseconds &+= cost.picoseconds
    }

    /// The running task could not go on before `time` (a lock it takes was released then, by a CPU whose clock ran
    /// ahead): its CPU's clock moves there. Never needed on one CPU, where the clock only moves forward.
    @inline(__always) package func waited(until time: VirtualTime) {
        if time > now { now = time }
    }

    /// Charges long CPU-bound work (a driver's pixel conversion, a bus the CPU drives, a big copy) one tick at a
    /// time, reaching a `.tick` preemption point at every tick boundary it crosses: the timer interrupt runs the
    /// expired timers and the scheduler may hand the CPU to another task, as `scheduler_tick()` lets it.
    package func chargeInterruptibly(_ cost: VirtualTime) {
        var left = cost
        while left > .zero {
            let nextTick = tickRate.time(of: Jiffies(jiffies.rawValue + 1))
            let step = min(left, nextTick - now)
            charge(step)
            left = left - step
            if left > .zero { preempt(.tick) }
        }
    }

    /// A preemption point: the policy may hand the CPU to another runnable task of this CPU here, and a CPU whose
    /// clock is behind runs first.
    @inline(__always) package func preempt(_ point: PreemptionPoint) {
        guard current >= 0 else { return }
        preemptionPoints &+= 1
        if !timers.isEmpty && timers[0].deadline <= now { fireDueTimers() }
        let me = current
        let c = executingCPU
        let next = decide(on: c, current: me, point)
        if _fastPath(next == me) {
            if _fastPath(cpuCount == 1) { return }
            catchUpOtherCPUs()
            return
        }
        cpus[c].curr = next
        cpus[c].last = next
        recordSwitch(from: me, point, to: next, on: c, at: now)
        transfer(from: me, to: earliestBusyCPU(preferring: c))
    }

    /// The earliest time at which a bulk access started in tick `tick` must pause between two pages: the next tick,
    /// and on SMP the first timer or just past the earliest clock of another CPU with work (then `catchUpOtherCPUs`
    /// has something to do). Valid while the executing task only charges work: anything that can switch, block or
    /// wake changes it.
    package func pauseHorizon(after tick: Jiffies) -> VirtualTime {
        var h = tickRate.time(of: Jiffies(tick.rawValue + 1))
        guard cpuCount > 1, current >= 0 else { return h }
        if let t = timers.first, t.deadline < h { h = t.deadline }
        for j in cpus.indices where j != executingCPU && isBusy(j) {
            // An equal clock does not overtake: the executing CPU wins a tie.
            let c = VirtualTime(picoseconds: cpus[j].clock.picoseconds &+ 1)
            if c < h { h = c }
        }
        return h
    }

    /// Where a long operation may be overtaken by other CPUs without being a preemption point (no scheduling
    /// decision): between the pages of a copy, so that a TLB shootdown from another CPU can land in the middle.
    @inline(__always) package func catchUpOtherCPUs() {
        guard cpuCount > 1, current >= 0 else { return }
        if !timers.isEmpty && timers[0].deadline <= now { fireDueTimers() }
        let c = executingCPU
        let j = earliestBusyCPU(preferring: c)
        if j != c { transfer(from: current, to: j) }
    }

    /// Blocks the running task until `wake` is called for it. `reason` names what it waits for (deadlock and
    /// hung-task reports); an `uninterruptible` wait (a lock, a flush) is what the hung-task detector watches.
    package func block(_ reason: String, uninterruptible: Bool = true) {
        block(reason, uninterruptible: uninterruptible, spinning: false)
    }

    /// Waits for a spinlock. On an SMP machine the waiter busy-waits: it keeps its CPU (no other task of that CPU
    /// runs) and resumes at the time the lock is handed to it, its CPU's clock having run on meanwhile. On one CPU
    /// a waiter lets the others run, as the holder must run to release it. Kernel: queued_spin_lock_slowpath()
    package func spin(_ reason: String) {
        block(reason, uninterruptible: true, spinning: cpuCount > 1)
    }

    private func block(_ reason: String, uninterruptible: Bool, spinning: Bool) {
        let me = current
        precondition(me >= 0, "block outside a task: \(reason)")
        entries[me].spinning = spinning
        entries[me].state = .blocked
        entries[me].waitReason = reason
        entries[me].blockedSince = now
        entries[me].uninterruptible = uninterruptible
        entries[me].hungReported = false
        removeRunnable(me)
        switchAway(from: me, .blocked)
    }

    /// Makes a blocked or sleeping task runnable again. It runs when its CPU picks it; an idle CPU picks it at once.
    package func wake(_ id: Int) {
        let e = entries[id]
        guard e.state == .blocked || e.state == .sleeping else { return }
        e.state = .runnable
        e.waitReason = ""
        e.spinning = false
        makeRunnable(id)
    }

    /// Sleeps the running task until virtual time `deadline`.
    package func sleep(until deadline: VirtualTime) {
        let me = current
        precondition(me >= 0, "sleep outside a task")
        guard deadline > now else { return }
        entries[me].state = .sleeping
        entries[me].waitReason = "sleep until \(deadline)"
        removeRunnable(me)
        addTimer(at: deadline) { [unowned self] in self.wake(me) }
        switchAway(from: me, .blocked)
    }

    /// Records a problem (for example a livelock) found by kernel code; the run goes on.
    package func report(_ text: String) {
        reports.append("[\(now)] \(text)")
    }

    // MARK: - Switching

    /// Queues a runnable task on its CPU. An idle CPU takes it at once, from the time of the wake-up (a timer's
    /// deadline, or the waker's clock); inside `selectNext` the picking is left to it.
    private func makeRunnable(_ id: Int) {
        othersKnown = false
        let c = entries[id].cpu
        // A spinning waiter still has its CPU: it goes on from when the lock was handed to it.
        let idle = cpus[c].curr == id || cpus[c].runQueue.isEmpty
            && (cpus[c].curr < 0 || entries[cpus[c].curr].state != .runnable)
        let i = cpus[c].runQueue.firstIndex(where: { $0 > id }) ?? cpus[c].runQueue.count
        cpus[c].runQueue.insert(id, at: i)
        guard cpuCount > 1, idle, isRunning else { return }
        // An idle CPU is not the executing one, unless no task executes (then every clock is in `cpus`).
        let at = max(eventTime ?? now, cpus[c].clock)
        cpus[c].clock = at
        if betweenTasks { return }
        cpus[c].curr = id
        if cpus[c].last != id { recordSwitch(from: cpus[c].last, .blocked, to: id, on: c, at: at) }
        cpus[c].last = id
    }

    private func removeRunnable(_ id: Int) {
        let c = entries[id].cpu
        if let i = cpus[c].runQueue.firstIndex(of: id) { cpus[c].runQueue.remove(at: i) }
    }

    /// The policy's (or the replayed schedule's) choice among the runnable tasks of CPU `cpu`; `current` if it stays.
    /// A task alone on its CPU is no decision: that test is inlined into every preemption point, the choice is not.
    @inline(__always)
    private func decide(on cpu: Int, current me: Int, _ point: PreemptionPoint) -> Int {
        if cpus[cpu].runQueue.count == 1 && cpus[cpu].runQueue[0] == me { return me }
        return choose(on: cpu, current: me, point)
    }

    @inline(never)
    private func choose(on cpu: Int, current me: Int, _ point: PreemptionPoint) -> Int {
        let runQueue = cpus[cpu].runQueue
        let choice: Int
        if let replay {
            guard replayPosition < replay.count else {
                // Past the end of the recording: continue deterministically with the live policy.
                self.replay = nil
                return decide(on: cpu, current: me, point)
            }
            choice = replay[replayPosition]
            replayPosition += 1
            if !runQueue.contains(choice) {
                outcomeDiverged("decision \(replayPosition - 1) at \(point) names task \(choice), "
                    + "runnable are \(runQueue)")
                return runQueue.contains(me) ? me : runQueue[0]
            }
        } else {
            choice = policy.pick(current: me, runnable: runQueue, sliceUsed: now - cpus[cpu].sliceStart)
        }
        if choice != SchedPolicy.stayOrLowest(current: me, runnable: runQueue) { deviations[recorded.count] = choice }
        recorded.append(choice)
        return choice
    }

    private func outcomeDiverged(_ text: String) {
        if outcome == nil { outcome = .replayDiverged(text) }
    }

    /// The CPU has a runnable task on it.
    func isBusy(_ cpu: Int) -> Bool {
        let t = cpus[cpu].curr
        return t >= 0 && entries[t].state == .runnable
    }

    /// The CPU's task waits for a spinlock, busy-waiting: the CPU is neither free nor advancing.
    private func isSpinning(_ cpu: Int) -> Bool {
        let t = cpus[cpu].curr
        return t >= 0 && entries[t].state == .blocked && entries[t].spinning
    }

    /// The CPU with a task whose clock is the earliest (`preferred` on a tie, then the lowest number).
    private func earliestBusyCPU(preferring preferred: Int) -> Int {
        if preferred == executingCPU && !betweenTasks {
            if !othersKnown {
                othersEarliest = nil
                for j in cpus.indices where j != preferred && isBusy(j) {
                    let c = cpus[j].clock
                    if othersEarliest == nil || c < othersEarliest!.clock { othersEarliest = (j, c) }
                }
                othersKnown = true
            }
            guard let other = othersEarliest else { return preferred }
            return isBusy(preferred) && !(other.clock < now) ? preferred : other.cpu
        }
        var best = preferred
        var bestClock = isBusy(preferred) ? clock(of: preferred) : nil
        for j in cpus.indices where j != preferred && isBusy(j) {
            let c = clock(of: j)
            if bestClock == nil || c < bestClock! { (best, bestClock) = (j, c) }
        }
        return best
    }

    /// Picks what runs next when the executing task may not continue: fires the timers due, lets every CPU without
    /// a runnable task pick one, and warps the clock to the next timer while nothing can run. Returns the task to
    /// execute (on the CPU with the earliest clock, which becomes the executing one), or nil when nothing can ever
    /// run again.
    private func selectNext(from me: Int, _ point: PreemptionPoint) -> Int? {
        cpus[executingCPU].clock = now
        betweenTasks = true
        defer { betweenTasks = false }
        while true {
            fireDueTimers()
            // A CPU whose task spins on a lock keeps it: nothing else runs there until the lock is free.
            for j in cpus.indices where !isBusy(j) && !isSpinning(j) {
                let queue = cpus[j].runQueue
                guard !queue.isEmpty else {
                    cpus[j].curr = -1
                    continue
                }
                // The CPU's own clock is the time of its pick (the policy's slice and the switch record use it).
                let saved = (executingCPU, now)
                (executingCPU, now) = (j, cpus[j].clock)
                let last = cpus[j].last
                let next = queue.count == 1 ? queue[0] : decide(on: j, current: last, point)
                cpus[j].curr = next
                cpus[j].last = next
                if next != last { recordSwitch(from: last, point, to: next, on: j, at: now) }
                (executingCPU, now) = saved
            }
            if cpus.indices.contains(where: isBusy) {
                let j = earliestBusyCPU(preferring: executingCPU)
                executingCPU = j
                now = cpus[j].clock
                return cpus[j].curr
            }
            guard let t = timers.first else { return nil }
            if t.deadline > now {
                now = t.deadline
                cpus[executingCPU].clock = now
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

    private func switchAway(from me: Int, _ point: PreemptionPoint) {
        guard let next = selectNext(from: me, point) else {
            // Nothing can run: the run is over. Only `shutdown` continues this task, if it is an idle daemon.
            finishRun(me)
            entries[me].parked = true
            fbd_switch_to(entries[me].stack!.context, driver.context)
            retiring = nil
            return
        }
        if next == me { return }  // A timer fired during the warp and woke this very task.
        resumeTask(next, parking: me)
    }

    /// Counts and hashes one context switch on a CPU and tells the observer. A CPU's first task (`from` < 0) starts
    /// its slice and is not a switch.
    private func recordSwitch(from: Int, _ point: PreemptionPoint, to: Int, on cpu: Int, at time: VirtualTime) {
        cpus[cpu].sliceStart = time
        guard from >= 0 else {
            if cpuCount > 1 { onSwitch?(from, point, to) }
            return
        }
        switches &+= 1
        mixHash(UInt64(bitPattern: Int64(from)), UInt64(point.rawValue), UInt64(to),
                UInt64(bitPattern: time.picoseconds))
        if cpuCount > 1 { switchFNV.mix(UInt64(cpu)) }
        onSwitch?(from, point, to)
    }

    /// Moves the execution from the running task to the task on CPU `cpu` (the running one stays on its CPU).
    private func transfer(from me: Int, to cpu: Int) {
        let target = cpus[cpu].curr
        if cpu != executingCPU {
            handoffs &+= 1
            mixHash(0xFFFF_FFFF, UInt64(me), UInt64(target), UInt64(cpu))
            cpus[executingCPU].clock = now
            executingCPU = cpu
            now = cpus[cpu].clock
        }
        if target != me { resumeTask(target, parking: me) }
    }

    /// Parks the running task and switches to `next`; returns when something switches back.
    @inline(never) private func resumeTask(_ next: Int, parking me: Int) {
        current = next
        entries[me].parked = true
        // The context's address, not the stack object: a frame that may never run again (a task stuck in a
        // deadlock) must not hold a reference that keeps its stack from going back to the pool.
        continueTask(next, from: entries[me].stack!.context)
        retiring = nil
    }

    /// Switches from the context `from` to task `id`; returns when something switches back to `from`.
    @inline(__always) private func continueTask(_ id: Int, from: UnsafeMutablePointer<fbd_stack>) {
        fbd_switch_to(from, target(id))
    }

    /// Where a switch to task `id` goes: where it parked, or, the first time, to its entry on a fresh stack.
    private func target(_ id: Int) -> UnsafeMutablePointer<fbd_stack> {
        let e = entries[id]
        if let stack = e.stack {
            precondition(e.parked, "switch to task \(id), which is not parked")
            e.parked = false
            return stack.context
        }
        precondition(!e.abandoned, "switch to task \(id), which was stuck in a deadlock")
        let stack = TaskStack.task()
        e.stack = stack
        stack.prepare(entry: Scheduler.taskEntry, argument: Unmanaged.passUnretained(self).toOpaque())
        return stack.context
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
    }

    private func mixHash(_ values: UInt64...) {
        for v in values { switchFNV.mix(v) }
    }

    /// The decisions of this run, as a replayable schedule.
    package var schedule: Schedule { Schedule(decisions: recorded) }
}
