import Testing
import Kernel
@testable import Panels
import TestSupport

/// udlfb's shadow diff on a 320×240, 16 bpp DisplayLink framebuffer (2048 pixels per page): bytes follow the
/// changed pixels, not the pages; an unchanged page costs only the compare.
@Suite struct ShadowDiffTests {
    @Test @EmuActor func bytesFollowChangedPixels() throws {
        let rig = makeRig(PanelProfile.named("displaylink")!, xres: 320, yres: 240, bpp: 16)
        let udl = try #require(rig.driver as? DLFBDpyDeferredIO)
        let metrics = Box<[DLFBMetrics]>([])
        rig.spawnWriter { t, fd, base in
            // 1. Page 5 rewritten with what it holds (zeros): listed, compared, nothing sent.
            try t.store16(base + 5 * PAGE_SIZE, 0)
            try t.fsync(fd)
            udl.flush()
            metrics.value.append(udl.metrics)
            // 2. One pixel (pixel 100 of page 5): one RLX command, 7 + 2 bytes, and the 0xAF terminator.
            try t.store16(base + 5 * PAGE_SIZE + 200, 0x1234)
            try t.fsync(fd)
            udl.flush()
            metrics.value.append(udl.metrics)
            // 3. A run of 100 equal pixels in page 6: one command, one raw pixel and one repeat count.
            for i in 0 ..< 100 { try t.store16(base + 6 * PAGE_SIZE + 2 * i, 0x4321) }
            try t.fsync(fd)
            udl.flush()
            metrics.value.append(udl.metrics)
        }
        #expect(rig.k.sched.run() == .completed)
        let u = rig.updates.value
        try #require(u.count == 3)
        try #require(metrics.value.count == 3)
        // 1: only the compare.
        #expect(u[0].busBytes == 0)
        #expect(u[0].transfers == 0)
        #expect(u[0].changedPixels == 0)
        #expect(metrics.value[0].bytesRendered == PAGE_SIZE)
        #expect(metrics.value[0].bytesIdentical == PAGE_SIZE)
        #expect(metrics.value[0].bytesSent == 0 && metrics.value[0].commands == 0)
        // 2: 25 identical words trimmed (200 bytes), the end not trimmed (no second differing word), then the
        // 1947 identical pixels after the changed one skipped one by one (the kernel counts those as 1 each).
        #expect(u[1].busBytes == 7 + 2 + 1)
        #expect(u[1].transfers == 1)
        #expect(u[1].changedPixels == 1)
        #expect(metrics.value[1].commands == 1)
        #expect(metrics.value[1].bytesIdentical - metrics.value[0].bytesIdentical == 200 + 1947)
        #expect(u[1].busTime == PanelProfile.named("displaylink")!.bus.time(bytes: 10, transfers: 1))
        // 3: header 7 + raw pixel 2 + repeat count 1 (the unused next raw count taken back) + terminator.
        #expect(u[2].busBytes == 7 + 2 + 1 + 1)
        #expect(metrics.value[2].commands == 2)
        #expect(u[2].changedPixels == 100)
        #expect(udl.image == udl.expectedImage())
    }

    /// URBs complete after the callback: fsync returns (the defio mutex is free again) while the last URBs are still
    /// on the bus; `flush()` waits for them.
    @Test @EmuActor func urbsCompleteAfterTheCallback() throws {
        let rig = makeRig(PanelProfile.named("displaylink")!, xres: 320, yres: 240, bpp: 16)
        let udl = rig.driver
        let seen = Box<(VirtualTime, Bool, VirtualTime, Bool)>((.zero, true, .zero, false))
        rig.spawnWriter { t, fd, base in
            try store(t, base, at: 0, pattern(bytes: 320 * 240 * 2, seed: 11))
            try t.fsync(fd)
            seen.value.0 = rig.k.now
            seen.value.1 = udl.image == udl.expectedImage()
            udl.flush()
            seen.value.2 = rig.k.now
            seen.value.3 = udl.image == udl.expectedImage()
        }
        #expect(rig.k.sched.run() == .completed)
        let u = try #require(rig.updates.value.last)
        #expect(u.transfers >= 2)  // more than one URB of 65,024 bytes
        #expect(seen.value.0 < u.end)
        #expect(!seen.value.1, "the glass was complete before the URBs completed")
        #expect(seen.value.2 == u.end)
        #expect(seen.value.3)
        // The bus carried every URB back to back.
        #expect(u.end - u.start >= u.busTime)
    }
}
