// SPDX-License-Identifier: MIT — every workload, drawn by fake processes through the emulated MMU, against its
// reference rendering; determinism; goldens; write patterns.
import Kernel
import Testing
import TestSupport
@testable import Workloads

@Suite struct WorkloadTests {
    static let formats = [PixelFormat.rgb565, .xrgb8888]
    static let sentinel: UInt8 = 0xA5

    /// A 176×120 screen with 24 bytes of padding per line, shared by three processes:
    ///
    ///     rows   0..< 40  A: whole width, maps the whole device at offset 0
    ///     rows  40..< 44  (nobody)
    ///     rows  44..< 88  B: columns 12..<162 only, maps just its rows (a non-zero file offset)
    ///     rows  88..< 92  (nobody)
    ///     rows  92..<120  C: whole width, maps just its rows (too short for two console lines: no copy scroll)
    static func sharedScreen(_ format: PixelFormat) -> (FramebufferLayout, [Band]) {
        let layout = FramebufferLayout(width: 176, height: 120, format: format,
                                       lineLength: 176 * format.bitsPerPixel / 8 + 24)
        let bands = [
            Band(clip: Rect(x: 0, y: 0, width: 176, height: 40), seed: 11, mapping: .whole),
            Band(clip: Rect(x: 12, y: 44, width: 150, height: 44), seed: 12, mapping: .rows),
            Band(clip: Rect(x: 0, y: 92, width: 176, height: 28), seed: 13, mapping: .rows),
        ]
        return (layout, bands)
    }

    static let cases: [(WorkloadKind, PixelFormat)] = WorkloadKind.allCases.flatMap { k in formats.map { (k, $0) } }

    /// The no-lost-update premise (DESIGN.md §7): what three processes drew through their MMUs into the device is
    /// byte for byte the reference rendering of the same workloads on a PlainCanvas, and nothing outside the clips
    /// (gaps, columns beside B, line padding) was written.
    @Test(arguments: cases) @EmuActor func emulatedMatchesReference(kind: WorkloadKind, format: PixelFormat)
        throws {
        let (layout, bands) = Self.sharedScreen(format)
        let frames = 14
        let run = try emulatedRendering(kind, layout: layout, bands: bands, frames: frames,
                                              sentinel: Self.sentinel)
        #expect(run.exits == Array(repeating: .exited, count: bands.count))
        #expect(run.stats.pageMkwriteCalls > 0)
        let reference = try referenceRendering(kind, layout: layout, bands: bands, frames: frames,
                                                     sentinel: Self.sentinel)
        let identical = run.bytes == reference
        #expect(identical, "the device differs from the reference rendering")
        let outside = offsetsOutside(bands.map(\.clip), layout: layout)
        #expect(outside.count > 0)
        #expect(outside.allSatisfy { run.bytes[$0] == Self.sentinel })
        // And every clip was drawn in (some byte of it differs from the sentinel).
        for b in bands {
            let o = layout.offset(x: b.clip.x, y: b.clip.y)
            #expect(run.bytes[o ..< o + b.clip.width * format.bitsPerPixel / 8].contains { $0 != Self.sentinel })
        }
    }

    /// With a ->page_mkwrite that sleeps (so other processes run inside every write fault), the result is the same.
    @Test(arguments: [WorkloadKind.console, .cursor]) @EmuActor func slowMkwriteChangesNothing(kind: WorkloadKind)
        throws {
        let (layout, bands) = Self.sharedScreen(.rgb565)
        let run = try emulatedRendering(kind, layout: layout, bands: bands, frames: 10,
                                              mkwrite: .sleepThenLock(.us(3)))
        #expect(run.exits == Array(repeating: .exited, count: bands.count))
        let identical = run.bytes == (try referenceRendering(kind, layout: layout, bands: bands, frames: 10))
        #expect(identical, "the device differs from the reference rendering")
    }

    /// Same seed, same bytes; another seed, other bytes — for every workload.
    @Test(arguments: WorkloadKind.allCases) @EmuActor func determinism(kind: WorkloadKind) throws {
        let layout = FramebufferLayout(width: 160, height: 96, format: .xrgb8888)
        func render(_ seed: UInt64) throws -> [UInt8] {
            try referenceRendering(kind, layout: layout,
                                         bands: [Band(clip: layout.screen, seed: seed, mapping: .whole)], frames: 12)
        }
        let a = try render(5), b = try render(5), c = try render(6)
        let same = a == b, differs = a != c
        #expect(same, "same seed, different bytes")
        #expect(differs, "different seeds, same bytes")
    }

