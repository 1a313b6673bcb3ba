// SPDX-License-Identifier: MIT — CRC-32 and the PNG encoder/decoder.
import CZlib
import Foundation
@testable import Frontend
import Kernel
import Testing
import TestSupport

@Suite struct CRC32Tests {
    @Test func knownVectors() {
        #expect(crc32(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(crc32([UInt8]()) == 0)
        #expect(crc32(Array("The quick brown fox jumps over the lazy dog".utf8)) == 0x414F_A339)
        #expect(crc32(Array("IEND".utf8)) == 0xAE42_6082)  // the CRC every PNG ends with
        #expect(crc32("123456789".utf8) == 0xCBF4_3926)  // a non-contiguous sequence takes the other path
    }

    @Test func continuingEqualsWhole() {
        var rng = SplitMix64(seed: 7)
        let bytes = (0 ..< 5000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        for cut in [0, 1, 999, 4999, 5000] {
            #expect(crc32(bytes[cut...], continuing: crc32(bytes[..<cut])) == crc32(bytes))
        }
    }

    @Test func agreesWithZlib() {
        var rng = SplitMix64(seed: 11)
        for n in [1, 3, 64, 4096, 100_003] {
            let bytes = (0 ..< n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let z = bytes.withUnsafeBufferPointer { CZlib.crc32(0, $0.baseAddress, uInt($0.count)) }
            #expect(UInt(crc32(bytes)) == z, "n=\(n)")
            let pixels = (0 ..< n).map { _ in UInt32(truncatingIfNeeded: rng.next()) }
            let zp = pixels.withUnsafeBytes { CZlib.crc32(0, $0.baseAddress!.assumingMemoryBound(to: Bytef.self),
                                                           uInt($0.count)) }
            #expect(UInt(pixels.withUnsafeBytes { crc32($0) }) == zp, "pixels n=\(n)")
        }
    }
}

@Suite struct PNGTests {
    static let sizes: [(Int, Int)] = [(1, 1), (3, 5), (5, 3), (17, 9), (64, 48), (300, 7), (1, 200)]

    @Test(arguments: sizes.indices) func roundTripRandom(_ i: Int) throws {
        let (w, h) = Self.sizes[i]
        var rng = SplitMix64(seed: UInt64(1000 + i))
        let image = rng.image(width: w, height: h)
        let decoded = try PNGDecoder.decode(try image.pngData())
        // RGB8 keeps every colour bit; alpha is dropped and reads back as opaque.
        #expect(decoded == ARGBImage(width: w, height: h, pixels: image.pixels.map { $0 | 0xFF00_0000 }))
    }

    @Test func roundTripTestCard() throws {
        let card = TestCard.image(width: 320, height: 240)
        #expect(try PNGDecoder.decode(try card.pngData()) == card)
    }

    @Test func layoutIsRGB8FilterUpZlibLevel6() throws {
        var rng = SplitMix64(seed: 3)
        let image = rng.image(width: 13, height: 6)
        let png = try image.pngData()
        #expect(Array(png[0 ..< 8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let chunks = try PNGDecoder.chunks(png)  // verifies every CRC
        #expect(chunks.map(\.type) == ["IHDR", "IDAT", "IEND"])
        #expect(chunks[0].data == [0, 0, 0, 13, 0, 0, 0, 6, 8, 2, 0, 0, 0])
        #expect(chunks[2].data.isEmpty)
        // zlib header: deflate with a 32 KiB window, FLEVEL 2 (the "default" level class, which is level 6).
        let idat = chunks[1].data
        #expect(idat[0] == 0x78 && idat[1] == 0x9C)
        var raw = [UInt8](repeating: 0, count: 6 * (1 + 13 * 3))
        var len = uLongf(raw.count)
        #expect(uncompress(&raw, &len, idat, uLong(idat.count)) == Z_OK)
        #expect(Int(len) == raw.count)
        for y in 0 ..< 6 { #expect(raw[y * (1 + 39)] == 2, "row \(y) filter") }
        // Row 1 holds the difference to row 0.
        let p0 = image.pixels[0], p1 = image.pixels[13]
        #expect(raw[40 + 1] == UInt8(truncatingIfNeeded: p1 >> 16) &- UInt8(truncatingIfNeeded: p0 >> 16))
    }

    @Test func encodingIsDeterministic() throws {
        let card = TestCard.image(width: 64, height: 32)
        #expect(try card.pngData() == card.pngData())
    }

    @Test func corruptionIsDetected() throws {
        var png = try TestCard.image(width: 8, height: 8).pngData()
        png[8 + 8 + 3] ^= 0x01  // a byte of the IHDR width
        #expect(throws: PNGError.badChunkCRC(chunk: "IHDR")) { try PNGDecoder.decode(png) }
        #expect(throws: PNGError.notPNG) { try PNGDecoder.decode([1, 2, 3]) }
        let good = try TestCard.image(width: 8, height: 8).pngData()
        #expect(throws: PNGError.truncated) { try PNGDecoder.decode(Array(good.dropLast(5))) }
    }

    @Test func invalidSizesAreRejected() {
        #expect(throws: PNGError.invalidSize(width: 0, height: 1, pixels: 0)) {
            try PNGEncoder.encode(width: 0, height: 1, argb: [])
        }
        #expect(throws: PNGError.invalidSize(width: 2, height: 2, pixels: 3)) {
            try PNGEncoder.encode(width: 2, height: 2, argb: [0, 0, 0])
        }
    }

    /// The decoder handles what other encoders write: every filter type, grey, grey+alpha, palette, RGBA, 16 bit.
    @Test(arguments: [0, 1, 2, 3, 4]) func decoderUndoesEveryFilter(_ filter: Int) throws {
        var rng = SplitMix64(seed: UInt64(50 + filter))
        let image = rng.image(width: 11, height: 7)
        for colourType: UInt8 in [2, 6] {
            let png = ReferencePNG.encode(image, colourType: colourType, filter: UInt8(filter))
            let expected = colourType == 6 ? image.pixels : image.pixels.map { $0 | 0xFF00_0000 }
            #expect(try PNGDecoder.decode(png).pixels == expected, "colour type \(colourType)")
        }
    }

    @Test func decoderReadsGreyPaletteAnd16Bit() throws {
        var rng = SplitMix64(seed: 77)
        let grey = (0 ..< 20).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let greyPNG = ReferencePNG.raw(width: 5, height: 4, colourType: 0, depth: 8, rows: stride(from: 0, to: 20, by: 5)
            .map { Array(grey[$0 ..< $0 + 5]) })
        #expect(try PNGDecoder.decode(greyPNG).pixels == grey.map { 0xFF00_0000 | UInt32($0) * 0x01_0101 })

        let palette: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255]
        let indices: [[UInt8]] = [[0, 1, 2], [2, 1, 0]]
        let palPNG = ReferencePNG.raw(width: 3, height: 2, colourType: 3, depth: 8, rows: indices,
                                      extra: [("PLTE", palette), ("tRNS", [255, 128])])
        #expect(try PNGDecoder.decode(palPNG).pixels
            == [0xFFFF_0000, 0x8000_FF00, 0xFF00_00FF, 0xFF00_00FF, 0x8000_FF00, 0xFFFF_0000])

