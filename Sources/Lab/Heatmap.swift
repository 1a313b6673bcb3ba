// SPDX-License-Identifier: MIT — per-page fault counts drawn over the screen layout.
import Kernel

/// Draws a count per framebuffer page where that page's bytes sit on the screen.
package enum Heatmap {
    /// A screen of one page a row (1024 XRGB8888 pixels), `pages` rows (at least one): the replay machine's
    /// framebuffer when its trace names no mode, and the view of a scenario's pages.
    package static func pagePerRow(pages: Int) -> FramebufferLayout {
        FramebufferLayout(width: PAGE_SIZE / 4, height: max(pages, 1), format: .xrgb8888)
    }

    package struct Image: Sendable, Equatable {
        package var width: Int
        package var height: Int
        /// ARGB8888, row by row.
        package var pixels: [UInt32]
    }

    /// The largest side of the image; bigger screens are drawn at 1/N scale (N a whole number).
    package static let maxSide = 2048

    /// Black where a page never counted; else a ramp from blue (one) through red to yellow (the maximum), on a
    /// square-root scale.
    package static func image(counts: [Int], layout l: FramebufferLayout) -> Image {
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
