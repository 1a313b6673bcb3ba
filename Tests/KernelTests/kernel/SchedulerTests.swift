import Testing
@testable import Kernel

/// A mutable log shared by the tasks of one test machine.
@EmuActor final class Log {
    var lines: [String] = []
}

/// A task that takes `first`, lets the CPU go, takes `second`, then releases both: two of them in opposite orders
/// can deadlock (AB/BA).
@EmuActor
func spawnLocking(_ s: Scheduler, _ name: String, _ first: KLock, then second: KLock) {
    s.spawn(name) {
        first.lock()
        s.charge(.ns(10))
        s.preempt(.quantum)
        second.lock()
        second.unlock()
        first.unlock()
    }
}

@EmuActor
private func interleave(_ policy: SchedPolicy, tasks: Int = 3, steps: Int = 40) -> (Scheduler, [String]) {
    let s = Scheduler(policy: policy)
    let log = Log()
    for t in 0 ..< tasks {
        s.spawn("t\(t)") {
            for i in 0 ..< steps {
                log.lines.append("\(t).\(i)")
                s.charge(.ns(100))
                s.preempt(.quantum)
            }
        }
    }
    let outcome = s.run()
    #expect(outcome == .completed)
    return (s, log.lines)
}

@Suite struct SchedulerTests {
    @Test @EmuActor func sameSeedGivesSameTraceTwice() {
        let (a, la) = interleave(.random(seed: 42))
        let (b, lb) = interleave(.random(seed: 42))
        #expect(la == lb)
        #expect(a.switchHash == b.switchHash)
        #expect(a.recorded == b.recorded)
        #expect(a.switches > 0)
    }

    @Test @EmuActor func differentSeedsGiveDifferentInterleavings() {
        var hashes = Set<UInt64>()
        var orders = Set<[String]>()
        for seed in UInt64(1) ... 8 {
            let (s, lines) = interleave(.random(seed: seed))
            hashes.insert(s.switchHash)
            orders.insert(lines)
        }
        #expect(hashes.count == 8)
        #expect(orders.count == 8)
    }

    @Test @EmuActor func everyTaskRunsEveryStep() {
        let (_, lines) = interleave(.random(seed: 7), tasks: 4, steps: 25)
        #expect(lines.count == 100)
        for t in 0 ..< 4 {
            // Within one task the order is program order.
            #expect(lines.filter { $0.hasPrefix("\(t).") } == (0 ..< 25).map { "\(t).\($0)" })
        }
    }

    @Test @EmuActor func roundRobinSwitchesOnlyWhenTheQuantumIsUsed() {
        // 100 ns per step and a 1 µs quantum: each task runs 10 steps per slice.
        let (_, lines) = interleave(.roundRobin(quantum: .us(1)), tasks: 2, steps: 30)
        let owners = lines.map { $0.prefix(1) }
        var runs: [Int] = []
        var last: Substring? = nil
        for o in owners {
            if o == last { runs[runs.count - 1] += 1 } else { runs.append(1); last = o }
        }
        #expect(runs == [10, 10, 10, 10, 10, 10])
    }

    @Test @EmuActor func aRecordedScheduleReplaysExactly() {
        let (live, liveLines) = interleave(.random(seed: 99))
        let text = live.schedule.text
        let parsed = try! Schedule(parsing: text)
        #expect(parsed == live.schedule)
        // Replay under a policy that would choose differently on its own.
        let s = Scheduler(policy: .roundRobin(quantum: .ms(1)), replay: parsed)
        let log = Log()
        for t in 0 ..< 3 {
            s.spawn("t\(t)") {
                for i in 0 ..< 40 {
                    log.lines.append("\(t).\(i)")
                    s.charge(.ns(100))
                    s.preempt(.quantum)
                }
            }
        }
        #expect(s.run() == .completed)
        #expect(log.lines == liveLines)
        #expect(s.switchHash == live.switchHash)
    }

    @Test @EmuActor func aNoSwitchPreemptionPointSwitchesNothing() {
        let s = Scheduler(policy: .random(seed: 3, switchRatio: Ratio(1, 1)))
        let log = Log()
        s.spawn("alone") {
            for _ in 0 ..< 10_000 { s.preempt(.quantum) }
            log.lines.append("done")
        }
        #expect(s.run() == .completed)
        #expect(log.lines == ["done"])
        #expect(s.preemptionPoints == 10_000)
        #expect(s.switches == 0)
    }

