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
    // per second; `schedules/s` says the same in plain schedules per second (the target is 5,000), measured around
    // the explore call itself.
    let schedulesPerSecond = BenchmarkMetric.custom("schedules/s", polarity: .prefersLarger, useScalingFactor: false)
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, schedulesPerSecond],
                                           units: [schedulesPerSecond: .count], scalingFactor: .kilo,
                                           maxDuration: .seconds(10), maxIterations: 20)
    for policy in ExplorePolicy.allCases {
        Benchmark("explore wp-race, \(policy.rawValue) (schedules)") { benchmark in
            let count = benchmark.scaledIterations.count
            let start = ContinuousClock.now
            let done = await exploreWPRace(count, policy: policy)
            let elapsed = ContinuousClock.now - start
            precondition(done == count, "a schedule of the fixed variant violated")
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            benchmark.measurement(schedulesPerSecond, Int((Double(count) / seconds).rounded()))
        }
    }
}
