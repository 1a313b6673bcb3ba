// SPDX-License-Identifier: MIT — kernel versions and named bugs as data (DESIGN.md §6, kernel-spec.md §2.14 and §9).
import Kernel
import Panels

/// What a run's machine looks like apart from the kernel: the conditions some bugs need before they can show
/// (a second device node, a failing driver open, a device unplugged while mapped). A variant that stands for such a
/// bug switches its condition on; the scenarios and machines read it.
package struct VariantEnvironment: Sendable, Equatable {
    /// Bug I: a later opener uses a second device node (a `mknod` in a container) for the same framebuffer.
    package var secondDeviceNode = false
    /// Bug M: the driver's own fb_open fails for one opener.
    package var failingDriverOpen = false
    /// Bugs G and N: the device is removed (`fb_deferred_io_cleanup`) while a process still maps it.
    package var deviceRemoval = false
    /// Bug C: the driver reallocates the framebuffer memory once nobody has the device open (a mode change).
    package var reallocAfterClose = false
    /// Bug K: the driver calls `fb_deferred_io_init` before it sets `smem_len` (fbtft before Peter Suti's fix).
    package var initBeforeSmemLen = false
    /// Bug L: a DAX-like PFN-mapped device without `->pfn_mkwrite`.
    package var pfnMapWithoutPfnMkwrite = false
    /// Bug O: a private mapping of the file sorts before the shared ones in i_mmap.
    package var privateMappingFirst = false
    package init() {}
}

/// Every switch a variant sets, across the kernel model, the drivers and the machine.
package struct VariantSwitches: Sendable, Equatable {
    package var defio = FBDefIOVariant()
    package var mm = MMVariant()
    package var panel = PanelOptions()
    package var environment = VariantEnvironment()
    package init() {}

    /// Puts the switches on a kernel and (when there is one) its framebuffer.
    @EmuActor package func apply(to kernel: EmuKernel, info: FBInfo? = nil) {
        mm.apply(to: &kernel.config)
        info?.variant = defio
    }
}

/// The fields of `MMConfig` that differ between kernel versions (the others are the run's own settings).
package struct MMVariant: Sendable, Equatable {
    package var walkPageMappingBreaksOnSkip = true
    package var wrprotectFlushesTLB = true
    package var oomKillsOnUserFault = false
    /// What `fault_dirty_shared_page()` does with the fault's lock (COMPLETED since 5.19, RETRY 5.5–5.18, kept
    /// before). It only matters where the page has a mapping: fb_defio up to 6.14.
    package var faultDirtySharedPageUnlock = FaultDirtyUnlock.completed
    package init() {}

    package func apply(to config: inout MMConfig) {
        config.walkPageMappingBreaksOnSkip = walkPageMappingBreaksOnSkip
        config.wrprotectFlushesTLB = wrprotectFlushesTLB
        config.oomKillsOnUserFault = oomKillsOnUserFault
        config.faultDirtySharedPageUnlock = faultDirtySharedPageUnlock
    }
}

/// One named variant: a kernel version (an exact bundle of what that range did) or a patch on top of one.
package struct KernelVariant: Sendable {
    package enum Kind: String, Sendable {
        /// A kernel range; the first element of a `+` chain.
        case version
        /// A change on top of a version (a fix, a named bug, or the condition a bug needs); composes with `+`.
        case patch
    }
    package let name: String
    package let kind: Kind
    /// The kernel range it stands for ("2026", "6.11–6.14", "hypothetical").
    package let kernels: String
    package let summary: String
    /// The letter of kernel-spec.md §9 this variant shows, if any.
    package let bug: String?
    /// For a version: the newer version it is derived from (nil: the defaults, which are upstream's).
    let base: String?
    let change: @Sendable (inout VariantSwitches) -> Void
    /// Scenario names built for this variant (the explorer runs them when no scenario is named).
    package let scenarios: [String]
}

/// The registry: every variant, in the order `fbdefio-emu variants` lists them.
public enum Variants {
    package static let all: [KernelVariant] = versions + patches

