// SPDX-License-Identifier: MIT — `fbdefio-emu explore`: many seeded schedules of the built-in scenarios.
import ArgumentParser
import Foundation
import Kernel
import Lab

extension ExplorePolicy: ExpressibleByArgument {}

struct Explore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run built-in scenarios under many seeded schedules with every checker on; stop at the first violation.",
        discussion: """
            Exit 0: no violation in N schedules (a one-line summary with schedules per second). Exit 1: a violation; \
            its schedule is shrunk to the fewest switches that still show it, written to --out, printed as a \
            two-column diagram with the command that replays it. --shard K/N explores the K-th of N disjoint slices \
            of the schedule indices, so machines with no coordination can split one exploration.
            """)

    @Option(help: "Kernel variant (see 'fbdefio-emu variants'); VERSION+PATCH+… composes.")
    var variant: String = "upstream"

    @Option(help: "Scenario (see 'fbdefio-emu scenarios'); repeat for several. Default: those built for the variant.")
    var scenario: [String] = []

    @Option(help: "Schedules in total, spread over the scenarios.")
    var schedules: Int = 1000

    @Option(help: "Seed of the schedule seeds.")
    var seed: UInt64 = 1

    @Option(help: "random (seeded random walk) or pct (probabilistic concurrency testing).")
    var policy: ExplorePolicy = .random

    @Option(help: "PCT: priority-change points + 1.")
    var depth: Int = 3

    @Option(help: "Where to write the shrunk schedule (default: ./explore-VARIANT-SCENARIO.schedule).")
    var out: String?

    @Option(help: "Processes to explore on at once (default: every core).")
    var jobs: Int?

    @Option(help: "K/N: explore only the K-th (1-based) of N disjoint slices of the schedule indices.")
    var shard: String = "1/1"

    @Option(help: "Write a self-contained HTML walkthrough of the shrunk violating schedule (none found: of the first scenario's first random schedule) to FILE.")
    var walkthrough: String?

    func validate() throws {
        let v = try parseVariant(variant)
        for s in scenario where Scenario.named(s) == nil {
            throw ValidationError("--scenario: unknown scenario '\(s)' (see 'fbdefio-emu scenarios')")
        }
        if scenario.isEmpty && v.scenarios.isEmpty { throw ValidationError("--variant: '\(variant)' has no scenario") }
        guard (1 ... 100_000_000).contains(schedules) else {
            throw ValidationError("--schedules: '\(schedules)' is not in 1...100000000")
        }
        guard (1 ... 16).contains(depth) else { throw ValidationError("--depth: '\(depth)' is not in 1...16") }
        if let jobs, !(1 ... 256).contains(jobs) { throw ValidationError("--jobs: '\(jobs)' is not in 1...256") }
        guard Self.parseShard(shard) != nil else {
            throw ValidationError("--shard: '\(shard)' is not K/N with 1 <= K <= N <= 100000")
        }
    }

    static func parseShard(_ s: String) -> (Int, Int)? {
        let p = s.split(separator: "/")
        guard p.count == 2, let k = Int(p[0]), let n = Int(p[1]), n >= 1, n <= 100_000, k >= 1, k <= n else { return nil }
        return (k, n)
    }

    func options() throws -> ExploreOptions {
        var o = ExploreOptions()
        o.variant = try parseVariant(variant)
        o.scenarios = scenario
        o.schedules = schedules
        o.seed = seed
        o.policy = policy
        o.depth = depth
        let (k, n) = Self.parseShard(shard)!
        o.shardIndex = k - 1
        o.shardCount = n
        return o
    }

    func run() throws {
        let o = try options()
        let jobs = self.jobs ?? ProcessInfo.processInfo.activeProcessorCount
        let start = ContinuousClock.now
        let progress = isatty(STDERR_FILENO) == 1 ? ProgressLine() : nil
        // A child of `--jobs` reports its count on stderr for the parent's progress line.
        let reportsToParent = ProcessInfo.processInfo.environment[Self.progressVariable] != nil
        let summary: Explorer.Summary
        if jobs > 1 && o.schedules > 64 {
            summary = try exploreInChildren(o, jobs: jobs, progress: progress)
        } else {
            let total = o.shardSchedules
            summary = runOnEmulator {
                Explorer.explore(o) { n in
                    progress?.show("explored \(n) of \(total) schedules")
                    if reportsToParent { FileHandle.standardError.write(Data("progress \(n)\n".utf8)) }
                }
            }
        }
        progress?.clear()
        let elapsed = (ContinuousClock.now - start).components
        let seconds = max(Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18, 1e-9)
        guard let found = summary.found else {
            let rate = Int(Double(summary.schedules) / seconds)
            let per = summary.perScenario.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            print("explore: \(o.variant) — no violation in \(summary.schedules) schedules (\(per)), policy "
                + "\(o.policy.rawValue), seed \(o.seed), shard \(shard): \(rate) schedules/s")
            if let walkthrough {
                let names = o.scenarios.isEmpty ? o.variant.scenarios : o.scenarios
                if let first = names.first.flatMap(Scenario.named) {
                    try writeWalkthrough(.scenario(first, o.variant, seed: o.seed), to: walkthrough)
                }
            }
            return
        }
        let path = outPath(o, scenario: found.record.scenario)
        let text = found.record.text(violation: found.run.violation, eventHash: found.run.eventHash)
        try writeOutput(text, to: path, flag: "--out")
        print("explore: \(o.variant) — violation in schedule \(found.index) after \(summary.schedules) schedules, "
            + "scenario \(found.record.scenario), policy \(o.policy.rawValue), seed \(o.seed)")
        print(found.run.violation.map(String.init(describing:)) ?? "")
        print("shrunk from \(found.originalSwitches) to \(found.record.switches.count) switches:")
        print(found.run.diagram)
        print("event hash: \(hex(found.run.eventHash))")
        print("saved: \(path)")
        print("replay: fbdefio-emu replay-schedule \(path)")
        if let walkthrough { try writeWalkthrough(.schedule(found.record), to: walkthrough, expectedHash: found.run.eventHash) }
        throw ExitCode(1)
    }

    /// Splits this exploration over `jobs` child processes, each a sub-shard; the violation with the lowest
    /// schedule index wins, so the answer does not depend on which child finished first.
    static let progressVariable = "FBDEFIO_EXPLORE_PROGRESS"

    /// Where the shrunk schedule goes: `--out`, else `./explore-VARIANT-SCENARIO.schedule`.
    func outPath(_ o: ExploreOptions, scenario: String) -> String {
        out ?? "explore-\(o.variant.name)-\(scenario).schedule"
    }

    func exploreInChildren(_ o: ExploreOptions, jobs: Int, progress: ProgressLine?) throws -> Explorer.Summary {
        let counts = ChildCounts(jobs)
        let total = o.shardSchedules
        // This very binary: argv[0] is a bare name when it was found in PATH (an installed one).
        let exe = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]).standardizedFileURL
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fbdefio-explore-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var children: [(Process, Pipe, String)] = []
        for j in 0 ..< jobs {
            // Global slice o.shardIndex of o.shardCount, split again j of jobs: indices ≡ shardIndex + j·count.
            let file = dir.appendingPathComponent("shard\(j).schedule").path
            var args = ["explore", "--variant", o.variant.name, "--schedules", String(o.schedules), "--seed",
                        String(o.seed), "--policy", o.policy.rawValue, "--depth", String(o.depth), "--jobs", "1",
                        "--shard", "\(o.shardIndex + j * o.shardCount + 1)/\(o.shardCount * jobs)", "--out", file]
            for s in o.scenarios { args += ["--scenario", s] }
            let p = Process()
            p.executableURL = exe
            p.arguments = args
            let pipe = Pipe()
            p.standardOutput = pipe
            if let progress {
                var env = ProcessInfo.processInfo.environment
                env[Self.progressVariable] = "1"
                p.environment = env
                let err = Pipe()
                err.fileHandleForReading.readabilityHandler = { h in
                    let text = String(decoding: h.availableData, as: UTF8.self)
                    for line in text.split(separator: "\n") where line.hasPrefix("progress ") {
                        if let n = Int(line.dropFirst(9)) {
                            progress.show("explored \(counts.set(j, n)) of \(total) schedules on \(jobs) processes")
                        }
                    }
                }
                p.standardError = err
            } else {
                p.standardError = FileHandle.nullDevice
            }
            do { try p.run() } catch {
                for (child, _, _) in children { child.terminate() }
                throw SetupFailure("explore: cannot start a child process (\(exe.path)): \(error.localizedDescription)")
            }
            children.append((p, pipe, file))
        }
        var summary = Explorer.Summary()
        var best: (index: Int, output: String, file: String)?
        for (p, pipe, file) in children {
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            let output = String(decoding: data, as: UTF8.self)
            if let line = output.split(separator: "\n").first(where: { $0.hasPrefix("explore:") }) {
                if let n = line.range(of: "no violation in ").map({ line[$0.upperBound...] }),
                   let count = Int(n.prefix { $0.isNumber }) {
                    summary.schedules += count
                    // "(wp-race 20, two-openers 20)": the child's schedules per scenario.
                    if let open = n.firstIndex(of: "("), let close = n.firstIndex(of: ")") {
                        for part in n[n.index(after: open) ..< close].split(separator: ",") {
                            let words = part.split(separator: " ")
                            if words.count == 2, let c = Int(words[1]) { summary.perScenario[String(words[0]), default: 0] += c }
                        }
                    }
                } else if let r = line.range(of: "violation in schedule "),
                          let idx = Int(line[r.upperBound...].prefix { $0.isNumber }) {
                    if best == nil || idx < best!.index { best = (idx, output, file) }
                }
            }
        }
        if let best {
            progress?.clear()
            // Reprint the winning child's report, with its schedule moved to where this command was asked to save it.
            let path = outPath(o, scenario: best.output.firstScenario ?? "scenario")
            let saved = (try? String(contentsOfFile: best.file, encoding: .utf8)) ?? ""
            try writeOutput(saved, to: path, flag: "--out")
            print(best.output.replacingOccurrences(of: best.file, with: path), terminator: "")
            if let walkthrough { try writeWalkthrough(.schedule(try loadSchedule(path, flag: "--out")), to: walkthrough) }
            throw ExitCode(1)
        }
        return summary
    }
}

/// The schedules each child of `--jobs` has explored so far (written from the pipes' handler threads).
final class ChildCounts: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [Int]
    init(_ n: Int) { counts = Array(repeating: 0, count: n) }
    /// Records child `j`'s count and returns the total.
    func set(_ j: Int, _ n: Int) -> Int {
        lock.lock()
        defer { lock.unlock() }
        counts[j] = n
        return counts.reduce(0, +)
    }
}

extension String {
    /// The scenario named in an explore report's first line.
    var firstScenario: String? {
        guard let r = range(of: "scenario ") else { return nil }
        return String(self[r.upperBound...].prefix { $0 != "," && $0 != " " && $0 != "\n" })
    }
}

