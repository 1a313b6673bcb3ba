// SPDX-License-Identifier: MIT — the access-trace format of `fbdefio-emu replay` and its parser.
//
// One command a line; `#` starts a comment; blank lines are ignored; CR LF is accepted; fields are separated by
// spaces or tabs; numbers are decimal or `0x`/`0X` hex, as strtoul reads them in base 0 (but no sign, no octal:
// `010` is ten).
//
//     size BYTES                     header, 1...268435456, default 8294400
//     procs N                        header, 1...512, default highest process number used + 1
//     proc P write OFFSET LEN [BYTE] LEN ≥ 1; BYTE 0...255, default (1-based line number) & 255
//     proc P read OFFSET LEN         LEN ≥ 1
//     flush                          fsync: run the deferred work now and wait for it
//     sleep MS                       0...3600000 ms of virtual time
//
// Headers come before the first command. Every access has OFFSET + LEN ≤ size. The whole text is checked before
// anything runs.

/// One command of an access trace.
public enum ReplayCommand: Sendable, Equatable {
    case write(proc: Int, offset: Int, length: Int, byte: UInt8)
    case read(proc: Int, offset: Int, length: Int)
    case flush
    case sleep(milliseconds: Int64)

    /// The process a command runs in; nil for `flush` and `sleep`, which the replay's coordinator runs.
    public var proc: Int? {
        switch self {
        case .write(let p, _, _, _), .read(let p, _, _): p
        case .flush, .sleep: nil
        }
    }
}

/// A command and the 1-based input line it came from.
public struct ReplayLine: Sendable, Equatable {
    public var number: Int
    public var command: ReplayCommand
}

/// What is wrong with a trace, and where. `description` is the one line the CLI prints: `line N: what is wrong`.
public struct ReplayParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var message: String
    public var description: String { "line \(line): \(message)" }
}

/// A checked access trace.
public struct ReplayTrace: Sendable, Equatable {
    public static let defaultSize = 8_294_400
    public static let sizeRange = 1 ... 268_435_456
    public static let procsRange = 1 ... 512
    public static let sleepRange: ClosedRange<Int64> = 0 ... 3_600_000

    /// Bytes of framebuffer the trace addresses.
    public var size: Int
    /// Processes to start (each maps the whole framebuffer).
    public var procs: Int
    public var lines: [ReplayLine]

    public init(size: Int = ReplayTrace.defaultSize, procs: Int, lines: [ReplayLine]) {
        self.size = size
        self.procs = procs
        self.lines = lines
    }

