// SPDX-License-Identifier: MIT — rectangles of pixels, pixel formats and framebuffer layouts (kernel: the
// rectangles of struct fb_fillrect / fb_copyarea and the geometry parts of struct fb_var_screeninfo and
// struct fb_fix_screeninfo, include/uapi/linux/fb.h).

/// A rectangle of pixels: `x ..< x + width` by `y ..< y + height`. A rectangle whose width or height is zero or
/// negative is empty: it holds no pixel. The one rectangle of the emulator: what a workload draws into, what a
/// panel driver sends, what the front end repaints.
///
/// Kernel: the `dx, dy, width, height` of `struct fb_fillrect` / `struct fb_copyarea` — include/uapi/linux/fb.h
/// (the half-open `struct drm_rect` of DRM drivers stays `DRMRect`, with the kernel's x1/y1/x2/y2).
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
    @inlinable public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    /// The column just right of the rectangle (exclusive end).
    @inlinable package var maxX: Int { x + width }
    /// The row just below the rectangle (exclusive end).
    @inlinable package var maxY: Int { y + height }
    /// True when the rectangle holds no pixel.
    @inlinable package var isEmpty: Bool { width <= 0 || height <= 0 }
    /// Number of pixels (0 when empty).
    @inlinable package var area: Int { isEmpty ? 0 : width * height }

    /// Whether pixel (`x`, `y`) lies inside.
    @inlinable package func contains(x px: Int, y py: Int) -> Bool {
        px >= x && px < maxX && py >= y && py < maxY
    }

    /// Whether every pixel of `other` lies inside (an empty `other` always does).
    @inlinable package func contains(_ other: Rect) -> Bool {
        other.isEmpty || (!isEmpty && other.x >= x && other.maxX <= maxX && other.y >= y && other.maxY <= maxY)
    }

    /// The pixels both rectangles hold, or nil when they share none.
    @inlinable package func intersection(_ other: Rect) -> Rect? {
        let x0 = max(x, other.x), y0 = max(y, other.y)
        let x1 = min(maxX, other.maxX), y1 = min(maxY, other.maxY)
        guard x0 < x1, y0 < y1, !isEmpty, !other.isEmpty else { return nil }
        return Rect(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
    }

    /// Whether the rectangles share at least one pixel.
    @inlinable package func intersects(_ other: Rect) -> Bool { intersection(other) != nil }

    /// The same rectangle moved by (`dx`, `dy`).
    @inlinable package func offsetBy(dx: Int, dy: Int) -> Rect {
        Rect(x: x + dx, y: y + dy, width: width, height: height)
    }

    /// The smallest rectangle holding both (an empty operand contributes nothing).
    package func union(_ other: Rect) -> Rect {
        if isEmpty { return other }
        if other.isEmpty { return self }
        let x0 = min(x, other.x), y0 = min(y, other.y)
        return Rect(x: x0, y: y0, width: max(maxX, other.maxX) - x0, height: max(maxY, other.maxY) - y0)
    }

    /// "WxH+X+Y", like an X11 geometry.
    public var description: String { "\(width)x\(height)+\(x)+\(y)" }
}

/// How a pixel is laid out: the framebuffer's 16 bpp RGB565 or 32 bpp XRGB8888 (both little endian in memory), or
/// the 1 bpp and grey-level glass of monochrome and e-paper panels. Colours outside a framebuffer or panel are always
/// `0xRRGGBB` in a `UInt32`; `encode` turns one into this format's value and `decode` back.
///
/// The emulator's framebuffers are RGB565 or XRGB8888 (`init?(bitsPerPixel:)`); `mono` and `grey` describe only what
/// a panel's glass can show.
///
/// Kernel: the `bits_per_pixel`, `grayscale` and `red`/`green`/`blue` `struct fb_bitfield`s of
/// `struct fb_var_screeninfo` — include/uapi/linux/fb.h: RGB565 is red {11, 5}, green {5, 6}, blue {0, 5};
/// XRGB8888 is red {16, 8}, green {8, 8}, blue {0, 8}; mono is 1 bpp (FB_VISUAL_MONO10); grey is `grayscale` = 1.
public enum PixelFormat: Sendable, Hashable, CustomStringConvertible {
    /// 16 bpp: 5 bits red, 6 green, 5 blue (ILI9341-class controllers, DisplayLink in udlfb's 16 bpp mode).
    case rgb565
    /// 32 bpp: 8 bits each of red, green, blue; the top byte unused (written as 0) (firmware framebuffers,
    /// hypervisor VRAM).
    case xrgb8888
    /// One bit per pixel, lit or dark (SSD1306 OLED).
    case mono
    /// `levels` shades of grey from black to white (e-paper); 2 is black and white.
    case grey(levels: Int)

