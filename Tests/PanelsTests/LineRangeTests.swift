import Testing
import Kernel
@testable import Panels
import TestSupport

/// fbtft's line-range arithmetic and byte counts, worked by hand for an ILI9341 at 32 MHz, 320×240, 16 bpp:
/// line_length 640, smem_len 38 pages, so a page covers rows `offset / 640 … (offset + 4095) / 640`; set_addr_win
/// costs 11 bytes in 5 transfers; data goes in chunks of fb_ili9341's 16 KiB tx buffer; each transfer costs 20 µs
/// on top of 8 bits / 32 MHz per byte.
@Suite struct LineRangeTests {
    @Test @EmuActor func windowsBytesAndTimesMatchTheHandComputation() throws {
        let rig = makeRig(PanelProfile.named("ili9341-spi32")!)
        let driver = rig.driver
        let images = Box<[Bool]>([])
        rig.spawnWriter { t, fd, base in
            // 1. Page 3 (rows 19…25), but the first window of a fresh driver starts at row 0 (kzalloc'd par).
            try t.store16(base + 3 * PAGE_SIZE, 0xF800)
            try t.fsync(fd)
            images.value.append(driver.image == driver.expectedImage())
            // 2. Page 3 again: rows 19…25 exactly.
            try t.store16(base + 3 * PAGE_SIZE + 2, 0x07E0)
            try t.fsync(fd)
            images.value.append(driver.image == driver.expectedImage())
            // 3. Pages 0 and 15 in one batch: one window, rows 0…102 — every row between is re-sent.
            try t.store16(base, 0x001F)
            try t.store16(base + 15 * PAGE_SIZE, 0x001F)
            try t.fsync(fd)
            images.value.append(driver.image == driver.expectedImage())
            // 4. The last page: rows 236…243 would pass the screen; the end is clamped to 239 (scenario 25).
            try t.store16(base + 37 * PAGE_SIZE, 0xFFFF)
            try t.fsync(fd)
            images.value.append(driver.image == driver.expectedImage())
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(images.value == [true, true, true, true])
        let u = rig.updates.value
        try #require(u.count == 4)
        #expect(u.map(\.pages) == [[PgOff(3)], [PgOff(3)], [PgOff(0), PgOff(15)], [PgOff(37)]])
        #expect(u.map(\.rects) == [
            [Rect(x: 0, y: 0, width: 320, height: 26)], [Rect(x: 0, y: 19, width: 320, height: 7)],
            [Rect(x: 0, y: 0, width: 320, height: 103)], [Rect(x: 0, y: 236, width: 320, height: 4)],
        ])
        // rows × 640 + 11 command bytes.
        #expect(u.map(\.busBytes) == [26 * 640 + 11, 7 * 640 + 11, 103 * 640 + 11, 4 * 640 + 11])
        // 5 command transfers + ceil(rows × 640 / 16384) chunks.
        #expect(u.map(\.transfers) == [5 + 2, 5 + 1, 5 + 5, 5 + 1])
        // Update 2: 11 B (2.75 µs) + 5 × 20 µs; 4480 B (1120 µs) + 20 µs.
        #expect(u[1].busTime == VirtualTime(picoseconds: 102_750_000 + 1_140_000_000))
        // Update 1: one full chunk (16384 B, 4096 µs) and 256 B (64 µs), each + 20 µs.
        #expect(u[0].busTime == VirtualTime(picoseconds: 102_750_000 + 4_116_000_000 + 84_000_000))
        for update in u {
            #expect(update.end - update.start >= update.busTime)
            #expect(update.diagnostics.isEmpty)
        }
        // The write to page 3 changed one pixel each time; the window re-sent the rest unchanged.
        #expect(u[1].changedPixels == 1)
        #expect(u[1].changedBytes == 2)
        #expect(driver.stats.updates == 4)
        #expect(driver.stats.busBytes == u.reduce(0) { $0 + $1.busBytes })
    }

    /// The transmit buffer fbtft gives a driver: its own `txbuflen` when smaller than the framebuffer, otherwise (none
    /// asked, or at least the framebuffer plus a start byte, which includes -1) PAGE_SIZE for the byte swap of
    /// pixels wider than a byte, and nothing for 8 bpp.
    @Test func txbufLenAsFbtftFramebufferAllocComputesIt() {
        let vmem = 240 * 320 * 2
        #expect(fbtftTxbufLen(displayTxbufLen: 4 * PAGE_SIZE, vmemSize: vmem, bitsPerPixel: 16) == 4 * PAGE_SIZE)
        #expect(PanelProfile.fbIli9341TxbufLen == 16_384)
        #expect(fbtftTxbufLen(displayTxbufLen: 0, vmemSize: vmem, bitsPerPixel: 16) == PAGE_SIZE)
        #expect(fbtftTxbufLen(displayTxbufLen: -1, vmemSize: vmem, bitsPerPixel: 16) == PAGE_SIZE)
        #expect(fbtftTxbufLen(displayTxbufLen: vmem + 2, vmemSize: vmem, bitsPerPixel: 16) == PAGE_SIZE)
        #expect(fbtftTxbufLen(displayTxbufLen: vmem + 1, vmemSize: vmem, bitsPerPixel: 16) == vmem + 1)
        #expect(fbtftTxbufLen(displayTxbufLen: 0, vmemSize: 84 * 48 / 8, bitsPerPixel: 1) == 0)
        #expect(fbtftTxbufLen(displayTxbufLen: 84 * 6, vmemSize: 84 * 48, bitsPerPixel: 8) == 84 * 6)
    }

    /// Every fbtft profile, full frame: `yres × line_length` bytes go out in ceil(bytes / txbuflen) spi_syncs after
    /// set_addr_win's 5 — for fb_ili9341's 16 KiB buffer and a 320×240 RGB565 frame, 10 (not the 38 a 4 KiB buffer
    /// would take) — and the bus time is the commands plus each chunk's bytes and per-transfer cost.
    @Test(arguments: PanelProfile.all.filter { $0.driver is FBTFTDeferredIO.Type }.map(\.name))
    @EmuActor func fullFrameGoesOutInTxbufSizedChunks(panel: String) throws {
        let profile = try #require(PanelProfile.named(panel))
        #expect(profile.maxTransferBytes == PanelProfile.fbIli9341TxbufLen)
        let rig = makeRig(profile)
        let info = rig.info, driver = rig.driver
        rig.spawnWriter { t, fd, base in
            for page in 0 ..< info.fix.smemLen / PAGE_SIZE { try t.store16(base + page * PAGE_SIZE, 0x07E0) }
            try t.fsync(fd)
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(driver.image == driver.expectedImage())
        let u = try #require(rig.updates.value.last)
        #expect(u.rects == [Rect(x: 0, y: 0, width: info.variable.xres, height: info.variable.yres)])
        let frameBytes = info.variable.yres * info.fix.lineLength
        let txbuf = profile.maxTransferBytes
        let chunks = (frameBytes + txbuf - 1) / txbuf
        #expect(frameBytes == 153_600 && chunks == 10)
        #expect(u.transfers == profile.commandTransfers + chunks)
        #expect(u.busBytes == profile.commandBytes + frameBytes)
        var expected = profile.bus.time(bytes: profile.commandBytes, transfers: profile.commandTransfers)
        for i in 0 ..< chunks { expected = expected + profile.bus.time(bytes: min(txbuf, frameBytes - i * txbuf), transfers: 1) }
        #expect(u.busTime == expected)
        #expect(profile.fullFrameTime(info.layout) == expected)
    }

    /// Scenario 20: write() copies into the screen buffer without faults; fbtft's own dirty-line window (set by
    /// fbtft_mkdirty) makes the deferred work run with an empty page list and still flush the whole screen.
    @Test @EmuActor func writeSyscallFlushesThroughAnEmptyList() throws {
        let rig = makeRig(PanelProfile.named("ili9341-spi32")!)
        let fbtft = try #require(rig.driver as? FBTFTDeferredIO)
        let info = rig.info
        let synced = Box(false)
        rig.k.spawnProcess("writer") { t in
            let fd = try t.open(info.node)
            #expect(fbtft.fbtftFbWrite(offset: 0, pattern(bytes: 320 * 240 * 2, seed: 3)) == 320 * 240 * 2)
            #expect(fbtft.dirtyLinesStart == 0 && fbtft.dirtyLinesEnd == 239)
            #expect(info.deferredWork?.isPending == true)
            try t.fsync(fd)
            synced.value = fbtft.image == fbtft.expectedImage()
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(synced.value)
        #expect(info.defioStats.emptyBatches == 1)
        #expect(fbtft.stats.emptyUpdates == 1)
        #expect(fbtft.stats.callbacks == 1)
        #expect(rig.updates.value.map(\.pages) == [[]])
        #expect(rig.updates.value.map(\.rects) == [[Rect(x: 0, y: 0, width: 320, height: 240)]])
        #expect(rig.updates.value[0].diagnostics.isEmpty)
        // The window is clean again: start = yres − 1, end = 0.
        #expect(fbtft.dirtyLinesStart == 239 && fbtft.dirtyLinesEnd == 0)
    }

    /// The callback running with an empty list and a clean window (start 239 > end 0) trips fbtft_update_display's
    /// sanity check: a warning and a full update.
    @Test @EmuActor func emptyListWithACleanWindowWarnsAndSendsEverything() throws {
        let rig = makeRig(PanelProfile.named("ili9341-spi32")!)
        let driver = rig.driver, info = rig.info
        rig.k.spawnProcess("kworker-like") { _ in
            driver.deferredIO(info, [])  // fresh driver: window (0, 0) — one row
            driver.deferredIO(info, [])  // now clean: (239, 0)
        }
        #expect(rig.k.sched.run() == .completed)
        let u = rig.updates.value
        #expect(u.map(\.rects) == [[Rect(x: 0, y: 0, width: 320, height: 1)],
                                   [Rect(x: 0, y: 0, width: 320, height: 240)]])
        #expect(u[0].diagnostics.isEmpty)
        #expect(u[1].diagnostics == [.fbtftStartAfterEnd(start: 239, end: 0)])
        #expect(rig.k.sched.reports.contains { $0.contains("start_line=239 is larger than end_line=0") })
        #expect(driver.stats.diagnostics == 1)
    }
}
