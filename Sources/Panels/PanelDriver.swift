// SPDX-License-Identifier: MIT — the seam between fb_defio and a display: the driver protocol the machine wiring
// installs as `info.fbdefio.deferredIO`, what one update reports, and the factory.
import Kernel

/// Something a driver did that a real kernel would log or crash on. Recorded on the update and in the panel's
/// stats, and reported through `EmuKernel.warn` so a run's report shows it; the emulator itself never crashes.
/// Kernel analogue: the dev_warn()/WARN/oops each case names.
package enum PanelDiagnostic: Sendable, Equatable, CustomStringConvertible {
    /// Bug J (kernel-spec.md §9, `drm_damage_past_yres_2023`): the damage clip reaches `clip.y2 − yres` rows below
    /// the visible area, so the damage blit would copy `bytesPastEnd` bytes past the end of the visible buffer —
    /// an out-of-bounds access (an oops in the damage worker on 6.4-era kernels). The emulator copies only the
    /// visible rows. Kernel: drm_fb_helper_memory_range_to_clip() before the 2023 clamp.
    case damageClipPastYres(clip: DRMRect, yres: Int, bytesPastEnd: Int)
    /// A clip with no area reached the damage worker, which drops it: the damage it stood for is never flushed
    /// (the single-scanline clip ending exactly at a line end, before the 2025 fix).
    /// Kernel: drm_fbdev_*_helper_fb_dirty() returning early on an invalid clip.
    case emptyDamageClip(DRMRect)
    /// fbtft_update_display's sanity check: start line after end line — "will do full display update".
    /// Kernel: fbtft_update_display() — dev_warn
    case fbtftStartAfterEnd(start: Int, end: Int)
    /// fbtft_update_display's sanity check: a line past the last one — "will do full display update".
    /// Kernel: fbtft_update_display() — dev_warn
    case fbtftLinePastEnd(start: Int, end: Int, max: Int)

    package var description: String {
        switch self {
        case .damageClipPastYres(let clip, let yres, let bytes):
            "drm_fb_helper: damage clip \(clip) reaches past yres=\(yres): blit \(bytes) bytes out of bounds"
        case .emptyDamageClip(let clip):
            "drm_fb_helper: damage clip \(clip) has no area; the damage is dropped"
        case .fbtftStartAfterEnd(let s, let e):
            "fbtft_update_display: start_line=\(s) is larger than end_line=\(e). Shouldn't happen, will do full "
                + "display update"
        case .fbtftLinePastEnd(let s, let e, let m):
            "fbtft_update_display: start_line=\(s) or end_line=\(e) is larger than max=\(m). Shouldn't happen, "
                + "will do full display update"
        }
    }
}

/// What one update sent to the panel. Kernel analogue: none (what a logic analyser on the bus would record).
package struct PanelUpdate: Sendable, Equatable {
    /// 1, 2, 3… per panel.
    package var sequence: Int
    /// When the driver started this update (callback entry; for DRM, when the damage worker takes the clip —
    /// after its vblank wait, if any).
    package var start: VirtualTime
    /// When the last byte reached the panel (and, for e-paper, when the waveform ended).
    package var end: VirtualTime
    /// The pages the deferred-I/O callback(s) behind this update received, in list order.
    package var pages: [PgOff]
    /// The rectangles the driver sent, in framebuffer pixel coordinates, as the driver computed them.
    package var rects: [Rect]
    /// Payload bytes on the bus (commands included) and the transfers they took.
    package var busBytes: Int
    package var transfers: Int
    /// Time the bus was busy for this update (waveform time not included).
    package var busTime: VirtualTime
    /// Glass pixels whose shown value changed, and the same in bytes of the panel's native format.
    package var changedPixels: Int
    package var changedBytes: Int
    /// The e-paper waveform this update ran, if any.
    package var refresh: EPaperRefresh?
    package var diagnostics: [PanelDiagnostic]
}

