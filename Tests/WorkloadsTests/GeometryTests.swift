// SPDX-License-Identifier: MIT — Rect clipping, pixel formats and framebuffer layouts.
import Kernel
import Testing
@testable import Workloads

@Suite struct GeometryTests {
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

    /// Bands tile the screen top to bottom without gaps or overlaps, for every count up to the height and beyond.
    @Test func bandsTileTheScreen() {
        for count in 1 ... 13 {
            let bands = Rect.bands(width: 7, height: 10, count: count)
            #expect(bands.count == count)
            var next = 0
            for b in bands {
                #expect(b.x == 0 && b.width == 7 && b.y == next && b.height >= 0)
                next = b.maxY
            }
            #expect(next == 10)
        }
    }

    /// RGB565: every 16-bit value survives decode then encode; full intensity decodes to 0xFF.
    @Test func rgb565RoundTripsEveryValue() {
        let f = PixelFormat.rgb565
        for v in 0 ... 0xFFFF { #expect(f.encode(rgb: f.decode(UInt32(v))) == UInt32(v)) }
        #expect(f.encode(rgb: 0xFF_0000) == 0xF800)
        #expect(f.encode(rgb: 0x00_FF00) == 0x07E0)
        #expect(f.encode(rgb: 0x00_00FF) == 0x001F)
        #expect(f.decode(0xFFFF) == 0xFF_FFFF)
        #expect(f.decode(0) == 0)
        #expect(f.bytesPerPixel == 2)
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
        #expect(f.bytesPerPixel == 4)
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

    /// The integer sine table matches the real sine to within one unit, with exact quarter points.
    @Test func sineTableIsAccurate() {
        #expect(Sine.table.count == 1024)
        #expect(Sine.at(0) == 0 && Sine.at(256) == 32767 && Sine.at(512) == 0 && Sine.at(768) == -32767)
        for i in 0 ..< 1024 {
            // sin via its own Taylor series in Double, to compare without libm.
            var x = Double(i) * 2 * Double.pi / 1024
            if x > Double.pi { x -= 2 * Double.pi }
            var term = x, sum = x
            for n in stride(from: 2, through: 30, by: 2) {
                term *= -x * x / Double(n * (n + 1))
                sum += term
            }
            #expect(abs(Double(Sine.at(i)) - sum * 32767) <= 1.0, "sin[\(i)]")
            #expect(Sine.at(i) == -Sine.at(i + 512))
        }
        #expect(Sine.at(-1) == Sine.at(1023))
    }

    @Test func integerSquareRoot() {
        for n in 0 ... 5000 {
            let r = intSqrt(n)
            #expect(r * r <= n && (r + 1) * (r + 1) > n)
        }
    }
}
