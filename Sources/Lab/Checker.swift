// SPDX-License-Identifier: MIT — the lost-update checker (DESIGN.md §7) and the live-mode wall-clock pacer.
import Foundation
import Kernel
import Panels
import Workloads

/// What the lost-update checker found.
package struct CheckResult: Sendable {
    /// Pixels where the panel does not show the framebuffer.
    package var panelMismatches = 0
    /// Pixels where the framebuffer differs from the reference rendering.
    package var referenceMismatches = 0
    package var report = ""
    package var passed: Bool { panelMismatches == 0 && referenceMismatches == 0 }
}

/// At quiescence (writers done, last fsync returned) the panel must show the framebuffer, and the framebuffer must
/// equal the same workload drawn straight into a plain buffer. Any difference is a lost (or wrong) update.
@EmuActor package enum LostUpdateChecker {
    package static func check(info: FBInfo, panel: any PanelDriver, reference: PlainCanvas) -> CheckResult {
        let layout = info.layout
        let ll = layout.lineLength, bpp = layout.bytesPerPixel, w = layout.width, h = layout.height
        let image = panel.image
        let glass = panel.panel
        let ref = reference.bytes
        precondition(image.count >= w * h && info.fix.smemLen >= h * ll && ref.count >= h * ll,
                     "checker: framebuffer, panel image or reference smaller than the screen")
        var r = CheckResult()
        var firstPanel: (Int, Int, UInt32, UInt32)?
        var firstRef: (Int, Int)?
        // Row by row: the framebuffer row (read through its pages into one row's buffer) converted as the panel
        // shows it, then two comparisons that only look at single pixels in a row that differs somewhere.
        var want = [UInt32](repeating: 0, count: w)
        var row = [UInt8](repeating: 0, count: w * bpp)
        row.withUnsafeMutableBytes { fbRowBuf in
            ref.withUnsafeBytes { refBuf in
                image.withUnsafeBytes { imgBuf in
                    want.withUnsafeMutableBufferPointer { wantBuf in
                        let fbRow = UnsafeRawPointer(fbRowBuf.baseAddress!), refBase = refBuf.baseAddress!
                        let img = imgBuf.baseAddress!.assumingMemoryBound(to: UInt32.self)
                        let want = wantBuf.baseAddress!
                        for y in 0 ..< h {
                            info.readScreen(at: y * ll, into: fbRowBuf)
                            let refRow = refBase + y * ll, imgRow = img + y * w
                            glass.convert(fbRow, count: w, into: want)
                            if memcmp(imgRow, want, w * 4) != 0 {
                                for x in 0 ..< w where imgRow[x] != want[x] {
                                    r.panelMismatches += 1
                                    if firstPanel == nil { firstPanel = (x, y, imgRow[x], want[x]) }
                                }
                            }
                            if memcmp(fbRow, refRow, w * bpp) != 0 {
                                for x in 0 ..< w where memcmp(fbRow + x * bpp, refRow + x * bpp, bpp) != 0 {
                                    r.referenceMismatches += 1
                                    if firstRef == nil { firstRef = (x, y) }
                                }
                            }
                        }
                    }
                }
            }
        }
        var lines: [String] = []
        if let (x, y, got, want) = firstPanel {
            lines.append("LOST UPDATE: \(r.panelMismatches) pixels of the panel differ from the framebuffer; first at "
                + "(\(x),\(y)): panel 0x\(String(got, radix: 16)), framebuffer shows 0x\(String(want, radix: 16))")
        }
        if let (x, y) = firstRef {
            lines.append("WRONG FRAMEBUFFER: \(r.referenceMismatches) pixels differ from the reference rendering; "
                + "first at (\(x),\(y))")
        }
        r.report = lines.isEmpty ? "checker: panel == framebuffer == reference (\(w * h) pixels)" : lines.joined(separator: "\n")
        return r
    }
}

/// Keeps virtual time from running ahead of the wall clock in the live window (presentation only: it sleeps the
/// emulator thread, never changes a decision).
package final class WallClockPacer: @unchecked Sendable {
    private let start = ContinuousClock.now
    package init() {}

    package func pace(to virtual: VirtualTime) {
        let target = Duration.nanoseconds(virtual.nanoseconds)
        let elapsed = ContinuousClock.now - start
        if target > elapsed {
            let ahead = target - elapsed
            let (s, atto) = ahead.components
            let us = s * 1_000_000 + atto / 1_000_000_000_000
            if us > 0 { usleep(UInt32(min(us, 1_000_000))) }
        }
    }
}
