// SPDX-License-Identifier: MIT — workqueues and delayed work (kernel: kernel/workqueue.c, include/linux/workqueue.h).
import DequeModule

/// A bound workqueue: one worker thread per CPU (daemon tasks pinned to their CPUs), each with its own list. Work
/// runs on the CPU it was queued from; a work item is never run twice at once: queued again while it runs, it goes
/// to the worker running it and runs once more after the current run ends.
/// Kernel: `struct workqueue_struct` with its per-CPU worker pools (here `system_wq`, one worker per pool).
@EmuActor package final class Workqueue {
    package let name: String
    unowned(unsafe) let kernel: EmuKernel
    private var worklists: [Deque<DelayedWork>]
    private var more: [WaitQueue] = []
    /// The scheduler task id of each CPU's worker.
    package private(set) var workerIDs: [Int] = []
    /// The worker of CPU 0.
    package var workerID: Int { workerIDs[0] }

    package init(_ name: String, kernel: EmuKernel) {
        self.name = name
        self.kernel = kernel
        let cpus = kernel.sched.cpuCount
        worklists = Array(repeating: Deque(), count: cpus)
        for cpu in 0 ..< cpus {
            more.append(WaitQueue(cpus == 1 ? "\(name) worklist" : "\(name) worklist of CPU \(cpu)",
                                  scheduler: kernel.sched, uninterruptible: false))
            let task = cpus == 1 ? "kworker/\(name)" : "kworker/\(cpu):\(name)"
            workerIDs.append(kernel.sched.spawn(task, daemon: true, cpu: cpu) { [unowned self] in
                self.workerLoop(cpu)
            })
        }
    }

    /// Puts `work` on the list of `cpu` unless it is already queued; a work item still running on some CPU goes to
    /// that CPU's list instead. Kernel: __queue_work()
    func enqueue(_ work: DelayedWork, on cpu: Int) {
        guard !work.queued else { return }
        let pool = work.running ? work.runningOn : cpu
        work.queued = true
        work.queuedOn = pool
        work.queueSeq += 1
        worklists[pool].append(work)
        more[pool].wakeAll()
    }

    /// Kernel: worker_thread() + process_one_work()
    private func workerLoop(_ cpu: Int) {
        while true {
            more[cpu].wait { !worklists[cpu].isEmpty }
            if kernel.sched.isShuttingDown { return }  // the machine is being taken down (Scheduler.shutdown)
            let work = worklists[cpu].removeFirst()
            work.queued = false
            work.running = true
            work.runningOn = cpu
            let seq = work.queueSeq
            work.function()
            work.running = false
            work.doneSeq = seq
            work.flushers.wakeAll()
        }
    }

    func dequeue(_ work: DelayedWork) {
        worklists[work.queuedOn].removeAll { $0 === work }
        work.queued = false
        work.flushers.wakeAll()
    }
}

/// A work item with a timer. Kernel: `struct delayed_work` — schedule_delayed_work(), flush_delayed_work(),
/// cancel_delayed_work_sync().
@EmuActor public final class DelayedWork {
    package let name: String
    unowned(unsafe) let wq: Workqueue
    let function: @EmuActor () -> Void
    /// The armed timer, if any.
    private var timer: Int?
    package private(set) var timerDeadline: VirtualTime?
    var queued = false
    var running = false
    /// The CPU whose list holds it, and the CPU whose worker runs it.
    var queuedOn = 0
    var runningOn = 0
    /// Each queueing gets a sequence number; a run records the number it started from when it ends.
    var queueSeq = 0
    var doneSeq = 0
    let flushers: WaitQueue
    /// Calls of `schedule` that armed a timer (the others found the work pending).
    package private(set) var armed = 0
    /// Where the wheel filed the last timer armed, and the CPU it was armed on (whose worker will run the work).
    package private(set) var lastSlot: TimerWheelSlot?
    private var timerCPU = 0
    private var armedAt = VirtualTime.zero
    /// Timers that fired, and how long after being armed (min, max, sum): the real delay the wheel gave.
    package private(set) var timersFired = 0
    package private(set) var fireDelayMin = VirtualTime.zero, fireDelayMax = VirtualTime.zero
    package private(set) var fireDelaySum = VirtualTime.zero

