// SPDX-License-Identifier: MIT — hand-over of panel frames from the emulator thread to the display (SDL or PNG).
import Kernel
import Panels
import Synchronization

/// Live numbers for the HUD and the summary, computed on the emulator thread (rates per second of virtual time).
package struct HUDStats: Sendable, Equatable {
    package var panel = ""
    package var workload = ""
    package var virtualTime = VirtualTime.zero
    package var faultsPerSecond = 0.0
    package var batchesPerSecond = 0.0
    package var pagesPerBatch = 0.0
    package var bytesPerBatch = 0.0
    /// Bytes the driver put on the bus vs bytes of the panel image that really changed, since boot.
    package var bytesSent = 0
    package var bytesChanged = 0
    /// Full-frame updates per second the panel's bus allows.
    package var sustainableFPS = 0.0
    package init() {}

    /// The numbers of a machine whose `workload` draws on `panel` through `info`, now.
    @EmuActor init(kernel: EmuKernel, info: FBInfo, panel: any PanelDriver, profile: PanelProfile, workload: String) {
        let seconds = max(Double(kernel.now.picoseconds) / 1e12, 1e-9)
        let s = panel.stats
        self.panel = profile.name
        self.workload = workload
        virtualTime = kernel.now
        faultsPerSecond = Double(kernel.stats.faults) / seconds
        batchesPerSecond = Double(info.defioStats.batches) / seconds
        let batches = max(info.defioStats.batches, 1)
        pagesPerBatch = Double(info.defioStats.pagesDelivered) / Double(batches)
        bytesPerBatch = Double(s.busBytes) / Double(batches)
        bytesSent = s.busBytes
        bytesChanged = s.changedBytes
        sustainableFPS = s.sustainableFPS
    }
}

/// One picture of the panel as the emulator saw it.
public struct Frame: Sendable {
    package var index: Int
    package var width: Int
    package var height: Int
    /// The panel image, 0xAARRGGBB, row-major.
    package var pixels: [UInt32]
    /// Rectangles the driver sent since the previous frame that was taken (only these need redrawing).
    package var dirty: [Rect]
    /// The screen area of each page of the most recent batch (for the HUD's flash overlay).
    package var lastBatchPages: [Rect]
    package var hud: HUDStats
    package init(index: Int, width: Int, height: Int, pixels: [UInt32], dirty: [Rect],
                lastBatchPages: [Rect], hud: HUDStats) {
        self.index = index
        self.width = width
        self.height = height
        self.pixels = pixels
        self.dirty = dirty
        self.lastBatchPages = lastBatchPages
        self.hud = hud
    }
}

/// A one-slot mailbox between the emulator thread (publishes) and the main thread (takes). A frame not yet taken
/// is replaced by the newer one, with the dirty rectangles of both, so the display never misses damage. The display
/// side can ask the emulator to stop (window closed, Ctrl-C); the emulator polls that only in live mode.
public final class FrameMailbox: Sendable {
    private struct State {
        var frame: Frame?
        var published = 0
        var taken = 0
        var finished = false
    }
    private let state = Mutex(State())
    private let stop = Atomic<Bool>(false)

    package init() {}

    package func publish(_ frame: Frame) {
        state.withLock { s in
            var f = frame
            if let pending = s.frame { f.dirty = pending.dirty + f.dirty }
            s.frame = f
            s.published += 1
        }
    }

    /// The newest frame not taken yet, if any.
    package func take() -> Frame? {
        state.withLock { s in
            guard let f = s.frame else { return nil }
            s.frame = nil
            s.taken += 1
            return f
        }
    }

    /// The emulator will publish no more frames.
    package func finish() { state.withLock { $0.finished = true } }
    package var isFinished: Bool { state.withLock { $0.finished } }
    package var counts: (published: Int, taken: Int) { state.withLock { ($0.published, $0.taken) } }

    /// Asks the emulator to wind down (checked between frames of the live run).
    package func requestStop() { stop.store(true, ordering: .relaxed) }
    package var stopRequested: Bool { stop.load(ordering: .relaxed) }
}
