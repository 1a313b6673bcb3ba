import Testing
import Kernel
@testable import Panels
import TestSupport

/// DRM fbdev emulation's damage worker: when it calls the dirty hook (after the next vblank since 6.19, where the
/// CRTC has vblanks), what a MIPI DBI panel sends (the clip as copied before the first transfer), and which locks it
/// holds while the bus is busy (not the defio mutex).
@Suite struct DamageWorkerTests {
    /// 60 Hz. The DRM profiles shipped have no vblank (their drivers never call drm_vblank_init), so the tests that
    /// need one give the MIPI DBI panel a CRTC with a vblank timer at this rate.
    static let frame = VirtualTime(picoseconds: 16_666_666_667)

    /// Records when the fb_defio callback runs (the batch), then calls the driver's callback.
    @EmuActor static func recordCallbacks(_ rig: Rig) -> Box<[VirtualTime]> {
        let times = Box<[VirtualTime]>([])
        let inner = rig.info.fbdefio!.deferredIO
        let k = rig.k
        rig.info.fbdefio!.deferredIO = { info, pagerefs in
            times.value.append(k.now)
            inner(info, pagerefs)
        }
        return times
    }

    /// The vblank counter has to move on: the next vblank is strictly later, even from a vblank instant.
    @Test func nextVblankIsStrictlyLater() {
        let p = Self.frame
        #expect(drmNextVblank(after: .zero, period: p) == p)
        #expect(drmNextVblank(after: p - VirtualTime(picoseconds: 1), period: p) == p)
        #expect(drmNextVblank(after: p, period: p) == p + p)
        #expect(drmNextVblank(after: .ms(40), period: p) == VirtualTime(picoseconds: 3 * p.picoseconds))
    }

    /// 6.19's drm_fb_helper_fb_dirty: the damage worker, queued by the callback, sleeps until the next vblank and
    /// only then takes the clip and calls the dirty hook — the first byte goes out at the vblank, not before. Before
    /// 6.19 (`waitForVblank` off) the hook runs as soon as the worker does. The drivers as shipped (MIPI DBI,
    /// simpledrm) have no vblank, so they never wait.
    @Test(arguments: [(true, true), (false, true), (true, false)])
    @EmuActor func dirtyHookRunsAtTheNextVblank(wait: Bool, crtcHasVblank: Bool) throws {
        var options = PanelOptions()
        options.drm.waitForVblank = wait
        let base = PanelProfile.named("mipi-dbi-spi32")!
        #expect(base.vblank == nil && PanelProfile.named("simpledrm")!.vblank == nil)
        let rig = makeRig(crtcHasVblank ? base.withVBlank(Self.frame) : base, options: options)
        let drm = try #require(rig.driver as? DRMFBHelperDeferredIO<MIPIDBIDirty>)
        let callbacks = Self.recordCallbacks(rig)
        rig.spawnWriter { t, fd, base in
            rig.k.sched.sleep(until: .ms(5))
            try t.store16(base + 3 * PAGE_SIZE, 0xF800)
            try t.fsync(fd)
            drm.flush()
        }
        #expect(rig.k.sched.run() == .completed)
        let batch = try #require(callbacks.value.first)
        let u = try #require(rig.updates.value.first)
        #expect(rig.updates.value.count == 1)
        #expect(drm.image == drm.expectedImage())
        if wait && crtcHasVblank {
            let vblank = drmNextVblank(after: batch, period: Self.frame)
            #expect(u.start == vblank)
            #expect(drm.lastVblank == vblank && drm.vblankWaits == 1)
            #expect(u.start > batch && u.start <= batch + Self.frame)
            // Nothing went out before the vblank: the whole bus time lies after it.
            #expect(u.end >= vblank + u.busTime)
        } else {
            #expect(drm.vblankWaits == 0 && drm.lastVblank == nil)
            #expect(u.start < batch + .us(100))
        }
    }

