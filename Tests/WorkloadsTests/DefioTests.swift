// SPDX-License-Identifier: MIT — the workloads end to end on a real fb_defio framebuffer: no lost update.
import Kernel
import Testing
@testable import Workloads
import TestSupport

@Suite struct DefioTests {
    /// DESIGN.md §7 in miniature: three processes draw console, cursor and life in the bands of
    /// `WorkloadTests.sharedScreen` on /dev/fb0 with deferred I/O (a 20 ms delay; the driver copies every page it is
    /// handed to a panel buffer), pausing 8 ms of virtual time after each frame so the worker write-protects pages
    /// between frames and the next frame faults them again, under a seeded random schedule. After each process's
    /// final fsync, the panel equals the framebuffer, which equals the reference rendering. The worker takes the page
    /// lock (`FBDefIOVariant.workerLocksPage`): without it updates can be lost, which is the kernel's bug, not the
    /// workloads' (FBDefIORaceTests).
    @Test(arguments: WorkloadTests.formats) @EmuActor func noLostUpdateOnFBDefio(format: PixelFormat) throws {
        let (layout, bands) = WorkloadTests.sharedScreen(format)
        let kinds: [WorkloadKind] = [.console, .cursor, .life]
        let frames = 12
        let assets = try sharedAssets.get()
        let k = EmuKernel(policy: .random(seed: 7, switchRatio: Ratio(1, 4)), ramPages: 8192)
        let info = try #require(FBInfo(kernel: k, xres: layout.width, yres: layout.height,
                                       bitsPerPixel: format.bitsPerPixel, lineLength: layout.lineLength))
        var variant = FBDefIOVariant.upstream
        variant.workerLocksPage = true
        info.variant = variant
        let panel = Box([UInt8](repeating: 0, count: info.fix.smemLen))
        info.fbdefio = FBDeferredIO(delay: k.sched.tickRate.msecsToJiffies(20)) { info, refs in
            panel.value.withUnsafeMutableBytes { p in
                for r in refs {
                    let page = UnsafeMutableRawBufferPointer(rebasing: p[r.offset ..< r.offset + PAGE_SIZE])
                    info.kernel.vmalloc.read(info.screenBuffer + UInt64(r.offset), into: page)
                }
            }
        }
        #expect(fbDeferredIOInit(info) == nil)
        for (i, b) in bands.enumerated() {
            k.spawnProcess("\(kinds[i].name)\(i)") { t in
                let fd = try t.open(info.node)
                let canvas: MappedCanvas
                switch b.mapping {
                case .whole:
                    let a = try t.mmap(length: info.fix.smemLen, prot: .readWrite, flags: .shared, fd: fd)
                    canvas = MappedCanvas(task: t, origin: a, layout: layout, clip: b.clip)
                case .rows:
                    canvas = try MappedCanvas.map(task: t, fd: fd, layout: layout, clip: b.clip)
                }
                let w = kinds[i].make(seed: b.seed, clip: b.clip, screenWidth: layout.width,
                                      screenHeight: layout.height, assets: assets)
                for n in 0 ..< frames {
                    try w.drawFrame(n, on: canvas)
                    k.sched.sleep(until: k.now + .ms(8))
                }
                try t.fsync(fd)
            }
        }
        #expect(k.sched.run() == .completed)
        #expect(k.processes.map(\.exitStatus) == Array(repeating: .exited, count: bands.count))
        let screen = Array(info.readScreen()[0 ..< layout.byteCount])
        let panelMatches = Array(panel.value[0 ..< layout.byteCount]) == screen
        #expect(panelMatches, "the panel lost an update")
        let reference = PlainCanvas(layout: layout)
        for (i, b) in bands.enumerated() {
            reference.clip = b.clip
            let w = kinds[i].make(seed: b.seed, clip: b.clip, screenWidth: layout.width,
                                  screenHeight: layout.height, assets: assets)
            try w.drawFrames(0 ..< frames, on: reference)
        }
        let screenMatches = screen == reference.bytes
        #expect(screenMatches, "the framebuffer differs from the reference rendering")
        // The pages were tracked, delivered in several batches, and faulted again after being write-protected.
        #expect(info.defioStats.batches > 2)
        #expect(k.stats.pageMkwriteCalls > pageAlign(layout.byteCount) / PAGE_SIZE)
    }
}