    @Test @EmuActor func abbaLockOrderIsReportedAsDeadlock() {
        let s = Scheduler(policy: .roundRobin(quantum: .ns(1)))
        let a = KLock.mutex("A", s), b = KLock.mutex("B", s)
        spawnLocking(s, "ab", a, then: b)
        spawnLocking(s, "ba", b, then: a)
        let outcome = s.run()
        guard case .deadlock(let report) = outcome else {
            Issue.record("expected a deadlock, got \(outcome)")
            return
        }
        #expect(report.contains("T0 ab waits for mutex B held by T1"))
        #expect(report.contains("T1 ba waits for mutex A held by T0"))
    }

    @Test @EmuActor func aBlockedWaiterIsNotRunnableAndGetsTheLockInFIFOOrder() {
        let s = Scheduler(policy: .random(seed: 5, switchRatio: Ratio(1, 2)))
        let m = KLock.mutex("m", s)
        let log = Log()
        for t in 0 ..< 4 {
            s.spawn("t\(t)") {
                for i in 0 ..< 5 {
                    m.lock()
                    log.lines.append("in \(t).\(i)")
                    s.charge(.ns(50))
                    s.preempt(.quantum)
                    log.lines.append("out \(t).\(i)")
                    m.unlock()
                }
            }
        }
        #expect(s.run() == .completed)
        // Mutual exclusion: every "in" is followed by its own "out".
        for k in stride(from: 0, to: log.lines.count, by: 2) {
            #expect(log.lines[k].dropFirst(3) == log.lines[k + 1].dropFirst(4))
        }
        #expect(log.lines.count == 40)
        #expect(m.contentions > 0)
    }

    @Test @EmuActor func sleepersWakeInVirtualTimeAndTheClockWarps() {
        let s = Scheduler(policy: .roundRobin())
        let log = Log()
        s.spawn("slow") {
            s.sleep(until: .ms(30))
            log.lines.append("slow@\(s.now.nanoseconds)")
        }
        s.spawn("fast") {
            s.sleep(until: .ms(10))
            log.lines.append("fast@\(s.now.nanoseconds)")
        }
        #expect(s.run() == .completed)
        #expect(log.lines == ["fast@10000000", "slow@30000000"])
    }

    @Test @EmuActor func timersFireAtPreemptionPointsOncePassed() {
        let s = Scheduler(policy: .roundRobin())
        let log = Log()
        s.addTimer(at: .us(5)) { log.lines.append("timer@\(s.now.nanoseconds)") }
        let cancelled = s.addTimer(at: .us(6)) { log.lines.append("never") }
        #expect(s.cancelTimer(cancelled))
        s.spawn("worker") {
            for _ in 0 ..< 10 {
                s.charge(.us(1))
                s.preempt(.quantum)
            }
        }
        #expect(s.run() == .completed)
        #expect(log.lines == ["timer@5000"])
    }

    @Test func ticksAndMillisecondsConvertLikeTheKernel() {
        let hz250 = TickRate(hz: 250)
        #expect(hz250.msecsToJiffies(1000) == Jiffies(250))
        #expect(hz250.msecsToJiffies(1) == Jiffies(1))  // rounds up, never 0
        #expect(hz250.msecsToJiffies(50) == Jiffies(13))  // 12.5 → 13
        #expect(hz250.jiffies(at: .ms(9)) == Jiffies(2))
        #expect(TickRate(hz: 1000).msecsToJiffies(4) == Jiffies(4))
        #expect(TickRate(hz: 100).jiffiesToMsecs(Jiffies(3)) == 30)
    }

    @Test func policiesAreSeededPureValues() {
        var a = SchedPolicy.random(seed: 11), b = SchedPolicy.random(seed: 11)
        let picksA = (0 ..< 50).map { a.pick(current: $0 % 3, runnable: [0, 1, 2], sliceUsed: .zero) }
        let picksB = (0 ..< 50).map { b.pick(current: $0 % 3, runnable: [0, 1, 2], sliceUsed: .zero) }
        #expect(picksA == picksB)
        var rr = SchedPolicy.roundRobin(quantum: .us(1))
        #expect(rr.pick(current: 1, runnable: [0, 1, 2], sliceUsed: .ns(10)) == 1)
        #expect(rr.pick(current: 1, runnable: [0, 1, 2], sliceUsed: .us(1)) == 2)
        #expect(rr.pick(current: 2, runnable: [0, 1, 2], sliceUsed: .us(1)) == 0)
        #expect(rr.pick(current: 1, runnable: [0, 2], sliceUsed: .zero) == 2)
    }
}
