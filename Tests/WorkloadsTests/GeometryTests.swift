// SPDX-License-Identifier: MIT — the bands of a shared screen and the workloads' integer maths.
import Kernel
import Testing
@testable import Workloads

@Suite struct GeometryTests {
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
