import Foundation
import Testing

/// Runs programs other than the built binary, in a chosen directory and environment.
enum Host {
    /// The package's root, where the Makefile is.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Runs `exe ARGS` in `directory`, with the environment less `unset` and with `set`.
    static func run(_ exe: URL, _ args: [String], in directory: URL, unset: [String] = [],
                    set: [String: String] = [:]) throws -> CLI.Result {
        try CLI.run(args, executable: exe, environment: set, unset: unset, directory: directory)
    }

    /// `make ARGS` in the package's root.
    static func make(_ args: [String]) throws -> CLI.Result {
        try run(URL(fileURLWithPath: "/usr/bin/env"), ["make", "--no-print-directory"] + args, in: root)
    }

    static func tempDir(_ tag: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fbdefio-\(tag)-\(getpid())-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}

/// `make install` lays the binary, its assets and exec's preload library out under PREFIX, and the binary finds them
/// there from any directory. The build is the tests' own (install-files is what `make install` runs after building
/// in release), so that the test does not wait for a release build.
@Suite struct InstallCLITests {
    @Test func anInstalledBinaryFindsItsAssetsFromAnyDirectory() throws {
        let dir = try Host.tempDir("install")
        defer { try? FileManager.default.removeItem(at: dir) }
        let prefix = dir.appendingPathComponent("prefix")
        let bin = CLI.binary.deletingLastPathComponent().path
        let install = try Host.make(["install-files", "BIN=\(bin)", "PREFIX=\(prefix.path)"])
        #expect(install.status == 0, "\(install.stdout)\(install.stderr)")
        let exe = prefix.appendingPathComponent("bin/fbdefio-emu")
        for file in ["share/fbdefio-emu/fonts/Lat15-Terminus16.psf", "share/fbdefio-emu/images/landscape.ppm",
                     "lib/fbdefio-emu/libfbdefio-preload.so"] {
            #expect(FileManager.default.fileExists(atPath: prefix.appendingPathComponent(file).path), "\(file)")
        }
        // Away from the package, so that only the installed assets can be found.
        let elsewhere = dir.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        for workload in ["console", "cursor"] {
            let r = try Host.run(exe, ["--headless", "--frames", "3", "--workload", workload], in: elsewhere,
                                 unset: ["FBDEFIO_ASSETS"])
            #expect(r.status == 0, "\(workload): \(r.stderr)")
            #expect(r.stdout.contains("checker: panel == framebuffer == reference"), "\(workload)")
        }
        let probe = CLI.binary.deletingLastPathComponent().appendingPathComponent("fbexec-probe").path
        let exec = try Host.run(exe, ["exec", "--headless", "--tracking", "mprotect", "--", probe], in: elsewhere,
                                unset: ["FBDEFIO_PRELOAD"])
        #expect(exec.status == 0, "\(exec.stdout)\(exec.stderr)")
        // Found in PATH, as an installed binary is: explore's child processes are this binary all the same.
        let path = prefix.appendingPathComponent("bin").path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "")
        let explore = try Host.run(URL(fileURLWithPath: "/usr/bin/env"),
                                   ["fbdefio-emu", "explore", "--variant", "upstream+worker-page-lock", "--schedules",
                                    "100", "--jobs", "2"], in: elsewhere, set: ["PATH": path])
        #expect(explore.status == 0, "\(explore.stdout)\(explore.stderr)")
        #expect(explore.stdout.contains("no violation in 100 schedules"))

        let uninstall = try Host.make(["uninstall", "PREFIX=\(prefix.path)"])
        #expect(uninstall.status == 0, "\(uninstall.stderr)")
        for file in ["bin/fbdefio-emu", "share/fbdefio-emu", "lib/fbdefio-emu"] {
            #expect(!FileManager.default.fileExists(atPath: prefix.appendingPathComponent(file).path), "\(file)")
        }
    }

    @Test func destdirStagesTheInstall() throws {
        let dir = try Host.tempDir("destdir")
        defer { try? FileManager.default.removeItem(at: dir) }
        let bin = CLI.binary.deletingLastPathComponent().path
        let r = try Host.make(["install-files", "BIN=\(bin)", "DESTDIR=\(dir.path)", "PREFIX=/opt/fbdefio"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let staged = dir.appendingPathComponent("opt/fbdefio")
        let exe = staged.appendingPathComponent("bin/fbdefio-emu")
        #expect(FileManager.default.isExecutableFile(atPath: exe.path))
        let run = try Host.run(exe, ["--headless", "--frames", "2"], in: dir, unset: ["FBDEFIO_ASSETS"])
        #expect(run.status == 0, "\(run.stderr)")
    }
}
