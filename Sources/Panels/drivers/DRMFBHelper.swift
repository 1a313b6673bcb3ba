// SPDX-License-Identifier: MIT — DRM fbdev emulation's deferred I/O: one bounding box per cycle, pushed by a
// damage worker (kernel: drivers/gpu/drm/drm_fb_helper.c, drm_fbdev_{shmem,dma,generic}.c, drm_mipi_dbi.c,
// tiny/simpledrm.c).
import Kernel

/// A rectangle as x1, y1 (inclusive) and x2, y2 (exclusive). Kernel: `struct drm_rect` — include/drm/drm_rect.h
public struct DRMRect: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var x1: Int
    public var y1: Int
    public var x2: Int
    public var y2: Int
    public init(x1: Int, y1: Int, x2: Int, y2: Int) {
        self.x1 = x1
        self.y1 = y1
        self.x2 = x2
        self.y2 = y2
    }
    /// The empty clip the damage worker resets to (x1 = y1 = ~0, x2 = y2 = 0).
    public static let reset = DRMRect(x1: Int(UInt32.max), y1: Int(UInt32.max), x2: 0, y2: 0)
    /// Kernel: drm_rect_visible()
    public var isVisible: Bool { x1 < x2 && y1 < y2 }
    public var rect: PanelRect { PanelRect(x: x1, y: y1, width: x2 - x1, height: y2 - y1) }
    public var description: String { "(\(x1),\(y1))-(\(x2),\(y2))" }
}

/// Switches of DRM fbdev emulation's damage clipping (kernel-spec.md §9). The defaults are the newest kernel's.
/// Kernel analogue: none (emulator variants).
public struct DRMFBHelperVariant: Sendable, Equatable {
    /// The 2023 fixes (Sui Jingfeng; fbdev-generic's screen_size = height × pitch): the damaged range is kept
    /// within the visible rows and the clip clamped to yres. Off: bug J, `drm_damage_past_yres_2023` — a write to
    /// the page-rounded tail makes a clip past yres and an out-of-bounds blit.
    public var clampDamageToYres = true
    /// The 2025 fix (Francesco Lavra): a single-scanline clip ends at `bit_off + len × 8`. Off: it ends at
    /// `(end % line_length) × 8`, so a range ending exactly at a line end gives x2 = 0 and the damage is dropped.
    public var singleScanlineEndFromLength = true
    public init() {}
}

/// DRM fbdev emulation's deferred I/O. The callback reduces the page list to one byte range
/// `[min offset, max offset + PAGE_SIZE)`, kept within the screen buffer, converts it to a clip
/// (`drm_fb_helper_memory_range_to_clip`: rows `off / line_length ..< ceil(end / line_length)`, clamped to yres,
/// full width unless the range lies in one scanline, then the exact pixel span — scenario 24), unions it into
/// `helper->damage_clip` and schedules the damage worker; it does not touch the bus, so the defio mutex is held
/// only for that. The damage worker takes and resets the clip and calls the framebuffer's dirty hook with it:
/// simpledrm blits the clip rows into the firmware framebuffer (a CPU copy); a MIPI DBI panel gets the window
/// commands and the clip's pixels over SPI (converted to RGB565 in its tx buffer). Two far-apart pages re-send
/// every row between them.
///
/// The damage worker runs on a worker of its own, standing for the second kworker a concurrency-managed workqueue
/// starts while the fb_defio work sleeps; so a slow panel delays neither the defio work nor the writers.
/// Kernel: drm_fb_helper_deferred_io() + drm_fb_helper_memory_range_to_clip() + drm_fb_helper_damage() +
/// drm_fb_helper_damage_work()
@EmuActor public final class DRMFBHelperDeferredIO: PanelDriver {
    public let panel: Panel
    public let variant: DRMFBHelperVariant
    /// The damage not yet flushed. Protected by helper->damage_lock. Kernel: helper->damage_clip
    public private(set) var damageClip = DRMRect.reset
    /// The pages behind `damageClip`, in the order the callbacks received them.
    private var damagePages: [PgOff] = []
    /// The worker the damage work runs on, and the work. Kernel: helper->damage_work on system_wq
    public let damageWorkqueue: Workqueue
    public private(set) var damageWork: DelayedWork!

    init(_ panel: Panel, variant: DRMFBHelperVariant) {
        self.panel = panel
        self.variant = variant
        damageWorkqueue = Workqueue("events/damage", kernel: panel.info.kernel)
        damageWork = DelayedWork("drm_fb_helper_damage_work", on: damageWorkqueue) { [unowned self] in
            await self.drmFBHelperDamageWork()
        }
    }

