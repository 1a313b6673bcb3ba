// SPDX-License-Identifier: MIT — the `sprites` workload: bouncing outlined shapes, erased and redrawn each frame.
import Kernel

/// Several filled shapes (boxes, discs, diamonds, triangles) with a 1-pixel outline, bouncing off the clip's edges
/// over a plain background. Each frame erases every sprite's old box with the background, then draws every sprite
/// at its new place: scattered rectangular writes whose pages move with the sprites.
@EmuActor package final class SpritesWorkload: Workload {
    /// "sprites".
    package nonisolated static let name = "sprites"
    /// One line for listings.
    package nonisolated static let summary =
        "bouncing outlined shapes erased and redrawn each frame (scattered small rectangles that move)"

    /// The region drawn in.
    package let clip: Rect
    /// The plain background.
    static let background: UInt32 = 0x1B_2838
    static let palette: [UInt32] = [0xE7_4C3C, 0xF1_C40F, 0x2E_CC71, 0x34_98DB, 0x9B_59B6, 0xE6_7E22, 0x1A_BC9C,
                                    0xEC_F0F1]

    /// The outlines a sprite can have.
    enum Shape: CaseIterable { case box, disc, diamond, triangle }

    /// One sprite: where it is, where it goes, and its rows.
    struct Sprite {
        /// Top-left corner, relative to the clip.
        var x: Int, y: Int
        var dx: Int, dy: Int
        /// Odd side length of the square bounding box.
        let size: Int
        let fill: UInt32, outline: UInt32
        /// Half-width of the shape in each row (the row spans `size/2 - half ... size/2 + half`; −1: empty).
        let halves: [Int]
    }

    private var sprites: [Sprite] = []
    private var nextFrame = 0

    /// Sprites sized and paced for the clip, placed and coloured by `seed`.
    package init(seed: UInt64, clip: Rect, screenWidth: Int, screenHeight: Int, assets: Assets) {
        self.clip = clip
        var rng = SplitMix64(seed: SplitMix64.derive(seed, Self.name))
        let w = max(clip.width, 0), h = max(clip.height, 0), small = min(w, h)
        guard small >= 7 else { return }  // too thin for a shape: background only
        let count = min(12, max(3, w * h / 7000))
        let maxSize = max(5, min(small - 2, max(9, small / 4))), minSize = max(5, min(maxSize, small / 10))
        let maxSpeed = max(2, min(w, h) / 48)
        for i in 0 ..< count {
            let size = (minSize + rng.below(maxSize - minSize + 1)) | 1
            let shape = Shape.allCases[rng.below(Shape.allCases.count)]
            let fill = Self.palette[(i + rng.below(Self.palette.count)) % Self.palette.count]
            var dx = 1 + rng.below(maxSpeed), dy = 1 + rng.below(maxSpeed)
            if rng.below(2) == 0 { dx = -dx }
            if rng.below(2) == 0 { dy = -dy }
            sprites.append(Sprite(x: rng.below(max(1, w - size + 1)), y: rng.below(max(1, h - size + 1)),
                                  dx: dx, dy: dy, size: min(size, small), fill: fill,
                                  outline: RGB.mix(fill, 0xFF_FFFF, 1, 2),
                                  halves: Self.halves(shape, size: min(size, small))))
        }
    }

    /// Half-widths per row of a shape in an odd `size` × `size` box.
    static func halves(_ shape: Shape, size: Int) -> [Int] {
        let c = size / 2
        var out: [Int] = []
        out.reserveCapacity(size)
        for r in 0 ..< size {
            switch shape {
            case .box: out.append(c)
            case .disc: out.append(intSqrt(max(0, c * c + c - (r - c) * (r - c))))
            case .diamond: out.append(c - abs(r - c))
            case .triangle: out.append(r / 2)
            }
        }
        return out
    }

    /// Frame 0 paints the background; every frame erases the sprites, moves them, and draws them again.
    package func drawFrame(_ n: Int, on canvas: some Canvas) throws(DrawError) {
        guard n == nextFrame else { throw .frameOutOfOrder(workload: "sprites", expected: nextFrame, got: n) }
        nextFrame += 1
        if n == 0 {
            try canvas.fill(clip, rgb: Self.background)
        } else {
            for s in sprites {
                try canvas.fill(Rect(x: clip.x + s.x, y: clip.y + s.y, width: s.size, height: s.size),
                                      rgb: Self.background)
            }
            for i in sprites.indices { step(&sprites[i]) }
        }
        for s in sprites { try draw(s, on: canvas) }
    }

    /// Moves one sprite, reflecting it off the clip's edges.
    private func step(_ s: inout Sprite) {
        let xMax = max(0, clip.width - s.size), yMax = max(0, clip.height - s.size)
        s.x += s.dx
        s.y += s.dy
        if s.x < 0 { s.x = min(-s.x, xMax); s.dx = -s.dx }
        if s.x > xMax { s.x = max(2 * xMax - s.x, 0); s.dx = -s.dx }
        if s.y < 0 { s.y = min(-s.y, yMax); s.dy = -s.dy }
        if s.y > yMax { s.y = max(2 * yMax - s.y, 0); s.dy = -s.dy }
    }

    /// Draws a sprite row by row: its interior span in the fill colour, the pixels next to the outside in the
    /// outline colour (a pixel is interior when its four neighbours are all inside the shape).
    private func draw(_ s: Sprite, on canvas: some Canvas) throws(DrawError) {
        let c = s.size / 2, ox = clip.x + s.x, oy = clip.y + s.y
        for r in 0 ..< s.size {
            let half = s.halves[r]
            if half < 0 { continue }
            let above = r > 0 ? s.halves[r - 1] : -1, below = r + 1 < s.size ? s.halves[r + 1] : -1
            let inner = min(half - 1, above, below)
            let y = oy + r
            if inner < 0 {
                try canvas.fill(Rect(x: ox + c - half, y: y, width: 2 * half + 1, height: 1), rgb: s.outline)
                continue
            }
            let edge = half - inner
            try canvas.fill(Rect(x: ox + c - half, y: y, width: edge, height: 1), rgb: s.outline)
            try canvas.fill(Rect(x: ox + c - inner, y: y, width: 2 * inner + 1, height: 1), rgb: s.fill)
            try canvas.fill(Rect(x: ox + c + inner + 1, y: y, width: edge, height: 1), rgb: s.outline)
        }
    }
}
