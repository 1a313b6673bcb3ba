// SPDX-License-Identifier: MIT — a plain 0xAARRGGBB picture: panel images, window read-backs, decoded PNGs.
import Kernel
import Lab

/// A picture in 0xAARRGGBB pixels, row-major, no padding. The format of `Frame.pixels`.
package struct ARGBImage: Sendable, Equatable {
    package var width: Int
    package var height: Int
    package var pixels: [UInt32]

    package init(width: Int, height: Int, pixels: [UInt32]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height,
                     "ARGBImage: \(pixels.count) pixels for \(width)x\(height)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    package init(width: Int, height: Int, fill: UInt32) {
        self.init(width: width, height: height, pixels: [UInt32](repeating: fill, count: width * height))
    }

    /// The panel image a frame carries.
    package init(_ frame: Frame) {
        self.init(width: frame.width, height: frame.height, pixels: frame.pixels)
    }

    package subscript(x: Int, y: Int) -> UInt32 {
        get { pixels[y * width + x] }
        set { pixels[y * width + x] = newValue }
    }

    /// Each pixel repeated `factor` times across and down (what a window at integer scale shows with
    /// nearest-neighbour filtering).
    package func scaled(by factor: Int) -> ARGBImage {
        precondition(factor >= 1, "scale factor must be >= 1")
        if factor == 1 { return self }
        let w = width * factor, h = height * factor
        var out = [UInt32](repeating: 0, count: w * h)
        out.withUnsafeMutableBufferPointer { o in
            pixels.withUnsafeBufferPointer { p in
                for y in 0 ..< h {
                    let src = (y / factor) * width, dst = y * w
                    for x in 0 ..< w { o[dst + x] = p[src + x / factor] }
                }
            }
        }
        return ARGBImage(width: w, height: h, pixels: out)
    }

    /// The part of the image inside `rect` (which must lie inside the image).
    package func cropped(to rect: Rect) -> ARGBImage {
        precondition(rect.x >= 0 && rect.y >= 0 && rect.width >= 0 && rect.height >= 0
                     && rect.x + rect.width <= width && rect.y + rect.height <= height,
                     "crop \(rect) outside \(width)x\(height)")
        var out = [UInt32]()
        out.reserveCapacity(rect.width * rect.height)
        for y in rect.y ..< rect.y + rect.height {
            out.append(contentsOf: pixels[(y * width + rect.x) ..< (y * width + rect.x + rect.width)])
        }
        return ARGBImage(width: rect.width, height: rect.height, pixels: out)
    }

    /// Copies `rect` of `source` (same size as `self`) into `self`.
    package mutating func copy(_ rect: Rect, from source: ARGBImage) {
        precondition(source.width == width && source.height == height, "copy between different sizes")
        let x0 = max(0, rect.x), y0 = max(0, rect.y)
        let x1 = min(width, rect.x + rect.width), y1 = min(height, rect.y + rect.height)
        guard x0 < x1, y0 < y1 else { return }
        for y in y0 ..< y1 {
            pixels.replaceSubrange((y * width + x0) ..< (y * width + x1),
                                   with: source.pixels[(y * width + x0) ..< (y * width + x1)])
        }
    }

    /// How many pixels differ in colour from `other` (alpha ignored: a window has none).
    /// `Int.max` if the sizes differ.
    package func rgbMismatches(_ other: ARGBImage) -> Int {
        guard width == other.width, height == other.height else { return Int.max }
        var n = 0
        for i in pixels.indices where (pixels[i] ^ other.pixels[i]) & 0x00FF_FFFF != 0 { n += 1 }
        return n
    }

    /// The first pixel (x, y) whose colour differs from `other`, for test messages.
    package func firstRGBMismatch(_ other: ARGBImage) -> (x: Int, y: Int, mine: UInt32, theirs: UInt32)? {
        guard width == other.width, height == other.height else { return nil }
        for i in pixels.indices where (pixels[i] ^ other.pixels[i]) & 0x00FF_FFFF != 0 {
            return (i % width, i / width, pixels[i], other.pixels[i])
        }
        return nil
    }

    /// PNG bytes (RGB8; alpha is dropped). See `PNGEncoder`.
    package func pngData() throws -> [UInt8] {
        try PNGEncoder.encode(width: width, height: height, argb: pixels)
    }

    package func writePNG(_ path: String) throws {
        try PNGEncoder.write(path, width: width, height: height, argb: pixels)
    }
}
