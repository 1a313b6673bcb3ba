// SPDX-License-Identifier: MIT — `fbdefio-emu run`: the fb_defio demo, live in an SDL window or headless.
import ArgumentParser
import Dispatch
import Foundation
import Frontend
import Kernel
import Lab
import Panels
import Workloads

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Boot the machine, run the demo workload and show the panel live (the default command).",
        discussion: """
            Fake processes map /dev/fb0 (one of them at a file offset, one a forked child) and draw the workload \
            into their bands of the screen. fb_defio tracks their write faults and hands each batch to the panel's \
            driver callback, which sends it over the panel's bus in virtual time. With --headless nothing touches \
            SDL video: the run ends after --frames or --duration, writes PNGs with --png-out, prints a summary, and \
            exits 0 only if the lost-update checker passed (panel == framebuffer == reference rendering).
            """)

    @OptionGroup var machine: MachineFlags

    @Flag(help: "No window: run, check, print the summary.")
    var headless = false

    @Option(help: "The demo program the processes draw (see 'fbdefio-emu workloads').")
    var workload: WorkloadKind = .console

    @OptionGroup var framebuffer: FramebufferFlags

    @Option(help: "Processes drawing (the screen is split into N bands), 1-16.")
    var procs: Int = 3

    @Option(help: "Workload frames each process draws (headless default 60; live default: until the window closes).")
    var frames: Int?

    @Option(help: "Virtual seconds to run instead of --frames (e.g. 2.5).")
    var duration: Double?

    @Option(help: "Workload frames per second of virtual time.")
    var fps: Int = 50

    @OptionGroup var display: DisplayFlags

    @Option(help: "Folder holding the workloads' assets (default: $FBDEFIO_ASSETS, or found from the executable's path).")
    var assets: String?

    @OptionGroup var observe: ObservabilityFlags

    @Option(help: "Write a self-contained HTML walkthrough of the run (a second, headless pass of the same seed and flags) to FILE.")
    var walkthrough: String?

    @Option(help: "Write a PNG of per-page page_mkwrite counts over the screen to FILE.")
    var heatmap: String?

    func validate() throws {
        try FlagCheck.procs(procs)
        if let frames, frames < 1 || frames > 1_000_000 { throw ValidationError("--frames: '\(frames)' is not in 1...1000000") }
        if let duration, !(duration > 0 && duration <= 3600) { throw ValidationError("--duration: '\(duration)' is not a number of seconds in (0, 3600]") }
        if frames != nil && duration != nil { throw ValidationError("--frames and --duration: give at most one") }
        guard (1 ... 1000).contains(fps) else { throw ValidationError("--fps: '\(fps)' is not in 1...1000") }
        try display.check(headless: headless)
        let h = framebuffer.size?.height ?? framebuffer.profile.height
        guard h >= procs else { throw ValidationError("--procs: \(procs) bands do not fit in \(h) rows") }
        try checkAssetsFlag(assets)
    }

    func demoOptions() throws -> DemoOptions {
        let profile = framebuffer.profile
        var o = DemoOptions()
        o.machine = try machine.machineOptions()
        (o.width, o.height) = framebuffer.size ?? (profile.width, profile.height)
        o.bpp = framebuffer.bpp ?? profile.defaultFramebufferBPP
        o.delay = framebuffer.delay
        if framebuffer.sortPagereflist { o.sortPagereflist = true }
        o.panel = framebuffer.panel.name
        o.workload = workload.rawValue
        o.procs = procs
        o.frameInterval = VirtualTime(picoseconds: 1_000_000_000_000 / Int64(fps))
        if let duration {
            o.frames = max(1, Int((duration * Double(fps)).rounded()))
        } else {
            o.frames = frames ?? (headless ? 60 : nil)
        }
        o.live = !headless
        o.assetsPath = assets
        o.keepEvents = observe.events != nil
        o.keepTrace = observe.trace != nil
        return o
    }

    /// A display SDL can open: X11, Wayland, or a driver the user chose explicitly.
    static var displayAvailable: Bool {
        let env = ProcessInfo.processInfo.environment
        return ["DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"].contains { !(env[$0] ?? "").isEmpty }
    }

    func run() throws {
        var options = try demoOptions()
        if options.live && !Self.displayAvailable {
            // SDL would silently come up on an invisible offscreen driver and run until killed.
            FileHandle.standardError.write(Data("fbdefio-emu: no display (DISPLAY and WAYLAND_DISPLAY are unset): running --headless\n".utf8))
            options.live = false
            if options.frames == nil { options.frames = 60 }
        }
        let mailbox = FrameMailbox()
        // Headless: Ctrl-C and SIGTERM end the run cleanly. Live: SDL turns them into SDL_QUIT itself.
        let stopper = options.live ? nil : StopOnSignals(mailbox)
        let snapshot = try display.snapshots()
        let every = display.pngEvery
        let live = options.live
        // A progress line only for headless runs on a terminal (never into a pipe or a file).
        let progressLine = !live && isatty(STDOUT_FILENO) == 1 && isatty(STDERR_FILENO) == 1 ? ProgressLine() : nil
        let started = ContinuousClock.now
        let handle = startOnEmulator {
            runDemo(options, mailbox: live ? mailbox : nil, snapshotEvery: every, snapshots: snapshot,
                          progress: progressLine, onSetupError: { mailbox.finish() })
        }
        var window: SDLOutcome?
        if options.live {
            let profile = framebuffer.profile
            let windowOptions = display.windowOptions(title: "fbdefio-emu — \(workload.rawValue) on \(profile.name)",
                                                      width: options.width)
            do {
                window = try runSDLWindow(mailbox, options: windowOptions)
            } catch {
                mailbox.requestStop()
                _ = handle.wait()
                throw SetupFailure("\(error)")
            }
        }
        let result = handle.wait()
        progressLine?.clear()
        stopper?.cancel()
        switch result {
        case .failure(let error):
            throw error.commandError
        case .success(let report):
            print(report.summary)
            if let window { print(window.summary) }
            // Host time goes to stderr: stdout stays the same, byte for byte, for the same seed and flags.
            FileHandle.standardError.write(Data((report.hostLine(wall: ContinuousClock.now - started) + "\n").utf8))
            if let snapshot, let error = snapshot.firstError { throw ValidationError("--png-out: \(error)") }
            try writeObservability(report, options)
            try machine.writeSchedule(report.schedule)
            if let walkthrough {
                var again = options
                again.live = false
                if again.frames == nil { again.frames = report.framesDrawn }
                try writeWalkthrough(.demo(again), to: walkthrough, expectedHash: report.eventHash)
            }
            if !report.checkerPassed { throw ExitCode(1) }
        }
    }
}

