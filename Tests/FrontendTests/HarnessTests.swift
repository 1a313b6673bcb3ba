// SPDX-License-Identifier: MIT — the window loop in its own process (sdl-harness, SDL on the process main thread):
// SIGINT and SIGTERM end it cleanly with a summary, and an unasked fallback to a headless video driver is reported.
import Foundation
import Frontend
import Testing

@Suite struct HarnessTests {
    static var harness: String { builtProduct("sdl-harness") }

    /// Also when the program was started with SIGINT and SIGTERM blocked (as posix_spawn from a thread that blocks
    /// them leaves it): the window unblocks them for SDL.
    @Test(arguments: [SIGTERM, SIGINT], [false, true])
    func signalEndsTheWindowCleanly(_ sig: Int32, startedBlocked: Bool) async throws {
        let child = try Child(Self.harness, ["--size", "64x32", "--scale", "2", "--hold"],
                              environment: ["SDL_VIDEODRIVER": "dummy"], blockQuitSignals: startedBlocked)
        defer { child.stop() }
        let ready = await child.waitForLine("ready ", timeout: 15)
        #expect(ready?.hasSuffix(" w=128 h=64 hud=off") == true, "stdout: \(child.stdout) stderr: \(child.stderr)")
        child.signal(sig)
        let status = await child.waitForExit(timeout: 10)
        #expect(status == 0, "stdout: \(child.stdout) stderr: \(child.stderr)")
        let summary = child.stdout.split(separator: "\n").first { $0.hasPrefix("summary ") }.map(String.init) ?? ""
        #expect(summary.contains("video=dummy renderer=software window=128x64"), "\(summary)")
        #expect(summary.hasSuffix("stop=quit-event"), "\(summary)")
        #expect(!child.stderr.contains("warning"), "\(child.stderr)")
    }

    /// No display and no SDL_VIDEODRIVER: SDL quietly picks a headless driver; the window says so on stderr.
    @Test func unaskedHeadlessDriverIsReported() async throws {
        let child = try Child(Self.harness, ["--size", "32x16", "--animate", "2"],
                              environment: ["SDL_VIDEODRIVER": nil, "DISPLAY": nil, "WAYLAND_DISPLAY": nil])
        defer { child.stop() }
        let status = await child.waitForExit(timeout: 20)
        if status == 0 {
            let summary = child.stdout.split(separator: "\n").first { $0.hasPrefix("summary ") } ?? ""
            #expect(summary.contains("video=offscreen") || summary.contains("video=dummy"), "\(summary)")
            #expect(child.stderr.contains("warning: no usable display"), "\(child.stderr)")
        } else {
            // An SDL built without a headless fallback fails instead: then with one line naming the cause.
            #expect(status == 1, "stderr: \(child.stderr)")
            #expect(child.stderr.contains("sdl-harness: cannot start SDL video: "), "\(child.stderr)")
        }
    }

    @Test func askedForDummyThereIsNoWarning() async throws {
        let child = try Child(Self.harness, ["--size", "32x16", "--animate", "2"],
                              environment: ["SDL_VIDEODRIVER": "dummy", "DISPLAY": nil, "WAYLAND_DISPLAY": nil])
        defer { child.stop() }
        #expect(await child.waitForExit(timeout: 20) == 0, "\(child.stderr)")
        #expect(child.stderr.contains("display: SDL video driver 'dummy'"), "\(child.stderr)")
        #expect(!child.stderr.contains("warning"), "\(child.stderr)")
        #expect(child.stdout.contains("stop=finished"), "\(child.stdout)")
    }

    /// The harness's capture of the window equals the panel image it writes (after an animation that only ever
    /// sent the moving box's rectangles).
    @Test func captureOfTheAnimatedFeedEqualsTheCard() async throws {
        let dir = try tempDirectory("harness")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let child = try Child(Self.harness, ["--size", "100x60", "--scale", "2", "--animate", "30",
                                             "--capture", dir + "/window.png", "--panel-png", dir + "/panel.png"],
                              environment: ["SDL_VIDEODRIVER": "dummy"])
        defer { child.stop() }
        #expect(await child.waitForExit(timeout: 20) == 0, "\(child.stderr)")
        let panel = try PNGDecoder.read(dir + "/panel.png")
        let window = try PNGDecoder.read(dir + "/window.png")
        #expect(panel == TestCard.image(width: 100, height: 60))
        #expect(window.rgbMismatches(panel.scaled(by: 2)) == 0)
    }
}
