// SPDX-License-Identifier: MIT — the FNV-1a hash of traces, schedules, seeds and frames (kernel analogue: none).

/// A running FNV-1a (64-bit) hash: the one hash of traces, schedules, seeds and frames.
package struct FNV1a: Sendable, Hashable {
    package private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325
    package init() {}
    package init(seed: UInt64) { value ^= seed }

    /// Mixes in the low `byteCount` bytes of `v`, least significant first.
    @inline(__always) package mutating func mix(_ v: UInt64, byteCount: Int = 8) {
        var x = v
        for _ in 0 ..< byteCount {
            value = (value ^ (x & 0xFF)) &* 0x100_0000_01B3
            x >>= 8
        }
    }

    package mutating func mix<S: Sequence<UInt8>>(bytes: S) {
        for b in bytes { value = (value ^ UInt64(b)) &* 0x100_0000_01B3 }
    }
}