    /// Parses and checks a whole trace; the first problem found is thrown.
    public init(parsing bytes: [UInt8]) throws(ReplayParseError) {
        var size: Int?
        var procs: Int?
        var lines: [ReplayLine] = []
        var highestProc = -1
        var lineNumber = 0
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
            lineNumber += 1
            var last = end
            if last > start && bytes[last - 1] == UInt8(ascii: "\r") { last -= 1 }  // CR LF
            if let hash = bytes[start ..< last].firstIndex(of: UInt8(ascii: "#")) { last = hash }
            let fields = Self.fields(bytes[start ..< last])
            start = end + 1
            guard !fields.isEmpty else { continue }
            let n = lineNumber
            func fail(_ message: String) -> ReplayParseError { ReplayParseError(line: n, message: message) }
            func number(_ i: Int, _ what: String) throws(ReplayParseError) -> Int {
                guard i < fields.count else { throw fail("missing \(what)") }
                guard let v = Self.number(fields[i]) else { throw fail("bad number '\(fields[i])' for \(what)") }
                return v
            }
            func expectFields(_ count: Int, _ usage: String) throws(ReplayParseError) {
                if fields.count > count { throw fail("extra field '\(fields[count])' (usage: \(usage))") }
                if fields.count < count { throw fail("missing fields (usage: \(usage))") }
            }
            switch fields[0] {
            case "size", "procs":
                let name = fields[0]
                guard lines.isEmpty else { throw fail("header '\(name)' after the first command") }
                try expectFields(2, "\(name) \(name == "size" ? "BYTES" : "N")")
                let v = try number(1, name == "size" ? "BYTES" : "N")
                if name == "size" {
                    guard size == nil else { throw fail("header 'size' given twice") }
                    guard Self.sizeRange.contains(v) else { throw fail("size \(v) out of range 1...268435456") }
                    size = v
                } else {
                    guard procs == nil else { throw fail("header 'procs' given twice") }
                    guard Self.procsRange.contains(v) else { throw fail("procs \(v) out of range 1...512") }
                    procs = v
                }
            case "flush":
                try expectFields(1, "flush")
                lines.append(ReplayLine(number: n, command: .flush))
            case "sleep":
                try expectFields(2, "sleep MS")
                let ms = try number(1, "MS")
                guard Self.sleepRange.contains(Int64(ms)) else { throw fail("sleep \(ms) out of range 0...3600000 ms") }
                lines.append(ReplayLine(number: n, command: .sleep(milliseconds: Int64(ms))))
            case "proc":
                guard fields.count >= 3 else { throw fail("missing fields (usage: proc P write|read OFFSET LEN)") }
                let p = try number(1, "P")
                let limit = procs ?? Self.procsRange.upperBound
                guard p < limit else {
                    throw fail(procs == nil ? "process \(p) out of range 0...511" : "process \(p) out of range 0...\(limit - 1) (procs \(limit))")
                }
                let op = fields[2]
                guard op == "write" || op == "read" else { throw fail("unknown operation '\(op)' (write or read)") }
                if op == "write" {
                    if fields.count > 6 { throw fail("extra field '\(fields[6])' (usage: proc P write OFFSET LEN [BYTE])") }
                } else {
                    try expectFields(5, "proc P read OFFSET LEN")
                }
                let offset = try number(3, "OFFSET")
                let length = try number(4, "LEN")
                guard length >= 1 else { throw fail("LEN 0 out of range (at least 1)") }
                let fbSize = size ?? Self.defaultSize
                guard offset <= fbSize && length <= fbSize - offset else {
                    throw fail("access \(offset)+\(length) past size \(fbSize)")
                }
                highestProc = max(highestProc, p)
                if op == "write" {
                    var byte = UInt8(truncatingIfNeeded: n & 255)
                    if fields.count == 6 {
                        let b = try number(5, "BYTE")
                        guard b <= 255 else { throw fail("BYTE \(b) out of range 0...255") }
                        byte = UInt8(b)
                    }
                    lines.append(ReplayLine(number: n, command: .write(proc: p, offset: offset, length: length, byte: byte)))
                } else {
                    lines.append(ReplayLine(number: n, command: .read(proc: p, offset: offset, length: length)))
                }
            default:
                throw fail("unknown command '\(fields[0])'")
            }
        }
        self.size = size ?? Self.defaultSize
        self.procs = procs ?? (highestProc + 1)
        self.lines = lines
    }

    /// Splits on spaces and tabs. Any other byte (including a stray CR) is part of a field, so it fails to parse.
    static func fields(_ bytes: ArraySlice<UInt8>) -> [String] {
        var out: [String] = []
        var current: [UInt8] = []
        for b in bytes {
            if b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") {
                if !current.isEmpty { out.append(String(decoding: current, as: UTF8.self)) }
                current.removeAll(keepingCapacity: true)
            } else {
                current.append(b)
            }
        }
        if !current.isEmpty { out.append(String(decoding: current, as: UTF8.self)) }
        return out
    }

    /// A decimal or hex number that fits in 0...2^40 (larger than any field allows); nil otherwise. Every numeric
    /// field goes through here. The hex prefix is `0x` or `0X`, as C's strtoul takes it; a prefix with no digits
    /// after it is refused (strtoul would read just the `0` and stop).
    static func number(_ text: String) -> Int? {
        let limit = 1 << 40
        var digits = Substring(text)
        var radix = 10
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            digits = digits.dropFirst(2)
            radix = 16
        }
        guard !digits.isEmpty else { return nil }
        var v = 0
        for c in digits.utf8 {
            let d: Int
            switch c {
            case UInt8(ascii: "0") ... UInt8(ascii: "9"): d = Int(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a") ... UInt8(ascii: "f") where radix == 16: d = Int(c - UInt8(ascii: "a")) + 10
            case UInt8(ascii: "A") ... UInt8(ascii: "F") where radix == 16: d = Int(c - UInt8(ascii: "A")) + 10
            default: return nil
            }
            v = v * radix + d
            if v > limit { v = limit + 1 }  // Saturate: reported as out of range by the caller.
        }
        return v
    }
}
