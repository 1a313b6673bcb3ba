// SPDX-License-Identifier: MIT — `--walkthrough FILE.html`: one self-contained page (no network, no external
// scripts, fonts or images) with a timeline, a slider over the events, the step view's panels, the race diagram,
// the heatmap and the latency histogram.
//
// Size: the page carries the state of at most `maxSteps` consecutive events, as one full state and then per event
// only what changed (PTE cells; the rest of the state by reference into a table of distinct values). The timeline
// covers every event of the run, aggregated into bins when there are more events than it has pixels. Both are
// said on the page.
import Kernel

public enum Walkthrough {
    /// States carried by one page: enough for a scenario or a trace, and a page of a few MB for a 1080p run.
    public static let defaultMaxSteps = 20_000
    /// Timeline bins when the run has more events than this.
    static let timelineBins = 1200

    /// The window of events to keep for a page: the first `maxSteps`, or, when a checker fired later, the
    /// `maxSteps` events that end a little after it.
    public static func window(total: Int, violationEvent: Int?, maxSteps: Int) -> ClosedRange<Int> {
        guard total > maxSteps else { return 1 ... max(1, total) }
        if let v = violationEvent, v > maxSteps {
            let hi = min(total, v + maxSteps / 10)
            return (hi - maxSteps + 1) ... hi
        }
        return 1 ... maxSteps
    }

    /// The page for `run`, whose states cover `window`. `heatmapPNG` is a data: URI of the heatmap image (the PNG
    /// encoder lives above this module), `command` the command line that made the run.
    public static func html(_ run: StepRun, window: ClosedRange<Int>, command: String, heatmapPNG: String?,
                            notes: [String] = []) -> String {
        let data = json(run, window: window, command: command, heatmapPNG: heatmapPNG, notes: notes)
        // A JSON text inside <script> must not close the element: escape every "</".
        let safe = data.replacing("</", with: "<\\/")
        return page.replacing("@TITLE@", with: htmlEscape("fbdefio-emu walkthrough — " + run.title))
            .replacing("@DATA@", with: safe)
    }

    // MARK: - Data

