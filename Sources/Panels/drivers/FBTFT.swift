// SPDX-License-Identifier: MIT — line-range updates of small SPI TFTs (kernel: drivers/staging/fbtft/fbtft-core.c,
// fbtft-bus.c).
import Kernel

/// The transmit buffer fbtft allocates for a display, in bytes: the driver's `txbuflen` (or the `txbuflen` device
/// property overriding it); -1 asks for the whole framebuffer plus a start byte; a request at least that large
/// means no buffer at all; and with no buffer a little-endian machine still gets PAGE_SIZE when pixels are wider
/// than a byte, for the byte swap. (So on little endian -1 ends as PAGE_SIZE too: the first rule makes the second
/// apply.) `write_vmem16_bus8` then sends `txbuflen / 2` pixels — `txbuflen` bytes of the big-endian wire format,
/// the same count as of framebuffer bytes at 16 bpp — per spi_sync. 0 means the framebuffer is sent as it is, in
/// one transfer.
/// Kernel: fbtft_framebuffer_alloc() ("Transmit buffer") + fbtft_write_vmem16_bus8() —
/// drivers/staging/fbtft/fbtft-core.c, fbtft-bus.c
package func fbtftTxbufLen(displayTxbufLen: Int, vmemSize: Int, bitsPerPixel: Int) -> Int {
    var len = displayTxbufLen
    if len == -1 { len = vmemSize + 2 }  // room for a start byte
    if len >= vmemSize + 2 { len = 0 }
    if len == 0 && bitsPerPixel > 8 { len = PAGE_SIZE }  // __LITTLE_ENDIAN: the swap needs a buffer
    return len
}

