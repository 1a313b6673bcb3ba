// SPDX-License-Identifier: MIT — `fbdefio-emu exec -- PROGRAM [ARGS…]`: an unmodified fbdev program on the emulated
// fb_defio, live in the window or headless.
import ArgumentParser
import Foundation
import Frontend
import Kernel
import Lab
import Panels
import Workloads

struct ExecCLI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run an unmodified Linux framebuffer program on the emulated fb_defio device and panel.",
        discussion: """
            The program runs with libfbdefio-preload.so in LD_PRELOAD: its open of /dev/fb0 (or $FRAMEBUFFER) gets \
            the emulated framebuffer, the fbdev ioctls answer from the emulated fb_info, and each first write to a \
            page is a write fault that the emulated kernel handles (page_mkwrite, the delayed worker, \
            write-protect) before the program may go on. Virtual time is paced against the wall clock, so the \
            delay, the bus time and the panel's frame rate are the ones the program would meet on the hardware. \
            At the end (the program exited, or --duration passed, or Ctrl-C / the window closed) the summary says \
            how many frames per second the panel showed, the bytes sent vs changed, the store→panel latency and \
            how long the program was stalled in faults, and names the tracking mechanism (--tracking: userfaultfd \
            write-protect where the host allows it, else mprotect + SIGSEGV). Exit status: 0 when the program \
            exited 0 (or was stopped on request) and the panel equals the framebuffer memory; 1 otherwise; 2 for \
            bad flags or a program that cannot be started; 3 when the machine cannot be set up (the preload \
            library or the workloads' assets not found, the host's memory file or the window refused). --record \
            FILE writes a trace that 'fbdefio-emu replay' runs again deterministically, on any panel.

            Example: fbdefio-emu exec --panel ili9341-spi32 -- ffmpeg -re -f lavfi \
            -i testsrc=size=320x240:rate=25 -t 5 -pix_fmt rgb565le -f fbdev /dev/fb0
            """)

    @OptionGroup var machine: MachineFlags

    @Flag(help: "No window: run, check, print the summary (PNGs with --png-out).")
    var headless = false

    @OptionGroup var framebuffer: FramebufferFlags

    @Option(help: "How the program's first writes are trapped: auto (userfaultfd write-protect where the host allows it), uffd, or mprotect (SIGSEGV in the preload library).")
    var tracking: ExecTracking = .auto

    @Option(name: .customLong("fault-threads"), help: "Threads of the fake process that run the program's write faults concurrently, 0-16 (0: one at a time, by the thread that reads the program).")
    var faultThreads: Int = 0

    @Option(help: "Wall seconds after which the program is sent SIGTERM (default: until it exits).")
    var duration: Double?

    @Option(help: "Run demo workload processes beside the program (see 'fbdefio-emu workloads'), drawing bands in the rows below --program-rows.")
    var workload: WorkloadKind?

    @Option(help: "With --workload: processes drawing (the rows below the program are split into N bands), 1-16.")
    var procs: Int = 1

    @Option(name: .customLong("program-rows"), help: "With --workload: the rows at the top left to the program (default: half the screen).")
    var programRows: Int?

    @Option(help: "With --workload: workload frames per second of virtual time.")
    var fps: Int = 50

    @Option(help: "Folder holding the workloads' assets (default: $FBDEFIO_ASSETS, or found from the executable's path).")
    var assets: String?

    @Option(help: "Record what the program did as a replay trace to FILE ('fbdefio-emu replay FILE' runs it again).")
    var record: String?

    @OptionGroup var display: DisplayFlags

    @Option(help: "The preload library (default: $FBDEFIO_PRELOAD, or libfbdefio-preload.so next to this executable or in ../lib/fbdefio-emu).")
    var preload: String?

    @Option(help: "Write the program's requests as the emulated kernel saw them (open, mmap, fault page=P batch=B, fsync, close) to FILE.")
    var log: String?

    @OptionGroup var observe: ObservabilityFlags

    @Argument(parsing: .postTerminator, help: "The program and its arguments, after '--'.")
    var program: [String] = []

    func validate() throws {
        if machine.recordSchedule != nil || machine.replaySchedule != nil {
            throw ValidationError("--record-schedule/--replay-schedule: not for exec, which runs in real time; "
                + "--record FILE writes a trace that 'fbdefio-emu replay' runs again deterministically")
        }
        if let duration, !(duration > 0 && duration <= 86_400) {
            throw ValidationError("--duration: '\(duration)' is not a number of seconds in (0, 86400]")
        }
        try FlagCheck.procs(procs)
        guard (1 ... 1000).contains(fps) else { throw ValidationError("--fps: '\(fps)' is not in 1...1000") }
        if workload == nil && (programRows != nil || procs != 1) {
            throw ValidationError("--procs and --program-rows: only with --workload")
        }
        let h = framebuffer.size?.height ?? framebuffer.profile.height
        if let programRows, programRows < 0 || programRows + procs > h {
            throw ValidationError("--program-rows: '\(programRows)' leaves no room for \(procs) band(s) in \(h) rows")
        }
        guard (0 ... 16).contains(faultThreads) else { throw ValidationError("--fault-threads: '\(faultThreads)' is not in 0...16") }
        try display.check(headless: headless)
        guard let name = program.first else {
            throw ValidationError("exec: no program given (usage: fbdefio-emu exec [options] -- PROGRAM [ARGS...])")
        }
        guard Self.findProgram(name) != nil else {
            if name.contains("/") && FileManager.default.fileExists(atPath: name) {
                throw ValidationError("exec: program '\(name)' is not executable")
            }
            throw ValidationError("exec: program '\(name)' not found")
        }
        if let path = preload, !FileManager.default.fileExists(atPath: path) {
            throw ValidationError("--preload: no such file '\(path)'")
        }
        try checkAssetsFlag(assets)
    }

    /// The program as PATH lookup would find it (what posix_spawnp will run), or nil.
    static func findProgram(_ name: String) -> String? {
        let fm = FileManager.default
        if name.contains("/") { return fm.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") where fm.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        return nil
    }

    /// Where an installed binary's preload library is, relative to the directory of the executable.
    static let installedPreloadDirectory = "../lib/fbdefio-emu"

    /// libfbdefio-preload.so: the flag, $FBDEFIO_PRELOAD, next to this executable (where `swift build` puts it), or
    /// in ../lib/fbdefio-emu from it (where `make install` puts it).
    static func preloadLibrary(_ flag: String?) -> String? {
        if let flag { return flag }
        if let env = ProcessInfo.processInfo.environment["FBDEFIO_PRELOAD"], !env.isEmpty { return env }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        let dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        return [dir, dir.appendingPathComponent(installedPreloadDirectory)]
            .map { $0.appendingPathComponent("libfbdefio-preload.so").standardizedFileURL.path }
            .first { FileManager.default.fileExists(atPath: $0) }
    }

    func execOptions() throws -> ExecOptions {
        var o = ExecOptions()
        o.machine = try machine.machineOptions()
        o.panel = framebuffer.panel.name
        if let (w, h) = framebuffer.size {
            o.width = w
            o.height = h
        }
        o.bpp = framebuffer.bpp
        o.delay = framebuffer.delay
        if framebuffer.sortPagereflist { o.sortPagereflist = true }
        o.argv = program
        guard let lib = Self.preloadLibrary(preload) else {
            throw SetupFailure("exec: libfbdefio-preload.so not found next to the executable nor in "
                + "\(Self.installedPreloadDirectory) from it (build it with 'swift build', or pass --preload PATH)")
        }
        o.preload = URL(fileURLWithPath: lib).standardizedFileURL.path
        o.environment = ProcessInfo.processInfo.environment
        o.record = record != nil
        o.tracking = tracking
        o.faultThreads = faultThreads
        o.duration = duration
        o.keepEvents = observe.events != nil
        o.keepTrace = observe.trace != nil
        o.workload = workload?.rawValue
        o.procs = procs
        o.programRows = programRows
        o.frameInterval = VirtualTime(picoseconds: 1_000_000_000_000 / Int64(fps))
        o.assetsPath = assets
        return o
    }

    func run() throws {
        let options = try execOptions()
        var live = !headless
        if live && !Run.displayAvailable {
            FileHandle.standardError.write(Data("fbdefio-emu: no display (DISPLAY and WAYLAND_DISPLAY are unset): running --headless\n".utf8))
            live = false
        }
        let mailbox = FrameMailbox()
        let stopper = live ? nil : StopOnSignals(mailbox)
        let snapshots = try display.snapshots()
        let every = display.pngEvery
        let opts = options
        let handle = startOnEmulator { () -> Result<ExecReport, Machine.SetupError> in
            do throws(Machine.SetupError) {
                let m = try ExecMachine(opts, mailbox: live ? mailbox : nil, snapshotEvery: every,
                                        snapshot: snapshots.map { s in { @Sendable frame in s.write(frame) } })
                return .success(m.run())
            } catch {
                mailbox.finish()
                return .failure(error)
            }
        }
        var window: SDLOutcome?
        if live {
            let profile = framebuffer.profile
            let windowOptions = display.windowOptions(
                title: "fbdefio-emu — \(ExecMachineName.of(program)) on \(profile.name)",
                width: options.width ?? profile.width)
            do {
                window = try runSDLWindow(mailbox, options: windowOptions)
            } catch {
                mailbox.requestStop()
                _ = handle.wait()
                throw SetupFailure("\(error)")
            }
        }
        let result = handle.wait()
        stopper?.cancel()
        let report: ExecReport
        switch result {
        case .failure(let error): throw error.commandError
        case .success(let r): report = r
        }
        // Nothing ran: the summary would only repeat the error.
        if report.setupFailed { throw SetupFailure(report.errors.joined(separator: "; ")) }
        print(report.summary)
        if let window { print(window.summary) }
        if let e = snapshots?.firstError { FileHandle.standardError.write(Data("fbdefio-emu: --png-out: \(e)\n".utf8)) }
        if let record, let text = report.trace { try writeOutput(text, to: record, flag: "--record") }
        if let log { try writeOutput(report.log.map { $0 + "\n" }.joined(), to: log, flag: "--log") }
        try observe.write(events: report.events, stats: report.stats.json, trace: report.chromeTrace)
        if report.exit == nil {
            // The program could not be started at all: an input error.
            for e in report.errors { FileHandle.standardError.write(Data("fbdefio-emu: \(e)\n".utf8)) }
            throw ExitCode(2)
        }
        let programFailed = report.exit?.succeeded != true && !report.stoppedOnRequest
        if !report.errors.isEmpty || programFailed || !report.checkerPassed { throw ExitCode(1) }
    }
}

extension ExecTracking: ExpressibleByArgument {}

enum ExecMachineName {
    static func of(_ argv: [String]) -> String { argv.first.map { String($0.split(separator: "/").last ?? "") } ?? "" }
}
