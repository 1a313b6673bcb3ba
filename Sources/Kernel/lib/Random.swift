// SPDX-License-Identifier: MIT — the model's seeded random streams and its probabilities (kernel analogue: none).

/// A deterministic 64-bit generator (SplitMix64). Every random choice in the model draws from one of these,
/// seeded from the run's seed, so a seed fixes the whole run.
public struct SplitMix64: RandomNumberGenerator, Sendable, Hashable {
    package var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// A sub-seed for one subsystem, so that adding draws in one subsystem does not shift another's stream.
    public static func derive(_ seed: UInt64, _ label: String, _ index: Int = 0) -> UInt64 {
        var h = FNV1a(seed: seed)
        h.mix(bytes: label.utf8)
        // The index goes in whole (one multiply), not byte by byte: derived seeds stay what they always were.
        let mixed = (h.value ^ UInt64(bitPattern: Int64(index))) &* 0x100_0000_01B3
        var g = SplitMix64(seed: mixed)
        return g.next()
    }
    /// Uniform in `0..<n` (n > 0) without modulo bias.
    public mutating func below(_ n: Int) -> Int {
        precondition(n > 0)
        return Int(next(upperBound: UInt64(n)))
    }
    package mutating func chance(_ r: Ratio) -> Bool {
        r.numerator > 0 && below(Int(r.denominator)) < Int(r.numerator)
    }
}

/// A probability as an integer fraction (never a floating-point number, so runs stay bit-identical).
public struct Ratio: Hashable, Sendable, CustomStringConvertible {
    package let numerator: UInt32
    package let denominator: UInt32
    package init(_ numerator: UInt32, _ denominator: UInt32) {
        precondition(denominator > 0 && numerator <= denominator, "a ratio must lie in [0, 1]")
        self.numerator = numerator
        self.denominator = denominator
    }
    public var description: String { "\(numerator)/\(denominator)" }
    /// Parses "N/D".
    package init?(parsing text: String) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let n = UInt32(parts[0]), let d = UInt32(parts[1]), d > 0, n <= d else { return nil }
        self.init(n, d)
    }
}