    /// The framebuffer format with this depth: RGB565 for 16, XRGB8888 for 32, nil for any other.
    package init?(bitsPerPixel: Int) {
        switch bitsPerPixel {
        case 16: self = .rgb565
        case 32: self = .xrgb8888
        default: return nil
        }
    }

    /// Bits one pixel takes. Kernel: `fb_var_screeninfo.bits_per_pixel`
    package var bitsPerPixel: Int {
        switch self {
        case .rgb565: 16
        case .xrgb8888: 32
        case .mono: 1
        case .grey(let levels):
            // ceil(log2(levels)), counted: 2 → 1 bit, 4 → 2, 16 → 4.
            (Int.bitWidth - (levels - 1).leadingZeroBitCount)
        }
    }

    /// The value for colour `rgb` (0xRRGGBB; the top byte is ignored). RGB565 keeps the high bits of each channel,
    /// as `fb_var_screeninfo`'s bitfields do; mono is 1 for a lit pixel (luma at least half), grey the nearest level.
    @inlinable @inline(__always) package func encode(rgb: UInt32) -> UInt32 {
        switch self {
        case .xrgb8888: rgb & 0x00FF_FFFF
        case .rgb565: Self.encodeRGB565(rgb)
        case .mono: Self.luma(rgb) >= 128 ? 1 : 0
        case .grey(let levels): (Self.luma(rgb) * UInt32(levels - 1) + 127) / 255
        }
    }

    /// The colour (0xRRGGBB) a value shows. RGB565 channels are widened by repeating their high bits, so full
    /// intensity stays full (0x1F → 0xFF) and `encode(rgb: decode(v)) == v`; a grey level is spread over 0…255.
    @inlinable @inline(__always) package func decode(_ value: UInt32) -> UInt32 {
        switch self {
        case .xrgb8888: return value & 0x00FF_FFFF
        case .rgb565: return Self.decodeRGB565(value)
        case .mono: return value != 0 ? 0x00FF_FFFF : 0
        case .grey(let levels):
            let v = value * 255 / UInt32(levels - 1)
            return v << 16 | v << 8 | v
        }
    }

    /// `encode(rgb:)` of RGB565, for loops that decided the format once.
    @inlinable @inline(__always) package static func encodeRGB565(_ rgb: UInt32) -> UInt32 {
        (rgb >> 8) & 0xF800 | (rgb >> 5) & 0x07E0 | (rgb >> 3) & 0x001F
    }

    /// `decode(_:)` of RGB565, for loops that decided the format once.
    @inlinable @inline(__always) package static func decodeRGB565(_ value: UInt32) -> UInt32 {
        let r5 = (value >> 11) & 0x1F, g6 = (value >> 5) & 0x3F, b5 = value & 0x1F
        let r = r5 << 3 | r5 >> 2, g = g6 << 2 | g6 >> 4, b = b5 << 3 | b5 >> 2
        return r << 16 | g << 8 | b
    }

    /// Integer BT.601 luma of 0xRRGGBB, 0…255.
    @inlinable @inline(__always) static func luma(_ rgb: UInt32) -> UInt32 {
        (77 * ((rgb >> 16) & 0xFF) + 150 * ((rgb >> 8) & 0xFF) + 29 * (rgb & 0xFF)) >> 8
    }

    /// "RGB565", "XRGB8888", "mono 1 bpp" or "grey N levels".
    public var description: String {
        switch self {
        case .rgb565: "RGB565"
        case .xrgb8888: "XRGB8888"
        case .mono: "mono 1 bpp"
        case .grey(let levels): "grey \(levels) levels"
        }
    }
}

