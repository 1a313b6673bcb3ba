// SPDX-License-Identifier: MIT — the demo programs fake processes run, and their registry (kernel analogue: the
// user-space programs that draw into /dev/fbN — fbcon's text console, X11's software cursor, fbtest demos).
import Kernel

/// A demo program that draws frames into its clip of the framebuffer.
///
/// Determinism contract: frame `n`'s drawing depends only on the seed, the clip, the screen size, `n`, and what
/// this workload itself drew earlier inside its clip — never on timing or on other processes. Frames are drawn in
/// order from 0 on one instance; so a fresh instance created with the same arguments and replayed on a
/// `PlainCanvas` reproduces exactly the bytes it drew through the emulated MMU (DESIGN.md §7's reference rendering).
/// A workload whose frames each overwrite their whole region without reading it may defer them on a `PlainCanvas`
/// (`PlainCanvas.deferOverwrite`), so that a replay draws only the frames that still show.
@EmuActor package protocol Workload: AnyObject {
    /// Short name, as the CLI spells it (`console`, `sprites`, …).
    nonisolated static var name: String { get }
    /// One line saying what it draws and which write pattern that gives.
    nonisolated static var summary: String { get }
    /// The region this instance draws in.
    var clip: Rect { get }
    /// A workload for `clip` of a `screenWidth` × `screenHeight` screen, seeded by `seed`.
    init(seed: UInt64, clip: Rect, screenWidth: Int, screenHeight: Int, assets: Assets)
    /// Draws frame `n` (frames must come in order 0, 1, 2, …).
    func drawFrame(_ n: Int, on canvas: some Canvas) throws(DrawError)
}

extension Workload {
    /// Draws frames `frames` in order: the whole run of a process, or its reference rendering on a `PlainCanvas`.
    package func drawFrames(_ frames: Range<Int>, on canvas: some Canvas) throws(DrawError) {
        for n in frames { try drawFrame(n, on: canvas) }
    }
}

extension Rect {
    /// Splits a `width` × `height` screen into `count` full-width horizontal bands of (nearly) equal height, top to
    /// bottom: the clips of `count` processes that share the screen. Bands may be empty when `count > height`.
    package static func bands(width: Int, height: Int, count: Int) -> [Rect] {
        precondition(count > 0, "at least one band")
        var out: [Rect] = []
        out.reserveCapacity(count)
        for i in 0 ..< count {
            let top = height * i / count, bottom = height * (i + 1) / count
            out.append(Rect(x: 0, y: top, width: width, height: bottom - top))
        }
        return out
    }
}

/// The workloads the emulator ships, by name. Kernel analogue: none (the menu of demo programs).
package enum WorkloadKind: String, CaseIterable, Sendable {
    /// fbcon-like text console: glyph blits, scrolling by copyarea, a blinking cursor.
    case console
    /// Bouncing outlined shapes over a plain background.
    case sprites
    /// A full-clip plasma effect every frame.
    case plasma
    /// Conway's game of life, redrawing only changed cells.
    case life
    /// A mouse-cursor arrow gliding over a still picture.
    case cursor

    /// The Swift type implementing the workload.
    package var type: any Workload.Type {
        switch self {
        case .console: ConsoleWorkload.self
        case .sprites: SpritesWorkload.self
        case .plasma: PlasmaWorkload.self
        case .life: LifeWorkload.self
        case .cursor: CursorWorkload.self
        }
    }

    /// Whether the workload draws the assets' backdrop picture (see `Assets.load(from:backdrop:)`).
    package var showsBackdrop: Bool { self == .cursor }

    /// The CLI name (same as `rawValue`).
    package var name: String { type.name }
    /// One-line description for listings.
    package var summary: String { type.summary }

    /// A new instance of the workload (see `Workload.init`).
    @EmuActor package func make(seed: UInt64, clip: Rect, screenWidth: Int, screenHeight: Int,
                               assets: Assets) -> any Workload {
        type.init(seed: seed, clip: clip, screenWidth: screenWidth, screenHeight: screenHeight, assets: assets)
    }
}
