// SPDX-License-Identifier: MIT — wall-clock timing for the benchmark table: one monotonic clock (the C baselines'
// own, CLOCK_MONOTONIC) for both sides, and the best of N.
import HostMM

/// Nanoseconds on CLOCK_MONOTONIC (the clock every row uses, emulator and host alike).
@inline(__always) func nowNanoseconds() -> UInt64 { hostmm_now_ns() }

/// The smallest of the samples seen so far: on a shared, noisy machine the best round is the cleanest figure.
struct Best: Sendable {
    private(set) var value = Double.infinity
    private(set) var samples = 0
    mutating func add(_ sample: Double) {
        samples += 1
        value = min(value, sample)
    }
    mutating func merge(_ other: Best) {
        samples += other.samples
        value = min(value, other.value)
    }
}

/// A failed measurement: what went wrong, said once in the table's notes.
struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// "123 ns", "4.56 µs", "7.89 ms", "1.23 s", three significant digits.
func formatDuration(nanoseconds ns: Double) -> String {
    if !ns.isFinite { return "—" }
    if ns < 1_000 { return "\(significant(ns)) ns" }
    if ns < 1_000_000 { return "\(significant(ns / 1_000)) µs" }
    if ns < 1_000_000_000 { return "\(significant(ns / 1_000_000)) ms" }
    return "\(significant(ns / 1_000_000_000)) s"
}

/// `x` with three significant digits (no exponent), e.g. 0.0123, 1.23, 12.3, 123, 1,234.
func significant(_ x: Double) -> String {
    guard x.isFinite else { return "—" }
    let magnitude = abs(x)
    if magnitude >= 1_000 { return grouped(Int(x.rounded())) }
    let decimals = magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : magnitude >= 1 ? 2 : magnitude >= 0.1 ? 3 : 4
    return fixed(x, decimals: decimals)
}

/// `x` rounded to `decimals` places, without Foundation.
func fixed(_ x: Double, decimals: Int) -> String {
    var scale = 1.0
    for _ in 0 ..< decimals { scale *= 10 }
    let scaled = Int((abs(x) * scale).rounded())
    let whole = scaled / Int(scale), fraction = scaled % Int(scale)
    var text = (x < 0 ? "-" : "") + grouped(whole)
    if decimals > 0 {
        let digits = String(fraction)
        text += "." + String(repeating: "0", count: decimals - digits.count) + digits
    }
    return text
}

/// 1234567 → "1,234,567".
func grouped(_ n: Int) -> String {
    let digits = String(abs(n))
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
        out.append(c)
    }
    return (n < 0 ? "-" : "") + out
}

#if canImport(Glibc)
import Glibc
#endif

/// The C library's errno of this thread (after a HostMM call failed).
func errnoValue() -> Int32 { errno }
