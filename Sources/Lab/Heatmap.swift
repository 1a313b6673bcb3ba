// SPDX-License-Identifier: MIT — per-page fault counts drawn over the screen layout.
import Kernel

/// Draws a count per framebuffer page where that page's bytes sit on the screen.
public enum Heatmap {
    /// Where framebuffer bytes land on the screen.
    public struct Layout: Sendable, Equatable {
        public var width: Int
        public var height: Int
        public var bytesPerPixel: Int
        public var lineLength: Int
        public init(width: Int, height: Int, bytesPerPixel: Int, lineLength: Int) {
            self.width = width
            self.height = height
            self.bytesPerPixel = bytesPerPixel
            self.lineLength = lineLength
        }
        /// The replay machine: 1024 pixels of 4 bytes a line, one page a line.
        public static func replay(size: Int) -> Layout {
            Layout(width: 1024, height: pageAlign(size) >> PAGE_SHIFT, bytesPerPixel: 4, lineLength: PAGE_SIZE)
        }
    }

    public struct Image: Sendable, Equatable {
        public var width: Int
        public var height: Int
        /// ARGB8888, row by row.
        public var pixels: [UInt32]
    }

    /// The largest side of the image; bigger screens are drawn at 1/N scale (N a whole number).
    public static let maxSide = 2048

    /// Black where a page never counted; else a ramp from blue (one) through red to yellow (the maximum), on a
    /// square-root scale.
    public static func image(counts: [Int], layout l: Layout) -> Image {
        let scale = max(1, (max(l.width, l.height) + maxSide - 1) / maxSide)
        let w = max(1, l.width / scale), h = max(1, l.height / scale)
        let top = counts.max() ?? 0
        let rootTop = Double(max(top, 1)).squareRoot()
        var pixels = [UInt32](repeating: 0xFF00_0000, count: w * h)
        for y in 0 ..< h {
            for x in 0 ..< w {
                let offset = y * scale * l.lineLength + x * scale * l.bytesPerPixel
                let page = offset >> PAGE_SHIFT
                guard page < counts.count, counts[page] > 0 else { continue }
                let t = Double(counts[page]).squareRoot() / rootTop  // (0, 1]
                pixels[y * w + x] = ramp(t)
            }
        }
        return Image(width: w, height: h, pixels: pixels)
    }

    /// 0 → blue, 0.5 → red, 1 → yellow.
    static func ramp(_ t: Double) -> UInt32 {
        let r, g, b: Double
        if t < 0.5 {
            r = t * 2
            g = 0
            b = 1 - t * 2
        } else {
            r = 1
            g = (t - 0.5) * 2
            b = 0
        }
        func c(_ v: Double) -> UInt32 { UInt32(max(0, min(255, (v * 255).rounded()))) }
        return 0xFF00_0000 | c(r) << 16 | c(g) << 8 | c(b)
    }
}
