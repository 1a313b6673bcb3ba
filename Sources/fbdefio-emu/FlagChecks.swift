// SPDX-License-Identifier: MIT — the checks of flags that several commands take, one message each.
import ArgumentParser
import Kernel

/// A bad value of a flag several commands share: the same one-line error (status 2) wherever it is given.
enum FlagCheck {
    static func hz(_ hz: Int64) throws {
        guard TickRate.allowed.contains(hz) else { throw ValidationError("--hz: '\(hz)' is not one of 100, 250, 300, 1000") }
    }

    static func cpus(_ cpus: Int) throws {
        guard (1 ... 64).contains(cpus) else { throw ValidationError("--cpus: '\(cpus)' is not between 1 and 64") }
    }

    static func delayMs(_ ms: Int64) throws {
        guard (0 ... 60_000).contains(ms) else { throw ValidationError("--delay-ms: '\(ms)' is not in 0...60000") }
    }

    static func resolution(_ text: String) throws {
        guard FramebufferFlags.parseResolution(text) != nil else {
            throw ValidationError("--resolution: '\(text)' is not WxH with 16 <= W, H <= 4096")
        }
    }

    static func bpp(_ bpp: Int) throws {
        guard bpp == 16 || bpp == 32 else { throw ValidationError("--bpp: '\(bpp)' is not 16 or 32") }
    }

    /// Drawing processes: 1 to `limit`.
    static func procs(_ procs: Int, limit: Int = 16) throws {
        guard (1 ... limit).contains(procs) else { throw ValidationError("--procs: '\(procs)' is not in 1...\(limit)") }
    }
}
