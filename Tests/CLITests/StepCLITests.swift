// SPDX-License-Identifier: MIT — `fbdefio-emu step` in a real terminal (tmux: send-keys, capture-pane) over the
// scenario-7 trace, and the `--walkthrough` page in headless Chromium with the network off. tmux and chromium are
// installed with apt-get when missing (as root); where they cannot be, the test is skipped with the reason printed.
// Set FBDEFIO_TEST_ARTIFACTS=DIR to keep the pane captures, the page and its screenshot.
import Foundation
import Testing
import TestSupport

/// A program run to its end with a time limit (SIGKILL past it). posix_spawn and waitpid, not Foundation's Process:
/// a tmux client that forks its server and exits must be reaped at once, and the child gets an empty signal mask
/// (test threads block most signals, and posix_spawn would hand that mask down).
func runTool(_ exe: String, _ args: [String], timeout: Double = 60, environment: [String: String] = [:]) throws
    -> (status: Int32, out: String, err: String) {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("fbdefio-tool-\(UUID().uuidString)").path
    let outPath = base + ".out", errPath = base + ".err"
    defer {
        try? FileManager.default.removeItem(atPath: outPath)
        try? FileManager.default.removeItem(atPath: errPath)
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attr, &empty)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK))
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    let argv = ([exe] + args).map { strdup($0) } + [nil]
    let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, exe, &actions, &attr, argv, envp)
    guard rc == 0 else { throw SkipReason(text: "cannot start \(exe): errno \(rc)") }
    let deadline = Date().addingTimeInterval(timeout)
    var status: Int32 = 0
    while waitpid(pid, &status, WNOHANG) == 0 {
        if Date() > deadline {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
            break
        }
        usleep(5_000)
    }
    let code = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    return (code, (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
}

struct SkipReason: Error { let text: String }

enum StepTools {
    static let tmux = locateOrInstall("tmux", package: "tmux", for: "StepCLITests")
    static let chromium = locateOrInstall("chromium", package: "chromium", for: "StepCLITests")

    static func require(_ r: Result<String, ToolUnavailable>, _ test: String) throws -> String {
        switch r {
        case .success(let path): return path
        case .failure(let why):
            print("StepCLITests.\(test): skipped: \(why.reason)")
            try Test.cancel("skipped: \(why.reason)")
        }
    }
}

/// A tmux server of this test alone (its own socket), running one program in a pane of a fixed size.
final class TmuxPane {
    let tmux: String
    let socket = "fbdefio-step-\(getpid())-\(UInt32.random(in: 0 ... .max))"

    init(tmux: String, command: String, width: Int, height: Int) throws {
        self.tmux = tmux
        let r = try runTool(tmux, ["-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", "step",
                                   "-x", String(width), "-y", String(height), command], timeout: 20)
        guard r.status == 0 else { throw SkipReason(text: "tmux new-session failed: \(r.err)") }
    }

    func capture(escapes: Bool = false) throws -> String {
        try runTool(tmux, ["-L", socket, "capture-pane", "-p", "-t", "step"] + (escapes ? ["-e"] : []), timeout: 10).out
    }

    /// The pane now, for failure messages.
    var screen: String { (try? capture()) ?? "(no capture)" }

    func keys(_ keys: String...) throws {
        _ = try runTool(tmux, ["-L", socket, "send-keys", "-t", "step"] + keys, timeout: 10)
    }

    /// The pane once it shows `marker` and has stopped changing; nil after `timeout` seconds.
    func waitFor(_ marker: String, timeout: Double = 30) throws -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        var last = ""
        while Date() < deadline {
            let now = try capture()
            if now.contains(marker) && now == last { return now }
            last = now
            usleep(30_000)
        }
        return nil
    }

    var alive: Bool {
        (try? runTool(tmux, ["-L", socket, "has-session", "-t", "step"], timeout: 10).status) == 0
    }

    /// Ends this test's own tmux server (and the program in it).
    func stop() { _ = try? runTool(tmux, ["-L", socket, "kill-server"], timeout: 10) }
}

@Suite(.serialized) struct StepCLITests {
    static let goldens = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("LabTests/Goldens")
    static let trace = goldens.appendingPathComponent("two-procs-one-page.trace").path
    static var artifacts: String? { ProcessInfo.processInfo.environment["FBDEFIO_TEST_ARTIFACTS"] }

