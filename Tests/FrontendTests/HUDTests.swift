// SPDX-License-Identifier: MIT — the HUD's font, numbers and picture (no SDL needed).
@testable import Frontend
import Kernel
import Lab
import Testing

@Suite struct BitmapFontTests {
    @Test func coversPrintableASCII() {
        #expect(BitmapFont.rows.count == 95)
        for (i, rows) in BitmapFont.rows.enumerated() {
            #expect(rows.count == BitmapFont.glyphHeight, "char \(i + 32)")
            #expect(rows.allSatisfy { $0 < 1 << BitmapFont.glyphWidth }, "char \(i + 32)")
            // Everything but the space has ink; only the descenders use the last row.
            let ch = Character(UnicodeScalar(UInt8(i + 32)))
            #expect(rows.contains { $0 != 0 } == (ch != " "), "char \(ch)")
            #expect((rows[7] != 0) == "gjpqy,".contains(ch), "descender of \(ch)")
        }
    }

    @Test func glyphsAreDistinct() {
        var seen: [[UInt8]: Int] = [:]
        for (i, rows) in BitmapFont.rows.enumerated() {
            #expect(seen[rows] == nil, "char \(i + 32) looks like char \(seen[rows] ?? 0)")
            seen[rows] = i + 32
        }
    }

    @Test func drawsAGlyphWhereAsked() {
        var img = ARGBImage(width: 12, height: 10, fill: 0)
        BitmapFont.draw("H", into: &img, x: 1, y: 2, colour: 0xFFFF_FFFF)
        // H: both sides full height, the bar on row 3.
        for r in 0 ..< 7 {
            let row = (0 ..< 5).map { img[1 + $0, 2 + r] != 0 ? "#" : "." }.joined()
            #expect(row == (r == 3 ? "#####" : "#...#"), "row \(r)")
        }
        #expect(img[0, 2] == 0 && img[6, 2] == 0 && img[1, 1] == 0)
        // Clipped at the edges instead of trapping; unknown characters draw as '?'.
        BitmapFont.draw("é~", into: &img, x: 9, y: 7, colour: 1, size: 2)
        #expect(BitmapFont.glyph(200) == BitmapFont.glyph(UInt8(ascii: "?")))
        #expect(BitmapFont.width(of: "abc", size: 2) == 36)
    }
}

@Suite struct HUDTests {
    @Test func numbers() {
        #expect(HUD.fixed(1234.56, 1) == "1234.6")
        #expect(HUD.fixed(0.005, 2) == "0.01")
        #expect(HUD.fixed(-2.5, 0) == "-3")
        #expect(HUD.fixed(-0.0001, 2) == "0.00")
        #expect(HUD.fixed(7, 3) == "7.000")
        #expect(HUD.fixed(.nan, 1) == "-")
        #expect(HUD.fixed(.infinity, 1) == "-")
        #expect(HUD.bytes(512) == "512 B")
        #expect(HUD.bytes(1536) == "1.5 KiB")
        #expect(HUD.bytes(13312) == "13.0 KiB")
        #expect(HUD.bytes(3 * 1024 * 1024 + 512 * 1024) == "3.50 MiB")
        #expect(HUD.bytes(5 * 1024 * 1024 * 1024) == "5.00 GiB")
        #expect(HUD.seconds(1_234_567_890) == "1.234567 s")
        #expect(HUD.seconds(5_000) == "0.000005 s")
    }

    @Test func linesSayWhatTheIssueAsks() {
        var s = HUDStats()
        s.panel = "ili9341 320x240"
        s.workload = "bounce"
        s.virtualTime = .ms(2500)
        s.faultsPerSecond = 1200
        s.batchesPerSecond = 40
        s.pagesPerBatch = 3.5
        s.bytesPerBatch = 14336
        s.bytesSent = 4096 * 100
        s.bytesChanged = 4096 * 25
        s.sustainableFPS = 26.04
        let lines = HUD.lines(s, display: DisplayStats(framesShown: 90, framesDropped: 10, shownPerSecond: 30))
        let text = Dictionary(lines.map { ($0.label, $0.value) }, uniquingKeysWith: { a, _ in a })
        #expect(text["panel"] == "ili9341 320x240")
        #expect(text["workload"] == "bounce")
        #expect(text["vtime"] == "2.500000 s")
        #expect(text["faults/s"] == "1200.0")
        #expect(text["batches/s"] == "40.0")
        #expect(text["pages/b"] == "3.50")
        #expect(text["bytes/b"] == "14.0 KiB")
        #expect(text["sent"] == "400.0 KiB")
        #expect(text["changed"] == "100.0 KiB")
        #expect(text["sent/chg"] == "4.00x")
        #expect(text["panel max"] == "26.0 fps")
        #expect(text["shown"] == "90 (30.0/s)")
        #expect(text["dropped"] == "10")
        s.bytesChanged = 0
        #expect(HUD.lines(s, display: DisplayStats()).first { $0.label == "sent/chg" }?.value == "-")
    }

    @Test func pictureIsATranslucentBoxWithText() {
        let lines = HUD.lines(HUDStats(), display: DisplayStats())
        let img = HUD.render(lines)
        #expect(img.height == 2 * HUD.padding + lines.count * HUD.lineHeight - 2)
        #expect(img.width >= 2 * HUD.padding + 30 * BitmapFont.cellWidth - 1)
        #expect(img[0, 0] == HUD.border && img[img.width - 1, img.height - 1] == HUD.border)
        #expect(img.pixels.contains(HUD.background) && HUD.background >> 24 < 0xFF)
        #expect(img.pixels.contains(HUD.titleColour))
        #expect(img.pixels.contains(HUD.labelColour))
        #expect(img.pixels.contains(HUD.valueColour))
        // Longer values widen the box rather than being cut.
        var long = lines
        long.append(HUD.Line(label: "workload", value: String(repeating: "x", count: 60)))
        #expect(HUD.render(long).width == 2 * HUD.padding + (HUD.labelColumns + 1 + 60) * BitmapFont.cellWidth - 1)
    }
}
