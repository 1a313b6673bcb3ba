// SPDX-License-Identifier: MIT — integer trigonometry and helpers for the workloads: no floating point, so every
// platform draws the same bytes (kernel analogue: lib/math's fixed-point helpers, int_sqrt(), fixp-arith.h).

/// A sine table in integer arithmetic: `count` = 1024 steps per turn, values in Q15 (−32767 … 32767).
///
/// Built once with a Taylor series evaluated in 64-bit fixed point, so it is bit-identical everywhere (no libm).
/// Kernel analogue: `fixp_sin32()` and its table in include/linux/fixp-arith.h.
enum Sine {
    /// Steps per full turn.
    static let count = 1024
    /// `index & mask` wraps an index into one turn.
    static let mask = count - 1
    /// Full scale: sin(90°).
    static let one: Int32 = 32767
    /// The table: `table[i]` = round(32767 · sin(2π · i / 1024)).
    static let table: [Int32] = {
        // π in Q30, and the first quarter-wave by a Taylor series in Q30 (|x| ≤ π/2, so 9 terms are plenty).
        let piQ30: Int64 = 3_373_259_426  // round(π · 2^30)
        var quarter = [Int32](repeating: 0, count: count / 4 + 1)
        for i in 0 ... count / 4 {
            let x = piQ30 * Int64(i) / Int64(count / 2)  // angle 2π·i/count
            var term = x, sum = x
            for n in stride(from: 2, through: 18, by: 2) {
                let xTerm = (term * x) >> 30
                term = -((xTerm * x) >> 30) / Int64(n * (n + 1))
                sum += term
            }
            // sum is sin in Q30; scale to ±32767 with rounding.
            quarter[i] = Int32((sum * Int64(one) + (1 << 29)) >> 30)
        }
        var t = [Int32](repeating: 0, count: count)
        for i in 0 ..< count {
            let q = i / (count / 4), r = i % (count / 4)
            switch q {
            case 0: t[i] = quarter[r]
            case 1: t[i] = quarter[count / 4 - r]
            case 2: t[i] = -quarter[r]
            default: t[i] = -quarter[count / 4 - r]
            }
        }
        return t
    }()

    /// sin of `index` steps (any integer; wraps).
    @inline(__always) static func at(_ index: Int) -> Int32 { table[index & mask] }
}

/// Integer square root: the largest r with r·r ≤ n (n ≥ 0). Kernel: int_sqrt() — lib/math/int_sqrt.c
func intSqrt(_ n: Int) -> Int {
    precondition(n >= 0)
    if n < 2 { return n }
    var x = n, y = (n + 1) / 2
    while y < x {
        x = y
        y = (x + n / x) / 2
    }
    return x
}

/// Colour helpers on `0xRRGGBB`.
enum RGB {
    /// A colour from its channels (each 0…255, clamped).
    @inline(__always) static func make(_ r: Int, _ g: Int, _ b: Int) -> UInt32 {
        UInt32(min(max(r, 0), 255)) << 16 | UInt32(min(max(g, 0), 255)) << 8 | UInt32(min(max(b, 0), 255))
    }

    /// `c` moved toward `target` by `num/den`.
    static func mix(_ c: UInt32, _ target: UInt32, _ num: Int, _ den: Int) -> UInt32 {
        func ch(_ v: UInt32, _ s: UInt32) -> Int { Int((v >> s) & 0xFF) }
        func m(_ a: Int, _ b: Int) -> Int { a + (b - a) * num / den }
        return make(m(ch(c, 16), ch(target, 16)), m(ch(c, 8), ch(target, 8)), m(ch(c, 0), ch(target, 0)))
    }
}
