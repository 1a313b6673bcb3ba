// SPDX-License-Identifier: MIT — PC Screen Font (PSF1 and PSF2) bitmap fonts, the console fonts of Linux
// (kernel: struct font_desc, include/linux/font.h; the file format is kbd's src/psf.h, the reader setfont uses).

/// Why a PSF font could not be read. The description is one line naming the problem.
package enum PSFError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The data ends before a part the header promises (`what`).
    case truncated(String)
    /// The first bytes are neither PSF1's 36 04 nor PSF2's 72 b5 4a 86.
    case badMagic
    /// A PSF2 version other than 0.
    case unsupportedVersion(UInt32)
    /// A header field is out of range (`what`).
    case badHeader(String)
    /// The Unicode table is malformed at byte `offset` of the file.
    case badUnicodeTable(offset: Int)

    /// One line.
    package var description: String {
        switch self {
        case .truncated(let what): "PSF font truncated: \(what)"
        case .badMagic: "not a PSF font (no PSF1 or PSF2 magic; a .psf.gz must be decompressed first)"
        case .unsupportedVersion(let v): "unsupported PSF2 version \(v)"
        case .badHeader(let what): "bad PSF header: \(what)"
        case .badUnicodeTable(let offset): "bad PSF Unicode table at byte \(offset)"
        }
    }
}

