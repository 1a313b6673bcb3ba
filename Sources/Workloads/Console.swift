// SPDX-License-Identifier: MIT — the `console` workload: a text console drawn the way fbcon draws
// (kernel: drivers/video/fbdev/core/fbcon.c, bitblit.c — putcs by imageblit, scroll by copyarea, cursor).
import Kernel

/// A text terminal in the style of fbcon: PSF glyphs drawn with an image blit per run of characters
/// (`bit_putcs`), scrolling by moving the text area up one line with a copy and clearing the last line
/// (fbcon's `SCROLL_MOVE`: `bmove` + `clear`), and a blinking underline cursor (`fbcon_cursor`). What it types is a
/// seeded boot log and shell session (`ConsoleScript`): kernel messages a line or so per frame, commands a few
/// characters per frame. Write pattern: small blits near the cursor, plus a copy of the whole clip (read back and
/// rewritten) on every scroll.
@EmuActor package final class ConsoleWorkload: Workload {
    /// "console".
    package nonisolated static let name = "console"
    /// One line for listings.
    package nonisolated static let summary =
        "fbcon-like text console: PSF glyph blits, scrolling by copyarea, a blinking cursor (reads back on scroll)"

    /// The region drawn in.
    package let clip: Rect
    /// The font in use (chosen by clip size, as fbcon's `get_default_font`).
    let font: PSFFont
    /// Text area in character cells.
    let cols: Int, rows: Int
    static let background: UInt32 = 0x00_0000
    /// Each frame has 24 to 72 ticks (output comes in bursts); a printk-pace character costs 1 tick, a typed one
    /// 12 to 23 (so a person types 1 to 6 characters a frame).
    static let ticksPerFrame = 24 ... 72

    private let seed: UInt64
    private var rng: SplitMix64
    private var script: ConsoleScript?
    private var pending: [ConsoleUnit] = []
    private var pendingIndex = 0
    /// Cursor position (column may equal `cols`: a wrap is pending, as in the VT's `vc_need_wrap`).
    private var col = 0, row = 0
    /// What each cell shows (glyph, colour), for redrawing the cell under the cursor. Kernel: `vc_screenbuf`.
    private var cells: [(glyph: Int, rgb: UInt32)]
    private let blank: Int
    /// Characters written this frame on the cursor's row, not yet blitted: (starting column, cells).
    private var runStart = 0
    private var run: [(glyph: Int, rgb: UInt32)] = []
    private var cursorShown = false
    private var lastOutputFrame = 0
    private var nextFrame = 0

    /// A console filling the clip with the font that suits it; the session it types comes from `seed`.
    package init(seed: UInt64, clip: Rect, screenWidth: Int, screenHeight: Int, assets: Assets) {
        self.clip = clip
        self.seed = seed
        rng = SplitMix64(seed: SplitMix64.derive(seed, Self.name))
        font = Self.defaultFont(assets.consoleFonts, width: clip.width, height: clip.height)
        cols = max(0, clip.width) / font.width
        rows = cols > 0 ? max(0, clip.height) / font.height : 0
        blank = font.glyphIndex(for: " ")
        cells = Array(repeating: (blank, Self.background), count: cols * rows)
    }

    /// The font for a text area: the biggest one that still gives at least 100 columns and 24 rows, else the
    /// smallest. Kernel analogue: `get_default_font()` — lib/fonts/fonts.c (which also prefers bigger fonts on
    /// high-resolution screens).
    static func defaultFont(_ fonts: [PSFFont], width: Int, height: Int) -> PSFFont {
        var best = fonts[0]
        for f in fonts where width / f.width >= 100 && height / f.height >= 24 && f.height > best.height { best = f }
        return best
    }

    /// Erases the cursor, types this frame's share of the session (scrolling as needed), and draws the cursor if
    /// it is in the visible half of its blink.
    package func drawFrame(_ n: Int, on canvas: some Canvas) throws(DrawError) {
        guard n == nextFrame else { throw .frameOutOfOrder(workload: "console", expected: nextFrame, got: n) }
        nextFrame += 1
        if n == 0 {
            try canvas.fill(clip, rgb: Self.background)  // fbcon's clear_margins and first clear
            script = ConsoleScript(seed: seed, layout: canvas.layout, consoleCols: cols, consoleRows: rows)
        }
        guard rows > 0 else { return }
        if cursorShown {
            try redrawCell(col: min(col, cols - 1), row: row, on: canvas)
            cursorShown = false
        }
        var ticks = Self.ticksPerFrame.lowerBound + rng.below(Self.ticksPerFrame.count)
        var wrote = false
        while ticks > 0 {
            if pendingIndex == pending.count {
                pending = script!.next()
                pendingIndex = 0
            }
            let unit = pending[pendingIndex]
            let cost: Int
            switch unit {
            case .char(_, _, let typed), .newline(let typed): cost = typed ? 12 + rng.below(12) : 1
            case .pause: cost = ticks
            case .clear: cost = 1
            }
            if cost > ticks && wrote { break }
            ticks -= cost
            pendingIndex += 1
            switch unit {
            case .char(let scalar, let rgb, _):
                try put(font.glyphIndex(for: scalar), rgb, on: canvas)
                wrote = true
            case .newline:
                try newline(on: canvas)
                wrote = true
            case .pause:
                break
            case .clear:
                try flushRun(on: canvas)
                try canvas.fill(clip, rgb: Self.background)
                for i in cells.indices { cells[i] = (blank, Self.background) }
                col = 0
                row = 0
                wrote = true
            }
        }
        try flushRun(on: canvas)
        if wrote { lastOutputFrame = n }
        // fbcon blinks the cursor on a timer and shows it solid while output is flowing.
        if (n - lastOutputFrame) / 4 % 2 == 0 {
            try drawCursor(on: canvas)
            cursorShown = true
        }
    }

    /// Puts one character at the cursor, wrapping first if a wrap is pending. Kernel: `vc_con_write_normal`.
    private func put(_ glyph: Int, _ rgb: UInt32, on canvas: some Canvas) throws(DrawError) {
        if col == cols { try newline(on: canvas) }
        if run.isEmpty { runStart = col }
        run.append((glyph, rgb))
        cells[row * cols + col] = (glyph, rgb)
        col += 1
    }

    /// Moves to the start of the next line, scrolling the text area up by one when on the last row.
    private func newline(on canvas: some Canvas) throws(DrawError) {
        try flushRun(on: canvas)
        col = 0
        if row + 1 < rows {
            row += 1
            return
        }
        // fbcon_scroll, SCROLL_MOVE: move lines 1… up by one (copyarea), then clear the freed last line.
        let text = Rect(x: clip.x, y: clip.y, width: cols * font.width, height: rows * font.height)
        if rows > 1 {
            try canvas.copy(from: Rect(x: text.x, y: text.y + font.height, width: text.width,
                                             height: text.height - font.height), toX: text.x, toY: text.y)
        }
        try canvas.fill(Rect(x: text.x, y: text.y + (rows - 1) * font.height, width: text.width,
                                   height: font.height), rgb: Self.background)
        cells.removeFirst(cols)
        cells.append(contentsOf: Array(repeating: (glyph: blank, rgb: Self.background), count: cols))
    }

    /// Blits the characters written on the current row since the last flush, as one image. Kernel: `bit_putcs`.
    private func flushRun(on canvas: some Canvas) throws(DrawError) {
        guard !run.isEmpty else { return }
        let w = run.count * font.width
        var pixels = [UInt32](repeating: Self.background, count: w * font.height)
        for (i, cell) in run.enumerated() {
            font.render(glyph: cell.glyph, fg: cell.rgb, bg: Self.background, into: &pixels, stride: w,
                        x: i * font.width, y: 0)
        }
        try canvas.blit(x: clip.x + runStart * font.width, y: clip.y + row * font.height, width: w,
                              height: font.height, pixels: pixels)
        run.removeAll(keepingCapacity: true)
    }

    /// Draws one cell from the screen buffer (erasing a cursor drawn over it).
    private func redrawCell(col c: Int, row r: Int, on canvas: some Canvas) throws(DrawError) {
        let cell = cells[r * cols + c]
        var pixels = [UInt32](repeating: Self.background, count: font.width * font.height)
        font.render(glyph: cell.glyph, fg: cell.rgb, bg: Self.background, into: &pixels, stride: font.width, x: 0,
                    y: 0)
        try canvas.blit(x: clip.x + c * font.width, y: clip.y + r * font.height, width: font.width,
                              height: font.height, pixels: pixels)
    }

    /// The underline cursor: the bottom scanline(s) of the cell. Kernel: `bit_cursor` with `CUR_UNDERLINE`
    /// (1 line for fonts under 10 pixels high, else 2).
    private func drawCursor(on canvas: some Canvas) throws(DrawError) {
        let lines = font.height < 10 ? 1 : 2
        let x = clip.x + min(col, cols - 1) * font.width, y = clip.y + (row + 1) * font.height - lines
        try canvas.fill(Rect(x: x, y: y, width: font.width, height: lines), rgb: ConsoleScript.grey)
    }
}
