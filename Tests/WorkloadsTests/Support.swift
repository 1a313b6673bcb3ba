// SPDX-License-Identifier: MIT — helpers of the Workloads tests: assets, hashing, reference and emulated renderings.
import Kernel
import Testing
@testable import Workloads

/// The package's own assets, loaded once for every test (`Assets.load()` finds `Assets/` above the test bundle).
let sharedAssets = Result { () throws(AssetError) -> Assets in try Assets.load() }

/// FNV-1a, 64 bits: the hash of the golden renderings.
func fnv1a64(_ bytes: [UInt8]) -> UInt64 {
    var h = FNV1a()
    h.mix(bytes: bytes)
    return h.value
}

/// 16 hex digits.
func hex64(_ v: UInt64) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
}

/// One process of a shared-screen run: the clip it owns, its seed, and how it maps the framebuffer.
struct Band {
    enum Mapping {
        /// The whole device at file offset 0.
        case whole
        /// Only the page-rounded rows of the clip (a non-zero file offset unless the clip starts on the first page).
        case rows
    }
    var clip: Rect
    var seed: UInt64
    var mapping: Mapping
}

/// Draws `frames` frames of each band's workload straight into a plain buffer: the reference rendering.
@EmuActor func referenceRendering(_ kind: WorkloadKind, layout: FramebufferLayout, bands: [Band], frames: Int,
                                  sentinel: UInt8 = 0) throws -> [UInt8] {
    let assets = try sharedAssets.get()
    let canvas = PlainCanvas(layout: layout, filling: sentinel)
    for b in bands {
        canvas.clip = b.clip
        let w = kind.make(seed: b.seed, clip: b.clip, screenWidth: layout.width, screenHeight: layout.height,
                          assets: assets)
        try w.drawFrames(0 ..< frames, on: canvas)
    }
    return canvas.bytes
}

/// What an emulated run left behind.
struct EmulatedRun {
    var bytes: [UInt8]
    var exits: [ProcessExit]
    var stats: VMStat
}

/// Runs one fake process per band, each drawing `frames` frames of `kind` through its own MMU into a scratch device
/// (prefilled with `sentinel`), under round-robin scheduling; returns the device's bytes afterwards.
@EmuActor func emulatedRendering(_ kind: WorkloadKind, layout: FramebufferLayout, bands: [Band], frames: Int,
                                 sentinel: UInt8 = 0, mkwrite: ScratchDevice.Mkwrite = .lockedLikeFBDefio)
    throws -> EmulatedRun {
    let assets = try sharedAssets.get()
    let k = EmuKernel(policy: .roundRobin(quantum: .us(20)), ramPages: 8192)
    let pages = pageAlign(layout.byteCount) >> PAGE_SHIFT
    let dev = ScratchDevice(k, pages: pages, mkwrite: mkwrite)
    let fill = [UInt8](repeating: sentinel, count: pages * PAGE_SIZE)
    fill.withUnsafeBytes { k.vmalloc.write(dev.base, $0) }
    for (i, b) in bands.enumerated() {
        k.spawnProcess("\(kind.name)\(i)") { t in
            let fd = try t.open(dev.inode)
            let canvas: MappedCanvas
            switch b.mapping {
            case .whole:
                let a = try t.mmap(length: pages * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
                canvas = MappedCanvas(task: t, origin: a, layout: layout, clip: b.clip)
            case .rows:
                canvas = try MappedCanvas.map(task: t, fd: fd, layout: layout, clip: b.clip)
            }
            let w = kind.make(seed: b.seed, clip: b.clip, screenWidth: layout.width, screenHeight: layout.height,
                              assets: assets)
            try w.drawFrames(0 ..< frames, on: canvas)
        }
    }
    let outcome = k.sched.run()
    #expect(outcome == .completed)
    var out = [UInt8](repeating: 0, count: layout.byteCount)
    out.withUnsafeMutableBytes { k.vmalloc.read(dev.base, into: $0) }
    return EmulatedRun(bytes: out, exits: k.processes.map(\.exitStatus), stats: k.stats)
}

/// Byte offsets of `layout` that belong to no pixel of any of `clips` (line padding included).
func offsetsOutside(_ clips: [Rect], layout: FramebufferLayout) -> [Int] {
    let bpp = layout.bytesPerPixel
    var out: [Int] = []
    for o in 0 ..< layout.byteCount {
        let y = o / layout.lineLength, xb = o % layout.lineLength
        if xb >= layout.width * bpp || !clips.contains(where: { $0.contains(x: xb / bpp, y: y) }) { out.append(o) }
    }
    return out
}
