@testable import Kernel
@testable import Lab
import Testing

/// The explorer finds every buggy variant within a fixed budget, the correct ones survive one, and a saved schedule
/// replays to the same violation and event hash.
@Suite struct ExplorerTests {
    static let buggy = [
        "upstream", "v6.15", "race-nondirty-2010", "mkwrite-returns-zero", "missing-tlb-flush", "v6.2", "v6.3",
        "v6.8", "v5.19", "v5.18", "no-state-lifetime", "multiple-device-nodes", "open-count-leak",
        "cleanup-reschedule-race", "dax-pfn-mkwrite-mtime", "walk-page-mapping-break-on-skip", "keep-non-dirty",
        "drm-damage-past-yres", "fbtft-init-before-smem-len",
    ]

    @EmuActor func explore(_ variant: String, schedules: Int, policy: ExplorePolicy = .random,
                           scenarios: [String] = []) throws -> Explorer.Summary {
        var o = ExploreOptions()
        o.variant = try Variants.select(variant)
        o.schedules = schedules
        o.policy = policy
        o.scenarios = scenarios
        return Explorer.explore(o)
    }

    @Test(arguments: buggy)
    @EmuActor func everyBuggyVariantIsFound(variant: String) throws {
        let s = try explore(variant, schedules: 400)
        let found = try #require(s.found, "\(variant): no violation in \(s.schedules) schedules")
        #expect(found.record.switches.count <= found.originalSwitches)
        // The shrunk schedule, saved and parsed again, gives the same violation and the same event hash.
        let text = found.record.text(violation: found.run.violation, eventHash: found.run.eventHash)
        let parsed = try ScheduleRecord(parsing: text)
        #expect(parsed == found.record)
        let again = try #require(Explorer.replay(parsed))
        #expect(again.violation == found.run.violation)
        #expect(again.eventHash == found.run.eventHash)
        #expect(!again.diagram.isEmpty)
    }

    @Test(arguments: ["upstream+worker-page-lock", "legacy-folio-mkclean"])
    @EmuActor func correctVariantsSurviveEveryScenario(variant: String) throws {
        let s = try explore(variant, schedules: Scenario.all.count * 12, scenarios: Scenario.all.map(\.name))
        #expect(s.found == nil, "\(s.found.map { "\($0.run.violation!) in \($0.record.scenario)" } ?? "")")
        #expect(s.schedules == Scenario.all.count * 12)
    }

    @Test @EmuActor func pctFindsBugHToo() throws {
        let s = try explore("upstream", schedules: 400, policy: .pct)
        #expect(s.found != nil)
    }

    /// Shards split the schedule indices: together they run every schedule exactly once.
    @Test @EmuActor func shardsAreDisjointAndComplete() throws {
        var total = 0
        for k in 0 ..< 3 {
            var o = ExploreOptions()
            o.variant = try Variants.select("upstream+worker-page-lock")
            o.schedules = 20
            o.shardIndex = k
            o.shardCount = 3
            total += Explorer.explore(o).schedules
        }
        #expect(total == 20)
    }

    @Test func scheduleFilesRefuseNonsense() {
        #expect(throws: ScheduleRecord.ParseError.self) { try ScheduleRecord(parsing: "variant upstream\nswitch x 1\n") }
        #expect(throws: ScheduleRecord.ParseError.self) { try ScheduleRecord(parsing: "scenario wp-race\n") }
        #expect(throws: ScheduleRecord.ParseError.self) { try ScheduleRecord(parsing: "variant upstream\nscenario a\nnope\n") }
    }
}
