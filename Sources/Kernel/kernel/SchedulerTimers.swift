// SPDX-License-Identifier: MIT — the scheduler's timers: run once no CPU's clock can still be behind their deadline,
// as the timer interrupt's softirq runs expired timers (kernel: run_timer_softirq() — kernel/time/timer.c; where the
// wheel files a timer is TimerWheel.swift).

extension Scheduler {
    /// Arms a timer; its action runs on whatever task is current when the earliest clock passes `deadline` (like a
    /// softirq), and may only wake tasks or queue work. Returns a handle for `cancelTimer`.
    @discardableResult
    package func addTimer(at deadline: VirtualTime, _ action: @escaping @EmuActor () -> Void) -> Int {
        timerSeq += 1
        let t = Timer(deadline: deadline, seq: timerSeq, action: action)
        let i = timers.firstIndex(where: { ($0.deadline, $0.seq) > (deadline, t.seq) }) ?? timers.count
        timers.insert(t, at: i)
        return t.seq
    }

    /// Removes a pending timer; returns false if it already fired or never existed.
    @discardableResult
    package func cancelTimer(_ handle: Int) -> Bool {
        guard let i = timers.firstIndex(where: { $0.seq == handle }) else { return false }
        timers.remove(at: i)
        return true
    }

    /// Fires, in deadline order, every timer no CPU can still run ahead of. A timer's wake-ups happen at its
    /// deadline: an idle CPU it wakes starts from there, which can make that CPU the earliest, so the bound is
    /// recomputed after each one.
    func fireDueTimers() {
        while let t = timers.first, t.deadline <= horizon() {
            timers.removeFirst()
            eventTime = t.deadline
            t.action()
            eventTime = nil
        }
    }

    /// The earliest clock of a CPU with something to run (the executing task's clock included), which no timer
    /// may pass before it fires. With nothing to run anywhere, the executing CPU's clock.
    func horizon() -> VirtualTime {
        if cpuCount == 1 { return now }
        var h: VirtualTime? = betweenTasks ? nil : now
        for j in cpus.indices where betweenTasks || j != executingCPU {
            if isBusy(j) || !cpus[j].runQueue.isEmpty {
                let c = cpus[j].clock
                if h == nil || c < h! { h = c }
            }
        }
        return h ?? now
    }
}
