import Foundation
import Kernel
@testable import Lab
import Testing

/// Bitwise CRC-32/IEEE: an oracle independent of Frontend's table-driven one.
func naiveCRC32(_ bytes: [UInt8]) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for b in bytes {
        c ^= UInt32(b)
        for _ in 0 ..< 8 { c = c & 1 != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
    }
    return ~c
}

@EmuActor func replay(_ text: String, crc: Bool = true, events: Bool = false, trace: Bool = false)
    throws -> ReplayResult {
    let t = try ReplayTrace(parsing: Array(text.utf8))
    var o = ReplayOptions()
    if crc { o.displayChecksum = { naiveCRC32($0) } }
    o.keepEvents = events
    o.keepTrace = trace
    return Replay(t, options: o).run()
}

/// Golden outputs of the hand-written traces in Goldens/ (NAME.trace → NAME.out). Re-record with
/// RECORD_SNAPSHOTS=1.
@Suite struct ReplayGoldenTests {
    static let goldens = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Goldens")
    static let names = ["multipage", "several-procs", "reads-first", "empty-flushes", "timer"]

    @Test(arguments: names)
    @EmuActor func goldenOutput(name: String) throws {
        let text = try String(contentsOf: Self.goldens.appendingPathComponent("\(name).trace"), encoding: .utf8)
        let r = try replay(text)
        #expect(r.errors.isEmpty, "\(r.errors)")
        let got = r.lines.joined(separator: "\n") + "\n"
        let file = Self.goldens.appendingPathComponent("\(name).out")
        if ProcessInfo.processInfo.environment["RECORD_SNAPSHOTS"] == "1" {
            try got.write(to: file, atomically: true, encoding: .utf8)
        }
        let want = try String(contentsOf: file, encoding: .utf8)
        #expect(got == want, "golden \(name).out differs:\n\(got)")
        let again = try replay(text)
        #expect(again.lines == r.lines)
    }

    /// The real kernel's timing at HZ=250 with a 12-jiffy delay: the work runs at the tick after expires, so a write
    /// 50 ms after a batch's first one joins it (a model firing at jiffies + delay, 48 ms, would split them).
    @Test @EmuActor func theWheelRunsTheWorkAtTheTickAfterExpires() throws {
        let text = try String(contentsOf: Self.goldens.appendingPathComponent("wheel-hz250.trace"), encoding: .utf8)
        var o = ReplayOptions()
        o.hz = 250
        o.delayMilliseconds = 48
        o.displayChecksum = { naiveCRC32($0) }
        let r = Replay(try ReplayTrace(parsing: Array(text.utf8)), options: o).run()
        #expect(r.errors.isEmpty, "\(r.errors)")
        let got = r.lines.joined(separator: "\n") + "\n"
        let file = Self.goldens.appendingPathComponent("wheel-hz250.out")
        if ProcessInfo.processInfo.environment["RECORD_SNAPSHOTS"] == "1" {
            try got.write(to: file, atomically: true, encoding: .utf8)
        }
        #expect(got == (try String(contentsOf: file, encoding: .utf8)))
        #expect(r.lines.filter { $0.hasPrefix("flush") } == ["flush epoch=0 pages=[0,1] timer=1",
                                                             "flush epoch=0 pages=[2] timer=1"])
        // Armed at 1 ms (tick 0) → run at tick 13 = 52 ms; armed at 61 ms (tick 15) → tick 28 = 112 ms.
        let fired = r.stats.counters.filter { $0.0.hasPrefix("timer_fire_delay") }.map(\.1)
        #expect(fired == [51_000, 51_000])
    }
}

