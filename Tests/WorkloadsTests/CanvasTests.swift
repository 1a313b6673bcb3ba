// SPDX-License-Identifier: MIT — the canvases against a naive per-pixel model, and the mapped canvas against the
// plain one through the emulated MMU.
import Kernel
import Testing
@testable import Workloads
import TestSupport

/// A naive model of a canvas: one encoded value per pixel, and clipping by testing every pixel.
struct PixelModel {
    let layout: FramebufferLayout
    let clip: Rect
    var values: [UInt32]
    let padding: UInt8

    init(layout: FramebufferLayout, clip: Rect, fill: UInt8) {
        self.layout = layout
        self.clip = clip
        padding = fill
        let v = layout.format.bitsPerPixel == 32 ? UInt32(fill) * 0x0101_0101 : UInt32(fill) * 0x0101
        values = Array(repeating: v, count: layout.width * layout.height)
    }

    func inside(_ x: Int, _ y: Int) -> Bool { clip.contains(x: x, y: y) && layout.screen.contains(x: x, y: y) }

    mutating func fill(_ r: Rect, _ rgb: UInt32) {
        for y in 0 ..< layout.height {
            for x in 0 ..< layout.width where inside(x, y) && r.contains(x: x, y: y) {
                values[y * layout.width + x] = layout.format.encode(rgb: rgb)
            }
        }
    }

    mutating func blit(_ x0: Int, _ y0: Int, _ w: Int, _ h: Int, _ pixels: [UInt32]) {
        for j in 0 ..< h {
            for i in 0 ..< w where inside(x0 + i, y0 + j) {
                values[(y0 + j) * layout.width + x0 + i] = layout.format.encode(rgb: pixels[j * w + i])
            }
        }
    }

    mutating func copy(_ s: Rect, _ toX: Int, _ toY: Int) {
        let before = values
        for j in 0 ..< max(0, s.height) {
            for i in 0 ..< max(0, s.width) {
                let sx = s.x + i, sy = s.y + j, dx = toX + i, dy = toY + j
                if inside(sx, sy) && inside(dx, dy) {
                    values[dy * layout.width + dx] = before[sy * layout.width + sx]
                }
            }
        }
    }

    func readPixel(_ x: Int, _ y: Int) -> UInt32? {
        inside(x, y) ? layout.format.decode(values[y * layout.width + x]) : nil
    }

    /// The framebuffer bytes the model stands for (line padding keeps its fill byte).
    var bytes: [UInt8] {
        var out = [UInt8](repeating: padding, count: layout.byteCount)
        let bpp = layout.bytesPerPixel
        for y in 0 ..< layout.height {
            for x in 0 ..< layout.width {
                let v = values[y * layout.width + x], o = layout.offset(x: x, y: y)
                for b in 0 ..< bpp { out[o + b] = UInt8(truncatingIfNeeded: v >> UInt32(8 * b)) }
            }
        }
        return out
    }
}

/// One drawing operation, for random sequences.
enum CanvasOp {
    case plot(Int, Int, UInt32)
    case fill(Rect, UInt32)
    case blit(Int, Int, Int, Int, [UInt32])
    case copy(Rect, Int, Int)
    case read(Int, Int)

    /// A random operation reaching `margin` pixels beyond a `w` × `h` screen on every side.
    static func random(_ rng: inout SplitMix64, w: Int, h: Int, margin: Int) -> CanvasOp {
        func coord(_ n: Int) -> Int { rng.below(n + 2 * margin) - margin }
        func colour() -> UInt32 { UInt32(truncatingIfNeeded: rng.next()) & 0xFF_FFFF }
        switch rng.below(5) {
        case 0: return .plot(coord(w), coord(h), colour())
        case 1: return .fill(Rect(x: coord(w), y: coord(h), width: rng.below(w), height: rng.below(h / 2 + 1)),
                             colour())
        case 2:
            let bw = rng.below(w / 2 + 1), bh = rng.below(h / 3 + 1)
            return .blit(coord(w), coord(h), bw, bh, (0 ..< bw * bh).map { _ in colour() })
        case 3: return .copy(Rect(x: coord(w), y: coord(h), width: rng.below(w), height: rng.below(h)), coord(w),
                             coord(h))
        default: return .read(coord(w), coord(h))
        }
    }

