// SPDX-License-Identifier: MIT — the drawing surface of a workload, and the plain in-memory one (kernel analogue:
// the fb_ops drawing hooks fillrect/copyarea/imageblit, drivers/video/fbdev/core/cfb*.c and sys*.c).
import Kernel

/// Something a workload draws on: a framebuffer-shaped surface with a clip rectangle (the region the drawing
/// process owns). Every operation clips to the screen *and* to `clip`; nothing outside that is ever read or written.
///
/// Colours are `0xRRGGBB`; the canvas encodes them in its `format`. The operations throw because a mapped canvas's
/// stores can fault (and be preempted) like any user store, and a fault can kill the process (`DrawError.fault`).
///
/// Kernel analogue: the drawing half of `struct fb_ops` — `fb_fillrect`, `fb_copyarea`, `fb_imageblit` — which
/// fbcon calls for text and scrolling (drivers/video/fbdev/core/sysfillrect.c, syscopyarea.c, sysimgblt.c).
@EmuActor package protocol Canvas: AnyObject {
    /// Size, pixel format and line length of the framebuffer.
    var layout: FramebufferLayout { get }
    /// The region this canvas may touch (further clipped to the screen).
    var clip: Rect { get }

    /// Sets one pixel.
    func plot(x: Int, y: Int, rgb: UInt32) throws(DrawError)
    /// Fills a rectangle with one colour. Kernel analogue: `fb_fillrect` with `ROP_COPY`.
    func fill(_ rect: Rect, rgb: UInt32) throws(DrawError)
    /// Draws a `width` × `height` block of colours (row-major, `pixels.count == width * height`) with its top-left
    /// corner at (`x`, `y`). Kernel analogue: `fb_imageblit` of a true-colour image.
    func blit(x: Int, y: Int, width: Int, height: Int, pixels: [UInt32]) throws(DrawError)
    /// Copies the pixels of `source` so that its top-left corner lands at (`toX`, `toY`), reading them back from
    /// the framebuffer. Overlap-safe (rows are taken in the direction that never reads an overwritten row, and
    /// each row is read whole before it is written). Both the source and the destination are clipped: only pixels
    /// whose source *and* destination are inside the clip move. Kernel analogue: `fb_copyarea` (fbcon's `bmove`,
    /// used to scroll).
    func copy(from source: Rect, toX: Int, toY: Int) throws(DrawError)
    /// The colour of one pixel (decoded, so RGB565 comes back widened), or nil outside the clip.
    func readPixel(x: Int, y: Int) throws(DrawError) -> UInt32?
}

/// Why drawing failed: what a drawing process dies of, which the machine running it reports. Never a trap: a
/// workload that asks for something impossible fails its process, not the emulator.
package enum DrawError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A store or load of the drawing process faulted and the kernel kills it (SIGSEGV, SIGBUS, an OOM or livelock
    /// kill): the process's `UserFault`.
    case fault(UserFault)
    /// `blit` was handed `count` colours for a `width` × `height` block.
    case pixelCount(width: Int, height: Int, count: Int)
    /// `workload` was asked for frame `got` while frame `expected` was next (frames come in order).
    case frameOutOfOrder(workload: String, expected: Int, got: Int)

    package var description: String {
        switch self {
        case .fault(let f): "\(f)"
        case .pixelCount(let w, let h, let n): "blit: \(n) colours for a \(w)x\(h) block"
        case .frameOutOfOrder(let w, let e, let g): "\(w): frame \(g) asked for, frame \(e) is next"
        }
    }
}

extension Canvas {
    /// Visible width in pixels.
    package var width: Int { layout.width }
    /// Visible height in pixels.
    package var height: Int { layout.height }
    /// Pixel format.
    package var format: PixelFormat { layout.format }
    /// Bytes per framebuffer line.
    package var lineLength: Int { layout.lineLength }
    /// The pixels drawing may touch: `clip` ∩ the screen, or nil when that is empty.
    package var drawable: Rect? { clip.intersection(layout.screen) }
}

/// The row loops of the canvases: the format is decided once per row, so each loop is a plain store loop.
extension FramebufferLayout {
    /// Encodes `count` colours from `pixels` into `dst` (little endian, `count * bytesPerPixel` bytes).
    @inline(__always) func encodeRow(_ pixels: UnsafePointer<UInt32>, count: Int, into dst: UnsafeMutableRawPointer) {
        if bytesPerPixel == 4 {
            for i in 0 ..< count {
                dst.storeBytes(of: (pixels[i] & 0x00FF_FFFF).littleEndian, toByteOffset: i << 2, as: UInt32.self)
            }
        } else {
            for i in 0 ..< count {
                dst.storeBytes(of: UInt16(truncatingIfNeeded: PixelFormat.encodeRGB565(pixels[i])).littleEndian,
                               toByteOffset: i << 1, as: UInt16.self)
            }
        }
    }

