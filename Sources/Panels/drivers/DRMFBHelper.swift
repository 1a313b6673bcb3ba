// SPDX-License-Identifier: MIT — DRM fbdev emulation's deferred I/O: one bounding box per cycle, pushed by a
// damage worker (kernel: drivers/gpu/drm/drm_fb_helper.c, drm_fbdev_{shmem,dma,generic}.c, drm_mipi_dbi.c,
// tiny/simpledrm.c).
import Kernel

/// A rectangle as x1, y1 (inclusive) and x2, y2 (exclusive). Kernel: `struct drm_rect` — include/drm/drm_rect.h
package struct DRMRect: Sendable, Equatable, Hashable, CustomStringConvertible {
    package var x1: Int
    package var y1: Int
    package var x2: Int
    package var y2: Int
    package init(x1: Int, y1: Int, x2: Int, y2: Int) {
        self.x1 = x1
        self.y1 = y1
        self.x2 = x2
        self.y2 = y2
    }
    /// The empty clip the damage worker resets to (x1 = y1 = ~0, x2 = y2 = 0).
    package static let reset = DRMRect(x1: Int(UInt32.max), y1: Int(UInt32.max), x2: 0, y2: 0)
    /// Kernel: drm_rect_visible()
    package var isVisible: Bool { x1 < x2 && y1 < y2 }
    package var rect: Rect { Rect(x: x1, y: y1, width: x2 - x1, height: y2 - y1) }
    package var description: String { "(\(x1),\(y1))-(\(x2),\(y2))" }
}

/// Switches of DRM fbdev emulation's damage clipping (kernel-spec.md §9). The defaults are the newest kernel's.
/// Kernel analogue: none (emulator variants).
package struct DRMFBHelperVariant: Sendable, Equatable {
    /// The 2023 fixes (Sui Jingfeng; fbdev-generic's screen_size = height × pitch): the damaged range is kept
    /// within the visible rows and the clip clamped to yres. Off: bug J, `drm_damage_past_yres_2023` — a write to
    /// the page-rounded tail makes a clip past yres and an out-of-bounds blit.
    package var clampDamageToYres = true
    /// The 2025 fix (Francesco Lavra): a single-scanline clip ends at `bit_off + len × 8`. Off: it ends at
    /// `(end % line_length) × 8`, so a range ending exactly at a line end gives x2 = 0 and the damage is dropped.
    package var singleScanlineEndFromLength = true
    /// 6.19 (d8c4bddcd8bc, "drm/fb-helper: Synchronize dirty worker with vblank", T. Zimmermann): the damage worker
    /// first waits for the next vblank of the fbdev's CRTC, then takes the clip — damage arriving meanwhile joins
    /// the same flush, so flushes are rate-limited to the refresh. Only where the CRTC has vblanks
    /// (`PanelProfile.vblank`). Off: the kernels before 6.19 take the clip at once.
    package var waitForVblank = true
    package init() {}
}

/// The framebuffer's `dirty` hook of the DRM driver under the fbdev emulation: where the damage worker sends a clip.
/// One type per hook, so that each DRM driver is a `PanelDriver` of its own, `DRMFBHelperDeferredIO<Hook>`.
/// Kernel: `drm_framebuffer_funcs.dirty` of simpledrm (drm_atomic_helper_dirtyfb) and of MIPI DBI drivers.
package protocol DRMDirtyHook: SendableMetatype {
    /// The hook as the panel table names it (`firmware-blit`, `mipi-dbi`).
    static var name: String { get }
    /// Time of the hook's flush of the whole screen of `layout`.
    static func fullFrameTime(_ profile: PanelProfile, _ layout: FramebufferLayout) -> VirtualTime
    /// Sends `visible` (the part of the damage clip inside the screen) to the panel.
    @EmuActor static func fbDirty(_ helper: DRMFBHelperDeferredIO<Self>, _ visible: Rect, for update: UpdateBuilder)
}

