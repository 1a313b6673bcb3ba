// SPDX-License-Identifier: MIT — the live window on a real X server (Xvfb): a screenshot of the screen must show the
// panel image exactly where the window is. Needs Xvfb, xwd and ImageMagick; as root they are installed with apt-get
// when missing, otherwise the test is skipped with the reason printed.
// Set FBDEFIO_TEST_ARTIFACTS=DIR to keep the screenshots.
import Foundation
import Frontend
import Kernel
import Lab
import Testing
import TestSupport

/// The X tools the test needs, found or installed once per test run.
enum XTools {
    static let packages = ["xvfb", "xauth", "x11-apps", "imagemagick"]

    struct Paths: Sendable {
        var xvfb: String
        var xwd: String
        var convert: String
    }

    /// The tools, or why they are not available.
    static let available: Result<Paths, ToolUnavailable> =
        locateOrInstall("Xvfb, xwd or ImageMagick", packages: packages, for: "XvfbTests") { locate() }

    static func locate() -> Paths? {
        guard let xvfb = which("Xvfb"), let xwd = which("xwd"), let convert = which("convert"),
              let version = try? runCommandBlocking(convert, ["-version"]),
              version.status == 0, version.output.contains("ImageMagick")
        else { return nil }
        return Paths(xvfb: xvfb, xwd: xwd, convert: convert)
    }
}

/// An Xvfb server on a display number it picks itself (-displayfd), stopped by `stop()`.
final class XvfbServer {
    let child: Child
    let display: String

    private init(child: Child, display: String) {
        self.child = child
        self.display = display
    }

    static func start(_ xvfb: String) async throws -> XvfbServer {
        let child = try Child(xvfb, ["-displayfd", "1", "-screen", "0", "800x600x24", "-nolisten", "tcp"])
        // Xvfb writes the display number once it accepts connections.
        guard let n = await child.waitForLine("", timeout: 15).flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) })
        else {
            child.stop()
            throw XvfbFailure(message: "Xvfb did not start: \(child.stderr.suffix(500))")
        }
        return XvfbServer(child: child, display: ":\(n)")
    }

    /// SIGTERM (Xvfb removes its socket and lock file), SIGKILL if it does not end within 5 s.
    func stop() async {
        child.signal(SIGTERM)
        _ = await child.waitForExit(timeout: 5)
    }
}

struct XvfbFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

@Suite struct XvfbTests {
    static let panel = (width: 160, height: 96, scale: 3)

    static func tools() throws -> XTools.Paths {
        switch XTools.available {
        case .success(let paths): return paths
        case .failure(let why):
            print("XvfbTests: skipped: \(why.reason)")
            try Test.cancel("skipped: \(why.reason)")
        }
    }

    /// A screenshot of the whole X screen, decoded.
    static func screenshot(_ tools: XTools.Paths, display: String, to path: String) async throws -> ARGBImage {
        let r = try await runCommand("/bin/sh", ["-c", "'\(tools.xwd)' -root -silent -display \(display) "
                                                + "| '\(tools.convert)' xwd:- -depth 8 'PNG24:\(path)'"], timeout: 30)
        guard r.status == 0 else { throw XvfbFailure(message: "screenshot failed: \(r.output)") }
        return try PNGDecoder.read(path)
    }

    /// "ready x=.. y=.. w=.. h=.. hud=..." → the window and the HUD box (nil if off).
    static func parseReady(_ line: String) -> (window: Rect, hud: Rect?)? {
        var f: [String: String] = [:]
        for part in line.split(separator: " ").dropFirst() {
            let kv = part.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { f[String(kv[0])] = String(kv[1]) }
        }
        guard let x = f["x"].flatMap(Int.init), let y = f["y"].flatMap(Int.init), let w = f["w"].flatMap(Int.init),
              let h = f["h"].flatMap(Int.init), let hud = f["hud"] else { return nil }
        let box = hud.split(separator: ",").compactMap { Int($0) }
        return (Rect(x: x, y: y, width: w, height: h),
                box.count == 4 ? Rect(x: box[0], y: box[1], width: box[2], height: box[3]) : nil)
    }

