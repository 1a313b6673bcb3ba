// SPDX-License-Identifier: MIT — `make bench`: every emulator measurement as a ratio against a host baseline
// measured in the same run (the same process, or children it forks), printed as one table.
//
// Run: make bench, or cd Benchmarks && swift run -c release BenchTable --help
#if canImport(Glibc)
import Glibc
#endif
import Kernel
import Lab

/// One line of the table.
struct TableRow {
    var number: String
    var what: String
    var emulator: String
    var baseline: String
    /// emulator / baseline (time over time), nil where there is no baseline.
    var ratio: Double?
    var target: String
    /// Whether the target is met; nil when the row could not be measured.
    var met: Bool?
    /// Said under the table.
    var notes: [String] = []
}

@main struct BenchTable {
    struct Options {
        var rounds = 5
        /// The replay row is the slowest by far (tens of seconds a run today), so it has its own count.
        var replayRounds = 2
        var plasmaFrames = 10
        var exploreSchedules = 2000
        var only: Set<String>?
    }

    static func parse(_ arguments: [String]) -> Options {
        var o = Options()
        var rest = arguments[...]
        func count(after flag: String) -> Int {
            guard let text = rest.popFirst() else { usage("missing value after \(flag)") }
            guard let n = Int(text), n > 0 else { usage("\(flag): '\(text)' is not a count ≥ 1") }
            return n
        }
        while let argument = rest.popFirst() {
            switch argument {
            case "--rounds": o.rounds = count(after: argument)
            case "--replay-rounds": o.replayRounds = count(after: argument)
            case "--plasma-frames": o.plasmaFrames = count(after: argument)
            case "--explore-schedules": o.exploreSchedules = count(after: argument)
            case "--only":
                guard let list = rest.popFirst() else { usage("missing value after --only") }
                o.only = Set(list.split(separator: ",").map(String.init))
            case "--help", "-h":
                print("""
                    usage: BenchTable [--rounds N] [--replay-rounds N] [--plasma-frames N] [--explore-schedules N]
                                      [--only 1,2,...]
                      --rounds N             best of N rounds per row (default 5); emulator and host alternate
                      --replay-rounds N      rounds of the replay row (default 2)
                      --plasma-frames N      frames of the plasma row (default 10)
                      --explore-schedules N  schedules per explorer round (default 2000)
                      --only LIST            rows to run, by number (1-7)
                    """)
                exit(0)
            default: usage("unknown argument '\(argument)'")
            }
        }
        return o
    }

    static func usage(_ message: String) -> Never {
        print("BenchTable: \(message) (see --help)")
        exit(2)
    }

    static func main() async {
        let o = parse(Array(CommandLine.arguments.dropFirst()))
        func wanted(_ n: String) -> Bool { o.only.map { $0.contains(n) } ?? true }
        print("fbdefio-emu benchmark table: best of \(o.rounds) rounds (replay: \(o.replayRounds)), emulator and host "
            + "baseline alternating in one process, \(onlineCPUs()) online CPUs\n")
        var rows: [TableRow] = []
        var failed = false
        func run(_ number: String, _ title: String, _ body: () async throws -> TableRow) async {
            guard wanted(number) else { return }
            printProgress("row \(number): \(title)")
            let start = nowNanoseconds()
            do {
                rows.append(try await body())
            } catch {
                failed = true
                rows.append(TableRow(number: number, what: title, emulator: "error", baseline: "", ratio: nil,
                                     target: "", met: nil, notes: ["\(error)"]))
            }
            printProgress("  \(formatDuration(nanoseconds: Double(nowNanoseconds() - start)))")
        }
        await run("1", "plasma 1080p32, 4 procs, ideal panel, end to end") { try await plasmaRow(o) }
        await run("2", "replay, 16 procs, 8 MiB, wp faults") { try await replayRow(o) }
        if wanted("3") || wanted("4") || wanted("5") {
            do {
                rows += try await microRows(o).filter { wanted(String($0.number.prefix(1))) }
            } catch {
                failed = true
                rows.append(TableRow(number: "3-5", what: "store32, span, fault", emulator: "error", baseline: "",
                                     ratio: nil, target: "", met: nil, notes: ["\(error)"]))
            }
        }
        await run("6", "mappingWrprotectRange per PTE") { try await wrprotectRow(o) }
        await run("7", "explorer, wp-race") { try await exploreRow(o) }
        print(render(rows))
        if failed { exit(1) }
    }

