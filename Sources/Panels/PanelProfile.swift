// SPDX-License-Identifier: MIT — display devices behind fb_defio: what a panel is, which bus feeds it, and how fast.
// Figures cite their source: research/peers.md (§3) and kernel-spec.md (§7); "(derived)" marks arithmetic from cited
// inputs, "(assumed)" an order of magnitude chosen here where no source gives one.
import Kernel

/// What a panel's glass makes of the pixels it is sent. The glass has a `PixelFormat` too — RGB565 or XRGB8888
/// colour, 1 bpp mono, grey levels — which the driver converts the framebuffer's pixels to.
/// Kernel analogue: the DRM fourcc / fbdev bitfields of the panel side (DRM_FORMAT_RGB565, XRGB8888, R1).
extension PixelFormat {
    /// What a pixel of this glass shows before anything was ever sent: dark for emissive glass, white for e-paper.
    package var blank: UInt32 {
        switch self {
        case .grey: 0xFFFF_FFFF
        default: 0xFF00_0000
        }
    }

    /// The framebuffer pixel `value` (as stored in memory in `fbFormat`, RGB565 or XRGB8888) converted to what this
    /// glass shows, as 0xAARRGGBB: decoded, encoded in the glass's format (what drm_fb_xrgb8888_to_rgb565 and the
    /// mono and grey conversions send), and decoded again as the glass shows it.
    @inline(__always) package func displayed(fbPixel value: UInt32, fbFormat: PixelFormat) -> UInt32 {
        0xFF00_0000 | decode(encode(rgb: fbFormat.decode(value)))
    }
}

/// The link between the driver and the panel, and what one transfer on it costs in virtual time.
/// Kernel analogue: none (a cost model of spi_sync(), i2c_transfer(), usb_submit_urb(), memcpy_toio()).
package struct Bus: Sendable, Equatable, CustomStringConvertible {
    package enum Kind: String, Sendable {
        /// SPI: 8 clocks per byte; spi_sync() sleeps while DMA or the controller's interrupt moves the data.
        case spi
        /// I2C: 9 clocks per byte (8 data + ACK), plus start, address byte and stop per message.
        case i2c
        /// USB 2.0 high-speed bulk: URBs complete asynchronously, the driver sleeps only for a free URB.
        case usb2
        /// A CPU copy into device or host-visible memory (memcpy): the CPU is busy for the whole time.
        case memory
        /// No cost at all (the `ideal` panel).
        case none
    }
    package let kind: Kind
    /// Bits per second: the clock for SPI and I2C, the payload rate for USB bulk, 8 × the copy bandwidth for memory.
    package let bitsPerSecond: Int64
    /// Bit times per payload byte.
    package let bitsPerByte: Int
    /// Extra bit times per transfer (I2C: start, address byte with its ACK, stop).
    package let framingBitsPerTransfer: Int
    /// Fixed software and controller cost of one transfer (spi_sync set-up, i2c_transfer, URB round trip, message).
    package let perTransfer: VirtualTime

    package init(kind: Kind, bitsPerSecond: Int64, bitsPerByte: Int = 8, framingBitsPerTransfer: Int = 0,
                perTransfer: VirtualTime = .zero) {
        precondition(kind == .none || bitsPerSecond > 0, "a bus needs a rate")
        self.kind = kind
        self.bitsPerSecond = bitsPerSecond
        self.bitsPerByte = bitsPerByte
        self.framingBitsPerTransfer = framingBitsPerTransfer
        self.perTransfer = perTransfer
    }

    package static func spi(hz: Int64, perTransfer: VirtualTime) -> Bus {
        Bus(kind: .spi, bitsPerSecond: hz, perTransfer: perTransfer)
    }
    package static func i2c(hz: Int64, perTransfer: VirtualTime) -> Bus {
        Bus(kind: .i2c, bitsPerSecond: hz, bitsPerByte: 9, framingBitsPerTransfer: 11, perTransfer: perTransfer)
    }
    package static let none = Bus(kind: .none, bitsPerSecond: 0)

    /// Whether the CPU does the transfer itself (charged) rather than sleeping while a controller does it.
    package var occupiesCPU: Bool { kind == .memory }

    /// Payload bytes per second the bus can carry; nil when unlimited.
    package var bytesPerSecond: Int64? { kind == .none ? nil : bitsPerSecond / Int64(bitsPerByte) }

    /// Time for `bytes` payload bytes in `transfers` transfers, rounded up to the next picosecond.
    package func time(bytes: Int, transfers: Int) -> VirtualTime {
        guard kind != .none else { return .zero }
        let bits = Int64(bytes) * Int64(bitsPerByte) + Int64(transfers) * Int64(framingBitsPerTransfer)
        let wide = bits.multipliedFullWidth(by: 1_000_000_000_000)
        let (q, r) = bitsPerSecond.dividingFullWidth(wide)
        let wire = q + (r > 0 ? 1 : 0)
        return VirtualTime(picoseconds: wire + Int64(transfers) * perTransfer.picoseconds)
    }

    package var description: String {
        switch kind {
        case .spi: "SPI \(Self.hertz(bitsPerSecond))"
        case .i2c: "I2C \(Self.hertz(bitsPerSecond))"
        case .usb2: "USB 2.0 bulk (\(bitsPerSecond / 8_000_000) MB/s)"
        case .memory: "memcpy (\(bitsPerSecond / 8_000_000_000) GB/s)"
        case .none: "none"
        }
    }

    static func hertz(_ hz: Int64) -> String {
        if hz % 1_000_000 == 0 { return "\(hz / 1_000_000) MHz" }
        if hz >= 1_000_000 {
            let centi = (hz + 5_000) / 10_000  // MHz with two decimals, rounded
            return "\(centi / 100).\(String(centi % 100).leftPadded(2)) MHz"
        }
        return "\(hz / 1000) kHz"
    }
}

