// SPDX-License-Identifier: MIT — the SDL window loop in this process on SDL's dummy video driver (software
// renderer, no display needed): what reaches the window is read back with SDL_RenderReadPixels.
// The driver is requested with a hint, not setenv, so child processes of other tests do not inherit it.
import CSDL2
import Foundation
@testable import Frontend
import Kernel
import Lab
import Testing
import TestSupport

/// SDL is process-global state: these tests run one at a time.
@Suite(.serialized) struct SDLDummyTests {
    static func options(scale: Int = 2, hud: Bool = false) -> SDLWindowOptions {
        var o = SDLWindowOptions(title: "frontend-test", scale: scale, hudInitiallyOn: hud)
        o.videoDriver = "dummy"
        o.renderDriver = "software"
        o.captureFinalImage = true
        o.maxPresentsPerSecond = 200
        o.log = { _ in }
        return o
    }

    /// `runSDLWindow` with a watchdog: a test that would hang gets two quit requests after 20 s and fails.
    func run(_ mailbox: FrameMailbox, _ options: SDLWindowOptions) throws -> SDLOutcome {
        let done = LockedBox(false), fired = LockedBox(false)
        Thread.detachNewThread {
            let deadline = Date().addingTimeInterval(20)
            while !done.get && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
            if !done.get {
                fired.set(true)
                Self.pushQuit(windowClose: false)
                Self.pushQuit(windowClose: false)
            }
        }
        defer { done.set(true) }
        let out = try runSDLWindow(mailbox, options: options)
        #expect(!fired.get, "the window loop did not end by itself within 20 s")
        return out
    }

    static func push(key: SDL_KeyCode) {
        var ev = SDL_Event()
        ev.type = SDL_KEYDOWN.rawValue
        ev.key.keysym.sym = Int32(bitPattern: key.rawValue)
        _ = SDL_PushEvent(&ev)
    }

    static func pushQuit(windowClose: Bool) {
        var ev = SDL_Event()
        if windowClose {
            ev.type = SDL_WINDOWEVENT.rawValue
            ev.window.event = UInt8(SDL_WINDOWEVENT_CLOSE.rawValue)
            _ = SDL_PushEvent(&ev)
        }
        ev = SDL_Event()
        ev.type = SDL_QUIT.rawValue
        _ = SDL_PushEvent(&ev)
    }

    @Test func aFullFrameReachesTheWindowPixelForPixel() throws {
        let card = TestCard.image(width: 96, height: 40)
        let mailbox = FrameMailbox()
        mailbox.publish(frame(0, card, dirty: [fullRect(96, 40)]))
        mailbox.finish()
        let lines = LockedBox([String]())
        var o = Self.options(scale: 3)
        o.log = { line in lines.update { $0.append(line) } }
        let out = try run(mailbox, o)
        #expect(out.videoDriver == "dummy")
        #expect(out.renderer == "software")
        #expect(out.windowWidth == 288 && out.windowHeight == 120)
        #expect(out.framesShown == 1 && out.framesPublished == 1 && out.framesDropped == 0)
        #expect(out.stopReason == .emulatorFinished && out.emulatorFinished)
        let shot = try #require(out.finalImage)
        #expect(shot.rgbMismatches(card.scaled(by: 3)) == 0, "\(String(describing: shot.firstRGBMismatch(card.scaled(by: 3))))")
        #expect(!mailbox.stopRequested)
        // The driver is logged; no fallback warning because the driver was asked for.
        #expect(lines.get.count == 1)
        #expect(lines.get.first?.contains("SDL video driver 'dummy', renderer 'software', window 288x120") == true)
        #expect(out.summary.contains("video=dummy renderer=software window=288x120 shown=1"))
    }

    /// The second frame changes two areas but names only one as dirty: the window must show only that one.
    @Test func onlyDirtyRectanglesAreUploaded() throws {
        let a = TestCard.image(width: 64, height: 48)
        var b = a
        let sent = Rect(x: 5, y: 6, width: 20, height: 10), unsent = Rect(x: 40, y: 30, width: 12, height: 9)
        for y in 0 ..< 48 {
            for x in 0 ..< 64 {
                if x >= sent.x && x < sent.x + sent.width && y >= sent.y && y < sent.y + sent.height { b[x, y] = 0xFFFF_0000 }
                if x >= unsent.x && x < unsent.x + unsent.width && y >= unsent.y && y < unsent.y + unsent.height {
                    b[x, y] = 0xFF00_00FF
                }
            }
        }
        let second = frame(1, b, dirty: [sent])
        let mailbox = FrameMailbox()
        let once = Once()
        mailbox.publish(frame(0, a, dirty: [fullRect(64, 48)]))
        var o = Self.options(scale: 2)
        o.onPresent = { info in
            if info.frameIndex == 0 { once("second") { mailbox.publish(second) } }
            if info.frameIndex == 1 { once("finish") { mailbox.finish() } }
        }
        let out = try run(mailbox, o)
        var expected = a
        expected.copy(sent, from: b)
        let shot = try #require(out.finalImage)
        #expect(out.framesShown == 2)
        #expect(shot.rgbMismatches(expected.scaled(by: 2)) == 0)
        #expect(shot.rgbMismatches(b.scaled(by: 2)) == unsent.width * unsent.height * 4)
    }