    // MARK: - Rows

    static func plasmaRow(_ o: Options) async throws -> TableRow {
        var emulator = Best(), baseline = Best()
        var first: PlasmaRow.EmulatorRun?
        var baselineHash: UInt64 = 0
        for _ in 0 ..< o.rounds {
            let e = try await PlasmaRow.emulator(frames: o.plasmaFrames)
            if first == nil { first = e }
            emulator.add(e.nanoseconds)
            let b = try PlasmaRow.baseline(frames: o.plasmaFrames)
            baselineHash = b.frameHash
            baseline.add(b.nanoseconds)
        }
        let e = first!
        let frames = Double(o.plasmaFrames)
        var notes = [
            "1: \(o.plasmaFrames) frames of 4 bands of 1920x270 (\(grouped(e.faults)) faults in the emulator); the emulator "
                + "time is Machine(...).run() whole: boot, the processes' frames through the emulated MMU, fb_defio and "
                + "the panel, and at the end the reference rendering (every frame drawn once more on a plain canvas) "
                + "and the lost-update check. Baseline: the same arithmetic in C (PlasmaC) into a buffer, copied whole "
                + "to a panel buffer after each frame. Variant \(PlasmaRow.variant).",
        ]
        if !e.passed { notes.append("1: the emulator's run did NOT pass its checker:\n\(e.summary)") }
        let same = e.frameHash == baselineHash
        notes.append("1: final image hash (Lab.frameHash): emulator \(hex(e.frameHash)), C \(hex(baselineHash)) — "
            + (same ? "identical" : "DIFFERENT (the C plasma does not draw what the emulator drew)"))
        guard same && e.passed else { throw BenchFailure(notes.joined(separator: "\n")) }
        let ratio = emulator.value / baseline.value
        return TableRow(number: "1", what: "plasma 1080p32, 4 procs, ideal, headless, end to end",
                        emulator: "\(formatDuration(nanoseconds: emulator.value / frames))/frame",
                        baseline: "\(formatDuration(nanoseconds: baseline.value / frames))/frame (C)",
                        ratio: ratio, target: "≤ 1.5×", met: ratio <= 1.5, notes: notes)
    }

    static func replayRow(_ o: Options) async throws -> TableRow {
        let lines = ReplayRow.lines()
        let trace: ReplayTrace
        do { trace = try ReplayTrace(parsing: Array(ReplayRow.text(lines).utf8)) } catch {
            throw BenchFailure("the generated trace does not parse: \(error)")
        }
        var emulator = Best(), host = Best()
        var eFaults = 0, hFaults = 0
        var samePanel = true
        for _ in 0 ..< o.replayRounds {
            let e = try await ReplayRow.emulator(trace)
            let h = try ReplayRow.host(lines)
            eFaults = e.faults
            hFaults = h.faults
            samePanel = samePanel && e.panel == h.panel
            emulator.add(e.nanoseconds / Double(e.faults))
            host.add(h.nanoseconds / Double(h.faults))
        }
        let expected = ReplayRow.expectedFaults
        guard eFaults == expected && hFaults == expected else {
            throw BenchFailure("replay faults: emulator \(eFaults), host \(hFaults), expected \(expected)")
        }
        guard samePanel else { throw BenchFailure("replay: the emulator's panel and the host's differ") }
        let ratio = emulator.value / host.value
        let note = "2: \(grouped(expected)) write-protect faults (16 processes × 2048 pages × 6 batches; \(lines.count - 6) "
            + "write lines of 128 KiB, 6 flushes), the same count on both sides, and the same final panel. Emulator: "
            + "Replay(trace).run() (boot to teardown, default options: upstream, 4 CPUs, strict trace order). Host: "
            + "16 forked processes, each running its lines concurrently between flush barriers; per fault "
            + "SIGSEGV → handler records the page, mprotect(RW) → retry; at a flush each child mprotects its pages "
            + "read-only again (one call per run of pages) and the parent copies the listed pages."
        return TableRow(number: "2", what: "replay: 16 procs, 8 MiB, \(grouped(expected)) wp faults",
                        emulator: "\(formatDuration(nanoseconds: emulator.value))/fault",
                        baseline: "\(formatDuration(nanoseconds: host.value))/fault (mprotect+SIGSEGV)",
                        ratio: ratio, target: "≤ 0.1×", met: ratio <= 0.1, notes: [note])
    }

