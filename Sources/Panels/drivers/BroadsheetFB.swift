// SPDX-License-Identifier: MIT — e-paper updates per run of consecutive pages (kernel:
// drivers/video/fbdev/broadsheetfb.c), on a Waveshare-class panel with partial and full waveforms.
import Kernel

/// broadsheetfb's deferred I/O on an e-paper panel. The (sorted) page list is walked once; consecutive pages extend
/// a run by `ceil(PAGE_SIZE / line_length)` rows each, a gap sends the run so far as one area update
/// (`broadsheetfb_dpy_update_pages(y1, y1 + h)`, whose end row is inclusive), and the last run is sent clamped to
/// yres — or, when it spans yres rows or more, as a full-screen update (`broadsheetfb_dpy_update`). Each update
/// opens the controller's RAM window, writes the rows (1 bit per pixel on this panel) and waits on the busy line
/// for the waveform: partial (0.3 s) for an area, full (2 s) for the whole screen, and full also once `fullEvery`
/// partial refreshes have run since the last full one (to clear ghosting).
///
/// broadsheetfb is an 8 bpp driver whose row arithmetic uses xres as the line length; here the framebuffer's
/// line_length stands in for it. Its 4-row alignment of the Broadsheet controller's area is not applied (the
/// Waveshare controller addresses single rows). Quirk kept: an empty list still sends row 0 as a partial update.
/// The run's rows end where the last row of the run ends, so the driver writes one row more than the pages cover.
/// Kernel: broadsheetfb_dpy_deferred_io() + broadsheetfb_dpy_update_pages() + broadsheetfb_dpy_update()
@EmuActor package final class BroadsheetFBDpyDeferredIO: PanelDriver {
    package let panel: Panel
    /// Partial refreshes since the last full one.
    package private(set) var partialsSinceFull = 0

    package nonisolated static var name: String { "broadsheetfb" }
    package nonisolated static var style: CallbackStyle { .pageRuns }
    package nonisolated static var kernelFunction: String {
        "broadsheetfb_dpy_deferred_io() — drivers/video/fbdev/broadsheetfb.c"
    }

    /// The window commands, every row at the glass's depth, and the full waveform.
    package nonisolated static func fullFrameTime(_ profile: PanelProfile, _ layout: FramebufferLayout) -> VirtualTime {
        let rowBytes = (layout.width * profile.format.bitsPerPixel + 7) / 8
        var t = profile.bus.time(bytes: profile.commandBytes, transfers: profile.commandTransfers)
            + profile.bus.time(bytes: layout.height * rowBytes, inChunksOf: profile.maxTransferBytes)
        if case .ePaper(_, let full, _) = profile.refresh { t = t + full }
        return t
    }

    package init(_ panel: Panel, options: PanelOptions) { self.panel = panel }

    /// Kernel: broadsheetfb_dpy_deferred_io()
    package func deferredIO(_ info: FBInfo, _ pagerefs: [FBDeferredIOPageref]) {
        panel.noteCallback(pagerefs)
        let lineLength = info.fix.lineLength, yres = info.variable.yres
        // Height increment per page, fixed.
        let hInc = (PAGE_SIZE + lineLength - 1) / lineLength
        var y1 = 0, h = 0
        var previous: Int?
        var run: [PgOff] = []
        for ref in pagerefs {
            if let prev = previous, prev + PAGE_SIZE == ref.offset {
                h += hInc
            } else {
                if previous != nil {
                    // Not consecutive: send the run so far.
                    broadsheetfbDpyUpdatePages(info, y1: y1, y2: y1 + h, pages: run)
                    run = []
                }
                y1 = ref.offset / lineLength
                h = hInc
            }
            run.append(ref.pgoff)
            previous = ref.offset
        }
        if h >= yres {
            broadsheetfbDpyUpdate(info, pages: run)
        } else {
            broadsheetfbDpyUpdatePages(info, y1: y1, y2: min(y1 + h, yres), pages: run)
        }
    }

    /// Updates rows `y1 ... y2` (inclusive; clamped to the screen). Kernel: broadsheetfb_dpy_update_pages()
    func broadsheetfbDpyUpdatePages(_ info: FBInfo, y1: Int, y2: Int, pages: [PgOff]) {
        let last = min(y2, info.variable.yres - 1)
        let rect = Rect(x: 0, y: y1, width: info.variable.xres, height: last - y1 + 1)
        let kind: EPaperRefresh = partialsSinceFull >= fullEvery ? .full : .partial
        send(info, rect, kind, pages: pages)
    }

    /// Sends the whole screen with the full waveform. Kernel: broadsheetfb_dpy_update()
    func broadsheetfbDpyUpdate(_ info: FBInfo, pages: [PgOff]) {
        send(info, Rect(x: 0, y: 0, width: info.variable.xres, height: info.variable.yres), .full,
                   pages: pages)
    }

    private var fullEvery: Int {
        guard case .ePaper(_, _, let n) = panel.profile.refresh else { return Int.max }
        return n
    }

    /// Opens the RAM window, writes the rows, waits for the waveform.
    private func send(_ info: FBInfo, _ rect: Rect, _ kind: EPaperRefresh, pages: [PgOff]) {
        let update = panel.beginUpdate(pages: pages)
        update.rects.append(rect)
        panel.transfer(bytes: panel.profile.commandBytes, transfers: panel.profile.commandTransfers,
                             for: update)
        let bits = panel.profile.format.bitsPerPixel
        panel.streamWindow(rect, rowBytes: (rect.width * bits + 7) / 8, wireBits: bits,
                                 chunk: panel.profile.maxTransferBytes, for: update)
        panel.runWaveform(kind, over: rect, for: update)
        if kind == .full { partialsSinceFull = 0 } else { partialsSinceFull += 1 }
        panel.finish(update)
    }

    package func flush() {}
}
