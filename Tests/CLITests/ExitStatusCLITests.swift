import Foundation
import Testing

/// The exit statuses every command keeps to: 0 success, 1 a check failed or a violation was found, 2 bad usage or
/// bad input, 3 the machine could not be set up.
@Suite struct ExitStatusCLITests {
    /// A copy of the built binary alone in a temporary folder: no assets above it or in ../share/fbdefio-emu, no
    /// preload library beside it or in ../lib/fbdefio-emu.
    func loneBinary() throws -> (dir: URL, exe: URL) {
        let dir = try Host.tempDir("lone")
        let bin = dir.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let exe = bin.appendingPathComponent("fbdefio-emu")
        try FileManager.default.copyItem(at: CLI.binary, to: exe)
        return (dir, exe)
    }

    static let unset = ["FBDEFIO_ASSETS", "FBDEFIO_PRELOAD"]

    /// One line on stderr, nothing on stdout.
    func expectOneLine(_ r: CLI.Result, status: Int32, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == status, "\(r.stdout)\(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stdout.isEmpty, "\(r.stdout)", sourceLocation: sourceLocation)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(r.stderr)", sourceLocation: sourceLocation)
        #expect(lines.first?.hasPrefix("fbdefio-emu: ") == true && r.stderr.contains(text), "\(r.stderr)",
                sourceLocation: sourceLocation)
    }

    @Test func missingAssetsExitThree() throws {
        let (dir, exe) = try loneBinary()
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = "assets: no fonts/Lat15-Terminus16.psf in \(dir.path)/share/fbdefio-emu nor in an Assets folder"
        for args in [["--headless", "--frames", "3"], ["--headless", "--workload", "plasma"], ["step", "--print", "1"]] {
            let r = try Host.run(exe, args, in: dir, unset: Self.unset)
            expectOneLine(r, status: 3, missing)
        }
        // exec's preload library beside it, so that the assets are what is missing.
        let lib = CLI.binary.deletingLastPathComponent().appendingPathComponent("libfbdefio-preload.so")
        try FileManager.default.copyItem(at: lib, to: exe.deletingLastPathComponent().appendingPathComponent(lib.lastPathComponent))
        let probe = CLI.binary.deletingLastPathComponent().appendingPathComponent("fbexec-probe").path
        let exec = try Host.run(exe, ["exec", "--headless", "--workload", "plasma", "--", probe], in: dir,
                                unset: Self.unset)
        expectOneLine(exec, status: 3, missing)
        // What needs no assets still runs.
        #expect(try Host.run(exe, ["boot", "--procs", "2"], in: dir, unset: Self.unset).status == 0)
        #expect(try Host.run(exe, ["panels"], in: dir, unset: Self.unset).status == 0)
    }

    @Test func aMissingPreloadLibraryExitsThree() throws {
        let (dir, exe) = try loneBinary()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try Host.run(exe, ["exec", "--headless", "--", "/bin/true"], in: dir, unset: Self.unset)
        expectOneLine(r, status: 3, "exec: libfbdefio-preload.so not found")
    }

    /// A window SDL cannot open is a host facility missing.
    @Test func aWindowThatCannotOpenExitsThree() throws {
        for args in [["--frames", "2"], ["exec", "--", "/bin/true"]] {
            let r = try Host.run(CLI.binary, args, in: Host.root, set: ["SDL_VIDEODRIVER": "no-such-driver"])
            expectOneLine(r, status: 3, "cannot start SDL video")
        }
    }

    /// Assets the environment points at wrongly cannot be set up (3); a wrong `--assets DIR` is bad input (2).
    @Test func wrongAssetFolders() throws {
        let env = try Host.run(CLI.binary, ["--headless", "--frames", "2"], in: Host.root,
                               set: ["FBDEFIO_ASSETS": "/nonexistent/assets"])
        expectOneLine(env, status: 3, "FBDEFIO_ASSETS='/nonexistent/assets' is not an assets folder")
        for args in [["--headless", "--assets", "/nonexistent/assets"],
                     ["exec", "--assets", "/nonexistent/assets", "--", "/bin/true"]] {
            let flag = try CLI.run(args)
            #expect(flag.status == 2)
            #expect(flag.stderr.hasPrefix("fbdefio-emu: Error: --assets: '/nonexistent/assets' is not an assets folder"),
                    "\(flag.stderr)")
        }
    }

    @Test func aFoundViolationExitsOne() throws {
        let dir = try Host.tempDir("violation")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try CLI.run(["explore", "--variant", "upstream", "--schedules", "200", "--seed", "1", "--jobs", "1",
                             "--out", dir.appendingPathComponent("h.schedule").path])
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("violation in schedule"))
    }

    @Test(arguments: [
        (["--hz", "7"], 2),
        (["--headless", "--frames", "many"], 2),
        (["explore", "--schedules", "0"], 2),
        (["replay", "/nonexistent/trace"], 2),
        (["replay-schedule", "/nonexistent/schedule"], 2),
        (["exec", "--headless", "--", "/nonexistent/program"], 2),
        (["panels"], 0),
        (["explore", "--variant", "upstream+worker-page-lock", "--schedules", "20", "--jobs", "1"], 0),
    ])
    func statuses(args: [String], status: Int) throws {
        let r = try CLI.run(args)
        #expect(Int(r.status) == status, "\(r.stdout)\(r.stderr)")
        if status == 2 { #expect(r.stdout.isEmpty && r.stderr.hasPrefix("fbdefio-emu: ")) }
    }

    /// A malformed trace: its line on stderr, status 2.
    @Test func aMalformedTraceExitsTwo() throws {
        let r = try CLI.run(["replay", "-"], stdin: "proc 0 jump 0\n")
        #expect(r.status == 2)
        #expect(r.stdout.isEmpty && r.stderr.hasPrefix("line 1: "), "\(r.stderr)")
    }
}
