// SPDX-License-Identifier: MIT — `fbdefio-emu explore`: many seeded schedules of the built-in scenarios with every
// checker on; the first violation is shrunk to the fewest switches that still show it and saved.
import Kernel

/// Which schedules the explorer tries.
public enum ExplorePolicy: String, CaseIterable, Sendable {
    /// A seeded random walk switching at a quarter of the preemption points.
    case random
    /// Probabilistic concurrency testing with `depth` priority-change points.
    case pct
}

public struct ExploreOptions: Sendable {
    public var variant = Variants.upstream
    /// Scenario names; empty: the ones built for the variant's parts.
    public var scenarios: [String] = []
    /// Schedules in total, spread round-robin over the scenarios.
    public var schedules = 1000
    package var seed: UInt64 = 1
    public var policy = ExplorePolicy.random
    package var depth = 3
    /// This process explores schedule indices i with i % shardCount == shardIndex.
    package var shardIndex = 0
    package var shardCount = 1
    public init() {}

    /// How many of the `schedules` indices fall in this shard.
    package var shardSchedules: Int { (schedules - shardIndex + shardCount - 1) / shardCount }
}

/// One schedule the explorer ran, enough to run it again.
package struct ScheduleRecord: Sendable, Equatable {
    package var variant: String
    package var scenario: String
    /// The decisions that differ from "stay, or the lowest runnable id" (index → task).
    package var switches: [Int: Int]

    /// The saved form: a header, the run's identity, then one `switch DECISION TASK` line per switch.
    package func text(violation: Violation?, eventHash: UInt64) -> String {
        var out = "# fbdefio-emu explore schedule v1 (replay: fbdefio-emu replay-schedule FILE)\n"
        out += "variant \(variant)\nscenario \(scenario)\n"
        if let violation { out += "# \(violation)\n" }
        out += "# event hash \(hex(eventHash))\n"
        for (k, t) in switches.sorted(by: { $0.key < $1.key }) { out += "switch \(k) \(t)\n" }
        return out
    }

    package enum ParseError: Error, CustomStringConvertible {
        case bad(line: Int, String)
        package var description: String {
            switch self { case .bad(let line, let why): "schedule line \(line): \(why)" }
        }
    }

    package init(variant: String, scenario: String, switches: [Int: Int]) {
        self.variant = variant
        self.scenario = scenario
        self.switches = switches
    }

    package init(parsing text: String) throws(ParseError) {
        var variant: String?, scenario: String?, switches: [Int: Int] = [:]
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let words = line.split(separator: " ").map(String.init)
            guard let head = words.first else { continue }
            switch (head, words.count) {
            case ("variant", 2): variant = words[1]
            case ("scenario", 2): scenario = words[1]
            case ("switch", 3):
                guard let k = Int(words[1]), let t = Int(words[2]), k >= 0, t >= 0 else {
                    throw .bad(line: n + 1, "'\(line)' is not 'switch DECISION TASK'")
                }
                switches[k] = t
            default: throw .bad(line: n + 1, "'\(line)' is not a variant, scenario or switch line")
            }
        }
        guard let variant else { throw .bad(line: 1, "no 'variant NAME' line") }
        guard let scenario else { throw .bad(line: 1, "no 'scenario NAME' line") }
        self.init(variant: variant, scenario: scenario, switches: switches)
    }
}

/// What one run of a scenario gave.
package struct ScenarioRun: Sendable {
    package var violation: Violation?
    package var outcome: RunOutcome
    package var eventHash: UInt64
    package var switches: [Int: Int]
    /// Decisions taken before the violation was found (the rest cannot matter to it).
    package var decisionsAtViolation: Int?
    /// With `keepEvents`: the two-column race diagram up to the violation.
    package var diagram: String
    package var reports: [String]
    /// Pages whose panel content differs from the framebuffer at the end of the run.
    package var undelivered: [Int]
}

@EmuActor public enum Explorer {
    /// Runs `scenario` once under `policy`.
    package static func run(_ scenario: Scenario, variant: Variants.Selection, policy: SchedPolicy,
                           keepEvents: Bool = false, attach: ((ScenarioMachine) -> Void)? = nil) -> ScenarioRun {
        let m = ScenarioMachine(variant: variant, policy: policy, xres: scenario.xres, cpus: scenario.cpus,
                                keepEvents: keepEvents)
        attach?(m)
        scenario.spawn(m)
        let outcome = m.run()
        return ScenarioRun(violation: m.checkers.first, outcome: outcome, eventHash: m.kernel.events.hash,
                           switches: m.kernel.sched.deviations, decisionsAtViolation: m.decisionsAtViolation,
                           diagram: keepEvents ? diagram(m) : "", reports: m.kernel.sched.reports,
                           undelivered: m.undeliveredPages)
    }

    /// Runs a saved schedule again (nil: its scenario or variant is unknown). `attach` sees the machine first.
    package static func replay(_ record: ScheduleRecord, keepEvents: Bool = true,
                              attach: ((ScenarioMachine) -> Void)? = nil) -> ScenarioRun? {
        guard let scenario = Scenario.named(record.scenario), let variant = try? Variants.select(record.variant) else {
            return nil
        }
        return run(scenario, variant: variant, policy: .scripted(record.switches), keepEvents: keepEvents,
                         attach: attach)
    }

