// SPDX-License-Identifier: MIT — where the timer wheel files a timer, and so when it really fires
// (kernel: kernel/time/timer.c).

/// The hierarchical timer wheel's placement of a timer. A timer is filed in a bucket of one of the wheel's levels;
/// level n's buckets are 8^n ticks wide, and the bucket's expiry is rounded *up* to the level's granularity, so that
/// a timer never fires early: at level 0 it fires at the first tick after `expires` (not at it), at level 1 on the
/// next multiple of 8 ticks after it, at level 2 of 64, and so on.
/// Kernel: calc_wheel_index() and calc_index() — kernel/time/timer.c
package struct TimerWheelSlot: Sendable, Equatable, CustomStringConvertible {
    /// The wheel level (0 for deltas under 63 ticks).
    package let level: Int
    /// The tick at which the bucket is run: when the timer's function is called. Kernel: `bucket_expiry`
    package let expiry: Jiffies

    /// Granularity of a level, in ticks. Kernel: LVL_GRAN(n)
    package var granularity: Int64 { Int64(1) << Int64(Self.clockShift * level) }

    /// Kernel: LVL_CLK_SHIFT, LVL_BITS
    static let clockShift = 3
    static let levelBits = 6

    /// Levels of the wheel: 9 for HZ > 100, 8 at HZ=100. Kernel: LVL_DEPTH
    package static func depth(hz: Int64) -> Int { hz > 100 ? 9 : 8 }

    /// The first delta (in ticks) filed at level `n`. Kernel: LVL_START(n)
    package static func levelStart(_ n: Int) -> Int64 {
        Int64((1 << levelBits) - 1) << Int64((n - 1) * clockShift)
    }

    init(level: Int, expiry: Jiffies) {
        self.level = level
        self.expiry = expiry
    }

    /// Files a timer that expires at tick `expires` on a wheel whose clock reads `clock` (the base clock, which
    /// `__mod_timer` first forwards to the current jiffies).
    package init(expires: Jiffies, clock: Jiffies, hz: Int64) {
        let depth = Self.depth(hz: hz)
        var e = expires.rawValue
        let delta = e - clock.rawValue
        if delta < 0 {
            // Already expired: the bucket of the current clock, run at once.
            level = 0
            expiry = clock
            return
        }
        var lvl = 0
        while lvl < depth && delta >= Self.levelStart(lvl + 1) { lvl += 1 }
        if lvl == depth {
            // Beyond the wheel's reach: clamped to the longest timeout it can hold (WHEEL_TIMEOUT_MAX).
            let cutoff = Self.levelStart(depth)
            e = clock.rawValue + cutoff - (Int64(1) << Int64(Self.clockShift * (depth - 1)))
            lvl = depth - 1
        }
        let shift = Int64(Self.clockShift * lvl)
        level = lvl
        expiry = Jiffies(((e >> shift) + 1) << shift)
    }

    package var description: String { "level \(level) (\(granularity)j buckets), runs at \(expiry)" }
}
