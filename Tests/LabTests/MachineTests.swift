import Kernel
@testable import Lab
import Panels
import Testing
import TestSupport
import Workloads

/// Every workload through the headless machine: the lost-update checker passes (panel == framebuffer == reference
/// rendering) and the final panel image matches its golden hash for the seed. The machines run the fix of bug H
/// (`upstream+worker-page-lock`): on plain `upstream` the online checkers can catch the kernel's own race, which
/// `upstreamDemoCatchesBugH` shows.
@Suite struct MachineTests {
    /// One line per run: the `run` command's flags (the command that shows the same run), then the `frameHash` of
    /// the final panel image and the event hash. ILI9341 at 32 MHz, 320x240 RGB565, 3 processes, 12 frames, seed 1.
    static let goldens = GoldenLines("hashes.txt", besides: #filePath)

    @EmuActor func run(_ workload: String, panel: String = "ili9341-spi32", seed: UInt64 = 1, frames: Int = 12,
                       procs: Int = 3, bpp: Int? = nil, policy: PolicyChoice = .random,
                       variant: String = "upstream+worker-page-lock", cpus: Int = 4,
                       delay: DelayChoice = .panelDefault) throws -> DemoReport {
        var o = DemoOptions()
        o.delay = delay
        o.machine.seed = seed
        o.machine.cpus = cpus
        o.machine.variant = try Variants.select(variant)
        o.machine.policy = policy
        o.workload = workload
        o.panel = panel
        let profile = PanelProfile.named(panel)!
        (o.width, o.height) = (profile.width, profile.height)
        o.bpp = bpp ?? profile.defaultFramebufferBPP
        o.procs = procs
        o.frames = frames
        let m = try Machine(o)
        return try m.run()
    }

    /// The run of a golden line's flags: `--headless` and every one of the few flags of `run` these lines use (all
    /// of them given, so that the line alone is the command that shows the same run).
    @EmuActor func run(flags: String) throws -> DemoReport {
        let names = ["--workload", "--panel", "--seed", "--frames", "--procs", "--cpus", "--variant"]
        var value: [String: String] = [:]
        var words = flags.split(separator: " ").map(String.init)[...]
        #expect(words.popFirst() == "--headless")
        while let flag = words.popFirst() {
            guard names.contains(flag), let v = words.popFirst() else { throw GoldenFlagError(flags: flags, flag: flag) }
            value[flag] = v
        }
        if let missing = names.first(where: { value[$0] == nil }) { throw GoldenFlagError(flags: flags, flag: missing) }
        func number<T: FixedWidthInteger>(_ flag: String) throws -> T {
            guard let n = T(value[flag]!) else { throw GoldenFlagError(flags: flags, flag: flag) }
            return n
        }
        return try run(value["--workload"]!, panel: value["--panel"]!, seed: number("--seed"),
                       frames: number("--frames"), procs: number("--procs"), variant: value["--variant"]!,
                       cpus: number("--cpus"))
    }

    struct GoldenFlagError: Error { let flags: String, flag: String }

    @Test func everyWorkloadHasAGoldenRun() {
        let workloads = Self.goldens.keys.map { flags in
            let words = flags.split(separator: " ")
            return words.firstIndex(of: "--workload").map { String(words[$0 + 1]) }
        }
        #expect(Set(workloads) == Set(WorkloadKind.allCases.map(\.rawValue)))
    }

    @Test(arguments: goldens.keys)
    @EmuActor func everyWorkloadPassesTheCheckerHeadless(flags: String) throws {
        let r = try run(flags: flags)
        #expect(r.checkerPassed, "\(r.checkerReport)\n\(r.summary)")
        let got = "frame \(hex(r.frameHash)) event \(hex(r.eventHash))"
        #expect(got == Self.goldens.expected(flags, recording: got), "golden of \(flags)")
        let again = try run(flags: flags)
        #expect(again.frameHash == r.frameHash)
        #expect(again.eventHash == r.eventHash)
    }

    /// Bug H in the demo itself: with the 2026 worker (no page lock), the console workload at seed 12 on a
    /// uniprocessor makes a PTE writable after the worker write-protected its page and before the driver copied it;
    /// the re-arm checker stops the run there. (The window is narrow, as on a real kernel — about one timer batch in
    /// two thousand there: whether a run meets it depends on the seed and on where the timer's tick falls among the
    /// workload's faults; on four CPUs, where each writer has a CPU, the clocks rarely line the two up.)
    @Test @EmuActor func upstreamDemoCatchesBugH() throws {
        let r = try run("console", seed: 12, frames: 30, variant: "upstream", cpus: 1)
        #expect(!r.checkerPassed)
        #expect(r.summary.contains("VIOLATION (re-arm)"), "\(r.summary)")
        #expect(r.summary.contains("variant upstream"))
        #expect(r.stats.json.contains("\"variant\":\"upstream\""))
        #expect(r.stats.json.contains("\"violation\":"))
    }

    @Test(arguments: PanelProfile.all.map(\.name))
    @EmuActor func everyPanelShowsTheFramebufferAtTheEnd(panel: String) throws {
        let r = try run("sprites", panel: panel, frames: 6, procs: 2)
        #expect(r.checkerPassed, "\(r.checkerReport)\n\(r.summary)")
    }

    @Test @EmuActor func bpp32AndRoundRobinAndOneProcess() throws {
        let a = try run("life", frames: 8, procs: 1, bpp: 32, policy: .rr)
        #expect(a.checkerPassed, "\(a.checkerReport)")
        let b = try run("cursor", seed: 9, frames: 8, procs: 4, bpp: 32)
        #expect(b.checkerPassed, "\(b.checkerReport)")
    }

    /// A stop request (window closed, Ctrl-C) catches the processes at different frames: the run still ends
    /// quiescent and the checker compares each band with the frames its process really drew.
    @Test @EmuActor func stoppingMidRunStillPassesTheChecker() throws {
        var o = DemoOptions()
        o.workload = "sprites"
        o.panel = "ili9341-spi32"
        o.procs = 3
        o.frames = nil
        let mailbox = FrameMailbox()
        let m = try Machine(o, mailbox: mailbox)
        m.progress = { done, _, _ in if done == 7 { mailbox.requestStop() } }
        let r = try m.run()
        #expect(r.checkerPassed, "\(r.checkerReport)")
        #expect(mailbox.isFinished)
        #expect(r.summary.contains("7 frames"))
    }

    /// The end-of-run check counts every differing pixel and names the first, for both comparisons, at 16 and 32 bpp
    /// (the framebuffer is written behind the panel's back, so the panel misses exactly those pixels).
    @Test(arguments: [("ili9341-spi32", 16), ("ideal", 32)])
    @EmuActor func lostUpdateCheckerCountsAndLocatesDifferences(panel: String, bpp: Int) throws {
        var o = DemoOptions()
        o.panel = panel
        (o.width, o.height, o.bpp) = (64, 48, bpp)
        let m = try Machine(o)
        let layout = m.info.layout
        let reference = PlainCanvas(layout: layout)
        let clean = LostUpdateChecker.check(info: m.info, panel: m.panel, reference: reference)
        #expect(clean.passed, "\(clean.report)")
        #expect(clean.report == "checker: panel == framebuffer == reference (3072 pixels)")
        // Three framebuffer pixels the panel never saw: (5,2), (63,2) and (0,47); one byte of each is enough.
        let bytesPerPixel = bpp / 8
        for (x, y) in [(5, 2), (63, 2), (0, 47)] {
            let value: [UInt8] = [0xFF]
            value.withUnsafeBytes {
                m.kernel.vmalloc.write(m.info.screenBuffer + UInt64(y * m.info.fix.lineLength + x * bytesPerPixel), $0)
            }
        }
        // The reference agrees on the last of them and has one pixel of its own at (10,3).
        try reference.plot(x: 0, y: 47, rgb: layout.format.decode(0xFF))
        try reference.plot(x: 10, y: 3, rgb: 0xFFFFFF)
        let r = LostUpdateChecker.check(info: m.info, panel: m.panel, reference: reference)
        #expect(!r.passed)
        #expect(r.panelMismatches == 3)
        #expect(r.referenceMismatches == 3)
        let shown = m.panel.displayed(fbPixel: 0xFF), blank = m.panel.displayed(fbPixel: 0)
        #expect(r.report == "LOST UPDATE: 3 pixels of the panel differ from the framebuffer; first at (5,2): panel "
            + "0x\(String(blank, radix: 16)), framebuffer shows 0x\(String(shown, radix: 16))\n"
            + "WRONG FRAMEBUFFER: 3 pixels differ from the reference rendering; first at (5,2)")
    }
}

