import Foundation
import Kernel
@testable import Lab
import Testing

/// The replay format's written-data lines (`mode`, `at`, `put`) and what `exec --record` builds from them.
@Suite @EmuActor struct ExecTraceTests {
    @Test func modeAtAndPutParse() throws {
        let text = "size 155648\nmode 320 240 16 640\nat 1500\nproc 0 put 0x10 a0b1\nflush\nat 0\n"
        let t = try ReplayTrace(parsing: Array(text.utf8))
        #expect(t.mode == ReplayMode(xres: 320, yres: 240, bitsPerPixel: 16, lineLength: 640))
        #expect(t.size == 155_648)
        #expect(t.procs == 1)
        #expect(t.lines.map(\.command) == [.at(microseconds: 1500), .put(proc: 0, offset: 16, bytes: [0xA0, 0xB1]),
                                           .flush, .at(microseconds: 0)])
        // Without a size header the mode's bytes are the size.
        let bare = try ReplayTrace(parsing: Array("mode 16 16 32 64\nproc 0 put 1020 ff\n".utf8))
        #expect(bare.size == 1024)
    }

    @Test(arguments: [
        ("mode 320 240 24 960\n", "line 1: BPP 24 is not 16 or 32"),
        ("mode 320 240 16 600\n", "line 1: LINELEN 600 out of range 640...65536"),
        ("size 4096\nmode 320 240 16 640\n", "line 2: size 4096 does not fit the mode: 153600...155648 bytes"),
        ("mode 16 16 32 64\nproc 0 put 1020 ffff ff\n", "line 2: extra field"),
        ("mode 16 16 32 64\nproc 0 put 1023 ffff\n", "line 2: access 1023+2 past size 1024"),
        ("proc 0 put 0 abc\n", "line 1: bad HEX 'abc'"),
        ("proc 0 put 0 zz\n", "line 1: bad HEX 'zz'"),
        ("at 3600000001\n", "line 1: at 3600000001 out of range"),
        ("flush\nmode 16 16 32 64\n", "line 2: header 'mode' after the first command"),
    ])
    func badWrittenDataLinesNameTheLine(text: String, message: String) {
        #expect(throws: ReplayParseError.self) { try ReplayTrace(parsing: Array(text.utf8)) }
        do { _ = try ReplayTrace(parsing: Array(text.utf8)) } catch {
            #expect(error.description.hasPrefix(message), "\(error.description)")
        }
    }

    @Test func changedRunsBridgeShortGapsOnly() {
        var old = [UInt8](repeating: 0, count: 64), new = old
        new[3] = 1
        new[10] = 2  // 6 unchanged bytes between: one run
        new[40] = 3  // 29 unchanged: a second run
        let runs = ExecTraceRecorder.changedRuns(old, new, base: 4096)
        #expect(runs.map(\.0) == [4099, 4136])
        #expect(runs.map(\.1) == [[1, 0, 0, 0, 0, 0, 0, 2], [3]])
        old = new
        #expect(ExecTraceRecorder.changedRuns(old, new, base: 0).isEmpty)
    }

    /// Faults in the order they came, each with its batch's bytes; a page that did not change still gets one byte,
    /// so the replay faults it; the trace replays to the same panel bytes.
    @Test func aRecordingRendersAsATraceThatReplaysToTheSameBytes() throws {
        var r = ExecTraceRecorder(pages: 2)
        r.fault(at: .us(1000), pgoff: 1, offset: 4096 + 8)
        r.fault(at: .us(1500), pgoff: 0, offset: 16)
        var page1 = [UInt8](repeating: 0, count: 4096)
        page1[8] = 0xAB
        page1[9] = 0xCD
        r.snapshot(pgoff: 1, bytes: page1)
        r.snapshot(pgoff: 0, bytes: [UInt8](repeating: 0, count: 4096))
        r.fsync(at: .us(2000))
        let text = r.render(header: "test", size: 8192, mode: (16, 128, 32, 64), end: .us(3000))
        #expect(text == """
            # test
            size 8192
            procs 1
            mode 16 128 32 64
            at 1000
            proc 0 put 4104 abcd
            at 1500
            proc 0 put 16 00
            at 2000
            flush
            at 3000
            flush

            """)
        let trace = try ReplayTrace(parsing: Array(text.utf8))
        var o = ReplayOptions()
        o.hz = 250
        let result = Replay(trace, options: o).run()
        #expect(result.errors.isEmpty)
        #expect(result.lines.filter { $0.hasPrefix("fault") } == ["fault proc=0 page=1 epoch=0",
                                                                 "fault proc=0 page=0 epoch=0"])
        #expect(result.panel[4104] == 0xAB && result.panel[4105] == 0xCD)
    }

    /// The same recorded trace on a panel twice: the same lines, summary and panel image (determinism).
    @Test func aPutTraceReplaysDeterministicallyOnAPanel() throws {
        var text = "mode 320 240 16 640\n"
        for i in 0 ..< 60 {
            text += "at \(i * 7000)\nproc 0 put \((i * 5119) % 150_000) \(String(repeating: "f81f", count: 40))\n"
        }
        let trace = try ReplayTrace(parsing: Array(text.utf8))
        func once() -> ReplayResult {
            var o = ReplayOptions()
            o.hz = 250
            o.panel = "ili9341-spi32"
            o.panelDelay = true
            return Replay(trace, options: o).run()
        }
        let a = once(), b = once()
        #expect(a.errors.isEmpty)
        #expect(a.lines == b.lines)
        #expect(a.summary == b.summary)
        #expect(a.panelImage == b.panelImage)
        #expect(a.summary.contains("panel ili9341-spi32: "))
        #expect(a.panelImage?.contains(where: { $0 & 0xFF_FFFF != 0 }) == true)
    }
}
