// SPDX-License-Identifier: MIT — the `plasma` workload: the demoscene plasma, every pixel of the clip every frame.
import Kernel

/// The classic plasma: a sum of four sine waves (horizontal, vertical, diagonal, and one warped by a fifth) indexes
/// a cycling 256-colour palette. Integer maths and the `Sine` table only, so every platform draws the same bytes.
/// The pattern is laid out in *screen* coordinates (scaled to a 320-pixel-wide design), so processes drawing
/// neighbouring bands with the same seed draw one seamless picture. Write pattern: every page of the clip, every
/// frame, row after row (the worst case for deferred I/O).
@EmuActor package final class PlasmaWorkload: Workload {
    /// "plasma".
    package nonisolated static let name = "plasma"
    /// One line for listings.
    package nonisolated static let summary = "full-clip sine plasma every frame (every page rewritten, row by row)"

    /// The region drawn in.
    package let clip: Rect
    /// Spatial frequencies (Q16 table steps per screen pixel) and speeds (Q16 table steps per frame).
    private let fx: Int, fy: Int, fdx: Int, fdy: Int, fw: Int, fwarp: Int
    private let sx: Int, sy: Int, sd: Int, sw: Int, swarp: Int
    /// Amplitude of the warp, in table steps.
    private let warpAmp: Int
    private let palette: [UInt32]
    private var row: [UInt32]
    private var colTerm: [Int32], colDiag: [Int], colWarp: [Int]
    private var nextFrame = 0

    /// A plasma whose frequencies, speeds and palette come from `seed`.
    package init(seed: UInt64, clip: Rect, screenWidth: Int, screenHeight: Int, assets: Assets) {
        self.clip = clip
        var rng = SplitMix64(seed: SplitMix64.derive(seed, Self.name))
        // Frequencies are designed for a 320-pixel-wide screen; scale so a larger screen shows the same picture.
        let scale = 320 * 65536 / max(1, screenWidth)
        func freq(_ lo: Int, _ hi: Int) -> Int { (lo + rng.below(hi - lo + 1)) * scale / 16 }
        func speed(_ lo: Int, _ hi: Int) -> Int {
            (lo + rng.below(hi - lo + 1)) * 65536 / 4 * (rng.below(2) == 0 ? 1 : -1)
        }
        fx = freq(40, 96)
        fy = freq(40, 96)
        fdx = freq(24, 64)
        fdy = freq(24, 64)
        fw = freq(48, 112)
        fwarp = freq(32, 80)
        sx = speed(16, 48)
        sy = speed(16, 48)
        sd = speed(12, 40)
        sw = speed(20, 56)
        swarp = speed(8, 24)
        warpAmp = 48 + rng.below(80)
        // A smooth palette: each channel a sine of the index with its own phase (and one channel at double rate).
        let phases = (0 ..< 3).map { _ in rng.below(Sine.count) }
        let double = rng.below(3)
        var pal = [UInt32](repeating: 0, count: 256)
        for i in 0 ..< 256 {
            var ch = [Int](repeating: 0, count: 3)
            for c in 0 ..< 3 {
                let step = i * (c == double ? 8 : 4) + phases[c]
                ch[c] = 128 + Int(Sine.at(step)) * 127 / Int(Sine.one)
            }
            pal[i] = RGB.make(ch[0], ch[1], ch[2])
        }
        palette = pal
        let w = max(0, clip.width)
        row = [UInt32](repeating: 0, count: w)
        colTerm = [Int32](repeating: 0, count: w)
        colDiag = [Int](repeating: 0, count: w)
        colWarp = [Int](repeating: 0, count: w)
    }

    /// Computes and blits every row of the clip for time `n`. On a `PlainCanvas` (the reference rendering) the frame
    /// is handed over as a deferred overwrite: a frame depends on `n` alone, reads nothing and sets every pixel of
    /// the clip, so only the last one before the canvas is looked at needs drawing.
    package func drawFrame(_ n: Int, on canvas: some Canvas) throws(DrawError) {
        guard n == nextFrame else { throw .frameOutOfOrder(workload: "plasma", expected: nextFrame, got: n) }
        nextFrame += 1
        let w = clip.width
        guard w > 0, clip.height > 0 else { return }
        if let plain = canvas as? PlainCanvas {
            guard let area = plain.drawable, let region = clip.intersection(area) else { return }
            plain.deferOverwrite(of: region, by: self) { [unowned plain, clip] in
                self.prepareColumns(n)
                for y in region.y ..< region.maxY {
                    self.computeRow(n, y: y)
                    self.row.withUnsafeBufferPointer {
                        plain.blitRows(area: area, x: clip.x, y: y, width: w, height: 1, pixels: $0)
                    }
                }
            }
            return
        }
        prepareColumns(n)
        for j in 0 ..< clip.height {
            let y = clip.y + j
            computeRow(n, y: y)
            try canvas.blit(x: clip.x, y: y, width: w, height: 1, pixels: row)
        }
    }

    /// The per-column terms of frame `n` (`colTerm`, `colDiag`, `colWarp`).
    private func prepareColumns(_ n: Int) {
        let x0 = clip.x, fx = fx, sx = sx, fdx = fdx, sd = sd, fw = fw
        Sine.table.withUnsafeBufferPointer { sine in
            colTerm.withUnsafeMutableBufferPointer { ct in
                colDiag.withUnsafeMutableBufferPointer { cd in
                    colWarp.withUnsafeMutableBufferPointer { cw in
                        for i in 0 ..< ct.count {
                            let x = x0 &+ i
                            ct[i] = sine[((x &* fx &+ n &* sx) &>> 16) & Sine.mask]
                            cd[i] = x &* fdx &+ n &* sd
                            cw[i] = x &* fw
                        }
                    }
                }
            }
        }
    }

    /// Computes row `y` of frame `n` into `row` (after `prepareColumns(n)`): a synchronous loop over unsafe buffers
    /// with wrapping arithmetic (every value is far from overflowing: |x·f| < 2^40), so the per-pixel work is six
    /// loads, a few adds and one store.
    private func computeRow(_ n: Int, y: Int) {
        let shift = 9  // the sum of four sines (±4·32767) >> 9 spans the 256 palette entries once
        let cycle = n &* 3
        Sine.table.withUnsafeBufferPointer { sine in
            let rowTerm = Int(sine[((y &* fy &+ n &* sy) &>> 16) & Sine.mask])
            let rowDiag = y &* fdy
            let warp = Int(sine[((y &* fwarp &+ n &* swarp) &>> 16) & Sine.mask]) &* warpAmp &<< 1
            let warpBase = n &* sw &+ warp
            let bias = rowTerm &+ (128 &<< shift)
            palette.withUnsafeBufferPointer { pal in
                colTerm.withUnsafeBufferPointer { ct in
                    colDiag.withUnsafeBufferPointer { cd in
                        colWarp.withUnsafeBufferPointer { cw in
                            row.withUnsafeMutableBufferPointer { out in
                                let count = out.count, mask = Sine.mask
                                let sine = sine.baseAddress!, pal = pal.baseAddress!
                                let ct = ct.baseAddress!, cd = cd.baseAddress!, cw = cw.baseAddress!
                                let out = out.baseAddress!
                                for i in 0 ..< count {
                                    let d = Int(sine[((cd[i] &+ rowDiag) &>> 16) & mask])
                                    let v = Int(sine[((cw[i] &+ warpBase) &>> 16) & mask])
                                    let sum = Int(ct[i]) &+ bias &+ d &+ v
                                    out[i] = pal[((sum &>> shift) &+ cycle) & 255]
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
