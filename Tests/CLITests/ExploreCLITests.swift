import Foundation
import Testing

/// `variants`, `scenarios`, `explore` and `replay-schedule` as a user runs them: exit codes 0, 1 and 2, and the
/// replay command `explore` prints reproduces its violation.
@Suite struct ExploreCLITests {
    @Test func listings() throws {
        let v = try CLI.run(["variants"])
        #expect(v.status == 0)
        for name in ["upstream", "upstream", "legacy-folio-mkclean", "mkwrite-returns-zero", "missing-tlb-flush",
                     "worker-page-lock", "keep-non-dirty", "v6.8"] {
            #expect(v.stdout.contains(name), "\(name)")
        }
        let s = try CLI.run(["scenarios"])
        #expect(s.status == 0)
        #expect(s.stdout.contains("wp-race"))
    }

    @Test func correctVariantExitsZeroWithASummary() throws {
        let r = try CLI.run(["explore", "--variant", "upstream+worker-page-lock", "--schedules", "40", "--jobs", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("no violation in 40 schedules"))
        #expect(r.stdout.contains("schedules/s"))
    }

    @Test func violationIsSavedShrunkAndReplays() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("explore-cli-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("h.schedule").path
        let r = try CLI.run(["explore", "--variant", "upstream", "--scenario", "wp-race", "--schedules", "400",
                             "--out", file, "--jobs", "1"])
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("VIOLATION ("))
        #expect(r.stdout.contains("| worker"))
        let replayLine = try #require(r.stdout.split(separator: "\n").first { $0.hasPrefix("replay: fbdefio-emu ") })
        let args = replayLine.dropFirst("replay: fbdefio-emu ".count).split(separator: " ").map(String.init)
        let again = try CLI.run(args)
        #expect(again.status == 1)
        let hash = { (s: String) in s.split(separator: "\n").first { $0.hasPrefix("event hash") } }
        #expect(hash(again.stdout) == hash(r.stdout))
        let events = dir.appendingPathComponent("e.jsonl").path
        let withEvents = try CLI.run(["replay-schedule", file, "--events", events])
        #expect(withEvents.status == 1)
        #expect(try String(contentsOfFile: events, encoding: .utf8).contains("\"kind\":\"page-mkwrite\""))
    }

    @Test func jobsSplitTheWorkAndAgreeWithOneJob() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("explore-jobs-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let one = try CLI.run(["explore", "--variant", "upstream", "--schedules", "400", "--jobs", "1",
                               "--out", dir.appendingPathComponent("one.schedule").path])
        let two = try CLI.run(["explore", "--variant", "upstream", "--schedules", "400", "--jobs", "2",
                               "--out", dir.appendingPathComponent("two.schedule").path])
        #expect(try String(contentsOf: dir.appendingPathComponent("one.schedule"), encoding: .utf8)
            == String(contentsOf: dir.appendingPathComponent("two.schedule"), encoding: .utf8))
        #expect(one.status == 1 && two.status == 1, "\(two.stdout)\(two.stderr)")
        // The same schedule index and scenario, whichever process found it (the count run before it differs).
        let first = { (s: String) in
            s.split(separator: "\n").first { $0.hasPrefix("explore:") }.map { line in
                line.components(separatedBy: " after ")[0] + line.components(separatedBy: " schedules,").last!
            }
        }
        #expect(first(one.stdout) == first(two.stdout))
        let fine = try CLI.run(["explore", "--variant", "legacy-folio-mkclean", "--schedules", "100", "--jobs", "2"])
        #expect(fine.status == 0)
        #expect(fine.stdout.contains("no violation in 100 schedules"), "\(fine.stdout)")
    }

    @Test func badInputExitsTwo() throws {
        for args in [["explore", "--variant", "nope"], ["explore", "--shard", "3/2"], ["explore", "--schedules", "0"],
                     ["explore", "--scenario", "nope"], ["run", "--headless", "--variant", "upstream+v6.8"],
                     ["replay-schedule", "/nonexistent.schedule"]] {
            let r = try CLI.run(args)
            #expect(r.status == 2, "\(args): \(r.stderr)")
            #expect(r.stderr.hasPrefix("fbdefio-emu: "), "\(args): \(r.stderr)")
        }
    }

    @Test func variantReachesRunBootAndReplay() throws {
        let run = try CLI.run(["--headless", "--frames", "3", "--variant", "upstream+worker-page-lock"])
        #expect(run.status == 0, "\(run.stdout)")
        #expect(run.stdout.contains("variant upstream+worker-page-lock"))
        let boot = try CLI.run(["boot", "--variant", "v6.8"])
        #expect(boot.stdout.contains("variant v6.8"))
        let stats = FileManager.default.temporaryDirectory.appendingPathComponent("replay-stats-\(getpid()).json").path
        defer { try? FileManager.default.removeItem(atPath: stats) }
        let replay = try CLI.run(["replay", "-", "--variant", "legacy-folio-mkclean", "--stats", stats],
                                 stdin: "size 8192\nproc 0 write 0 4\nflush\n")
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(try String(contentsOfFile: stats, encoding: .utf8).contains("\"variant\":\"legacy-folio-mkclean\""))
    }
}
