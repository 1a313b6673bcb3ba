// SPDX-License-Identifier: MIT — the `cursor` workload: a software mouse cursor gliding over a still picture.
import Kernel

/// A 12×19 arrow (doubled on screens 1600 pixels wide or more) moving along a seeded Lissajous curve over the
/// backdrop picture from the assets, like X11's software cursor: each frame restores the picture under the old
/// position and draws the arrow at the new one. After the first frame only the pages under the cursor change.
///
/// The picture is scaled to cover the whole *screen* (nearest neighbour, centre-cropped to the screen's aspect), and
/// each clip shows its part of it, so bands drawn by several processes form one picture.
@EmuActor package final class CursorWorkload: Workload {
    /// "cursor".
    package nonisolated static let name = "cursor"
    /// One line for listings.
    package nonisolated static let summary =
        "a 12x19 arrow gliding over a still picture, restoring what it covered (a few pages per frame)"

    /// The arrow: `X` outline (black), `o` fill (white), space transparent. Hotspot at the top-left pixel.
    static let arrow: [String] = [
        "X           ",
        "XX          ",
        "XoX         ",
        "XooX        ",
        "XoooX       ",
        "XooooX      ",
        "XoooooX     ",
        "XooooooX    ",
        "XoooooooX   ",
        "XooooooooX  ",
        "XoooooooooX ",
        "XooooooooooX",
        "XooooooXXXXX",
        "XoooXooX    ",
        "XooX XooX   ",
        "XoX  XooX   ",
        "XX    XooX  ",
        "X     XooX  ",
        "       XX   ",
    ]
    static let outline: UInt32 = 0x00_0000, fillColour: UInt32 = 0xFF_FFFF

    /// The region drawn in.
    package let clip: Rect
    private let image: PPMImage
    /// Source column of each screen column and source row of each screen row (nearest neighbour).
    private let sourceX: [Int], sourceY: [Int]
    /// Arrow pixels scaled: (dx, dy, colour).
    private let sprite: [(dx: Int, dy: Int, rgb: UInt32)]
    private let spriteWidth: Int, spriteHeight: Int
    /// Path: phases advance by `speedX`/`speedY` (Q16 sine steps) per frame.
    private let phaseX: Int, phaseY: Int, speedX: Int, speedY: Int
    private var last: Rect?
    private var nextFrame = 0

    /// A cursor on the backdrop, its path seeded by `seed`.
    package init(seed: UInt64, clip: Rect, screenWidth: Int, screenHeight: Int, assets: Assets) {
        self.clip = clip
        image = assets.backdrop
        var rng = SplitMix64(seed: SplitMix64.derive(seed, Self.name))
        // Cover the screen: crop the picture to the screen's aspect ratio, centred, then sample pixel centres.
        let sw = max(1, screenWidth), sh = max(1, screenHeight)
        var cropW = image.width, cropH = image.height
        if image.width * sh > image.height * sw { cropW = max(1, image.height * sw / sh) } else {
            cropH = max(1, image.width * sh / sw)
        }
        let x0 = (image.width - cropW) / 2, y0 = (image.height - cropH) / 2
        sourceX = (0 ..< sw).map { x0 + (2 * $0 + 1) * cropW / (2 * sw) }
        sourceY = (0 ..< sh).map { y0 + (2 * $0 + 1) * cropH / (2 * sh) }
        let scale = screenWidth >= 1600 ? 2 : 1
        var pixels: [(dx: Int, dy: Int, rgb: UInt32)] = []
        for (r, line) in Self.arrow.enumerated() {
            for (c, ch) in line.enumerated() where ch != " " {
                for sy in 0 ..< scale {
                    for sx in 0 ..< scale {
                        pixels.append((c * scale + sx, r * scale + sy, ch == "X" ? Self.outline : Self.fillColour))
                    }
                }
            }
        }
        sprite = pixels
        spriteWidth = Self.arrow[0].count * scale
        spriteHeight = Self.arrow.count * scale
        // A few pixels of travel per frame at the widest point: phase speed ≈ px · 1024 / (2π · amplitude).
        let amplitude = max(1, max(clip.width, clip.height) / 2)
        let pixelsPerFrame = (3 + rng.below(4)) * scale
        let base = pixelsPerFrame * 10_680_707 / amplitude  // 1024 · 65536 / 2π ≈ 10 680 707
        speedX = max(1 << 12, base)
        speedY = max(1 << 12, base * (5 + rng.below(4)) / 7)
        phaseX = rng.below(Sine.count) << 16
        phaseY = rng.below(Sine.count) << 16
    }

    /// The hotspot's position at frame `n`: anywhere in the clip (the arrow may hang over the right/bottom edge).
    func hotspot(_ n: Int) -> (x: Int, y: Int) {
        let w = max(1, clip.width), h = max(1, clip.height)
        let sx = Int(Sine.at((phaseX + n * speedX) >> 16)) + Int(Sine.one)
        let sy = Int(Sine.at((phaseY + n * speedY) >> 16)) + Int(Sine.one)
        return (clip.x + sx * (w - 1) / (2 * Int(Sine.one)), clip.y + sy * (h - 1) / (2 * Int(Sine.one)))
    }

    /// Frame 0 draws the picture over the clip; every frame restores the old cursor box and draws the arrow.
    package func drawFrame(_ n: Int, on canvas: some Canvas) throws(DrawError) {
        guard n == nextFrame else { throw .frameOutOfOrder(workload: "cursor", expected: nextFrame, got: n) }
        nextFrame += 1
        guard clip.width > 0, clip.height > 0 else { return }
        if n == 0 {
            try restore(clip, on: canvas)
        } else if let old = last {
            try restore(old, on: canvas)
        }
        let p = hotspot(n)
        for px in sprite { try canvas.plot(x: p.x + px.dx, y: p.y + px.dy, rgb: px.rgb) }
        last = Rect(x: p.x, y: p.y, width: spriteWidth, height: spriteHeight)
    }

    /// Redraws the picture inside `rect` (clipped to the clip and the screen), row by row.
    private func restore(_ rect: Rect, on canvas: some Canvas) throws(DrawError) {
        let screen = Rect(x: 0, y: 0, width: sourceX.count, height: sourceY.count)
        guard let r = rect.intersection(clip)?.intersection(screen) else { return }
        var line = [UInt32](repeating: 0, count: r.width)
        for y in r.y ..< r.maxY {
            let rowBase = sourceY[y] * image.width
            for i in 0 ..< r.width { line[i] = image.pixels[rowBase + sourceX[r.x + i]] }
            try canvas.blit(x: r.x, y: y, width: r.width, height: 1, pixels: line)
        }
    }
}
