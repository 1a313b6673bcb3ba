// SPDX-License-Identifier: MIT — `fbdefio-emu step`: a run one kernel event at a time, full screen in the terminal
// (plain ANSI escapes, raw-mode termios; no curses), or as plain text with --print N.
import ArgumentParser
import Foundation
import Kernel
import Lab
import Panels
import Workloads

struct StepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "Step through a deterministic run one kernel event at a time (PTEs, TLBs, the page list, locks).",
        discussion: """
            The run is a replay trace (--trace), a built-in scenario (--scenario, one seeded schedule), a schedule \
            saved by explore (--schedule), or else a headless 'run' with the flags below. Keys: n, space or → next \
            event, b (or ←) one step back (the states of a window of events are kept; outside it the machine runs again \
            from the start, which gives the same events: the run is deterministic, and each pass is checked \
            against the first one's event hash), f next fault, w next worker pass, g go to an event number, / next event whose kind \
            contains a text, q or Ctrl-C quit. Without a terminal, --print N prints the state after each of the first N \
            events as plain text.
            """)

    @Option(help: "Replay this access trace (see 'fbdefio-emu replay --help' for the format).")
    var trace: String?

    @Option(help: "Run this built-in scenario (see 'fbdefio-emu scenarios') under the random schedule of --seed.")
    var scenario: String?

    @Option(help: "Run a schedule saved by 'fbdefio-emu explore'.")
    var schedule: String?

    @Option(help: "Kernel variant (see 'fbdefio-emu variants'); VERSION+PATCH+… composes.")
    var variant: String = "upstream"

    @Option(help: "Seed: of the scenario's schedule, or of the run's machine.")
    var seed: UInt64 = 1

    @Option(help: "CPUs of the emulated machine (1 to 64). Default: 4 (a scenario: its own).")
    var cpus: Int?

    @Option(help: "Timer ticks per second: 100, 250, 300 or 1000. Default: 1000 for --trace, 250 for a run (a scenario: its own).")
    var hz: Int64?

    @Option(name: .customLong("delay-ms"), help: "fb_defio delay in ms. Default: 50 for --trace, the panel's for a run (a scenario: its own).")
    var delayMs: Int64?

    @Option(help: "Run: workload.")
    var workload: WorkloadKind = .console

    @Option(help: "Run: panel profile.")
    var panel: PanelProfile = PanelProfile.named("ili9341-spi32")!

    @Option(help: "Run: framebuffer size WxH (default: the panel's).")
    var resolution: String?

    @Option(help: "Run: bits per pixel, 16 or 32 (default: the panel's).")
    var bpp: Int?

    @Option(help: "Run: drawing processes, 1-16.")
    var procs: Int = 2

    @Option(help: "Run: workload frames each process draws.")
    var frames: Int = 2

    @Option(name: .customLong("print"), help: "No terminal: print the state after each of the first N events and exit.")
    var printSteps: Int?

    @Option(help: "States kept in memory around the cursor; moving outside re-runs the machine.")
    var window: Int = 2000

    func validate() throws {
        let sources = [trace, scenario, schedule].compactMap { $0 }
        guard sources.count <= 1 else { throw ValidationError("step: give at most one of --trace, --scenario, --schedule") }
        if let scenario, Scenario.named(scenario) == nil {
            throw ValidationError("--scenario: unknown scenario '\(scenario)' (see 'fbdefio-emu scenarios')")
        }
        _ = try parseVariant(variant)
        if let cpus { try FlagCheck.cpus(cpus) }
        if let hz { try FlagCheck.hz(hz) }
        if let delayMs { try FlagCheck.delayMs(delayMs) }
        if let resolution { try FlagCheck.resolution(resolution) }
        if let bpp { try FlagCheck.bpp(bpp) }
        try FlagCheck.procs(procs)
        guard (1 ... 100_000).contains(frames) else { throw ValidationError("--frames: '\(frames)' is not in 1...100000") }
        if let printSteps, printSteps < 1 { throw ValidationError("--print: '\(printSteps)' is not a positive number") }
        guard window >= 2 else { throw ValidationError("--window: '\(window)' is less than 2") }
    }

    func source() throws -> StepSource {
        let v = try parseVariant(variant)
        if let trace {
            var o = ReplayOptions()
            o.variant = v
            if let hz { o.hz = hz }
            if let cpus { o.cpus = cpus }
            if let delayMs { o.delayMilliseconds = delayMs }
            return .replay(try ReplayCLI.load(trace), o, name: (trace as NSString).lastPathComponent)
        }
        if let scenario { return .scenario(Scenario.named(scenario)!, v, seed: seed) }
        if let schedule { return .schedule(try loadSchedule(schedule, flag: "--schedule")) }
        // The run's workloads need the assets. Checked here, where their absence can be told apart from the
        // session's other errors (bad input, status 2): a machine that cannot be set up exits with 3.
        do { _ = try Assets.load() } catch { throw SetupFailure(error.message) }
        let profile = panel
        var o = DemoOptions()
        o.machine.seed = seed
        o.machine.variant = v
        if let cpus { o.machine.cpus = cpus }
        if let hz { o.machine.hz = hz }
        (o.width, o.height) = resolution.flatMap(FramebufferFlags.parseResolution) ?? (profile.width, profile.height)
        o.bpp = bpp ?? profile.defaultFramebufferBPP
        if let delayMs { o.delay = .milliseconds(delayMs) }
        o.panel = panel.name
        o.workload = workload.rawValue
        o.procs = procs
        o.frames = frames
        return .demo(o)
    }

    func run() throws {
        let session: StepSession
        do { session = try StepSession(try source(), windowSize: window, runPass: runStepPass) } catch let e as StepError {
            throw ValidationError("step: \(e)")
        }
        guard session.count > 0 else { throw ValidationError("step: the run has no kernel events") }
        if let printSteps {
            // Printing the first N only needs the first pass's window when N fits in it.
            var out = ""
            for n in 1 ... min(printSteps, session.count) {
                let lines: [String]
                do { lines = try session.screen(n, width: nil, height: nil, ansi: false) } catch {
                    throw ValidationError("step: \(error)")
                }
                out += "── step \(n) " + String(repeating: "─", count: 60) + "\n" + lines.joined(separator: "\n") + "\n"
            }
            FileHandle.standardOutput.write(Data(out.utf8))
            return
        }
        guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else {
            throw ValidationError("step: standard input and output must be a terminal (or use --print N)")
        }
        try TerminalStepper(session).loop()
    }
}