    static func microRows(_ o: Options) async throws -> [TableRow] {
        printProgress("rows 3-5: store32, span, fault round trip")
        let start = nowNanoseconds()
        var e = MicroResults()
        var h = MicroRows.HostResults()
        for _ in 0 ..< o.rounds {
            let em = try await MicroRows.emulator(rounds: 3)
            e.store32.merge(em.store32)
            e.span.merge(em.span)
            e.fault.merge(em.fault)
            let hm = try MicroRows.host(rounds: 3)
            h.store32.merge(hm.store32)
            h.memcpyRow.merge(hm.memcpyRow)
            h.minorFault.merge(hm.minorFault)
            h.sigsegvRoundTrip.merge(hm.sigsegvRoundTrip)
            h.minorFaultsCounted = hm.minorFaultsCounted
            h.sigsegvFaultsCounted = hm.sigsegvFaultsCounted
        }
        printProgress("  \(formatDuration(nanoseconds: Double(nowNanoseconds() - start)))")
        let store = e.store32.value / h.store32.value
        let span = e.span.value / h.memcpyRow.value
        let minor = e.fault.value / h.minorFault.value
        let segv = e.fault.value / h.sigsegvRoundTrip.value
        let bytes = Double(MicroRows.rowBytes)
        return [
            TableRow(number: "3", what: "store32, TLB hit (as MappedCanvas.plot/fill call it)",
                     emulator: "\(formatDuration(nanoseconds: e.store32.value))/store",
                     baseline: "\(formatDuration(nanoseconds: h.store32.value))/store (C loop)",
                     ratio: store, target: "≤ 2×", met: store <= 2,
                     notes: ["3: \(grouped(MicroRows.storeReps * MicroRows.storeWords)) stores a round over 64 KiB "
                         + "(16 pages, all in the soft TLB): `try task.store32(va + i * 4, v)` from this module, "
                         + "as Workloads calls it (a call into Kernel); it includes the slow path every "
                         + "\(MMConfig().storeBudget) stores (the store budget). Baseline: a plain, "
                         + "not vectorised C loop of 32-bit stores over a 64 KiB buffer."]),
            TableRow(number: "4", what: "span write, a 7,680-byte row (storeBytes)",
                     emulator: "\(formatDuration(nanoseconds: e.span.value))/row "
                         + "(\(significant(bytes / e.span.value)) GB/s)",
                     baseline: "\(formatDuration(nanoseconds: h.memcpyRow.value))/row (memcpy, "
                         + "\(significant(bytes / h.memcpyRow.value)) GB/s)",
                     ratio: span, target: "≤ 1.5×", met: span <= 1.5,
                     notes: ["4: 32 rows of 1920 pixels at 32 bpp (240 KiB, 60 pages, all in the soft TLB), 64 times "
                         + "a round; baseline memcpy of the same rows into a 240 KiB buffer."]),
            TableRow(number: "5", what: "write-protect fault round trip, one task",
                     emulator: "\(formatDuration(nanoseconds: e.fault.value))/fault",
                     baseline: "\(formatDuration(nanoseconds: h.minorFault.value))/fault (host minor write fault)",
                     ratio: minor, target: "≤ 0.25×", met: minor <= 0.25,
                     notes: ["5: emulator: a store to each of the 2,025 pages of the 1080p32 framebuffer after a flush "
                         + "write-protected them: do_wp_page → wp_page_shared → fb_defio's page_mkwrite (the page goes "
                         + "on the list) → PTE writable and dirty → the store. Host minor write fault: the first store "
                         + "to each page of a fresh MAP_SHARED mapping of a memfd whose pages are in the page cache "
                         + "(\(grouped(h.minorFaultsCounted)) minor faults counted for \(MicroRows.hostFaultPages) pages)."]),
            TableRow(number: "5b", what: "  the same fault vs host mprotect+SIGSEGV round trip",
                     emulator: "\(formatDuration(nanoseconds: e.fault.value))/fault",
                     baseline: "\(formatDuration(nanoseconds: h.sigsegvRoundTrip.value))/fault (SIGSEGV + mprotect)",
                     ratio: segv, target: "(for reference)", met: nil,
                     notes: ["5b: host: a store to a read-only page of a MAP_SHARED memfd mapping, SIGSEGV, the "
                         + "handler mprotects the page writable, sigreturn, the store again "
                         + "(\(grouped(h.sigsegvFaultsCounted)) handler calls for \(MicroRows.hostFaultPages) pages)."]),
        ]
    }