        let rgb16: [[UInt8]] = [[0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC]]  // one pixel, three 16-bit samples
        let png16 = ReferencePNG.raw(width: 1, height: 1, colourType: 2, depth: 16, rows: rgb16)
        #expect(try PNGDecoder.decode(png16).pixels == [0xFF12_569A])
    }

    @Test func writeAndReadAFile() async throws {
        let dir = try tempDirectory("png")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/card.png"
        let card = TestCard.image(width: 33, height: 21)
        try card.writePNG(path)
        #expect(try PNGDecoder.read(path) == card)
        #expect(throws: PNGError.self) { try card.writePNG(dir + "/no/such/dir/x.png") }
        // ImageMagick's reader is a second opinion when it is installed (the Xvfb test installs it).
        if let identify = which("identify") {
            let r = try await runCommand(identify, ["-format", "%m %w %h %z %[channels]", path])
            #expect(r.status == 0, "\(r.output)")
            #expect(r.output.hasPrefix("PNG 33 21 8 srgb"), "\(r.output)")
        }
    }
}

/// An independent PNG writer for decoder tests: any filter type, RGB or RGBA, written by the spec's formulas.
enum ReferencePNG {
    static func encode(_ image: ARGBImage, colourType: UInt8, filter: UInt8) -> [UInt8] {
        let bpp = colourType == 6 ? 4 : 3
        let rows: [[UInt8]] = (0 ..< image.height).map { y in
            (0 ..< image.width).flatMap { x -> [UInt8] in
                let p = image[x, y]
                let rgb = [UInt8(truncatingIfNeeded: p >> 16), UInt8(truncatingIfNeeded: p >> 8), UInt8(truncatingIfNeeded: p)]
                return bpp == 4 ? rgb + [UInt8(truncatingIfNeeded: p >> 24)] : rgb
            }
        }
        var filtered: [[UInt8]] = []
        for (y, row) in rows.enumerated() {
            let up = y > 0 ? rows[y - 1] : [UInt8](repeating: 0, count: row.count)
            var out = [filter]
            for i in row.indices {
                let a = i >= bpp ? Int(row[i - bpp]) : 0, b = Int(up[i]), c = i >= bpp ? Int(up[i - bpp]) : 0
                let predictor: Int
                switch filter {
                case 0: predictor = 0
                case 1: predictor = a
                case 2: predictor = b
                case 3: predictor = (a + b) / 2
                default:
                    let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                    predictor = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
                }
                out.append(row[i] &- UInt8(predictor))
            }
            filtered.append(out)
        }
        return file(width: image.width, height: image.height, colourType: colourType, depth: 8,
                    data: filtered.flatMap { $0 }, extra: [])
    }

    /// Rows given unfiltered (filter type 0 is added).
    static func raw(width: Int, height: Int, colourType: UInt8, depth: UInt8, rows: [[UInt8]],
                    extra: [(String, [UInt8])] = []) -> [UInt8] {
        file(width: width, height: height, colourType: colourType, depth: depth, data: rows.flatMap { [0] + $0 },
             extra: extra)
    }

    static func file(width: Int, height: Int, colourType: UInt8, depth: UInt8, data: [UInt8],
                     extra: [(String, [UInt8])]) -> [UInt8] {
        var zlen = compressBound(uLong(data.count))
        var z = [UInt8](repeating: 0, count: Int(zlen))
        _ = compress2(&z, &zlen, data, uLong(data.count), 9)
        z.removeLast(z.count - Int(zlen))
        func be(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }
        func chunk(_ t: String, _ d: [UInt8]) -> [UInt8] {
            let td = Array(t.utf8) + d
            return be(d.count) + td + be(Int(CZlib.crc32(0, td, uInt(td.count))))
        }
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        png += chunk("IHDR", be(width) + be(height) + [depth, colourType, 0, 0, 0])
        for (t, d) in extra { png += chunk(t, d) }
        png += chunk("IDAT", z) + chunk("IEND", [])
        return png
    }
}
