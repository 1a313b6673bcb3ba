// SPDX-License-Identifier: MIT — the rate lines real drivers print, so emulated numbers can be checked against dmesg.
import Kernel

/// The frame rate a driver logs for a delay: `HZ / delay` in integer division, after fb_deferred_io_init has turned
/// a zero delay into HZ. fbtft asks for `fps`, stores `HZ / fps` and prints `HZ / delay`: fps=30 at HZ=250 is a delay
/// of 8 jiffies, logged as fps=31. Kernel: the `HZ / fb_info->fbdefio->delay` of fbtft_register_framebuffer()
package func loggedFPS(delay: Jiffies, tickRate: TickRate) -> Int64 {
    let effective = delay.rawValue == 0 ? tickRate.hz : delay.rawValue
    return tickRate.hz / effective
}

/// The line fbtft prints when it registers a framebuffer, e.g.
/// `fb_ili9341 frame buffer, 320x240, 150 KiB video memory, 16 KiB buffer memory, fps=31, spi0.0 at 32 MHz`.
/// `smemLen` is fbtft's own `width × height × bpp / 8` (not page-rounded); `txbufLen` the driver's transmit buffer
/// (`fbtftTxbufLen`; fb_ili9341's by default), named only from 1 KiB up; `fps` the requested rate.
/// Kernel: fbtft_register_framebuffer() — drivers/staging/fbtft/fbtft-core.c (dev_info)
package func fbtftLogLine(driverName: String = "fb_ili9341", xres: Int, yres: Int, smemLen: Int,
                         txbufLen: Int = PanelProfile.fbIli9341TxbufLen, fps: Int64, tickRate: TickRate,
                         spiHz: Int64) -> String {
    let delay = DefIODelay.fbtftFPS(fps).jiffies(at: tickRate)
    let buffer = txbufLen >= 1024 ? ", \(txbufLen >> 10) KiB buffer memory" : ""
    return "\(driverName) frame buffer, \(xres)x\(yres), \(smemLen >> 10) KiB video memory\(buffer), "
        + "fps=\(loggedFPS(delay: delay, tickRate: tickRate)), spi0.0 at \(spiHz / 1_000_000) MHz"
}

extension PanelProfile {
    /// The rate line for this profile at a tick rate: fbtft's registration line for fbtft profiles; for the others
    /// the delay their driver computes and the batch rate it allows, e.g.
    /// `hyperv: fb_defio delay HZ/20 = 12 jiffies (48 ms) at HZ=250, at most 20 batches/s`.
    /// Kernel: fbtft_register_framebuffer()'s dev_info for fbtft; otherwise none (derived from the delay).
    package func rateLine(xres: Int, yres: Int, bitsPerPixel: Int, tickRate: TickRate) -> String {
        if driver is FBTFTDeferredIO.Type, case .fbtftFPS(let fps) = delay {
            return fbtftLogLine(xres: xres, yres: yres, smemLen: xres * yres * bitsPerPixel / 8,
                                txbufLen: maxTransferBytes, fps: fps, tickRate: tickRate, spiHz: bus.bitsPerSecond)
        }
        let j = delay.effectiveJiffies(at: tickRate)
        return "\(name): fb_defio delay \(delay) = \(j.rawValue) jiffies (\(tickRate.jiffiesToMsecs(j)) ms) at "
            + "HZ=\(tickRate.hz), at most \(loggedFPS(delay: j, tickRate: tickRate)) batches/s"
    }
}
