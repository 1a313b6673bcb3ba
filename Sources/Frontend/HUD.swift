// SPDX-License-Identifier: MIT — the heads-up display: what it says, and its picture (drawn on the CPU).
import Lab

/// What the window knows that the emulator does not: how many frames reached the screen.
package struct DisplayStats: Sendable, Equatable {
    /// Frames taken from the mailbox and drawn.
    package var framesShown = 0
    /// Frames the emulator published that were replaced in the mailbox before the window took them.
    package var framesDropped = 0
    /// Frames shown per second of wall time, over the last second or so.
    package var shownPerSecond = 0.0
    package init(framesShown: Int = 0, framesDropped: Int = 0, shownPerSecond: Double = 0) {
        self.framesShown = framesShown
        self.framesDropped = framesDropped
        self.shownPerSecond = shownPerSecond
    }
}

/// The HUD's text and its rendering into a translucent ARGB panel (composited over the window by the renderer,
/// never written into the panel image).
enum HUD {
    struct Line: Equatable {
        var label: String
        var value: String
        var isTitle = false
    }

    static let titleColour: UInt32 = 0xFFFF_D23C
    static let labelColour: UInt32 = 0xFF9C_C3E6
    static let valueColour: UInt32 = 0xFFFF_FFFF
    static let background: UInt32 = 0xC810_141C
    static let border: UInt32 = 0xE05A_6878
    static let padding = 4
    static let lineHeight = BitmapFont.cellHeight + 1
    static let labelColumns = 11

    static func lines(_ s: HUDStats, display: DisplayStats) -> [Line] {
        let ratio = s.bytesChanged > 0 ? fixed(Double(s.bytesSent) / Double(s.bytesChanged), 2) + "x" : "-"
        return [
            Line(label: "fbdefio-emu", value: "h: hide  q: quit", isTitle: true),
            Line(label: "panel", value: s.panel.isEmpty ? "-" : s.panel),
            Line(label: "workload", value: s.workload.isEmpty ? "-" : s.workload),
            Line(label: "vtime", value: seconds(s.virtualTime.nanoseconds)),
            Line(label: "faults/s", value: fixed(s.faultsPerSecond, 1)),
            Line(label: "batches/s", value: fixed(s.batchesPerSecond, 1)),
            Line(label: "pages/b", value: fixed(s.pagesPerBatch, 2)),
            Line(label: "bytes/b", value: bytes(s.bytesPerBatch)),
            Line(label: "sent", value: bytes(Double(s.bytesSent))),
            Line(label: "changed", value: bytes(Double(s.bytesChanged))),
            Line(label: "sent/chg", value: ratio),
            Line(label: "panel max", value: fixed(s.sustainableFPS, 1) + " fps"),
            Line(label: "shown", value: "\(display.framesShown) (\(fixed(display.shownPerSecond, 1))/s)"),
            Line(label: "dropped", value: "\(display.framesDropped)"),
        ]
    }

    /// The HUD picture for `lines`: a bordered translucent box, labels in one colour and values in another.
    /// At least `minColumns` characters wide so the box does not jitter as numbers change length.
    static func render(_ lines: [Line], minColumns: Int = 30) -> ARGBImage {
        let columns = max(minColumns, lines.map { labelColumns + 1 + $0.value.utf8.count }.max() ?? 0)
        let width = 2 * padding + columns * BitmapFont.cellWidth - 1
        let height = 2 * padding + lines.count * lineHeight - 2
        var image = ARGBImage(width: width, height: height, fill: background)
        for x in 0 ..< width {
            image[x, 0] = border
            image[x, height - 1] = border
        }
        for y in 0 ..< height {
            image[0, y] = border
            image[width - 1, y] = border
        }
        for (i, line) in lines.enumerated() {
            let y = padding + i * lineHeight
            BitmapFont.draw(line.label, into: &image, x: padding, y: y,
                            colour: line.isTitle ? titleColour : labelColour)
            BitmapFont.draw(line.value, into: &image, x: padding + (labelColumns + 1) * BitmapFont.cellWidth, y: y,
                            colour: line.isTitle ? labelColour : valueColour)
        }
        return image
    }

    /// `v` with exactly `decimals` digits after the point, rounded half away from zero ("-" if not finite).
    static func fixed(_ v: Double, _ decimals: Int) -> String {
        guard v.isFinite else { return "-" }
        var scale = 1.0
        for _ in 0 ..< decimals { scale *= 10 }
        let scaled = (abs(v) * scale).rounded()
        guard scaled < 9e15 else { return v < 0 ? "-huge" : "huge" }
        let n = Int64(scaled)
        let unit = Int64(scale)
        let whole = n / unit, frac = n % unit
        var s = (v < 0 && n != 0 ? "-" : "") + String(whole)
        if decimals > 0 {
            let digits = String(frac)
            s += "." + String(repeating: "0", count: decimals - digits.count) + digits
        }
        return s
    }

    /// A byte count with a binary unit: "512 B", "13.1 KiB", "1.25 MiB".
    static func bytes(_ v: Double) -> String {
        guard v.isFinite else { return "-" }
        if abs(v) < 1024 { return fixed(v, abs(v - v.rounded()) < 0.05 ? 0 : 1) + " B" }
        if abs(v) < 1024 * 1024 { return fixed(v / 1024, 1) + " KiB" }
        if abs(v) < 1024 * 1024 * 1024 { return fixed(v / (1024 * 1024), 2) + " MiB" }
        return fixed(v / (1024 * 1024 * 1024), 2) + " GiB"
    }

    /// Virtual nanoseconds as seconds with microsecond digits: "1.234567 s".
    static func seconds(_ ns: Int64) -> String {
        let sign = ns < 0 ? "-" : ""
        let m = ns.magnitude
        let whole = m / 1_000_000_000, micros = (m % 1_000_000_000) / 1000
        let digits = String(micros)
        return sign + String(whole) + "." + String(repeating: "0", count: 6 - digits.count) + digits + " s"
    }
}