    /// Damage that arrives while the worker waits for the vblank joins the same flush: the clip is taken after the
    /// wait. Here write() (no page faults: the damage goes straight to the worker) adds rows 200 ..< 201 after the
    /// mmap batch for page 3 queued the worker. With the wait, one update covers rows 19 ..< 201; without it the
    /// worker has already taken page 3's clip and the write makes a second update.
    @Test(arguments: [true, false])
    @EmuActor func damageDuringTheVblankWaitJoinsTheFlush(wait: Bool) throws {
        var options = PanelOptions()
        options.drm.waitForVblank = wait
        let rig = makeRig(PanelProfile.named("mipi-dbi-spi32")!.withVBlank(Self.frame), options: options)
        let drm = try #require(rig.driver as? DRMFBHelperDeferredIO<MIPIDBIDirty>)
        let callbacks = Self.recordCallbacks(rig)
        let info = rig.info
        rig.spawnWriter { t, fd, base in
            rig.k.sched.sleep(until: .ms(5))
            try t.store16(base + 3 * PAGE_SIZE, 0xF800)
            try t.fsync(fd)
            // Still before the vblank (the next one is at 16.7 ms).
            rig.k.sched.sleep(until: rig.k.now + .ms(2))
            #expect(rig.k.now < Self.frame)
            let row = [UInt16](repeating: 0x001F, count: 320).withUnsafeBytes { [UInt8]($0) }
            #expect(drm.drmFBDevDefioWrite(offset: 200 * info.fix.lineLength, row) == 640)
            // Past the end of screen memory nothing is written and nothing damaged.
            #expect(drm.drmFBDevDefioWrite(offset: info.fix.smemLen, row) == 0)
            drm.flush()
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(callbacks.value.count == 1)
        #expect(drm.image == drm.expectedImage())
        let u = rig.updates.value
        if wait {
            #expect(u.map(\.rects) == [[Rect(x: 0, y: 19, width: 320, height: 182)]])
            // The second run the write queued waited for the next vblank and found nothing left.
            #expect(drm.vblankWaits == 2)
        } else {
            #expect(u.map(\.rects) == [[Rect(x: 0, y: 19, width: 320, height: 7)],
                                       [Rect(x: 0, y: 200, width: 320, height: 1)]])
        }
    }

    /// mipi_dbi_fb_dirty converts the whole clip into its tx buffer (after fbdev-dma's damage blit copied it out of
    /// the shadow buffer) before the first spi_sync. A write to the last row while the first data chunk is on the
    /// wire is therefore not in this update, though that row goes out 30 ms later in the third chunk: the glass
    /// still shows the old pixel when the update ends. The write faulted again (its page was write-protected for
    /// this batch), so the next batch's damage pass carries it.
    @Test @EmuActor func writeDuringTheTransferComesWithTheNextPass() throws {
        let rig = makeRig(PanelProfile.named("mipi-dbi-spi32")!)
        let drm = try #require(rig.driver as? DRMFBHelperDeferredIO<MIPIDBIDirty>)
        let lastRow = 239 * 320
        let seen = Box<[UInt32]>([])
        let written = Box(VirtualTime.zero)
        drm.onUpdate = { u in
            rig.updates.value.append(u)
            seen.value.append(drm.image[lastRow])
        }
        rig.spawnWriter("A") { t, fd, base in
            try store(t, base, at: 0, [UInt8](repeating: 0, count: 320 * 240 * 2))
            try t.fsync(fd)
        }
        rig.spawnWriter("B") { t, _, base in
            // The window commands and the first data chunk have started.
            while drm.stats.transfers < drm.profile.commandTransfers + 1 { rig.k.sched.sleep(until: rig.k.now + .us(50)) }
            written.value = rig.k.now
            try t.store16(base + 239 * 640, 0xFFFF)
        }
        #expect(rig.k.sched.run() == .completed)
        let u = rig.updates.value
        try #require(u.count == 2)
        #expect(u[0].rects == [Rect(x: 0, y: 0, width: 320, height: 240)])
        #expect(u[0].transfers == 5 + 3)  // 153,600 B in chunks of 65,534
        #expect(u[0].start < written.value && written.value < u[0].end)
        #expect(seen.value[0] == 0xFF00_0000)  // the update that was on the wire: the old, black pixel
        #expect(u[1].pages == [PgOff(37)])
        #expect(u[1].rects == [Rect(x: 0, y: 236, width: 320, height: 4)])
        #expect(seen.value[1] == 0xFFFF_FFFF)
        #expect(drm.image == drm.expectedImage())
    }

    /// The damage worker sends without the defio mutex: sampled while its SPI transfer is under way, state->lock is
    /// free and the worker is busy; a fault that needs the mutex completes at once. fbtft, whose callback sends, has
    /// the mutex held by the fb_defio worker at the same point, and the same fault waits for the transfer.
    @Test(arguments: ["mipi-dbi-spi32", "ili9341-spi32"])
    @EmuActor func damageWorkerSendsWithoutTheDefioMutex(panel: String) throws {
        let rig = makeRig(PanelProfile.named(panel)!)
        let driver = rig.driver
        let state = try #require(rig.info.fbdefioState)
        let sample = Box<(locked: Bool, owner: Int, damageRunning: Bool?, faultTook: VirtualTime, faultDone: VirtualTime)>(
            (false, -1, nil, .zero, .zero))
        rig.spawnWriter("A") { t, fd, base in
            try store(t, base, at: 0, [UInt8](repeating: 0x11, count: 320 * 120 * 2))
            try t.fsync(fd)
        }
        rig.spawnWriter("B") { t, _, base in
            while driver.stats.transfers < driver.profile.commandTransfers + 1 { rig.k.sched.sleep(until: rig.k.now + .us(50)) }
            sample.value.locked = state.lock.isLocked
            sample.value.owner = state.lock.owner
            sample.value.damageRunning = (driver as? DRMFBHelperDeferredIO<MIPIDBIDirty>)?.damageWork.isRunning
            let start = rig.k.now
            try t.store16(base + 200 * 640, 0xFFFF)  // a page outside A's batch: a fresh write fault
            sample.value.faultTook = rig.k.now - start  // never negative: time only moves on
            sample.value.faultDone = rig.k.now
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(driver.image == driver.expectedImage())
        let first = try #require(rig.updates.value.first)
        if let drm = driver as? DRMFBHelperDeferredIO<MIPIDBIDirty> {
            #expect(sample.value.damageRunning == true)
            #expect(!sample.value.locked)
            #expect(sample.value.owner != drm.damageWorkqueue.workerID)
            #expect(sample.value.faultTook < .ms(1))
        } else {
            #expect(sample.value.locked)
            #expect(sample.value.faultTook > .ms(1))
            #expect(sample.value.faultDone >= first.end)
        }
    }
}
