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
// Written data (what `fbdefio-emu exec --record` writes; the lines above keep their meaning):
//
//     mode W H BPP LINELEN           header: the framebuffer's geometry — W, H 1...4096, BPP 16 or 32,
//                                    W·BPP/8 ≤ LINELEN ≤ 65536; size defaults to H·LINELEN and must lie between
//                                    that and it rounded up to 4096-byte pages (smem_len)
//     proc P put OFFSET HEX          write the bytes HEX spells (two hex digits a byte, at least one byte) at OFFSET
//     at US                          sleep until US µs of virtual time since the start (0...3600000000); no-op
//                                    when that time has passed
//
// Headers come before the first command. Every access has OFFSET + LEN ≤ size. The whole text is checked before
// anything runs.

/// One command of an access trace.
package enum ReplayCommand: Sendable, Equatable {
    case write(proc: Int, offset: Int, length: Int, byte: UInt8)
    case read(proc: Int, offset: Int, length: Int)
    case flush
    case sleep(milliseconds: Int64)
    /// `proc P put OFFSET HEX`: these bytes at OFFSET.
    case put(proc: Int, offset: Int, bytes: [UInt8])
    /// `at US`: sleep until this virtual time.
    case at(microseconds: Int64)

    /// The process a command runs in; nil for `flush`, `sleep` and `at`, which the replay's coordinator runs.
    package var proc: Int? {
        switch self {
        case .write(let p, _, _, _), .read(let p, _, _), .put(let p, _, _): p
        case .flush, .sleep, .at: nil
        }
    }
}

/// A command and the 1-based input line it came from.
public struct ReplayLine: Sendable, Equatable {
    package var number: Int
    package var command: ReplayCommand
}

/// What is wrong with a trace, and where. `description` is the one line the CLI prints: `line N: what is wrong`.
public struct ReplayParseError: Error, Sendable, Equatable, CustomStringConvertible {
    package var line: Int
    package var message: String
    public var description: String { "line \(line): \(message)" }
}

/// The framebuffer geometry of a `mode` header.
public struct ReplayMode: Sendable, Equatable {
    package var xres: Int, yres: Int, bitsPerPixel: Int, lineLength: Int
    public init(xres: Int, yres: Int, bitsPerPixel: Int, lineLength: Int) {
        self.xres = xres
        self.yres = yres
        self.bitsPerPixel = bitsPerPixel
        self.lineLength = lineLength
    }
}

/// A checked access trace.
public struct ReplayTrace: Sendable, Equatable {
    public static let defaultSize = 8_294_400
    package static let sizeRange = 1 ... 268_435_456
    package static let procsRange = 1 ... 512
    package static let sleepRange: ClosedRange<Int64> = 0 ... 3_600_000

    /// Bytes of framebuffer the trace addresses.
    package var size: Int
    /// Processes to start (each maps the whole framebuffer).
    package var procs: Int
    package var lines: [ReplayLine]
    /// The `mode` header; nil: 1024 pixels of 32 bpp a line (one page a line).
    package var mode: ReplayMode?
    package static let atRange: ClosedRange<Int64> = 0 ... 3_600_000_000

    public init(size: Int = ReplayTrace.defaultSize, procs: Int, lines: [ReplayLine], mode: ReplayMode? = nil) {
        self.size = size
        self.procs = procs
        self.lines = lines
        self.mode = mode
    }

    /// Parses and checks a whole trace; the first problem found is thrown.
    public init(parsing bytes: [UInt8]) throws(ReplayParseError) {
        var size: Int?
        var procs: Int?
        var mode: ReplayMode?
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
                    if let mode, let problem = Self.sizeProblem(v, mode) { throw fail(problem) }
                    size = v
                } else {
                    guard procs == nil else { throw fail("header 'procs' given twice") }
                    guard Self.procsRange.contains(v) else { throw fail("procs \(v) out of range 1...512") }
                    procs = v
                }
            case "mode":
                guard lines.isEmpty else { throw fail("header 'mode' after the first command") }
                guard mode == nil else { throw fail("header 'mode' given twice") }
                try expectFields(5, "mode W H BPP LINELEN")
                let w = try number(1, "W"), h = try number(2, "H")
                let b = try number(3, "BPP"), ll = try number(4, "LINELEN")
                guard (1 ... 4096).contains(w) && (1 ... 4096).contains(h) else {
                    throw fail("mode \(w)x\(h) out of range 1...4096")
                }
                guard b == 16 || b == 32 else { throw fail("BPP \(b) is not 16 or 32") }
                guard ll >= w * b / 8 && ll <= 65536 else {
                    throw fail("LINELEN \(ll) out of range \(w * b / 8)...65536")
                }
                let m = ReplayMode(xres: w, yres: h, bitsPerPixel: b, lineLength: ll)
                if let size, let problem = Self.sizeProblem(size, m) { throw fail(problem) }
                mode = m
            case "at":
                try expectFields(2, "at US")
                let us = try number(1, "US")
                guard Self.atRange.contains(Int64(us)) else { throw fail("at \(us) out of range 0...3600000000 µs") }
                lines.append(ReplayLine(number: n, command: .at(microseconds: Int64(us))))
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
                guard op == "write" || op == "read" || op == "put" else {
                    throw fail("unknown operation '\(op)' (write, read or put)")
                }
                if op == "put" {
                    try expectFields(5, "proc P put OFFSET HEX")
                    let offset = try number(3, "OFFSET")
                    guard let bytes = Self.hexBytes(fields[4]) else {
                        throw fail("bad HEX '\(fields[4].prefix(16))' (two hex digits a byte, at least one byte)")
                    }
                    let fbSize = size ?? mode.map { $0.yres * $0.lineLength } ?? Self.defaultSize
                    guard offset <= fbSize && bytes.count <= fbSize - offset else {
                        throw fail("access \(offset)+\(bytes.count) past size \(fbSize)")
                    }
                    highestProc = max(highestProc, p)
                    lines.append(ReplayLine(number: n, command: .put(proc: p, offset: offset, bytes: bytes)))
                    continue
                }
                if op == "write" {
                    if fields.count > 6 { throw fail("extra field '\(fields[6])' (usage: proc P write OFFSET LEN [BYTE])") }
                } else {
                    try expectFields(5, "proc P read OFFSET LEN")
                }
                let offset = try number(3, "OFFSET")
                let length = try number(4, "LEN")
                guard length >= 1 else { throw fail("LEN 0 out of range (at least 1)") }
                let fbSize = size ?? mode.map { $0.yres * $0.lineLength } ?? Self.defaultSize
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
        self.size = size ?? mode.map { $0.yres * $0.lineLength } ?? Self.defaultSize
        self.procs = procs ?? (highestProc + 1)
        self.lines = lines
        self.mode = mode
    }

    /// A `size` that the mode's framebuffer (H·LINELEN bytes, rounded up to 4096-byte pages) does not match.
    static func sizeProblem(_ size: Int, _ m: ReplayMode) -> String? {
        let bytes = m.yres * m.lineLength, pages = (bytes + 4095) / 4096 * 4096
        return size < bytes || size > pages ? "size \(size) does not fit the mode: \(bytes)...\(pages) bytes" : nil
    }

    /// Bytes from pairs of hex digits; nil for an odd count, no digits, or another character.
    static func hexBytes(_ text: String) -> [UInt8]? {
        let u = Array(text.utf8)
        guard !u.isEmpty, u.count % 2 == 0 else { return nil }
        func digit(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0") ... UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a") ... UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A") ... UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(u.count / 2)
        var i = 0
        while i < u.count {
            guard let hi = digit(u[i]), let lo = digit(u[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
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
