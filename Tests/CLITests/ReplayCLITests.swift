import Foundation
import Testing

/// `fbdefio-emu replay` and `heatmap` through the built binary.
@Suite struct ReplayCLITests {
    static let goldens = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("LabTests/Goldens")

    @Test func aGoldenTraceFromStdinGivesItsGoldenOutput() throws {
        for name in ["multipage", "timer"] {
            let trace = try String(contentsOf: Self.goldens.appendingPathComponent("\(name).trace"), encoding: .utf8)
            let want = try String(contentsOf: Self.goldens.appendingPathComponent("\(name).out"), encoding: .utf8)
            let r = try CLI.run(["replay", "--display-crc", "-"], stdin: trace)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout == want)
            #expect(r.stderr.isEmpty)
            let file = try CLI.run(["replay", "--display-crc", Self.goldens.appendingPathComponent("\(name).trace").path])
            #expect(file.stdout == want)
        }
    }

    @Test func withoutDisplayCRCThereAreNoDisplayLines() throws {
        let r = try CLI.run(["replay", "-"], stdin: "size 4096\nproc 0 write 0 1\nflush\n")
        #expect(r.status == 0)
        #expect(r.stdout == "fault proc=0 page=0 epoch=0\nflush epoch=0 pages=[0]\nend epoch=1 pending=[]\n")
    }

    @Test(arguments: [
        ("proc 0 write 0 1\nfrobnicate\n", "line 2: unknown command"),
        ("\n\nproc 0 write 0x1g 1\n", "line 3: bad number"),
        ("proc 0 write 0 1 300\n", "line 1: BYTE 300 out of range"),
        ("size 4096\nproc 0 read 4000 100\n", "line 2: access 4000+100 past size 4096"),
        ("flush\nsize 4096\n", "line 2: header 'size' after the first command"),
        ("sleep 1 2\n", "line 1: extra field"),
    ])
    func malformedTracesExitTwoWithTheLineNumber(text: String, message: String) throws {
        let r = try CLI.run(["replay", "-"], stdin: text)
        #expect(r.status == 2)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.hasPrefix(message), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1)
    }

    @Test func badFlagsAndMissingFilesExitTwo() throws {
        #expect(try CLI.run(["replay", "--hz", "7", "-"], stdin: "").status == 2)
        #expect(try CLI.run(["replay", "--delay-ms", "-1", "-"], stdin: "").status == 2)
        let missing = try CLI.run(["replay", "/nonexistent/trace"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("cannot read"))
    }

    @Test func eventsStatsTraceAndHeatmapFilesAreWritten() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fbdefio-replay-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = { (name: String) in dir.appendingPathComponent(name).path }
        let trace = "size 16384\nproc 0 read 0 16384\nproc 0 write 100 5000\nproc 1 write 0 1\nsleep 60\nproc 1 write 9000 1\n"
        let r = try CLI.run(["replay", "--events", p("e.jsonl"), "--stats", p("s.json"), "--trace", p("t.json"),
                             "--heatmap", p("h.png"), "--summary", "-"], stdin: trace)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasSuffix("end epoch=0 pending=[2]\n"))
        #expect(r.stderr.contains("latency store→panel: 3 stores"))
        let events = try String(contentsOfFile: p("e.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(events.count > 10)
        for line in events { _ = try JSONSerialization.jsonObject(with: Data(line.utf8)) }
        let stats = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: p("s.json")))) as? [String: Any])
        let latency = try #require(stats["latency"] as? [String: Any])
        #expect(latency["count"] as? Int == 3)
        #expect(latency["undelivered"] as? Int == 1)
        // Written at 0, run at the tick after expires (HZ=1000, delay 50): 51 ms, to 3 significant digits.
        #expect((latency["max"] as? Int).map { abs($0 - 51_000_000) <= 51_000 } == true)
        let counters = try #require(stats["counters"] as? [String: Any])
        #expect(counters["page_mkwrite"] as? Int == 4)
        let trace2 = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: p("t.json")))) as? [String: Any])
        #expect((trace2["traceEvents"] as? [Any])?.isEmpty == false)
        let png = try Data(contentsOf: URL(fileURLWithPath: p("h.png")))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        let h = try CLI.run(["heatmap", "-o", p("h2.png"), "-"], stdin: trace)
        #expect(h.status == 0, "\(h.stderr)")
        #expect(h.stdout.contains("4 page_mkwrite on 3 pages"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: p("h2.png"))) == png)
    }
}
