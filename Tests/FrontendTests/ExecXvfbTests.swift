// SPDX-License-Identifier: MIT — `fbdefio-emu exec` in the live window on Xvfb: ffmpeg plays its test pattern on
// the emulated panel, and a screenshot of the window must equal the final panel image, pixel for pixel. Needs the X
// tools (see XvfbTests) and ffmpeg; as root they are installed with apt-get when missing, otherwise skipped.
import Foundation
import Frontend
import Lab
import Testing

@Suite struct ExecXvfbTests {
    static func ffmpeg() throws -> String {
        if let path = which("ffmpeg") { return path }
        if getuid() == 0, let apt = which("apt-get") {
            print("ExecXvfbTests: installing ffmpeg with apt-get")
            let args = ["install", "-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=120", "ffmpeg"]
            let env: [String: String?] = ["DEBIAN_FRONTEND": "noninteractive"]
            if (try? runCommandBlocking(apt, args, environment: env))?.status != 0 {
                _ = try? runCommandBlocking(apt, ["update", "-q"], environment: env)
                _ = try? runCommandBlocking(apt, args, environment: env)
            }
            if let path = which("ffmpeg") { return path }
        }
        print("ExecXvfbTests: skipped: ffmpeg is missing and cannot be installed (apt-get install ffmpeg)")
        try Test.cancel("skipped: ffmpeg is missing")
    }

    @Test(.timeLimit(.minutes(6))) func ffmpegInTheLiveWindowShowsThePanelImage() async throws {
        let tools = try XvfbTests.tools()
        let ffmpeg = try Self.ffmpeg()
        let dir = try tempDirectory("xvfb-exec")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try await XvfbServer.start(tools.xvfb)
        let child: Child
        do {
            child = try Child(builtProduct("fbdefio-emu"),
                              ["exec", "--panel", "ili9341-spi32", "--no-hud", "--hold", "--scale", "2", "--png-out", dir,
                               "--", ffmpeg, "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
                               "testsrc=size=320x240:rate=25", "-t", "2", "-pix_fmt", "rgb565le", "-f", "fbdev",
                               "/dev/fb0"],
                              environment: ["DISPLAY": server.display, "SDL_VIDEODRIVER": "x11"])
        } catch {
            await server.stop()
            throw error
        }
        defer { child.stop() }
        // final.png is written when ffmpeg has ended and its last close flushed, just before the last frame goes to
        // the window (which --hold keeps open).
        var waited = 0
        while !FileManager.default.fileExists(atPath: "\(dir)/final.png") && waited < 600 {
            try await Task.sleep(for: .milliseconds(100))
            waited += 1
        }
        let expected = try PNGDecoder.read("\(dir)/final.png").scaled(by: 2)
        #expect(expected.width == 640 && expected.height == 480)
        let window = PixelRect(x: (800 - expected.width) / 2, y: (600 - expected.height) / 2,
                               width: expected.width, height: expected.height)
        var mismatches = Int.max
        var first = ""
        for attempt in 0 ..< 20 {
            try await Task.sleep(for: .milliseconds(250))
            let shot = try await XvfbTests.screenshot(tools, display: server.display, to: "\(dir)/exec-\(attempt).png")
            let crop = shot.cropped(to: window)
            mismatches = crop.rgbMismatches(expected)
            first = String(describing: crop.firstRGBMismatch(expected))
            if mismatches == 0 { break }
        }
        #expect(mismatches == 0, "the window differs from the panel image in \(mismatches) pixels, first \(first)")
        // The test pattern is on the glass: many colours, not a blank panel.
        #expect(Set(expected.pixels).count > 16)
        child.signal(SIGTERM)
        #expect(await child.waitForExit(timeout: 20) == 0, "stderr: \(child.stderr)")
        #expect(child.stdout.contains("checker: panel == framebuffer memory"), "\(child.stdout)")
        #expect(child.stdout.contains("ffmpeg (host pid"), "\(child.stdout)")
        await server.stop()
    }
}