/// Totals of one panel. Kernel analogue: udlfb's metrics_* sysfs files, generalised.
package struct PanelStats: Sendable, Equatable {
    /// `deferred_io` calls, and of those the ones with an empty page list (scenario 20).
    package var callbacks = 0
    package var emptyUpdates = 0
    /// Pagerefs received over all calls.
    package var pages = 0
    /// Updates that reached the panel.
    package var updates = 0
    package var busBytes = 0
    package var transfers = 0
    package var changedPixels = 0
    package var changedBytes = 0
    /// Total time the bus was busy.
    package var busBusy = VirtualTime.zero
    package var partialRefreshes = 0
    package var fullRefreshes = 0
    package var diagnostics = 0
    /// Full-frame updates per second the bus (and, for e-paper, the full waveform) allows at this geometry: the
    /// number a driver writer sizes a panel by. Infinite for the ideal panel.
    package var sustainableFPS: Double
    /// Payload bytes per second of the bus; nil when unlimited.
    package var busBytesPerSecond: Int64?

    package init(sustainableFPS: Double, busBytesPerSecond: Int64?) {
        self.sustainableFPS = sustainableFPS
        self.busBytesPerSecond = busBytesPerSecond
    }

    /// name=value pairs in a fixed order, for summaries and golden files.
    package var fields: [(String, String)] {
        [
            ("callbacks", "\(callbacks)"), ("empty_updates", "\(emptyUpdates)"), ("pages", "\(pages)"),
            ("updates", "\(updates)"), ("bus_bytes", "\(busBytes)"), ("transfers", "\(transfers)"),
            ("changed_pixels", "\(changedPixels)"), ("changed_bytes", "\(changedBytes)"),
            ("bus_busy", "\(busBusy)"), ("partial_refreshes", "\(partialRefreshes)"),
            ("full_refreshes", "\(fullRefreshes)"), ("diagnostics", "\(diagnostics)"),
            ("sustainable_fps", PanelStats.format(sustainableFPS)),
            ("bus_bytes_per_s", busBytesPerSecond.map { "\($0)" } ?? "unlimited"),
        ]
    }

    /// Two decimals, "inf" for the ideal panel.
    package static func format(_ fps: Double) -> String {
        guard fps.isFinite else { return "inf" }
        let centi = Int64((fps * 100).rounded())
        return "\(centi / 100).\(String(centi % 100).leftPadded(2))"
    }
}

/// Switches of historical driver behaviour (kernel-spec.md §9). The defaults are the newest kernel's.
/// Kernel analogue: none (emulator variants, like `FBDefIOVariant`).
package struct PanelOptions: Sendable, Equatable {
    /// DRM fbdev emulation's damage clipping.
    package var drm = DRMFBHelperVariant()
    package init() {}
}

/// A display driver behind fb_defio: its `deferred_io` callback, the panel it feeds, and what it has done.
///
/// A driver is one type, in one file of `drivers/`: the instance is the driver's state on one panel, and the static
/// members are what the panel table and the profiles need to know of it without one — its name, its callback
/// style, the kernel function it follows and what a full frame costs through it. Registered in
/// `PanelDrivers.all`; a profile names the type as its `driver`.
///
/// Install with `install()` (or put `fbDeferredIO()` into `info.fbdefio` and call `fbDeferredIOInit`). The callback
/// runs in the fb_defio worker with the defio mutex held, so the bus time a driver sleeps there is time every writer
/// that faults waits — except for DRM fbdev emulation, whose callback only records damage and leaves the bus to its
/// damage worker. Kernel analogue: a driver's `struct fb_deferred_io` and its `deferred_io` function.
@EmuActor package protocol PanelDriver: AnyObject, SendableMetatype {
    /// The driver as the panel table names it (`fbtft`, `hyperv_fb`, …); unique among `PanelDrivers.all`.
    nonisolated static var name: String { get }
    /// How the callback turns the page list into bus traffic.
    nonisolated static var style: CallbackStyle { get }
    /// The kernel function `deferredIO` follows, with its file.
    nonisolated static var kernelFunction: String { get }
    /// Time of one full-frame update of a framebuffer of `layout` through this driver and `profile`'s bus: the
    /// figure a driver writer sizes a panel by (the worst case where the driver's cost depends on the pixels).
    nonisolated static func fullFrameTime(_ profile: PanelProfile, _ layout: FramebufferLayout) -> VirtualTime
    /// The driver's probe on `panel`. Kernel analogue: the driver's probe function.
    init(_ panel: Panel, options: PanelOptions)

    /// The glass, its bus and its counters.
    var panel: Panel { get }
    /// The `deferred_io` callback. Kernel: the driver function named by `kernelFunction`.
    func deferredIO(_ info: FBInfo, _ pagerefs: [FBDeferredIOPageref])
    /// Waits until every update the driver has accepted has reached the glass: the DRM damage worker's pending
    /// run, USB URBs still in flight. Returns at once for drivers that finish inside the callback, and when called
    /// outside a running task. Kernel analogue: flush_work() on the damage worker / waiting for URB completion.
    func flush()
}

