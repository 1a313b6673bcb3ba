// SPDX-License-Identifier: MIT — the live window: the panel image as the driver sent it, plus an optional HUD.
// Runs on the process main thread (research/scheduler.md §6); frames come from the emulator through FrameMailbox.
import CSDL2
import Foundation
import Kernel
import Lab

/// How the live window is set up.
package struct SDLWindowOptions: Sendable {
    package static let scaleRange = 1 ... 8

    package var title: String
    /// Window pixels per panel pixel (nearest neighbour): small panels such as 128x64 need 4 or more.
    package var scale: Int
    package var hudInitiallyOn: Bool
    /// SDL video driver to use ("x11", "wayland", "dummy", …), set as a hint; nil: SDL_VIDEODRIVER or SDL's choice.
    package var videoDriver: String?
    /// SDL render driver ("software", "opengl", …), set as a hint; nil: SDL_RENDER_DRIVER or SDL's choice.
    package var renderDriver: String?
    /// Upper bound on presents per second (the loop sleeps in between; frames published faster are merged).
    package var maxPresentsPerSecond = 60
    /// Keep the window open after the emulator finished, until the user closes it (q, Escape, close, Ctrl-C).
    package var stayOpenAfterFinish = false
    /// Read the window back (`SDL_RenderReadPixels`) after the last frame, into `SDLOutcome.finalImage`.
    package var captureFinalImage = false
    /// Capture the window as displayed, with the HUD if it is on (default: the panel image alone).
    package var captureIncludesHUD = false
    /// Called on the window's thread after every present.
    package var onPresent: (@Sendable (SDLPresentInfo) -> Void)?
    /// Where the one-line log messages (driver names, warnings) go; standard error by default.
    package var log: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    package init(title: String = "fbdefio-emu", scale: Int = 1, hudInitiallyOn: Bool = false) {
        self.title = title
        self.scale = scale
        self.hudInitiallyOn = hudInitiallyOn
    }
}

/// Passed to `SDLWindowOptions.onPresent`.
package struct SDLPresentInfo: Sendable {
    /// `Frame.index` of the newest frame drawn.
    package var frameIndex: Int
    /// Frames taken from the mailbox and drawn so far.
    package var framesShown: Int
    /// Presents so far (including redraws for the HUD and its flash).
    package var presents: Int
    /// The window on the screen, in screen pixels (position as SDL reports it).
    package var window: Rect
    package var hudVisible: Bool
    /// Where the HUD box is drawn in the window, if it is visible.
    package var hud: Rect?
}

/// Why the window loop ended.
package enum SDLStopReason: String, Sendable {
    /// The emulator finished on its own.
    case emulatorFinished = "finished"
    /// The window's close button.
    case windowClosed = "window-closed"
    /// SDL_QUIT without a window close: SIGINT (Ctrl-C), SIGTERM or the session ending.
    case quitEvent = "quit-event"
    /// The q or Escape key.
    case quitKey = "quit-key"
}

/// What the window loop did.
package struct SDLOutcome: Sendable {
    package var stopReason: SDLStopReason
    /// False only when the user asked twice and the loop gave up waiting for the emulator to finish.
    package var emulatorFinished: Bool
    package var framesShown: Int
    package var framesPublished: Int
    /// Published frames replaced in the mailbox before the window took them (their damage was still drawn).
    package var framesDropped: Int
    package var presents: Int
    package var videoDriver: String
    package var renderer: String
    /// Window size in pixels (0x0 if no frame ever arrived).
    package var windowWidth: Int
    package var windowHeight: Int
    /// The window read back after the last frame, if `captureFinalImage` was set and a frame was shown.
    package var finalImage: ARGBImage?

    /// One line for the run's summary.
    package var summary: String {
        "display: video=\(videoDriver) renderer=\(renderer) window=\(windowWidth)x\(windowHeight) "
            + "shown=\(framesShown) published=\(framesPublished) dropped=\(framesDropped) presents=\(presents) "
            + "stop=\(stopReason.rawValue)\(emulatorFinished ? "" : " (emulator still running)")"
    }
}

/// The window could not be opened; `description` is one line, meant to be printed as is before exiting non-zero.
package struct SDLFrontendError: Error, CustomStringConvertible {
    package let description: String
}