/// simpledrm: the atomic commit of the dirty hook, then a CPU blit of each clip row into the firmware framebuffer.
/// Kernel: drm_atomic_helper_dirtyfb() → simpledrm's plane update → drm_fb_blit() — drivers/gpu/drm/sysfb/simpledrm.c
package enum FirmwareBlitDirty: DRMDirtyHook {
    package static var name: String { "firmware-blit" }

    /// Every row of the screen blitted, after the commit.
    package static func fullFrameTime(_ profile: PanelProfile, _ layout: FramebufferLayout) -> VirtualTime {
        VirtualTime(picoseconds: profile.bus.time(bytes: layout.width * 4, transfers: 0).picoseconds
                        * Int64(layout.height))
            + profile.bus.time(bytes: 0, transfers: profile.commandTransfers)
    }

    @EmuActor package static func fbDirty(_ helper: DRMFBHelperDeferredIO<Self>, _ visible: Rect,
                                         for update: UpdateBuilder) {
        let panel = helper.panel
        panel.transfer(bytes: panel.profile.commandBytes, transfers: panel.profile.commandTransfers, for: update)
        guard visible.area > 0 else { return }
        for y in visible.y ..< visible.maxY {
            let row = panel.readFramebuffer(row: y, x: visible.x, count: visible.width)
            panel.transfer(bytes: visible.width * 4, transfers: 0, for: update)
            panel.store(row: y, x: visible.x, row, into: update)
        }
    }
}

/// A MIPI DBI panel on SPI (panel-mipi-dbi, mi0283qt) behind fbdev-dma. Every pixel is copied before the first
/// transfer, twice: the damage blit takes the clip rows out of the fbdev shadow buffer (the vmalloc'ed buffer
/// fb_defio tracks) into the GEM buffer, and mipi_dbi_buf_copy converts the whole clip into `tx_buf` (sized for a
/// full frame) — byte-swapped RGB565, as an SPI controller without 16-bit words needs (swap_bytes; the only case that
/// skips this copy is a full-frame RGB565 update on a controller with 16-bit words, and it still sends the GEM
/// buffer, not the shadow). Then set_window_address (0x2A, 0x2B), 0x2C, and the tx buffer in chunks of the
/// controller's largest transfer. So a write to the framebuffer during the transfer is not in what is sent: it
/// faults (the fb_defio worker write-protected every listed page before the callback), and the next batch's damage
/// pass carries it.
/// Kernel: drm_fbdev_dma_helper_fb_dirty() → drm_fbdev_dma_damage_blit() — drivers/gpu/drm/drm_fbdev_dma.c;
/// drm_atomic_helper_dirtyfb() → mipi_dbi_fb_dirty() → mipi_dbi_buf_copy(), mipi_dbi_set_window_address(),
/// mipi_dbi_command_buf() → mipi_dbi_spi_transfer() — drivers/gpu/drm/drm_mipi_dbi.c
package enum MIPIDBIDirty: DRMDirtyHook {
    package static var name: String { "mipi-dbi" }

    /// The window commands, then the whole screen as RGB565 in the controller's chunks.
    package static func fullFrameTime(_ profile: PanelProfile, _ layout: FramebufferLayout) -> VirtualTime {
        profile.bus.time(bytes: profile.commandBytes, transfers: profile.commandTransfers)
            + profile.bus.time(bytes: layout.height * layout.width * 2, inChunksOf: profile.maxTransferBytes)
    }

    @EmuActor package static func fbDirty(_ helper: DRMFBHelperDeferredIO<Self>, _ visible: Rect,
                                         for update: UpdateBuilder) {
        let panel = helper.panel
        var snapshot: [[UInt32]] = []
        if visible.area > 0 {
            snapshot = (visible.y ..< visible.maxY).map {
                panel.readFramebuffer(row: $0, x: visible.x, count: visible.width)
            }
            let costs = panel.info.kernel.costs
            panel.chargeCPU(costs.copy(visible.area * panel.fbBytesPerPixel))  // drm_fbdev_dma_damage_blit
            panel.chargeCPU(costs.copy(visible.area * 2))  // mipi_dbi_buf_copy into tx_buf
        }
        panel.transfer(bytes: panel.profile.commandBytes, transfers: panel.profile.commandTransfers, for: update)
        if visible.area > 0 {
            panel.streamWindow(visible, rowBytes: visible.width * 2, wireBits: 16,
                               chunk: panel.profile.maxTransferBytes, snapshot: snapshot, for: update)
        }
    }
}

