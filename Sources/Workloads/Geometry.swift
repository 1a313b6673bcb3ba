// SPDX-License-Identifier: MIT — rectangles, pixel formats and framebuffer layouts (kernel: the geometry parts of
// struct fb_var_screeninfo and struct fb_fix_screeninfo, include/uapi/linux/fb.h).
import Kernel

/// A rectangle of pixels: `x ..< x + width` by `y ..< y + height`. A rectangle whose width or height is zero or
/// negative is empty: it holds no pixel.
///
/// Kernel analogue: the `dx, dy, width, height` of `struct fb_fillrect` / `fb_copyarea` (include/uapi/linux/fb.h).
public struct Rect: Sendable, Hashable, CustomStringConvertible {
    /// Leftmost column.
    public var x: Int
    /// Top row.
    public var y: Int
    /// Number of columns.
    public var width: Int
    /// Number of rows.
    public var height: Int

    /// A rectangle from its top-left corner and size.
    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    /// The column just right of the rectangle (exclusive end).
    public var maxX: Int { x + width }
    /// The row just below the rectangle (exclusive end).
    public var maxY: Int { y + height }
    /// True when the rectangle holds no pixel.
    public var isEmpty: Bool { width <= 0 || height <= 0 }
    /// Number of pixels (0 when empty).
    public var area: Int { isEmpty ? 0 : width * height }

    /// Whether pixel (`x`, `y`) lies inside.
    public func contains(x px: Int, y py: Int) -> Bool {
        px >= x && px < maxX && py >= y && py < maxY
    }

    /// Whether every pixel of `other` lies inside (an empty `other` always does).
    public func contains(_ other: Rect) -> Bool {
        other.isEmpty || (!isEmpty && other.x >= x && other.maxX <= maxX && other.y >= y && other.maxY <= maxY)
    }

    /// The pixels both rectangles hold, or nil when they share none.
    public func intersection(_ other: Rect) -> Rect? {
        let x0 = max(x, other.x), y0 = max(y, other.y)
        let x1 = min(maxX, other.maxX), y1 = min(maxY, other.maxY)
        guard x0 < x1, y0 < y1, !isEmpty, !other.isEmpty else { return nil }
        return Rect(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
    }

    /// Whether the rectangles share at least one pixel.
    public func intersects(_ other: Rect) -> Bool { intersection(other) != nil }

    /// The same rectangle moved by (`dx`, `dy`).
    public func offsetBy(dx: Int, dy: Int) -> Rect { Rect(x: x + dx, y: y + dy, width: width, height: height) }

    /// The smallest rectangle holding both (an empty operand contributes nothing).
    public func union(_ other: Rect) -> Rect {
        if isEmpty { return other }
        if other.isEmpty { return self }
        let x0 = min(x, other.x), y0 = min(y, other.y)
        return Rect(x: x0, y: y0, width: max(maxX, other.maxX) - x0, height: max(maxY, other.maxY) - y0)
    }

    /// Splits a `width` × `height` screen into `count` full-width horizontal bands of (nearly) equal height, top to
    /// bottom: the clips of `count` processes that share the screen. Bands may be empty when `count > height`.
    public static func bands(width: Int, height: Int, count: Int) -> [Rect] {
        precondition(count > 0, "at least one band")
        var out: [Rect] = []
        out.reserveCapacity(count)
        for i in 0 ..< count {
            let top = height * i / count, bottom = height * (i + 1) / count
            out.append(Rect(x: 0, y: top, width: width, height: bottom - top))
        }
        return out
    }

    /// "WxH+X+Y", like an X11 geometry.
    public var description: String { "\(width)x\(height)+\(x)+\(y)" }
}

/// How a pixel is laid out in framebuffer memory: 16 bpp RGB565 or 32 bpp XRGB8888, both little endian.
///
/// Colours outside the framebuffer are always `0xRRGGBB` in a `UInt32`.
/// Kernel: the `bits_per_pixel` and `red`/`green`/`blue` `struct fb_bitfield`s of `struct fb_var_screeninfo`
/// (include/uapi/linux/fb.h): RGB565 is red {11, 5}, green {5, 6}, blue {0, 5}; XRGB8888 is red {16, 8},
/// green {8, 8}, blue {0, 8}.
public struct PixelFormat: Sendable, Hashable, CustomStringConvertible {
    /// 16 or 32. Kernel: `fb_var_screeninfo.bits_per_pixel`.
    public let bitsPerPixel: Int

    /// 16 bpp: 5 bits red, 6 green, 5 blue.
    public static let rgb565 = PixelFormat(checked: 16)
    /// 32 bpp: 8 bits each of red, green, blue; the top byte unused (written as 0).
    public static let xrgb8888 = PixelFormat(checked: 32)

    private init(checked bpp: Int) { bitsPerPixel = bpp }

    /// The format with this depth, or nil unless it is 16 or 32.
    public init?(bitsPerPixel: Int) {
        guard bitsPerPixel == 16 || bitsPerPixel == 32 else { return nil }
        self.bitsPerPixel = bitsPerPixel
    }

    /// Bytes one pixel takes (2 or 4).
    @inline(__always) public var bytesPerPixel: Int { bitsPerPixel >> 3 }

