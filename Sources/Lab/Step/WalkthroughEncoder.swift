// SPDX-License-Identifier: MIT — the walkthrough's data, built state by state as the run goes: one column per
// field, and for the PTE cells, the TLBs and the page list only what changed since the previous state, so that a
// long run's page grows with its changes, not with its size × its events.
import Kernel

/// Takes the states of `window` in order and writes the JSON the page's script reads.
///
/// Per state: `delta` (mapping, page, cell) triples; `list` [prefix kept, appended…] or [] when unchanged; `tlb`
/// [cpu, [added], [removed]] per CPU that changed; `side` and `rows` indices into tables of distinct values.
@EmuActor package final class WalkthroughEncoder {
    let window: ClosedRange<Int>
    private var cols: [String: String] = [:]
    private var count = 0
    private var fnTable: [String] = [], fnOf: [String: Int] = [:]
    private var sides: [String] = [], sideOf: [String: Int] = [:]
    private var rowSets: [String] = [], rowSetOf: [String: Int] = [:]
    private var mappingIDs: [String: Int] = [:], mappingLabels: [String] = []
    private var cells: [[PTECell]] = []
    private var list: [Int] = []
    private var tlb: [Set<String>] = []
    private(set) var pages = 0
    private(set) var firstNumber: Int?
    private(set) var lastNumber = 0

    package init(window: ClosedRange<Int>) { self.window = window }

    private func append(_ column: String, _ value: String) {
        cols[column, default: ""] += (count == 0 ? "" : ",") + value
    }

    private static func intern(_ v: String, _ table: inout [String], _ index: inout [String: Int]) -> Int {
        if let i = index[v] { return i }
        index[v] = table.count
        table.append(v)
        return table.count - 1
    }

    package func add(_ s: StepState) {
        if firstNumber == nil {
            firstNumber = s.event.number
            pages = s.pages
            tlb = Array(repeating: [], count: s.tlb.count)
        }
        lastNumber = s.event.number
        let fn = Self.intern(s.event.function, &fnTable, &fnOf)
        let side = Self.intern(Walkthrough.sideJSON(s), &sides, &sideOf)
        var ids: [Int] = [], delta: [Int] = []
        for row in s.mappings {
            let key = "\(row.mm)@\(row.start.rawValue)"
            let id: Int
            if let x = mappingIDs[key] { id = x } else {
                id = mappingLabels.count
                mappingIDs[key] = id
                mappingLabels.append(row.label)
                cells.append(Array(repeating: .uncovered, count: pages))
            }
            ids.append(id)
            for p in 0 ..< min(pages, row.cells.count) where cells[id][p] != row.cells[p] {
                delta += [id, p, Int(row.cells[p].raw)]
                cells[id][p] = row.cells[p]
            }
        }
        let rows = Self.intern("[" + ids.map(String.init).joined(separator: ",") + "]", &rowSets, &rowSetOf)
        // The list: the prefix it kept and what follows (the usual change is one page appended, or emptied).
        var listDelta = "[]"
        if s.pagereflist != list {
            var keep = 0
            while keep < min(list.count, s.pagereflist.count) && list[keep] == s.pagereflist[keep] { keep += 1 }
            listDelta = "[" + ([keep] + s.pagereflist[keep...]).map(String.init).joined(separator: ",") + "]"
            list = s.pagereflist
        }
        var tlbDelta: [String] = []
        for (cpu, entries) in s.tlb.enumerated() {
            let now = Set(entries.map(\.symbol))
            guard now != tlb[cpu] else { continue }
            let added = entries.map(\.symbol).filter { !tlb[cpu].contains($0) }
            let removed = tlb[cpu].subtracting(now).sorted()
            tlbDelta.append("[\(cpu),[\(added.map(jsonString).joined(separator: ","))],"
                + "[\(removed.map(jsonString).joined(separator: ","))]]")
            tlb[cpu] = now
        }
        append("fn", String(fn))
        append("side", String(side))
        append("rows", String(rows))
        append("delta", "[" + delta.map(String.init).joined(separator: ",") + "]")
        append("list", listDelta)
        append("tlb", "[" + tlbDelta.joined(separator: ",") + "]")
        append("mkwrites", String(s.mkwrites))
        append("batches", String(s.batches))
        count += 1
    }

    /// The page's data: the run (its events, tracks, timeline, reports) and the states this encoder took.
    func json(_ run: StepRun, command: String, heatmapPNG: String?, notes: [String]) -> String {
        let total = run.events.count
        let lo = firstNumber ?? 1, hi = firstNumber == nil ? 0 : lastNumber
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
        out += "\"latency\":\(Walkthrough.latencyJSON(run.latency)),"
        var allNotes = notes
        if total > hi - lo + 1 {
            allNotes.append("This run has \(total) events; the page carries the state after each of events \(lo)–\(hi) "
                + "(\(hi - lo + 1) events, at most \(Walkthrough.defaultMaxSteps) a page: the first ones, or those "
                + "leading to the violation). The timeline shows every event.")
        }
        if total > Walkthrough.timelineBins {
            allNotes.append("The timeline aggregates the \(total) events into \(Walkthrough.timelineBins) bins per "
                + "track (darker: more events in the bin).")
        }
        if pages > 256 {
            allNotes.append("\(pages) framebuffer pages: each mapping's PTEs are drawn as one pixel block per page, "
                + "64 a row (hover for a page's state).")
        }
        allNotes.append("TLB refills make no event: a refilled entry first shows at the next event.")
        out += "\"notes\":[\(allNotes.map(jsonString).joined(separator: ","))],"
        // Tracks: each process by name, the worker(s) as one, interrupts (timers), and the bus.
        var trackNames: [String] = [], trackOf: [String: Int] = [:]
        var eventTrack: [Int] = []
        eventTrack.reserveCapacity(total)
        for e in run.events {
            let name = e.isWorker ? "worker" : e.task < 0 ? "irq (timer)" : e.who
            eventTrack.append(Self.intern(name, &trackNames, &trackOf))
        }
        let bus = trackNames.count
        trackNames.append("bus (deferred_io)")
        out += "\"tracks\":[\(trackNames.map(jsonString).joined(separator: ","))],"
        let bins = min(total, Walkthrough.timelineBins)
        var counts = Array(repeating: Array(repeating: 0, count: max(bins, 1)), count: trackNames.count)
        var kindNames: [String] = [], kindOf: [String: Int] = [:]
        for (i, e) in run.events.enumerated() {
            let b = i * bins / max(total, 1)
            counts[eventTrack[i]][b] += 1
            if e.kind == .defioBatch { counts[bus][b] += 1 }
            _ = Self.intern(e.kind.rawValue, &kindNames, &kindOf)
        }
        out += "\"bins\":\(bins),\"binCounts\":["
            + counts.map { "[" + $0.map(String.init).joined(separator: ",") + "]" }.joined(separator: ",") + "],"
        out += "\"binTimes\":[\(Walkthrough.binTimes(run.events, bins: bins).map(String.init).joined(separator: ","))],"
        out += "\"kinds\":[\(kindNames.map(jsonString).joined(separator: ","))],"
        // The carried events' own columns, from the run's event list.
        var t = "", track = "", kind = "", cpu = "", text = "", who = "", ctx = ""
        var ctxTable: [String] = [], ctxOf: [String: Int] = [:]
        if hi >= lo {
            for n in lo ... hi {
                let e = run.events[n - 1], sep = n == lo ? "" : ","
                t += sep + String(e.time.nanoseconds)
                track += sep + String(eventTrack[n - 1])
                kind += sep + String(kindOf[e.kind.rawValue]!)
                cpu += sep + String(e.cpu)
                text += sep + jsonString(e.text)
                who += sep + jsonString(e.who)
                ctx += sep + String(e.context.map { Self.intern($0, &ctxTable, &ctxOf) } ?? -1)
            }
        }
        out += "\"pages\":\(pages),\"mappings\":[\(mappingLabels.map(jsonString).joined(separator: ","))],"
        out += "\"cpus\":\(tlb.count),\"contexts\":[\(ctxTable.map(jsonString).joined(separator: ","))],"
        out += "\"fns\":[\(fnTable.map(jsonString).joined(separator: ","))],"
        out += "\"sides\":[\(sides.joined(separator: ","))],\"rowSets\":[\(rowSets.joined(separator: ","))],"
        var ev = ["\"t\":[\(t)]", "\"track\":[\(track)]", "\"kind\":[\(kind)]", "\"cpu\":[\(cpu)]", "\"text\":[\(text)]",
                  "\"who\":[\(who)]", "\"ctx\":[\(ctx)]"]
        for c in ["fn", "side", "rows", "delta", "list", "tlb", "mkwrites", "batches"] {
            ev.append("\"\(c)\":[\(cols[c] ?? "")]")
        }
        out += "\"ev\":{" + ev.joined(separator: ",") + "},"
        out += "\"legend\":\(jsonString(StepText.legend))"
        return out + "}"
    }
}