    /// Page 0's PTE in proc0's and proc1's page tables after each event of the scenario-7 trace ("" once the
    /// process has exited or not mapped yet). The stepping below must show exactly these grids.
    static let expectedGrid: [[String]] = {
        var g: [[String]] = []
        g.append(["."])                                              // 1 mmap (proc0)
        g += Array(repeating: [".", "."], count: 7)                  // 2 mmap (proc1) … 8 page-mkwrite
        g += Array(repeating: ["wD", "."], count: 6)                 // 9 proc0's PTE set … 14 proc1's page-mkwrite
        g += Array(repeating: ["wD", "wD"], count: 2)                // 15 proc1's PTE set, 16
        g += Array(repeating: [".", "wD"], count: 2)                 // 17 shootdown, 18 flush: proc0's PTE cleared
        g += Array(repeating: ["ry", "wD"], count: 1)                // 19 proc0 write-protected
        g += Array(repeating: ["ry", "."], count: 2)                 // 20, 21 proc1's PTE cleared
        g += Array(repeating: ["ry", "ry"], count: 9)                // 22 proc1 write-protected … 30 page-mkwrite
        g += Array(repeating: ["wD", "ry"], count: 5)                // 31 proc0 writable again … 35
        g += Array(repeating: ["wD", "wD"], count: 2)                // 36 proc1 writable again, 37
        g += Array(repeating: [".", "wD"], count: 2)                 // 38, 39
        g += Array(repeating: ["ry", "wD"], count: 1)                // 40
        g += Array(repeating: ["ry", "."], count: 2)                 // 41, 42
        g += Array(repeating: ["ry", "ry"], count: 4)                // 43 … 46 list cleared
        g += Array(repeating: ["ry", "ry"], count: 1)                // 47 proc0's exit starts
        g += Array(repeating: ["ry"], count: 3)                      // 48 its VMA is gone, its PTE zapped … 50
        g += Array(repeating: [], count: 3)                          // 51 proc1's too … 53
        return g
    }()

    /// The PTE cells of page 0 on a screen, per mapping ("pg    0 wD " lines).
    static func grid(_ screen: String) -> [String] {
        screen.split(separator: "\n").filter { $0.hasPrefix("  pg    0 ") }.map {
            String($0.dropFirst(10).prefix(2)).trimmingCharacters(in: .whitespaces)
        }
    }

    @Test func printMatchesTheGoldenAndIsDeterministic() throws {
        let a = try CLI.run(["step", "--trace", Self.trace, "--print", "53"])
        #expect(a.status == 0, "\(a.stderr)")
        let file = Self.goldens.appendingPathComponent("two-procs-one-page.step")
        if ProcessInfo.processInfo.environment["RECORD_SNAPSHOTS"] == "1" {
            try a.stdout.write(to: file, atomically: true, encoding: .utf8)
        }
        #expect(a.stdout == (try String(contentsOf: file, encoding: .utf8)), "step --print differs from the golden")
        let b = try CLI.run(["step", "--trace", Self.trace, "--print", "53", "--window", "3"])
        #expect(b.stdout == a.stdout, "a window of 3 states (re-running the machine) printed something else")
        // The grids of the golden are the ones the terminal test expects.
        let steps = a.stdout.components(separatedBy: "── step ").dropFirst()
        #expect(steps.map { Self.grid(String($0)) } == Self.expectedGrid)
    }

    @Test(arguments: [
        (["step", "--scenario", "nope"], "--scenario"),
        (["step", "--trace", "/nonexistent/trace"], "TRACE"),
        (["step", "--trace", "x", "--scenario", "wp-race"], "at most one"),
        (["step", "--print", "0"], "--print"),
        (["step", "--schedule", "/nonexistent/s"], "--schedule"),
        (["step"], "terminal"),
        (["replay", "/nonexistent", "--walkthrough", "/tmp/x.html"], "TRACE"),
    ])
    func badInputExitsTwoWithOneLine(args: [String], named: String) throws {
        let r = try CLI.run(args)
        #expect(r.status == 2, "\(args): \(r.stderr)")
        #expect(r.stderr.split(separator: "\n").first?.contains(named) == true, "\(args): \(r.stderr)")
    }

