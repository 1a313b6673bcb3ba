// SPDX-License-Identifier: MIT — the explorer's throughput on the bug-H scenario (`wp-race`): schedules per second of
// one emulator thread, each a freshly booted scenario machine with every online checker on.
//
// Run: cd Benchmarks && swift package --disable-sandbox benchmark --target ExploreBench
import Benchmark
import Kernel
import Lab

/// Runs `count` schedules of `wp-race` on the emulator thread. The variant is the fix of bug H so that no schedule
/// stops the exploration early: every iteration does the same amount of work.
@EmuActor func exploreWPRace(_ count: Int, policy: ExplorePolicy) async -> Int {
    var o = ExploreOptions()
    o.variant = try! Variants.select("upstream+worker-page-lock")
    o.scenarios = ["wp-race"]
    o.schedules = count
    o.policy = policy
    return await Explorer.explore(o).schedules
}

let benchmarks: @Sendable () -> Void = {
    // Each iteration explores 1,000 schedules in one call, so the throughput (in K/s) is thousands of schedules
    // per second.
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput], scalingFactor: .kilo,
                                           maxDuration: .seconds(10), maxIterations: 20)
    for policy in ExplorePolicy.allCases {
        Benchmark("explore wp-race, \(policy.rawValue) (schedules)") { benchmark in
            let count = benchmark.scaledIterations.count
            let done = await exploreWPRace(count, policy: policy)
            precondition(done == count, "a schedule of the fixed variant violated")
        }
    }
}
