// SPDX-License-Identifier: MIT — a canvas that draws through a fake process's MMU into its mapping of the
// framebuffer (kernel analogue: a user program drawing into mmap'ed /dev/fbN, as fbtest or a DRM-less GUI does).
import Kernel

/// A canvas a fake process draws on through its own page tables and TLB: every pixel is a user store that may take
/// a write-protect fault (the stores fb_defio tracks). Framebuffer byte offset `o` is at virtual address
/// `origin + o`; a process that mapped file offset `F` at address `A` has `origin = A − F`.
///
/// Single pixels and narrow spans use the inlined per-pixel stores (`store16`/`store32`); rows are span stores (one
/// translation per page, like `rep movsb`), their pixels encoded straight into each page. Only bytes of pixels
/// inside the clip are ever loaded or stored, so a process whose mapping covers only the rows of its clip never
/// touches an address outside it.
@EmuActor package final class MappedCanvas: Canvas {
    /// The process whose MMU the stores go through.
    package let task: UserTask
    /// Virtual address of framebuffer byte 0 in `task`'s address space (it need not be mapped itself).
    package let origin: VirtAddr
    /// Size, format and line length.
    package let layout: FramebufferLayout
    /// The region this process owns.
    package let clip: Rect
    /// One line of encoded pixels, reused by every row operation (no allocation per row).
    nonisolated(unsafe) private let scratch: UnsafeMutableRawBufferPointer

    /// Fills narrower than this many pixels use per-pixel stores; wider ones a row span.
    static let spanThreshold = 4

    /// A canvas drawing through `task` into the framebuffer whose byte 0 is at `origin`.
    package init(task: UserTask, origin: VirtAddr, layout: FramebufferLayout, clip: Rect) {
        self.task = task
        self.origin = origin
        self.layout = layout
        self.clip = clip
        scratch = .allocate(byteCount: layout.lineLength, alignment: 8)
    }

    deinit { scratch.deallocate() }

    /// Maps the page-rounded rows of `clip` of the framebuffer file `fd` into `task` (MAP_SHARED, read/write) and
    /// returns a canvas for them: the mapping a process drawing only in its band needs.
    /// Kernel analogue: `mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_SHARED, fd, off)` on /dev/fbN.
    package static func map(task: UserTask, fd: Int, layout: FramebufferLayout, clip: Rect)
        throws(Errno) -> MappedCanvas {
        let range = layout.pageRange(of: clip)
        guard !range.isEmpty else { throw .EINVAL }
        let address = try task.mmap(length: range.count, prot: .readWrite, flags: .shared, fd: fd,
                                          offset: range.lowerBound)
        return MappedCanvas(task: task, origin: address + -range.lowerBound, layout: layout, clip: clip)
    }

    @inline(__always) private func address(x: Int, y: Int) -> VirtAddr { origin + layout.offset(x: x, y: y) }

    /// One pixel through the inlined store: a TLB hit is a few instructions here, a miss calls into the kernel.
    @inline(__always) private func storePixel(_ va: VirtAddr, _ value: UInt32) throws(UserFault) {
        if layout.bytesPerPixel == 4 {
            try task.store32(va, value)
        } else {
            try task.store16(va, UInt16(truncatingIfNeeded: value))
        }
    }

    /// Sets one pixel (one store).
    package func plot(x: Int, y: Int, rgb: UInt32) throws(DrawError) {
        guard let area = drawable, area.contains(x: x, y: y) else { return }
        do throws(UserFault) {
            try storePixel(address(x: x, y: y), layout.encode(rgb: rgb))
        } catch { throw .fault(error) }
    }

    /// Fills a rectangle: per-pixel stores when narrow, else one span store per row.
    package func fill(_ rect: Rect, rgb: UInt32) throws(DrawError) {
        guard let area = drawable, let r = rect.intersection(area) else { return }
        let value = layout.encode(rgb: rgb), bpp = layout.bytesPerPixel
        do throws(UserFault) {
            if r.width < Self.spanThreshold {
                for row in r.y ..< r.maxY {
                    let va = address(x: r.x, y: row)
                    for i in 0 ..< r.width { try storePixel(va + i * bpp, value) }
                }
                return
            }
            let layout = layout
            for row in r.y ..< r.maxY {
                try storeRow(address(x: r.x, y: row), pixels: r.width) { at, _, n in
                    layout.fillRow(value, count: n, into: at)
                } staged: { dst in
                    layout.fillRow(value, count: r.width, into: dst)
                }
            }
        } catch { throw .fault(error) }
    }

    /// Draws a block of colours, one span store per visible row.
    package func blit(x: Int, y: Int, width: Int, height: Int, pixels: [UInt32]) throws(DrawError) {
        guard width >= 0 && height >= 0 && pixels.count == width * height else {
            throw .pixelCount(width: width, height: height, count: pixels.count)
        }
        guard let area = drawable, let c = Clipping.blit(area, x: x, y: y, width: width, height: height) else { return }
        let layout = layout
        do throws(UserFault) {
            try pixels.withUnsafeBufferPointer { (src) throws(UserFault) in
                for row in 0 ..< c.dst.height {
                    let line = src.baseAddress! + (c.srcY + row) * width + c.srcX
                    try storeRow(address(x: c.dst.x, y: c.dst.y + row), pixels: c.dst.width) { at, first, n in
                        Self.encode(layout, line + first, count: n, into: at)
                    } staged: { dst in
                        Self.encode(layout, line, count: c.dst.width, into: dst)
                    }
                }
            }
        } catch { throw .fault(error) }
    }

    /// Stores one row of `pixels` pixels at `va`, one span store. When `va` is pixel-aligned every page piece holds
    /// whole pixels, and `produce(at, first, n)` encodes pixels `first ..< first + n` straight into the piece;
    /// otherwise `stage` encodes the whole row into the scratch line, which is stored from there. Either way the
    /// same bytes reach the same pages through the same translations.
    @inline(__always)
    private func storeRow(_ va: VirtAddr, pixels: Int,
                          _ produce: (_ at: UnsafeMutableRawPointer, _ first: Int, _ n: Int) -> Void,
                          staged stage: (UnsafeMutableRawPointer) -> Void) throws(UserFault) {
        let bpp = layout.bytesPerPixel
        if va.rawValue % UInt64(bpp) == 0 {
            try task.store(va, count: pixels * bpp) { at, done, n in produce(at, done / bpp, n / bpp) }
        } else {
            stage(scratch.baseAddress!)
            try task.storeBytes(va, UnsafeRawBufferPointer(rebasing: scratch[0 ..< pixels * bpp]))
        }
    }

    /// `layout.encodeRow` out of line: in a function of its own the loop's pointers and count stay in registers
    /// (inside the caller, whose stores can reach any memory, they are reloaded every pixel), so it vectorises.
    @inline(never)
    private static func encode(_ layout: FramebufferLayout, _ pixels: UnsafePointer<UInt32>, count: Int,
                               into dst: UnsafeMutableRawPointer) {
        layout.encodeRow(pixels, count: count, into: dst)
    }

    /// Copies a rectangle within the clip: each row is loaded whole, then stored (overlap-safe).
    package func copy(from source: Rect, toX: Int, toY: Int) throws(DrawError) {
        guard let area = drawable, let c = Clipping.copy(area, from: source, toX: toX, toY: toY) else { return }
        let rowBytes = c.src.width * layout.bytesPerPixel
        let span = UnsafeRawBufferPointer(rebasing: scratch[0 ..< rowBytes])
        let downward = c.dst.y > c.src.y
        do throws(UserFault) {
            for i in 0 ..< c.src.height {
                let row = downward ? c.src.height - 1 - i : i
                let line = try task.loadBytes(address(x: c.src.x, y: c.src.y + row), count: rowBytes)
                line.withUnsafeBytes { scratch.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: rowBytes) }
                try task.storeBytes(address(x: c.dst.x, y: c.dst.y + row), span)
            }
        } catch { throw .fault(error) }
    }

    /// The colour of one pixel (loads only that pixel's bytes), or nil outside the clip.
    package func readPixel(x: Int, y: Int) throws(DrawError) -> UInt32? {
        guard let area = drawable, area.contains(x: x, y: y) else { return nil }
        let va = address(x: x, y: y)
        do throws(UserFault) {
            if layout.bytesPerPixel == 4 { return layout.decode(try task.load32(va)) }
            let lo = UInt32(try task.load8(va)), hi = UInt32(try task.load8(va + 1))
            return layout.decode(hi << 8 | lo)
        } catch { throw .fault(error) }
    }
}