/// A console bitmap font: `glyphCount` glyphs of `width` × `height` pixels, each row `bytesPerRow` bytes, most
/// significant bit leftmost, plus the optional Unicode table mapping characters to glyphs.
///
/// Kernel: `struct font_desc` (include/linux/font.h) holds the same bitmap layout (`width`, `height`, `data`);
/// the PSF container is user space's (kbd: src/psf.h, `PSF1_MAGIC`, `PSF2_MAGIC`, `PSF2_HAS_UNICODE_TABLE`).
package struct PSFFont: Sendable, Hashable {
    /// Which container the font came in.
    package enum Version: Sendable, Hashable {
        /// PSF version 1: 8 pixels wide, 256 or 512 glyphs, UCS-2 Unicode table.
        case psf1
        /// PSF version 2: any size, any count, UTF-8 Unicode table.
        case psf2
    }

    /// PSF1 or PSF2.
    package let version: Version
    /// Glyph width in pixels (always 8 for PSF1).
    package let width: Int
    /// Glyph height in pixels.
    package let height: Int
    /// Number of glyphs (256 or 512 for PSF1).
    package let glyphCount: Int
    /// Bytes per glyph row: `(width + 7) / 8`.
    package let bytesPerRow: Int
    /// Bytes per glyph: `height * bytesPerRow`. Kernel analogue: `charcount`-independent `font->charsize`.
    package var bytesPerGlyph: Int { height * bytesPerRow }
    /// Whether the file carried a Unicode table.
    package var hasUnicodeTable: Bool { !unicodeMap.isEmpty }
    /// All glyph bitmaps, glyph after glyph.
    let bitmaps: [UInt8]
    /// Unicode scalar → glyph index, from the table (single code points only; sequences are skipped).
    let unicodeMap: [UInt32: Int]

    static let psf1Magic: [UInt8] = [0x36, 0x04]
    static let psf1Mode512: UInt8 = 0x01, psf1ModeHasTab: UInt8 = 0x02, psf1ModeHasSeq: UInt8 = 0x04
    static let psf1MaxMode: UInt8 = 0x05
    static let psf2Magic: UInt32 = 0x864A_B572
    static let psf2HasUnicodeTable: UInt32 = 0x01
    /// Limits that keep a hostile header from asking for absurd allocations. Larger than any console font
    /// (the kernel's console accepts at most 64 × 128 glyphs, 512 of them; PSF2 files may hold more).
    static let maxWidth = 64, maxHeight = 128, maxGlyphs = 65536

    /// Parses a PSF1 or PSF2 file (not gzip-compressed). Throws `PSFError` for anything malformed; never traps.
    package init(parsing data: [UInt8]) throws(PSFError) {
        if data.count >= 2 && data[0] == Self.psf1Magic[0] && data[1] == Self.psf1Magic[1] {
            try self.init(psf1: data)
        } else if data.count >= 4 && Self.le32(data, 0) == Self.psf2Magic {
            try self.init(psf2: data)
        } else if data.count < 4 && !data.isEmpty && (data[0] == 0x36 || data[0] == 0x72) {
            throw .truncated("header (\(data.count) bytes)")
        } else {
            throw .badMagic
        }
    }

    private init(psf1 data: [UInt8]) throws(PSFError) {
        guard data.count >= 4 else { throw .truncated("PSF1 header (\(data.count) of 4 bytes)") }
        let mode = data[2], charsize = Int(data[3])
        guard mode <= Self.psf1MaxMode else { throw .badHeader("PSF1 mode 0x\(String(mode, radix: 16))") }
        guard charsize > 0 else { throw .badHeader("PSF1 charsize 0") }
        let count = mode & Self.psf1Mode512 != 0 ? 512 : 256
        let glyphBytes = count * charsize
        guard data.count >= 4 + glyphBytes else {
            throw .truncated("\(count) glyphs of \(charsize) bytes need \(4 + glyphBytes) bytes, file has \(data.count)")
        }
        var map: [UInt32: Int] = [:]
        if mode & (Self.psf1ModeHasTab | Self.psf1ModeHasSeq) != 0 {
            var at = 4 + glyphBytes
            for glyph in 0 ..< count {
                var inSequence = false
                while true {
                    guard at + 2 <= data.count else { throw .truncated("PSF1 Unicode table of glyph \(glyph)") }
                    let v = UInt16(data[at]) | UInt16(data[at + 1]) << 8
                    at += 2
                    if v == 0xFFFF { break }
                    if v == 0xFFFE { inSequence = true; continue }
                    if !inSequence && map[UInt32(v)] == nil { map[UInt32(v)] = glyph }
                }
            }
        }
        version = .psf1
        width = 8
        height = charsize
        glyphCount = count
        bytesPerRow = 1
        bitmaps = Array(data[4 ..< 4 + glyphBytes])
        unicodeMap = map
    }

    private init(psf2 data: [UInt8]) throws(PSFError) {
        guard data.count >= 32 else { throw .truncated("PSF2 header (\(data.count) of 32 bytes)") }
        let ver = Self.le32(data, 4), headerSize = Self.le32(data, 8), flags = Self.le32(data, 12)
        let length = Self.le32(data, 16), charsize = Self.le32(data, 20)
        let h = Self.le32(data, 24), w = Self.le32(data, 28)
        guard ver == 0 else { throw .unsupportedVersion(ver) }
        guard headerSize >= 32, headerSize <= UInt32(data.count) else {
            throw .badHeader("header size \(headerSize) (file has \(data.count) bytes)")
        }
        guard w >= 1, w <= UInt32(Self.maxWidth), h >= 1, h <= UInt32(Self.maxHeight) else {
            throw .badHeader("glyph size \(w)x\(h) (1x1 to \(Self.maxWidth)x\(Self.maxHeight) supported)")
        }
        guard length >= 1, length <= UInt32(Self.maxGlyphs) else {
            throw .badHeader("glyph count \(length) (1 to \(Self.maxGlyphs) supported)")
        }
        let rowBytes = (Int(w) + 7) / 8
        guard Int(charsize) == Int(h) * rowBytes else {
            throw .badHeader("charsize \(charsize) is not height \(h) × \(rowBytes) bytes per row")
        }
        let start = Int(headerSize), glyphBytes = Int(length) * Int(charsize)
        guard data.count - start >= glyphBytes else {
            throw .truncated("\(length) glyphs of \(charsize) bytes need \(start + glyphBytes) bytes, "
                + "file has \(data.count)")
        }
        var map: [UInt32: Int] = [:]
        if flags & Self.psf2HasUnicodeTable != 0 {
            var at = start + glyphBytes
            for glyph in 0 ..< Int(length) {
                var inSequence = false
                while true {
                    guard at < data.count else { throw .truncated("PSF2 Unicode table of glyph \(glyph)") }
                    let lead = data[at]
                    if lead == 0xFF { at += 1; break }
                    if lead == 0xFE { at += 1; inSequence = true; continue }
                    let (scalar, n) = try Self.utf8Scalar(data, at)
                    at += n
                    if !inSequence && map[scalar] == nil { map[scalar] = glyph }
                }
            }
        }
        version = .psf2
        width = Int(w)
        height = Int(h)
        glyphCount = Int(length)
        bytesPerRow = rowBytes
        bitmaps = Array(data[start ..< start + glyphBytes])
        unicodeMap = map
    }

    /// Decodes one UTF-8 scalar of the PSF2 table at `at`: the value and its length in bytes.
    private static func utf8Scalar(_ data: [UInt8], _ at: Int) throws(PSFError) -> (UInt32, Int) {
        let lead = data[at]
        let n: Int, initial: UInt32
        switch lead {
        case 0x00 ... 0x7F: return (UInt32(lead), 1)
        case 0xC2 ... 0xDF: n = 2; initial = UInt32(lead & 0x1F)
        case 0xE0 ... 0xEF: n = 3; initial = UInt32(lead & 0x0F)
        case 0xF0 ... 0xF4: n = 4; initial = UInt32(lead & 0x07)
        default: throw .badUnicodeTable(offset: at)
        }
        guard at + n <= data.count else { throw .truncated("UTF-8 sequence at byte \(at) of the Unicode table") }
        var v = initial
        for i in 1 ..< n {
            let b = data[at + i]
            guard b & 0xC0 == 0x80 else { throw .badUnicodeTable(offset: at + i) }
            v = v << 6 | UInt32(b & 0x3F)
        }
        let minimum: UInt32 = n == 2 ? 0x80 : n == 3 ? 0x800 : 0x1_0000
        guard v >= minimum, v <= 0x10_FFFF, !(0xD800 ... 0xDFFF).contains(v) else {
            throw .badUnicodeTable(offset: at)
        }
        return (v, n)
    }

    private static func le32(_ d: [UInt8], _ at: Int) -> UInt32 {
        UInt32(d[at]) | UInt32(d[at + 1]) << 8 | UInt32(d[at + 2]) << 16 | UInt32(d[at + 3]) << 24
    }

    /// The glyph that shows `scalar`: from the Unicode table when there is one (else the code point itself when it
    /// is a valid index), falling back to the glyph of "?" and then to glyph 0.
    package func glyphIndex(for scalar: Unicode.Scalar) -> Int {
        if hasUnicodeTable {
            if let g = unicodeMap[scalar.value] { return g }
            return unicodeMap[0x3F] ?? 0
        }
        let v = Int(scalar.value)
        return v < glyphCount ? v : (0x3F < glyphCount ? 0x3F : 0)
    }

    /// Whether pixel (`x`, `y`) of glyph `glyph` is set (foreground).
    @inline(__always) package func isSet(glyph: Int, x: Int, y: Int) -> Bool {
        precondition(glyph >= 0 && glyph < glyphCount && x >= 0 && x < width && y >= 0 && y < height)
        let byte = bitmaps[glyph * bytesPerGlyph + y * bytesPerRow + x >> 3]
        return byte & (0x80 >> UInt8(x & 7)) != 0
    }

    /// Renders glyph `glyph` as colours into `pixels` (row-major with `stride` pixels per row) at (`x`, `y`).
    func render(glyph: Int, fg: UInt32, bg: UInt32, into pixels: inout [UInt32], stride: Int, x: Int, y: Int) {
        precondition(glyph >= 0 && glyph < glyphCount)
        let base = glyph * bytesPerGlyph
        bitmaps.withUnsafeBufferPointer { bits in
            pixels.withUnsafeMutableBufferPointer { out in
                for row in 0 ..< height {
                    let rowBase = base + row * bytesPerRow
                    let o = (y + row) * stride + x
                    for col in 0 ..< width {
                        let set = bits[rowBase + col >> 3] & (0x80 >> UInt8(col & 7)) != 0
                        out[o + col] = set ? fg : bg
                    }
                }
            }
        }
    }
}
