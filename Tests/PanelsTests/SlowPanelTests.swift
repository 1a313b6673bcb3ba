import Testing
import Kernel
@testable import Panels
import TestSupport

/// The slow panels: the SSD1306 on I2C (whole screen each time), the e-paper (waveforms, runs of pages), and what
/// their bus time means for writers: a write to a clean page during the transfer waits for it (scenario 14).
@Suite struct SlowPanelTests {
    /// ssd1307fb ignores the page list and sends all 1 KiB; the address-range commands only the first time.
    @Test @EmuActor func ssd1306SendsTheWholeScreenOverI2C() throws {
        let rig = makeRig(PanelProfile.named("ssd1306-i2c")!)
        let driver = rig.driver
        #expect(rig.info.fix.lineLength == 256)
        rig.spawnWriter { t, fd, base in
            try t.store16(base + 2 * PAGE_SIZE + 20, 0xFFFF)  // row 32, pixel 10: lit
            try t.fsync(fd)
            try t.store16(base, 0xFFFF)  // row 0, pixel 0
            try t.fsync(fd)
        }
        #expect(rig.k.sched.run() == .completed)
        let u = rig.updates.value
        try #require(u.count == 2)
        #expect(u.map(\.pages) == [[PgOff(2)], [PgOff(0)]])
        #expect(u.map(\.rects) == [[Rect(x: 0, y: 0, width: 128, height: 64)],
                                   [Rect(x: 0, y: 0, width: 128, height: 64)]])
        // Two range commands (3 messages of 2 bytes each), then 0x40 + 128 × 8 bytes of pixels.
        #expect(u.map(\.busBytes) == [12 + 1025, 1025])
        #expect(u.map(\.transfers) == [7, 1])
        // (1025 × 9 + 11) bits at 400 kHz = 23.09 ms, + 10 µs: ≈23 ms; each range: (6 × 9 + 3 × 11) bits + 30 µs.
        #expect(u[1].busTime == .us(23_100))
        #expect(u[0].busTime == .us(23_100) + VirtualTime(picoseconds: 2 * 247_500_000))
        #expect(u.map(\.changedPixels) == [1, 1])
        #expect(u[1].changedBytes == 1)
        #expect(driver.image[32 * 128 + 10] == 0xFFFF_FFFF && driver.image[0] == 0xFFFF_FFFF)
        #expect(driver.image == driver.expectedImage())
    }

    /// E-paper: an area write is a partial refresh (0.3 s) until five have run, then a full one (2 s); a write over
    /// the whole screen is a full refresh at once; two separate runs of pages are two updates.
    @Test @EmuActor func ePaperAlternatesPartialAndFullRefreshes() throws {
        let rig = makeRig(PanelProfile.named("epd213")!)
        let driver = rig.driver
        let info = rig.info
        #expect(info.fix.lineLength == 500 && info.fix.smemLen == 15 * PAGE_SIZE)
        let shown = Box<[Bool]>([])
        rig.spawnWriter { t, fd, base in
            for round in 0 ..< 6 {
                try t.store16(base + 2 * round, round % 2 == 0 ? 0xFFFF : 0x0000)
                try t.store16(base + 2 * 100, round % 2 == 0 ? 0xFFFF : 0x0000)
                try t.fsync(fd)
                shown.value.append(driver.image == driver.expectedImage())
            }
            try store(t, base, at: 0, pattern(bytes: 250 * 122 * 2, seed: 5))
            try t.fsync(fd)
            shown.value.append(driver.image == driver.expectedImage())
            // Pages 0 and 5: not consecutive, two runs, two partial updates.
            try t.store16(base, 0xFFFF)
            try t.store16(base + 5 * PAGE_SIZE, 0xFFFF)
            try t.fsync(fd)
            shown.value.append(driver.image == driver.expectedImage())
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(shown.value == Array(repeating: true, count: 8))
        let u = rig.updates.value
        try #require(u.count == 9)
        #expect(u.map(\.refresh) == [.partial, .partial, .partial, .partial, .partial, .full, .full, .partial,
                                     .partial])
        // Page 0: run of 9 rows (ceil(4096 / 500)), sent as rows 0…9 inclusive.
        #expect(u[0].rects == [Rect(x: 0, y: 0, width: 250, height: 10)])
        #expect(u[0].busBytes == 17 + 10 * 32)
        #expect(u[0].transfers == 12 + 1)
        #expect(u[6].rects == [Rect(x: 0, y: 0, width: 250, height: 122)])
        #expect(u[7].rects == [Rect(x: 0, y: 0, width: 250, height: 10)])
        #expect(u[8].rects == [Rect(x: 0, y: 40, width: 250, height: 10)])
        for update in u {
            let waveform: VirtualTime = update.refresh == .full ? .ms(2000) : .ms(300)
            #expect(update.end - update.start >= waveform + update.busTime)
        }
        #expect(driver.stats.partialRefreshes == 7)
        #expect(driver.stats.fullRefreshes == 2)
        // The glass of a partial refresh changes only inside the area: 2 pixels per round.
        #expect(u[0].changedPixels == 2)
    }

    /// Scenario 14: the fbtft callback holds the defio mutex for its whole SPI transfer (≈38.7 ms for a full frame at
    /// 32 MHz: 10 chunks of 16 KiB). A process whose first write to a page comes 10 ms into the transfer faults, blocks on the mutex in
    /// the fault handler, and its store completes only after the transfer has ended.
    @Test @EmuActor func writerStallsForTheSPITransfer() throws {
        let profile = PanelProfile.named("ili9341-spi32")!
        let rig = makeRig(profile)
        let times = Box<(start: VirtualTime, done: VirtualTime)>((.zero, .zero))
        rig.spawnWriter("A") { t, fd, base in
            try store(t, base, at: 0, pattern(bytes: 320 * 240 * 2, seed: 9))
            try t.fsync(fd)
        }
        rig.spawnWriter("B") { t, _, base in
            rig.k.sched.sleep(until: .ms(10))
            times.value.start = rig.k.now
            try t.store16(base + 100, 0xFFFF)
            times.value.done = rig.k.now
        }
        #expect(rig.k.sched.run() == .completed)
        let full = try #require(rig.updates.value.first)
        #expect(full.rects == [Rect(x: 0, y: 0, width: 320, height: 240)])
        #expect(full.busTime == profile.fullFrameTime(FramebufferLayout(width: 320, height: 240, format: .rgb565)))
        #expect(full.busTime == VirtualTime(picoseconds: 38_702_750_000))
        #expect(full.start < times.value.start && times.value.start < full.end)
        #expect(times.value.done >= full.end)
        // B waited out the rest of the transfer: all of it but the 10 ms that had gone by.
        #expect(times.value.done - times.value.start > full.busTime - .ms(10))
        // B's write went into the next batch, and reached the glass too.
        #expect(rig.updates.value.count == 2)
        #expect(rig.updates.value[1].pages == [PgOff(0)])
        #expect(rig.driver.image == rig.driver.expectedImage())
    }

    /// The same glass behind DRM fbdev emulation: the SPI transfer runs in the damage worker, outside the defio
    /// mutex, so the same write 10 ms in does not wait.
    @Test @EmuActor func damageWorkerDoesNotStallWriters() throws {
        let rig = makeRig(PanelProfile.named("mipi-dbi-spi32")!)
        let times = Box<(start: VirtualTime, done: VirtualTime)>((.zero, .zero))
        rig.spawnWriter("A") { t, fd, base in
            try store(t, base, at: 0, pattern(bytes: 320 * 240 * 2, seed: 9))
            try t.fsync(fd)
        }
        rig.spawnWriter("B") { t, _, base in
            rig.k.sched.sleep(until: .ms(10))
            times.value.start = rig.k.now
            try t.store16(base + 100, 0xFFFF)
            times.value.done = rig.k.now
        }
        #expect(rig.k.sched.run() == .completed)
        let full = try #require(rig.updates.value.first)
        #expect(full.rects == [Rect(x: 0, y: 0, width: 320, height: 240)])
        #expect(full.start < times.value.start && times.value.start < full.end)
        #expect(times.value.done - times.value.start < .ms(1))
        #expect(rig.driver.image == rig.driver.expectedImage())
    }
}
