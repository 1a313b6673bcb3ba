// SPDX-License-Identifier: MIT — PNG snapshots of the panel: our own encoder over zlib, and a small decoder for tests.
// Format: https://www.w3.org/TR/png/ (signature, chunks with CRC-32, zlib stream of filtered scanlines).
import CZlib
import Foundation

package enum PNGError: Error, Equatable, CustomStringConvertible {
    case invalidSize(width: Int, height: Int, pixels: Int)
    case zlib(function: String, code: Int32)
    case io(path: String, reason: String)
    case notPNG
    case truncated
    case badChunkCRC(chunk: String)
    case unsupported(String)
    case corrupt(String)

    package var description: String {
        switch self {
        case let .invalidSize(w, h, n): "PNG: \(n) pixels do not make a \(w)x\(h) image"
        case let .zlib(f, code): "PNG: zlib \(f) failed (\(code))"
        case let .io(path, reason): "PNG: \(path): \(reason)"
        case .notPNG: "PNG: not a PNG file (bad signature)"
        case .truncated: "PNG: file is truncated"
        case let .badChunkCRC(chunk): "PNG: CRC mismatch in chunk \(chunk)"
        case let .unsupported(what): "PNG: unsupported \(what)"
        case let .corrupt(what): "PNG: corrupt data: \(what)"
        }
    }
}

private let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

/// Writes panel images as PNG: 8-bit RGB (alpha dropped), every scanline with filter type 2 (Up), one IDAT
/// compressed by zlib `compress2` at level 6. research/stack.md §4: Up + level 6 is the best size/time trade-off
/// for panel pictures (a 640x480 frame: 2.8 ms, 4.3 kB). The bytes depend only on the pixels (and the zlib build).
package enum PNGEncoder {
    package static let compressionLevel: Int32 = 6

    package static func encode(width: Int, height: Int, argb: [UInt32]) throws -> [UInt8] {
        // PNG allows up to 2^31-1 per side; keep the filtered buffer's size well inside Int32 for zlib's uLong math.
        guard width > 0, height > 0, width <= 1 << 20, height <= 1 << 20, argb.count == width * height,
              (1 + width * 3) * height < Int(Int32.max)
        else { throw PNGError.invalidSize(width: width, height: height, pixels: argb.count) }

        let rowBytes = 1 + width * 3
        var filtered = [UInt8](repeating: 0, count: rowBytes * height)
        filtered.withUnsafeMutableBufferPointer { out in
            argb.withUnsafeBufferPointer { px in
                for y in 0 ..< height {
                    let o = y * rowBytes, row = y * width
                    out[o] = 2  // filter type Up: each byte minus the byte above (zero above the first row)
                    if y == 0 {
                        for x in 0 ..< width {
                            let p = px[row + x]
                            out[o + 1 + 3 * x] = UInt8(truncatingIfNeeded: p >> 16)
                            out[o + 2 + 3 * x] = UInt8(truncatingIfNeeded: p >> 8)
                            out[o + 3 + 3 * x] = UInt8(truncatingIfNeeded: p)
                        }
                    } else {
                        for x in 0 ..< width {
                            let p = px[row + x], q = px[row - width + x]
                            out[o + 1 + 3 * x] = UInt8(truncatingIfNeeded: p >> 16) &- UInt8(truncatingIfNeeded: q >> 16)
                            out[o + 2 + 3 * x] = UInt8(truncatingIfNeeded: p >> 8) &- UInt8(truncatingIfNeeded: q >> 8)
                            out[o + 3 + 3 * x] = UInt8(truncatingIfNeeded: p) &- UInt8(truncatingIfNeeded: q)
                        }
                    }
                }
            }
        }

        var zlen = compressBound(uLong(filtered.count))
        var zdata = [UInt8](repeating: 0, count: Int(zlen))
        let rc = zdata.withUnsafeMutableBufferPointer { z in
            filtered.withUnsafeBufferPointer { f in
                compress2(z.baseAddress, &zlen, f.baseAddress, uLong(f.count), compressionLevel)
            }
        }
        guard rc == Z_OK else { throw PNGError.zlib(function: "compress2", code: rc) }
        zdata.removeLast(zdata.count - Int(zlen))

        var png = pngSignature
        png.reserveCapacity(zdata.count + 64)
        var ihdr = [UInt8]()
        appendBE(&ihdr, UInt32(width))
        appendBE(&ihdr, UInt32(height))
        ihdr += [8, 2, 0, 0, 0]  // bit depth 8, colour type 2 (RGB), deflate, adaptive filtering, no interlace
        appendChunk(&png, "IHDR", ihdr)
        appendChunk(&png, "IDAT", zdata)
        appendChunk(&png, "IEND", [])
        return png
    }

    /// Encodes and writes atomically (a reader never sees half a file).
    package static func write(_ path: String, width: Int, height: Int, argb: [UInt32]) throws {
        let bytes = try encode(width: width, height: height, argb: argb)
        do { try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw PNGError.io(path: path, reason: error.localizedDescription)
        }
    }

    /// Encodes and writes `image` (for a frame: `ARGBImage(frame)`).
    package static func write(_ path: String, image: ARGBImage) throws {
        try write(path, width: image.width, height: image.height, argb: image.pixels)
    }

    private static func appendChunk(_ png: inout [UInt8], _ type: String, _ data: [UInt8]) {
        appendBE(&png, UInt32(data.count))
        let typeBytes = Array(type.utf8)
        png += typeBytes
        png += data
        appendBE(&png, crc32(data, continuing: crc32(typeBytes)))
    }
}