    /// The framebuffer value for colour `rgb` (0xRRGGBB; the top byte is ignored). RGB565 keeps the high bits of
    /// each channel, as `fb_var_screeninfo`'s bitfields do.
    @inline(__always) public func encode(rgb: UInt32) -> UInt32 {
        if bitsPerPixel == 32 { return rgb & 0x00FF_FFFF }
        return (rgb >> 8) & 0xF800 | (rgb >> 5) & 0x07E0 | (rgb >> 3) & 0x001F
    }

    /// The colour (0xRRGGBB) a framebuffer value shows. RGB565 channels are widened by repeating their high bits,
    /// so full intensity stays full (0x1F → 0xFF) and `encode(rgb: decode(v)) == v`.
    @inline(__always) public func decode(_ value: UInt32) -> UInt32 {
        if bitsPerPixel == 32 { return value & 0x00FF_FFFF }
        let r5 = (value >> 11) & 0x1F, g6 = (value >> 5) & 0x3F, b5 = value & 0x1F
        let r = r5 << 3 | r5 >> 2, g = g6 << 2 | g6 >> 4, b = b5 << 3 | b5 >> 2
        return r << 16 | g << 8 | b
    }

    /// Encodes `count` colours from `pixels` into `dst` (little endian, `count * bytesPerPixel` bytes).
    @inline(__always) func encodeRow(_ pixels: UnsafePointer<UInt32>, count: Int, into dst: UnsafeMutableRawPointer) {
        if bitsPerPixel == 32 {
            for i in 0 ..< count {
                dst.storeBytes(of: (pixels[i] & 0x00FF_FFFF).littleEndian, toByteOffset: i << 2, as: UInt32.self)
            }
        } else {
            for i in 0 ..< count {
                dst.storeBytes(of: UInt16(truncatingIfNeeded: encode(rgb: pixels[i])).littleEndian,
                               toByteOffset: i << 1, as: UInt16.self)
            }
        }
    }

    /// Fills `count` pixels at `dst` with the already-encoded `value`.
    @inline(__always) func fillRow(_ value: UInt32, count: Int, into dst: UnsafeMutableRawPointer) {
        if bitsPerPixel == 32 {
            for i in 0 ..< count { dst.storeBytes(of: value.littleEndian, toByteOffset: i << 2, as: UInt32.self) }
        } else {
            let v = UInt16(truncatingIfNeeded: value).littleEndian
            for i in 0 ..< count { dst.storeBytes(of: v, toByteOffset: i << 1, as: UInt16.self) }
        }
    }

    /// The framebuffer value stored at `src` (little endian).
    @inline(__always) func load(_ src: UnsafeRawPointer) -> UInt32 {
        if bitsPerPixel == 32 { return UInt32(littleEndian: src.loadUnaligned(as: UInt32.self)) }
        return UInt32(UInt16(littleEndian: src.loadUnaligned(as: UInt16.self)))
    }

    /// "RGB565" or "XRGB8888".
    public var description: String { bitsPerPixel == 16 ? "RGB565" : "XRGB8888" }
}

/// The shape of a framebuffer in memory: visible size, pixel format and the length of one line in bytes (which may
/// be padded beyond `width * bytesPerPixel`). Byte offset of pixel (x, y) is `y * lineLength + x * bytesPerPixel`.
///
/// Kernel: `xres`, `yres`, `bits_per_pixel` of `struct fb_var_screeninfo` and `line_length`, `smem_len` of
/// `struct fb_fix_screeninfo` (include/uapi/linux/fb.h).
public struct FramebufferLayout: Sendable, Hashable, CustomStringConvertible {
    /// Visible width in pixels. Kernel: `var.xres`.
    public let width: Int
    /// Visible height in pixels. Kernel: `var.yres`.
    public let height: Int
    /// Pixel format. Kernel: `var.bits_per_pixel` and the colour bitfields.
    public let format: PixelFormat
    /// Bytes from the start of one row to the start of the next. Kernel: `fix.line_length`.
    public let lineLength: Int

    /// A layout; `lineLength` defaults to the packed `width * bytesPerPixel` and may not be smaller.
    public init(width: Int, height: Int, format: PixelFormat, lineLength: Int? = nil) {
        precondition(width > 0 && height > 0, "a framebuffer has at least one pixel")
        let packed = width * format.bytesPerPixel
        let line = lineLength ?? packed
        precondition(line >= packed, "line_length \(line) is shorter than a row of \(packed) bytes")
        self.width = width
        self.height = height
        self.format = format
        self.lineLength = line
    }

    /// The whole visible screen.
    public var screen: Rect { Rect(x: 0, y: 0, width: width, height: height) }

    /// Bytes the framebuffer occupies: `lineLength * height`. Kernel: `fix.smem_len` (before page rounding).
    public var byteCount: Int { lineLength * height }

    /// Byte offset of pixel (`x`, `y`).
    @inline(__always) public func offset(x: Int, y: Int) -> Int { y * lineLength + x * format.bytesPerPixel }

    /// The page-aligned byte range of the framebuffer that holds every row `rect` touches: what a process drawing
    /// only inside `rect` must map (file offset `lowerBound`, length `count`). Empty for an empty `rect`.
    public func pageRange(of rect: Rect) -> Range<Int> {
        guard let r = rect.intersection(screen) else { return 0 ..< 0 }
        let first = r.y * lineLength, end = r.maxY * lineLength
        let start = first & ~(PAGE_SIZE - 1)
        return start ..< pageAlign(end)
    }

    /// "WxH RGB565 line=N".
    public var description: String { "\(width)x\(height) \(format) line=\(lineLength)" }
}
