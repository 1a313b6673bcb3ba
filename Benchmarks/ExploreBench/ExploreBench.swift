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
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput], maxDuration: .seconds(10),
                                           maxIterations: 20)
    for policy in ExplorePolicy.allCases {
        // One iteration explores 1,000 schedules; throughput × 1,000 is schedules per second.
        Benchmark("explore wp-race, \(policy.rawValue), 1000 schedules") { benchmark in
            for _ in benchmark.scaledIterations {
                let done = await exploreWPRace(1000, policy: policy)
                precondition(done == 1000, "a schedule of the fixed variant violated")
            }
        }
    }
}