    /// Runs a saved schedule again with the exporters of `--events` / `--trace` attached.
    /// With `runOn` the programs go on after the violation, to show what it costs by the end.
    package static func replayExporting(_ record: ScheduleRecord, events: Bool, trace: Bool, runOn: Bool = false)
        -> (ScenarioRun, [String], String?)? {
        var recorder: EventRecorder?
        let r = replay(record) { m in
            m.stopOnViolation = !runOn
            guard events || trace else { return }
            let rec = EventRecorder(kernel: m.kernel, keepEvents: events, keepTrace: trace)
            rec.workerIDs = m.kernel.systemWorkqueue.workerIDs
            rec.attach()
            recorder = rec
        }
        return r.map { ($0, recorder?.jsonLines ?? [], trace ? recorder?.chromeTrace() : nil) }
    }

    /// The policy of schedule `index`.
    static func policy(_ o: ExploreOptions, index: Int) -> SchedPolicy {
        let seed = SplitMix64.derive(o.seed, "explore", index)
        switch o.policy {
        case .random: return .random(seed: seed)
        case .pct: return .pct(seed: seed, depth: o.depth, steps: 400)
        }
    }

    package struct Found: Sendable {
        package var index: Int
        package var record: ScheduleRecord
        package var run: ScenarioRun
        /// Switches of the schedule that first showed the violation, before shrinking.
        package var originalSwitches: Int
    }

    public struct Summary: Sendable {
        public var schedules = 0
        package var found: Found?
        package var perScenario: [String: Int] = [:]
        package init() {}
    }

    /// Explores this shard's schedules in index order and stops at the first violation, which it shrinks.
    /// `progress` is told every 256 schedules.
    public static func explore(_ o: ExploreOptions, progress: ((Int) -> Void)? = nil) -> Summary {
        let scenarios = (o.scenarios.isEmpty ? o.variant.scenarios : o.scenarios).compactMap(Scenario.named)
        var summary = Summary()
        var index = o.shardIndex
        while index < o.schedules {
            let scenario = scenarios[index % scenarios.count]
            let r = run(scenario, variant: o.variant, policy: policy(o, index: index))
            summary.schedules += 1
            summary.perScenario[scenario.name, default: 0] += 1
            if let v = r.violation {
                let shrunk = shrink(scenario, variant: o.variant, r, kind: v.kind)
                let record = ScheduleRecord(variant: o.variant.name, scenario: scenario.name, switches: shrunk)
                let final = replay(record)!
                summary.found = Found(index: index, record: record, run: final, originalSwitches: r.switches.count)
                return summary
            }
            if summary.schedules % 256 == 0 { progress?(summary.schedules) }
            index += o.shardCount
        }
        return summary
    }

    /// The fewest switches that still give a violation of the same kind: first everything after the violation is
    /// dropped, then each remaining switch in turn, until no single switch can go.
    static func shrink(_ scenario: Scenario, variant: Variants.Selection, _ r: ScenarioRun,
                       kind: Violation.Kind) -> [Int: Int] {
        func violates(_ s: [Int: Int]) -> Bool {
            let again = run(scenario, variant: variant, policy: .scripted(s))
            return again.violation?.kind == kind
        }
        var best = r.switches
        let prefix = r.decisionsAtViolation.map { cut in best.filter { $0.key < cut } } ?? best
        if prefix.count < best.count, violates(prefix) {
            best = prefix
        } else if !(violates(best)) {
            return r.switches  // the scripted form does not reproduce it: keep the schedule as found
        }
        var changed = true
        while changed {
            changed = false
            for k in best.keys.sorted() {
                var fewer = best
                fewer[k] = nil
                if violates(fewer) {
                    best = fewer
                    changed = true
                }
            }
        }
        return best
    }

    /// The run as two columns — user tasks on the left, the worker on the right — up to the violation: faults,
    /// page_mkwrite, PTE changes, list changes, write-protects, batches, signals.
    static func diagram(_ m: ScenarioMachine) -> String {
        let workers = Set(m.kernel.systemWorkqueue.workerIDs)
        let end = m.checkers.first?.time
        let width = 52
        var lines = ["time         " + "task".padded(width) + "| worker", String(repeating: "-", count: 13 + width)
            + "+" + String(repeating: "-", count: 40)]
        for e in m.kernel.events.events {
            if let end, e.time > end { break }
            guard let text = describe(e, m) else { continue }
            let t = "\(e.time)".padded(13)
            if workers.contains(e.task) {
                lines.append(t + "".padded(width) + "| " + text)
            } else {
                let who = e.task >= 0 ? m.kernel.sched.name(of: e.task) : "kernel"
                lines.append(t + "\(who): \(text)".padded(width) + "|")
            }
        }
        if let v = m.checkers.first { lines.append("  ⇒ \(v)") }
        return lines.joined(separator: "\n")
    }

    private static func describe(_ e: KernelEvent, _ m: ScenarioMachine) -> String? {
        switch e.payload {
        case .fault(let address, let write): return "\(write ? "write" : "read") fault \(address)"
        case .mkwrite(let pgoff, let result): return "page_mkwrite(pgoff \(pgoff.rawValue)) = \(result)"
        case .pteSet(let address, let pte, _): return "PTE \(address) := \(pte.isWrite ? "RW" : "RO")\(pte.isDirty ? "+D" : "")"
        case .pteZap(let address, _, _): return "zap PTE \(address)"
        case .wrprotect(let address, _, let mm, _): return "wrprotect \(address) (mm\(mm))"
        case .defioListAdd(let pgoff, _): return "list += page \(pgoff)"
        case .defioProtect(let pgoff, let ptes): return "write-protect page \(pgoff): \(ptes) PTEs"
        case .defioBatch(let batch, let pages): return "deferred_io(batch \(batch): [\(pages.map { String($0.pgoff.rawValue) }.joined(separator: ","))])"
        case .defioListClear(let pages, _): return "list emptied (\(pages) pages)"
        case .signal(let f): return "signal \(f)"
        case .livelock(_, let attempts): return "livelock after \(attempts) faults"
        default: return nil
        }
    }
}
