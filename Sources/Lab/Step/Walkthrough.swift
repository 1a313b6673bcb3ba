// SPDX-License-Identifier: MIT — `--walkthrough FILE.html`: one self-contained page (no network, no external
// scripts, fonts or images) with a timeline, a slider over the events, the step view's panels, the race diagram,
// the heatmap and the latency histogram.
//
// Size: the page carries the state of at most `maxSteps` consecutive events, as one full state and then per event
// only what changed (PTE cells; the rest of the state by reference into a table of distinct values). The timeline
// covers every event of the run, aggregated into bins when there are more events than it has pixels. Both are
// said on the page.
import Kernel

package enum Walkthrough {
    /// States carried by one page: enough for a scenario or a trace, and a page of a few MB for a 1080p run.
    package static let defaultMaxSteps = 20_000
    /// Timeline bins when the run has more events than this.
    static let timelineBins = 1200

    /// The window of events to keep for a page: the first `maxSteps`, or, when a checker fired later, the
    /// `maxSteps` events that end a little after it.
    package static func window(total: Int, violationEvent: Int?, maxSteps: Int) -> ClosedRange<Int> {
        guard total > maxSteps else { return 1 ... max(1, total) }
        if let v = violationEvent, v > maxSteps {
            let hi = min(total, v + maxSteps / 10)
            return (hi - maxSteps + 1) ... hi
        }
        return 1 ... maxSteps
    }

    /// Runs `source` with the step observer feeding a page, and returns the page and the run. A violation found
    /// after the first `maxSteps` events makes a second pass that keeps the events leading to it. `heatmapPNG`
    /// turns the heatmap image into a data: URI (the PNG encoder lives above this module).
    /// One pass of `source` whose states in `window` feed a fresh encoder.
    @EmuActor private static func encode(_ source: StepSource, window: ClosedRange<Int>)
        -> (WalkthroughEncoder, Result<StepRun, StepError>) {
        let encoder = WalkthroughEncoder(window: window)
        let result = StepRunner.run(source, window: window, sink: { encoder.add($0) })
        return (encoder, result)
    }

    @EmuActor package static func build(_ source: StepSource, maxSteps: Int = defaultMaxSteps, command: String,
                             notes: [String] = [], expectedHash: UInt64? = nil,
                             heatmapPNG: (Heatmap.Image) -> String?)
        -> Result<(html: String, run: StepRun), StepError> {
        var (encoder, result) = encode(source, window: 1 ... maxSteps)
        let first: StepRun
        switch result {
        case .failure(let e): return .failure(e)
        case .success(let r): first = r
        }
        let wanted = Self.window(total: first.events.count, violationEvent: first.violationEvent, maxSteps: maxSteps)
        if wanted.lowerBound != 1 { (encoder, result) = encode(source, window: wanted) }
        let run: StepRun
        switch result {
        case .failure(let e): return .failure(e)
        case .success(let r): run = r
        }
        if run.eventHash != first.eventHash {
            return .failure(.nondeterministic(first: first.eventHash, again: run.eventHash))
        }
        var notes = notes
        if let expectedHash, expectedHash != run.eventHash {
            notes.append("This page's pass gave event hash \(hex(run.eventHash)); the run it was made for had "
                + "\(hex(expectedHash)) (a live run ends when its window closes: the page replays the frames it drew).")
        }
        let image = Heatmap.image(counts: run.mkwritesPerPage, layout: run.layout)
        let data = encoder.json(run, command: command, heatmapPNG: heatmapPNG(image), notes: notes)
        // A JSON text inside <script> must not close the element: escape every "</".
        let safe = data.replacing("</", with: "<\\/")
        let html = page.replacing("@TITLE@", with: htmlEscape("fbdefio-emu walkthrough — " + run.title))
            .replacing("@DATA@", with: safe)
        return .success((html, run))
    }

    /// The first event's time in each bin (ns).
    static func binTimes(_ events: [StepEvent], bins: Int) -> [Int64] {
        guard bins > 0 else { return [] }
        var t = Array(repeating: Int64(0), count: bins)
        var seen = Array(repeating: false, count: bins)
        for (i, e) in events.enumerated() {
            let b = i * bins / events.count
            if !seen[b] {
                seen[b] = true
                t[b] = e.time.nanoseconds
            }
        }
        return t
    }

    /// The state that is neither PTE cells, TLB entries, the list nor a counter, as one JSON object (it stays the
    /// same for long stretches, so the page keeps each distinct one once).
    static func sideJSON(_ s: StepState) -> String {
        let checkers = s.checkers.map { "[\(jsonString($0.name)),\($0.violation.map(jsonString) ?? "null")]" }
            .joined(separator: ",")
        return "{\"work\":\(jsonString(s.work.text)),\"mutex\":\(jsonString(s.mutexName)),"
            + "\"holder\":\(s.mutexHolder.map(jsonString) ?? "null"),"
            + "\"waiters\":[\(s.mutexWaiters.map(jsonString).joined(separator: ","))],"
            + "\"infoLock\":\(s.infoLockHolder.map(jsonString) ?? "null"),"
            + "\"pageLocks\":[\(s.pageLocks.map { "[\($0.page),\(jsonString($0.holder))]" }.joined(separator: ","))],"
            + "\"checkers\":[\(checkers)]}"
    }

    /// Percentiles 1…100 of the store→panel latency (each 1% of the stores), for the histogram the page draws.
    static func latencyJSON(_ l: LatencyHistogram?) -> String {
        guard let l, l.count > 0 else { return "null" }
        let ps = (1 ... 100).map { String(l.percentile(Double($0))) }.joined(separator: ",")
        return "{\"count\":\(l.count),\"undelivered\":\(l.undelivered),\"percentiles\":[\(ps)],"
            + "\"summary\":\(jsonString(l.summary))}"
    }

    static func htmlEscape(_ s: String) -> String {
        s.replacing("&", with: "&amp;").replacing("<", with: "&lt;").replacing(">", with: "&gt;")
    }
}
