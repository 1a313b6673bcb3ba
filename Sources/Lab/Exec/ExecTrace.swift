// SPDX-License-Identifier: MIT — `exec --record`: what the program did, as a replay trace (ReplayTrace.swift has the
// format): for each first write to a page in a batch, its virtual time (`at`) and the bytes the program had written
// to that page by the time the worker took the batch (`put`, the changed runs only); an `fsync` of the program is a
// `flush`.
import Kernel

/// Collects the program's faults and the batches' page contents; renders the trace at the end.
struct ExecTraceRecorder {
    private enum Event {
        case fault(at: VirtualTime, pgoff: Int, offset: Int)
        case flush(at: VirtualTime)
    }
    private var events: [Event] = []
    /// Per event index: the runs (offset, bytes) the fault's batch found changed on its page.
    private var runs: [Int: [(Int, [UInt8])]] = [:]
    /// Per page: the fault event still waiting for its batch.
    private var waiting: [Int?]
    /// Per page: the bytes a replay has put there so far (the last batch's content).
    private var replayed: [[UInt8]?]

    init(pages: Int) {
        waiting = Array(repeating: nil, count: pages)
        replayed = Array(repeating: nil, count: pages)
    }

    mutating func fault(at time: VirtualTime, pgoff: Int, offset: Int) {
        if waiting[pgoff] == nil { waiting[pgoff] = events.count }
        events.append(.fault(at: time, pgoff: pgoff, offset: offset))
    }

    mutating func fsync(at time: VirtualTime) { events.append(.flush(at: time)) }

    /// The worker took page `pgoff` with these bytes: they are what its waiting fault's writes produced.
    mutating func snapshot(pgoff: Int, bytes: [UInt8]) {
        guard pgoff < waiting.count, let index = waiting[pgoff] else { return }
        waiting[pgoff] = nil
        let before = replayed[pgoff] ?? [UInt8](repeating: 0, count: bytes.count)
        runs[index] = Self.changedRuns(before, bytes, base: pgoff << PAGE_SHIFT)
        replayed[pgoff] = bytes
    }

    /// Runs of changed bytes; gaps shorter than 16 unchanged bytes are bridged (one line instead of two).
    static func changedRuns(_ old: [UInt8], _ new: [UInt8], base: Int) -> [(Int, [UInt8])] {
        var out: [(Int, [UInt8])] = []
        var i = 0
        let n = min(old.count, new.count)
        while i < n {
            guard old[i] != new[i] else { i += 1; continue }
            var end = i + 1, last = i
            while end < n && end - last <= 16 {
                if old[end] != new[end] { last = end }
                end += 1
            }
            out.append((base + i, Array(new[i ... last])))
            i = last + 1
        }
        return out
    }

    /// The whole trace. `mode` is (xres, yres, bits per pixel, line length).
    func render(header: String, size: Int, mode: (Int, Int, Int, Int), end: VirtualTime) -> String {
        var out = header.split(separator: "\n").map { "# \($0)\n" }.joined()
        out += "size \(size)\nprocs 1\nmode \(mode.0) \(mode.1) \(mode.2) \(mode.3)\n"
        var lastAt: Int64 = -1
        func at(_ t: VirtualTime) {
            let us = t.picoseconds / 1_000_000
            if us != lastAt { out += "at \(us)\n" }
            lastAt = us
        }
        for (i, e) in events.enumerated() {
            switch e {
            case .flush(let t):
                at(t)
                out += "flush\n"
            case .fault(let t, let pgoff, let offset):
                at(t)
                var lines = runs[i] ?? []
                if lines.isEmpty {
                    // Nothing changed (or the batch never came): one byte, as it is, still faults the page.
                    let byte = replayed[pgoff].map { $0[offset & (PAGE_SIZE - 1)] } ?? 0
                    lines = [(offset, [byte])]
                }
                for (o, bytes) in lines { out += "proc 0 put \(o) \(Self.hex(bytes))\n" }
            }
        }
        at(end)
        out += "flush\n"
        return out
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var s = [UInt8]()
        s.reserveCapacity(bytes.count * 2)
        for b in bytes {
            s.append(digits[Int(b >> 4)])
            s.append(digits[Int(b & 15)])
        }
        return String(decoding: s, as: UTF8.self)
    }
}
