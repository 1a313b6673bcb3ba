// SPDX-License-Identifier: MIT — row 1: the 1080p32 plasma demo, 4 processes, `ideal` panel, headless, end to end,
// against the same plasma arithmetic in C drawing the same frames into a buffer and copying it to a panel buffer.
import Kernel
import Lab
import PlasmaC

enum PlasmaRow {
    static let width = 1920, height = 1080, procs = 4
    /// The machine's seed (the demo's default) and the variant: the fix of bug H, so that no online checker stops
    /// the drawing early and every run draws every frame (as the Lab's own machine tests do).
    static let seed: UInt64 = 1
    static let variant = "upstream+worker-page-lock"

    struct EmulatorRun {
        var nanoseconds: Double
        var frameHash: UInt64
        var passed: Bool
        var faults: Int
        var summary: String
    }

    /// One whole demo run, timed on the emulator thread: boot, `frames` frames of every process, the final flush,
    /// the reference rendering and the lost-update check, the summary.
    @EmuActor static func emulator(frames: Int) throws -> EmulatorRun {
        var o = DemoOptions()
        o.workload = "plasma"
        o.panel = "ideal"
        (o.width, o.height, o.bpp) = (width, height, 32)
        o.procs = procs
        o.frames = frames
        o.machine.seed = seed
        o.machine.variant = try Variants.select(variant)
        let start = nowNanoseconds()
        let machine = try Machine(o)
        let report = try machine.run()
        let elapsed = nowNanoseconds() - start
        return EmulatorRun(nanoseconds: Double(elapsed), frameHash: report.frameHash, passed: report.checkerPassed,
                           faults: machine.kernel.stats.faults, summary: report.summary)
    }

    /// The parameters Plasma.init draws from its seeded generator, drawn here in the same order, for band `index`
    /// of the demo (the seed derivation of Machine.run).
    static func band(_ index: Int) -> plasma_c_band {
        let top = height * index / procs, bottom = height * (index + 1) / procs
        var rng = SplitMix64(seed: SplitMix64.derive(SplitMix64.derive(seed, "workload", index), "plasma"))
        let scale = 320 * 65536 / max(1, width)
        func freq(_ lo: Int, _ hi: Int) -> Int64 { Int64((lo + rng.below(hi - lo + 1)) * scale / 16) }
        func speed(_ lo: Int, _ hi: Int) -> Int64 {
            let magnitude = (lo + rng.below(hi - lo + 1)) * 65536 / 4
            return Int64(rng.below(2) == 0 ? magnitude : -magnitude)
        }
        var b = plasma_c_band()
        (b.clip_x, b.clip_y, b.clip_width, b.clip_height) = (0, Int64(top), Int64(width), Int64(bottom - top))
        b.fx = freq(40, 96)
        b.fy = freq(40, 96)
        b.fdx = freq(24, 64)
        b.fdy = freq(24, 64)
        b.fw = freq(48, 112)
        b.fwarp = freq(32, 80)
        b.sx = speed(16, 48)
        b.sy = speed(16, 48)
        b.sd = speed(12, 40)
        b.sw = speed(20, 56)
        b.swarp = speed(8, 24)
        b.warp_amp = Int64(48 + rng.below(80))
        b.phase = (Int64(rng.below(1024)), Int64(rng.below(1024)), Int64(rng.below(1024)))
        b.double_channel = Int64(rng.below(3))
        return b
    }

    struct BaselineRun {
        var nanoseconds: Double
        /// The frame hash of the panel buffer as the emulator's panel holds it (XRGB8888 shown opaque: 0xFF in the top byte).
        var frameHash: UInt64
    }

    /// The C plasma: the same frames of the same bands, each frame copied whole to a panel buffer.
    static func baseline(frames: Int) throws -> BaselineRun {
        let bands = (0 ..< procs).map(band)
        var framebuffer = [UInt32](repeating: 0, count: width * height)
        var panel = [UInt32](repeating: 0, count: width * height)
        let start = nowNanoseconds()
        let rc = bands.withUnsafeBufferPointer { b in
            framebuffer.withUnsafeMutableBufferPointer { fb in
                panel.withUnsafeMutableBufferPointer { p in
                    plasma_c_render(b.baseAddress, Int32(b.count), Int32(width), Int32(height), Int32(frames),
                                    fb.baseAddress, p.baseAddress)
                }
            }
        }
        let elapsed = nowNanoseconds() - start
        guard rc == 0 else { throw BenchFailure("plasma_c_render failed") }
        return BaselineRun(nanoseconds: Double(elapsed), frameHash: frameHash(panel.map { 0xFF00_0000 | $0 }))
    }
}