    /// Goldens (Goldens/renderings.txt): FNV-1a 64 of the 320×240 XRGB8888 screen after 10 frames with seed 1. A
    /// change here changes what every recorded run shows; re-record (`make golden`) only on purpose.
    static let goldens = GoldenLines("renderings.txt", besides: #filePath)

    @Test func everyWorkloadHasAGoldenRendering() {
        #expect(Set(Self.goldens.keys) == Set(WorkloadKind.allCases.map(\.name)))
    }

    @Test(arguments: goldens.keys) @EmuActor func golden(workload: String) throws {
        let kind = try #require(WorkloadKind.allCases.first { $0.name == workload })
        let layout = FramebufferLayout(width: 320, height: 240, format: .xrgb8888)
        let bytes = try referenceRendering(kind, layout: layout,
                                                 bands: [Band(clip: layout.screen, seed: 1, mapping: .whole)],
                                                 frames: 10)
        let got = hex64(fnv1a64(bytes))
        #expect(got == Self.goldens.expected(workload, recording: got), "\(workload)")
    }

    /// Write patterns, measured frame by frame (1…15) at 320×240 XRGB8888 (75 pages): plasma rewrites nearly every
    /// page of the screen each frame; the cursor only a few pages; life and sprites change a minority of the bytes;
    /// the console, between scrolls, only the pages of the line being typed.
    @Test @EmuActor func writePatterns() throws {
        let layout = FramebufferLayout(width: 320, height: 240, format: .xrgb8888)
        let assets = try sharedAssets.get()
        let pages = pageAlign(layout.byteCount) / PAGE_SIZE
        var pagesMin: [WorkloadKind: Int] = [:], pagesMax: [WorkloadKind: Int] = [:]
        var bytesMin: [WorkloadKind: Int] = [:], bytesMax: [WorkloadKind: Int] = [:]
        for kind in WorkloadKind.allCases {
            let canvas = PlainCanvas(layout: layout)
            let w = kind.make(seed: 3, clip: layout.screen, screenWidth: 320, screenHeight: 240, assets: assets)
            try w.drawFrame(0, on: canvas)
            for n in 1 ..< 16 {
                let before = canvas.bytes
                try w.drawFrame(n, on: canvas)
                var changedPages = 0, changedBytes = 0
                canvas.bytes.withUnsafeBufferPointer { after in
                    before.withUnsafeBufferPointer { old in
                        for p in 0 ..< pages {
                            var dirty = false
                            for i in p * PAGE_SIZE ..< min((p + 1) * PAGE_SIZE, old.count) where old[i] != after[i] {
                                dirty = true
                                changedBytes += 1
                            }
                            if dirty { changedPages += 1 }
                        }
                    }
                }
                pagesMin[kind] = min(pagesMin[kind] ?? pages, changedPages)
                pagesMax[kind] = max(pagesMax[kind] ?? 0, changedPages)
                bytesMin[kind] = min(bytesMin[kind] ?? Int.max, changedBytes)
                bytesMax[kind] = max(bytesMax[kind] ?? 0, changedBytes)
            }
        }
        let total = layout.byteCount
        #expect(pagesMin[.plasma]! >= pages * 9 / 10)
        #expect(pagesMax[.cursor]! <= 16 && pagesMin[.cursor]! >= 1)
        #expect(bytesMax[.life]! < total / 4 && bytesMin[.life]! >= 1)
        #expect(bytesMax[.sprites]! < total / 2 && bytesMin[.sprites]! >= 1)
        #expect(pagesMin[.console]! <= 6)
    }

    /// Degenerate clips (empty, thinner than a glyph or a cell, off screen) draw nothing outside themselves and
    /// never trap.
    @Test(arguments: WorkloadKind.allCases) @EmuActor func degenerateClips(kind: WorkloadKind) throws {
        let layout = FramebufferLayout(width: 64, height: 48, format: .rgb565)
        let assets = try sharedAssets.get()
        for clip in [Rect(x: 0, y: 0, width: 0, height: 0), Rect(x: 3, y: 5, width: 2, height: 1),
                     Rect(x: 10, y: 10, width: 7, height: 40), Rect(x: 60, y: 40, width: 30, height: 30),
                     Rect(x: -20, y: -20, width: 10, height: 10)] {
            let canvas = PlainCanvas(layout: layout, clip: clip, filling: Self.sentinel)
            let w = kind.make(seed: 1, clip: clip, screenWidth: 64, screenHeight: 48, assets: assets)
            try w.drawFrames(0 ..< 6, on: canvas)
            #expect(offsetsOutside([clip], layout: layout).allSatisfy { canvas.bytes[$0] == Self.sentinel })
        }
    }

    /// The console scrolls: after enough frames its first text line is no longer the first log line, and the
    /// larger font is chosen for a 1920×1080 screen.
    @Test @EmuActor func consoleScrollsAndPicksItsFont() throws {
        let assets = try sharedAssets.get()
        let small = ConsoleWorkload(seed: 1, clip: Rect(x: 0, y: 0, width: 320, height: 240), screenWidth: 320,
                                    screenHeight: 240, assets: assets)
        #expect(small.font.height == 16 && small.cols == 40 && small.rows == 15)
        let big = ConsoleWorkload(seed: 1, clip: Rect(x: 0, y: 0, width: 1920, height: 1080), screenWidth: 1920,
                                  screenHeight: 1080, assets: assets)
        #expect(big.font.height == 32 && big.cols == 120 && big.rows == 33)
        let layout = FramebufferLayout(width: 320, height: 240, format: .xrgb8888)
        let canvas = PlainCanvas(layout: layout)
        try small.drawFrames(0 ..< 3, on: canvas)
        let firstLine = Array(canvas.bytes[0 ..< 16 * layout.lineLength])
        try small.drawFrames(3 ..< 40, on: canvas)
        #expect(Array(canvas.bytes[0 ..< 16 * layout.lineLength]) != firstLine)
    }

    /// The registry: names are the raw values, summaries one line, and `make` builds the named type.
    @Test @EmuActor func registry() throws {
        let assets = try sharedAssets.get()
        #expect(WorkloadKind.allCases.map(\.name) == ["console", "sprites", "plasma", "life", "cursor"])
        for kind in WorkloadKind.allCases {
            #expect(kind.name == kind.rawValue)
            #expect(!kind.summary.isEmpty && !kind.summary.contains("\n"))
            let w = kind.make(seed: 0, clip: Rect(x: 0, y: 0, width: 32, height: 32), screenWidth: 32,
                              screenHeight: 32, assets: assets)
            #expect(type(of: w).name == kind.name)
            #expect(w.clip == Rect(x: 0, y: 0, width: 32, height: 32))
        }
    }

    /// Names and summaries can be listed from any thread (the CLI lists them before an emulator exists).
    @Test func registryIsReadableOffTheEmulator() {
        let lines = WorkloadKind.allCases.map { "\($0.name): \($0.summary)" }
        #expect(lines.count == 5 && lines.allSatisfy { !$0.isEmpty })
        #expect(WorkloadKind(rawValue: "plasma") == .plasma && WorkloadKind(rawValue: "nope") == nil)
    }
}

/// A workload's failures are typed errors its process dies of, never a trap.
@Suite struct DrawErrorTests {
    /// Every workload refuses a frame out of order, naming itself and the frame it expected; the one it expected
    /// still draws afterwards.
    @Test @EmuActor func framesOutOfOrderAreRefused() throws {
        let layout = FramebufferLayout(width: 64, height: 48, format: .rgb565)
        let assets = try sharedAssets.get()
        for kind in WorkloadKind.allCases {
            let canvas = PlainCanvas(layout: layout)
            let w = kind.make(seed: 1, clip: layout.screen, screenWidth: 64, screenHeight: 48, assets: assets)
            #expect(throws: DrawError.frameOutOfOrder(workload: kind.name, expected: 0, got: 1)) {
                try w.drawFrame(1, on: canvas)
            }
            try w.drawFrame(0, on: canvas)
            #expect(throws: DrawError.frameOutOfOrder(workload: kind.name, expected: 1, got: 0)) {
                try w.drawFrame(0, on: canvas)
            }
            try w.drawFrame(1, on: canvas)
        }
    }

    /// A blit whose colours do not fill its block draws nothing and says so.
    @Test @EmuActor func blitWithTheWrongPixelCountIsRefused() {
        let canvas = PlainCanvas(layout: FramebufferLayout(width: 8, height: 8, format: .xrgb8888))
        let before = canvas.bytes
        #expect(throws: DrawError.pixelCount(width: 2, height: 2, count: 3)) {
            try canvas.blit(x: 0, y: 0, width: 2, height: 2, pixels: [1, 2, 3])
        }
        #expect(canvas.bytes == before)
    }

    /// A mapped canvas's store that faults is the process's `UserFault`: drawing outside the mapping kills the
    /// process with SIGSEGV, which the kernel records.
    @Test @EmuActor func aFaultingStoreIsTheProcessFault() throws {
        let k = EmuKernel(policy: .roundRobin(), tickRate: TickRate(hz: 250), ramPages: 1024)
        let layout = FramebufferLayout(width: 64, height: 48, format: .rgb565)
        let caught = Box<DrawError?>(nil)
        let t = try #require(k.spawnProcess("draw") { t in
            let canvas = MappedCanvas(task: t, origin: VirtAddr(0x4000_0000), layout: layout, clip: layout.screen)
            do throws(DrawError) { try canvas.plot(x: 1, y: 1, rgb: 0xFFFFFF) } catch {
                caught.value = error
                if case .fault(let f) = error { throw f }
            }
        })
        #expect(k.sched.run() == .completed)
        guard case .fault(.sigsegv(_, .mapErr)) = caught.value else {
            Issue.record("expected a SIGSEGV, got \(String(describing: caught.value))")
            return
        }
        guard case .killed(.sigsegv) = t.exitStatus else {
            Issue.record("the process should be killed by the SIGSEGV, is \(String(describing: t.exitStatus))")
            return
        }
    }
}
