import Testing
import Kernel
@testable import Panels

/// hyperv_fb's per-page copy with one dirty rectangle, the ideal panel built on it, and determinism of whole runs.
@Suite struct PerPageTests {
    /// Pages 3 and 37 of a 320×240, 16 bpp framebuffer: both pages copied (2 × 4 KiB of memcpy), one rectangle of
    /// the bounding rows 19 … 243, whose end synthvid_update clamps to yres (scenario 25). An empty list asks for
    /// the whole screen (miny = INT_MAX sanitised to 0).
    @Test @EmuActor func pagesAreCopiedAndOneRectangleIsPosted() throws {
        let profile = PanelProfile.named("hyperv")!
        let rig = makeRig(profile, xres: 320, yres: 240, bpp: 16)
        let driver = rig.driver, info = rig.info
        rig.spawnWriter { t, fd, base in
            try t.store16(base + 3 * PAGE_SIZE, 0xF800)
            try t.store16(base + 37 * PAGE_SIZE + 2, 0x07E0)
            try t.fsync(fd)
            driver.deferredIO(info, [])  // as if the work ran with nothing listed
        }
        #expect(rig.k.sched.run() == .completed)
        let u = rig.updates.value
        try #require(u.count == 2)
        #expect(u[0].pages == [PgOff(3), PgOff(37)])
        #expect(u[0].rects == [Rect(x: 0, y: 19, width: 320, height: 221)])
        #expect(u[0].busBytes == 2 * PAGE_SIZE + 36)
        #expect(u[0].transfers == 1)
        #expect(u[0].busTime == profile.bus.time(bytes: PAGE_SIZE, transfers: 0)
            + profile.bus.time(bytes: PAGE_SIZE, transfers: 0) + profile.bus.time(bytes: 36, transfers: 1))
        #expect(u[0].changedPixels == 2)
        #expect(u[1].rects == [Rect(x: 0, y: 0, width: 320, height: 240)])
        #expect(u[1].busBytes == 36)
        #expect(driver.stats.emptyUpdates == 1)
        #expect(driver.image == driver.expectedImage())
    }

    /// The ideal panel: the same driver, no time at all on its bus.
    @Test @EmuActor func idealPanelCostsNothing() throws {
        let rig = makeRig(PanelProfile.named("ideal")!)
        let driver = rig.driver
        rig.spawnWriter { t, fd, base in
            try store(t, base, at: 0, pattern(bytes: 320 * 240 * 4, seed: 2))
            try t.fsync(fd)
        }
        #expect(rig.k.sched.run() == .completed)
        let u = try #require(rig.updates.value.first)
        #expect(u.busTime == .zero)
        #expect(u.end == u.start)
        #expect(u.pages.count == 75)
        #expect(driver.stats.sustainableFPS == .infinity)
        #expect(driver.stats.busBytesPerSecond == nil)
        #expect(driver.image == driver.expectedImage())
    }

    /// The same seed and flags give the same updates, the same glass and the same event trace (DESIGN.md §1), with
    /// a random scheduler interleaving two writers.
    @Test(arguments: ["displaylink", "mipi-dbi-spi32", "epd213"])
    @EmuActor func runsAreDeterministic(_ name: String) throws {
        func run() -> ([PanelUpdate], [UInt32], UInt64, PanelStats) {
            let profile = PanelProfile.named(name)!
            let rig = makeRig(profile, xres: min(profile.width, 320), yres: min(profile.height, 240),
                              policy: .random(seed: 42))
            let visible = rig.info.variable.yres * rig.info.fix.lineLength
            for w in 0 ..< 2 {
                rig.spawnWriter("w\(w)") { t, fd, base in
                    let half = visible / 2
                    for round in 0 ..< 3 {
                        try store(t, base, at: w * half,
                                        pattern(bytes: half, seed: UInt64(10 * w + round)))
                        try t.fsync(fd)
                    }
                }
            }
            #expect(rig.k.sched.run() == .completed)
            #expect(rig.driver.image == rig.driver.expectedImage())
            return (rig.updates.value, rig.driver.image, rig.k.events.hash, rig.driver.stats)
        }
        let first = run()
        let second = run()
        #expect(first.0 == second.0)
        #expect(first.1 == second.1)
        #expect(first.2 == second.2)
        #expect(first.3 == second.3)
    }
}