/// A workload's failure in a drawing process: reported, and the process ends with EINVAL; the run goes on.
@Suite struct DrawFailureTests {
    @Test @EmuActor func aWorkloadFailureIsReportedAndEndsOnlyItsProcess() throws {
        let assets = try Assets.load()
        let k = EmuKernel(policy: .roundRobin(), tickRate: TickRate(hz: 250), ramPages: 2048)
        let info = try #require(FBInfo(kernel: k, xres: 64, yres: 48, bitsPerPixel: 16))
        let driver = makePanelDriver(PanelProfile.named("ideal")!, for: info)
        #expect(driver.install() == nil)
        let layout = info.layout
        var reports: [String] = []
        let bad = try #require(k.spawnProcess("draw0") { t in
            let fd = try t.open(info.node)
            let base = try t.mmap(length: info.fix.smemLen, prot: .readWrite, flags: .shared, fd: fd)
            let canvas = MappedCanvas(task: t, origin: base, layout: layout, clip: layout.screen)
            let w = WorkloadKind.sprites.make(seed: 1, clip: layout.screen, screenWidth: 64, screenHeight: 48,
                                              assets: assets)
            try drawFrameInProcess(w, 1, on: canvas, process: t.name) { reports.append($0) }
        })
        let good = try #require(k.spawnProcess("draw1") { _ in })
        #expect(k.sched.run() == .completed)
        #expect(bad.exitStatus == .failed(.EINVAL))
        #expect(good.exitStatus == .exited)
        #expect(reports == ["draw0: sprites: frame 1 asked for, frame 0 is next"])
    }
}