@Suite struct ReplayTests {
    //  page      0      1      2
    //  write     [4000 ········· 9000)   one fill, three page_mkwrite in ascending order
    @Test @EmuActor func aMultiPageWriteFaultsEachPageInAscendingOrder() throws {
        let r = try replay("size 12288\nproc 0 write 4000 5000\nflush\n", crc: false)
        #expect(r.lines == [
            "fault proc=0 page=0 epoch=0", "fault proc=0 page=1 epoch=0", "fault proc=0 page=2 epoch=0",
            "flush epoch=0 pages=[0,1,2]", "end epoch=1 pending=[]",
        ])
    }

    @Test @EmuActor func theDefaultByteIsTheLineNumberAndThePanelShowsIt() throws {
        // Line 300 (& 255 = 44) writes without a BYTE.
        let text = String(repeating: "\n", count: 299) + "proc 0 write 10 3\nflush\n"
        let r = try replay(text, crc: false)
        #expect(r.panel.count == ReplayTrace.defaultSize)
        #expect(Array(r.panel[9 ..< 14]) == [0, 44, 44, 44, 0])
    }

    @Test @EmuActor func displayCRCIsOfExactlySizeBytesOfThePanel() throws {
        let r = try replay("size 5000\nproc 0 write 0 5000 0xFF\nflush\n")
        #expect(r.lines.contains("display epoch=0 crc32=\(String(format: "%08X", naiveCRC32([UInt8](repeating: 0xFF, count: 5000))))"))
    }

    @Test @EmuActor func noImplicitFlushAtTheEnd() throws {
        let r = try replay("size 8192\nproc 0 write 4096 1\n", crc: false)
        #expect(r.lines == ["fault proc=0 page=1 epoch=0", "end epoch=0 pending=[1]"])
        #expect(r.panel.allSatisfy { $0 == 0 })
        #expect(r.stats.latency.count == 0)
        #expect(r.stats.latency.undelivered == 1)
    }

    /// Every (write line, page) that reached the panel is one histogram entry; the rest are counted apart.
    @Test @EmuActor func theHistogramCountsEveryStoreThatReachedThePanel() throws {
        let text = try String(contentsOf: ReplayGoldenTests.goldens.appendingPathComponent("timer.trace"), encoding: .utf8)
        let r = try replay(text, crc: false)
        // The wheel runs the work at the tick after expires (HZ=1000, delay 50): at 51 ms and at 111 ms. Delivered:
        // p0 written at 0 (51 ms), p1 at 30 (21 ms), p0 and p2 at 60 (51 ms each), and p3 at 110, which joins the
        // second batch (1 ms).
        #expect(r.stats.latency.count == 5)
        #expect(r.stats.latency.undelivered == 0)
        let ms = 1_000_000.0
        #expect(abs(Double(r.stats.latency.maximum) - 51 * ms) <= 0.001 * 51 * ms)
        #expect(abs(Double(r.stats.latency.percentile(20)) - 1 * ms) <= 0.001 * 1 * ms)
        let flushed = try replay("size 16384\nproc 0 write 0 16384\nproc 1 write 0 1\nflush\n", crc: false)
        #expect(flushed.stats.latency.count == 5)
        #expect(flushed.stats.latency.maximum == 0)
        #expect(flushed.stats.json.contains("\"count\":5"))
    }

    @Test @EmuActor func statsCountFaultsBatchesAndBytes() throws {
        let r = try replay("size 8192\nproc 0 read 0 1\nproc 0 write 0 2 1\nproc 1 write 0 1 1\nflush\n", crc: false)
        let c = Dictionary(uniqueKeysWithValues: r.stats.counters)
        #expect(c["page_mkwrite"] == 2)
        #expect(c["page_mkwrite_already_listed"] == 1)
        #expect(c["batches"] == 1)
        #expect(c["pages_delivered"] == 1)
        #expect(c["ptes_wrprotected"] == 2)
        #expect(c["bytes_sent"] == 4096)
        #expect(c["bytes_changed"] == 2)
        #expect(r.stats.writeAmplification == "2048.000")
        let json = try JSONSerialization.jsonObject(with: Data(r.stats.json.utf8)) as? [String: Any]
        #expect((json?["latency"] as? [String: Any])?["count"] as? Int == 2)
    }

    @Test @EmuActor func eventsAreJSONLinesWithEveryKind() throws {
        let r = try replay("size 8192\nprocs 2\nproc 0 read 0 1\nproc 0 write 0 1\nproc 1 write 4096 1\nflush\n",
                                 events: true)
        var kinds: [String: Int] = [:]
        for line in r.events {
            let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            kinds[o["kind"] as! String, default: 0] += 1
            if o["kind"] as? String == "fault-result" { #expect(!(o["path"] as! String).isEmpty, "\(line)") }
            if o["kind"] as? String == "callback" {
                #expect(o["pages"] as? [Int] == [0, 1])
                #expect(o["bytes_sent"] as? Int == 8192)
                #expect(o["wrprotected"] as? Int == 2)
            }
        }
        for k in ["fault", "fault-result", "page-mkwrite", "wrprotect", "tlb-flush", "worker-start", "worker-end",
                  "callback", "defio-batch", "line", "end"] {
            #expect(kinds[k, default: 0] > 0, "no \(k) event")
        }
        #expect(kinds["page-mkwrite"] == 2)
        #expect(kinds["line"] == 4)
    }

    @Test @EmuActor func theChromeTraceParsesAndHasTheTracks() throws {
        let r = try replay("size 8192\nprocs 3\nproc 0 write 0 1\nproc 1 write 4096 1\nflush\n", trace: true)
        let json = try #require(r.trace)
        let o = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let events = try #require(o["traceEvents"] as? [[String: Any]])
        let threads = events.filter { $0["name"] as? String == "thread_name" }
            .compactMap { ($0["args"] as? [String: Any])?["name"] as? String }
        for t in ["proc 0", "proc 1", "proc 2", "panel bus"] {
            #expect(threads.contains(t), "no track \(t) in \(threads)")
        }
        // One track per worker that ran (a worker per CPU: the CPUs the batches' timers were armed on).
        #expect(threads.contains { $0.hasPrefix("worker (kworker/") && $0.hasSuffix(":events)") }, "\(threads)")
        let slices = Set(events.filter { $0["ph"] as? String == "X" }.compactMap { $0["name"] as? String })
        for s in ["fault", "page_mkwrite", "write-protect pass", "deferred_io", "bus transfer"] {
            #expect(slices.contains(s), "no \(s) slice in \(slices)")
        }
    }

    @Test @EmuActor func theHeatmapDrawsFaultCountsWherePagesSit() throws {
        let r = try replay("size 12288\nproc 0 write 0 1\nflush\nproc 0 write 0 1\nproc 0 write 8192 1\n", crc: false)
        #expect(r.mkwritesPerPage == [2, 0, 1])
        let img = Heatmap.image(counts: r.mkwritesPerPage, layout: r.layout)
        #expect(img.width == 1024 && img.height == 3)
        #expect(img.pixels[0] == 0xFFFF_FF00)         // the most: yellow
        #expect(img.pixels[1024] == 0xFF00_0000)      // never: black
        #expect(img.pixels[2048] != 0xFF00_0000)
    }
}

