// SPDX-License-Identifier: MIT — full-screen updates of an I2C OLED (kernel: drivers/video/fbdev/ssd1307fb.c).
import Kernel

/// ssd1307fb's deferred I/O ignores the page list: every call sends the whole screen
/// (`ssd1307fb_update_rect(par, 0, 0, width, height)`). The update first sets the column and page address ranges
/// — three one-byte command messages each (control byte 0x80 + command), sent only when the range differs from the
/// last one the driver set, so in practice on the first update only — then packs the screen into the controller's
/// page format (each byte is 8 vertical pixels of one column; `width × ceil(height / 8)` bytes) and sends it as one
/// I2C message behind the 0x40 data control byte. The real driver's framebuffer is 1 bpp; here a 16 or 32 bpp
/// framebuffer is thresholded to lit/dark pixels as the packing reads it.
/// Kernel: ssd1307fb_deferred_io() → ssd1307fb_update_display() → ssd1307fb_update_rect()
@EmuActor package final class SSD1307FBDeferredIO: PanelDriver {
    package let panel: Panel
    /// The address ranges last sent (zeroed `par` at probe: any first update sends both).
    /// Kernel: par->col_start, col_end, page_start, page_end
    private var colRange = (start: 0, end: 0)
    private var pageRange = (start: 0, end: 0)

    package nonisolated static var name: String { "ssd1307fb" }
    package nonisolated static var style: CallbackStyle { .fullScreen }
    package nonisolated static var kernelFunction: String { "ssd1307fb_deferred_io() — drivers/video/fbdev/ssd1307fb.c" }

    /// One data message of the whole screen in the controller's page format (the range commands are sent only
    /// when the range changes, so not in the steady state).
    package nonisolated static func fullFrameTime(_ profile: PanelProfile, _ layout: FramebufferLayout) -> VirtualTime {
        profile.bus.time(bytes: 1 + layout.width * ((layout.height + 7) / 8), transfers: 1)
    }

    package init(_ panel: Panel, options: PanelOptions) { self.panel = panel }

    /// Kernel: ssd1307fb_deferred_io()
    package func deferredIO(_ info: FBInfo, _ pagerefs: [FBDeferredIOPageref]) {
        panel.noteCallback(pagerefs)
        let update = panel.beginUpdate(pages: pagerefs.map(\.pgoff))
        ssd1307fbUpdateRect(info, x: 0, y: 0, width: panel.width, height: panel.height, for: update)
        panel.finish(update)
    }

    /// Kernel: ssd1307fb_update_rect()
    func ssd1307fbUpdateRect(_ info: FBInfo, x: Int, y: Int, width: Int, height: Int,
                             for update: UpdateBuilder) {
        let pages = (y % 8 + height + 7) / 8
        update.rects.append(Rect(x: x, y: y, width: width, height: height))
        // ssd1307fb_set_col_range / ssd1307fb_set_page_range: 3 command messages each when the range changes.
        let rangeBytes = panel.profile.commandBytes / 2, rangeTransfers = panel.profile.commandTransfers / 2
        let col = (start: x, end: x + width - 1)
        if col != colRange {
            panel.transfer(bytes: rangeBytes, transfers: rangeTransfers, for: update)
            colRange = col
        }
        let page = (start: y / 8, end: y / 8 + pages - 1)
        if page != pageRange {
            panel.transfer(bytes: rangeBytes, transfers: rangeTransfers, for: update)
            pageRange = page
        }
        // Pack the rectangle (reading the framebuffer now), then one data message.
        var rows: [[UInt32]] = []
        for row in y ..< y + height { rows.append(panel.readFramebuffer(row: row, x: x, count: width)) }
        panel.chargeCPU(info.kernel.costs.copy(width * height * panel.fbBytesPerPixel))
        panel.transfer(bytes: 1 + width * pages, transfers: 1, for: update)
        for (i, pixels) in rows.enumerated() { panel.store(row: y + i, x: x, pixels, into: update) }
    }

    package func flush() {}
}
