// SPDX-License-Identifier: MIT — the panel behind a driver: its glass, its controller RAM, the bus cost of a
// transfer on the virtual clock, and the bookkeeping of updates.
import Kernel

/// One update being built by a driver: what it sent so far and what changed on the glass. Public only as a type (a
/// DRM dirty hook is handed one); its members are the drivers' own.
@EmuActor package final class UpdateBuilder {
    let start: VirtualTime
    var pages: [PgOff]
    var rects: [Rect] = []
    var busBytes = 0
    var transfers = 0
    var busTime = VirtualTime.zero
    var changedPixels = 0
    var refresh: EPaperRefresh?
    var diagnostics: [PanelDiagnostic] = []

    init(start: VirtualTime, pages: [PgOff]) {
        self.start = start
        self.pages = pages
    }
}

/// The display device: glass, controller RAM, bus. Drivers read the framebuffer through it, move bytes over its
/// bus (sleeping or charging the CPU for the time) and store what arrives.
///
/// The glass is `width × height` framebuffer pixels (see `PanelProfile.glassSize`); what it shows is kept as
/// 0xAARRGGBB after conversion to the panel's format. For e-paper the controller RAM is separate and reaches the
/// glass only when a waveform runs; for every other panel a store shows at once.
/// Kernel analogue: none (the hardware on the other side of the driver).
@EmuActor package final class Panel {
    package let profile: PanelProfile
    package unowned let info: FBInfo
    package let width: Int
    package let height: Int
    /// What the glass shows: 0xAARRGGBB, row-major, `width × height`.
    package private(set) var image: [UInt32]
    /// E-paper only: the controller RAM, shown by the next refresh over it.
    package private(set) var controllerRAM: [UInt32]?
    package internal(set) var stats: PanelStats
    /// Called after every update with what was sent.
    package var onUpdate: (@EmuActor (PanelUpdate) -> Void)?
    /// The most recent update.
    package private(set) var lastUpdate: PanelUpdate?
    /// Every diagnostic so far, in order.
    package private(set) var diagnostics: [PanelDiagnostic] = []
    /// When an asynchronous bus (USB) finishes what was queued on it.
    private(set) var busFreeAt = VirtualTime.zero
    private var sequence = 0
    private var scratch: [UInt8] = []
    /// The framebuffer's pixel format (RGB565 or XRGB8888) and the bytes one pixel takes (2 or 4).
    let fbFormat: PixelFormat
    let fbBytesPerPixel: Int

    init(profile: PanelProfile, info: FBInfo) {
        self.profile = profile
        self.info = info
        let glass = profile.glassSize(xres: info.variable.xres, yres: info.variable.yres)
        width = glass.width
        height = glass.height
        let layout = info.layout
        fbFormat = layout.format
        fbBytesPerPixel = layout.bytesPerPixel
        image = []
        stats = PanelStats(sustainableFPS: profile.sustainableFPS(layout), busBytesPerSecond: profile.bus.bytesPerSecond)
        // Probe: real drivers push the whole screen once when they register (fbtft_register_framebuffer,
        // dlfb_ops_set_par, broadsheet_init); the glass starts out showing the framebuffer, untimed.
        image = framebufferImage()
        if case .ePaper = profile.refresh { controllerRAM = image }
    }

    var kernel: EmuKernel { info.kernel }
    var sched: Scheduler { info.kernel.sched }

    // MARK: - Pixels

    /// The framebuffer pixel value converted to what this panel shows.
    package func displayed(fbPixel: UInt32) -> UInt32 {
        profile.format.displayed(fbPixel: fbPixel, fbFormat: fbFormat)
    }

    /// Converts `count` framebuffer pixels at `raw` (little endian, the framebuffer's depth) to glass values.
    func convert(_ raw: UnsafeRawPointer, count: Int) -> [UInt32] {
        [UInt32](unsafeUninitializedCapacity: count) { out, initialized in
            convert(raw, count: count, into: out.baseAddress!)
            initialized = count
        }
    }

    /// Converts `count` framebuffer pixels at `raw` (little endian, the framebuffer's depth) into `out`: what the
    /// glass shows for them, as 0xAARRGGBB. The panel format is decided once, not per pixel.
    package func convert(_ raw: UnsafeRawPointer, count: Int, into out: UnsafeMutablePointer<UInt32>) {
        Self.forEachDisplayed(raw, count: count, fbFormat: fbFormat, format: profile.format) {
            out[$0] = $1
        }
    }

    /// Calls `body(i, glass value)` for each of the `count` framebuffer pixels at `raw`, in order; the value is
    /// always `format.displayed(fbPixel:fbFormat:)`. Glass in the framebuffer's own format gets a loop of its own:
    /// a mask for XRGB8888 (the ideal panel), the decode alone for RGB565 (whose encode undoes its decode).
    @inline(__always)
    static func forEachDisplayed(_ raw: UnsafeRawPointer, count: Int, fbFormat: PixelFormat, format: PixelFormat,
                                 _ body: (Int, UInt32) -> Void) {
        @inline(__always) func fb32(_ i: Int) -> UInt32 {
            UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i &<< 2, as: UInt32.self))
        }
        @inline(__always) func fb16(_ i: Int) -> UInt32 {
            UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i &<< 1, as: UInt16.self)))
        }
        switch (fbFormat, format) {
        case (.xrgb8888, .xrgb8888):
            for i in 0 ..< count { body(i, 0xFF00_0000 | fb32(i) & 0x00FF_FFFF) }
        case (.rgb565, .rgb565):
            for i in 0 ..< count { body(i, 0xFF00_0000 | PixelFormat.decodeRGB565(fb16(i))) }
        case (.rgb565, _):
            for i in 0 ..< count { body(i, format.displayed(fbPixel: fb16(i), fbFormat: .rgb565)) }
        default:
            for i in 0 ..< count { body(i, format.displayed(fbPixel: fb32(i), fbFormat: .xrgb8888)) }
        }
    }

    /// Reads `count` pixels of framebuffer row `y` from column `x` (kernel side: the screen buffer in vmalloc
    /// memory) and converts them. The caller keeps `y < yres` and `x + count ≤ xres`.
    func readFramebuffer(row y: Int, x: Int, count: Int) -> [UInt32] {
        precondition(y >= 0 && y < info.variable.yres && x >= 0 && x + count <= info.variable.xres,
                     "framebuffer read outside the visible area")
        guard count > 0 else { return [] }
        let bytes = count * fbBytesPerPixel
        if scratch.count < bytes { scratch = [UInt8](repeating: 0, count: bytes) }
        let offset = y * info.fix.lineLength + x * fbBytesPerPixel
        return scratch.withUnsafeMutableBytes { buf in
            let window = UnsafeMutableRawBufferPointer(rebasing: buf[0 ..< bytes])
            info.readScreen(at: offset, into: window)
            return convert(UnsafeRawPointer(window.baseAddress!), count: count)
        }
    }

    /// The whole framebuffer as the glass would show it.
    func framebufferImage() -> [UInt32] {
        let w = width, h = height
        let columns = min(w, info.variable.xres), rows = min(h, info.variable.yres)
        let bytes = columns * fbBytesPerPixel
        if scratch.count < bytes { scratch = [UInt8](repeating: 0, count: bytes) }
        let blank = profile.format.blank
        // Each pixel written once: converted where the framebuffer covers the glass, blank elsewhere.
        return [UInt32](unsafeUninitializedCapacity: w * h) { out, initialized in
            let dst = out.baseAddress!
            scratch.withUnsafeMutableBytes { buf in
                let window = UnsafeMutableRawBufferPointer(rebasing: buf[0 ..< bytes])
                for y in 0 ..< rows {
                    info.readScreen(at: y * info.fix.lineLength, into: window)
                    convert(UnsafeRawPointer(window.baseAddress!), count: columns, into: dst + y * w)
                    (dst + y * w + columns).initialize(repeating: blank, count: w - columns)
                }
            }
            (dst + rows * w).initialize(repeating: blank, count: (h - rows) * w)
            initialized = w * h
        }
    }

    /// Stores converted pixels at row `y` from column `x` into the controller (e-paper) or straight onto the glass,
    /// counting changed glass pixels into `update`. Pixels outside the glass are dropped.
    func store(row y: Int, x: Int, _ pixels: [UInt32], into update: UpdateBuilder?) {
        pixels.withUnsafeBufferPointer { src in
            storeRow(y: y, x: x, count: src.count, into: update) { src[$0] }
        }
    }

    /// Converts `count` framebuffer pixels at `raw` (little endian, the framebuffer's depth) and stores them at row
    /// `y` from column `x`, like `store(row:x:_:into:)` with `convert(raw, count:)` — in place, without an
    /// intermediate row. Pixels outside the glass are dropped (and not read).
    func store(row y: Int, x: Int, converting raw: UnsafeRawPointer, count: Int, into update: UpdateBuilder?) {
        guard y >= 0, y < height, x < width else { return }
        let first = max(x, 0), last = min(x + count, width)
        guard first < last else { return }
        let src = raw + (first - x) * fbBytesPerPixel
        let fbFormat = self.fbFormat, format = profile.format
        let base = y * width + first
        if controllerRAM != nil {
            controllerRAM!.withUnsafeMutableBufferPointer { ram in
                let dst = ram.baseAddress! + base
                Self.forEachDisplayed(src, count: last - first, fbFormat: fbFormat, format: format) { dst[$0] = $1 }
            }
            return
        }
        var changed = 0
        image.withUnsafeMutableBufferPointer { img in
            let dst = img.baseAddress! + base
            // Stored unconditionally (an unchanged pixel gets its own value again), so the loop has no branch.
            Self.forEachDisplayed(src, count: last - first, fbFormat: fbFormat, format: format) { i, v in
                changed &+= dst[i] != v ? 1 : 0
                dst[i] = v
            }
        }
        update?.changedPixels += changed
    }

    /// The clipped store: `pixel(i)` is the converted value of the pixel at column `x + i`.
    @inline(__always)
    private func storeRow(y: Int, x: Int, count: Int, into update: UpdateBuilder?, _ pixel: (Int) -> UInt32) {
        guard y >= 0, y < height, x < width else { return }
        let first = max(x, 0), last = min(x + count, width)
        guard first < last else { return }
        let base = y * width
        if controllerRAM != nil {
            controllerRAM!.withUnsafeMutableBufferPointer { ram in
                for col in first ..< last { ram[base + col] = pixel(col - x) }
            }
            return
        }
        var changed = 0
        image.withUnsafeMutableBufferPointer { img in
            for col in first ..< last {
                let v = pixel(col - x)
                if img[base + col] != v {
                    img[base + col] = v
                    changed &+= 1
                }
            }
        }
        update?.changedPixels += changed
    }

    // MARK: - The bus

    /// Moves `bytes` bytes in `transfers` transfers over the bus: the driver sleeps for the time (DMA or an
    /// interrupt-driven controller moves the data and other tasks run), or, for a CPU copy, the time is charged to
    /// the CPU. Returns the bus time.
    @discardableResult
    func transfer(bytes: Int, transfers: Int, for update: UpdateBuilder) -> VirtualTime {
        let t = profile.bus.time(bytes: bytes, transfers: transfers)
        account(bytes: bytes, transfers: transfers, time: t, into: update)
        if t > .zero {
            if profile.bus.occupiesCPU {
                sched.chargeInterruptibly(t)
            } else {
                sched.sleep(until: sched.now + t)
            }
        }
        return t
    }

    /// Queues a transfer on an asynchronous bus (USB) without waiting: it starts when the bus is free and the
    /// returned time is when it completes.
    func submit(bytes: Int, transfers: Int, for update: UpdateBuilder) -> VirtualTime {
        let t = profile.bus.time(bytes: bytes, transfers: transfers)
        account(bytes: bytes, transfers: transfers, time: t, into: update)
        busFreeAt = max(busFreeAt, sched.now) + t
        return busFreeAt
    }

    private func account(bytes: Int, transfers: Int, time: VirtualTime, into update: UpdateBuilder) {
        update.busBytes += bytes
        update.transfers += transfers
        update.busTime = update.busTime + time
        stats.busBytes += bytes
        stats.transfers += transfers
        stats.busBusy = stats.busBusy + time
    }

    /// Charges the CPU for driver work (copies into a tx buffer, comparisons, encoding): interruptible at the
    /// ticks it spans, so timers fire and other tasks of the CPU run during a long conversion.
    func chargeCPU(_ cost: VirtualTime) {
        if cost > .zero { sched.chargeInterruptibly(cost) }
    }

    /// Charges a short piece of driver work inside a step that cannot be interrupted (one URB's encoding).
    func chargeCPUAtomically(_ cost: VirtualTime) {
        if cost > .zero { sched.charge(cost) }
    }

    /// Runs an e-paper waveform: the driver waits on the busy line for its duration, then the glass shows the
    /// controller RAM over `region` (the whole glass for a full refresh).
    func runWaveform(_ kind: EPaperRefresh, over region: Rect, for update: UpdateBuilder) {
        guard case .ePaper(let partial, let full, _) = profile.refresh, let ram = controllerRAM else {
            preconditionFailure("\(profile.name) has no e-paper waveform")
        }
        sched.sleep(until: sched.now + (kind == .full ? full : partial))
        let area = kind == .full ? Rect(x: 0, y: 0, width: width, height: height) : region
        let y0 = max(area.y, 0), y1 = min(area.maxY, height)
        let x0 = max(area.x, 0), x1 = min(area.maxX, width)
        var changed = 0
        if y0 < y1 && x0 < x1 {
            for y in y0 ..< y1 {
                for x in x0 ..< x1 where image[y * width + x] != ram[y * width + x] {
                    image[y * width + x] = ram[y * width + x]
                    changed += 1
                }
            }
        }
        update.changedPixels += changed
        update.refresh = kind
        if kind == .full { stats.fullRefreshes += 1 } else { stats.partialRefreshes += 1 }
    }

    // MARK: - Updates

    /// Counts one `deferred_io` call.
    func noteCallback(_ pagerefs: [FBDeferredIOPageref]) {
        stats.callbacks += 1
        stats.pages += pagerefs.count
        if pagerefs.isEmpty { stats.emptyUpdates += 1 }
    }

    func beginUpdate(pages: [PgOff]) -> UpdateBuilder { UpdateBuilder(start: sched.now, pages: pages) }

    /// Records a diagnostic on the update and reports it as a kernel warning.
    func diagnose(_ d: PanelDiagnostic, in update: UpdateBuilder?) {
        update?.diagnostics.append(d)
        diagnostics.append(d)
        stats.diagnostics += 1
        kernel.warn("\(profile.name): \(d)")
    }

    /// Completes an update at `end` (now by default) and reports it.
    func finish(_ u: UpdateBuilder, at end: VirtualTime? = nil) {
        sequence += 1
        let changedBytes = (u.changedPixels * profile.format.bitsPerPixel + 7) / 8
        let update = PanelUpdate(
            sequence: sequence, start: u.start, end: end ?? sched.now, pages: u.pages, rects: u.rects,
            busBytes: u.busBytes, transfers: u.transfers, busTime: u.busTime, changedPixels: u.changedPixels,
            changedBytes: changedBytes, refresh: u.refresh, diagnostics: u.diagnostics)
        stats.updates += 1
        stats.changedPixels += u.changedPixels
        stats.changedBytes += changedBytes
        lastUpdate = update
        onUpdate?(update)
    }

    // MARK: - Streaming a window

    /// Sends the window `rect` of the framebuffer row by row, `rowBytes` wire bytes per row at `wireBits` bits per
    /// pixel, in transfers of at most `chunk` bytes (fbtft's write_vmem, MIPI DBI's memory write, an e-paper RAM
    /// write). Each chunk's pixels are read from the framebuffer when the chunk is copied into the tx buffer (CPU
    /// time) and land in the controller when its transfer ends — unless `snapshot` holds the window's rows as the
    /// driver copied them before the first transfer (MIPI DBI): then the chunks carry those, and writes made to the
    /// framebuffer meanwhile are not sent. Rows of `rect` at or past yres are sent as padding.
    func streamWindow(_ rect: Rect, rowBytes: Int, wireBits: Int, chunk: Int, snapshot: [[UInt32]]? = nil,
                      for update: UpdateBuilder) {
        let total = rect.height * rowBytes
        let pixelsPerRow = min(rect.width, rowBytes * 8 / wireBits)
        var sent = 0
        var stored = 0  // Window pixels (row-major) already in the controller.
        while sent < total {
            let n = min(chunk, total - sent)
            // The pixels whose wire bytes lie entirely in [0, sent + n).
            let end = sent + n
            let covered = (end / rowBytes) * rect.width
                + min(pixelsPerRow, ((end % rowBytes) * 8) / wireBits)
            var pending: [(row: Int, x: Int, pixels: [UInt32])] = []
            var p = stored
            while p < covered {
                let r = p / rect.width, c = p % rect.width
                let run = min(rect.width - c, covered - p)
                let y = rect.y + r
                if y < info.variable.yres {
                    let x0 = rect.x + c
                    let visible = max(0, min(run, info.variable.xres - x0))
                    if visible > 0 {
                        let pixels = snapshot.map { Array($0[r][c ..< c + visible]) }
                            ?? readFramebuffer(row: y, x: x0, count: visible)
                        pending.append((y, x0, pixels))
                    }
                }
                p += run
            }
            if snapshot == nil { chargeCPU(kernel.costs.copy(n)) }
            transfer(bytes: n, transfers: 1, for: update)
            for seg in pending { store(row: seg.row, x: seg.x, seg.pixels, into: update) }
            stored = covered
            sent = end
        }
    }
}

// MARK: - Full-frame cost (what the bus allows)

extension PanelProfile {
    /// Time of one full-frame update of a framebuffer of `layout` through this profile's driver and bus: the figure
    /// a driver writer sizes a panel by (udlfb: worst case, every pixel changed and no runs; e-paper: with the full
    /// waveform).
    package func fullFrameTime(_ layout: FramebufferLayout) -> VirtualTime { driver.fullFrameTime(self, layout) }

    /// Full-frame updates per second the bus allows (infinite when the update costs nothing).
    package func sustainableFPS(_ layout: FramebufferLayout) -> Double {
        let t = fullFrameTime(layout)
        return t.picoseconds == 0 ? .infinity : 1e12 / Double(t.picoseconds)
    }
}

extension Bus {
    /// Time for `total` bytes sent in transfers of at most `chunk` bytes, one after the other.
    func time(bytes total: Int, inChunksOf chunk: Int) -> VirtualTime {
        var t = VirtualTime.zero
        var sent = 0
        while sent < total {
            let n = min(chunk, total - sent)
            t = t + time(bytes: n, transfers: 1)
            sent += n
        }
        return t
    }
}
