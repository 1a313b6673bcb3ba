import Testing
import Kernel
@testable import Panels
import TestSupport

/// DESIGN.md §7, no lost update: after the last fsync (and the driver's own pending work), the glass shows the
/// framebuffer, converted pixel by pixel — for every profile, through a real machine: a process maps /dev/fb0,
/// draws a picture, fsyncs, redraws part of it in descending page order (the unsorted-list case), and fsyncs again.
@Suite struct LostUpdateTests {
    @Test(arguments: PanelProfile.all)
    @EmuActor func panelShowsTheFramebufferAfterTheLastFsync(_ profile: PanelProfile) throws {
        let rig = makeRig(profile)
        let info = rig.info, driver = rig.driver
        let visible = info.variable.yres * info.fix.lineLength
        let checked = Box<(Bool, Bool)>((false, false))
        rig.spawnWriter { t, fd, base in
            try store(t, base, at: 0, pattern(bytes: visible, seed: 1))
            try t.fsync(fd)
            driver.flush()
            checked.value.0 = driver.image == driver.expectedImage()
            // Second round: every third page, last page first, partly overwritten.
            let pages = (visible + PAGE_SIZE - 1) / PAGE_SIZE
            for page in stride(from: pages - 1, through: 0, by: -3) {
                let count = min(PAGE_SIZE / 2, visible - page * PAGE_SIZE)
                try store(t, base, at: page * PAGE_SIZE, pattern(bytes: count, seed: UInt64(100 + page)))
            }
            try t.fsync(fd)
            driver.flush()
            checked.value.1 = driver.image == driver.expectedImage()
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(rig.k.processes[0].exitStatus == .exited)
        #expect(checked.value.0, "first picture not on the glass after fsync")
        #expect(checked.value.1, "second picture not on the glass after fsync")
        #expect(driver.image == driver.expectedImage())
        #expect(driver.stats.updates >= 2)
        #expect(driver.stats.diagnostics == 0)
        #expect(rig.k.sched.reports.isEmpty, "\(rig.k.sched.reports)")
        // The updates were reported in order, each ending no earlier than it started.
        #expect(rig.updates.value.map(\.sequence) == Array(1 ... rig.updates.value.count))
        #expect(rig.updates.value.allSatisfy { $0.end >= $0.start })
        #expect(driver.stats.changedPixels == rig.updates.value.reduce(0) { $0 + $1.changedPixels })
    }

    /// An RGB565 panel behind a 32 bpp framebuffer: the driver converts (as DRM's XRGB8888→RGB565 helpers do), and
    /// the glass shows the truncated colours.
    @Test @EmuActor func xrgb8888FramebufferOnRGB565Glass() throws {
        let rig = makeRig(PanelProfile.named("ili9341-spi32")!, bpp: 32)
        let driver = rig.driver
        rig.spawnWriter { t, fd, base in
            try store(t, base, at: 0, pattern(bytes: 320 * 240 * 4, seed: 7))
            try t.fsync(fd)
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(driver.image == driver.expectedImage())
        // 240 rows × 320 pixels × 2 bytes on the wire (plus commands), not the framebuffer's 4 bytes per pixel.
        #expect(rig.updates.value.last?.busBytes == 320 * 240 * 2 + 11)
        let first = rig.screen(0, 4)
        let raw = UInt32(first[0]) | UInt32(first[1]) << 8 | UInt32(first[2]) << 16 | UInt32(first[3]) << 24
        #expect(driver.image[0] == PixelFormat.rgb565.displayed(fbPixel: raw, fbFormat: .xrgb8888))
        #expect(driver.image[0] & 0x0007_0307 == (driver.image[0] >> 5) & 0x0007_0307)
    }
}

extension PanelProfile: CustomTestStringConvertible {
    public var testDescription: String { name }
}
