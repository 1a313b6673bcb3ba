import Testing
@testable import Kernel

/// The timer wheel's bucket expiry against hand-computed values at every level and HZ (kernel/time/timer.c:
/// levels of 64 buckets, each level 8× coarser, expiry rounded up to the level's granularity).
@Suite struct TimerWheelTests {
    func slot(_ expires: Int64, clock: Int64, hz: Int64 = 250) -> TimerWheelSlot {
        TimerWheelSlot(expires: Jiffies(expires), clock: Jiffies(clock), hz: hz)
    }

    @Test func levelZeroRunsAtTheTickAfterExpires() {
        // fb_defio's HZ/20-style delays: 12 ticks at HZ=250 from tick 100 → expires 112, runs at 113.
        #expect(slot(112, clock: 100) == TimerWheelSlot(level: 0, expiry: Jiffies(113)))
        for delta in Int64(0) ..< 63 {
            let s = slot(1000 + delta, clock: 1000)
            #expect(s.level == 0 && s.expiry.rawValue == 1000 + delta + 1)
        }
    }

    @Test func levelBoundariesAndGranularity() {
        // LVL_START(1) = 63, LVL_START(2) = 504, LVL_START(3) = 4032, LVL_START(4) = 32256.
        #expect(slot(63, clock: 0) == TimerWheelSlot(level: 1, expiry: Jiffies(64)))
        #expect(slot(100, clock: 0) == TimerWheelSlot(level: 1, expiry: Jiffies(104)))
        #expect(slot(104, clock: 0) == TimerWheelSlot(level: 1, expiry: Jiffies(112)))  // strictly after expires
        #expect(slot(503, clock: 0) == TimerWheelSlot(level: 1, expiry: Jiffies(504)))
        #expect(slot(504, clock: 0) == TimerWheelSlot(level: 2, expiry: Jiffies(512)))
        #expect(slot(4031, clock: 0) == TimerWheelSlot(level: 2, expiry: Jiffies(4032)))
        #expect(slot(4032, clock: 0) == TimerWheelSlot(level: 3, expiry: Jiffies(4096)))
        #expect(slot(32256, clock: 0) == TimerWheelSlot(level: 4, expiry: Jiffies(32768)))
        #expect(slot(4032, clock: 0).granularity == 512)
        // The level depends on the delta from the clock, the rounding on the absolute expiry.
        #expect(slot(10_063, clock: 10_000) == TimerWheelSlot(level: 1, expiry: Jiffies(10_064)))
        #expect(slot(10_062, clock: 10_000) == TimerWheelSlot(level: 0, expiry: Jiffies(10_063)))
    }

    /// ssd1307fb's delay is HZ: at HZ=1000 a 1000-tick timer is filed at level 2 and runs 1 to 64 ticks late.
    @Test func aOneSecondDelayAtHZ1000LandsUpTo64TicksLate() {
        var lateness = Set<Int64>()
        for clock in Int64(0) ..< 256 {
            let s = slot(clock + 1000, clock: clock, hz: 1000)
            #expect(s.level == 2)
            lateness.insert(s.expiry.rawValue - (clock + 1000))
        }
        #expect(lateness.min() == 1 && lateness.max() == 64 && lateness.count == 64)
    }

    @Test func expiredAndOutOfRangeTimers() {
        #expect(slot(90, clock: 100) == TimerWheelSlot(level: 0, expiry: Jiffies(100)))
        // Beyond the last level: clamped to WHEEL_TIMEOUT_MAX (LVL_START(depth) - LVL_GRAN(depth - 1)).
        let depth9 = TimerWheelSlot.levelStart(9) - (Int64(1) << 24)
        let far = slot(1 << 40, clock: 0, hz: 1000)
        #expect(far.level == 8 && far.expiry.rawValue == ((depth9 >> 24) + 1) << 24)
        #expect(TimerWheelSlot.depth(hz: 100) == 8 && TimerWheelSlot.depth(hz: 250) == 9)
        let far100 = slot(1 << 40, clock: 0, hz: 100)
        #expect(far100.level == 7)
    }

    /// schedule_delayed_work at different HZ: the work runs at the wheel's tick, never before jiffies + delay.
    @Test(arguments: [Int64(100), 250, 300, 1000]) @EmuActor func delayedWorkRunsAtTheBucketExpiry(hz: Int64) {
        let k = EmuKernel(policy: .roundRobin(), tickRate: TickRate(hz: hz))
        let tick = k.sched.tickRate
        var runs: [VirtualTime] = []
        let work = DelayedWork("w", on: k.systemWorkqueue) { runs.append(k.now) }
        var expected: [VirtualTime] = []
        k.spawnProcess("p") { _ in
            for (start, delay) in [(Int64(3), Int64(5)), (200, 70), (1500, 600)] {
                k.sched.sleep(until: tick.time(of: Jiffies(start)) + .us(300))
                work.schedule(Jiffies(delay))
                let s = TimerWheelSlot(expires: Jiffies(start + delay), clock: Jiffies(start), hz: hz)
                #expect(s.expiry.rawValue > start + delay)
                expected.append(tick.time(of: s.expiry))
                #expect(work.timerDeadline == expected.last)
                k.sched.sleep(until: expected.last! + tick.tick)
            }
        }
        #expect(k.sched.run() == .completed)
        #expect(runs == expected)
    }
}

@Suite struct VirtualTimeTests {
    /// Differences of times print too (a negative one with its sign), never trap.
    @Test func descriptions() {
        #expect(VirtualTime.us(1500).description == "1.500000ms")
        #expect((VirtualTime.ms(1) - VirtualTime.ms(3)).description == "-2.000000ms")
        #expect(VirtualTime(picoseconds: -1_000).description == "-0.000001ms")
        #expect(VirtualTime.zero.description == "0.000000ms")
    }
}
