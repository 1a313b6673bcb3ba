// SPDX-License-Identifier: MIT — the `life` workload: Conway's game of life, redrawing only the cells that changed.
import Kernel

/// Conway's game of life (B3/S23) on a toroidal grid of square cells with 1-pixel grid lines, from a seeded random
/// start. A cell keeps the colour of the generation it was born in, so only births and deaths are redrawn: after the
/// first frame, each frame is a scatter of small cell-sized fills. When the colony settles (few changes) or every
/// 64 generations, a seeded random patch is dropped in to keep it going.
@EmuActor package final class LifeWorkload: Workload {
    /// "life".
    package nonisolated static let name = "life"
    /// One line for listings.
    package nonisolated static let summary =
        "Conway's game of life, redrawing only cells that changed (sparse cell-sized fills)"

    /// The region drawn in.
    package let clip: Rect
    static let gridLine: UInt32 = 0x0B_1016
    static let dead: UInt32 = 0x18_222D
    static let births: [UInt32] = [0xFF_D166, 0xF4_A261, 0xE7_6F51, 0xEF_476F, 0xC7_7DFF, 0x4C_C9F0, 0x06_D6A0,
                                   0x90_BE6D]

    /// Side of a cell in pixels, including its grid line.
    let cellSize: Int
    let cols: Int, rows: Int
    /// Top-left pixel of the grid (centred in the clip).
    let originX: Int, originY: Int
    /// 0 dead, 1 alive; row-major.
    private var cells: [UInt8]
    private var next: [UInt8]
    /// Birth colour (index into `births`) of each live cell.
    private var colour: [UInt8]
    private var rng: SplitMix64
    private var nextFrame = 0

    /// A grid filling the clip, a third of it alive at random (from `seed`).
    package init(seed: UInt64, clip: Rect, screenWidth: Int, screenHeight: Int, assets: Assets) {
        self.clip = clip
        rng = SplitMix64(seed: SplitMix64.derive(seed, Self.name))
        cellSize = max(4, screenWidth / 240)
        let c = max(0, clip.width) / cellSize, r = max(0, clip.height) / cellSize
        (cols, rows) = c >= 3 && r >= 3 ? (c, r) : (0, 0)
        originX = clip.x + (max(0, clip.width) - cols * cellSize) / 2
        originY = clip.y + (max(0, clip.height) - rows * cellSize) / 2
        cells = [UInt8](repeating: 0, count: cols * rows)
        for i in 0 ..< cells.count where rng.below(100) < 32 { cells[i] = 1 }
        next = cells
        colour = [UInt8](repeating: 0, count: cols * rows)
    }

    /// Frame 0 draws the whole grid; later frames step one generation and redraw the cells that changed.
    package func drawFrame(_ n: Int, on canvas: some Canvas) throws(DrawError) {
        guard n == nextFrame else { throw .frameOutOfOrder(workload: "life", expected: nextFrame, got: n) }
        nextFrame += 1
        if n == 0 {
            try drawAll(on: canvas)
            return
        }
        guard cols > 0 else { return }
        let changes = step(generation: n)
        if changes < max(4, cols * rows / 400) || n % 64 == 0 { seedPatch(generation: n) }
        for i in 0 ..< cells.count where cells[i] != next[i] {
            let colourNow = next[i] == 1 ? Self.births[Int(colour[i])] : Self.dead
            try canvas.fill(Rect(x: originX + (i % cols) * cellSize, y: originY + (i / cols) * cellSize,
                                       width: cellSize - 1, height: cellSize - 1), rgb: colourNow)
        }
        swap(&cells, &next)
    }

    /// Computes the next generation into `next`; returns how many cells changed.
    private func step(generation: Int) -> Int {
        var changes = 0
        let birthColour = UInt8((generation / 8) % Self.births.count)
        for y in 0 ..< rows {
            let up = (y + rows - 1) % rows * cols, here = y * cols, down = (y + 1) % rows * cols
            for x in 0 ..< cols {
                let l = (x + cols - 1) % cols, r = (x + 1) % cols
                let sum = Int(cells[up + l]) + Int(cells[up + x]) + Int(cells[up + r]) + Int(cells[here + l])
                    + Int(cells[here + r]) + Int(cells[down + l]) + Int(cells[down + x]) + Int(cells[down + r])
                let alive = cells[here + x] == 1
                let lives = sum == 3 || (alive && sum == 2)
                next[here + x] = lives ? 1 : 0
                if lives != alive {
                    changes += 1
                    if lives { colour[here + x] = birthColour }
                }
            }
        }
        return changes
    }

    /// Drops a random 8×8 patch (half alive) at a random place of `next`.
    private func seedPatch(generation: Int) {
        let side = min(8, cols, rows)
        let px = rng.below(cols), py = rng.below(rows)
        let birthColour = UInt8((generation / 8) % Self.births.count)
        for dy in 0 ..< side {
            for dx in 0 ..< side where rng.below(2) == 0 {
                let i = (py + dy) % rows * cols + (px + dx) % cols
                if next[i] == 0 {
                    next[i] = 1
                    colour[i] = birthColour
                }
            }
        }
    }

    /// The whole clip, row by row: margins and grid lines, dead and live cells.
    private func drawAll(on canvas: some Canvas) throws(DrawError) {
        let w = clip.width
        guard w > 0, clip.height > 0 else { return }
        var line = [UInt32](repeating: Self.gridLine, count: w)
        for j in 0 ..< clip.height {
            let gy = (clip.y + j - originY)
            let cellRow = gy >= 0 && gy < rows * cellSize && gy % cellSize != cellSize - 1 ? gy / cellSize : -1
            for i in 0 ..< w {
                let gx = clip.x + i - originX
                if cellRow >= 0 && gx >= 0 && gx < cols * cellSize && gx % cellSize != cellSize - 1 {
                    let c = cellRow * cols + gx / cellSize
                    line[i] = cells[c] == 1 ? Self.births[Int(colour[c])] : Self.dead
                } else {
                    line[i] = Self.gridLine
                }
            }
            try canvas.blit(x: clip.x, y: clip.y + j, width: w, height: 1, pixels: line)
        }
    }
}
