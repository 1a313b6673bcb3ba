import Foundation
import Testing

/// The demo through the real binary, headless.
@Suite struct RunCLITests {
    func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fbdefio-run-\(getpid())-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func headlessRunChecksWritesPNGsAndIsDeterministic() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let args = ["--headless", "--workload", "sprites", "--frames", "8", "--seed", "4", "--png-out", dir.path,
                    "--png-every", "1"]
        let a = try CLI.run(args)
        #expect(a.status == 0, "\(a.stderr)")
        #expect(a.stdout.contains("checker: panel == framebuffer == reference"))
        #expect(a.stdout.contains("panel: "))
        // The host's own speed is reported on stderr, so that stdout stays the same from run to run.
        #expect(a.stderr.contains("host: ") && a.stderr.contains("frames/s") && a.stderr.contains("per fault"))
        #expect(!a.stdout.contains("host: "))
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(files.contains("final.png"))
        #expect(files.filter { $0.hasPrefix("update-") }.count >= 1)
        let png = try Data(contentsOf: dir.appendingPathComponent("final.png"))
        #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let b = try CLI.run(args)
        #expect(a.stdout == b.stdout)
        let c = try CLI.run(["--headless", "--workload", "sprites", "--frames", "8", "--seed", "5"])
        let hash = { (s: String) in s.split(separator: "\n").first { $0.hasPrefix("event hash") } }
        #expect(hash(a.stdout) != hash(c.stdout))
    }

    @Test func flagsReachTheMachine() throws {
        let r = try CLI.run(["--headless", "--workload", "life", "--panel", "ssd1306-i2c", "--bpp", "32",
                             "--resolution", "128x64", "--delay-ms", "100", "--hz", "100", "--sort-pagereflist",
                             "--procs", "2", "--duration", "0.2", "--fps", "25"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("life on ssd1306-i2c — 128x64 32bpp, 2 processes, 5 frames"))
        #expect(r.stdout.contains("delay 10 jiffies = 100 ms at HZ=100"))
        #expect(r.stdout.contains("sorted pagereflist"))
    }

    @Test func withoutADisplayTheLiveRunFallsBackToHeadless() throws {
        let p = Process()
        p.executableURL = CLI.binary
        p.arguments = ["--workload", "plasma", "--frames", "3"]
        var env = ProcessInfo.processInfo.environment
        for k in ["DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"] { env[k] = nil }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(e.contains("running --headless"))
        #expect(o.contains("checker: panel == framebuffer == reference"))
    }

    @Test func listings() throws {
        let panels = try CLI.run(["panels"])
        #expect(panels.status == 0)
        for name in ["ideal", "ili9341-spi10", "ili9341-spi32", "ili9341-spi66", "ssd1306-i2c", "epd213", "displaylink"] {
            #expect(panels.stdout.contains(name))
        }
        let workloads = try CLI.run(["workloads"])
        #expect(workloads.status == 0)
        for name in ["console", "sprites", "plasma", "life", "cursor"] { #expect(workloads.stdout.contains(name)) }
    }

    /// A progress line is drawn on a terminal and never into a pipe.
    @Test func progressLineOnlyOnATerminal() throws {
        let piped = try CLI.run(["--headless", "--workload", "plasma", "--frames", "20"])
        #expect(piped.status == 0)
        #expect(!piped.stderr.contains("frame 1 of 20"))
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else {
            print("skipped the terminal half: /usr/bin/script (util-linux) is not installed")
            return
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        p.arguments = ["-qc", "\(CLI.binary.path) --headless --workload plasma --frames 20", "/dev/null"]
        let out = Pipe()
        p.standardOutput = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(text.contains("frame 1 of 20, virtual time"))
        #expect(text.contains("checker: panel == framebuffer == reference"))
    }
}