/// DRM fbdev emulation's deferred I/O. The callback reduces the page list to one byte range
/// `[min offset, max offset + PAGE_SIZE)`, kept within the screen buffer, converts it to a clip
/// (`drm_fb_helper_memory_range_to_clip`: rows `off / line_length ..< ceil(end / line_length)`, clamped to yres,
/// full width unless the range lies in one scanline, then the exact pixel span — scenario 24), unions it into
/// `helper->damage_clip` and schedules the damage worker (schedule_work, no delay); it does not touch the bus, so
/// the defio mutex is held only for that. The damage worker (since 6.19, on a CRTC with vblanks: after the next
/// vblank) takes and resets the clip and calls the framebuffer's dirty hook with it: simpledrm blits the clip rows
/// into the firmware framebuffer (a CPU copy); a MIPI DBI panel gets the clip copied out of the framebuffer first
/// and then, over SPI, the window commands and those pixels. Two far-apart pages re-send every row between them.
///
/// The damage worker runs on a worker of its own, standing for the second kworker a concurrency-managed workqueue
/// starts while the fb_defio work sleeps, and takes neither the defio mutex nor anything the fault path takes; so a
/// slow panel delays neither the defio work nor the writers:
///
///     fb_defio worker (state->lock)         | damage worker (no defio lock)
///     wrprotect pages, deferred_io():       |
///       clip ∪= range; schedule_work()      |
///     unlock state->lock                    | [vblank wait] take clip, dirty hook: copy, spi_sync × n
///     writer faults: state->lock is free    |   … still sending
///
/// Kernel: drm_fb_helper_deferred_io() + drm_fb_helper_memory_range_to_clip() + drm_fb_helper_damage() +
/// drm_fb_helper_damage_work() — drivers/gpu/drm/drm_fb_helper.c
@EmuActor package final class DRMFBHelperDeferredIO<Hook: DRMDirtyHook>: PanelDriver {
    package nonisolated static var name: String { "drm-fbdev (\(Hook.name))" }
    package nonisolated static var style: CallbackStyle { .boundingBox }
    package nonisolated static var kernelFunction: String {
        "drm_fb_helper_deferred_io() — drivers/gpu/drm/drm_fb_helper.c"
    }

    /// The dirty hook's flush of the whole screen (the damage worker's clip is then the screen).
    package nonisolated static func fullFrameTime(_ profile: PanelProfile, _ layout: FramebufferLayout) -> VirtualTime {
        Hook.fullFrameTime(profile, layout)
    }

    package let panel: Panel
    package let variant: DRMFBHelperVariant
    /// The damage not yet flushed. Protected by helper->damage_lock. Kernel: helper->damage_clip
    package private(set) var damageClip = DRMRect.reset
    /// The pages behind `damageClip`, in the order the callbacks received them.
    private var damagePages: [PgOff] = []
    /// The worker the damage work runs on, and the work. Kernel: helper->damage_work on system_wq
    package let damageWorkqueue: Workqueue
    package private(set) var damageWork: DelayedWork!
    /// Vblank waits the damage worker slept through, and the vblank it last woke at.
    package private(set) var vblankWaits = 0
    package private(set) var lastVblank: VirtualTime?

    package init(_ panel: Panel, options: PanelOptions) {
        self.panel = panel
        variant = options.drm
        damageWorkqueue = Workqueue("events/damage", kernel: panel.info.kernel)
        damageWork = DelayedWork("drm_fb_helper_damage_work", on: damageWorkqueue) { [unowned self] in
            self.drmFBHelperDamageWork()
        }
    }

    /// Kernel: drm_fb_helper_deferred_io()
    package func deferredIO(_ info: FBInfo, _ pagerefs: [FBDeferredIOPageref]) {
        panel.noteCallback(pagerefs)
        var minOff = Int.max, maxOff = 0
        for ref in pagerefs {
            minOff = min(minOff, ref.offset)
            maxOff = max(maxOff, ref.offset + PAGE_SIZE)
        }
        guard minOff < maxOff else { return }
        // As only pages are tracked, the range may reach past the screen: keep it within the screen buffer.
        maxOff = min(maxOff, screenSize(info))
        let clip = drmFBHelperMemoryRangeToClip(
            off: minOff, len: maxOff - minOff, lineLength: info.fix.lineLength, xres: info.variable.xres,
            yres: info.variable.yres, bitsPerPixel: info.variable.bitsPerPixel, variant: variant)
        damagePages += pagerefs.map(\.pgoff)
        drmFBHelperDamage(clip)
    }

    /// `info->screen_size`: height × pitch since the 2023 fix; the page-rounded buffer size before it.
    func screenSize(_ info: FBInfo) -> Int {
        variant.clampDamageToYres ? info.variable.yres * info.fix.lineLength : info.fix.smemLen
    }

    /// Unions a clip into the pending damage and schedules the damage worker. Kernel: drm_fb_helper_damage()
    func drmFBHelperDamage(_ clip: DRMRect) {
        damageClip.x1 = min(damageClip.x1, clip.x1)
        damageClip.y1 = min(damageClip.y1, clip.y1)
        damageClip.x2 = max(damageClip.x2, clip.x2)
        damageClip.y2 = max(damageClip.y2, clip.y2)
        damageWork.schedule(Jiffies(0))
    }

    /// The `write()` system call on the device: copy into the screen buffer (no page faults, so fb_defio sees
    /// nothing), then damage the bytes written, which go straight to the damage worker (scenario 20). Returns the
    /// bytes written (clamped to smem_len).
    /// Kernel: drm_fbdev_dma_defio_write() (FB_GEN_DEFAULT_DEFERRED_DMAMEM_OPS in include/linux/fb.h) →
    /// fb_sys_write() + drm_fb_helper_damage_range()
    @discardableResult
    package func drmFBDevDefioWrite(offset: Int, _ bytes: [UInt8]) -> Int {
        let count = panel.info.fbSysWrite(offset: offset, bytes)
        if count > 0 { drmFBHelperDamageRange(off: offset, len: count) }
        return count
    }

    /// Damage from the `write()` path: the written byte range as a clip. Kernel: drm_fb_helper_damage_range()
    func drmFBHelperDamageRange(off: Int, len: Int) {
        let info = panel.info
        drmFBHelperDamage(drmFBHelperMemoryRangeToClip(
            off: off, len: len, lineLength: info.fix.lineLength, xres: info.variable.xres,
            yres: info.variable.yres, bitsPerPixel: info.variable.bitsPerPixel, variant: variant))
    }

    /// Waits for the next vblank of the fbdev's CRTC, if it has vblanks at all: without drm_vblank_init,
    /// drm_crtc_vblank_get() fails and the wait returns at once. (Not modelled: a DRM master present makes
    /// drm_master_internal_acquire() fail, and then nothing waits either.) Returns whether it slept.
    /// Kernel: drm_client_modeset_wait_for_vblank() → drm_crtc_vblank_get() + drm_crtc_wait_one_vblank() —
    /// drivers/gpu/drm/drm_client_modeset.c, drm_vblank.c
    @discardableResult
    func drmClientModesetWaitForVblank() -> Bool {
        guard let period = panel.profile.vblank else { return false }
        let sched = panel.info.kernel.sched
        let vblank = drmNextVblank(after: sched.now, period: period)
        sched.sleep(until: vblank)
        vblankWaits += 1
        lastVblank = vblank
        return true
    }

    /// Waits for the vblank (6.19 on), then takes and resets the damage and flushes it through the framebuffer's
    /// dirty hook. Runs without the defio mutex: only `damageClip` is shared with the callback.
    /// Kernel: drm_fb_helper_damage_work() → drm_fb_helper_fb_dirty() → helper->funcs->fb_dirty()
    func drmFBHelperDamageWork() {
        let info = panel.info
        // drm_fb_helper_fb_dirty: the vblank first (under helper->lock), the clip after it.
        if variant.waitForVblank { drmClientModesetWaitForVblank() }
        let clip = damageClip
        damageClip = .reset
        let pages = damagePages
        damagePages = []
        guard clip.isVisible else {
            // The dirty hook returns early on a clip without area: nothing is flushed.
            if !pages.isEmpty { panel.diagnose(.emptyDamageClip(clip), in: nil) }
            return
        }
        let update = panel.beginUpdate(pages: pages)
        update.rects.append(clip.rect)
        let yres = info.variable.yres
        if clip.y2 > yres {
            let past = (clip.y2 - max(clip.y1, yres)) * info.fix.lineLength
            panel.diagnose(.damageClipPastYres(clip: clip, yres: yres, bytesPastEnd: past), in: update)
        }
        // What the emulator may copy: the visible part of the clip.
        let x1 = min(clip.x1, info.variable.xres), x2 = min(clip.x2, info.variable.xres)
        let y1 = min(clip.y1, yres), y2 = min(clip.y2, yres)
        let visible = Rect(x: x1, y: y1, width: x2 - x1, height: y2 - y1)
        Hook.fbDirty(self, visible, for: update)
        panel.finish(update)
    }

    /// Waits for the damage worker to finish what is queued. Kernel analogue: flush_work(&helper->damage_work)
    package func flush() {
        guard panel.info.kernel.sched.current >= 0 else { return }
        damageWork.flush()
    }
}