    @Test(.timeLimit(.minutes(6))) func liveWindowShowsThePanelImage() async throws {
        let tools = try Self.tools()
        let dir = try tempDirectory("xvfb")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let artifacts = ProcessInfo.processInfo.environment["FBDEFIO_TEST_ARTIFACTS"]
        let server = try await XvfbServer.start(tools.xvfb)
        do { try await showsThePanelImage(on: server, tools: tools, dir: dir, artifacts: artifacts) } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    func showsThePanelImage(on server: XvfbServer, tools: XTools.Paths, dir: String, artifacts: String?) async throws {
        let (w, h, s) = Self.panel
        let expected = TestCard.image(width: w, height: h).scaled(by: s)

        for hud in [false, true] {
            let child = try Child(builtProduct("sdl-harness"),
                                  ["--size", "\(w)x\(h)", "--scale", "\(s)", "--hold"] + (hud ? ["--hud"] : []),
                                  environment: ["DISPLAY": server.display, "SDL_VIDEODRIVER": "x11"])
            defer { child.stop() }
            let line = await child.waitForLine("ready ", timeout: 20)
            let ready = try #require(line.flatMap(Self.parseReady), "no ready line; stderr: \(child.stderr)")
            #expect(ready.window.width == w * s && ready.window.height == h * s)
            #expect((ready.hud != nil) == hud)

            // The X server may show the presented picture a moment later; look again a few times before failing.
            // With the HUD on, wait for the flash over the last batch to fade (300 ms) first.
            if hud { try await Task.sleep(for: .milliseconds(500)) }
            var window = ARGBImage(width: 0, height: 0, pixels: [])
            var outsideHUD = Int.max, insideHUD = 0
            for attempt in 0 ..< 15 {
                let shot = try await Self.screenshot(tools, display: server.display, to: "\(dir)/shot-\(hud)-\(attempt).png")
                #expect(shot.width == 800 && shot.height == 600)
                guard ready.window.x >= 0, ready.window.y >= 0, ready.window.x + ready.window.width <= shot.width,
                      ready.window.y + ready.window.height <= shot.height
                else { Issue.record("window \(ready.window) is not inside the screen"); return }
                window = shot.cropped(to: ready.window)
                outsideHUD = 0
                insideHUD = 0
                for y in 0 ..< window.height {
                    for x in 0 ..< window.width where (window[x, y] ^ expected[x, y]) & 0xFF_FFFF != 0 {
                        if let b = ready.hud, x >= b.x, x < b.x + b.width, y >= b.y, y < b.y + b.height {
                            insideHUD += 1
                        } else {
                            outsideHUD += 1
                        }
                    }
                }
                if outsideHUD == 0 && (!hud || insideHUD > 1000) { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            if let artifacts {
                try? FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
                try? window.writePNG("\(artifacts)/xvfb-window\(hud ? "-hud" : "").png")
            }
            if hud {
                #expect(outsideHUD == 0, "pixels changed outside the HUD box")
                #expect(insideHUD > 1000, "the HUD is not visible")
            } else {
                let first = String(describing: window.firstRGBMismatch(expected))
                #expect(outsideHUD == 0, "screen differs from the panel image, first at \(first)")
            }

            // SIGTERM: SDL_QUIT, the feed is told to stop, the window waits for it and exits with a summary.
            child.signal(SIGTERM)
            #expect(await child.waitForExit(timeout: 10) == 0, "stderr: \(child.stderr)")
            let summary = child.stdout.split(separator: "\n").first { $0.hasPrefix("summary ") } ?? ""
            #expect(summary.contains("video=x11"), "\(summary)")
            #expect(summary.hasSuffix("stop=quit-event"), "\(summary)")
        }
    }

    /// The real program end to end: `fbdefio-emu` runs the cursor demo in a live window on Xvfb, holds its final
    /// picture, and a screenshot of the (centred) window must equal the final panel image it wrote with --png-out,
    /// scaled ×2, pixel for pixel. SIGTERM then ends it with its summary and a passing checker.
    @Test(.timeLimit(.minutes(6))) func theEmulatorsWindowShowsItsFinalPanelImage() async throws {
        let tools = try Self.tools()
        let dir = try tempDirectory("xvfb-emu")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // final.png is written when the run has ended, just before the last frame goes to the window.
        let live = try await Self.liveWindow(tools, ["--workload", "cursor", "--frames", "25"], pngOut: dir)
        defer { live.child.stop() }
        #expect(live.expected.width == 640 && live.expected.height == 480)
        #expect(live.mismatches == 0,
                "the window differs from the panel image in \(live.mismatches) pixels, first \(live.firstMismatch)")
        live.child.signal(SIGTERM)
        #expect(await live.child.waitForExit(timeout: 20) == 0, "stderr: \(live.child.stderr)")
        #expect(live.child.stdout.contains("checker: panel == framebuffer == reference"), "\(live.child.stdout)")
        await live.server.stop()
    }

    /// A live `fbdefio-emu` window on a fresh Xvfb server and the final panel image it wrote.
    struct LiveWindow {
        let server: XvfbServer
        let child: Child
        /// final.png, scaled ×2 as the window shows it.
        let expected: ARGBImage
        /// Pixels where the last screenshot of the (centred) window differs from `expected`, and the first of them.
        let mismatches: Int
        let firstMismatch: String
    }

    /// Runs `fbdefio-emu arguments… --no-hud --hold --scale 2 --png-out pngOut [-- program…]` on a fresh Xvfb
    /// server, waits for its final.png (up to a minute), then screenshots the window until it equals that image ×2
    /// (up to 5 s). The caller ends the child and stops the server.
    static func liveWindow(_ tools: XTools.Paths, _ arguments: [String], pngOut: String, program: [String] = [])
        async throws -> LiveWindow {
        let server = try await XvfbServer.start(tools.xvfb)
        let child: Child
        do {
            child = try Child(builtProduct("fbdefio-emu"),
                              arguments + ["--no-hud", "--hold", "--scale", "2", "--png-out", pngOut]
                                  + (program.isEmpty ? [] : ["--"] + program),
                              environment: ["DISPLAY": server.display, "SDL_VIDEODRIVER": "x11"])
        } catch {
            await server.stop()
            throw error
        }
        var waited = 0
        while !FileManager.default.fileExists(atPath: "\(pngOut)/final.png") && waited < 600 {
            try await Task.sleep(for: .milliseconds(100))
            waited += 1
        }
        let expected = try PNGDecoder.read("\(pngOut)/final.png").scaled(by: 2)
        let window = Rect(x: (800 - expected.width) / 2, y: (600 - expected.height) / 2,
                               width: expected.width, height: expected.height)
        var mismatches = Int.max
        var first = ""
        for attempt in 0 ..< 20 {
            try await Task.sleep(for: .milliseconds(250))
            let shot = try await screenshot(tools, display: server.display, to: "\(pngOut)/shot-\(attempt).png")
            let crop = shot.cropped(to: window)
            mismatches = crop.rgbMismatches(expected)
            first = String(describing: crop.firstRGBMismatch(expected))
            if mismatches == 0 { break }
        }
        return LiveWindow(server: server, child: child, expected: expected, mismatches: mismatches, firstMismatch: first)
    }
}