/// fbtft's deferred I/O: a window of whole rows.
///
/// The driver keeps its own dirty-line window (`par->dirty_lines_start/end`), which `write()` and the drawing ops
/// also widen through `fbtft_mkdirty` (and schedule the same delayed work, so the callback may get an empty page
/// list and still flush the window: scenario 20). The callback takes the window and resets it to "clean"
/// (start = yres − 1, end = 0); each listed page widens it by the rows `offset / line_length …
/// (offset + PAGE_SIZE − 1) / line_length` (the end clamped to yres − 1; scenario 25). `fbtft_update_display` then
/// checks the window (start after end, or past the last line: a warning and a full update instead), opens it with
/// `set_addr_win(0, start, xres − 1, end)` — 0x2A + 4, 0x2B + 4, 0x2C: 11 command bytes in 5 transfers — and
/// `write_vmem` sends `rows × line_length` bytes, byte-swapped through the driver's tx buffer
/// (`fbtftTxbufLen`): one spi_sync per buffer-full (fb_ili9341: 16 KiB, so a 320×240 frame is 10).
///
/// Quirks kept: the window of a freshly probed driver is (0, 0) (kzalloc'd `par`), so the first callback always
/// starts at row 0; an empty list with nothing from `fbtft_mkdirty` finds start > end and becomes a full update.
/// A 32 bpp framebuffer (which real fbtft does not offer) is converted and sent as RGB565: `rows × xres × 2` bytes.
/// Kernel: fbtft_deferred_io() + fbtft_update_display() + fbtft_set_addr_win() + fbtft_write_vmem16_bus8()
@EmuActor package final class FBTFTDeferredIO: PanelDriver {
    package let panel: Panel
    /// The pending dirty-line window, inclusive. Protected by par->dirty_lock (a spinlock nothing sleeps under).
    /// Kernel: par->dirty_lines_start / par->dirty_lines_end
    package private(set) var dirtyLinesStart = 0
    package private(set) var dirtyLinesEnd = 0

    package nonisolated static var name: String { "fbtft" }
    package nonisolated static var style: CallbackStyle { .lineRange }
    package nonisolated static var kernelFunction: String { "fbtft_deferred_io() — drivers/staging/fbtft/fbtft-core.c" }

    /// The window commands, then every row through the tx buffer.
    package nonisolated static func fullFrameTime(_ profile: PanelProfile, _ layout: FramebufferLayout) -> VirtualTime {
        let rowBytes = layout.format == .rgb565 ? layout.lineLength : layout.width * 2
        return profile.bus.time(bytes: profile.commandBytes, transfers: profile.commandTransfers)
            + profile.bus.time(bytes: layout.height * rowBytes, inChunksOf: profile.maxTransferBytes)
    }

    package init(_ panel: Panel, options: PanelOptions) { self.panel = panel }

    /// Kernel: fbtft_deferred_io()
    package func deferredIO(_ info: FBInfo, _ pagerefs: [FBDeferredIOPageref]) {
        panel.noteCallback(pagerefs)
        let yres = info.variable.yres, lineLength = info.fix.lineLength
        var start = dirtyLinesStart, end = dirtyLinesEnd
        // Set the display line markers as clean.
        dirtyLinesStart = yres - 1
        dirtyLinesEnd = 0
        for ref in pagerefs {
            let yLow = ref.offset / lineLength
            var yHigh = (ref.offset + PAGE_SIZE - 1) / lineLength
            if yHigh > yres - 1 { yHigh = yres - 1 }
            if yLow < start { start = yLow }
            if yHigh > end { end = yHigh }
        }
        let update = panel.beginUpdate(pages: pagerefs.map(\.pgoff))
        fbtftUpdateDisplay(info, startLine: start, endLine: end, for: update)
        panel.finish(update)
    }

    /// Sends rows `startLine ... endLine` (inclusive). Kernel: fbtft_update_display()
    func fbtftUpdateDisplay(_ info: FBInfo, startLine: Int, endLine: Int, for update: UpdateBuilder) {
        let yres = info.variable.yres, xres = info.variable.xres
        var start = startLine, end = endLine
        if start > end {
            panel.diagnose(.fbtftStartAfterEnd(start: start, end: end), in: update)
            start = 0
            end = yres - 1
        }
        if start > yres - 1 || end > yres - 1 {
            panel.diagnose(.fbtftLinePastEnd(start: start, end: end, max: yres - 1), in: update)
            start = 0
            end = yres - 1
        }
        let rows = end - start + 1
        update.rects.append(Rect(x: 0, y: start, width: xres, height: rows))
        // set_addr_win(par, 0, start, xres - 1, end)
        panel.transfer(bytes: panel.profile.commandBytes, transfers: panel.profile.commandTransfers,
                             for: update)
        // write_vmem(par, start * line_length, rows * line_length)
        let rowBytes = info.variable.bitsPerPixel == 16 ? info.fix.lineLength : xres * 2
        panel.streamWindow(Rect(x: 0, y: start, width: xres, height: rows), rowBytes: rowBytes,
                                 wireBits: 16, chunk: panel.profile.maxTransferBytes, for: update)
    }

    /// Widens the dirty-line window and schedules the deferred work (a no-op if it is already pending). `y == -1`
    /// means the whole screen. Called by `write()` and the drawing ops. Kernel: fbtft_mkdirty()
    package func fbtftMkdirty(y: Int, height: Int) {
        var y = y, height = height
        if y == -1 {
            y = 0
            height = panel.info.variable.yres
        }
        if y < dirtyLinesStart { dirtyLinesStart = y }
        if y + height - 1 > dirtyLinesEnd { dirtyLinesEnd = y + height - 1 }
        if let work = panel.info.deferredWork, let defio = panel.info.fbdefio { work.schedule(defio.delay) }
    }

    /// The `write()` system call on the device: copy into the screen buffer (no page faults, so fb_defio sees
    /// nothing), then mark the whole screen dirty. Returns the bytes written (clamped to smem_len).
    /// Kernel: fbtft_fb_write() → fb_sys_write() + fbtft_mkdirty(info, -1, 0)
    @discardableResult
    package func fbtftFbWrite(offset: Int, _ bytes: [UInt8]) -> Int {
        let count = panel.info.fbSysWrite(offset: offset, bytes)
        fbtftMkdirty(y: -1, height: 0)
        return count
    }

    package func flush() {}
}
