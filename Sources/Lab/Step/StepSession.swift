// SPDX-License-Identifier: MIT — one deterministic run seen step by step. The machine is built afresh for every
// pass and run to its end; the observer keeps the state of a window of events. Going back, or past the window,
// runs the machine again from the start: the same seed and flags give the same events, which each pass checks
// against the first one's event hash.
import Kernel
import Panels

/// What to run: the four kinds of run the CLI has.
package enum StepSource: Sendable {
    /// `replay TRACE`: an access trace on the replay machine.
    case replay(ReplayTrace, ReplayOptions, name: String)
    /// `explore --scenario S`: one schedule of a built-in scenario (the random walk of `seed`).
    case scenario(Scenario, Variants.Selection, seed: UInt64)
    /// `replay-schedule FILE`: a saved explorer schedule.
    case schedule(ScheduleRecord)
    /// `run`: the demo machine (workloads drawing on a panel), headless.
    case demo(DemoOptions)

    package var title: String {
        switch self {
        case .replay(_, let o, let name): "replay \(name) (variant \(o.variant.name))"
        case .scenario(let s, let v, let seed): "scenario \(s.name) (variant \(v.name), seed \(seed))"
        case .schedule(let r): "schedule of \(r.scenario) (variant \(r.variant), \(r.switches.count) switches)"
        case .demo(let o): "run \(o.workload) on \(o.panel) \(o.width)x\(o.height), \(o.procs) procs "
            + "(variant \(o.machine.variant.name), seed \(o.machine.seed))"
        }
    }
}

/// One pass of a run: every event, the states of the window, and what the run came to.
package struct StepRun: Sendable {
    package var title: String
    package var events: [StepEvent]
    /// Event number → the state after it (the window's events only).
    package var states: [Int: StepState]
    package var eventHash: UInt64
    package var violation: Violation?
    /// The event at which the first checker fired (a violation found after the last event, at the end of the run,
    /// has none).
    package var violationEvent: Int?
    /// The two-column race diagram up to the violation (empty without one).
    package var diagram: String
    /// page_mkwrite per framebuffer page, and where the pages sit on the screen.
    package var mkwritesPerPage: [Int]
    package var layout: FramebufferLayout
    /// Store→panel latency, when the machine measures it (replay and run).
    package var latency: LatencyHistogram?
    /// Process errors, scheduler reports: what the run itself printed.
    package var reports: [String]
}

package enum StepError: Error, CustomStringConvertible, Sendable {
    case setup(String)
    /// A second pass did not give the first pass's events.
    case nondeterministic(first: UInt64, again: UInt64)
    package var description: String {
        switch self {
        case .setup(let why): why
        case .nondeterministic(let a, let b):
            "the run is not deterministic: event hash \(hex(a)) on the first pass, \(hex(b)) on a later one"
        }
    }
}

@EmuActor package enum StepRunner {
    /// Runs `source` once, keeping the states of the events in `window` (nil: all of them).
    /// With `sink`, the states go there as they are read and the result keeps none.
    package static func run(_ source: StepSource, window: ClosedRange<Int>?,
                           sink: (@EmuActor (StepState) -> Void)? = nil) -> Result<StepRun, StepError> {
        var observer: StepObserver?
        func watch(_ kernel: EmuKernel, _ info: FBInfo, _ checkers: OnlineCheckers) {
            let o = StepObserver(kernel: kernel, info: info, checkers: checkers, window: window)
            o.sink = sink
            o.attach()
            observer = o
        }
        switch source {
        case .replay(let trace, let options, _):
            let r = Replay(trace, options: options)
            watch(r.kernel, r.info, r.checkers)
            let o = observer!
            let sched = r.kernel.sched
            r.recorder.onLine = { line in o.context[sched.current] = "line \(line.number): \(describe(line.command))" }
            let result = r.run()
            let v = r.checkers.first
            return .success(finish(source, o, hash: r.kernel.events.hash, violation: v,
                                   diagram: v == nil ? "" : twoColumns(o.events, until: v),
                                   layout: result.layout, latency: result.stats.latency,
                                   reports: result.errors))
        case .scenario(let scenario, let variant, let seed):
            var o = ExploreOptions()
            o.seed = seed
            let policy = Explorer.policy(o, index: 0)
            let r = Explorer.run(scenario, variant: variant, policy: policy, keepEvents: true) { m in
                watch(m.kernel, m.info, m.checkers)
            }
            return .success(scenarioRun(source, observer!, r))
        case .schedule(let record):
            guard let r = Explorer.replay(record, attach: { m in watch(m.kernel, m.info, m.checkers) }) else {
                return .failure(.setup("schedule: unknown scenario '\(record.scenario)' or variant '\(record.variant)'"))
            }
            return .success(scenarioRun(source, observer!, r))
        case .demo(let options):
            let m: Machine
            do { m = try Machine(options) } catch { return .failure(.setup(error.description)) }
            watch(m.kernel, m.info, m.checkers)
            let report: DemoReport
            do { report = try m.run() } catch { return .failure(.setup(error.description)) }
            let o = observer!
            let v = m.checkers.first
            return .success(finish(source, o, hash: report.eventHash, violation: v,
                                   diagram: v == nil ? "" : twoColumns(o.events, until: v),
                                   layout: report.layout, latency: report.stats.latency,
                                   reports: report.checkerPassed ? [] : [report.checkerReport]))
        }
    }

    private static func scenarioRun(_ source: StepSource, _ o: StepObserver, _ r: ScenarioRun) -> StepRun {
        let pages = o.mkwritesPerPage.count
        return finish(source, o, hash: r.eventHash, violation: r.violation, diagram: r.violation == nil ? "" : r.diagram,
                      layout: Heatmap.pagePerRow(pages: pages),
                      latency: nil, reports: r.reports)
    }

    private static func finish(_ source: StepSource, _ o: StepObserver, hash: UInt64, violation: Violation?,
                               diagram: String, layout: FramebufferLayout, latency: LatencyHistogram?,
                               reports: [String]) -> StepRun {
        StepRun(title: source.title, events: o.events, states: o.states, eventHash: hash, violation: violation,
                violationEvent: o.violationEvent, diagram: diagram, mkwritesPerPage: o.mkwritesPerPage, layout: layout,
                latency: latency,
                reports: reports)
    }

    /// The run as two columns — user tasks left, the worker right — up to the violation, as the explorer draws
    /// it for its scenarios (for runs that are not scenarios).
    static func twoColumns(_ events: [StepEvent], until violation: Violation?) -> String {
        let width = 60
        var lines = ["time         " + "task".padded(width) + "| worker",
                     String(repeating: "-", count: 13 + width) + "+" + String(repeating: "-", count: 40)]
        for e in events {
            if let end = violation?.time, e.time > end { break }
            switch e.kind {
            case .fault, .mkwrite, .pteSet, .pteZap, .wrprotect, .defioListAdd, .defioProtect, .defioBatch,
                 .defioListClear, .signal, .livelock, .tlbFlush:
                let t = "\(e.time)".padded(13)
                lines.append(e.isWorker ? t + "".padded(width) + "| " + e.text
                    : t + "\(e.who): \(e.text)".padded(width) + "|")
            default: continue
            }
        }
        if let v = violation { lines.append("  ⇒ \(v)") }
        return lines.joined(separator: "\n")
    }
}

