// SPDX-License-Identifier: MIT — runs the live SDL window on this process's main thread with a synthetic feed:
// a test card with a moving box (only the box's old and new rectangles are sent), then the clean card.
// The Frontend tests start it as a child process (under Xvfb, or the dummy video driver) to check what the
// window shows and how it reacts to signals. Prints "ready …" once the final card is on screen, "summary …" at exit.
import Foundation
import Frontend
import Kernel
import Lab
import Synchronization

struct HarnessArguments {
    var width = 160
    var height = 96
    var scale = 3
    var hud = false
    var hold = false
    var animate = 24
    var capture: String?
    var captureHUD = false
    var panelPNG: String?

    static let usage = """
        usage: sdl-harness [--size WxH] [--scale N] [--hud] [--animate FRAMES] [--hold]
                           [--capture FILE.png] [--capture-hud] [--panel-png FILE.png]
          --hold         after the final frame, keep the emulator side "running" until the window asks it to stop
                         (window close, q, Escape, SIGINT, SIGTERM)
          --capture      write the window read back after the last frame (HUD off unless --capture-hud)
          --panel-png    write the final panel image
        """

    init(_ args: [String]) throws {
        var i = 0
        func value() throws -> String {
            i += 1
            guard i < args.count else { throw HarnessError("\(args[i - 1]) needs a value") }
            return args[i]
        }
        func number(_ s: String, _ range: ClosedRange<Int>) throws -> Int {
            guard let n = Int(s), range.contains(n) else { throw HarnessError("'\(s)' is not in \(range)") }
            return n
        }
        while i < args.count {
            switch args[i] {
            case "--size":
                let parts = try value().split(separator: "x")
                guard parts.count == 2 else { throw HarnessError("--size wants WxH") }
                width = try number(String(parts[0]), 8 ... 1024)
                height = try number(String(parts[1]), 8 ... 1024)
            case "--scale": scale = try number(try value(), 1 ... 8)
            case "--hud": hud = true
            case "--hold": hold = true
            case "--animate": animate = try number(try value(), 0 ... 10000)
            case "--capture": capture = try value()
            case "--capture-hud": captureHUD = true
            case "--panel-png": panelPNG = try value()
            case "--help", "-h":
                say(Self.usage)
                exit(0)
            default: throw HarnessError("unknown argument '\(args[i])'")
            }
            i += 1
        }
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Writes a line to standard output at once (FileHandle is unbuffered: a parent reading the pipe sees it now).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// The synthetic emulator: publishes the feed from its own thread, like the real emulator thread does.
struct Feed: Sendable {
    let args: HarnessArguments
    let card: ARGBImage

    var finalIndex: Int { args.animate }

    func box(_ i: Int) -> Rect {
        let side = max(4, min(args.width, args.height) / 4)
        let span = max(1, args.width - side)
        let x = (i * 7) % span
        return Rect(x: x, y: (args.height - side) / 2, width: side, height: side)
    }

    /// The screen area of each 4 KiB page (32 bpp) that holds a row of `rect`.
    func pages(_ rect: Rect) -> [Rect] {
        let rowsPerPage = max(1, 1024 / args.width)
        let first = rect.y / rowsPerPage, last = (rect.y + rect.height - 1) / rowsPerPage
        return (first ... last).map { p in
            Rect(x: 0, y: p * rowsPerPage, width: args.width, height: min(rowsPerPage, args.height - p * rowsPerPage))
        }
    }

    func stats(_ i: Int, sent: Int, changed: Int) -> HUDStats {
        var s = HUDStats()
        s.panel = "test-card \(args.width)x\(args.height)"
        s.workload = "sdl-harness"
        s.virtualTime = .ms(Int64(i) * 16)
        s.faultsPerSecond = 1875.5
        s.batchesPerSecond = 62.5
        s.pagesPerBatch = 3.25
        s.bytesPerBatch = 13312
        s.bytesSent = sent
        s.bytesChanged = changed
        s.sustainableFPS = 54.3
        return s
    }

    func run(_ mailbox: FrameMailbox) {
        var sent = 0, changed = 0
        var previous: Rect?
        for i in 0 ..< args.animate {
            var img = card
            let b = box(i)
            for y in b.y ..< b.y + b.height {
                for x in b.x ..< b.x + b.width { img[x, y] = 0xFF20_C040 }
            }
            let dirty = i == 0 ? [Rect(x: 0, y: 0, width: args.width, height: args.height)]
                : [previous!, b]
            let batch = dirty.flatMap(pages)
            sent += batch.count * 4096
            changed += b.width * b.height * 4
            mailbox.publish(Frame(index: i, width: args.width, height: args.height, pixels: img.pixels, dirty: dirty,
                                  lastBatchPages: batch, hud: stats(i, sent: sent, changed: changed)))
            previous = b
            Thread.sleep(forTimeInterval: 0.008)
        }
        let dirty = previous.map { [$0] } ?? [Rect(x: 0, y: 0, width: args.width, height: args.height)]
        mailbox.publish(Frame(index: finalIndex, width: args.width, height: args.height, pixels: card.pixels,
                              dirty: dirty, lastBatchPages: dirty.flatMap(pages),
                              hud: stats(finalIndex, sent: sent + 4096, changed: changed)))
        if args.hold {
            while !mailbox.stopRequested { Thread.sleep(forTimeInterval: 0.005) }
        }
        mailbox.finish()
    }
}

/// Announces, once, that the final card has been presented, with where the window is.
final class ReadyLatch: Sendable {
    let finalIndex: Int
    let said = Mutex(false)
    init(finalIndex: Int) { self.finalIndex = finalIndex }

    func presented(_ info: SDLPresentInfo) {
        guard info.frameIndex == finalIndex else { return }
        let first = said.withLock { s in
            defer { s = true }
            return !s
        }
        if first {
            let w = info.window
            let hud = info.hud.map { "\($0.x),\($0.y),\($0.width),\($0.height)" } ?? "off"
            say("ready x=\(w.x) y=\(w.y) w=\(w.width) h=\(w.height) hud=\(hud)")
        }
    }
}

let args: HarnessArguments
do { args = try HarnessArguments(Array(CommandLine.arguments.dropFirst())) } catch {
    FileHandle.standardError.write(Data("sdl-harness: \(error)\n\(HarnessArguments.usage)\n".utf8))
    exit(2)
}

let feed = Feed(args: args, card: TestCard.image(width: args.width, height: args.height))
if let path = args.panelPNG {
    do { try feed.card.writePNG(path) } catch {
        FileHandle.standardError.write(Data("sdl-harness: \(error)\n".utf8))
        exit(1)
    }
}

let mailbox = FrameMailbox()
let latch = ReadyLatch(finalIndex: feed.finalIndex)
var options = SDLWindowOptions(title: "sdl-harness", scale: args.scale, hudInitiallyOn: args.hud)
options.captureFinalImage = args.capture != nil
options.captureIncludesHUD = args.captureHUD
options.onPresent = { info in latch.presented(info) }

Thread.detachNewThread { feed.run(mailbox) }

do {
    let outcome = try runSDLWindow(mailbox, options: options)
    if let path = args.capture, let image = outcome.finalImage { try image.writePNG(path) }
    say("summary \(outcome.summary)")
    exit(outcome.emulatorFinished ? 0 : 3)
} catch {
    FileHandle.standardError.write(Data("sdl-harness: \(error)\n".utf8))
    exit(1)
}
