// SPDX-License-Identifier: MIT — the PSF font and PPM image readers on the shipped files and on malformed input,
// and finding the assets folder.
import Foundation
import Kernel
import Testing
@testable import Workloads

@Suite struct AssetTests {
    func file(_ relative: String) throws -> [UInt8] {
        let dir = try sharedAssets.get().directory!
        return [UInt8](try #require(FileManager.default.contents(atPath: dir + "/" + relative)))
    }

    /// Lat15-Terminus16: PSF1, 256 glyphs of 8×16, with a Unicode table that maps ASCII to distinct glyphs.
    @Test func shippedPSF1Font() throws {
        let font = try PSFFont(parsing: file("fonts/Lat15-Terminus16.psf"))
        #expect(font.version == .psf1)
        #expect(font.glyphCount == 256 && font.width == 8 && font.height == 16 && font.bytesPerGlyph == 16)
        #expect(font.hasUnicodeTable)
        try checkASCII(font)
    }

    /// Lat15-Terminus32x16: PSF2, 256 glyphs of 16×32 (two bytes a row), with a Unicode table.
    @Test func shippedPSF2Font() throws {
        let font = try PSFFont(parsing: file("fonts/Lat15-Terminus32x16.psf"))
        #expect(font.version == .psf2)
        #expect(font.glyphCount == 256 && font.width == 16 && font.height == 32 && font.bytesPerRow == 2)
        #expect(font.bytesPerGlyph == 64)
        #expect(font.hasUnicodeTable)
        try checkASCII(font)
    }

    /// Printable ASCII maps to 95 distinct glyphs; the space is blank, every other one has ink; "|" is a vertical
    /// stroke (some column set in most rows) and "-" a horizontal one (some row set in most columns).
    func checkASCII(_ font: PSFFont) throws {
        var seen = Set<Int>()
        for v in 0x20 ... 0x7E {
            let g = font.glyphIndex(for: Unicode.Scalar(UInt8(v)))
            seen.insert(g)
            var ink = 0
            for y in 0 ..< font.height { for x in 0 ..< font.width where font.isSet(glyph: g, x: x, y: y) { ink += 1 } }
            #expect((ink == 0) == (v == 0x20), "glyph of \(Unicode.Scalar(UInt8(v)))")
        }
        #expect(seen.count == 95)
        let bar = font.glyphIndex(for: "|"), dash = font.glyphIndex(for: "-")
        let barRows = (0 ..< font.height).filter { y in (0 ..< font.width).contains { font.isSet(glyph: bar, x: $0, y: y) } }
        let dashCols = (0 ..< font.width).filter { x in (0 ..< font.height).contains { font.isSet(glyph: dash, x: x, y: $0) } }
        #expect(barRows.count > font.height / 2)
        #expect(dashCols.count > font.width / 2)
        // Unmapped characters fall back to "?".
        #expect(font.glyphIndex(for: "\u{4E2D}") == font.glyphIndex(for: "?"))
    }

    /// A valid PSF2 built by hand: 3 glyphs 10×4 (2 bytes a row), header padded to 40 bytes, UTF-8 table with a
    /// sequence entry that must be ignored.
    func handMadePSF2(length: UInt32 = 3, unicode: [UInt8]? = nil) -> [UInt8] {
        func le(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }
        var d = le(0x864A_B572) + le(0) + le(40) + le(1) + le(length) + le(8) + le(4) + le(10)
        d += [UInt8](repeating: 0xEE, count: 8)
        for g in 0 ..< 3 { d += [UInt8](repeating: UInt8(g) << 6 | 0x01, count: 8) }
        d += unicode ?? ([0x41, 0xFF] + [0xC3, 0xA9, 0xFE, 0x61, 0xCC, 0x81, 0xFF] + [0xE2, 0x82, 0xAC, 0xFF])
        return d
    }

    @Test func handMadePSF2Parses() throws {
        let font = try PSFFont(parsing: handMadePSF2())
        #expect(font.width == 10 && font.height == 4 && font.glyphCount == 3 && font.bytesPerRow == 2)
        #expect(font.glyphIndex(for: "A") == 0)
        #expect(font.glyphIndex(for: "\u{E9}") == 1)  // é, its sequence "a + ◌́" ignored
        #expect(font.glyphIndex(for: "\u{20AC}") == 2)  // €
        #expect(font.glyphIndex(for: "a") == 0)  // unmapped, no "?": glyph 0
        #expect(font.isSet(glyph: 2, x: 0, y: 0) && !font.isSet(glyph: 0, x: 0, y: 0))
        #expect(font.isSet(glyph: 0, x: 7, y: 3) && !font.isSet(glyph: 0, x: 9, y: 3))
    }

    /// Malformed fonts give a one-line error naming the problem, never a trap.
    @Test func malformedFontsAreRejected() throws {
        func error(_ d: [UInt8]) -> PSFError? {
            do { _ = try PSFFont(parsing: d); return nil } catch { return error }
        }
        #expect(error([]) == .badMagic)
        #expect(error(Array("hello, world".utf8)) == .badMagic)
        #expect(error([0x1F, 0x8B, 0x08, 0x00]) == .badMagic)  // gzip: the message says to decompress
        #expect(error([0x36]).map { if case .truncated = $0 { true } else { false } } == true)
        #expect(error([0x36, 0x04, 0x02]).map { if case .truncated = $0 { true } else { false } } == true)
        #expect(error([0x36, 0x04, 0x00, 0x00]) == .badHeader("PSF1 charsize 0"))
        #expect(error([0x36, 0x04, 0x08, 0x10]) == .badHeader("PSF1 mode 0x8"))
        #expect(error([0x36, 0x04, 0x00, 0x10] + [UInt8](repeating: 0, count: 100)).map {
            if case .truncated = $0 { true } else { false } } == true)
        // PSF1 with a table flag but no table.
        #expect(error([0x36, 0x04, 0x02, 0x01] + [UInt8](repeating: 0, count: 256)) ==
            .truncated("PSF1 Unicode table of glyph 0"))
        var bad = handMadePSF2()
        bad[4] = 1
        #expect(error(bad) == .unsupportedVersion(1))
        bad = handMadePSF2()
        bad[8] = 200
        #expect(error(bad).map { if case .badHeader = $0 { true } else { false } } == true)
        bad = handMadePSF2()
        bad[20] = 9  // charsize ≠ height × bytes per row
        #expect(error(bad) == .badHeader("charsize 9 is not height 4 × 2 bytes per row"))
        #expect(error(handMadePSF2(length: 0xFFFF_FFFF)) == .badHeader("glyph count 4294967295 (1 to 65536 supported)"))
        #expect(error(handMadePSF2(length: 65536)).map { if case .truncated = $0 { true } else { false } } == true)
        #expect(error(handMadePSF2(unicode: [0x41, 0xFF, 0x80, 0xFF, 0xFF])) == .badUnicodeTable(offset: 66))
        #expect(error(handMadePSF2(unicode: [0x41, 0xFF, 0xC0, 0x80, 0xFF, 0xFF])) == .badUnicodeTable(offset: 66))
        #expect(error(handMadePSF2(unicode: [0x41, 0xFF, 0xE2, 0x82])).map {
            if case .truncated = $0 { true } else { false } } == true)
        #expect(error(handMadePSF2(unicode: [0x41, 0xFF])) == .truncated("PSF2 Unicode table of glyph 1"))
        for e in [PSFError.badMagic, .truncated("x"), .unsupportedVersion(2), .badHeader("y"),
                  .badUnicodeTable(offset: 3)] {
            #expect(!e.description.contains("\n") && !e.description.isEmpty)
        }
    }

    /// Every prefix of the shipped fonts, and seeded corruptions of their headers, either parse or throw.
    @Test func truncatedAndCorruptedFontsNeverTrap() throws {
        for name in Assets.consoleFontFiles {
            let data = try file(name)
            var n = 0
            while n < data.count {
                _ = try? PSFFont(parsing: Array(data[0 ..< n]))
                n += n < 64 ? 1 : 61
            }
            var rng = SplitMix64(seed: 99)
            for _ in 0 ..< 400 {
                var d = data
                for _ in 0 ..< 1 + rng.below(3) { d[rng.below(40)] = UInt8(truncatingIfNeeded: rng.next()) }
                _ = try? PSFFont(parsing: d)
            }
        }
    }

    /// The backdrop: a 640×360 binary PPM, not a flat colour.
    @Test func shippedImage() throws {
        let image = try PPMImage(parsing: file(Assets.backdropFile))
        #expect(image.width == 640 && image.height == 360 && image.pixels.count == 640 * 360)
        #expect(Set(image.pixels).count > 1000)
    }

    @Test func ppmParsesCommentsAndMaxval() throws {
        let d = Array("P6\n# a comment\n2 1 # another\n15\n".utf8) + [15, 0, 0, 0, 15, 8]
        let image = try PPMImage(parsing: d)
        #expect(image.width == 2 && image.height == 1)
        #expect(image.pixels == [0xFF_0000, 0x00_FF88])
    }

    @Test func malformedImagesAreRejected() {
        func error(_ s: String, _ extra: [UInt8] = []) -> PPMError? {
            do { _ = try PPMImage(parsing: Array(s.utf8) + extra); return nil } catch { return error }
        }
        #expect(error("") == .notP6)
        #expect(error("P3\n1 1\n255\n0 0 0") == .notP6)
        #expect(error("P6\n") == .badHeader("width missing or not a number"))
        #expect(error("P6\n2 x\n255\n") == .badHeader("height missing or not a number"))
        #expect(error("P6\n0 1\n255\n") == .badHeader("size 0x1 (1 to 16384 per side)"))
        #expect(error("P6\n99999999 1\n255\n") == .badHeader("width too large"))
        #expect(error("P6\n1 1\n65535\n") == .badHeader("maxval 65535 (only 1 to 255 supported)"))
        #expect(error("P6\n1 1\n255") == .badHeader("no whitespace after maxval"))
        #expect(error("P6\n2 2\n255\n", [1, 2, 3]) == .truncated(expected: 12, found: 3))
    }

    /// An explicit folder must hold the marker file; the error is one line naming the path.
    @Test func locatingTheAssets() throws {
        let found = try Assets.locate()
        #expect(found.hasSuffix("/Assets"))
        #expect(try Assets.locate(explicit: found) == found)
        do {
            _ = try Assets.locate(explicit: "/nonexistent/place")
            Issue.record("a folder without the fonts was accepted")
        } catch {
            #expect(error.message.contains("/nonexistent/place") && !error.message.contains("\n"))
        }
        let assets = try Assets.load(from: found)
        #expect(assets.consoleFonts.map(\.height) == [16, 32])
        #expect(assets.directory == found)
        #expect(assets.backdrop.width == 640 && assets.backdrop.height == 360)
        // Without the backdrop: the same fonts, one black pixel in its place; only the cursor workload shows it.
        let plain = try Assets.load(from: found, backdrop: false)
        #expect(plain.consoleFonts == assets.consoleFonts && plain.backdrop == Assets.noBackdrop)
        #expect(WorkloadKind.allCases.filter(\.showsBackdrop) == [.cursor])
        do {
            _ = try Assets.load(from: "/")
            Issue.record("/ was accepted as the assets folder")
        } catch {
            #expect(error.description.hasPrefix("assets: '/'"))
        }
    }
}