/// A cursor over a run's events that keeps a window of states and re-runs the machine to move outside it.
/// Not an actor: the terminal loop owns it and runs each pass on the emulator thread.
package final class StepSession: @unchecked Sendable {
    package let source: StepSource
    /// States kept around the cursor.
    package let windowSize: Int
    package private(set) var run: StepRun
    /// Passes of the machine so far (the first included).
    package private(set) var passes = 1
    let runPass: @Sendable (StepSource, ClosedRange<Int>?) -> Result<StepRun, StepError>

    /// Runs the first pass. `runPass` runs one pass (on the emulator thread) and waits for it.
    package init(_ source: StepSource, windowSize: Int = 2000,
                runPass: @escaping @Sendable (StepSource, ClosedRange<Int>?) -> Result<StepRun, StepError>)
        throws(StepError) {
        self.source = source
        self.windowSize = max(2, windowSize)
        self.runPass = runPass
        switch runPass(source, 1 ... self.windowSize) {
        case .success(let r): run = r
        case .failure(let e): throw e
        }
    }

    package var count: Int { run.events.count }

    /// The state after event `n` (1-based) and the one before it, running the machine again if `n` is outside the
    /// window. The window is placed so that `n` and `n - 1` are both in it.
    package func state(_ n: Int) throws(StepError) -> (StepState, StepState?) {
        let n = max(1, min(n, count))
        if run.states[n] == nil || (n > 1 && run.states[n - 1] == nil) {
            let lo = max(1, n - windowSize / 2)
            let hi = min(count, lo + windowSize - 1)
            switch runPass(source, lo ... hi) {
            case .success(let again):
                guard again.eventHash == run.eventHash && again.events.count == run.events.count else {
                    throw .nondeterministic(first: run.eventHash, again: again.eventHash)
                }
                run = again
                passes += 1
            case .failure(let e): throw e
            }
        }
        return (run.states[n]!, n > 1 ? run.states[n - 1] : nil)
    }

    /// The next event after `n` that satisfies `match` (nil: none).
    package func next(after n: Int, where match: (StepEvent) -> Bool) -> Int? {
        guard n < count else { return nil }
        return run.events[n...].first(where: match)?.number
    }

    /// The first event of each worker pass: a worker event right after a non-worker one.
    package func isWorkerPassStart(_ number: Int) -> Bool {
        let e = run.events[number - 1]
        return e.isWorker && (number == 1 || !run.events[number - 2].isWorker)
    }

    /// The screen after event `n`.
    package func screen(_ n: Int, width: Int?, height: Int?, ansi: Bool, status: String = "") throws(StepError) -> [String] {
        let (s, prev) = try state(n)
        return StepText.screen(s, previous: prev, log: run.events[0 ..< s.event.number], total: count,
                               title: run.title, width: width, height: height, ansi: ansi, status: status)
    }
}
