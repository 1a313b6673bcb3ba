// SPDX-License-Identifier: MIT — workqueues and delayed work (kernel: kernel/workqueue.c, include/linux/workqueue.h).
import DequeModule

/// A workqueue with one worker thread (a daemon task of the scheduler). A work item is never run twice at once:
/// queued again while it runs, it runs once more after the current run ends.
/// Kernel: `struct workqueue_struct` + its worker pool (here `system_wq` with a single worker).
@EmuActor public final class Workqueue {
    public let name: String
    unowned let kernel: EmuKernel
    private var worklist = Deque<DelayedWork>()
    private let more: WaitQueue
    /// The worker's scheduler task id.
    public private(set) var workerID = -1
    /// Work functions run so far.
    public private(set) var executed = 0

    public init(_ name: String, kernel: EmuKernel) {
        self.name = name
        self.kernel = kernel
        more = WaitQueue("\(name) worklist", scheduler: kernel.sched, uninterruptible: false)
        workerID = kernel.sched.spawn("kworker/\(name)", daemon: true) { [unowned self] in await self.workerLoop() }
    }

    /// Puts `work` on the list unless it is already queued. Kernel: __queue_work()
    func enqueue(_ work: DelayedWork) {
        guard !work.queued else { return }
        work.queued = true
        work.queueSeq += 1
        worklist.append(work)
        more.wakeAll()
    }

    /// Kernel: worker_thread() + process_one_work()
    private func workerLoop() async {
        while true {
            await more.wait { !worklist.isEmpty }
            if kernel.sched.isShuttingDown { return }  // the machine is being taken down (Scheduler.shutdown)
            let work = worklist.removeFirst()
            work.queued = false
            work.running = true
            let seq = work.queueSeq
            executed += 1
            await work.function()
            work.running = false
            work.doneSeq = seq
            work.flushers.wakeAll()
        }
    }
}

/// A work item with a timer. Kernel: `struct delayed_work` — schedule_delayed_work(), flush_delayed_work(),
/// cancel_delayed_work_sync().
@EmuActor public final class DelayedWork {
    public let name: String
    unowned let wq: Workqueue
    let function: @EmuActor () async -> Void
    /// The armed timer, if any.
    private var timer: Int?
    public private(set) var timerDeadline: VirtualTime?
    var queued = false
    var running = false
    /// Each queueing gets a sequence number; a run records the number it started from when it ends.
    var queueSeq = 0
    var doneSeq = 0
    let flushers: WaitQueue
    /// Calls of `schedule` that armed a timer (the others found the work pending).
    public private(set) var armed = 0

    public init(_ name: String, on wq: Workqueue, _ function: @escaping @EmuActor () async -> Void) {
        self.name = name
        self.wq = wq
        self.function = function
        flushers = WaitQueue("flush \(name)", scheduler: wq.kernel.sched)
    }

    /// The timer is armed or the work is queued. Kernel: delayed_work_pending()
    public var isPending: Bool { timer != nil || queued }
    /// Kernel: work_busy() & WORK_BUSY_RUNNING
    public var isRunning: Bool { running }

    /// Arms the timer for `delay` ticks from now unless the work is already pending: then nothing happens and the
    /// deadline is *not* moved (the delay counts from the first request of a batch; it is not a debounce).
    /// A delay of 0 queues at once. Returns whether this call armed or queued it.
    /// Kernel: schedule_delayed_work() → queue_delayed_work_on()
    @discardableResult
    public func schedule(_ delay: Jiffies) -> Bool {
        guard !isPending else { return false }
        armed += 1
        let sched = wq.kernel.sched
        if delay.rawValue <= 0 {
            wq.enqueue(self)
            return true
        }
        // The timer wheel fires at a tick boundary: `delay` ticks after the current tick.
        let deadline = sched.tickRate.time(of: Jiffies(sched.jiffies.rawValue + delay.rawValue))
        timerDeadline = deadline
        timer = sched.addTimer(at: deadline) { [unowned self] in
            self.timer = nil
            self.timerDeadline = nil
            self.wq.enqueue(self)
        }
        return true
    }

    /// If the timer is armed, queues the work now; then waits until every run queued so far has finished.
    /// Returns whether it had to wait. Kernel: flush_delayed_work()
    @discardableResult
    public func flush() async -> Bool {
        if let t = timer {
            wq.kernel.sched.cancelTimer(t)
            timer = nil
            timerDeadline = nil
            wq.enqueue(self)
        }
        guard queued || running else { return false }
        let target = queueSeq
        // Done when the runs up to `target` ended, or when a cancel dropped what was pending.
        await flushers.wait { [unowned self] in self.doneSeq >= target || (!self.queued && !self.running) }
        return true
    }

    /// Drops a pending instance (timer or queued) and waits for a running one to finish. Returns whether a pending
    /// instance was dropped. Kernel: cancel_delayed_work_sync()
    @discardableResult
    public func cancelSync() async -> Bool {
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
        if running { await flushers.wait { [unowned self] in !self.running } }
        return dropped
    }
}

extension Workqueue {
    func dequeue(_ work: DelayedWork) {
        worklist.removeAll { $0 === work }
        work.queued = false
        work.flushers.wakeAll()
    }
}