extension Run {
    /// Writes the --events, --stats, --trace and --heatmap files of a finished run.
    func writeObservability(_ report: DemoReport, _ options: DemoOptions) throws {
        try observe.write(events: report.events, stats: report.stats.json, trace: report.trace)
        if let heatmap {
            let image = Heatmap.image(counts: report.mkwritesPerPage, layout: report.layout)
            do { try PNGEncoder.write(heatmap, width: image.width, height: image.height, argb: image.pixels) } catch {
                throw ValidationError("--heatmap: cannot write '\(heatmap)': \(error)")
            }
        }
    }
}

/// Builds and runs the demo machine on the emulator thread.
@EmuActor func runDemo(_ options: DemoOptions, mailbox: FrameMailbox?, snapshotEvery: Int, snapshots: PNGSnapshots?,
                       progress: ProgressLine? = nil, onSetupError: @Sendable () -> Void) -> Result<DemoReport, Machine.SetupError> {
    do throws(Machine.SetupError) {
        let m = try Machine(options, mailbox: mailbox, snapshotEvery: snapshotEvery,
                            snapshot: snapshots.map { s in { @Sendable frame in s.write(frame) } })
        m.progress = progress.map { p in { @Sendable done, total, now in p.update(done, total, now) } }
        return .success(try m.run())
    } catch {
        onSetupError()
        return .failure(error)
    }
}

