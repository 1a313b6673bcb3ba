// SPDX-License-Identifier: MIT — shadow-diff updates of a DisplayLink USB adapter (kernel:
// drivers/video/fbdev/udlfb.c).
import Kernel

/// udlfb's metrics, as its sysfs files show them. Kernel: dlfb_data.bytes_rendered / bytes_identical / bytes_sent
/// (metrics_bytes_*).
package struct DLFBMetrics: Sendable, Equatable {
    /// PAGE_SIZE per page handed to the callback.
    package var bytesRendered = 0
    /// The kernel's mixed unit, kept: bytes for the identical words trimmed off a page's ends, plus one per
    /// identical pixel skipped inside it.
    package var bytesIdentical = 0
    /// URB bytes submitted.
    package var bytesSent = 0
    /// RLX commands emitted and URBs submitted.
    package var commands = 0
    package var urbs = 0
    package init() {}
}

/// udlfb's deferred I/O: per listed page (sorted), compare the page with the backing (shadow) copy of what the
/// device already has, trim the identical words off both ends (`dlfb_trim_hline`, 8-byte words; the end is trimmed
/// only when a second differing word exists — the kernel's loop leaves `end` at the width otherwise), then encode
/// the rest as RLX commands (`dlfb_compress_hline`): identical pixels are skipped, each command is a 7-byte header
/// (0xAF 0x6B, 3 address bytes, pixel count, raw count) for at most 256 pixels with its trailing identical pixels
/// trimmed, raw pixels cost 2 bytes, a run of repeats 2 bytes (repeat count + the next raw count, the last unused one
/// taken back). Commands fill 65,024-byte URBs; a full URB is submitted and the next taken, waiting while 4 are in
/// flight; the partial last URB gets a 0xAF no-op and is submitted. An unchanged page costs only the compare.
///
/// URBs complete asynchronously on the USB bus: the callback (and so the defio mutex) waits only for a free URB,
/// and the device's framebuffer — what the monitor shows — takes a URB's pixels when it completes. The update is
/// reported then, with `end` the last completion. Wire pixels are RGB565 (udlfb is 16 bpp only); a 32 bpp
/// framebuffer is compared as 32-bit pixels and converted. dlfb_get_urb's one-second timeout ("lost pixels") never
/// fires here: the emulated bus completes every URB in far less.
/// Kernel: dlfb_dpy_deferred_io() + dlfb_render_hline() + dlfb_trim_hline() + dlfb_compress_hline()
@EmuActor package final class DLFBDpyDeferredIO: PanelDriver {
    package let panel: Panel
    package private(set) var metrics = DLFBMetrics()
    /// The pixels the device has, as framebuffer values (set when a command encodes them).
    /// Kernel: dlfb->backing_buffer
    private var backing: [UInt32]
    /// Completion times of submitted URBs, oldest first. Kernel: dlfb->urbs.limit_sem + the URB list
    private var inFlight: [VirtualTime] = []
    /// Kernel: WRITES_IN_FLIGHT
    package static let writesInFlight = 4
    /// Kernel: MIN_RLX_CMD_BYTES = RLX_HEADER_BYTES (7) + MIN_RLX_PIX_BYTES (4)
    nonisolated static let minRLXCommandBytes = 11
    nonisolated static let rlxHeaderBytes = 7
    nonisolated static let maxCommandPixels = 256

    /// An URB being filled: bytes used and the pixel spans its commands carry.
    struct URB {
        var used = 0
        var spans: [(pixel: Int, values: [UInt32])] = []
    }

    package nonisolated static var name: String { "udlfb" }
    package nonisolated static var style: CallbackStyle { .shadowDiff }
    package nonisolated static var kernelFunction: String { "dlfb_dpy_deferred_io() — drivers/video/fbdev/udlfb.c" }

    /// The worst case: every pixel of every page changed and no runs, in full URBs.
    package nonisolated static func fullFrameTime(_ profile: PanelProfile, _ layout: FramebufferLayout) -> VirtualTime {
        let pixelsPerPage = PAGE_SIZE / layout.bytesPerPixel
        let commands = (pixelsPerPage + maxCommandPixels - 1) / maxCommandPixels
        let perPage = commands * rlxHeaderBytes + pixelsPerPage * 2
        let total = (pageAlign(layout.byteCount) / PAGE_SIZE) * perPage + 1
        let urbs = (total + profile.maxTransferBytes - 1) / profile.maxTransferBytes
        return profile.bus.time(bytes: total, transfers: urbs)
    }

    package init(_ panel: Panel, options: PanelOptions) {
        self.panel = panel
        backing = []
        backing = readPixels(panel.info, from: 0, count: panel.info.fix.smemLen / panel.fbBytesPerPixel)
    }

    /// Framebuffer pixel values (not converted), linear from pixel index `from`.
    private func readPixels(_ info: FBInfo, from: Int, count: Int) -> [UInt32] {
        let bpp = panel.fbBytesPerPixel
        var bytes = [UInt8](repeating: 0, count: count * bpp)
        bytes.withUnsafeMutableBytes { info.readScreen(at: from * bpp, into: $0) }
        var out = [UInt32](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            if bpp == 2 {
                for i in 0 ..< count {
                    out[i] = UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                }
            } else {
                for i in 0 ..< count {
                    out[i] = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
                }
            }
        }
        return out
    }

    /// Kernel: dlfb_dpy_deferred_io()
    package func deferredIO(_ info: FBInfo, _ pagerefs: [FBDeferredIOPageref]) {
        panel.noteCallback(pagerefs)
        let update = panel.beginUpdate(pages: pagerefs.map(\.pgoff))
        var lastCompletion: VirtualTime?
        dlfbGetURB()
        var urb = URB()
        let capacity = panel.profile.maxTransferBytes
        for ref in pagerefs {
            var pixel = ref.offset / panel.fbBytesPerPixel
            let end = pixel + PAGE_SIZE / panel.fbBytesPerPixel
            // dlfb_render_hline: trim, then compress into URBs until the page is done.
            let front = readPixels(info, from: pixel, count: end - pixel)
            let base = pixel
            let (lo, hi) = dlfbTrimHline(front: front, base: base)
            pixel = base + lo
            let last = base + hi
            panel.chargeCPU(info.kernel.costs.copy(PAGE_SIZE))  // Reading and comparing the page.
            while pixel < last {
                pixel = dlfbCompressHline(front: front, base: base, from: pixel, to: last, urb: &urb,
                                          capacity: capacity)
                if urb.used >= capacity {
                    lastCompletion = submit(&urb, for: update)
                    dlfbGetURB()
                }
            }
            metrics.bytesRendered += PAGE_SIZE
        }
        if urb.used > 0 {
            if urb.used < capacity { urb.used += 1 }  // 0xAF no-op terminator
            lastCompletion = submit(&urb, for: update)
        }
        if let done = lastCompletion {
            // Reported when the last URB has reached the device.
            info.kernel.sched.addTimer(at: done) { [self] in panel.finish(update, at: done) }
        } else {
            panel.finish(update)
        }
    }

    /// Trims identical 8-byte words off both ends of a page. Returns the pixel range left, relative to `base`.
    /// Kernel: dlfb_trim_hline()
    func dlfbTrimHline(front: [UInt32], base: Int) -> (Int, Int) {
        let perWord = 8 / panel.fbBytesPerPixel
        let width = front.count / perWord
        func differs(_ word: Int) -> Bool {
            for k in 0 ..< perWord where front[word * perWord + k] != backing[base + word * perWord + k] {
                return true
            }
            return false
        }
        var start = width, end = width
        for j in 0 ..< width where differs(j) {
            start = j
            break
        }
        // The suffix is searched only above the first difference; without a second one `end` stays at width.
        if start < width - 1 {
            for k in stride(from: width - 1, to: start, by: -1) where differs(k) {
                end = k + 1
                break
            }
        }
        let identical = start + (width - end)
        metrics.bytesIdentical += identical * 8
        return (start * perWord, end * perWord)
    }

    /// Encodes pixels `from ..< to` into RLX commands in `urb` until done or the URB is full (then it is marked
    /// full). Returns the next pixel to encode. Kernel: dlfb_compress_hline()
    func dlfbCompressHline(front: [UInt32], base: Int, from: Int, to: Int, urb: inout URB, capacity: Int) -> Int {
        var pixel = from
        var encoded = 0
        while pixel < to && capacity - Self.minRLXCommandBytes > urb.used {
            if front[pixel - base] == backing[pixel] {
                pixel += 1
                metrics.bytesIdentical += 1
                continue
            }
            urb.used += Self.rlxHeaderBytes
            let commandStart = pixel
            var commandEnd = pixel + min(Self.maxCommandPixels, to - pixel, (capacity - 1 - urb.used) / 2)
            while commandEnd - 1 > pixel && front[commandEnd - 1 - base] == backing[commandEnd - 1] {
                commandEnd -= 1
            }
            var rawStart = pixel
            while pixel < commandEnd {
                let value = front[pixel - base]
                urb.used += 2
                backing[pixel] = value
                pixel += 1
                if pixel < commandEnd && front[pixel - base] == value {
                    repeat {
                        backing[pixel] = value
                        pixel += 1
                    } while pixel < commandEnd && front[pixel - base] == value
                    urb.used += 2  // repeat count, then the next raw span's count
                    rawStart = pixel
                }
            }
            if pixel <= rawStart { urb.used -= 1 }  // The last raw count was never used.
            var shown = [UInt32](repeating: 0, count: pixel - commandStart)
            for i in 0 ..< shown.count { shown[i] = panel.displayed(fbPixel: front[commandStart + i - base]) }
            urb.spans.append((commandStart, shown))
            encoded += pixel - commandStart
            metrics.commands += 1
        }
        panel.chargeCPUAtomically(VirtualTime(picoseconds: panel.profile.encodePerPixel.picoseconds * Int64(encoded)))
        if capacity - Self.minRLXCommandBytes <= urb.used { urb.used = capacity }  // Filled with no-ops.
        return pixel
    }

    /// Waits for a free URB. Kernel: dlfb_get_urb() (down_timeout on the URB semaphore)
    func dlfbGetURB() {
        let sched = panel.info.kernel.sched
        inFlight.removeAll { $0 <= sched.now }
        while inFlight.count >= Self.writesInFlight {
            sched.sleep(until: inFlight[0])
            inFlight.removeAll { $0 <= sched.now }
        }
    }

    /// Submits an URB: it completes after the bus carried it, and its pixels reach the device then.
    /// Kernel: dlfb_submit_urb() + dlfb_urb_completion()
    private func submit(_ urb: inout URB, for update: UpdateBuilder) -> VirtualTime {
        let done = panel.submit(bytes: urb.used, transfers: 1, for: update)
        inFlight.append(done)
        metrics.bytesSent += urb.used
        metrics.urbs += 1
        let spans = urb.spans
        let info = panel.info
        let bpp = panel.fbBytesPerPixel
        info.kernel.sched.addTimer(at: done) { [self] in
            let perLine = info.fix.lineLength / bpp
            for span in spans {
                // Split the span at line ends; the part of a line past xres is stride padding.
                let first = span.pixel, last = span.pixel + span.values.count
                for line in (first / perLine) ... ((last - 1) / perLine) where line < info.variable.yres {
                    let lo = max(first, line * perLine), hi = min(last, line * perLine + info.variable.xres)
                    guard lo < hi else { continue }
                    panel.store(row: line, x: lo - line * perLine,
                                Array(span.values[(lo - first) ..< (hi - first)]), into: update)
                }
            }
        }
        urb = URB()
        return done
    }

    /// Waits until the last URB has completed.
    package func flush() {
        let sched = panel.info.kernel.sched
        guard sched.current >= 0, let last = inFlight.last, last > sched.now else { return }
        sched.sleep(until: last)
        inFlight.removeAll { $0 <= sched.now }
    }
}
