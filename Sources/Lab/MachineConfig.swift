// SPDX-License-Identifier: MIT — what every machine the Lab boots is made of: its options, the costs and the
// livelock bound, and a framebuffer with deferred I/O set up the way the variant says.
import Kernel
import Panels

/// One machine's make-up, shared by the demo (`Machine`), trace replay (`Replay`), the boot demo and the explorer's
/// scenarios: the run's options, the cost table, and how many faults without progress make a livelock.
public struct MachineConfig: Sendable {
    package var options: MachineOptions
    public var costs = CostTable.default
    package var livelockAttempts: Int?
    /// A policy that replaces the options' choice (the explorer's PCT and scripted schedules).
    package var policy: SchedPolicy?

    public init(_ options: MachineOptions = MachineOptions()) { self.options = options }

    package var variant: Variants.Selection { options.variant }

    /// The mm switches: the options' per-VMA-lock choice, the livelock bound, and the variant's version-dependent ones.
    package var mmConfig: MMConfig {
        var config = MMConfig()
        config.perVMALocks = options.perVMALocks
        if let livelockAttempts { config.livelockAttempts = livelockAttempts }
        options.variant.switches.mm.apply(to: &config)
        return config
    }

    /// A kernel with the options' policy (or `policy`), clock and schedule to replay, this cost table, and `mmConfig`.
    @EmuActor public func makeKernel(ramPages: Int = 16384) -> EmuKernel {
        EmuKernel(policy: policy ?? options.schedPolicy, cpus: options.cpus, tickRate: TickRate(hz: options.hz),
                  ramPages: ramPages, costs: costs, config: mmConfig, replay: options.replay)
    }

    /// A framebuffer of `kernel` as the variant has it — its fb_defio switches, a second device node when its bug
    /// needs one — with the online checkers watching it. Returns nil when RAM cannot hold the framebuffer. The
    /// driver then supplies its `FBDeferredIO` to `setUpDeferredIO`.
    @EmuActor public func makeFramebuffer(_ kernel: EmuKernel, xres: Int, yres: Int, bitsPerPixel: Int,
                                          lineLength: Int? = nil, id: String) -> (info: FBInfo, checkers: OnlineCheckers)? {
        guard let info = FBInfo(kernel: kernel, xres: xres, yres: yres, bitsPerPixel: bitsPerPixel,
                                lineLength: lineLength, id: id) else { return nil }
        let checkers = OnlineCheckers(kernel: kernel, info: info)
        info.variant = variant.switches.defio
        if variant.switches.environment.secondDeviceNode { _ = info.makeDeviceNode("fb1") }
        return (info, checkers)
    }

    /// A panel driver's probe with the run's choices: the driver's fb_defio with `delay` (unless the panel's default)
    /// and the list order (unless nil), `beforeDriver` told of each batch just before the driver's callback, set up
    /// by `setUpDeferredIO`. Returns false when init failed for want of memory.
    @EmuActor func setUpDeferredIO(_ info: FBInfo, for panel: any PanelDriver, delay: DelayChoice,
                                   sortPagereflist: Bool?,
                                   beforeDriver: (@EmuActor ([FBDeferredIOPageref]) -> Void)? = nil) -> Bool {
        var fbdefio = panel.fbDeferredIO()
        if let jiffies = delay.jiffies(at: info.kernel.sched.tickRate) { fbdefio.delay = jiffies }
        if let sortPagereflist { fbdefio.sortPagereflist = sortPagereflist }
        if let beforeDriver {
            let driver = fbdefio.deferredIO
            fbdefio.deferredIO = { info, pages in
                beforeDriver(pages)
                driver(info, pages)
            }
        }
        return setUpDeferredIO(info, fbdefio)
    }

    /// The driver's probe: `info->fbdefio = …; fb_deferred_io_init(info)`, in the order the variant's driver does it
    /// (fbtft before the fix called init while `smem_len` was still 0, ignored the error and went on), and a driver
    /// open that fails once when the variant's bug needs it. Returns false when init failed for want of memory.
    @EmuActor public func setUpDeferredIO(_ info: FBInfo, _ fbdefio: FBDeferredIO) -> Bool {
        let environment = variant.switches.environment
        info.fbdefio = fbdefio
        if environment.initBeforeSmemLen {
            let size = info.fix.smemLen
            info.fix.smemLen = 0
            _ = fbDeferredIOInit(info)
            info.fix.smemLen = size
        } else if fbDeferredIOInit(info) != nil {
            return false
        }
        if environment.failingDriverOpen {
            var failed = false
            info.fbops.open = { _ in
                if failed { return nil }
                failed = true
                return .ENODEV
            }
        }
        return true
    }
}