    /// Applies the operation; returns what a read saw.
    @EmuActor func apply(to canvas: some Canvas) throws -> UInt32?? {
        switch self {
        case .plot(let x, let y, let c): try canvas.plot(x: x, y: y, rgb: c)
        case .fill(let r, let c): try canvas.fill(r, rgb: c)
        case .blit(let x, let y, let w, let h, let p): try canvas.blit(x: x, y: y, width: w, height: h, pixels: p)
        case .copy(let r, let x, let y): try canvas.copy(from: r, toX: x, toY: y)
        case .read(let x, let y): return .some(try canvas.readPixel(x: x, y: y))
        }
        return .none
    }

    func apply(to model: inout PixelModel) -> UInt32?? {
        switch self {
        case .plot(let x, let y, let c): model.fill(Rect(x: x, y: y, width: 1, height: 1), c)
        case .fill(let r, let c): model.fill(r, c)
        case .blit(let x, let y, let w, let h, let p): model.blit(x, y, w, h, p)
        case .copy(let r, let x, let y): model.copy(r, x, y)
        case .read(let x, let y): return .some(model.readPixel(x, y))
        }
        return .none
    }
}

@Suite struct CanvasTests {
    static let clips = [Rect(x: 0, y: 0, width: 6, height: 4), Rect(x: 1, y: 1, width: 3, height: 2),
                        Rect(x: -1, y: 2, width: 4, height: 5)]

    /// A 6×4 canvas with padded lines whose pixels all differ.
    @EmuActor func patterned(_ format: PixelFormat, clip: Rect) throws -> (PlainCanvas, PixelModel) {
        let layout = FramebufferLayout(width: 6, height: 4, format: format, lineLength: 6 * format.bitsPerPixel / 8 + 5)
        let canvas = PlainCanvas(layout: layout, clip: layout.screen, filling: 0xA5)
        var model = PixelModel(layout: layout, clip: layout.screen, fill: 0xA5)
        let pattern = (0 ..< 24).map { UInt32($0) * 0x0A_1B2C + 0x10_2030 }
        try canvas.blit(x: 0, y: 0, width: 6, height: 4, pixels: pattern)
        model.blit(0, 0, 6, 4, pattern)
        canvas.clip = clip
        return (canvas, PixelModel(layout: layout, clip: clip, fill: 0xA5, values: model.values))
    }

    /// Every fill rectangle with corner in [-1, 5]² and sides up to 4, under three clips, in both formats.
    @Test(arguments: [PixelFormat.rgb565, .xrgb8888]) @EmuActor func fillMatchesModelExhaustively(
        format: PixelFormat) throws {
        for clip in Self.clips {
            for x in -1 ... 5 { for y in -1 ... 5 { for w in 0 ... 4 { for h in 0 ... 4 {
                var (canvas, model) = try patterned(format, clip: clip)
                let r = Rect(x: x, y: y, width: w, height: h)
                try canvas.fill(r, rgb: 0x12_3456)
                model.fill(r, 0x12_3456)
                #expect(canvas.bytes == model.bytes, "fill \(r) clip \(clip)")
            } } } }
        }
    }

    /// Every copy of a small source to every nearby destination (overlapping ones included) under three clips.
    @Test(arguments: [PixelFormat.rgb565, .xrgb8888]) @EmuActor func copyMatchesModelExhaustively(
        format: PixelFormat) throws {
        for clip in Self.clips {
            for sx in -1 ... 3 { for sy in -1 ... 2 { for w in 1 ... 3 { for h in 1 ... 3 {
                for tx in -1 ... 3 { for ty in -1 ... 2 {
                    var (canvas, model) = try patterned(format, clip: clip)
                    let r = Rect(x: sx, y: sy, width: w, height: h)
                    try canvas.copy(from: r, toX: tx, toY: ty)
                    model.copy(r, tx, ty)
                    #expect(canvas.bytes == model.bytes, "copy \(r) to (\(tx), \(ty)) clip \(clip)")
                } }
            } } } }
        }
    }