    /// Frames published faster than the window takes them are merged: newest pixels, damage of all of them.
    @Test func droppedFramesKeepTheirDamage() throws {
        let base = TestCard.image(width: 40, height: 30)
        let mailbox = FrameMailbox()
        let once = Once()
        mailbox.publish(frame(0, base, dirty: [fullRect(40, 30)]))
        var o = Self.options(scale: 1)
        o.onPresent = { info in
            guard info.frameIndex == 0 else { return }
            once("burst") {
                var img = base
                for i in 1 ... 5 {  // five frames before the window looks again: each paints its own column
                    for y in 0 ..< 30 { img[i * 5, y] = 0xFF12_3456 }
                    mailbox.publish(frame(i, img, dirty: [Rect(x: i * 5, y: 0, width: 1, height: 30)]))
                }
                mailbox.finish()
            }
        }
        let out = try run(mailbox, o)
        var expected = base
        for i in 1 ... 5 { for y in 0 ..< 30 { expected[i * 5, y] = 0xFF12_3456 } }
        #expect(out.framesShown == 2 && out.framesPublished == 6 && out.framesDropped == 4)
        #expect(try #require(out.finalImage).rgbMismatches(expected) == 0)
    }

    /// HUD on: it covers its own box and the flash only. Pressing h hides it and the window is the panel again.
    @Test func hudDrawsOverTheWindowOnlyAndHToggles() throws {
        let card = TestCard.image(width: 200, height: 150)
        var stats = HUDStats()
        stats.panel = "test 200x150"
        let pages = [Rect(x: 0, y: 100, width: 200, height: 20)]

        // With the HUD, captured as displayed.
        let m1 = FrameMailbox()
        m1.publish(frame(0, card, dirty: [fullRect(200, 150)], pages: pages, hud: stats))
        m1.finish()
        var o1 = Self.options(scale: 2, hud: true)
        o1.captureIncludesHUD = true
        let reported = LockedBox<Rect?>(nil)
        o1.onPresent = { info in reported.set(info.hud) }
        let withHUD = try #require(try run(m1, o1).finalImage)
        // The box is the HUD picture at 1x or 2x, 6 pixels from the corner.
        let hudBox = HUD.render(HUD.lines(stats, display: DisplayStats()))
        let box = try #require(reported.get)
        #expect(box.x == 6 && box.y == 6)
        #expect([1, 2].contains { box.width == hudBox.width * $0 && box.height == hudBox.height * $0 }, "\(box)")
        let inHUD = { (x: Int, y: Int) in x >= box.x && x < box.x + box.width && y >= box.y && y < box.y + box.height }
        let inFlash = { (_: Int, y: Int) in y >= 200 && y < 240 }
        let expected = card.scaled(by: 2)
        var changedInHUD = 0, changedOutside = 0
        for y in 0 ..< 300 {
            for x in 0 ..< 400 where (withHUD[x, y] ^ expected[x, y]) & 0xFF_FFFF != 0 {
                if inHUD(x, y) { changedInHUD += 1 } else if !inFlash(x, y) { changedOutside += 1 }
            }
        }
        #expect(changedInHUD > 1000)
        #expect(changedOutside == 0)

        // h pressed after the first present: HUD off, and the capture equals the panel image.
        let m2 = FrameMailbox()
        let once = Once()
        m2.publish(frame(0, card, dirty: [fullRect(200, 150)], pages: pages, hud: stats))
        var o2 = Self.options(scale: 2, hud: true)
        o2.captureIncludesHUD = true
        let sawHUD = LockedBox(false)
        o2.onPresent = { info in
            if info.hudVisible { sawHUD.set(true) }
            once("h") { Self.push(key: SDLK_h) }
            if !info.hudVisible { once("finish") { m2.finish() } }
        }
        let out = try run(m2, o2)
        #expect(sawHUD.get)
        #expect(try #require(out.finalImage).rgbMismatches(expected) == 0)
        #expect(out.stopReason == .emulatorFinished)
    }

    /// q asks the emulator to stop; the window keeps drawing until it has finished (its last frame is shown).
    @Test func quitKeyStopsTheEmulatorAndWaitsForIt() throws {
        try checkStop(reason: .quitKey) { Self.push(key: SDLK_q) }
        try checkStop(reason: .quitKey) { Self.push(key: SDLK_ESCAPE) }
    }

    @Test func quitEventAndWindowClose() throws {
        try checkStop(reason: .quitEvent) { Self.pushQuit(windowClose: false) }
        try checkStop(reason: .windowClosed) { Self.pushQuit(windowClose: true) }
    }

