import Testing
import Kernel
@testable import Panels

/// The profile table, the delays real drivers compute, the rate lines they log, pixel conversion and the bus
/// arithmetic (research/peers.md §3, kernel-spec.md §7).
@Suite struct ProfileTests {
    @Test func tableIsFixedAndCoversEveryCallbackStyle() {
        #expect(PanelProfile.names == [
            "ideal", "ili9341-spi10", "ili9341-spi32", "ili9341-spi66", "mipi-dbi-spi32", "ssd1306-i2c", "epd213",
            "displaylink", "hyperv", "simpledrm",
        ])
        for style in CallbackStyle.allCases {
            #expect(PanelProfile.all.contains { $0.style == style }, "no profile uses \(style)")
        }
        for p in PanelProfile.all { #expect(PanelProfile.named(p.name) == p) }
        #expect(PanelProfile.named("vga") == nil)
        #expect(PanelProfile.named("ideal")?.bus.kind == Bus.Kind.none)
    }

    /// `fbdefio->delay` as each real driver computes it, at every supported HZ: fbtft HZ/fps, DRM and hyperv HZ/20,
    /// udlfb msecs_to_jiffies(4 or 10), ssd1307fb HZ/1, broadsheetfb HZ/4 (peers.md §3.1).
    static let delayTable: [(hz: Int64, jiffies: [Int64])] = [
        (100, [5, 5, 1, 100, 25]), (250, [12, 12, 1, 250, 62]), (300, [15, 15, 2, 300, 75]),
        (1000, [50, 50, 10, 1000, 250]),
    ]

    @Test(arguments: delayTable)
    func delaysAsRealDriversComputeThem(hz: Int64, expected: [Int64]) {
        let rate = TickRate(hz: hz)
        let names = ["ili9341-spi32", "simpledrm", "displaylink", "ssd1306-i2c", "epd213"]
        let got = names.map { PanelProfile.named($0)!.delay.jiffies(at: rate).rawValue }
        #expect(got == expected)
    }

    /// fbtft's fps=30 is quantized to jiffies: HZ=250 stores 8 and logs 31; an fps above HZ stores 0, which
    /// fb_deferred_io_init turns into HZ: one update a second.
    @Test func fbtftLogsTheQuantizedRate() {
        let hz250 = TickRate(hz: 250)
        #expect(fbtftLogLine(xres: 320, yres: 240, smemLen: 320 * 240 * 2, fps: 30, tickRate: hz250,
                             spiHz: 32_000_000)
            == "fb_ili9341 frame buffer, 320x240, 150 KiB video memory, 16 KiB buffer memory, fps=31, spi0.0 at 32 MHz")
        // Another driver's default PAGE_SIZE buffer, and no mention of a buffer under 1 KiB.
        #expect(fbtftLogLine(driverName: "fb_st7789v", xres: 240, yres: 320, smemLen: 240 * 320 * 2,
                             txbufLen: PAGE_SIZE, fps: 20, tickRate: hz250, spiHz: 32_000_000)
            == "fb_st7789v frame buffer, 240x320, 150 KiB video memory, 4 KiB buffer memory, fps=20, spi0.0 at 32 MHz")
        #expect(!fbtftLogLine(driverName: "fb_pcd8544", xres: 84, yres: 48, smemLen: 84 * 48 / 8, txbufLen: 84 * 6,
                              fps: 20, tickRate: hz250, spiHz: 4_000_000).contains("buffer memory"))
        #expect(DefIODelay.fbtftFPS(30).jiffies(at: hz250) == Jiffies(8))
        #expect(loggedFPS(delay: Jiffies(3), tickRate: TickRate(hz: 100)) == 33)
        #expect(loggedFPS(delay: DefIODelay.fbtftFPS(30).jiffies(at: TickRate(hz: 1000)), tickRate: TickRate(hz: 1000)) == 30)
        #expect(loggedFPS(delay: DefIODelay.fbtftFPS(60).jiffies(at: TickRate(hz: 100)), tickRate: TickRate(hz: 100)) == 100)
        #expect(DefIODelay.fbtftFPS(300).jiffies(at: hz250) == Jiffies(0))
        #expect(DefIODelay.fbtftFPS(300).effectiveJiffies(at: hz250) == Jiffies(250))
        #expect(loggedFPS(delay: Jiffies(0), tickRate: hz250) == 1)
        let ili = PanelProfile.named("ili9341-spi32")!
        #expect(ili.rateLine(xres: 320, yres: 240, bitsPerPixel: 16, tickRate: hz250)
            .hasSuffix("16 KiB buffer memory, fps=20, spi0.0 at 32 MHz"))
        #expect(PanelProfile.named("hyperv")!.rateLine(xres: 1152, yres: 864, bitsPerPixel: 32, tickRate: hz250)
            == "hyperv: fb_defio delay HZ/20 = 12 jiffies (48 ms) at HZ=250, at most 20 batches/s")
    }

    /// The table `fbdefio-emu panels` prints: a header, one line per profile in the fixed order, a legend.
    @Test func tableListsEveryProfileWithItsDelayAndRate() {
        let text = PanelProfile.table(tickRate: TickRate(hz: 250))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0].hasPrefix("PANEL"))
        for (i, p) in PanelProfile.all.enumerated() { #expect(lines[i + 1].hasPrefix(p.name + " ")) }
        #expect(lines[1].contains("320x240*") && lines[1].hasSuffix("inf"))
        #expect(lines[3].contains("HZ/fps (fps=20) = 12j (48 ms)") && lines[3].hasSuffix("25.84"))
        #expect(lines[8].contains("msecs_to_jiffies(HZ <= 300 ? 4 : 10) = 1j (4 ms)"))
        #expect(lines[4].contains("SPI 66.67 MHz"))
        #expect(text == PanelProfile.table(tickRate: TickRate(hz: 250)))
    }

    @Test func pixelsAreConvertedToWhatTheGlassShows() {
        // RGB565 glass: XRGB8888 is truncated to 5:6:5 and widened back.
        #expect(PixelFormat.rgb565.displayed(fbPixel: 0x00FF_8040, fbFormat: .xrgb8888) == 0xFFFF_8242)
        #expect(PixelFormat.rgb565.displayed(fbPixel: 0xF800, fbFormat: .rgb565) == 0xFFFF_0000)
        #expect(PixelFormat.rgb565.displayed(fbPixel: 0x07E0, fbFormat: .rgb565) == 0xFF00_FF00)
        #expect(PixelFormat.rgb565.displayed(fbPixel: 0x001F, fbFormat: .rgb565) == 0xFF00_00FF)
        // True colour glass shows a 16 bpp framebuffer widened.
        #expect(PixelFormat.xrgb8888.displayed(fbPixel: 0x8410, fbFormat: .rgb565) == 0xFF84_8284)
        #expect(PixelFormat.xrgb8888.displayed(fbPixel: 0xAB12_3456, fbFormat: .xrgb8888) == 0xFF12_3456)
        // Mono and e-paper grey threshold the luma.
        #expect(PixelFormat.mono.displayed(fbPixel: 0x0080_8080, fbFormat: .xrgb8888) == 0xFFFF_FFFF)
        #expect(PixelFormat.mono.displayed(fbPixel: 0x007F_7F7F, fbFormat: .xrgb8888) == 0xFF00_0000)
        #expect(PixelFormat.grey(levels: 2).displayed(fbPixel: 0x0080_8080, fbFormat: .xrgb8888) == 0xFFFF_FFFF)
        #expect(PixelFormat.grey(levels: 4).displayed(fbPixel: 0x0080_8080, fbFormat: .xrgb8888) == 0xFFAA_AAAA)
        #expect(PixelFormat.grey(levels: 2).bitsPerPixel == 1)
        #expect(PixelFormat.grey(levels: 16).bitsPerPixel == 4)
    }

    /// ILI9341 at 32 MHz, full frame: 153,600 B ⇒ 38.4 ms on the wire, plus 11 command bytes and 15 transfers
    /// (5 command + 10 data chunks of fb_ili9341's 16 KiB tx buffer) at 20 µs.
    @Test func ili9341FullFrameAt32MHz() {
        let p = PanelProfile.named("ili9341-spi32")!
        #expect(p.bus.time(bytes: 153_600, transfers: 0) == .us(38_400))
        let frame = p.fullFrameTime(FramebufferLayout(width: 320, height: 240, format: .rgb565))
        #expect(frame == VirtualTime(picoseconds: 38_702_750_000))
        #expect(frame == .us(38_400) + p.bus.time(bytes: 11, transfers: 0) + VirtualTime.us(20 * 15))
        let fps = p.sustainableFPS(FramebufferLayout(width: 320, height: 240, format: .rgb565))
        #expect(fps > 25.8 && fps < 25.9)
    }

    /// SSD1306: 1 KiB at 400 kHz, 9 clocks per byte ⇒ ≈23 ms (plus the control byte, the address byte and start/stop).
    @Test func ssd1306FrameAt400kHz() {
        let p = PanelProfile.named("ssd1306-i2c")!
        #expect(p.bus.time(bytes: 1024, transfers: 0) == .us(23_040))
        let frame = p.fullFrameTime(FramebufferLayout(width: 128, height: 64, format: .rgb565))
        // (1025 × 9 + 11) bits / 400 kHz = 23.09 ms, + 10 µs per message.
        #expect(frame == .us(23_100))
    }

    /// The rates a driver writer sizes a panel by, relative to each other.
    @Test func sustainableRatesOrderAsTheBusesDo() {
        func fps(_ name: String) -> Double {
            let p = PanelProfile.named(name)!
            let format = PixelFormat(bitsPerPixel: p.defaultFramebufferBPP)!
            return p.sustainableFPS(FramebufferLayout(width: p.width, height: p.height, format: format))
        }
        #expect(fps("ideal") == .infinity)
        #expect(fps("ili9341-spi10") > 8.0 && fps("ili9341-spi10") < 8.2)
        #expect(fps("ili9341-spi66") > 50 && fps("ili9341-spi66") < 54.3)
        // MIPI DBI's 64 KiB chunks spend less on per-transfer overhead than fbtft's 16 KiB ones.
        #expect(fps("mipi-dbi-spi32") > fps("ili9341-spi32"))
        #expect(fps("epd213") < 0.5)
        #expect(fps("displaylink") > 28 && fps("displaylink") < 32)
        #expect(fps("hyperv") > 1000 && fps("simpledrm") > 1000)
        #expect(PanelStats.format(fps("ili9341-spi32")) == "25.84")
        #expect(PanelStats.format(.infinity) == "inf")
    }
}