    static func wrprotectRow(_ o: Options) async throws -> TableRow {
        var emulator = Best(), host = Best()
        for _ in 0 ..< o.rounds {
            emulator.merge(try await WrprotectRow.emulator(rounds: 1))
            host.merge(try WrprotectRow.host(rounds: 3))
        }
        let ratio = emulator.value / host.value
        return TableRow(number: "6", what: "mappingWrprotectRange, per PTE",
                        emulator: "\(formatDuration(nanoseconds: emulator.value))/PTE",
                        baseline: "\(formatDuration(nanoseconds: host.value))/page (host mprotect)",
                        ratio: ratio, target: "≤ 1×", met: ratio <= 1,
                        notes: ["6: emulator: the best of \(o.rounds * WrprotectRow.callsPerRound) calls on one page "
                            + "mapped RW and dirty by \(WrprotectRow.mappers) processes, divided by the "
                            + "\(WrprotectRow.mappers) PTEs it cleans (the walk of i_mmap, PTL, TLB flush, PTE "
                            + "write-protect per mapper). Host: mprotect(PROT_READ) of one page at a time over 2048 "
                            + "present, dirty pages of a MAP_SHARED memfd mapping (one PTE per call)."])
    }

    static func exploreRow(_ o: Options) async throws -> TableRow {
        var best = 0.0
        for _ in 0 ..< o.rounds { best = max(best, try await ExploreRow.emulator(schedules: o.exploreSchedules)) }
        return TableRow(number: "7", what: "explorer, wp-race (bug H), one thread",
                        emulator: "\(grouped(Int(best.rounded()))) schedules/s", baseline: "—", ratio: nil,
                        target: "≥ 5,000/s", met: best >= 5_000,
                        notes: ["7: Explorer.explore of \(grouped(o.exploreSchedules)) schedules of wp-race, random "
                            + "policy, variant \(ExploreRow.variant), every online checker on; best round."])
    }

    // MARK: - Output

    static func render(_ rows: [TableRow]) -> String {
        let header = ["#", "what", "emulator", "baseline", "ratio (emulator / baseline)", "target", "met"]
        let cells = rows.map { r in
            [r.number, r.what, r.emulator, r.baseline, r.ratio.map { "\(significant($0))×" } ?? "—", r.target,
             r.met.map { $0 ? "yes" : "no" } ?? "—"]
        }
        var widths = header.map(\.count)
        for row in cells { for (i, c) in row.enumerated() { widths[i] = max(widths[i], c.count) } }
        func line(_ c: [String]) -> String {
            "| " + c.enumerated().map { i, s in s + String(repeating: " ", count: widths[i] - s.count) }
                .joined(separator: " | ") + " |"
        }
        var out = line(header) + "\n"
        out += "|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|\n"
        for c in cells { out += line(c) + "\n" }
        let notes = rows.flatMap(\.notes)
        if !notes.isEmpty { out += "\n" + notes.joined(separator: "\n") + "\n" }
        return out
    }

    static func hex(_ v: UInt64) -> String {
        let digits = String(v, radix: 16, uppercase: true)
        return "0x" + String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// Progress on stderr, so that stdout is the table alone.
    static func printProgress(_ text: String) {
        var line = text + "\n"
        line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }

    static func onlineCPUs() -> Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }
}
