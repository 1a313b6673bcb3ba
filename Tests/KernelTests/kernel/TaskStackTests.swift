import Testing
@testable import Kernel

@EmuActor private final class Shared {
    var counter = 0
    var seen: [Int] = []
}

/// The tasks' own stacks and the switch between them (`TaskStack`, `Scheduler.continueTask`).
@Suite struct TaskStackTests {
    /// A task switched out in the middle of an `inout` access of a class property: the other task's access of the
    /// same property is no conflict (each task takes its accesses along, as Swift's own tasks do). In a debug build,
    /// which checks exclusivity at run time, the overlap would otherwise stop the test process.
    @Test @EmuActor func aTaskSwitchedOutMidAccessDoesNotConflictWithTheNext() {
        let s = Scheduler(policy: .roundRobin(quantum: .ns(1)))
        let shared = Shared()
        func bump(_ value: inout Int) {
            s.charge(.ns(10))
            s.preempt(.quantum)  // the other task runs here, while the access is open
            value += 1
        }
        s.spawn("modify") { bump(&shared.counter) }
        s.spawn("read") {
            shared.seen.append(shared.counter)
            shared.counter += 10
        }
        #expect(s.run() == .completed)
        #expect(shared.seen == [0])
        // A class's stored property is accessed in place: the other task's write lands inside the open access.
        #expect(shared.counter == 11)
        #expect(s.switches >= 1)
    }

    /// Deep synchronous recursion runs on a task's stack as it does on a thread's.
    @Test @EmuActor func deepRecursionFitsOnATaskStack() {
        let s = Scheduler(policy: .random(seed: 3))
        func depth(_ n: Int) -> Int { n == 0 ? 0 : 1 + depth(n - 1) }
        var result = 0
        s.spawn("deep") { result = depth(20_000) }
        s.spawn("other") { s.preempt(.quantum) }
        #expect(s.run() == .completed)
        #expect(result == 20_000)
    }

    /// Stacks of ended tasks go back to a pool: a thousand machines one after the other map a handful of stacks.
    @Test @EmuActor func endedTasksGiveTheirStacksBack() {
        func machine(_ seed: UInt64) {
            let s = Scheduler(policy: .random(seed: seed), cpus: 2)
            for t in 0 ..< 4 {
                s.spawn("t\(t)") {
                    for _ in 0 ..< 3 {
                        s.charge(.ns(50))
                        s.preempt(.quantum)
                    }
                }
            }
            #expect(s.run() == .completed)
        }
        machine(0)
        let before = TaskStack.mapped
        for seed in UInt64(1) ... 1000 { machine(seed) }
        #expect(TaskStack.mapped <= before + 8)
    }

    /// A run that ends in a deadlock leaves its stuck tasks blocked for good and gives their stacks back: a
    /// thousand deadlocked machines map a handful of stacks.
    @Test @EmuActor func deadlockedTasksGiveTheirStacksBack() {
        func machine(_ seed: UInt64) {
            let s = Scheduler(policy: .random(seed: seed))
            let a = KLock.mutex("A", s), b = KLock.mutex("B", s)
            spawnLocking(s, "ab", a, then: b)
            spawnLocking(s, "ba", b, then: a)
            s.spawn("done") { s.charge(.ns(5)) }
            let outcome = s.run()
            s.shutdown()
            if case .deadlock = outcome {
                #expect(s.state(of: 0) == .blocked && s.state(of: 1) == .blocked)
                deadlocks += 1
            }
            #expect(s.state(of: 2) == .done)
        }
        var deadlocks = 0
        machine(0)
        let before = TaskStack.mapped
        for seed in UInt64(1) ... 1000 { machine(seed) }
        #expect(deadlocks > 100 && deadlocks < 1000)
        #expect(TaskStack.mapped <= before + 8)
    }

    /// A daemon blocked in an idle wait when the run ends is continued by `shutdown`, returns and ends.
    @Test @EmuActor func shutdownEndsAnIdleDaemon() {
        let s = Scheduler(policy: .random(seed: 5))
        var woken = false
        s.spawn("worker", daemon: true) {
            s.block("work", uninterruptible: false)
            woken = true
        }
        s.spawn("user") { s.charge(.us(1)) }
        #expect(s.run() == .completed)
        #expect(s.state(of: 0) == .blocked)
        s.shutdown()
        #expect(woken)
        #expect(s.state(of: 0) == .done)
    }
}
