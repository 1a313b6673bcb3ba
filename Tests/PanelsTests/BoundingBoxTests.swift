import Testing
import Kernel
@testable import Panels
import TestSupport

/// DRM fbdev emulation: one bounding box per cycle (scenario 24), the clamp of the last page (scenario 25) and the
/// 2023 out-of-bounds clip when the clamp is switched off (bug J).
@Suite struct BoundingBoxTests {
    /// The clip arithmetic alone. line_length 4096: pages 0 and 15 ⇒ rows 0 ..< 16, full width; a page inside one
    /// scanline (line_length 12288) ⇒ its exact pixel span.
    @Test func memoryRangeToClip() {
        func clip(_ off: Int, _ len: Int, ll: Int, xres: Int, yres: Int, bpp: Int = 32,
                  _ variant: DRMFBHelperVariant = DRMFBHelperVariant()) -> DRMRect {
            drmFBHelperMemoryRangeToClip(off: off, len: len, lineLength: ll, xres: xres,
                                                                yres: yres, bitsPerPixel: bpp, variant: variant)
        }
        #expect(clip(0, 16 * PAGE_SIZE, ll: 4096, xres: 1024, yres: 32) == DRMRect(x1: 0, y1: 0, x2: 1024, y2: 16))
        #expect(clip(PAGE_SIZE, PAGE_SIZE, ll: 12288, xres: 3072, yres: 4) == DRMRect(x1: 1024, y1: 0, x2: 2048, y2: 1))
        #expect(clip(0, PAGE_SIZE, ll: 12288, xres: 3072, yres: 4) == DRMRect(x1: 0, y1: 0, x2: 1024, y2: 1))
        // 16 bpp: a page spans 6.4 rows of 640 bytes.
        #expect(clip(3 * PAGE_SIZE, PAGE_SIZE, ll: 640, xres: 320, yres: 240, bpp: 16)
            == DRMRect(x1: 0, y1: 19, x2: 320, y2: 26))
        // The page-rounded tail: clamped to yres upstream, past it without the clamp.
        #expect(clip(37 * PAGE_SIZE, PAGE_SIZE, ll: 640, xres: 320, yres: 240, bpp: 16)
            == DRMRect(x1: 0, y1: 236, x2: 320, y2: 240))
        var bugJ = DRMFBHelperVariant()
        bugJ.clampDamageToYres = false
        #expect(clip(37 * PAGE_SIZE, PAGE_SIZE, ll: 640, xres: 320, yres: 240, bpp: 16, bugJ)
            == DRMRect(x1: 0, y1: 236, x2: 320, y2: 244))
        // Before 2025, a range ending exactly at a line end got x2 = 0.
        var modulo = DRMFBHelperVariant()
        modulo.singleScanlineEndFromLength = false
        #expect(clip(2 * PAGE_SIZE, PAGE_SIZE, ll: 12288, xres: 3072, yres: 4, modulo)
            == DRMRect(x1: 2048, y1: 0, x2: 0, y2: 1))
        #expect(clip(2 * PAGE_SIZE, PAGE_SIZE, ll: 12288, xres: 3072, yres: 4)
            == DRMRect(x1: 2048, y1: 0, x2: 3072, y2: 1))
    }

    /// Scenario 24 on a machine: pages 0 and 15 at line_length 4096 re-send rows 0 ..< 16, all of them full width.
    @Test @EmuActor func farApartPagesResendEverythingBetween() throws {
        let rig = makeRig(PanelProfile.named("simpledrm")!, xres: 1024, yres: 32, bpp: 32)
        let driver = rig.driver
        let shown = Box(false)
        rig.spawnWriter { t, fd, base in
            try t.store32(base, 0x00FF_0000)
            try t.store32(base + 15 * PAGE_SIZE + 8, 0x0000_FF00)
            try t.fsync(fd)
            driver.flush()
            shown.value = driver.image == driver.expectedImage()
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(shown.value)
        let u = try #require(rig.updates.value.last)
        #expect(u.pages == [PgOff(0), PgOff(15)])
        #expect(u.rects == [Rect(x: 0, y: 0, width: 1024, height: 16)])
        #expect(u.busBytes == 16 * 4096)
        #expect(u.changedPixels == 2)
        #expect(rig.updates.value.count == 1)
    }

    /// Scenario 24, second half: one page inside a 12288-byte scanline updates exactly its 1024 pixels — and, with
    /// the pre-2025 end computation, a page ending at the line end is dropped: the write never reaches the glass.
    @Test(arguments: [true, false])
    @EmuActor func pageInsideOneScanline(fixed: Bool) throws {
        var options = PanelOptions()
        options.drm.singleScanlineEndFromLength = fixed
        let rig = makeRig(PanelProfile.named("simpledrm")!, xres: 3072, yres: 4, bpp: 32, options: options)
        let driver = rig.driver
        rig.spawnWriter { t, fd, base in
            try t.store32(base + PAGE_SIZE + 4, 0x0012_3456)
            try t.fsync(fd)
            try t.store32(base + 2 * PAGE_SIZE + 4, 0x0065_4321)
            try t.fsync(fd)
            driver.flush()
        }
        #expect(rig.k.sched.run() == .completed)
        let u = rig.updates.value
        #expect(u.first?.rects == [Rect(x: 1024, y: 0, width: 1024, height: 1)])
        #expect(u.first?.busBytes == 1024 * 4)
        if fixed {
            #expect(u.map(\.rects) == [[Rect(x: 1024, y: 0, width: 1024, height: 1)],
                                       [Rect(x: 2048, y: 0, width: 1024, height: 1)]])
            #expect(driver.image == driver.expectedImage())
            #expect(driver.stats.diagnostics == 0)
        } else {
            #expect(u.count == 1)
            #expect(driver.panel.diagnostics == [.emptyDamageClip(DRMRect(x1: 2048, y1: 0, x2: 0, y2: 1))])
            // The lost update: pixel 2049 of row 0 is still black on the glass.
            #expect(driver.image[2049] == 0xFF00_0000)
            #expect(driver.expectedImage()[2049] == 0xFF65_4321)
        }
    }

    /// Scenario 25 and bug J: a write to the last page, whose tail lies past yres × line_length. Upstream the clip
    /// ends at row 240; without the clamp it ends at 244 and the damage blit reaches 2,560 bytes past the visible
    /// buffer — reported as a diagnostic (the kernel oopsed), while the machine runs on.
    @Test(arguments: [true, false])
    @EmuActor func lastPagePastTheVisibleArea(clamped: Bool) throws {
        var options = PanelOptions()
        options.drm.clampDamageToYres = clamped
        let rig = makeRig(PanelProfile.named("simpledrm")!, xres: 320, yres: 240, bpp: 16, options: options)
        let driver = rig.driver
        #expect(rig.info.fix.smemLen == 38 * PAGE_SIZE)
        rig.spawnWriter { t, fd, base in
            try t.store16(base + 37 * PAGE_SIZE, 0xFFFF)
            try t.store16(base + (38 * PAGE_SIZE - 2), 0xFFFF)  // in the tail, never visible
            try t.fsync(fd)
            driver.flush()
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(rig.k.processes[0].exitStatus == .exited)
        let u = try #require(rig.updates.value.last)
        #expect(driver.image == driver.expectedImage())
        if clamped {
            #expect(u.rects == [Rect(x: 0, y: 236, width: 320, height: 4)])
            #expect(u.diagnostics.isEmpty)
            #expect(rig.k.sched.reports.isEmpty)
        } else {
            #expect(u.rects == [Rect(x: 0, y: 236, width: 320, height: 8)])
            #expect(u.diagnostics == [.damageClipPastYres(clip: DRMRect(x1: 0, y1: 236, x2: 320, y2: 244), yres: 240,
                                                          bytesPastEnd: 4 * 640)])
            #expect(rig.k.sched.reports.contains { $0.contains("WARNING") && $0.contains("out of bounds") })
        }
        // Either way only the 4 visible rows were copied.
        #expect(u.busBytes == 4 * 320 * 4)
    }

    /// The same glass as fbtft's, behind DRM: the two pages 0 and 15 give the same rows (0 ..< 103) but MIPI DBI
    /// sends them in 64 KiB chunks: 5 command transfers + 2 data transfers instead of fbtft's 5 + 5.
    @Test @EmuActor func mipiDBISendsTheClipInLargeChunks() throws {
        let rig = makeRig(PanelProfile.named("mipi-dbi-spi32")!)
        let driver = rig.driver
        rig.spawnWriter { t, fd, base in
            try t.store16(base, 0x001F)
            try t.store16(base + 15 * PAGE_SIZE, 0x001F)
            try t.fsync(fd)
            driver.flush()
        }
        #expect(rig.k.sched.run() == .completed)
        let u = try #require(rig.updates.value.last)
        #expect(u.rects == [Rect(x: 0, y: 0, width: 320, height: 103)])
        #expect(u.busBytes == 103 * 320 * 2 + 11)
        #expect(u.transfers == 5 + 2)
        #expect(driver.image == driver.expectedImage())
    }
}