/// Every panel driver the emulator has. A new driver is its file in `drivers/` and one line here.
/// Kernel analogue: the drivers built into the kernel (each registered with spi_register_driver(),
/// platform_driver_register(), usb_register(), …).
package enum PanelDrivers {
    package static let all: [any PanelDriver.Type] = [
        SynthvidDeferredIO.self,
        FBTFTDeferredIO.self,
        DRMFBHelperDeferredIO<MIPIDBIDirty>.self,
        DRMFBHelperDeferredIO<FirmwareBlitDirty>.self,
        DLFBDpyDeferredIO.self,
        SSD1307FBDeferredIO.self,
        BroadsheetFBDpyDeferredIO.self,
    ]

    /// Whether `driver` is in `all`.
    package static func isRegistered(_ driver: any PanelDriver.Type) -> Bool {
        all.contains { ObjectIdentifier($0) == ObjectIdentifier(driver) }
    }
}

@EmuActor extension PanelDriver {
    package var profile: PanelProfile { panel.profile }
    /// What the glass shows now: 0xAARRGGBB, `width × height`, row-major.
    package var image: [UInt32] { panel.image }
    package var width: Int { panel.width }
    package var height: Int { panel.height }
    package var stats: PanelStats { panel.stats }
    /// Called after every update with what was sent.
    package var onUpdate: (@EmuActor (PanelUpdate) -> Void)? {
        get { panel.onUpdate }
        set { panel.onUpdate = newValue }
    }

    /// The framebuffer pixel value (as stored in memory at the info's bpp) converted to what this panel shows.
    package func displayed(fbPixel: UInt32) -> UInt32 { panel.displayed(fbPixel: fbPixel) }

    /// What the glass must show once every write has been delivered: the framebuffer memory now, converted pixel
    /// by pixel (the lost-update invariant compares `image` with this at quiescence).
    package func expectedImage() -> [UInt32] { panel.framebufferImage() }

    /// The driver's `struct fb_deferred_io`: the delay its real driver computes at this machine's HZ, its sort flag,
    /// and this driver's callback. Kernel: the driver's static `fb_deferred_io` / its probe code.
    package func fbDeferredIO() -> FBDeferredIO {
        let rate = panel.info.kernel.sched.tickRate
        return FBDeferredIO(delay: profile.delay.jiffies(at: rate), sortPagereflist: profile.sortPagereflist,
                            deferredIO: { info, pagerefs in self.deferredIO(info, pagerefs) })
    }

    /// Points `info.fbdefio` at this driver and calls `fbDeferredIOInit`. Kernel: the driver's probe —
    /// `info->fbdefio = …; fb_deferred_io_init(info)`.
    package func install() -> Errno? {
        panel.info.fbdefio = fbDeferredIO()
        return fbDeferredIOInit(panel.info)
    }
}

/// Creates the driver a profile names, for a framebuffer. The panel starts out showing the framebuffer as it is
/// now (the full update real drivers push at probe time, not timed).
/// Kernel analogue: the driver core binding the device to its registered driver and calling the driver's probe.
@EmuActor package func makePanelDriver(_ profile: PanelProfile, for info: FBInfo,
                                      options: PanelOptions = PanelOptions()) -> any PanelDriver {
    precondition(PanelDrivers.isRegistered(profile.driver), "\(profile.driver.name) is not in PanelDrivers.all")
    return profile.driver.init(Panel(profile: profile, info: info), options: options)
}