/// Shows the frames of `mailbox` in a window until the emulator finishes. Must run on the process main thread.
/// Equivalent to `runSDLWindow(mailbox, options: SDLWindowOptions(title:scale:hudInitiallyOn:))`.
package func runSDLWindow(_ mailbox: FrameMailbox, title: String, scale: Int, hudInitiallyOn: Bool) throws
    -> SDLOutcome
{
    try runSDLWindow(mailbox, options: SDLWindowOptions(title: title, scale: scale, hudInitiallyOn: hudInitiallyOn))
}

/// Shows the frames of `mailbox` in a window until the emulator finishes (`mailbox.isFinished`).
///
/// * The window opens with the first frame, sized panel × `scale`. Each frame taken updates the texture only in
///   its `dirty` rectangles (the first frame, and a lost render device, upload the whole panel image).
/// * Window close, SIGINT/SIGTERM (SDL turns them into SDL_QUIT), q and Escape call `mailbox.requestStop()`; the
///   loop keeps drawing until the emulator has wound down and called `finish()`. A second request stops waiting.
/// * h toggles the HUD (stats of the newest frame, and a fading flash over the pages of the last batch).
///   The HUD is drawn over the window only; it never touches the panel texture.
/// * Throws `SDLFrontendError` (after `mailbox.requestStop()`) when SDL video, the window or the renderer cannot be
///   created. Logs the video driver and renderer; warns when SDL fell back to `offscreen`/`dummy` unasked.
package func runSDLWindow(_ mailbox: FrameMailbox, options: SDLWindowOptions) throws -> SDLOutcome {
    guard SDLWindowOptions.scaleRange.contains(options.scale) else {
        mailbox.requestStop()
        throw SDLFrontendError(description: "window scale \(options.scale) is not in 1...8")
    }
    if let driver = options.videoDriver { SDL_SetHint(SDL_HINT_VIDEODRIVER, driver) }
    if let driver = options.renderDriver { SDL_SetHint(SDL_HINT_RENDER_DRIVER, driver) }
    SDL_SetHint(SDL_HINT_RENDER_SCALE_QUALITY, "nearest")
    // SDL turns SIGINT/SIGTERM into SDL_QUIT, but only if they can be delivered: a process started from a thread
    // that blocks them (libdispatch workers do, and posix_spawn passes the mask on) would ignore Ctrl-C and kill.
    let savedMask = unblockQuitSignals()
    defer { restoreSignalMask(savedMask) }
    guard SDL_Init(SDL_INIT_VIDEO) == 0 else {
        mailbox.requestStop()
        throw SDLFrontendError(description: "cannot start SDL video: \(sdlError())")
    }
    defer { SDL_Quit() }  // also clears the hints set above

    let session = SDLWindowSession(mailbox: mailbox, options: options)
    defer { session.destroy() }
    do { return try session.run() } catch {
        mailbox.requestStop()
        throw error
    }
}

/// Unblocks SIGINT and SIGTERM on the calling thread; returns the previous mask.
private func unblockQuitSignals() -> sigset_t {
    var unblock = sigset_t(), old = sigset_t()
    sigemptyset(&unblock)
    sigaddset(&unblock, SIGINT)
    sigaddset(&unblock, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &unblock, &old)
    return old
}

private func restoreSignalMask(_ mask: sigset_t) {
    var m = mask
    pthread_sigmask(SIG_SETMASK, &m, nil)
}

/// Milliseconds from `start` to `now` of SDL_GetTicks64 (0 if `start` is later: the stamps come from different reads).
private func elapsed(since start: UInt64, now: UInt64) -> UInt64 { now >= start ? now - start : 0 }

private func sdlError() -> String {
    let message = String(cString: SDL_GetError())
    return message.isEmpty ? "unknown SDL error" : message
}

/// The window, renderer and textures of one run, and the loop that drives them. Main thread only.
private final class SDLWindowSession {
    let mailbox: FrameMailbox
    let options: SDLWindowOptions
    let videoDriver: String

    var window: OpaquePointer?
    var renderer: OpaquePointer?
    var panelTexture: OpaquePointer?
    var hudTexture: OpaquePointer?
    var hudTextureSize = (width: 0, height: 0)
    var rendererName = "none"
    var windowSize = (width: 0, height: 0)

