// SPDX-License-Identifier: MIT — row 7: the explorer's schedules per second on the bug-H scenario, one thread.
import Kernel
import Lab

enum ExploreRow {
    /// The scenario bug H shows in, on its fix (no schedule stops the exploration early; every round does the same
    /// work), as ExploreBench runs it.
    static let variant = "upstream+worker-page-lock"
    static let scenario = "wp-race"

    /// Schedules per second of one `Explorer.explore` call of `schedules` schedules, timed on the emulator thread.
    @EmuActor static func emulator(schedules: Int) throws -> Double {
        var o = ExploreOptions()
        o.variant = try Variants.select(variant)
        o.scenarios = [scenario]
        o.schedules = schedules
        o.policy = .random
        let start = nowNanoseconds()
        let done = Explorer.explore(o).schedules
        let elapsed = nowNanoseconds() - start
        guard done == schedules else { throw BenchFailure("explored \(done) schedules of \(schedules)") }
        return Double(schedules) / (Double(elapsed) / 1e9)
    }
}
