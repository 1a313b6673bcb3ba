// SPDX-License-Identifier: MIT — the small machine the explorer's scenarios run on.
import Kernel

/// A framebuffer of a few pages (`xres` × as many lines as fit in `pages` at 32 bpp; at the default 1024, one page a
/// line, and narrower lines leave the last page partly past yres), fb_defio with a driver that copies each
/// delivered page to its "panel" and holds the mutex for a bus time per page, the variant's switches, and every
/// online checker. Scenarios spawn 2–4 processes on it.
@EmuActor public final class ScenarioMachine {
    public let kernel: EmuKernel
    public let info: FBInfo
    public let variant: Variants.Selection
    public let checkers: OnlineCheckers
    /// What the panel shows: the framebuffer bytes as of each page's last delivery.
    public private(set) var panel: [UInt8]
    /// Set at the first violation: scenario programs stop at their next step.
    public private(set) var stopped = false
    /// Bus time the driver spends per delivered page, with the defio mutex held.
    public var busTimePerPage = VirtualTime.us(20)
    /// The scheduler decision count when the first violation was found.
    public private(set) var decisionsAtViolation: Int?
    var env: VariantEnvironment { variant.switches.environment }

    public init(variant: Variants.Selection, policy: SchedPolicy, pages: Int = 8, xres: Int = 1024,
                delay: Jiffies = Jiffies(1), keepEvents: Bool = false) {
        var config = MMConfig()
        config.livelockAttempts = 200
        variant.switches.mm.apply(to: &config)
        kernel = EmuKernel(policy: policy, tickRate: TickRate(hz: 250), ramPages: 96 + 3 * pages, config: config)
        kernel.events.keep = keepEvents
        info = FBInfo(kernel: kernel, xres: xres, yres: pages * 1024 / xres, bitsPerPixel: 32, id: "explore")!
        self.variant = variant
        panel = info.readScreen()
        checkers = OnlineCheckers(kernel: kernel, info: info)
        variant.switches.apply(to: kernel, info: info)
        if variant.switches.environment.secondDeviceNode { _ = info.makeDeviceNode("fb1") }
        info.fbdefio = FBDeferredIO(delay: delay) { [unowned self] info, refs in await self.deliver(info, refs) }
        if variant.switches.environment.initBeforeSmemLen {
            // fbtft before the fix: init runs while smem_len is still 0 (WARN, -EINVAL ignored), then the size is set.
            let size = info.fix.smemLen
            info.fix.smemLen = 0
            _ = fbDeferredIOInit(info)
            info.fix.smemLen = size
        } else {
            _ = fbDeferredIOInit(info)
        }
        if variant.switches.environment.failingDriverOpen {
            var failed = false
            info.fbops.open = { _ in
                if failed { return nil }
                failed = true
                return .ENODEV
            }
        }
        checkers.onViolation = { [unowned self] _ in
            self.stopped = true
            self.decisionsAtViolation = self.kernel.sched.recorded.count
        }
    }

    private func deliver(_ info: FBInfo, _ refs: [FBDeferredIOPageref]) async {
        let screen = info.readScreen()
        for r in refs where r.offset + PAGE_SIZE <= panel.count {
            panel.replaceSubrange(r.offset ..< r.offset + PAGE_SIZE, with: screen[r.offset ..< r.offset + PAGE_SIZE])
        }
        if !refs.isEmpty { await kernel.sched.sleep(until: kernel.now + busTimePerPage * refs.count) }
    }

    /// The panel shows the framebuffer as it is now (a driver's full update, e.g. after a mode change).
    public func resetPanel() { panel = info.readScreen() }

    /// The node a process opens: the second one for every opener after the first when the variant has two.
    public func node(for opener: Int) -> Inode {
        opener > 0 && info.nodes.count > 1 ? info.nodes[1] : info.node
    }

    /// Opens the device and maps `pages` pages at page `offset` (MAP_SHARED, read/write).
    public func map(_ t: UserTask, opener: Int = 0, pages: Int? = nil, offset: Int = 0, at address: VirtAddr? = nil)
        async throws -> (fd: Int, base: VirtAddr) {
        let fd = try await t.open(node(for: opener))
        let n = pages ?? info.fix.smemLen >> PAGE_SHIFT
        let base = try await t.mmap(address, length: n * PAGE_SIZE, prot: .readWrite,
                                    flags: address == nil ? .shared : [.shared, .fixed], fd: fd, offset: offset * PAGE_SIZE)
        return (fd, base)
    }

    /// The kernel's promise at this moment (after an fsync or the last close): the panel shows what the framebuffer
    /// holds — on every page, or on `pages`, the ones the caller wrote (another process's write may still be in its
    /// fault when this one's fsync returns). A difference is a lost update.
    public func expectDisplayed(_ moment: String, pages: [Int]? = nil) {
        let screen = info.readScreen()
        if screen == panel { return }
        for p in pages ?? Array(0 ..< screen.count / PAGE_SIZE) where screen[p * PAGE_SIZE ..< (p + 1) * PAGE_SIZE]
            != panel[p * PAGE_SIZE ..< (p + 1) * PAGE_SIZE] {
            checkers.report(.lostUpdate, "\(moment): page \(p) of the framebuffer never reached the panel", page: p)
            return
        }
    }

    /// The kernel promises that the last close pushes pending updates out (6.8 and later flush there).
    public var flushesAtLastClose: Bool {
        variant.switches.defio.release == .lastclose && variant.switches.defio.lastclose == .flush
    }

    /// Checks to make once every process has ended and nothing is pending (quiescence).
    private var atQuiescence: [@EmuActor () -> Void] = []
    public func whenQuiescent(_ check: @escaping @EmuActor () -> Void) { atQuiescence.append(check) }

    /// Runs the spawned processes to the end and applies the end-of-run checks.
    public func run() async -> RunOutcome {
        let outcome = await kernel.sched.run()
        if case .deadlock(let why) = outcome { checkers.report(.deadlock, why) }
        if outcome == .completed { for check in atQuiescence { check() } }
        return outcome
    }

    /// The task's next step should not happen (a violation was found): scenario programs call this between steps.
    public var shouldStop: Bool { stopped }
}

extension VirtualTime {
    static func * (a: VirtualTime, n: Int) -> VirtualTime { VirtualTime(picoseconds: a.picoseconds * Int64(n)) }
}
