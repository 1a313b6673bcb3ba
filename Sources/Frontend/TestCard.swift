// SPDX-License-Identifier: MIT — a deterministic test card for checking what a display shows, pixel for pixel.

/// A picture whose every pixel is easy to get wrong: colour bars, a grey ramp, a one-pixel checkerboard (shows
/// any blurring or off-by-one scaling), a two-axis gradient and a one-pixel red border (shows any offset or crop).
package enum TestCard {
    package static let bars: [UInt32] = [
        0xFFFF_FFFF, 0xFFFF_FF00, 0xFF00_FFFF, 0xFF00_FF00, 0xFFFF_00FF, 0xFFFF_0000, 0xFF00_00FF, 0xFF00_0000,
    ]

    package static func image(width: Int, height: Int) -> ARGBImage {
        precondition(width > 0 && height > 0, "test card needs a non-empty size")
        var img = ARGBImage(width: width, height: height, fill: 0xFF00_0000)
        let barsEnd = height * 3 / 5, rampEnd = height * 4 / 5
        for y in 0 ..< height {
            for x in 0 ..< width {
                let v: UInt32
                if y < barsEnd {
                    v = bars[x * bars.count / width]
                } else if y < rampEnd {
                    let g = UInt32(width > 1 ? x * 255 / (width - 1) : 0)
                    v = 0xFF00_0000 | g << 16 | g << 8 | g
                } else if x < width / 2 {
                    v = (x + y) & 1 == 0 ? 0xFFFF_FFFF : 0xFF00_0000
                } else {
                    let r = UInt32(x * 255 / width), g = UInt32(y * 255 / height)
                    v = 0xFF00_0000 | r << 16 | g << 8 | 0x80
                }
                img[x, y] = v
            }
        }
        for x in 0 ..< width {
            img[x, 0] = 0xFFFF_0000
            img[x, height - 1] = 0xFFFF_0000
        }
        for y in 0 ..< height {
            img[0, y] = 0xFFFF_0000
            img[width - 1, y] = 0xFFFF_0000
        }
        return img
    }
}