    static let versions: [KernelVariant] = [
        KernelVariant(
            name: "upstream", kind: .version, kernels: "2026", summary:
                "refcounted state, SIGBUS after removal, mapping_wrprotect_range without the page lock (bug H)",
            bug: "H", base: nil, change: { _ in }, scenarios: ["wp-race"]),
        KernelVariant(
            name: "v6.15", kind: .version, kernels: "6.15–6.19", summary:
                "mapping_wrprotect_range, no page lock in the worker; fb_info-lifetime state; fault takes no mutex",
            bug: "H", base: "upstream", change: { s in
                s.defio.faultTakesMutex = false
                s.defio.stateOutlivesInfo = false
            }, scenarios: ["wp-race"]),
        KernelVariant(
            name: "legacy-folio-mkclean", kind: .version, kernels: "6.11–6.14", summary:
                "fault sets page->mapping/index; worker locks each page around folio_mkclean; lastclose strips the "
                + "mapping of bound pages", bug: nil, base: "v6.15", change: { s in
                s.defio.protect = .pageMkclean
                s.defio.workerLocksPage = true
                s.defio.faultSetsPageMapping = true
                s.defio.lastcloseClearsMapping = .boundPagerefs
            }, scenarios: ["wp-race", "two-openers"]),
        KernelVariant(
            name: "v6.9", kind: .version, kernels: "6.9–6.10", summary:
                "offset from vmf->pgoff (bug F fixed); pageref rebound whenever unlisted; lastclose strips every page",
            bug: nil, base: "legacy-folio-mkclean", change: { s in
                s.defio.pagerefLookup = .rebindUnlisted
                s.defio.lastcloseClearsMapping = .allPages
            }, scenarios: ["wp-race", "remap-offset"]),
        KernelVariant(
            name: "v6.8", kind: .version, kernels: "6.8", summary:
                "lastclose flushes instead of cancelling (bug E fixed); offset is address − vm_start (bug F)",
            bug: "F", base: "v6.9", change: { s in s.defio.offsetFromVMAStart = true },
            scenarios: ["remap-offset", "close-still-image"]),
        KernelVariant(
            name: "v6.3", kind: .version, kernels: "6.3–6.7", summary:
                "open_count: lastclose only at the last close, and it cancels the pending work (bug E)",
            bug: "E", base: "v6.8", change: { s in s.defio.lastclose = .cancel },
            scenarios: ["close-still-image", "remap-offset"]),
        KernelVariant(
            name: "v6.2", kind: .version, kernels: "6.2", summary:
                "every close cancels the work and strips page->mapping (bug D)",
            bug: "D", base: "v6.3", change: { s in s.defio.release = .everyClose },
            scenarios: ["two-openers"]),
        KernelVariant(
            name: "v5.19", kind: .version, kernels: "5.19–6.1", summary:
                "pagerefs and pagereflist; close does nothing, so pages stay queued after close (bug C)",
            bug: "C", base: "v6.2", change: { s in
                s.defio.release = .nothing
                s.defio.lastcloseClearsMapping = .none
            }, scenarios: ["work-after-close"]),
        KernelVariant(
            name: "v5.18", kind: .version, kernels: "5.18.0–5.18.2", summary:
                "early-out on listed pages, but ->fault re-initialises page->lru unlocked (bug B)",
            bug: "B", base: "v5.19", change: { s in
                s.defio.pagerefLookup = .pageLRU
                s.defio.offsetFromVMAStart = false
                s.defio.faultReinitsListNode = true
                s.mm.faultDirtySharedPageUnlock = .retry  // VM_FAULT_COMPLETED came in 5.19
            }, scenarios: ["fault-while-listed"]),
        KernelVariant(
            name: "v2.6.35", kind: .version, kernels: "2.6.35–5.17", summary:
                "page->lru list, always sorted; mkwrite locks the page and returns LOCKED; OOM kills (≤ 5.15)",
            bug: nil, base: "v5.18", change: { s in
                s.defio.faultReinitsListNode = false
                s.defio.alwaysSorted = true
                s.mm.oomKillsOnUserFault = true
                // Like the OOM kill, the older end of the range: the write fault kept mmap_lock while throttling
                // until 5.5 (5.5–5.17 dropped it and returned RETRY, as v5.18 does).
                s.mm.faultDirtySharedPageUnlock = .never
            }, scenarios: ["wp-race"]),
        KernelVariant(
            name: "race-nondirty-2010", kind: .version, kernels: "2.6.22–2.6.34", summary:
                "mkwrite lists the page and returns 0 unlocked; the worker can clean before the PTE is dirty (bug A)",
            bug: "A", base: "v2.6.35", change: { s in s.defio.mkwriteLocksPage = false },
            scenarios: ["wp-race"]),
        KernelVariant(
            name: "keep-non-dirty", kind: .version, kernels: "2010 (49bbd815, reverted)", summary:
                "bug A's first fix: a page whose page_mkclean cleaned nothing stays listed for the next run",
            bug: "A", base: "race-nondirty-2010", change: { s in s.defio.workerKeepsUncleanedPages = true },
            scenarios: ["wp-race", "close-still-image"]),
        KernelVariant(
            name: "no-state-lifetime", kind: .version, kernels: "6.15–6.19, device unplugged", summary:
                "the device is removed while mapped and the driver frees fb_info under the VMAs (bug G)",
            bug: "G", base: "v6.15", change: { s in s.environment.deviceRemoval = true }, scenarios: ["removal"]),
    ]