/// The shape of a framebuffer in memory: visible size, pixel format and the length of one line in bytes (which may
/// be padded beyond `width * bytesPerPixel`). Byte offset of pixel (x, y) is `y * lineLength + x * bytesPerPixel`.
/// `FBInfo.layout` is a framebuffer's own.
///
/// Kernel: `xres`, `yres`, `bits_per_pixel` of `struct fb_var_screeninfo` and `line_length`, `smem_len` of
/// `struct fb_fix_screeninfo` — include/uapi/linux/fb.h
public struct FramebufferLayout: Sendable, Hashable, CustomStringConvertible {
    /// Visible width in pixels. Kernel: `var.xres`
    public let width: Int
    /// Visible height in pixels. Kernel: `var.yres`
    public let height: Int
    /// Pixel format, RGB565 or XRGB8888. Kernel: `var.bits_per_pixel` and the colour bitfields
    package let format: PixelFormat
    /// Bytes from the start of one row to the start of the next. Kernel: `fix.line_length`
    public let lineLength: Int
    /// Bytes one pixel takes (2 or 4), kept so that offsets cost no switch over the format.
    public let bytesPerPixel: Int

    /// A layout; `lineLength` defaults to the packed `width * bytesPerPixel` and may not be smaller.
    public init(width: Int, height: Int, format: PixelFormat, lineLength: Int? = nil) {
        precondition(width > 0 && height > 0, "a framebuffer has at least one pixel")
        precondition(format == .rgb565 || format == .xrgb8888, "a framebuffer is RGB565 or XRGB8888, not \(format)")
        let bytesPerPixel = format.bitsPerPixel >> 3
        let packed = width * bytesPerPixel
        let line = lineLength ?? packed
        precondition(line >= packed, "line_length \(line) is shorter than a row of \(packed) bytes")
        self.width = width
        self.height = height
        self.format = format
        self.lineLength = line
        self.bytesPerPixel = bytesPerPixel
    }

    /// The whole visible screen.
    @inlinable package var screen: Rect { Rect(x: 0, y: 0, width: width, height: height) }

    /// Bytes the visible rows occupy: `lineLength * height`. Kernel: `fix.smem_len` (before page rounding)
    @inlinable package var byteCount: Int { lineLength * height }

    /// Byte offset of pixel (`x`, `y`).
    @inlinable @inline(__always) package func offset(x: Int, y: Int) -> Int { y * lineLength + x * bytesPerPixel }

    /// The page-aligned byte range of the framebuffer that holds every row `rect` touches: what a process drawing
    /// only inside `rect` must map (file offset `lowerBound`, length `count`). Empty for an empty `rect`.
    package func pageRange(of rect: Rect) -> Range<Int> {
        guard let r = rect.intersection(screen) else { return 0 ..< 0 }
        let first = r.y * lineLength, end = r.maxY * lineLength
        let start = first & ~(PAGE_SIZE - 1)
        return start ..< pageAlign(end)
    }

    /// The screen area of framebuffer page `pgoff`: up to three rectangles (the rest of its first row, its full
    /// rows, the start of its last row), clipped to the visible screen; none for a page past the visible rows.
    package func screenRects(ofPage pgoff: Int) -> [Rect] {
        let start = pgoff << PAGE_SHIFT, end = min(start + PAGE_SIZE, byteCount)
        guard start < end else { return [] }
        let firstRow = start / lineLength, firstCol = (start % lineLength) / bytesPerPixel
        let lastRow = (end - 1) / lineLength, lastCol = min(((end - 1) % lineLength) / bytesPerPixel, width - 1)
        if firstRow == lastRow {
            return firstCol <= lastCol ? [Rect(x: firstCol, y: firstRow, width: lastCol - firstCol + 1, height: 1)] : []
        }
        var rects: [Rect] = []
        var fullFrom = firstRow, fullTo = lastRow  // inclusive rows drawn full width
        if firstCol > 0 {
            if firstCol < width { rects.append(Rect(x: firstCol, y: firstRow, width: width - firstCol, height: 1)) }
            fullFrom += 1
        }
        if lastCol < width - 1 {
            rects.append(Rect(x: 0, y: lastRow, width: lastCol + 1, height: 1))
            fullTo -= 1
        }
        if fullTo >= fullFrom { rects.append(Rect(x: 0, y: fullFrom, width: width, height: fullTo - fullFrom + 1)) }
        return rects
    }

    /// "WxH RGB565 line=N".
    public var description: String { "\(width)x\(height) \(format) line=\(lineLength)" }
}