/// How the glass takes up what the controller received. Kernel analogue: none (panel physics).
package enum RefreshModel: Sendable, Equatable {
    /// The glass shows the controller's RAM continuously (LCD, OLED, monitors).
    case continuous
    /// E-paper: the glass changes only when a waveform runs over it (the driver waits for the panel's busy line);
    /// after `fullEvery` partial refreshes the next one is a full refresh, to clear ghosting.
    case ePaper(partial: VirtualTime, full: VirtualTime, fullEvery: Int)
}

/// One e-paper waveform. Kernel analogue: broadsheetfb's update modes (area vs. full, BS_CMD_UPD_*).
package enum EPaperRefresh: String, Sendable, Equatable {
    case partial, full
}

/// The driver callback styles of kernel-spec.md §7: how a driver turns the page list into bus traffic.
/// Kernel analogue: the families of `fb_deferred_io.deferred_io` implementations.
package enum CallbackStyle: String, Sendable, CaseIterable {
    /// Copy each listed page, then one dirty rectangle of the bounding rows (xen-fbfront, hyperv_fb).
    case perPage = "per-page"
    /// A window of whole rows covering every listed page (fbtft).
    case lineRange = "line-range"
    /// `[min offset, max offset + PAGE_SIZE)` as one clip, pushed by a damage worker (DRM fbdev emulation).
    case boundingBox = "bounding-box"
    /// Each page compared with a shadow copy; only changed pixels are sent (udlfb).
    case shadowDiff = "shadow-diff"
    /// The list is ignored: the whole screen is sent (ssd1307fb, hecubafb).
    case fullScreen = "full-screen"
    /// Runs of consecutive pages become row ranges, one panel update per run (broadsheetfb).
    case pageRuns = "page-runs"
}