    func checkStop(reason: SDLStopReason, trigger: @escaping @Sendable () -> Void) throws {
        let card = TestCard.image(width: 50, height: 40)
        let last = ARGBImage(width: 50, height: 40, fill: 0xFF33_6699)
        let mailbox = FrameMailbox()
        let once = Once()
        mailbox.publish(frame(0, card, dirty: [fullRect(50, 40)]))
        // The emulator: runs until asked to stop, then publishes a last frame and finishes.
        let emulator = Thread {
            while !mailbox.stopRequested { Thread.sleep(forTimeInterval: 0.002) }
            Thread.sleep(forTimeInterval: 0.05)
            mailbox.publish(frame(1, last, dirty: [fullRect(50, 40)]))
            mailbox.finish()
        }
        emulator.start()
        var o = Self.options(scale: 1)
        o.onPresent = { _ in once("trigger") { trigger() } }
        let out = try run(mailbox, o)
        #expect(mailbox.stopRequested)
        #expect(out.stopReason == reason)
        #expect(out.emulatorFinished)
        #expect(try #require(out.finalImage).rgbMismatches(last) == 0, "the frame published while winding down")
        #expect(out.summary.hasSuffix("stop=\(reason.rawValue)"))
    }

    /// A second request stops waiting for an emulator that does not finish.
    @Test func secondQuitGivesUpWaiting() throws {
        let mailbox = FrameMailbox()
        let once = Once()
        mailbox.publish(frame(0, TestCard.image(width: 20, height: 20), dirty: [fullRect(20, 20)]))
        var o = Self.options(scale: 1)
        o.onPresent = { _ in
            once("both") {  // q, then Ctrl-C while the emulator is still winding down
                Self.push(key: SDLK_q)
                Self.pushQuit(windowClose: false)
            }
        }
        let out = try run(mailbox, o)
        #expect(!out.emulatorFinished)
        #expect(out.stopReason == .quitKey)
        #expect(out.summary.contains("(emulator still running)"))
        mailbox.finish()
    }

    /// With stayOpenAfterFinish the window outlives the emulator until the user closes it.
    @Test func staysOpenAfterFinishUntilClosed() throws {
        let mailbox = FrameMailbox()
        let card = TestCard.image(width: 30, height: 20)
        mailbox.publish(frame(0, card, dirty: [fullRect(30, 20)]))
        mailbox.finish()
        let once = Once()
        var o = Self.options(scale: 1, hud: true)
        o.stayOpenAfterFinish = true
        o.onPresent = { _ in
            once("later") {  // the user closes the window a while after the emulator finished
                Thread.detachNewThread {
                    Thread.sleep(forTimeInterval: 0.3)
                    Self.push(key: SDLK_q)
                }
            }
        }
        let started = Date()
        let out = try run(mailbox, o)
        #expect(Date().timeIntervalSince(started) >= 0.3)
        #expect(out.stopReason == .quitKey && out.emulatorFinished)
        #expect(try #require(out.finalImage).rgbMismatches(card) == 0)
    }

    @Test func aNewPanelSizeResizesTheWindow() throws {
        let small = TestCard.image(width: 32, height: 16), big = TestCard.image(width: 48, height: 40)
        let mailbox = FrameMailbox()
        let once = Once()
        mailbox.publish(frame(0, small, dirty: [fullRect(32, 16)]))
        var o = Self.options(scale: 2)
        o.onPresent = { info in
            if info.frameIndex == 0 { once("big") { mailbox.publish(frame(1, big, dirty: [])) } }
            if info.frameIndex == 1 { once("finish") { mailbox.finish() } }
        }
        let out = try run(mailbox, o)
        #expect(out.windowWidth == 96 && out.windowHeight == 80)
        #expect(try #require(out.finalImage).rgbMismatches(big.scaled(by: 2)) == 0)
    }

    @Test func noFrameNoWindow() throws {
        let mailbox = FrameMailbox()
        mailbox.finish()
        let out = try run(mailbox, Self.options())
        #expect(out.framesShown == 0 && out.windowWidth == 0 && out.finalImage == nil)
        #expect(out.stopReason == .emulatorFinished)
    }

    @Test func failuresAreOneLineErrorsAndStopTheEmulator() throws {
        let m1 = FrameMailbox()
        var o = Self.options()
        o.videoDriver = "no-such-driver"
        let e1 = #expect(throws: SDLFrontendError.self) { try runSDLWindow(m1, options: o) }
        #expect(e1?.description.hasPrefix("cannot start SDL video: ") == true)
        #expect(e1.map { !$0.description.contains("\n") } == true)
        #expect(m1.stopRequested)

        let m2 = FrameMailbox()
        let e2 = #expect(throws: SDLFrontendError.self) {
            try runSDLWindow(m2, title: "x", scale: 9, hudInitiallyOn: false)
        }
        #expect(e2?.description == "window scale 9 is not in 1...8")
        #expect(m2.stopRequested)
    }
}