/// Converts a byte range of the framebuffer into a clip of scanlines and, within one scanline, pixels.
/// Kernel: drm_fb_helper_memory_range_to_clip()
package func drmFBHelperMemoryRangeToClip(off: Int, len: Int, lineLength: Int, xres: Int, yres: Int,
                                         bitsPerPixel: Int, variant: DRMFBHelperVariant) -> DRMRect {
    let end = off + len
    var x1 = 0, x2 = xres
    var y1 = off / lineLength
    var y2 = (end + lineLength - 1) / lineLength
    if variant.clampDamageToYres {
        // Not beyond the bottom of the display area.
        y1 = min(y1, yres)
        y2 = min(y2, yres)
    }
    if y2 - y1 == 1 {
        // A single scanline: only the pixels written need an update.
        let bitOff = (off % lineLength) * 8
        let bitEnd = variant.singleScanlineEndFromLength ? bitOff + len * 8 : (end % lineLength) * 8
        x1 = bitOff / bitsPerPixel
        x2 = (bitEnd + bitsPerPixel - 1) / bitsPerPixel
    }
    return DRMRect(x1: x1, y1: y1, x2: x2, y2: y2)
}

/// The next vblank strictly after `now` on a CRTC whose vblank k comes at k × `period`: the vblank counter
/// has to move on, so a worker that wakes exactly at a vblank waits for the one after.
func drmNextVblank(after now: VirtualTime, period: VirtualTime) -> VirtualTime {
    VirtualTime(picoseconds: (now.picoseconds / period.picoseconds + 1) * period.picoseconds)
}
