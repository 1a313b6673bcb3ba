// SPDX-License-Identifier: MIT — CRC-32 (IEEE 802.3), the checksum of PNG chunks, zip and gzip.
// Self-contained (no imports) so it can move to a lower module if another one needs it.

/// The reflected CRC-32 lookup table for the polynomial 0x04C11DB7 (reversed: 0xEDB88320).
private let crc32Table: [UInt32] = (0 ..< 256).map { n in
    var c = UInt32(n)
    for _ in 0 ..< 8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
}

/// CRC-32/IEEE of `bytes` (init 0xFFFFFFFF, reflected, final xor 0xFFFFFFFF), as in PNG, zlib's `crc32()`, gzip.
/// Pass a previous result as `continuing` to checksum data that arrives in pieces:
/// `crc32(b, continuing: crc32(a)) == crc32(a + b)`. `crc32("123456789".utf8) == 0xCBF43926`.
package func crc32(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
    var c = ~previous
    crc32Table.withUnsafeBufferPointer { t in
        for i in 0 ..< bytes.count {
            c = t[Int((c ^ UInt32(bytes[i])) & 0xFF)] ^ (c >> 8)
        }
    }
    return ~c
}

/// CRC-32/IEEE of a byte sequence (see the raw-buffer overload). For panel pixels:
/// `pixels.withUnsafeBytes { crc32($0) }` checksums their in-memory (little-endian) bytes.
package func crc32<Bytes: Sequence<UInt8>>(_ bytes: Bytes, continuing previous: UInt32 = 0) -> UInt32 {
    if let r = bytes.withContiguousStorageIfAvailable({ crc32(UnsafeRawBufferPointer($0), continuing: previous) }) {
        return r
    }
    return Array(bytes).withUnsafeBytes { crc32($0, continuing: previous) }
}