/// The fb_defio delay as the real driver computes it. Kernel: each driver's `fbdefio->delay`.
package enum DefIODelay: Sendable, Equatable, CustomStringConvertible {
    /// `HZ / n` in C integer division (DRM, xen-fbfront, hyperv_fb: HZ/20; broadsheetfb: HZ/4; ssd1307fb:
    /// HZ/refreshrate).
    case hzDividedBy(Int64)
    /// fbtft: `HZ / fps`, integer division (an fps above HZ gives 0, which fb_deferred_io_init turns into HZ).
    case fbtftFPS(Int64)
    /// `msecs_to_jiffies(ms)` (rounds up).
    case msecs(Int64)
    /// udlfb's `DL_DEFIO_WRITE_DELAY`: `msecs_to_jiffies(HZ <= 300 ? 4 : 10)` — "optimal value for 720p video".
    case udlfb

    /// The delay the driver stores in `fbdefio->delay` at this tick rate (may be 0).
    package func jiffies(at rate: TickRate) -> Jiffies {
        switch self {
        case .hzDividedBy(let n), .fbtftFPS(let n): Jiffies(rate.hz / n)
        case .msecs(let ms): rate.msecsToJiffies(ms)
        case .udlfb: rate.msecsToJiffies(rate.hz <= 300 ? 4 : 10)
        }
    }

    /// What `fb_deferred_io_init` leaves in `fbdefio->delay`: 0 becomes HZ (one second).
    /// Kernel: fb_deferred_io_init() — drivers/video/fbdev/core/fb_defio.c
    package func effectiveJiffies(at rate: TickRate) -> Jiffies {
        let j = jiffies(at: rate)
        return j.rawValue == 0 ? Jiffies(rate.hz) : j
    }

    package var description: String {
        switch self {
        case .hzDividedBy(let n): n == 1 ? "HZ" : "HZ/\(n)"
        case .fbtftFPS(let fps): "HZ/fps (fps=\(fps))"
        case .msecs(let ms): "msecs_to_jiffies(\(ms))"
        case .udlfb: "msecs_to_jiffies(HZ <= 300 ? 4 : 10)"
        }
    }
}

