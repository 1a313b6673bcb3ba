import Foundation
import Testing

/// Runs the built `fbdefio-emu` binary (it sits next to the test bundle in the build folder).
struct CLI {
    static var binary: URL {
        let exe = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0])
        return exe.deletingLastPathComponent().appendingPathComponent("fbdefio-emu")
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `executable ARGS` (the built binary unless told otherwise), in `directory` if given, with the
    /// environment less `unset` and with `environment`, feeding it `stdin` if given.
    static func run(_ args: [String], stdin: String? = nil, executable: URL? = nil,
                    environment: [String: String] = [:], unset: [String] = [], directory: URL? = nil) throws -> Result {
        let p = Process()
        p.executableURL = executable ?? binary
        p.arguments = args
        if let directory { p.currentDirectoryURL = directory }
        if !environment.isEmpty || !unset.isEmpty {
            var env = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            for k in unset { env[k] = nil }
            p.environment = env
        }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        if let stdin {
            let inPipe = Pipe()
            p.standardInput = inPipe
            try p.run()
            inPipe.fileHandleForWriting.write(Data(stdin.utf8))
            try inPipe.fileHandleForWriting.close()
        } else {
            p.standardInput = FileHandle.nullDevice
            try p.run()
        }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                      stderr: String(decoding: e, as: UTF8.self))
    }

    /// The value of "key: value" or "key=value" in a summary.
    static func field(_ text: String, _ key: String) -> String? {
        for line in text.split(separator: "\n") {
            for part in line.split(separator: " ") where part.hasPrefix(key + "=") {
                return String(part.dropFirst(key.count + 1))
            }
        }
        return nil
    }
}

@Suite struct CLITests {
    @Test func helpDescribesTheProgram() throws {
        let r = try CLI.run(["--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("fb_defio"))
        #expect(r.stdout.contains("run (default)"))
        let run = try CLI.run(["run", "--help"])
        #expect(run.status == 0)
        #expect(run.stdout.contains("--seed"))
    }

    @Test(arguments: [
        (["--bogus"], "--bogus"),
        (["--hz", "7"], "--hz"),
        (["--procs", "0"], "--procs"),
        (["boot", "--procs", "0"], "--procs"),
        (["--headless", "--resolution", "320by240"], "--resolution"),
        (["--headless", "--bpp", "24"], "--bpp"),
        (["--headless", "--panel", "vt100"], "--panel"),
        (["--headless", "--workload", "doom"], "--workload"),
        (["--headless", "--delay-ms", "10", "--delay-jiffies", "3"], "--delay-ms"),
        (["--headless", "--frames", "0"], "--frames"),
        (["--headless", "--duration", "-1"], "--duration"),
        (["--headless", "--procs", "99"], "--procs"),
        (["--headless", "--scale", "9"], "--scale"),
        (["--headless", "--hold"], "--hold"),
        (["--switch-ratio", "3/2"], "--switch-ratio"),
        (["--policy", "fifo"], "fifo"),
        (["--replay-schedule", "/nonexistent/schedule"], "--replay-schedule"),
        (["--headless", "--cpus", "0"], "--cpus"),
        (["boot", "--cpus", "65"], "--cpus"),
        (["replay", "--cpus", "0", "-"], "--cpus"),
    ])
    func badInputExitsTwoNamingTheFlag(args: [String], named: String) throws {
        let r = try CLI.run(args)
        #expect(r.status == 2)
        #expect(r.stderr.contains(named))
        #expect(r.stdout.isEmpty)
    }

    /// On one CPU the seed picks the interleaving; on several, where each process has a CPU of its own, the clocks
    /// order them and the run is the same whatever the seed.
    @Test func theSameSeedGivesTheSameRunAndOtherSeedsDiffer() throws {
        let a = try CLI.run(["boot", "--seed", "5", "--procs", "3", "--cpus", "1"])
        let b = try CLI.run(["boot", "--seed", "5", "--procs", "3", "--cpus", "1"])
        let c = try CLI.run(["boot", "--seed", "6", "--procs", "3", "--cpus", "1"])
        let smp = try CLI.run(["boot", "--seed", "5", "--procs", "3"])
        let smpAgain = try CLI.run(["boot", "--seed", "5", "--procs", "3"])
        #expect(smp.status == 0 && smp.stdout == smpAgain.stdout)
        #expect(a.status == 0)
        #expect(a.stdout == b.stdout)
        #expect(CLI.field(a.stdout, "faults") != nil)
        #expect(a.stdout.contains("event hash:"))
        let hashA = a.stdout.split(separator: "\n").first { $0.hasPrefix("event hash") }
        let hashC = c.stdout.split(separator: "\n").first { $0.hasPrefix("event hash") }
        #expect(hashA != hashC)
    }

    /// Determinism rests on every job after boot being enqueued from the emulator thread.
    @Test func nothingIsEnqueuedFromAnotherThreadDuringARun() throws {
        for policy in ["random", "rr"] {
            let r = try CLI.run(["boot", "--policy", policy, "--procs", "6"])
            #expect(r.status == 0)
            #expect(CLI.field(r.stdout, "foreign_enqueues") == "0")
        }
    }

    @Test func aRecordedScheduleReplaysToTheSameTrace() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fbdefio-cli-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("run.schedule").path
        let live = try CLI.run(["boot", "--seed", "11", "--procs", "4", "--record-schedule", file])
        #expect(live.status == 0)
        // Replayed under the round-robin policy, the recorded decisions still rule.
        let replay = try CLI.run(["boot", "--seed", "11", "--procs", "4", "--policy", "rr", "--replay-schedule", file])
        #expect(replay.status == 0)
        let hash = { (s: String) in s.split(separator: "\n").first { $0.hasPrefix("event hash") } }
        #expect(hash(live.stdout) != nil)
        #expect(hash(live.stdout) == hash(replay.stdout))
    }
}