    /// The newest frame drawn (its pixels are the panel image the texture holds).
    var current: Frame?
    var framesShown = 0
    var presents = 0
    var needsPresent = false

    var hudVisible: Bool
    var hudStale = true
    var hudUpdatedAt: UInt64 = 0
    var hudRefreshForced = false
    var hudLines: [HUD.Line] = []
    var flashRects: [Rect] = []
    var flashStart: UInt64 = 0
    /// The last present showed some of the flash (so one more present must clear it once it has faded).
    var flashOnScreen = false
    var hudRect: Rect?
    var shownTimes: [UInt64] = []

    var stopReason: SDLStopReason?
    var quitRequests = 0
    var windowCloseSeen = false

    static let flashMillis: UInt64 = 300
    static let flashFillAlpha = 56.0
    static let flashOutlineAlpha = 170.0
    static let hudRefreshMillis: UInt64 = 250

    init(mailbox: FrameMailbox, options: SDLWindowOptions) {
        self.mailbox = mailbox
        self.options = options
        self.hudVisible = options.hudInitiallyOn
        videoDriver = SDL_GetCurrentVideoDriver().map { String(cString: $0) } ?? "unknown"
    }

    func destroy() {
        if let t = hudTexture { SDL_DestroyTexture(t) }
        if let t = panelTexture { SDL_DestroyTexture(t) }
        if let r = renderer { SDL_DestroyRenderer(r) }
        if let w = window { SDL_DestroyWindow(w) }
        hudTexture = nil
        panelTexture = nil
        renderer = nil
        window = nil
    }

    func run() throws -> SDLOutcome {
        logDriver()
        let interval = UInt64(1000 / max(1, min(1000, options.maxPresentsPerSecond)))
        var gaveUp = false
        while true {
            let started = SDL_GetTicks64()
            pumpEvents()
            if quitRequests >= 2 && !mailbox.isFinished {
                gaveUp = true
                break
            }
            // Read `finished` before taking: every frame published before finish() is then still taken below.
            let finished = mailbox.isFinished
            if let frame = mailbox.take() { try show(frame) }
            if window != nil { presentIfNeeded(now: SDL_GetTicks64()) }
            if finished {
                if window == nil || !options.stayOpenAfterFinish || stopReason != nil { break }
                markFinishedInTitle()
            }
            let spent = elapsed(since: started, now: SDL_GetTicks64())
            if spent < interval { SDL_Delay(UInt32(interval - spent)) }
        }

        var finalImage: ARGBImage?
        if options.captureFinalImage && window != nil {
            let wasVisible = hudVisible
            hudVisible = options.captureIncludesHUD && wasVisible
            finalImage = try readBack()
            hudVisible = wasVisible
        }
        let counts = mailbox.counts
        return SDLOutcome(
            stopReason: stopReason ?? .emulatorFinished, emulatorFinished: !gaveUp, framesShown: framesShown,
            framesPublished: counts.published, framesDropped: counts.published - counts.taken, presents: presents,
            videoDriver: videoDriver, renderer: rendererName, windowWidth: windowSize.width,
            windowHeight: windowSize.height, finalImage: finalImage)
    }

    // MARK: events

    func pumpEvents() {
        var ev = SDL_Event()
        while SDL_PollEvent(&ev) != 0 {
            switch ev.type {
            case SDL_QUIT.rawValue:
                requestQuit(windowCloseSeen ? .windowClosed : .quitEvent)
            case SDL_WINDOWEVENT.rawValue:
                switch UInt32(ev.window.event) {
                case SDL_WINDOWEVENT_CLOSE.rawValue:
                    // SDL follows this with SDL_QUIT (last window); that one counts as the request.
                    windowCloseSeen = true
                case SDL_WINDOWEVENT_EXPOSED.rawValue, SDL_WINDOWEVENT_SIZE_CHANGED.rawValue,
                     SDL_WINDOWEVENT_RESTORED.rawValue:
                    needsPresent = true
                default: break
                }
            case SDL_KEYDOWN.rawValue where ev.key.repeat == 0:
                switch ev.key.keysym.sym {
                case Int32(bitPattern: SDLK_h.rawValue):
                    hudVisible.toggle()
                    hudStale = true
                    needsPresent = true
                case Int32(bitPattern: SDLK_q.rawValue), Int32(bitPattern: SDLK_ESCAPE.rawValue):
                    requestQuit(.quitKey)
                default: break
                }
            case SDL_RENDER_TARGETS_RESET.rawValue, SDL_RENDER_DEVICE_RESET.rawValue:
                // Texture contents are gone; the panel image of the newest frame is what the panel shows.
                recreateTexturesAfterReset(deviceLost: ev.type == SDL_RENDER_DEVICE_RESET.rawValue)
            default: break
            }
        }
    }