/// Every malformed-input class: the first bad line is reported with its number and nothing runs.
@Suite struct ReplayParseTests {
    @Test(arguments: [
        ("proc 0 write 0 1\nbogus\n", 2, "unknown command 'bogus'"),
        ("proc 0 scribble 0 1\n", 1, "unknown operation"),
        ("\n# c\nproc 0 write 1O 1\n", 3, "bad number '1O'"),
        ("proc 0 write -1 1\n", 1, "bad number '-1'"),
        ("proc 0 write 0 1 +3\n", 1, "bad number '+3'"),
        ("proc 0 write 0x 1\n", 1, "bad number '0x'"),
        ("proc 0 write 0X 1\n", 1, "bad number '0X'"),
        ("proc 0 write 0 1 0XG\n", 1, "bad number '0XG'"),
        ("proc 0 write 0 1 0X100\n", 1, "BYTE 256 out of range"),
        ("proc 0 write 0 1 256\n", 1, "out of range"),
        ("proc 0 write 0 0\n", 1, "out of range"),
        ("size 0\n", 1, "out of range"),
        ("size 268435457\n", 1, "out of range"),
        ("procs 513\n", 1, "out of range"),
        ("procs 2\nproc 2 write 0 1\n", 2, "out of range"),
        ("proc 512 write 0 1\n", 1, "out of range"),
        ("sleep 3600001\n", 1, "out of range"),
        ("size 4096\nproc 0 write 4095 2\n", 2, "past size 4096"),
        ("proc 0 read 8294400 1\n", 1, "past size"),
        ("proc 0 write 0 1\nsize 4096\n", 2, "header 'size' after the first command"),
        ("flush\nprocs 2\n", 2, "header 'procs' after the first command"),
        ("size 4096\nsize 4096\n", 2, "given twice"),
        ("flush now\n", 1, "extra field 'now'"),
        ("proc 0 write 0 1 2 3\n", 1, "extra field '3'"),
        ("proc 0 read 0 1 2\n", 1, "extra field '2'"),
        ("sleep\n", 1, "missing"),
        ("proc 0 write 0\n", 1, "missing"),
        ("proc 0 write 0 1\r\nflush\rx\n", 2, "unknown command"),
    ] as [(String, Int, String)])
    func malformedTracesNameTheLine(text: String, line: Int, message: String) {
        #expect(throws: ReplayParseError.self) { try ReplayTrace(parsing: Array(text.utf8)) }
        do {
            _ = try ReplayTrace(parsing: Array(text.utf8))
        } catch {
            #expect(error.line == line, "\(error)")
            #expect(error.description.hasPrefix("line \(line): "))
            #expect(error.description.contains(message), "\(error)")
        }
    }

