// SPDX-License-Identifier: MIT — what the scheduler keeps per task and per CPU (kernel analogue: the scheduling part
// of task_struct, and struct rq in kernel/sched/sched.h).

extension Scheduler {
    /// One task as the scheduler sees it: where it runs, whether it can run, what it waits for, and its stack.
    /// Kernel: the scheduling fields of `struct task_struct` — include/linux/sched.h
    final class Entry {
        let id: Int
        let name: String
        let daemon: Bool
        /// The CPU this task runs on (tasks do not migrate).
        let cpu: Int
        var state: TaskState = .runnable
        var waitReason = ""
        /// When the task last blocked, and whether the wait counts for the hung-task detector (TASK_UNINTERRUPTIBLE).
        var blockedSince = VirtualTime.zero
        var uninterruptible = false
        var hungReported = false
        /// Blocked on a spinlock of an SMP machine: the task keeps its CPU while it waits.
        var spinning = false
        /// What the task runs, until it first runs.
        var body: (@EmuActor () -> Void)?
        /// The stack it runs on, from its first run to its end.
        var stack: TaskStack?
        /// Switched out inside the scheduler, and continued by a switch to it (false for a task that has not
        /// started, is on a CPU, has ended, or stopped for good in a deadlock).
        var parked = false
        /// Stuck in a deadlock when its run ended: its stack was given back, it never runs again.
        var abandoned = false
        init(id: Int, name: String, daemon: Bool, cpu: Int, body: @escaping @EmuActor () -> Void) {
            self.id = id
            self.name = name
            self.daemon = daemon
            self.cpu = cpu
            self.body = body
        }
    }

    /// One emulated CPU. Kernel: `struct rq` — kernel/sched/sched.h
    struct CPU {
        /// This CPU's clock. For the executing CPU the live value is `now`.
        var clock = VirtualTime.zero
        /// The task on this CPU (executing, or picked and parked until this CPU's clock is the earliest); -1 if idle.
        var curr = -1
        /// The task that ran here last: the policy's "current" when this CPU picks after its task blocked.
        var last = -1
        /// Runnable tasks placed on this CPU, ascending ids (the one on it included).
        var runQueue: [Int] = []
        var sliceStart = VirtualTime.zero
    }

    /// A pending timer: its action runs once the earliest clock has passed `deadline`; `seq` orders equal deadlines.
    struct Timer {
        let deadline: VirtualTime
        let seq: Int
        let action: @EmuActor () -> Void
    }
}