    func requestQuit(_ reason: SDLStopReason) {
        quitRequests += 1
        if stopReason == nil { stopReason = reason }
        mailbox.requestStop()
    }

    // MARK: frames

    func show(_ frame: Frame) throws {
        precondition(frame.width > 0 && frame.height > 0 && frame.pixels.count == frame.width * frame.height,
                     "frame \(frame.index): \(frame.pixels.count) pixels for \(frame.width)x\(frame.height)")
        if window == nil {
            try openWindow(width: frame.width, height: frame.height)
            upload(frame, rects: [Rect(x: 0, y: 0, width: frame.width, height: frame.height)])
        } else if let c = current, c.width != frame.width || c.height != frame.height {
            try resize(width: frame.width, height: frame.height)
            upload(frame, rects: [Rect(x: 0, y: 0, width: frame.width, height: frame.height)])
        } else {
            upload(frame, rects: frame.dirty)
        }
        current = frame
        framesShown += 1
        let now = SDL_GetTicks64()
        shownTimes.append(now)
        shownTimes.removeAll { elapsed(since: $0, now: now) > 1000 }
        if !frame.dirty.isEmpty {
            flashRects = frame.lastBatchPages
            flashStart = now
        }
        hudStale = true
        needsPresent = true
    }

    /// Copies `rects` of the frame's panel image into the texture: pixels start at the rectangle's first pixel,
    /// pitch is the whole panel row (research/stack.md §2).
    func upload(_ frame: Frame, rects: [Rect]) {
        guard let texture = panelTexture else { return }
        var seen = Set<Rect>()
        frame.pixels.withUnsafeBytes { buf in
            for r in rects {
                let x0 = max(0, r.x), y0 = max(0, r.y)
                let x1 = min(frame.width, r.x + r.width), y1 = min(frame.height, r.y + r.height)
                guard x0 < x1, y0 < y1 else { continue }
                let clipped = Rect(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
                guard seen.insert(clipped).inserted else { continue }
                var rect = SDL_Rect(x: Int32(x0), y: Int32(y0), w: Int32(x1 - x0), h: Int32(y1 - y0))
                _ = SDL_UpdateTexture(texture, &rect, buf.baseAddress! + (y0 * frame.width + x0) * 4,
                                      Int32(frame.width * 4))
            }
        }
    }

    // MARK: window and textures

    func openWindow(width: Int, height: Int) throws {
        let w = width * options.scale, h = height * options.scale
        guard let win = SDL_CreateWindow(options.title, CSDL_WINDOWPOS_CENTERED, CSDL_WINDOWPOS_CENTERED,
                                         Int32(w), Int32(h), SDL_WINDOW_SHOWN.rawValue)
        else { throw SDLFrontendError(description: "cannot open a \(w)x\(h) window: \(sdlError())") }
        window = win
        guard let ren = SDL_CreateRenderer(win, -1, 0) else {
            throw SDLFrontendError(description: "cannot create an SDL renderer: \(sdlError())")
        }
        renderer = ren
        var info = SDL_RendererInfo()
        if SDL_GetRendererInfo(ren, &info) == 0, let name = info.name { rendererName = String(cString: name) }
        try createPanelTexture(width: width, height: height)
        updateWindowSize()
        options.log("fbdefio-emu: display: SDL video driver '\(videoDriver)', renderer '\(rendererName)', "
                    + "window \(windowSize.width)x\(windowSize.height) (panel \(width)x\(height) x\(options.scale))")
    }

    func resize(width: Int, height: Int) throws {
        SDL_SetWindowSize(window, Int32(width * options.scale), Int32(height * options.scale))
        if let t = panelTexture { SDL_DestroyTexture(t) }
        panelTexture = nil
        try createPanelTexture(width: width, height: height)
        updateWindowSize()
    }

    func createPanelTexture(width: Int, height: Int) throws {
        guard let tex = SDL_CreateTexture(renderer, SDL_PIXELFORMAT_ARGB8888.rawValue,
                                          Int32(SDL_TEXTUREACCESS_STREAMING.rawValue), Int32(width), Int32(height))
        else { throw SDLFrontendError(description: "cannot create a \(width)x\(height) texture: \(sdlError())") }
        SDL_SetTextureBlendMode(tex, SDL_BLENDMODE_NONE)  // the panel's alpha byte means nothing on screen
        panelTexture = tex
    }

    func updateWindowSize() {
        var w: Int32 = 0, h: Int32 = 0
        SDL_GetRendererOutputSize(renderer, &w, &h)
        windowSize = (Int(w), Int(h))
    }

    func recreateTexturesAfterReset(deviceLost: Bool) {
        guard let frame = current else { return }
        if deviceLost {
            if let t = panelTexture { SDL_DestroyTexture(t) }
            if let t = hudTexture { SDL_DestroyTexture(t) }
            panelTexture = nil
            hudTexture = nil
            hudTextureSize = (0, 0)
            do { try createPanelTexture(width: frame.width, height: frame.height) } catch {
                options.log("fbdefio-emu: display: \(error)")
                return
            }
        }
        upload(frame, rects: [Rect(x: 0, y: 0, width: frame.width, height: frame.height)])
        hudStale = true
        needsPresent = true
    }

    func markFinishedInTitle() {
        let title = options.title + " (finished)"
        if String(cString: SDL_GetWindowTitle(window)) != title { SDL_SetWindowTitle(window, title) }
    }

    // MARK: drawing

    func presentIfNeeded(now: UInt64) {
        let flashing = hudVisible && !flashRects.isEmpty && elapsed(since: flashStart, now: now) < Self.flashMillis
        let hudDue = hudVisible && hudStale && elapsed(since: hudUpdatedAt, now: now) >= Self.hudRefreshMillis
        guard needsPresent || flashing || flashOnScreen || hudDue else { return }
        draw(now: now)
        SDL_RenderPresent(renderer)
        presents += 1
        needsPresent = false
        if let onPresent = options.onPresent {
            var x: Int32 = 0, y: Int32 = 0
            SDL_GetWindowPosition(window, &x, &y)
            onPresent(SDLPresentInfo(
                frameIndex: current?.index ?? -1, framesShown: framesShown, presents: presents,
                window: Rect(x: Int(x), y: Int(y), width: windowSize.width, height: windowSize.height),
                hudVisible: hudVisible, hud: hudVisible ? hudRect : nil))
        }
    }

    func draw(now: UInt64) {
        SDL_SetRenderDrawColor(renderer, 0, 0, 0, 255)
        SDL_RenderClear(renderer)
        SDL_RenderCopy(renderer, panelTexture, nil, nil)
        flashOnScreen = false
        guard hudVisible else { return }
        drawFlash(now: now)
        drawHUD(now: now)
    }

    /// The pages of the last batch: a light yellow wash with a bright outline, fading out over `flashMillis` of wall
    /// time. Light, because with big batches several times a second it is on screen most of the time; outlined, so
    /// that page boundaries show (the driver sends whole pages).
    func drawFlash(now: UInt64) {
        let age = elapsed(since: flashStart, now: now)
        guard !flashRects.isEmpty, age < Self.flashMillis else { return }
        let fade = 1 - Double(age) / Double(Self.flashMillis)
        let s = Int32(options.scale)
        var rects = flashRects.filter { !$0.isEmpty }.map {
            SDL_Rect(x: Int32($0.x) * s, y: Int32($0.y) * s, w: Int32($0.width) * s, h: Int32($0.height) * s)
        }
        SDL_SetRenderDrawBlendMode(renderer, SDL_BLENDMODE_BLEND)
        SDL_SetRenderDrawColor(renderer, 255, 220, 0, UInt8(Self.flashFillAlpha * fade))
        SDL_RenderFillRects(renderer, &rects, Int32(rects.count))
        SDL_SetRenderDrawColor(renderer, 255, 220, 0, UInt8(Self.flashOutlineAlpha * fade))
        SDL_RenderDrawRects(renderer, &rects, Int32(rects.count))
        SDL_SetRenderDrawBlendMode(renderer, SDL_BLENDMODE_NONE)
        flashOnScreen = true
    }

    func drawHUD(now: UInt64) {
        if hudStale && (hudRefreshForced || elapsed(since: hudUpdatedAt, now: now) >= Self.hudRefreshMillis
                         || hudTexture == nil) {
            refreshHUDTexture()
            hudUpdatedAt = now
            hudStale = false
            hudRefreshForced = false
        }
        guard let tex = hudTexture else { return }
        // Double size when that still leaves most of a large window uncovered.
        let size = windowSize.width >= 3 * hudTextureSize.width && 2 * windowSize.height >= 5 * hudTextureSize.height
            ? 2 : 1
        var dst = SDL_Rect(x: 6, y: 6, w: Int32(hudTextureSize.width * size), h: Int32(hudTextureSize.height * size))
        SDL_RenderCopy(renderer, tex, nil, &dst)
        hudRect = Rect(x: 6, y: 6, width: Int(dst.w), height: Int(dst.h))
    }

    func refreshHUDTexture() {
        let counts = mailbox.counts
        let display = DisplayStats(framesShown: framesShown, framesDropped: counts.published - counts.taken,
                                   shownPerSecond: Double(shownTimes.count))
        let lines = HUD.lines(current?.hud ?? HUDStats(), display: display)
        if lines == hudLines && hudTexture != nil { return }
        hudLines = lines
        let image = HUD.render(lines)
        if hudTexture == nil || hudTextureSize != (image.width, image.height) {
            if let t = hudTexture { SDL_DestroyTexture(t) }
            hudTexture = SDL_CreateTexture(renderer, SDL_PIXELFORMAT_ARGB8888.rawValue,
                                           Int32(SDL_TEXTUREACCESS_STREAMING.rawValue),
                                           Int32(image.width), Int32(image.height))
            guard let t = hudTexture else {
                options.log("fbdefio-emu: display: cannot create the HUD texture: \(sdlError())")
                hudTextureSize = (0, 0)
                return
            }
            SDL_SetTextureBlendMode(t, SDL_BLENDMODE_BLEND)
            hudTextureSize = (image.width, image.height)
        }
        image.pixels.withUnsafeBytes { buf in
            _ = SDL_UpdateTexture(hudTexture, nil, buf.baseAddress, Int32(image.width * 4))
        }
    }

    /// Draws the current state (without presenting), reads the render target back, then presents it.
    func readBack() throws -> ARGBImage {
        let now = SDL_GetTicks64()
        hudStale = true
        hudRefreshForced = true  // the capture shows the newest numbers, not the throttled ones
        draw(now: now)
        let w = windowSize.width, h = windowSize.height
        var pixels = [UInt32](repeating: 0, count: w * h)
        let rc = pixels.withUnsafeMutableBytes { buf in
            SDL_RenderReadPixels(renderer, nil, SDL_PIXELFORMAT_ARGB8888.rawValue, buf.baseAddress, Int32(w * 4))
        }
        guard rc == 0 else { throw SDLFrontendError(description: "cannot read the window back: \(sdlError())") }
        SDL_RenderPresent(renderer)
        presents += 1
        return ARGBImage(width: w, height: h, pixels: pixels)
    }

    func logDriver() {
        let asked = options.videoDriver != nil || ProcessInfo.processInfo.environment["SDL_VIDEODRIVER"] != nil
        if !asked && (videoDriver == "offscreen" || videoDriver == "dummy") {
            options.log("fbdefio-emu: warning: no usable display (DISPLAY / WAYLAND_DISPLAY), SDL fell back to the "
                        + "'\(videoDriver)' video driver and nothing will be visible; use --headless, "
                        + "or set SDL_VIDEODRIVER=\(videoDriver) to run this way on purpose")
        }
    }
}
