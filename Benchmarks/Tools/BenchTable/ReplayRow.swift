// SPDX-License-Identifier: MIT — row 2: a fault-heavy access trace through `Replay` against the host kernel tracking
// the same trace with mprotect + SIGSEGV in forked processes over a MAP_SHARED memfd.
import HostMM
import Kernel
import Lab

enum ReplayRow {
    static let procs = 16
    static let size = 8 << 20  // 8 MiB: 2048 pages
    static let batches = 6
    /// Pages per write line: each line fills 32 whole pages (128 KiB), so each line is 32 first writes.
    static let pagesPerLine = 32
    static var pages: Int { size / PAGE_SIZE }
    /// Every process writes every page once per batch: one write-protect fault per process, page and batch.
    static var expectedFaults: Int { procs * pages * batches }

    /// The trace: `batches` times, every process writes the whole framebuffer (the processes take turns line by
    /// line, 32 pages a line), then `flush`. All lines of a batch write the same byte, so the final image does not
    /// depend on the order the host's processes run in within a batch.
    static func lines() -> [hostmm_replay_line] {
        var out: [hostmm_replay_line] = []
        let lineBytes = pagesPerLine * PAGE_SIZE
        for batch in 0 ..< batches {
            for chunk in 0 ..< size / lineBytes {
                for p in 0 ..< procs {
                    out.append(hostmm_replay_line(proc: Int32(p), byte: Int32(batch + 1), offset: Int64(chunk * lineBytes),
                                                  length: Int64(lineBytes)))
                }
            }
            out.append(hostmm_replay_line(proc: -1, byte: 0, offset: 0, length: 0))
        }
        return out
    }

    /// The trace in `fbdefio-emu replay`'s text format.
    static func text(_ lines: [hostmm_replay_line]) -> String {
        var t = "# BenchTable: \(procs) processes each write all of an 8 MiB framebuffer, \(batches) times\n"
        t += "size \(size)\nprocs \(procs)\n"
        for l in lines {
            if l.proc < 0 {
                t += "flush\n"
            } else {
                t += "proc \(l.proc) write \(l.offset) \(l.length) \(l.byte)\n"
            }
        }
        return t
    }

    struct Run {
        var nanoseconds: Double
        var faults: Int
        var panel: [UInt8]
    }

    /// One replay, timed on the emulator thread from building the machine to the end of its run (parsing the
    /// text is not timed). Faults are the replay's `fault` lines (one per `page_mkwrite`).
    @EmuActor static func emulator(_ trace: ReplayTrace) throws -> Run {
        let start = nowNanoseconds()
        let result = Replay(trace).run()
        let elapsed = nowNanoseconds() - start
        guard result.errors.isEmpty else { throw BenchFailure("replay: \(result.errors.joined(separator: "; "))") }
        let faults = result.lines.reduce(0) { $0 + ($1.hasPrefix("fault ") ? 1 : 0) }
        return Run(nanoseconds: Double(elapsed), faults: faults, panel: result.panel)
    }

    /// The host: forked children, mprotect + SIGSEGV (HostMM.h, `hostmm_replay`).
    static func host(_ lines: [hostmm_replay_line]) throws -> Run {
        var panel = [UInt8](repeating: 0, count: size)
        var elapsed: UInt64 = 0
        var faults = 0, delivered = 0
        let rc = lines.withUnsafeBufferPointer { l in
            panel.withUnsafeMutableBufferPointer { p in
                hostmm_replay(l.baseAddress, l.count, Int32(procs), size, p.baseAddress, &elapsed, &faults, &delivered)
            }
        }
        guard rc == 0 else { throw BenchFailure("hostmm_replay failed (errno \(errnoValue()))") }
        return Run(nanoseconds: Double(elapsed), faults: faults, panel: panel)
    }
}