    /// Fills `count` pixels at `dst` with the already-encoded `value`.
    @inline(__always) func fillRow(_ value: UInt32, count: Int, into dst: UnsafeMutableRawPointer) {
        if bytesPerPixel == 4 {
            for i in 0 ..< count { dst.storeBytes(of: value.littleEndian, toByteOffset: i << 2, as: UInt32.self) }
        } else {
            let v = UInt16(truncatingIfNeeded: value).littleEndian
            for i in 0 ..< count { dst.storeBytes(of: v, toByteOffset: i << 1, as: UInt16.self) }
        }
    }

    /// The framebuffer value stored at `src` (little endian).
    @inline(__always) func load(_ src: UnsafeRawPointer) -> UInt32 {
        if bytesPerPixel == 4 { return UInt32(littleEndian: src.loadUnaligned(as: UInt32.self)) }
        return UInt32(UInt16(littleEndian: src.loadUnaligned(as: UInt16.self)))
    }

    /// The framebuffer value of colour `rgb`: `format.encode(rgb:)`, with the format decided by the depth.
    @inline(__always) func encode(rgb: UInt32) -> UInt32 {
        bytesPerPixel == 4 ? rgb & 0x00FF_FFFF : PixelFormat.encodeRGB565(rgb)
    }

    /// The colour a framebuffer value shows: `format.decode(_:)`, with the format decided by the depth.
    @inline(__always) func decode(_ value: UInt32) -> UInt32 {
        bytesPerPixel == 4 ? value & 0x00FF_FFFF : PixelFormat.decodeRGB565(value)
    }
}

/// Clipping shared by every canvas, so that a plain and a mapped canvas touch exactly the same pixels.
enum Clipping {
    /// The visible part of a `width` × `height` block placed at (`x`, `y`), and where it starts in the block.
    static func blit(_ area: Rect, x: Int, y: Int, width: Int, height: Int)
        -> (dst: Rect, srcX: Int, srcY: Int)? {
        guard let dst = Rect(x: x, y: y, width: width, height: height).intersection(area) else { return nil }
        return (dst, dst.x - x, dst.y - y)
    }

    /// The source and destination rectangles of a clipped copy (same size, both inside `area`).
    static func copy(_ area: Rect, from source: Rect, toX: Int, toY: Int) -> (src: Rect, dst: Rect)? {
        let dx = toX - source.x, dy = toY - source.y
        guard let d = source.offsetBy(dx: dx, dy: dy).intersection(area),
              let s = d.offsetBy(dx: -dx, dy: -dy).intersection(area) else { return nil }
        return (s, s.offsetBy(dx: dx, dy: dy))
    }
}

