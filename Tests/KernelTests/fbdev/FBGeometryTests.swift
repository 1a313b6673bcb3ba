// SPDX-License-Identifier: MIT — the shared rectangle, the pixel formats and framebuffer layouts (FBGeometry.swift),
// each against a naive model.
import Testing
@testable import Kernel

@Suite struct FBGeometryTests {
    /// Pixels of `r` inside the window [-1, 5)², the naive oracle of the rectangle operations.
    func pixels(_ r: Rect) -> Set<Int> {
        var out = Set<Int>()
        for y in -1 ..< 5 {
            for x in -1 ..< 5 where x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height {
                out.insert((y + 1) * 8 + x + 1)
            }
        }
        return out
    }

    /// Every rectangle with corner in [-1, 1]² and sides in [-1, 2] (negative and zero sizes are empty).
    var smallRects: [Rect] {
        var out: [Rect] = []
        for x in -1 ... 1 { for y in -1 ... 1 { for w in -1 ... 2 { for h in -1 ... 2 {
            out.append(Rect(x: x, y: y, width: w, height: h))
        } } } }
        return out
    }

    /// Exhaustive over all pairs of small rectangles: intersection, intersects, contains, union, against pixel sets.
    @Test func rectOperationsMatchPixelSets() {
        let rects = smallRects
        let sets = rects.map(pixels)
        for (i, a) in rects.enumerated() {
            #expect(a.isEmpty == sets[i].isEmpty)
            #expect(a.area == sets[i].count)
            for (j, b) in rects.enumerated() {
                let both = sets[i].intersection(sets[j])
                let r = a.intersection(b)
                #expect((r.map(pixels) ?? []) == both, "\(a) ∩ \(b)")
                #expect(r.map { !$0.isEmpty } ?? true)
                #expect(a.intersects(b) == !both.isEmpty)
                #expect(a.contains(b) == sets[j].isSubset(of: sets[i]), "\(a) ⊇ \(b)")
                let u = a.union(b)
                #expect(sets[i].union(sets[j]).isSubset(of: pixels(u)))
            }
        }
    }

    @Test func rectContainsPixelAndOffset() {
        let r = Rect(x: 2, y: 3, width: 4, height: 2)
        #expect(r.contains(x: 2, y: 3) && r.contains(x: 5, y: 4))
        #expect(!r.contains(x: 6, y: 3) && !r.contains(x: 2, y: 5) && !r.contains(x: 1, y: 3))
        #expect(r.offsetBy(dx: -2, dy: 1) == Rect(x: 0, y: 4, width: 4, height: 2))
        #expect(r.maxX == 6 && r.maxY == 5)
        #expect(r.description == "4x2+2+3")
    }

    /// RGB565: every one of the 65,536 values survives decode then encode; full intensity decodes to 0xFF; the
    /// format's own `encode`/`decode` agree with the loops' `encodeRGB565`/`decodeRGB565`.
    @Test func rgb565RoundTripsEveryValue() {
        let f = PixelFormat.rgb565
        for v in UInt32(0) ... 0xFFFF {
            #expect(f.encode(rgb: f.decode(v)) == v)
            #expect(f.decode(v) == PixelFormat.decodeRGB565(v) && f.encode(rgb: v << 8) == PixelFormat.encodeRGB565(v << 8))
        }
        #expect(f.encode(rgb: 0xFF_0000) == 0xF800)
        #expect(f.encode(rgb: 0x00_FF00) == 0x07E0)
        #expect(f.encode(rgb: 0x00_00FF) == 0x001F)
        #expect(f.decode(0xFFFF) == 0xFF_FFFF)
        #expect(f.decode(0) == 0)
        #expect(f.bitsPerPixel == 16)
    }

    /// RGB565 quantises each channel to its high bits: decode(encode(c)) differs from c by less than one step, in
    /// every channel, for every channel value.
    @Test func rgb565QuantisesEachChannel() {
        let f = PixelFormat.rgb565
        for v in 0 ... 255 {
            for (shift, step) in [(16, 8), (8, 4), (0, 8)] {
                let c = UInt32(v) << UInt32(shift)
                let back = Int((f.decode(f.encode(rgb: c)) >> UInt32(shift)) & 0xFF)
                #expect(abs(back - v) < step, "channel at \(shift), value \(v)")
            }
        }
    }