    static func json(_ run: StepRun, window: ClosedRange<Int>, command: String, heatmapPNG: String?,
                     notes: [String]) -> String {
        let total = run.events.count
        let lo = max(1, window.lowerBound), hi = min(total, window.upperBound)
        var out = "{"
        out += "\"title\":\(jsonString(run.title)),\"command\":\(jsonString(command)),\"total\":\(total),"
        out += "\"from\":\(lo),\"to\":\(hi),\"hash\":\"\(hex(run.eventHash))\","
        out += "\"violation\":\(run.violation.map { jsonString($0.description) } ?? "null"),"
        out += "\"violationEvent\":\(run.violationEvent.map(String.init) ?? "null"),"
        out += "\"diagram\":\(jsonString(run.diagram)),"
        out += "\"reports\":[\(run.reports.map(jsonString).joined(separator: ","))],"
        out += "\"heatmap\":\(heatmapPNG.map(jsonString) ?? "null"),"
        out += "\"mkwritesTotal\":\(run.mkwritesPerPage.reduce(0, +)),"
        out += "\"mkwritesPages\":\(run.mkwritesPerPage.filter { $0 > 0 }.count),"
        out += "\"latency\":\(latencyJSON(run.latency)),"
        var allNotes = notes
        if total > hi - lo + 1 {
            allNotes.append("This run has \(total) events; the page carries the state after each of events \(lo)–\(hi) "
                + "(\(hi - lo + 1) events, at most \(defaultMaxSteps) a page). The timeline shows every event.")
        }
        if total > timelineBins {
            allNotes.append("The timeline aggregates the \(total) events into \(timelineBins) bins per track "
                + "(darker: more events in the bin).")
        }
        allNotes.append("TLB refills make no event: a refilled entry first shows at the next event.")
        out += "\"notes\":[\(allNotes.map(jsonString).joined(separator: ","))],"
        // Tracks of the timeline: each process (by name), the worker(s), interrupts (timers), and the bus.
        var trackNames: [String] = []
        var trackOf: [String: Int] = [:]
        func track(_ e: StepEvent) -> Int {
            let name = e.isWorker ? "worker" : e.task < 0 ? "irq (timer)" : e.who
            if let t = trackOf[name] { return t }
            trackOf[name] = trackNames.count
            trackNames.append(name)
            return trackNames.count - 1
        }
        var eventTrack: [Int] = []
        eventTrack.reserveCapacity(total)
        for e in run.events { eventTrack.append(track(e)) }
        let bus = trackNames.count
        trackNames.append("bus (deferred_io)")
        out += "\"tracks\":[\(trackNames.map(jsonString).joined(separator: ","))],"
        // Kinds.
        var kindNames: [String] = []
        var kindOf: [String: Int] = [:]
        func kind(_ k: KernelEvent.Kind) -> Int {
            if let i = kindOf[k.rawValue] { return i }
            kindOf[k.rawValue] = kindNames.count
            kindNames.append(k.rawValue)
            return kindNames.count - 1
        }
        // Timeline: every event, as bins of event numbers when there are many.
        let bins = min(total, timelineBins)
        var counts = Array(repeating: Array(repeating: 0, count: max(bins, 1)), count: trackNames.count)
        var faultBins = Array(repeating: 0, count: max(bins, 1))
        for (i, e) in run.events.enumerated() {
            let b = bins == 0 ? 0 : i * bins / total
            counts[eventTrack[i]][b] += 1
            if e.kind == .defioBatch { counts[bus][b] += 1 }
            if e.kind == .fault { faultBins[b] += 1 }
            _ = kind(e.kind)
        }
        out += "\"bins\":\(bins),\"binCounts\":[\(counts.map { "[" + $0.map(String.init).joined(separator: ",") + "]" }.joined(separator: ","))],"
        out += "\"kinds\":[\(kindNames.map(jsonString).joined(separator: ","))],"
        out += "\"binTimes\":[\(binTimes(run.events, bins: bins).map(String.init).joined(separator: ","))],"
        // Stepped events: columns.
        var fnTable: [String] = [], fnOf: [String: Int] = [:]
        var side: [String] = [], sideOf: [String: Int] = [:]
        var rowSets: [String] = [], rowSetOf: [String: Int] = [:]
        var mappingIDs: [String: Int] = [:], mappingLabels: [String] = []
        var current: [[PTECell]] = []
        let pages = run.states[lo]?.pages ?? 0
        var evCols = ["", "", "", "", "", "", "", "", "", ""]  // t, track, kind, cpu, text, fn, side, rows, deltas, who
        var first = true
        for n in lo ... hi {
            guard let s = run.states[n] else { continue }
            let e = s.event
            let fn: Int
            if let f = fnOf[e.function] { fn = f } else {
                fn = fnTable.count
                fnOf[e.function] = fn
                fnTable.append(e.function)
            }
            let sj = sideJSON(s)
            let si: Int
            if let x = sideOf[sj] { si = x } else {
                si = side.count
                sideOf[sj] = si
                side.append(sj)
            }
            // Rows and PTE deltas against the cells the page holds so far.
            var ids: [Int] = []
            var deltas: [Int] = []
            for row in s.mappings {
                let key = "\(row.mm)@\(row.start.rawValue)"
                let id: Int
                if let x = mappingIDs[key] { id = x } else {
                    id = mappingLabels.count
                    mappingIDs[key] = id
                    mappingLabels.append(row.label)
                    current.append(Array(repeating: .uncovered, count: pages))
                }
                ids.append(id)
                for p in 0 ..< min(pages, row.cells.count) where current[id][p] != row.cells[p] {
                    deltas += [id, p, Int(row.cells[p].raw)]
                    current[id][p] = row.cells[p]
                }
            }
            let rs = "[" + ids.map(String.init).joined(separator: ",") + "]"
            let ri: Int
            if let x = rowSetOf[rs] { ri = x } else {
                ri = rowSets.count
                rowSetOf[rs] = ri
                rowSets.append(rs)
            }
            let sep = first ? "" : ","
            first = false
            evCols[0] += sep + String(e.time.nanoseconds)
            evCols[1] += sep + String(eventTrack[n - 1])
            evCols[2] += sep + String(kind(e.kind))
            evCols[3] += sep + String(e.cpu)
            evCols[4] += sep + jsonString(e.text)
            evCols[5] += sep + String(fn)
            evCols[6] += sep + String(si)
            evCols[7] += sep + String(ri)
            evCols[8] += sep + "[" + deltas.map(String.init).joined(separator: ",") + "]"
            evCols[9] += sep + jsonString(e.who)
        }
        out += "\"pages\":\(pages),\"mappings\":[\(mappingLabels.map(jsonString).joined(separator: ","))],"
        out += "\"fns\":[\(fnTable.map(jsonString).joined(separator: ","))],"
        out += "\"sides\":[\(side.joined(separator: ","))],\"rowSets\":[\(rowSets.joined(separator: ","))],"
        let names = ["t", "track", "kind", "cpu", "text", "fn", "side", "rows", "delta", "who"]
        out += "\"ev\":{" + zip(names, evCols).map { "\"\($0)\":[\($1)]" }.joined(separator: ",") + "},"
        out += "\"legend\":\(jsonString(StepText.legend))"
        return out + "}"
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

    /// Everything but the PTE cells, as one JSON object (pages repeat it unchanged for long stretches).
    static func sideJSON(_ s: StepState) -> String {
        let tlb = s.tlb.map { "[" + $0.map { jsonString($0.symbol) }.joined(separator: ",") + "]" }.joined(separator: ",")
        let checkers = s.checkers.map { "[\(jsonString($0.name)),\($0.violation.map(jsonString) ?? "null")]" }
            .joined(separator: ",")
        return "{\"tlb\":[\(tlb)],\"list\":[\(s.pagereflist.map(String.init).joined(separator: ","))],"
            + "\"work\":\(jsonString(s.work.text)),\"mutex\":\(jsonString(s.mutexName)),"
            + "\"holder\":\(s.mutexHolder.map(jsonString) ?? "null"),"
            + "\"waiters\":[\(s.mutexWaiters.map(jsonString).joined(separator: ","))],"
            + "\"infoLock\":\(s.infoLockHolder.map(jsonString) ?? "null"),"
            + "\"pageLocks\":[\(s.pageLocks.map { "[\($0.page),\(jsonString($0.holder))]" }.joined(separator: ","))],"
            + "\"checkers\":[\(checkers)],\"mkwrites\":\(s.mkwrites),\"batches\":\(s.batches)}"
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