@inline(__always) private func appendBE(_ a: inout [UInt8], _ v: UInt32) {
    a += [UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8),
          UInt8(truncatingIfNeeded: v)]
}

/// Reads non-interlaced PNGs of bit depth 8 (all colour types) or 16 (grey, RGB, with alpha; the high byte is
/// kept): enough for our own files and for ImageMagick screenshots. Every chunk CRC is checked.
package enum PNGDecoder {
    package struct Chunk: Sendable, Equatable {
        package var type: String
        package var data: [UInt8]
    }

    /// The chunks of a PNG file in order, CRCs verified.
    package static func chunks(_ bytes: [UInt8]) throws -> [Chunk] {
        guard bytes.count >= 8, Array(bytes[0 ..< 8]) == pngSignature else { throw PNGError.notPNG }
        var chunks: [Chunk] = []
        var i = 8
        while i < bytes.count {
            guard i + 12 <= bytes.count else { throw PNGError.truncated }
            let length = Int(readBE(bytes, i))
            guard length <= bytes.count - i - 12 else { throw PNGError.truncated }
            let type = String(decoding: bytes[(i + 4) ..< (i + 8)], as: UTF8.self)
            let crc = crc32(bytes[(i + 4) ..< (i + 8 + length)])
            guard crc == readBE(bytes, i + 8 + length) else { throw PNGError.badChunkCRC(chunk: type) }
            chunks.append(Chunk(type: type, data: Array(bytes[(i + 8) ..< (i + 8 + length)])))
            i += 12 + length
            if type == "IEND" { break }
        }
        guard chunks.last?.type == "IEND" else { throw PNGError.truncated }
        return chunks
    }

    package static func decode(_ bytes: [UInt8]) throws -> ARGBImage {
        let chunks = try chunks(bytes)
        guard let ihdr = chunks.first, ihdr.type == "IHDR", ihdr.data.count == 13 else {
            throw PNGError.corrupt("first chunk is not IHDR")
        }
        let width = Int(readBE(ihdr.data, 0)), height = Int(readBE(ihdr.data, 4))
        let depth = Int(ihdr.data[8]), colourType = ihdr.data[9]
        guard ihdr.data[10] == 0, ihdr.data[11] == 0 else { throw PNGError.unsupported("compression/filter method") }
        guard ihdr.data[12] == 0 else { throw PNGError.unsupported("interlaced PNG") }
        guard width > 0, height > 0, width <= 1 << 20, height <= 1 << 20 else {
            throw PNGError.corrupt("size \(width)x\(height)")
        }
        let channels: Int
        switch colourType {
        case 0: channels = 1
        case 2: channels = 3
        case 3: channels = 1
        case 4: channels = 2
        case 6: channels = 4
        default: throw PNGError.unsupported("colour type \(colourType)")
        }
        guard depth == 8 || (depth == 16 && colourType != 3) else {
            throw PNGError.unsupported("bit depth \(depth) with colour type \(colourType)")
        }
        let bpp = channels * depth / 8  // bytes per pixel, the filters' left distance
        let rowBytes = width * bpp
        let expected = height * (1 + rowBytes)

        var zdata: [UInt8] = []
        for c in chunks where c.type == "IDAT" { zdata += c.data }
        var raw = [UInt8](repeating: 0, count: expected)
        var rawLen = uLongf(expected)
        let rc = raw.withUnsafeMutableBufferPointer { r in
            zdata.withUnsafeBufferPointer { z in uncompress(r.baseAddress, &rawLen, z.baseAddress, uLong(z.count)) }
        }
        guard rc == Z_OK else { throw PNGError.zlib(function: "uncompress", code: rc) }
        guard Int(rawLen) == expected else { throw PNGError.corrupt("image data is \(rawLen) bytes, not \(expected)") }

        // Undo the filters in place: after this, row y's bytes are at (y * (1 + rowBytes) + 1).
        try raw.withUnsafeMutableBufferPointer { r in
            for y in 0 ..< height {
                let o = y * (1 + rowBytes) + 1, up = o - (1 + rowBytes)
                let filter = r[o - 1]
                switch filter {
                case 0: break
                case 1:
                    for x in bpp ..< rowBytes { r[o + x] &+= r[o + x - bpp] }
                case 2:
                    if y > 0 { for x in 0 ..< rowBytes { r[o + x] &+= r[up + x] } }
                case 3:
                    for x in 0 ..< rowBytes {
                        let a = x >= bpp ? Int(r[o + x - bpp]) : 0, b = y > 0 ? Int(r[up + x]) : 0
                        r[o + x] &+= UInt8((a + b) / 2)
                    }
                case 4:
                    for x in 0 ..< rowBytes {
                        let a = x >= bpp ? Int(r[o + x - bpp]) : 0
                        let b = y > 0 ? Int(r[up + x]) : 0
                        let c = x >= bpp && y > 0 ? Int(r[up + x - bpp]) : 0
                        r[o + x] &+= UInt8(paeth(a, b, c))
                    }
                default: throw PNGError.corrupt("filter type \(filter) in row \(y)")
                }
            }
        }

        var palette: [UInt32] = []
        if colourType == 3 {
            guard let plte = chunks.first(where: { $0.type == "PLTE" }), plte.data.count % 3 == 0 else {
                throw PNGError.corrupt("palette image without PLTE")
            }
            let alpha = chunks.first(where: { $0.type == "tRNS" })?.data ?? []
            for i in 0 ..< plte.data.count / 3 {
                let a = UInt32(i < alpha.count ? alpha[i] : 255)
                palette.append(a << 24 | UInt32(plte.data[3 * i]) << 16 | UInt32(plte.data[3 * i + 1]) << 8
                               | UInt32(plte.data[3 * i + 2]))
            }
        }

        var pixels = [UInt32](repeating: 0, count: width * height)
        let step = depth / 8  // keep the high byte of 16-bit samples
        for y in 0 ..< height {
            let o = y * (1 + rowBytes) + 1
            for x in 0 ..< width {
                let p = o + x * bpp
                func s(_ ch: Int) -> UInt32 { UInt32(raw[p + ch * step]) }
                let v: UInt32
                switch colourType {
                case 0: v = 0xFF00_0000 | s(0) << 16 | s(0) << 8 | s(0)
                case 2: v = 0xFF00_0000 | s(0) << 16 | s(1) << 8 | s(2)
                case 3:
                    let index = Int(raw[p])
                    guard index < palette.count else { throw PNGError.corrupt("palette index \(index)") }
                    v = palette[index]
                case 4: v = s(1) << 24 | s(0) << 16 | s(0) << 8 | s(0)
                default: v = s(3) << 24 | s(0) << 16 | s(1) << 8 | s(2)
                }
                pixels[y * width + x] = v
            }
        }
        return ARGBImage(width: width, height: height, pixels: pixels)
    }

    package static func read(_ path: String) throws -> ARGBImage {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PNGError.io(path: path, reason: "cannot read the file")
        }
        return try decode([UInt8](data))
    }

    private static func paeth(_ a: Int, _ b: Int, _ c: Int) -> Int {
        let p = a + b - c
        let pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
        if pa <= pb && pa <= pc { return a }
        return pb <= pc ? b : c
    }
}

private func readBE(_ a: [UInt8], _ i: Int) -> UInt32 {
    UInt32(a[i]) << 24 | UInt32(a[i + 1]) << 16 | UInt32(a[i + 2]) << 8 | UInt32(a[i + 3])
}