    static let patches: [KernelVariant] = [
        KernelVariant(
            name: "worker-page-lock", kind: .patch, kernels: "proposed fix", summary:
                "the worker locks each page around mapping_wrprotect_range, as ≤ 6.14 did around folio_mkclean",
            bug: nil, base: nil, change: { s in s.defio.workerLocksPage = true }, scenarios: ["wp-race"]),
        KernelVariant(
            name: "mkwrite-returns-zero", kind: .patch, kernels: "hypothetical", summary:
                "page_mkwrite returns 0 without the page lock on a page with no mapping: refaults forever (scenario 22)",
            bug: nil, base: nil, change: { s in s.defio.mkwriteLocksPage = false }, scenarios: ["wp-race"]),
        KernelVariant(
            name: "missing-tlb-flush", kind: .patch, kernels: "hypothetical", summary:
                "write-protect clears the PTE's write bit but flushes no TLB entry",
            bug: nil, base: nil, change: { s in s.mm.wrprotectFlushesTLB = false },
            scenarios: ["wp-race", "threads-two-cpus"]),
        KernelVariant(
            name: "multiple-device-nodes", kind: .patch, kernels: "all (hypothesis)", summary:
                "a later opener uses a second device node; the worker walks only its address_space (bug I)",
            bug: "I", base: nil, change: { s in s.environment.secondDeviceNode = true },
            scenarios: ["two-nodes"]),
        KernelVariant(
            name: "drm-damage-past-yres", kind: .patch, kernels: "DRM fbdev before the 2023 clamps", summary:
                "a dirty last page past yres gives a damage clip beyond the framebuffer (bug J)",
            bug: "J", base: nil, change: { s in s.panel.drm.clampDamageToYres = false }, scenarios: ["damage-tail"]),
        KernelVariant(
            name: "fbtft-init-before-smem-len", kind: .patch, kernels: "fbtft 5.19 (before Peter Suti's fix)",
            summary: "fb_deferred_io_init runs while smem_len is 0 and fails; the first open dereferences the NULL "
                + "state (bug K)",
            bug: "K", base: nil, change: { s in s.environment.initBeforeSmemLen = true }, scenarios: ["fbtft-probe"]),
        KernelVariant(
            name: "dax-pfn-mkwrite-mtime", kind: .patch, kernels: "≤ 4.0 (before pfn_mkwrite)", summary:
                "a PFN-mapped shared VMA without ->pfn_mkwrite: a write after a read is never notified (bug L)",
            bug: "L", base: nil, change: { s in s.environment.pfnMapWithoutPfnMkwrite = true },
            scenarios: ["pfn-mtime"]),
        KernelVariant(
            name: "open-count-leak", kind: .patch, kernels: "all (hypothesis)", summary:
                "the driver's fb_open fails but open_count is still raised: the last close never flushes (bug M)",
            bug: "M", base: nil, change: { s in s.environment.failingDriverOpen = true }, scenarios: ["failed-open"]),
        KernelVariant(
            name: "cleanup-reschedule-race", kind: .patch, kernels: "2026 (hypothesis)", summary:
                "a mkwrite between cleanup's flush and its clearing of the state queues work on a gone device (bug N)",
            bug: "N", base: nil, change: { s in s.environment.deviceRemoval = true }, scenarios: ["removal"]),
        KernelVariant(
            name: "walk-page-mapping-break-on-skip", kind: .patch, kernels: "5.5–2026 (mapping_dirty_helpers)",
            summary: "a private mapping earlier in i_mmap ends walk_page_mapping: later shared VMAs stay writable "
                + "(bug O)", bug: "O", base: nil, change: { s in s.environment.privateMappingFirst = true },
            scenarios: ["private-first"]),
    ]