    /// Blits at every position around the canvas, plots and reads of every pixel around it.
    @Test(arguments: [PixelFormat.rgb565, .xrgb8888]) @EmuActor func blitPlotAndReadMatchModel(
        format: PixelFormat) throws {
        let block: [UInt32] = (0 ..< 6).map { 0x80_4020 &+ UInt32($0) &* 0x01_0305 }
        for clip in Self.clips {
            for x in -3 ... 6 { for y in -2 ... 4 {
                var (canvas, model) = try patterned(format, clip: clip)
                try canvas.blit(x: x, y: y, width: 3, height: 2, pixels: block)
                model.blit(x, y, 3, 2, block)
                try canvas.plot(x: y + 1, y: x, rgb: 0xFE_DCBA)
                model.fill(Rect(x: y + 1, y: x, width: 1, height: 1), 0xFE_DCBA)
                #expect(canvas.bytes == model.bytes, "blit at (\(x), \(y)) clip \(clip)")
                #expect(try canvas.readPixel(x: x, y: y) == model.readPixel(x, y))
            } }
        }
    }

    /// Random operation sequences reaching past every edge: a MappedCanvas in a process whose mapping covers only the
    /// rows of its clip (at a non-zero file offset) leaves exactly the bytes a PlainCanvas and the model do, reads
    /// the same pixels, and never faults outside its mapping. Lines are padded by 6 bytes, so XRGB8888 pixels are
    /// misaligned on odd rows and some straddle a page boundary (the stores' byte-by-byte slow path; the rows of
    /// their blits and fills go through the staging line, those of the other rows straight into the pages).
    @Test(arguments: [PixelFormat.rgb565, .xrgb8888]) @EmuActor func mappedCanvasMatchesPlainCanvas(
        format: PixelFormat) throws {
        let layout = FramebufferLayout(width: 64, height: 80, format: format, lineLength: 64 * format.bitsPerPixel / 8 + 6)
        let clip = Rect(x: 5, y: 40, width: 50, height: 20)
        #expect(layout.pageRange(of: clip).lowerBound > 0)
        var rng = SplitMix64(seed: 42 + UInt64(format.bitsPerPixel))
        let ops = (0 ..< 300).map { _ in CanvasOp.random(&rng, w: 64, h: 80, margin: 12) }

        let plain = PlainCanvas(layout: layout, clip: clip, filling: 0x5A)
        var model = PixelModel(layout: layout, clip: clip, fill: 0x5A)
        var plainReads: [UInt32?] = []
        for op in ops {
            if let r = try op.apply(to: plain) { plainReads.append(r) }
            if let r = op.apply(to: &model) { #expect(r == plainReads.last) }
        }
        let modelAgrees = plain.bytes == model.bytes
        #expect(modelAgrees, "the PlainCanvas differs from the model")

        let k = EmuKernel(policy: .roundRobin(quantum: .us(5)), ramPages: 4096)
        let pages = pageAlign(layout.byteCount) >> PAGE_SHIFT
        let dev = ScratchDevice(k, pages: pages)
        [UInt8](repeating: 0x5A, count: pages * PAGE_SIZE).withUnsafeBytes { k.vmalloc.write(dev.base, $0) }
        let reads = Box<[UInt32?]>([])
        k.spawnProcess("drawer") { t in
            let fd = try t.open(dev.inode)
            let canvas = try MappedCanvas.map(task: t, fd: fd, layout: layout, clip: clip)
            for op in ops { if let r = try op.apply(to: canvas) { reads.value.append(r) } }
        }
        #expect(k.sched.run() == .completed)
        #expect(k.processes[0].exitStatus == .exited)
        #expect(reads.value == plainReads)
        var device = [UInt8](repeating: 0, count: layout.byteCount)
        device.withUnsafeMutableBytes { k.vmalloc.read(dev.base, into: $0) }
        let identical = device == plain.bytes
        #expect(identical, "the device differs from the PlainCanvas")
    }

    /// Deferred overwrites (plasma on a PlainCanvas) leave exactly the bytes, and give exactly the reads, of drawing
    /// every frame at once: two plasmas in overlapping clips (one reaching past the screen), their frames mixed with
    /// random canvas operations and clip changes. A run of frames with nothing between them keeps one drawing.
    @Test(arguments: [PixelFormat.rgb565, .xrgb8888]) @EmuActor func deferredOverwritesMatchDrawingEveryFrame(
        format: PixelFormat) throws {
        let layout = FramebufferLayout(width: 96, height: 64, format: format, lineLength: 96 * format.bitsPerPixel / 8 + 6)
        let assets = try sharedAssets.get()
        let clips = [Rect(x: -8, y: 0, width: 120, height: 40), Rect(x: 20, y: 30, width: 50, height: 34)]
        func plasmas() -> [PlasmaWorkload] {
            clips.enumerated().map { i, clip in
                PlasmaWorkload(seed: 7 + UInt64(i), clip: clip, screenWidth: 96, screenHeight: 64, assets: assets)
            }
        }
        let deferred = PlainCanvas(layout: layout, filling: 0x3C)
        let eager = Forwarding(PlainCanvas(layout: layout, filling: 0x3C))
        let (a, b) = (plasmas(), plasmas())
        var frames = [0, 0]
        var rng = SplitMix64(seed: 99 + UInt64(format.bitsPerPixel))
        var looks = 0
        for _ in 0 ..< 200 {
            switch rng.below(8) {
            case 0:
                looks += 1
                let same = deferred.bytes == eager.inner.bytes
                #expect(same, "deferred frames differ from frames drawn at once (look \(looks))")
            case 1, 2, 3:
                let i = rng.below(10) < 7 ? 0 : 1
                try a[i].drawFrame(frames[i], on: deferred)
                try b[i].drawFrame(frames[i], on: eager)
                frames[i] += 1
            case 4:
                let clip = rng.below(2) == 0 ? layout.screen : Rect(x: rng.below(48), y: rng.below(32), width: 48,
                                                                   height: 32)
                deferred.clip = clip
                eager.inner.clip = clip
            default:
                let op = CanvasOp.random(&rng, w: 96, h: 64, margin: 8)
                let r1 = try op.apply(to: deferred), r2 = try op.apply(to: eager)
                #expect(r1 == r2)
            }
        }
        #expect(frames.allSatisfy { $0 > 5 } && looks > 5)
        let identical = deferred.bytes == eager.inner.bytes
        #expect(identical, "deferred frames differ from frames drawn at once")
        deferred.clip = layout.screen
        eager.inner.clip = layout.screen
        for n in frames[0] ..< frames[0] + 5 { try a[0].drawFrame(n, on: deferred) }
        #expect(deferred.deferredCount == 1)
        for n in frames[0] ..< frames[0] + 5 { try b[0].drawFrame(n, on: eager) }
        let stillIdentical = deferred.bytes == eager.inner.bytes
        #expect(stillIdentical)
        #expect(deferred.deferredCount == 0)
    }

    /// A canvas whose clip lies off the screen draws nothing and reads nothing.
    @Test @EmuActor func clipOffScreenDrawsNothing() throws {
        let layout = FramebufferLayout(width: 8, height: 8, format: .xrgb8888)
        let canvas = PlainCanvas(layout: layout, clip: Rect(x: 8, y: 0, width: 4, height: 4), filling: 7)
        #expect(canvas.drawable == nil)
        try canvas.fill(layout.screen, rgb: 0xFF_FFFF)
        try canvas.plot(x: 8, y: 0, rgb: 0xFF_FFFF)
        try canvas.copy(from: layout.screen, toX: 1, toY: 1)
        try canvas.blit(x: 0, y: 0, width: 1, height: 1, pixels: [0])
        #expect(try canvas.readPixel(x: 8, y: 0) == nil)
        #expect(canvas.bytes.allSatisfy { $0 == 7 })
    }
}

extension PixelModel {
    init(layout: FramebufferLayout, clip: Rect, fill: UInt8, values: [UInt32]) {
        self.init(layout: layout, clip: clip, fill: fill)
        self.values = values
    }
}

/// A canvas that only forwards to a PlainCanvas: a workload drawing on it cannot tell it is plain, so it draws every
/// frame at once.
@EmuActor final class Forwarding: Canvas {
    let inner: PlainCanvas
    init(_ inner: PlainCanvas) { self.inner = inner }
    var layout: FramebufferLayout { inner.layout }
    var clip: Rect { inner.clip }
    func plot(x: Int, y: Int, rgb: UInt32) throws(DrawError) { try inner.plot(x: x, y: y, rgb: rgb) }
    func fill(_ rect: Rect, rgb: UInt32) throws(DrawError) { try inner.fill(rect, rgb: rgb) }
    func blit(x: Int, y: Int, width: Int, height: Int, pixels: [UInt32]) throws(DrawError) {
        try inner.blit(x: x, y: y, width: width, height: height, pixels: pixels)
    }
    func copy(from source: Rect, toX: Int, toY: Int) throws(DrawError) {
        try inner.copy(from: source, toX: toX, toY: toY)
    }
    func readPixel(x: Int, y: Int) throws(DrawError) -> UInt32? { try inner.readPixel(x: x, y: y) }
}
