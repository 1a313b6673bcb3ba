// SPDX-License-Identifier: MIT — binary PPM (P6) images, the still pictures of the workloads (netpbm's ppm(5)).

/// Why a PPM image could not be read. The description is one line.
package enum PPMError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not a binary PPM (no "P6").
    case notP6
    /// A header field is missing, not a number, or out of range (`what`).
    case badHeader(String)
    /// Fewer pixel bytes than the header promises.
    case truncated(expected: Int, found: Int)

    /// One line.
    package var description: String {
        switch self {
        case .notP6: "not a binary PPM image (no P6 magic)"
        case .badHeader(let what): "bad PPM header: \(what)"
        case .truncated(let e, let f): "PPM image truncated: \(e) bytes of pixels expected, \(f) found"
        }
    }
}

/// An RGB image: `width` × `height` colours `0xRRGGBB`, row-major.
///
/// Kernel analogue: none (the kernel's boot logo is a `struct linux_logo`, drivers/video/logo/, built from PPM
/// files the same way at build time).
package struct PPMImage: Sendable, Hashable {
    /// Width in pixels.
    package let width: Int
    /// Height in pixels.
    package let height: Int
    /// Colours, row-major, `width * height` of them.
    package let pixels: [UInt32]

    /// Largest side accepted, so a hostile header cannot ask for an absurd allocation.
    static let maxSide = 16384

    /// An image from its colours (row-major; `pixels.count == width * height`).
    package init(width: Int, height: Int, pixels: [UInt32]) {
        precondition(width > 0 && height > 0 && pixels.count == width * height, "pixels is not width*height")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// Parses a binary PPM ("P6", maxval 1…255, `#` comments in the header). Never traps on bad input.
    package init(parsing data: [UInt8]) throws(PPMError) {
        guard data.count >= 2, data[0] == UInt8(ascii: "P"), data[1] == UInt8(ascii: "6") else { throw .notP6 }
        var at = 2
        func field(_ name: String) throws(PPMError) -> Int {
            // Whitespace and comments (to end of line) may precede each field.
            while at < data.count {
                if data[at] == UInt8(ascii: "#") {
                    while at < data.count && data[at] != 0x0A { at += 1 }
                } else if data[at] == 0x20 || (data[at] >= 0x09 && data[at] <= 0x0D) {
                    at += 1
                } else {
                    break
                }
            }
            var value = 0, digits = 0
            while at < data.count, data[at] >= 0x30, data[at] <= 0x39 {
                value = value * 10 + Int(data[at] - 0x30)
                digits += 1
                at += 1
                guard value <= 1 << 20 else { throw .badHeader("\(name) too large") }
            }
            guard digits > 0 else { throw .badHeader("\(name) missing or not a number") }
            return value
        }
        let w = try field("width"), h = try field("height"), maxval = try field("maxval")
        guard w >= 1, w <= Self.maxSide, h >= 1, h <= Self.maxSide else {
            throw .badHeader("size \(w)x\(h) (1 to \(Self.maxSide) per side)")
        }
        guard maxval >= 1, maxval <= 255 else { throw .badHeader("maxval \(maxval) (only 1 to 255 supported)") }
        // Exactly one whitespace byte separates the header from the pixels.
        guard at < data.count, data[at] == 0x20 || (data[at] >= 0x09 && data[at] <= 0x0D) else {
            throw .badHeader("no whitespace after maxval")
        }
        at += 1
        let need = w * h * 3
        guard data.count - at >= need else { throw .truncated(expected: need, found: data.count - at) }
        var out = [UInt32](repeating: 0, count: w * h)
        data.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0 ..< w * h {
                    let p = at + 3 * i
                    var r = UInt32(src[p]), g = UInt32(src[p + 1]), b = UInt32(src[p + 2])
                    if maxval != 255 {
                        let m = UInt32(maxval)
                        r = (min(r, m) * 255 + m / 2) / m
                        g = (min(g, m) * 255 + m / 2) / m
                        b = (min(b, m) * 255 + m / 2) / m
                    }
                    dst[i] = r << 16 | g << 8 | b
                }
            }
        }
        self.init(width: w, height: h, pixels: out)
    }
}