    package init(_ name: String, on wq: Workqueue, _ function: @escaping @EmuActor () -> Void) {
        self.name = name
        self.wq = wq
        self.function = function
        flushers = WaitQueue("flush \(name)", scheduler: wq.kernel.sched)
    }

    /// The timer is armed or the work is queued. Kernel: delayed_work_pending()
    package var isPending: Bool { timer != nil || queued }
    /// Kernel: work_busy() & WORK_BUSY_RUNNING
    package var isRunning: Bool { running }

    /// Arms the timer for `delay` ticks from now unless the work is already pending: then nothing happens and the
    /// deadline is *not* moved (the delay counts from the first request of a batch; it is not a debounce).
    /// A delay of 0 queues at once. The timer runs when the wheel runs the bucket it was filed in, which is after
    /// `jiffies + delay` (see `TimerWheelSlot`), on the CPU it was armed on. Returns whether this call armed or
    /// queued it.
    /// Kernel: schedule_delayed_work() → queue_delayed_work_on() → __queue_delayed_work() → add_timer()
    @discardableResult
    package func schedule(_ delay: Jiffies) -> Bool {
        guard !isPending else { return false }
        armed += 1
        let sched = wq.kernel.sched
        if delay.rawValue <= 0 {
            wq.enqueue(self, on: sched.executingCPU)
            return true
        }
        let now = sched.jiffies
        let slot = TimerWheelSlot(expires: Jiffies(now.rawValue + delay.rawValue), clock: now, hz: sched.tickRate.hz)
        let deadline = sched.tickRate.time(of: slot.expiry)
        lastSlot = slot
        timerCPU = sched.executingCPU
        armedAt = sched.now
        timerDeadline = deadline
        wq.kernel.event(.timerArm(expires: now.rawValue + delay.rawValue, bucket: slot.expiry.rawValue,
                                  level: slot.level))
        timer = sched.addTimer(at: deadline) { [unowned self] in
            self.timer = nil
            self.timerDeadline = nil
            let late = deadline - self.armedAt
            if self.timersFired == 0 || late < self.fireDelayMin { self.fireDelayMin = late }
            if late > self.fireDelayMax { self.fireDelayMax = late }
            self.fireDelaySum = self.fireDelaySum + late
            self.timersFired += 1
            self.wq.kernel.event(.timerFire(bucket: slot.expiry.rawValue, armedAt: self.armedAt), at: deadline,
                                 cpu: self.timerCPU)
            self.wq.enqueue(self, on: self.timerCPU)
        }
        return true
    }

    /// If the timer is armed, queues the work now; then waits until every run queued so far has finished.
    /// Returns whether it had to wait. Kernel: flush_delayed_work()
    @discardableResult
    package func flush() -> Bool {
        if let t = timer {
            wq.kernel.sched.cancelTimer(t)
            timer = nil
            timerDeadline = nil
            wq.enqueue(self, on: wq.kernel.sched.executingCPU)
        }
        guard queued || running else { return false }
        let target = queueSeq
        // Done when the runs up to `target` ended, or when a cancel dropped what was pending.
        flushers.wait { [unowned self] in self.doneSeq >= target || (!self.queued && !self.running) }
        return true
    }

    /// Drops a pending instance (timer or queued) and waits for a running one to finish. Returns whether a pending
    /// instance was dropped. Kernel: cancel_delayed_work_sync()
    @discardableResult
    package func cancelSync() -> Bool {
        var dropped = false
        if let t = timer {
            wq.kernel.sched.cancelTimer(t)
            timer = nil
            timerDeadline = nil
            dropped = true
        }
        if queued {
            wq.dequeue(self)
            dropped = true
        }
        if running { flushers.wait { [unowned self] in !self.running } }
        return dropped
    }
}