    @Test func wellFormedTracesParse() throws {
        let t = try ReplayTrace(parsing: Array("# hdr\r\nsize 0x2000\r\n\r\n\tproc 3 write 0x10 010 # c\r\nsleep 0\nproc 1 read 0 1".utf8))
        #expect(t.size == 8192)
        #expect(t.procs == 4)
        #expect(t.lines == [
            ReplayLine(number: 4, command: .write(proc: 3, offset: 16, length: 10, byte: 4)),
            ReplayLine(number: 5, command: .sleep(milliseconds: 0)),
            ReplayLine(number: 6, command: .read(proc: 1, offset: 0, length: 1)),
        ])
        let empty = try ReplayTrace(parsing: [])
        #expect(empty.procs == 0 && empty.size == ReplayTrace.defaultSize && empty.lines.isEmpty)
    }

    /// strtoul takes `0X` as well as `0x`: so does every numeric field (size, procs, P, OFFSET, LEN, BYTE, MS), with
    /// either case of hex digit after either prefix.
    @Test func upperCaseHexPrefixIsAcceptedInEveryNumericField() throws {
        let upper = try ReplayTrace(parsing: Array(
            "size 0X2000\nprocs 0X3\nproc 0X2 write 0X10 0XA 0XfF\nproc 0X1 read 0X0 0X1\nsleep 0X3E8\n".utf8))
        let lower = try ReplayTrace(parsing: Array(
            "size 0x2000\nprocs 0x3\nproc 0x2 write 0x10 0xa 0xFf\nproc 0x1 read 0x0 0x1\nsleep 0x3e8\n".utf8))
        #expect(upper == lower)
        #expect(upper.size == 8192 && upper.procs == 3)
        #expect(upper.lines.map(\.command) == [
            .write(proc: 2, offset: 16, length: 10, byte: 255), .read(proc: 1, offset: 0, length: 1),
            .sleep(milliseconds: 1000),
        ])
        #expect(ReplayTrace.number("0X10") == 16 && ReplayTrace.number("0x10") == 16 && ReplayTrace.number("010") == 10)
        #expect(ReplayTrace.number("0X") == nil && ReplayTrace.number("X10") == nil && ReplayTrace.number("0x0X1") == nil)
    }
}

/// The replay's copy of a delivered page and its count of changed bytes (`bytes_changed`) against a byte-by-byte
/// count, for lengths around the 16-byte lanes and past the point where the lanes are emptied (255 rounds), with
/// random and sparse differences: the count is the naive one and the destination ends up equal to the source.
@Suite struct ChangedBytesTests {
    @Test(arguments: [0, 1, 15, 16, 17, 31, 4095, 4096, 4097, 255 * 16, 255 * 16 + 1, 3 * 255 * 16 + 7])
    func countsEveryDifferingByteAndCopies(count: Int) {
        var rng = SplitMix64(seed: UInt64(count) &+ 1)
        for density in [0, 1, 50, 100] {
            let a = (0 ..< count).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
            var b = a.map { byte -> UInt8 in Int.random(in: 0 ..< 100, using: &rng) < density ? byte ^ 0x5A : byte }
            let expected = zip(a, b).filter { $0 != $1 }.count
            let got = a.withUnsafeBytes { pa in b.withUnsafeMutableBytes { pb in
                copyCountingChanges(from: pa.baseAddress ?? UnsafeRawPointer(bitPattern: 16)!,
                                    to: pb.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 16)!, count: count)
            } }
            #expect(got == expected, "count \(count), density \(density)%")
            #expect(b == a, "count \(count), density \(density)%: the copy")
        }
    }
}