    /// Names that stand for another variant (the bug names of kernel-spec.md §9 that are exact versions).
    static let aliases: [String: String] = [
        "wrprotect-without-page-lock": "upstream",
        "lru-reinit-race-2022": "v5.18",
        "work-after-close-2023": "v5.19",
        "release-clears-every-close": "v6.2",
        "cancel-on-lastclose": "v6.3",
        "flush-on-lastclose": "v6.8",
        "offset-from-vma-start": "v6.8",
    ]

    package static func named(_ name: String) -> KernelVariant? {
        let n = aliases[name] ?? name
        return all.first { $0.name == n }
    }

    /// A chain such as `upstream+worker-page-lock` or `v6.8`: a version (default `upstream`), then patches.
    public struct Selection: Sendable, CustomStringConvertible {
        package let name: String
        package let parts: [KernelVariant]
        package let switches: VariantSwitches
        public var description: String { name }
        /// The bug letters the chain shows.
        package var bugs: [String] { parts.compactMap(\.bug) }
        /// The scenarios built for the chain's parts, without repeats, in order.
        package var scenarios: [String] {
            var seen: [String] = []
            for s in parts.flatMap(\.scenarios) where !seen.contains(s) { seen.append(s) }
            return seen
        }
    }

    public enum ParseError: Error, CustomStringConvertible {
        case unknown(String), versionNotFirst(String), empty
        public var description: String {
            switch self {
            case .unknown(let n): "unknown variant '\(n)' (see 'fbdefio-emu variants')"
            case .versionNotFirst(let n): "'\(n)' is a kernel version: it can only start a chain (VERSION+PATCH+…)"
            case .empty: "empty variant name"
            }
        }
    }

    /// Parses a `+` chain. A chain that starts with a patch applies it on top of `upstream`.
    public static func select(_ text: String) throws(ParseError) -> Selection {
        let names = text.split(separator: "+", omittingEmptySubsequences: false).map(String.init)
        guard !names.contains(where: \.isEmpty) else { throw .empty }
        var parts: [KernelVariant] = []
        for (i, n) in names.enumerated() {
            guard let v = named(n) else { throw .unknown(n) }
            if v.kind == .version && i > 0 { throw .versionNotFirst(n) }
            parts.append(v)
        }
        var switches = VariantSwitches()
        if parts[0].kind == .version {
            apply(parts[0], to: &switches)
        }
        for p in parts where p.kind == .patch { p.change(&switches) }
        return Selection(name: text, parts: parts, switches: switches)
    }

    /// A version's switches: its base's, then its own change.
    static func apply(_ v: KernelVariant, to s: inout VariantSwitches) {
        if let base = v.base, let b = named(base) { apply(b, to: &s) }
        v.change(&s)
    }

    package static let upstream = try! select("upstream")

    /// The listing of `fbdefio-emu variants`.
    package static var table: String {
        var lines = ["NAME                              KIND     KERNELS                              BUG  WHAT"]
        for v in all {
            lines.append(v.name.padded(34) + v.kind.rawValue.padded(9) + v.kernels.padded(37)
                + (v.bug ?? "-").padded(5) + v.summary)
        }
        lines.append("")
        lines.append("aliases: " + aliases.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)" }
            .joined(separator: ", "))
        lines.append("Compose with '+': VERSION+PATCH+… (e.g. upstream+worker-page-lock); a chain that starts with a "
            + "patch applies it to upstream.")
        return lines.joined(separator: "\n")
    }
}

extension String {
    func padded(_ n: Int) -> String { count >= n ? self + " " : self + String(repeating: " ", count: n - count) }
}