    /// Kernel: drm_fb_helper_deferred_io()
    public func deferredIO(_ info: FBInfo, _ pagerefs: [FBDeferredIOPageref]) async {
        panel.noteCallback(pagerefs)
        var minOff = Int.max, maxOff = 0
        for ref in pagerefs {
            minOff = min(minOff, ref.offset)
            maxOff = max(maxOff, ref.offset + PAGE_SIZE)
        }
        guard minOff < maxOff else { return }
        // As only pages are tracked, the range may reach past the screen: keep it within the screen buffer.
        maxOff = min(maxOff, screenSize(info))
        let clip = Self.drmFBHelperMemoryRangeToClip(
            off: minOff, len: maxOff - minOff, lineLength: info.fix.lineLength, xres: info.variable.xres,
            yres: info.variable.yres, bitsPerPixel: info.variable.bitsPerPixel, variant: variant)
        damagePages += pagerefs.map(\.pgoff)
        drmFBHelperDamage(clip)
    }

    /// `info->screen_size`: height × pitch since the 2023 fix; the page-rounded buffer size before it.
    func screenSize(_ info: FBInfo) -> Int {
        variant.clampDamageToYres ? info.variable.yres * info.fix.lineLength : info.fix.smemLen
    }

    /// Converts a byte range of the framebuffer into a clip of scanlines and, within one scanline, pixels.
    /// Kernel: drm_fb_helper_memory_range_to_clip()
    nonisolated public static func drmFBHelperMemoryRangeToClip(off: Int, len: Int, lineLength: Int, xres: Int, yres: Int,
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

    /// Unions a clip into the pending damage and schedules the damage worker. Kernel: drm_fb_helper_damage()
    func drmFBHelperDamage(_ clip: DRMRect) {
        damageClip.x1 = min(damageClip.x1, clip.x1)
        damageClip.y1 = min(damageClip.y1, clip.y1)
        damageClip.x2 = max(damageClip.x2, clip.x2)
        damageClip.y2 = max(damageClip.y2, clip.y2)
        damageWork.schedule(Jiffies(0))
    }

    /// Damage from the `write()` path (fb_sys_write into the screen buffer, no page faults): the written byte range
    /// goes straight to the damage worker, bypassing fb_defio (scenario 20). Kernel: drm_fb_helper_damage_range()
    public func drmFBHelperDamageRange(off: Int, len: Int) {
        let info = panel.info
        drmFBHelperDamage(Self.drmFBHelperMemoryRangeToClip(
            off: off, len: len, lineLength: info.fix.lineLength, xres: info.variable.xres,
            yres: info.variable.yres, bitsPerPixel: info.variable.bitsPerPixel, variant: variant))
    }

    /// Takes and resets the damage, then flushes it through the framebuffer's dirty hook.
    /// Kernel: drm_fb_helper_damage_work() → helper->funcs->fb_dirty()
    func drmFBHelperDamageWork() async {
        let info = panel.info
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
        let visible = PanelRect(x: x1, y: y1, width: x2 - x1, height: y2 - y1)
        guard case .drmFBHelper(let target) = panel.profile.driver else {
            preconditionFailure("DRMFBHelperDeferredIO on a non-DRM profile")
        }
        switch target {
        case .firmwareBlit:
            // The atomic commit of the dirty hook, then the blit of each clip row (simpledrm, drm_fb_blit).
            await panel.transfer(bytes: panel.profile.commandBytes, transfers: panel.profile.commandTransfers,
                                 for: update)
            if visible.area > 0 {
                for y in visible.y ..< visible.maxY {
                    let row = panel.readFramebuffer(row: y, x: visible.x, count: visible.width)
                    await panel.transfer(bytes: visible.width * 4, transfers: 0, for: update)
                    panel.store(row: y, x: visible.x, row, into: update)
                }
            }
        case .mipiDBI:
            // mipi_dbi_fb_dirty: set_window_address (0x2A, 0x2B), then 0x2C and the clip's pixels.
            await panel.transfer(bytes: panel.profile.commandBytes, transfers: panel.profile.commandTransfers,
                                 for: update)
            if visible.area > 0 {
                await panel.streamWindow(visible, rowBytes: visible.width * 2, wireBits: 16,
                                         chunk: panel.profile.maxTransferBytes, for: update)
            }
        }
        panel.finish(update)
    }

    /// Waits for the damage worker to finish what is queued. Kernel analogue: flush_work(&helper->damage_work)
    public func flush() async {
        guard panel.info.kernel.sched.current >= 0 else { return }
        await damageWork.flush()
    }
}