    /// XRGB8888 keeps the colour exactly and drops the top byte.
    @Test func xrgb8888RoundTrips() {
        let f = PixelFormat.xrgb8888
        var rng = SplitMix64(seed: 7)
        for _ in 0 ..< 4096 {
            let c = UInt32(truncatingIfNeeded: rng.next())
            #expect(f.decode(f.encode(rgb: c)) == c & 0xFF_FFFF)
            #expect(f.encode(rgb: f.decode(c)) == c & 0xFF_FFFF)
        }
        #expect(f.bitsPerPixel == 32)
        #expect(PixelFormat(bitsPerPixel: 32) == .xrgb8888 && PixelFormat(bitsPerPixel: 16) == .rgb565)
        #expect(PixelFormat(bitsPerPixel: 24) == nil && PixelFormat(bitsPerPixel: 8) == nil)
    }

    /// The page range of a clip covers exactly the pages holding its rows.
    @Test func pageRangeCoversTheClipRows() {
        let layout = FramebufferLayout(width: 100, height: 90, format: .xrgb8888, lineLength: 416)
        #expect(layout.byteCount == 416 * 90)
        #expect(layout.offset(x: 3, y: 2) == 2 * 416 + 12)
        #expect(layout.pageRange(of: layout.screen) == 0 ..< pageAlign(416 * 90))
        let r = layout.pageRange(of: Rect(x: 10, y: 20, width: 5, height: 30))
        #expect(r.lowerBound == (20 * 416) & ~(PAGE_SIZE - 1))
        #expect(r.upperBound == pageAlign(50 * 416))
        #expect(r.lowerBound % PAGE_SIZE == 0 && r.upperBound % PAGE_SIZE == 0)
        #expect(layout.pageRange(of: Rect(x: 0, y: 200, width: 5, height: 5)).isEmpty)
        #expect(FramebufferLayout(width: 10, height: 1, format: .rgb565).lineLength == 20)
    }

    /// Mono and grey glass: encode thresholds or quantises the luma, decode spreads the levels over 0…255, and every
    /// level survives decode then encode.
    @Test func monoAndGreyLevels() {
        #expect(PixelFormat.mono.encode(rgb: 0x80_8080) == 1 && PixelFormat.mono.encode(rgb: 0x7F_7F7F) == 0)
        #expect(PixelFormat.mono.decode(1) == 0xFF_FFFF && PixelFormat.mono.decode(0) == 0)
        for levels in [2, 4, 16] {
            let f = PixelFormat.grey(levels: levels)
            for level in UInt32(0) ..< UInt32(levels) { #expect(f.encode(rgb: f.decode(level)) == level) }
            #expect(f.decode(UInt32(levels - 1)) == 0xFF_FFFF && f.decode(0) == 0)
        }
        #expect(PixelFormat.grey(levels: 2).bitsPerPixel == 1 && PixelFormat.grey(levels: 16).bitsPerPixel == 4)
        #expect(PixelFormat.mono.bitsPerPixel == 1)
    }

    /// A page's screen rectangles cover exactly its visible pixels: 640-byte lines of 2-byte pixels, page 0 = rows
    /// 0-5 and 128 px of row 6; page 1 = the other 192 px of row 6, rows 7-11 and 256 px of row 12.
    @Test func pageRectanglesCoverExactlyThePage() {
        let layout = FramebufferLayout(width: 320, height: 240, format: .rgb565)
        #expect(layout.screenRects(ofPage: 0) == [Rect(x: 0, y: 6, width: 128, height: 1),
                                                 Rect(x: 0, y: 0, width: 320, height: 6)])
        #expect(layout.screenRects(ofPage: 1) == [Rect(x: 128, y: 6, width: 192, height: 1),
                                                 Rect(x: 0, y: 12, width: 256, height: 1),
                                                 Rect(x: 0, y: 7, width: 320, height: 5)])
        #expect(layout.screenRects(ofPage: 38).isEmpty)
    }

    /// Against a byte-by-byte oracle: for layouts with and without line padding, the rectangles of every page hold
    /// exactly the visible pixels whose first byte lies in that page.
    @Test(arguments: [(PixelFormat.rgb565, 0), (.rgb565, 6), (.xrgb8888, 0), (.xrgb8888, 12)])
    func pageRectanglesMatchTheBytes(format: PixelFormat, padding: Int) {
        let width = 37, height = 70
        let bpp = format.bitsPerPixel / 8
        let layout = FramebufferLayout(width: width, height: height, format: format, lineLength: width * bpp + padding)
        let pages = pageAlign(layout.byteCount) / PAGE_SIZE
        for page in 0 ... pages {
            var want = Set<Int>()
            for y in 0 ..< height {
                for x in 0 ..< width where layout.offset(x: x, y: y) >> PAGE_SHIFT == page { want.insert(y * width + x) }
            }
            var got = Set<Int>(), count = 0
            for r in layout.screenRects(ofPage: page) {
                for y in r.y ..< r.maxY { for x in r.x ..< r.maxX { got.insert(y * width + x); count += 1 } }
            }
            #expect(got == want && count == want.count, "page \(page)")
        }
    }
}
