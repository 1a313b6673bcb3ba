// SPDX-License-Identifier: MIT — `fbdefio-emu exec` in the live window on Xvfb: ffmpeg plays its test pattern on
// the emulated panel, and a screenshot of the window must equal the final panel image, pixel for pixel. Needs the X
// tools (see XvfbTests) and ffmpeg; as root they are installed with apt-get when missing, otherwise skipped.
import Foundation
import Frontend
import Lab
import Testing
import TestSupport

@Suite struct ExecXvfbTests {
    static let ffmpegPath = locateOrInstall("ffmpeg", package: "ffmpeg", for: "ExecXvfbTests")

    static func ffmpeg() throws -> String {
        switch ffmpegPath {
        case .success(let path): return path
        case .failure(let why):
            print("ExecXvfbTests: skipped: \(why.reason)")
            try Test.cancel("skipped: \(why.reason)")
        }
    }

    @Test(.timeLimit(.minutes(6))) func ffmpegInTheLiveWindowShowsThePanelImage() async throws {
        let tools = try XvfbTests.tools()
        let ffmpeg = try Self.ffmpeg()
        let dir = try tempDirectory("xvfb-exec")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // final.png is written when ffmpeg has ended and its last close flushed, just before the last frame goes to
        // the window (which --hold keeps open).
        let live = try await XvfbTests.liveWindow(
            tools, ["exec", "--panel", "ili9341-spi32"], pngOut: dir,
            program: [ffmpeg, "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
                      "-t", "2", "-pix_fmt", "rgb565le", "-f", "fbdev", "/dev/fb0"])
        defer { live.child.stop() }
        #expect(live.expected.width == 640 && live.expected.height == 480)
        #expect(live.mismatches == 0,
                "the window differs from the panel image in \(live.mismatches) pixels, first \(live.firstMismatch)")
        // The test pattern is on the glass: many colours, not a blank panel.
        #expect(Set(live.expected.pixels).count > 16)
        live.child.signal(SIGTERM)
        #expect(await live.child.waitForExit(timeout: 20) == 0, "stderr: \(live.child.stderr)")
        #expect(live.child.stdout.contains("checker: panel == framebuffer memory"), "\(live.child.stdout)")
        #expect(live.child.stdout.contains("ffmpeg (host pid"), "\(live.child.stdout)")
        await live.server.stop()
    }
}