    /// The full-screen view in tmux: the exact grid after each step forward, then every step back (with a window
    /// of 4 states, so going back re-runs the machine) gives back the identical screen; then f, w, g, / and q.
    @Test func terminalViewInTmux() throws {
        let tmux = try StepTools.require(StepTools.tmux, "terminalViewInTmux")
        let command = "'\(CLI.binary.path)' step --trace '\(Self.trace)' --window 4"
        let pane = try TmuxPane(tmux: tmux, command: command, width: 132, height: 50)
        defer { pane.stop() }
        var screens: [String] = []
        let first = try #require(try pane.waitFor("event 1/53"), "the view did not start: \(pane.screen)")
        screens.append(first)
        for n in 2 ... 53 {
            try pane.keys(n % 2 == 0 ? "n" : "Space")
            screens.append(try #require(try pane.waitFor("event \(n)/53 "), "no step \(n): \(pane.screen)"))
        }
        for (i, s) in screens.enumerated() {
            #expect(Self.grid(s) == Self.expectedGrid[i], "step \(i + 1):\n\(s)")
        }
        // The cell that changed is drawn in reverse video (proc0's PTE at step 9 became writable).
        try pane.keys("g")
        _ = try pane.waitFor("go to event")
        try pane.keys("9", "Enter")
        _ = try #require(try pane.waitFor("event 9/53 "))
        let colours = try pane.capture(escapes: true)
        #expect(colours.contains("\u{1B}[7mwD"), "no highlighted cell at step 9:\n\(colours)")
        try pane.keys("g")
        _ = try pane.waitFor("go to event")
        try pane.keys("5", "3", "Enter")
        _ = try #require(try pane.waitFor("event 53/53 "))
        for n in stride(from: 52, through: 1, by: -1) {
            try pane.keys("b")
            let s = try #require(try pane.waitFor("event \(n)/53 "), "no step back to \(n): \(pane.screen)")
            #expect(s == screens[n - 1], "step \(n) going back differs from going forward")
        }
        try pane.keys("f")
        #expect(try pane.waitFor("event 3/53 ")?.contains("[fault]") == true)
        try pane.keys("w")
        #expect(try pane.waitFor("event 17/53 ")?.contains("(worker)") == true)
        try pane.keys("/")
        _ = try pane.waitFor("search event kind")
        try pane.keys("d", "e", "f", "i", "o", "-", "b", "Enter")
        #expect(try pane.waitFor("event 24/53 ")?.contains("[defio-batch]") == true)
        if let dir = Self.artifacts {
            try? (screens.enumerated().map { "── step \($0.offset + 1)\n\($0.element)" }.joined(separator: "\n"))
                .write(toFile: "\(dir)/step-tmux.txt", atomically: true, encoding: .utf8)
            try? pane.capture(escapes: true).write(toFile: "\(dir)/step-tmux-ansi.txt", atomically: true, encoding: .utf8)
        }
        // A smaller terminal: the screen is redrawn to fit it, the keys line last.
        _ = try runTool(tmux, ["-L", pane.socket, "resize-window", "-t", "step", "-x", "72", "-y", "30"], timeout: 10)
        // (tmux may apply the width and the height one after the other: wait for the last redraw to settle.)
        var small = "", previous = ""
        let until = Date().addingTimeInterval(10)
        while Date() < until {
            small = pane.screen
            let lines = small.split(separator: "\n")
            if small == previous, small.contains("event 24/53 "), lines.allSatisfy({ $0.count <= 72 }),
               lines.last?.hasPrefix("keys: n/space") == true { break }
            previous = small
            usleep(100_000)
        }
        let lines = small.split(separator: "\n").map(String.init)
        #expect(lines.allSatisfy { $0.count <= 72 }, "a line wider than the pane:\n\(small)")
        #expect(lines.last?.hasPrefix("keys: n/space") == true, "no keys line at the bottom:\n\(small)")
        #expect(small.contains("event 24/53 "))
        try pane.keys("q")
        let deadline = Date().addingTimeInterval(10)
        while pane.alive && Date() < deadline { usleep(50_000) }
        #expect(!pane.alive, "q did not end the view")
    }

    /// Ctrl-C quits like q, and the shell after it gets its terminal back (canonical mode, echo on).
    @Test func controlCRestoresTheTerminal() throws {
        let tmux = try StepTools.require(StepTools.tmux, "controlCRestoresTheTerminal")
        let command = "'\(CLI.binary.path)' step --trace '\(Self.trace)'; echo \"status=$?\"; stty -a; sleep 30"
        let pane = try TmuxPane(tmux: tmux, command: command, width: 100, height: 40)
        defer { pane.stop() }
        _ = try #require(try pane.waitFor("event 1/53"), "the view did not start: \(pane.screen)")
        try pane.keys("C-c")
        let after = try #require(try pane.waitFor("status="), "Ctrl-C did not end the view: \(pane.screen)")
        #expect(after.contains("status=0"))
        let words = Set(after.split { $0 == " " || $0 == "\n" || $0 == ";" }.map(String.init))
        #expect(words.contains("icanon") && words.contains("echo") && words.contains("isig"),
                "the terminal is still raw:\n\(after)")
    }