/// A display device behind the driver's `deferred_io` callback: the glass, the bus, the driver that feeds it.
///
/// Geometry: a profile's native resolution is the glass. The framebuffer is normally created at that size; if it is
/// not, a panel with `modeSettable` (monitors, hypervisor consoles, firmware framebuffers) takes the framebuffer's
/// mode, and a fixed panel shows the top-left `min(xres, width) × min(yres, height)` part — pixels
/// outside it are sent (and cost bus time) but never shown.
/// Kernel analogue: a driver's probe-time description of its panel (fbtft_display, a DRM panel's mode and bus).
package struct PanelProfile: Sendable, Equatable, Identifiable {
    /// The command-line id, e.g. `ili9341-spi32`.
    package let name: String
    package let summary: String
    /// The native resolution (the glass), in pixels.
    package let width: Int
    package let height: Int
    /// The glass follows the framebuffer's mode instead of cropping it.
    package let modeSettable: Bool
    package let format: PixelFormat
    package let bus: Bus
    /// Command bytes (and the transfers they take) to open one update window (fbtft's set_addr_win, MIPI DCS
    /// 0x2A/0x2B/0x2C, an e-paper controller's RAM window and update commands; for SSD1306 the column and page
    /// range commands).
    package let commandBytes: Int
    package let commandTransfers: Int
    /// The largest single transfer: fbtft's tx buffer, a MIPI DBI SPI chunk, a USB URB, spidev's buffer.
    package let maxTransferBytes: Int
    package let refresh: RefreshModel
    /// The driver that feeds the panel (registered in `PanelDrivers.all`).
    package let driver: any PanelDriver.Type
    package let delay: DefIODelay
    /// `fbdefio->sort_pagereflist` of the real driver.
    package let sortPagereflist: Bool
    /// The depth a framebuffer for this panel is normally created with (16 = RGB565, 32 = XRGB8888).
    package let defaultFramebufferBPP: Int
    /// CPU time per pixel the driver spends encoding (udlfb's RLX compression); zero for drivers that only copy.
    package let encodePerPixel: VirtualTime
    /// DRM drivers: the frame duration of the CRTC's vblank — a hardware interrupt or a DRM vblank timer at the
    /// mode's refresh — with vblank k at k × `vblank` from boot. nil when the driver never calls drm_vblank_init
    /// (simpledrm, the MIPI DBI drivers): drm_crtc_vblank_get() fails and nothing waits for a vblank.
    /// Kernel: drm_vblank_crtc.framedur_ns — drivers/gpu/drm/drm_vblank.c
    package let vblank: VirtualTime?

    package var id: String { name }
    package var style: CallbackStyle { driver.style }

    /// Equal when every field is; drivers by identity.
    package static func == (a: PanelProfile, b: PanelProfile) -> Bool {
        a.name == b.name && a.summary == b.summary && a.width == b.width && a.height == b.height
            && a.modeSettable == b.modeSettable && a.format == b.format && a.bus == b.bus
            && a.commandBytes == b.commandBytes && a.commandTransfers == b.commandTransfers
            && a.maxTransferBytes == b.maxTransferBytes && a.refresh == b.refresh
            && ObjectIdentifier(a.driver) == ObjectIdentifier(b.driver) && a.delay == b.delay
            && a.sortPagereflist == b.sortPagereflist && a.defaultFramebufferBPP == b.defaultFramebufferBPP
            && a.encodePerPixel == b.encodePerPixel && a.vblank == b.vblank
    }

    package init(name: String, summary: String, width: Int, height: Int, modeSettable: Bool,
                format: PixelFormat, bus: Bus, commandBytes: Int, commandTransfers: Int, maxTransferBytes: Int,
                refresh: RefreshModel, driver: any PanelDriver.Type, delay: DefIODelay, sortPagereflist: Bool,
                defaultFramebufferBPP: Int, encodePerPixel: VirtualTime = .zero, vblank: VirtualTime? = nil) {
        precondition(defaultFramebufferBPP == 16 || defaultFramebufferBPP == 32)
        precondition(maxTransferBytes > 0)
        precondition(vblank.map { $0 > .zero } ?? true, "a vblank needs a period")
        self.name = name
        self.summary = summary
        self.width = width
        self.height = height
        self.modeSettable = modeSettable
        self.format = format
        self.bus = bus
        self.commandBytes = commandBytes
        self.commandTransfers = commandTransfers
        self.maxTransferBytes = maxTransferBytes
        self.refresh = refresh
        self.driver = driver
        self.delay = delay
        self.sortPagereflist = sortPagereflist
        self.defaultFramebufferBPP = defaultFramebufferBPP
        self.encodePerPixel = encodePerPixel
        self.vblank = vblank
    }

    /// The same panel behind a CRTC with (or, for nil, without) vblanks of period `vblank`: what a driver that
    /// sets up vblank interrupts or a DRM vblank timer would have.
    package func withVBlank(_ vblank: VirtualTime?) -> PanelProfile {
        PanelProfile(name: name, summary: summary, width: width, height: height,
                     modeSettable: modeSettable, format: format, bus: bus, commandBytes: commandBytes,
                     commandTransfers: commandTransfers, maxTransferBytes: maxTransferBytes, refresh: refresh,
                     driver: driver, delay: delay, sortPagereflist: sortPagereflist,
                     defaultFramebufferBPP: defaultFramebufferBPP, encodePerPixel: encodePerPixel, vblank: vblank)
    }

    /// The glass size for a framebuffer of `xres × yres`.
    package func glassSize(xres: Int, yres: Int) -> (width: Int, height: Int) {
        modeSettable ? (xres, yres) : (min(xres, width), min(yres, height))
    }

    package static func named(_ name: String) -> PanelProfile? { all.first { $0.name == name } }
    package static var names: [String] { all.map(\.name) }

    /// Full-frame updates per second at the native resolution and default depth.
    package var nativeSustainableFPS: Double {
        sustainableFPS(FramebufferLayout(width: width, height: height,
                                         format: PixelFormat(bitsPerPixel: defaultFramebufferBPP)!))
    }

    /// The profile table of `fbdefio-emu panels`: one fixed-width line per profile, in `all` order, then a legend.
    package static func table(tickRate: TickRate) -> String {
        let header = ["PANEL", "RESOLUTION", "FORMAT", "BUS", "STYLE", "DRIVER", "DELAY", "MAX FPS"]
        var rows: [[String]] = [header]
        for p in all {
            let j = p.delay.effectiveJiffies(at: tickRate)
            rows.append([
                p.name, "\(p.width)x\(p.height)\(p.modeSettable ? "*" : "")", p.format.description, p.bus.description,
                p.style.rawValue, p.driver.name,
                "\(p.delay) = \(j.rawValue)j (\(tickRate.jiffiesToMsecs(j)) ms)", PanelStats.format(p.nativeSustainableFPS),
            ])
        }
        var widths = [Int](repeating: 0, count: header.count)
        for row in rows {
            for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) }
        }
        var lines = rows.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
            }.joined(separator: "  ")
        }
        lines.append("")
        lines.append("* the glass takes the framebuffer's mode. DELAY: fbdefio->delay as the driver computes it at "
            + "HZ=\(tickRate.hz). MAX FPS: full-frame updates per second the bus allows at the native resolution.")
        for p in all { lines.append("\(p.name): \(p.summary)") }
        return lines.joined(separator: "\n")
    }

    // MARK: - The table

    /// ILI9341 320×240 RGB565 on SPI driven by fbtft (fb_ili9341): fbtft's default 20 fps (HZ/20), sorted list,
    /// the driver's 16 KiB tx buffer for the byte swap (one spi_sync per 16 KiB: 10 for a full frame),
    /// set_addr_win = 0x2A+4, 0x2B+4, 0x2C = 11 bytes in 5 transfers (command and data phases of write_reg8_bus8).
    /// kernel-spec.md §7 (fbtft row) and §12; peers.md §3.1, §3.2. Per-transfer cost 20 µs: kernel-spec.md §7 gives
    /// 10–50 µs per spi_sync.
    static func ili9341(mhzName: String, hz: Int64, source: String) -> PanelProfile {
        PanelProfile(
            name: "ili9341-spi\(mhzName)",
            summary: "ILI9341 320x240 RGB565 on SPI \(Bus.hertz(hz)) via fbtft (line range; \(source))",
            width: 320, height: 240, modeSettable: false, format: .rgb565,
            bus: .spi(hz: hz, perTransfer: .us(20)),
            commandBytes: 11, commandTransfers: 5, maxTransferBytes: fbIli9341TxbufLen,
            refresh: .continuous, driver: FBTFTDeferredIO.self, delay: .fbtftFPS(20), sortPagereflist: true,
            defaultFramebufferBPP: 16)
    }

    /// fb_ili9341's transmit buffer: its `fbtft_display` asks for `TXBUFLEN` = 4 × PAGE_SIZE, and its 240×320 × 16
    /// bpp framebuffer (153,600 bytes) is larger, so fbtft keeps the request.
    /// Kernel: `TXBUFLEN` — drivers/staging/fbtft/fb_ili9341.c
    package static let fbIli9341TxbufLen = fbtftTxbufLen(displayTxbufLen: 4 * PAGE_SIZE, vmemSize: 240 * 320 * 2,
                                                       bitsPerPixel: 16)

    /// Every profile, in a fixed order (the CLI lists them so).
    package static let all: [PanelProfile] = [
        // An unlimited panel: xen/hyperv-style per-page copy with no cost at all, and the delay those drivers use.
        PanelProfile(
            name: "ideal",
            summary: "unlimited per-page panel: zero bus time (reference for the others)",
            width: 320, height: 240, modeSettable: true, format: .xrgb8888, bus: .none,
            commandBytes: 0, commandTransfers: 0, maxTransferBytes: PAGE_SIZE, refresh: .continuous,
            driver: SynthvidDeferredIO.self, delay: .hzDividedBy(20), sortPagereflist: false, defaultFramebufferBPP: 32),
        // 10 MHz: the ILI9341 datasheet's write cycle (100 ns) — peers.md §3.2.
        ili9341(mhzName: "10", hz: 10_000_000, source: "datasheet write cycle"),
        // 32 MHz: 153,600 B per frame ⇒ ≈38 ms on the wire (kernel-spec.md §7) — peers.md §3.2 "26.0 fps".
        ili9341(mhzName: "32", hz: 32_000_000, source: "≈38 ms per frame"),
        // 66.67 MHz: fbcp-ili9341's default CDIV=6 at a 400 MHz core — peers.md §3.2.
        ili9341(mhzName: "66", hz: 66_666_667, source: "core 400 MHz / CDIV 6"),
        // The same glass behind DRM fbdev emulation (panel-mipi-dbi / mi0283qt): HZ/20, unsorted, the damage worker
        // sends rows × width × 2 bytes + window commands (kernel-spec.md §7, DRM row). MIPI DBI splits the data into
        // chunks of the SPI controller's max transfer size, e.g. 65,535 aligned down to 2 (drm_mipi_dbi.c,
        // mipi_dbi_spi_transfer, 2022 alignment fix). No vblank: MIPI DBI drivers never call drm_vblank_init (the
        // panel has no vblank interrupt and the driver sets up no vblank timer).
        PanelProfile(
            name: "mipi-dbi-spi32",
            summary: "ILI9341 320x240 RGB565 on SPI 32 MHz via DRM fbdev emulation + MIPI DBI (bounding box)",
            width: 320, height: 240, modeSettable: false, format: .rgb565,
            bus: .spi(hz: 32_000_000, perTransfer: .us(20)),
            commandBytes: 11, commandTransfers: 5, maxTransferBytes: 65_534, refresh: .continuous,
            driver: DRMFBHelperDeferredIO<MIPIDBIDirty>.self, delay: .hzDividedBy(20), sortPagereflist: false,
            defaultFramebufferBPP: 16),
        // SSD1306 128×64 mono OLED on I2C fast mode (400 kHz, 9 clocks per byte): 1 KiB per full update ≈ 23 ms
        // (peers.md §3.2; kernel-spec.md §7 "≈25 ms"). ssd1307fb: HZ/refreshrate with REFRESHRATE 1 (peers.md
        // §3.1); set_col_range + set_page_range = 2 × 3 one-byte command messages (sent only when the range
        // changes). Per-message cost 10 µs (assumed: i2c_transfer set-up and completion interrupt).
        PanelProfile(
            name: "ssd1306-i2c",
            summary: "SSD1306 128x64 mono OLED on I2C 400 kHz via ssd1307fb (full screen per update)",
            width: 128, height: 64, modeSettable: false, format: .mono,
            bus: .i2c(hz: 400_000, perTransfer: .us(10)),
            commandBytes: 12, commandTransfers: 6, maxTransferBytes: 1 + 128 * 8, refresh: .continuous,
            driver: SSD1307FBDeferredIO.self, delay: .hzDividedBy(1), sortPagereflist: false, defaultFramebufferBPP: 16),
        // Waveshare 2.13" e-paper 250×122 black/white: partial refresh 0.3 s, full 2 s (peers.md §3.3, Waveshare
        // wiki). A full refresh every 5 partials: e-readers flash "every 5-10 page turns" (thoughts.gohu.org,
        // "Fixing Waveshare e-paper display partial updates", 2025). SPI at 4 MHz (Waveshare's epdconfig.py,
        // max_speed_hz 4000000), spidev's 4 KiB buffer. Window + update commands of an SSD1680-class controller
        // (0x44+2, 0x45+4, 0x4E+1, 0x4F+2, 0x24, 0x22+1, 0x20) = 17 bytes in 12 transfers (derived). Driven the
        // broadsheetfb way: HZ/4, sorted, one update per run of consecutive pages (kernel-spec.md §7).
        PanelProfile(
            name: "epd213",
            summary: "Waveshare 2.13in e-paper 250x122 B/W on SPI 4 MHz, broadsheetfb-style (partial 0.3 s, full 2 s)",
            width: 250, height: 122, modeSettable: false, format: .grey(levels: 2),
            bus: .spi(hz: 4_000_000, perTransfer: .us(20)),
            commandBytes: 17, commandTransfers: 12, maxTransferBytes: PAGE_SIZE,
            refresh: .ePaper(partial: .ms(300), full: .ms(2000), fullEvery: 5),
            driver: BroadsheetFBDpyDeferredIO.self, delay: .hzDividedBy(4), sortPagereflist: true, defaultFramebufferBPP: 16),
        // DisplayLink on USB 2.0 through udlfb: 16 bpp only, shadow framebuffer on, RLX commands (7-byte header,
        // ≤ 256 pixels), URBs of 16 × 4096 − 512 = 65,024 B, 4 in flight (kernel-spec.md §7; peers.md §3.4).
        // Bulk payload rate: 13 × 512 B per 125 µs microframe = 53.248 MB/s of the 480 Mb/s signalling (derived
        // from the USB 2.0 high-speed bulk limit); one microframe of latency per URB (assumed). 1024×768: the mode
        // DisplayLink says USB 2.0 carries without compression trouble (peers.md §3.4). RLX encoding 2 ns per pixel
        // (assumed: a few cycles per pixel).
        PanelProfile(
            name: "displaylink",
            summary: "DisplayLink USB 2.0 monitor via udlfb (shadow diff, RLX commands, 65,024-byte URBs)",
            width: 1024, height: 768, modeSettable: true, format: .rgb565,
            bus: Bus(kind: .usb2, bitsPerSecond: 425_984_000, perTransfer: .us(125)),
            commandBytes: 0, commandTransfers: 0, maxTransferBytes: 16 * PAGE_SIZE - 512, refresh: .continuous,
            driver: DLFBDpyDeferredIO.self, delay: .udlfb, sortPagereflist: true, defaultFramebufferBPP: 16,
            encodePerPixel: .ns(2)),
        // Hyper-V synthetic video: HZ/20 (peers.md §3.1); per listed page a 4 KiB memcpy into the VRAM the host
        // scans, then one SYNTHVID_DIRT message for the bounding rows (kernel-spec.md §7). Default mode 1152×864
        // (HVFB_WIDTH/HVFB_HEIGHT). memcpy at ≈11 GB/s, a cache-cold page (BASELINES.md); the VMBus message
        // (pipe header + synthvid header + one rectangle, 36 B) 5 µs (assumed: ring write + signalling hypercall).
        PanelProfile(
            name: "hyperv",
            summary: "Hyper-V synthetic video via hyperv_fb (per-page copy + one dirty rectangle)",
            width: 1152, height: 864, modeSettable: true, format: .xrgb8888,
            bus: Bus(kind: .memory, bitsPerSecond: 88_000_000_000, perTransfer: .us(5)),
            commandBytes: 36, commandTransfers: 1, maxTransferBytes: PAGE_SIZE, refresh: .continuous,
            driver: SynthvidDeferredIO.self, delay: .hzDividedBy(20), sortPagereflist: false, defaultFramebufferBPP: 32),
        // simpledrm behind DRM fbdev emulation: HZ/20, unsorted, one bounding box per cycle (kernel-spec.md §7,
        // scenario 24); the damage worker blits the clip rows into the firmware framebuffer at ≈11 GB/s
        // (BASELINES.md, cold memcpy); the atomic commit of the dirty hook 2 µs (assumed). 1024×768 firmware mode.
        // No vblank: simpledrm never calls drm_vblank_init (drivers/gpu/drm/sysfb/simpledrm.c).
        PanelProfile(
            name: "simpledrm",
            summary: "firmware framebuffer via simpledrm + DRM fbdev emulation (bounding box, damage worker)",
            width: 1024, height: 768, modeSettable: true, format: .xrgb8888,
            bus: Bus(kind: .memory, bitsPerSecond: 88_000_000_000, perTransfer: .us(2)),
            commandBytes: 0, commandTransfers: 1, maxTransferBytes: PAGE_SIZE, refresh: .continuous,
            driver: DRMFBHelperDeferredIO<FirmwareBlitDirty>.self, delay: .hzDividedBy(20), sortPagereflist: false,
            defaultFramebufferBPP: 32),
    ]
}

extension String {
    func leftPadded(_ width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