/// Runs one pass of a step session on the emulator thread and waits for it.
@Sendable func runStepPass(_ source: StepSource, _ window: ClosedRange<Int>?) -> Result<StepRun, StepError> {
    runOnEmulator { StepRunner.run(source, window: window) }
}

/// Reads a schedule file saved by explore; a failure is a usage error naming `flag`.
func loadSchedule(_ path: String, flag: String) throws -> ScheduleRecord {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        throw ValidationError("\(flag): cannot read '\(path)'")
    }
    let record: ScheduleRecord
    do { record = try ScheduleRecord(parsing: text) } catch { throw ValidationError("\(flag): \(error)") }
    guard Scenario.named(record.scenario) != nil else {
        throw ValidationError("\(flag): unknown scenario '\(record.scenario)'")
    }
    _ = try parseVariant(record.variant)
    return record
}

/// The terminal's settings before the step view made it raw, for the signal handlers that restore them.
nonisolated(unsafe) var stepTerminalSaved = termios()

/// The full-screen loop: raw-mode keys in, the whole screen redrawn after each one (and when the size changes).
final class TerminalStepper {
    let session: StepSession
    var cursor = 1
    var status = ""
    private var saved = termios()

    init(_ session: StepSession) { self.session = session }

    /// Rows and columns of the terminal (80x24 if it does not say).
    static func size() -> (rows: Int, cols: Int) {
        var w = winsize()
        if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &w) == 0, w.ws_row > 0, w.ws_col > 0 {
            return (Int(w.ws_row), Int(w.ws_col))
        }
        return (24, 80)
    }

    private func write(_ s: String) { FileHandle.standardOutput.write(Data(s.utf8)) }

    private func enterRaw() {
        tcgetattr(STDIN_FILENO, &saved)
        stepTerminalSaved = saved
        // SIGTERM or SIGHUP while the screen is raw: give the terminal back before dying.
        for sig in [SIGTERM, SIGHUP] {
            signal(sig) { sig in
                var t = stepTerminalSaved
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &t)
                let reset = "\u{1B}[?25h\u{1B}[?1049l"
                _ = reset.withCString { Glibc.write(STDOUT_FILENO, $0, strlen($0)) }
                signal(sig, SIG_DFL)
                raise(sig)
            }
        }
        var raw = saved
        // ISIG off too: Ctrl-C arrives as a key (3) and quits through the same path as q.
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO | IEXTEN | ISIG)
        raw.c_iflag &= ~tcflag_t(IXON | ICRNL)
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw)
        write("\u{1B}[?1049h\u{1B}[?25l")  // alternate screen, cursor hidden
    }

    private func leaveRaw() {
        write("\u{1B}[?25h\u{1B}[?1049l")
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
    }

    private func draw() throws {
        let (rows, cols) = Self.size()
        let lines = try session.screen(cursor, width: cols, height: rows, ansi: true, status: status)
        write("\u{1B}[H" + lines.map { $0 + "\u{1B}[K" }.joined(separator: "\r\n") + "\u{1B}[J")
    }

    /// Set when the terminal went away (hangup, end of input): the loop ends.
    private var hungUp = false

    /// The next key, or nil when none came within 0.2 s (so that a resize is redrawn soon) or the terminal hung up.
    private func readKey() -> UInt8? {
        var fds = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
        let n = poll(&fds, 1, 200)
        if n < 0 {
            if errno != EINTR { hungUp = true }
            return nil
        }
        if n == 0 { return nil }
        if fds.revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0 && fds.revents & Int16(POLLIN) == 0 {
            hungUp = true
            return nil
        }
        var b: UInt8 = 0
        let got = read(STDIN_FILENO, &b, 1)
        if got == 1 { return b }
        if got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN) { hungUp = true }
        return nil
    }

    /// Reads a line in the status row (digits or text) until Enter; nil on Escape.
    private func prompt(_ label: String) throws -> String? {
        var text = ""
        while true {
            status = label + text + "_"
            try draw()
            guard let k = readKey() else {
                if hungUp { return nil }
                continue
            }
            switch k {
            case 13, 10: status = ""; return text
            case 27: status = ""; return nil
            case 127, 8: if !text.isEmpty { text.removeLast() }
            default: if k >= 32 && k < 127 { text.append(Character(UnicodeScalar(k))) }
            }
        }
    }

    func loop() throws {
        enterRaw()
        defer { leaveRaw() }
        var lastSize = Self.size()
        try draw()
        while true {
            guard let k = readKey() else {
                if hungUp { return }
                let now = Self.size()
                if now != lastSize {
                    lastSize = now
                    try draw()
                }
                continue
            }
            status = ""
            switch k {
            case UInt8(ascii: "q"), 3: return
            case UInt8(ascii: "n"), UInt8(ascii: " "), 13:
                if cursor < session.count { cursor += 1 } else { status = "the last event: \(session.count)" }
            case UInt8(ascii: "b"):
                if cursor > 1 { cursor -= 1 } else { status = "the first event" }
            case UInt8(ascii: "f"):
                if let n = session.next(after: cursor, where: { $0.kind == .fault }) { cursor = n } else {
                    status = "no fault after event \(cursor)"
                }
            case UInt8(ascii: "w"):
                if let n = session.next(after: cursor, where: { self.session.isWorkerPassStart($0.number) }) {
                    cursor = n
                } else {
                    status = "no worker pass after event \(cursor)"
                }
            case UInt8(ascii: "g"):
                if let text = try prompt("go to event (1-\(session.count)): ") {
                    if let n = Int(text), (1 ... session.count).contains(n) { cursor = n } else {
                        status = "'\(text)' is not an event number in 1...\(session.count)"
                    }
                }
            case UInt8(ascii: "/"):
                if let text = try prompt("search event kind: "), !text.isEmpty {
                    let t = text.lowercased()
                    if let n = session.next(after: cursor, where: { $0.kind.rawValue.contains(t) }) { cursor = n } else {
                        status = "no '\(text)' event after event \(cursor)"
                    }
                }
            case 27:
                // Arrow keys: ESC [ C (right) next, ESC [ D (left) back.
                if readKey() == UInt8(ascii: "["), let a = readKey() {
                    if a == UInt8(ascii: "C"), cursor < session.count { cursor += 1 }
                    if a == UInt8(ascii: "D"), cursor > 1 { cursor -= 1 }
                }
            default:
                status = "keys: n/space next  b back  f fault  w worker pass  g go to  / search  q quit"
            }
            try draw()
        }
    }
}