    /// The page of a replay, in headless Chromium with no network: after stepping to event 9 (by #step=9) proc0's
    /// PTE of page 0 is writable and dirty and marked changed, proc1's not present; at event 22 both are read-only.
    @Test func walkthroughInHeadlessChromium() throws {
        let chromium = try StepTools.require(StepTools.chromium, "walkthroughInHeadlessChromium")
        let dir = Self.artifacts ?? FileManager.default.temporaryDirectory.appendingPathComponent("fbdefio-step-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let page = "\(dir)/walkthrough.html"
        let r = try CLI.run(["replay", Self.trace, "--walkthrough", page])
        #expect(r.status == 0, "\(r.stderr)")
        let html = try String(contentsOfFile: page, encoding: .utf8)
        // Self-contained: nothing to fetch (no URL with a scheme; images are data: URIs).
        #expect(!html.contains("://"), "the page names a URL")
        #expect(!html.contains("<link"), "the page links a resource")
        #expect(!html.contains("<script src"), "the page loads a script")
        // Network off: in a network namespace of its own when unshare can make one, and through a dead proxy.
        var exe = chromium, prefix: [String] = []
        if let unshare = which("unshare"), (try? runTool(unshare, ["-n", "true"], timeout: 10).status) == 0 {
            exe = unshare
            prefix = ["-n", chromium]
        }
        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
                     "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
                     "--host-resolver-rules=MAP * ~NOTFOUND", "--user-data-dir=\(dir)/chromium-profile"]
        func dom(_ step: Int, press: String? = nil) throws -> String {
            let url = "file://\(page)#step=\(step)" + (press.map { "&press=\($0)" } ?? "")
            let out = try runTool(exe, prefix + flags + ["--dump-dom", url], timeout: 120)
            return out.out
        }
        /// The cells of page 0, per mapping: (state, changed).
        func cells(_ dom: String) -> [(String, Bool)] {
            let pattern = try! NSRegularExpression(pattern: #"<span class="cell( chg)?" data-page="0" data-state="([^"]*)""#)
            return pattern.matches(in: dom, range: NSRange(dom.startIndex..., in: dom)).map { m in
                (String(dom[Range(m.range(at: 2), in: dom)!]), m.range(at: 1).location != NSNotFound)
            }
        }
        let at9 = try dom(9)
        #expect(at9.contains("data-ready=\"1\""), "the page did not finish loading:\n\(at9.prefix(2000))")
        #expect(at9.contains("data-step=\"9\""))
        let c9 = cells(at9)
        #expect(c9.map(\.0) == ["wD", "."], "\(c9)")
        #expect(c9.map(\.1) == [true, false], "\(c9)")
        #expect(at9.contains("pte-set"))
        let c22 = cells(try dom(22))
        #expect(c22.map(\.0) == ["ry", "ry"], "\(c22)")
        #expect(c22.map(\.1) == [false, true], "\(c22)")
        // The keys: from event 1, eight times → is event 9; then f (the next fault) is event 11, ← back to 10.
        let keys = try dom(1, press: "ArrowRight,ArrowRight,ArrowRight,ArrowRight,ArrowRight,ArrowRight,ArrowRight,ArrowRight")
        #expect(keys.contains("data-step=\"9\""), "eight → from event 1 did not reach event 9")
        #expect(cells(keys).map(\.0) == ["wD", "."])
        #expect(try dom(9, press: "f").contains("data-step=\"11\""))
        #expect(try dom(11, press: "ArrowLeft").contains("data-step=\"10\""))
        #expect(try dom(1, press: "w").contains("data-step=\"17\""))
        let shot = "\(dir)/walkthrough-step22.png"
        _ = try runTool(exe, prefix + flags + ["--hide-scrollbars", "--window-size=1280,1400", "--screenshot=\(shot)",
                                              "file://\(page)#step=22"], timeout: 120)
        let png = try #require(FileManager.default.contents(atPath: shot), "no screenshot")
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 10_000, "screenshot is not a PNG of the page")
        if Self.artifacts == nil { try? FileManager.default.removeItem(atPath: dir) }
    }
}