/// A framebuffer-shaped byte buffer in ordinary memory: the reference rendering a workload's frames are compared
/// with (DESIGN.md §7, "no lost update"), and the canvas of unit tests. Same layout and encoding as the device.
///
/// `clip` may be changed between workloads, so several workloads (each in its own clip) can draw one reference
/// screen. Kernel analogue: drawing into a shadow buffer with the `sys_*` (system-memory) fb helpers.
///
/// A workload whose every frame overwrites a whole region and reads nothing (plasma) may hand its frames over with
/// `deferOverwrite(of:by:_:)`: a frame is drawn only when something looks at the canvas (`bytes`, `readPixel`) or
/// draws on it otherwise, and a frame that the same workload's next one overwrites before that is never drawn. The
/// bytes are the same as drawing every frame; a reference rendering of a long run costs one frame per band.
@EmuActor package final class PlainCanvas: Canvas {
    /// Size, format and line length.
    package let layout: FramebufferLayout
    /// The region drawing may touch; defaults to the whole screen.
    package var clip: Rect
    /// The framebuffer bytes: `layout.byteCount` of them (any deferred drawing is done first).
    package var bytes: [UInt8] {
        drawDeferred()
        return storage
    }
    private var storage: [UInt8]
    /// Deferred overwrites not drawn yet, oldest first.
    private var deferred: [(owner: ObjectIdentifier, region: Rect, draw: @EmuActor () -> Void)] = []

    /// A canvas whose every byte is `byte` (0: black), clipped to `clip` (nil: the whole screen).
    package init(layout: FramebufferLayout, clip: Rect? = nil, filling byte: UInt8 = 0) {
        self.layout = layout
        self.clip = clip ?? layout.screen
        storage = [UInt8](repeating: byte, count: layout.byteCount)
    }

    /// Hands over a drawing that sets every pixel of `region` (inside `drawable` now) and nothing else, from values
    /// that nothing done later changes, without reading the canvas: `draw` runs before anything else looks at or
    /// draws on the canvas, in order with the other deferred drawings, or never if the next deferred drawing is
    /// `owner`'s over the same region (it would overwrite every pixel `draw` sets). `draw` must draw with the
    /// synchronous `blitRows(area:…)`, giving the `drawable` of now as the area.
    func deferOverwrite(of region: Rect, by owner: AnyObject, _ draw: @escaping @EmuActor () -> Void) {
        let id = ObjectIdentifier(owner)
        if let last = deferred.last, last.owner == id, last.region == region {
            deferred[deferred.count - 1].draw = draw
        } else {
            deferred.append((id, region, draw))
        }
    }

    /// Deferred drawings not done yet.
    var deferredCount: Int { deferred.count }

    /// Draws what was deferred, in order.
    private func drawDeferred() {
        guard !deferred.isEmpty else { return }
        let pending = deferred
        deferred = []
        for d in pending { d.draw() }
    }

    /// Sets one pixel.
    package func plot(x: Int, y: Int, rgb: UInt32) throws(DrawError) {
        drawDeferred()
        guard let area = drawable, area.contains(x: x, y: y) else { return }
        let off = layout.offset(x: x, y: y), value = layout.encode(rgb: rgb)
        storage.withUnsafeMutableBytes { layout.fillRow(value, count: 1, into: $0.baseAddress! + off) }
    }

    /// Fills a rectangle with one colour.
    package func fill(_ rect: Rect, rgb: UInt32) throws(DrawError) {
        drawDeferred()
        guard let area = drawable, let r = rect.intersection(area) else { return }
        let value = layout.encode(rgb: rgb)
        storage.withUnsafeMutableBytes { buf in
            for row in r.y ..< r.maxY {
                layout.fillRow(value, count: r.width, into: buf.baseAddress! + layout.offset(x: r.x, y: row))
            }
        }
    }

    /// Draws a block of colours.
    package func blit(x: Int, y: Int, width: Int, height: Int, pixels: [UInt32]) throws(DrawError) {
        guard width >= 0 && height >= 0 && pixels.count == width * height else {
            throw .pixelCount(width: width, height: height, count: pixels.count)
        }
        drawDeferred()
        guard let area = drawable else { return }
        pixels.withUnsafeBufferPointer { blitRows(area: area, x: x, y: y, width: width, height: height, pixels: $0) }
    }

    /// `blit` clipped to `area` instead of `drawable`, synchronous and without drawing what was deferred first (the
    /// drawing of a deferred overwrite).
    func blitRows(area: Rect, x: Int, y: Int, width: Int, height: Int, pixels: UnsafeBufferPointer<UInt32>) {
        guard let c = Clipping.blit(area, x: x, y: y, width: width, height: height) else { return }
        storage.withUnsafeMutableBytes { buf in
            for row in 0 ..< c.dst.height {
                layout.encodeRow(pixels.baseAddress! + (c.srcY + row) * width + c.srcX, count: c.dst.width,
                                        into: buf.baseAddress! + layout.offset(x: c.dst.x, y: c.dst.y + row))
            }
        }
    }

    /// Copies a rectangle within the clip (overlap-safe).
    package func copy(from source: Rect, toX: Int, toY: Int) throws(DrawError) {
        drawDeferred()
        guard let area = drawable, let c = Clipping.copy(area, from: source, toX: toX, toY: toY) else { return }
        let rowBytes = c.src.width * layout.bytesPerPixel
        storage.withUnsafeMutableBytes { buf in
            let base = buf.baseAddress!
            let downward = c.dst.y > c.src.y
            for i in 0 ..< c.src.height {
                let row = downward ? c.src.height - 1 - i : i
                // copyMemory is memmove: a row overlapping itself (a horizontal move) is safe.
                (base + layout.offset(x: c.dst.x, y: c.dst.y + row))
                    .copyMemory(from: base + layout.offset(x: c.src.x, y: c.src.y + row), byteCount: rowBytes)
            }
        }
    }

    /// The colour of one pixel, or nil outside the clip.
    package func readPixel(x: Int, y: Int) throws(DrawError) -> UInt32? {
        drawDeferred()
        guard let area = drawable, area.contains(x: x, y: y) else { return nil }
        let off = layout.offset(x: x, y: y)
        return storage.withUnsafeBytes { layout.decode(layout.load($0.baseAddress! + off)) }
    }
}
