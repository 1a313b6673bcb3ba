// SPDX-License-Identifier: MIT — per-page copy (kernel: drivers/video/fbdev/hyperv_fb.c, the same shape as
// xen-fbfront.c): every listed page is copied to the memory the host scans, then one dirty rectangle of the
// bounding rows is posted.
import Kernel

/// Hyper-V synthetic video's deferred I/O, in its 5.6–6.x form where the guest framebuffer is separate from the
/// VRAM the host reads (`need_docopy`): each listed page is copied into VRAM (`hvfb_docopy`, clamped to the
/// buffer), the bounding rows `offset / line_length … (offset + PAGE_SIZE − 1) / line_length` of all pages are
/// merged, and one SYNTHVID_DIRT message with the rectangle `(0, miny, xres, maxy + 1)` follows; `synthvid_update`
/// sanitises it (a start after the end becomes 0, an end past the screen or before the start becomes the screen
/// edge — so an empty list, miny = INT_MAX, asks for the whole screen). The host then shows the rectangle's VRAM.
/// The `ideal` profile runs this driver with a bus of no cost. (The 2025 driver dropped the copy; the pages are
/// then scanned in place, as xen-fbfront's are.)
/// Kernel: synthvid_deferred_io() + hvfb_docopy() + synthvid_update() — drivers/video/fbdev/hyperv_fb.c
@EmuActor package final class SynthvidDeferredIO: PanelDriver {
    package let panel: Panel
    /// The VRAM the host displays from: what was copied so far. Kernel: par->mmio_vp
    private var vram: [UInt8]

    package nonisolated static var name: String { "hyperv_fb" }
    package nonisolated static var style: CallbackStyle { .perPage }
    package nonisolated static var kernelFunction: String { "synthvid_deferred_io() — drivers/video/fbdev/hyperv_fb.c" }

    /// Every page of the screen buffer copied, then one SYNTHVID_DIRT message.
    package nonisolated static func fullFrameTime(_ profile: PanelProfile, _ layout: FramebufferLayout) -> VirtualTime {
        let bus = profile.bus
        let pages = pageAlign(layout.byteCount) / PAGE_SIZE
        return VirtualTime(picoseconds: bus.time(bytes: PAGE_SIZE, transfers: 0).picoseconds * Int64(pages))
            + bus.time(bytes: profile.commandBytes, transfers: profile.commandTransfers)
    }

    package init(_ panel: Panel, options: PanelOptions) {
        self.panel = panel
        let info = panel.info
        vram = info.readScreen()  // Probe: the whole screen was copied once.
    }

    /// Kernel: synthvid_deferred_io()
    package func deferredIO(_ info: FBInfo, _ pagerefs: [FBDeferredIOPageref]) {
        panel.noteCallback(pagerefs)
        let update = panel.beginUpdate(pages: pagerefs.map(\.pgoff))
        let lineLength = info.fix.lineLength
        var miny = Int(Int32.max), maxy = 0
        for ref in pagerefs {
            let start = ref.offset
            let end = start + PAGE_SIZE - 1
            miny = min(miny, start / lineLength)
            maxy = max(maxy, end / lineLength)
            hvfbDocopy(info, ref, for: update)
        }
        synthvidUpdate(info, x1: 0, y1: miny, x2: info.variable.xres, y2: maxy + 1, for: update)
        panel.finish(update)
    }

    /// Copies one page into VRAM, clamped to the buffer. Kernel: hvfb_docopy()
    func hvfbDocopy(_ info: FBInfo, _ ref: FBDeferredIOPageref, for update: UpdateBuilder) {
        guard ref.offset < vram.count else { return }
        let size = min(PAGE_SIZE, vram.count - ref.offset)
        let src = UnsafeRawPointer(info.kernel.phys.address(of: ref.page))
        vram.withUnsafeMutableBytes { dst in
            (dst.baseAddress! + ref.offset).copyMemory(from: src, byteCount: size)
        }
        panel.transfer(bytes: size, transfers: 0, for: update)
    }

    /// Posts the dirty rectangle (after the driver's sanitising) and lets the host show it from VRAM.
    /// Kernel: synthvid_update()
    func synthvidUpdate(_ info: FBInfo, x1: Int, y1: Int, x2: Int, y2: Int, for update: UpdateBuilder) {
        let xres = info.variable.xres, yres = info.variable.yres
        let rx1 = x1 > x2 ? 0 : x1
        let ry1 = y1 > y2 ? 0 : y1
        let rx2 = (x2 < x1 || x2 > xres) ? xres : x2
        let ry2 = (y2 < y1 || y2 > yres) ? yres : y2
        let rect = Rect(x: rx1, y: ry1, width: rx2 - rx1, height: ry2 - ry1)
        update.rects.append(rect)
        panel.transfer(bytes: panel.profile.commandBytes, transfers: panel.profile.commandTransfers,
                             for: update)
        // The host repaints the rectangle from VRAM.
        let bpp = panel.fbBytesPerPixel
        guard rect.area > 0 else { return }
        vram.withUnsafeBytes { src in
            for y in rect.y ..< rect.maxY {
                let row = src.baseAddress! + y * info.fix.lineLength + rect.x * bpp
                panel.store(row: y, x: rect.x, converting: row, count: rect.width, into: update)
            }
        }
    }

    package func flush() {}
}
