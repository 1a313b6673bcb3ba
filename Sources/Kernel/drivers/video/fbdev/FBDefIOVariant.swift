// SPDX-License-Identifier: MIT — the behaviours of the deferred-I/O core that changed between kernel versions, as
// switches that FBDefIO.swift's functions read (kernel: drivers/video/fbdev/core/fb_defio.c across its history).

/// Switches between the deferred-I/O core's historical behaviours (kernel-spec.md §2.14 and §9). Each field is one
/// behaviour that changed at a known kernel version; Lab's variant registry bundles them into exact versions.
/// The default, `.upstream`, is the newest kernel's.
public struct FBDefIOVariant: Sendable, Equatable {
    /// How the worker makes the listed pages read-only again.
    package enum Protect: String, Sendable {
        /// ≤ 6.14: `folio_mkclean()`, which finds the PTEs through `page->mapping`/`page->index`.
        case pageMkclean
        /// ≥ 6.15: `mapping_wrprotect_range()` over the address_space recorded at open.
        case mappingWrprotectRange
    }
    /// What the pageref lookup does with a slot that is not listed.
    package enum PagerefLookup: String, Sendable {
        /// ≤ 5.18: no pagerefs; the list node is the faulting page's own (`page->lru`), sorted by `page->index`.
        case pageLRU
        /// 5.19 – 6.10: the slot of the computed offset is (re)bound to the faulting page whenever it is not listed;
        /// a listed slot is returned as it is, whatever page it holds (bug F locks that page).
        case rebindUnlisted
        /// ≥ 6.11: bound once, lazily; a different page later is an "inconsistent state" WARN and NULL (OOM).
        case bindOnce
    }
    /// What closing a file of the device does.
    package enum Release: String, Sendable {
        /// ≤ 6.1: nothing (pages stay queued after close: bug C).
        case nothing
        /// 6.2: every close cancels the work and clears `page->mapping` of every page (bug D).
        case everyClose
        /// ≥ 6.3: only the last close (`open_count`) runs lastclose.
        case lastclose
    }
    package enum Lastclose: String, Sendable { case flush, cancel }
    /// Which pages lastclose strips of `page->mapping`.
    package enum ClearMapping: String, Sendable { case none, allPages, boundPagerefs }

    package var protect = Protect.mappingWrprotectRange
    /// The worker locks each page around its write-protect (≤ 6.14 always; ≥ 6.15 only as the fix of bug H).
    package var workerLocksPage = false
    /// 2010 first fix of bug A (49bbd815): a page whose write-protect cleaned no PTE is left out of the callback
    /// and stays listed for the next run.
    package var workerKeepsUncleanedPages = false
    /// ->page_mkwrite locks the page under the mutex and returns VM_FAULT_LOCKED (since 2010). Off: it returns 0
    /// and the core locks the page afterwards (bug A), or — where nothing set `page->mapping` — retries forever
    /// (scenario 22).
    package var mkwriteLocksPage = true
    /// ≤ 6.14: ->fault sets `page->mapping`/`index` so that `folio_mkclean` can find the PTEs.
    package var faultSetsPageMapping = false
    /// 2026: ->fault takes the defio mutex (and checks that the device is still there).
    package var faultTakesMutex = true
    /// 5.18 (bug B): ->fault re-initialises the page's list node on every fault, without the mutex.
    package var faultReinitsListNode = false
    /// ≤ 5.17: the list is always sorted by page index, whatever the driver asks.
    package var alwaysSorted = false
    package var pagerefLookup = PagerefLookup.bindOnce
    /// 5.19 – 6.8 (bug F): page_mkwrite computes the offset as `address − vm_start`, ignoring the mmap offset.
    package var offsetFromVMAStart = false
    package var release = Release.lastclose
    /// What the last close does with pending work (bug E: cancel in 6.3 – 6.7, flush since 6.8).
    package var lastclose = Lastclose.flush
    /// 6.2 – 6.10 strip every page; 6.11 – 6.14 only pages bound to a pageref; ≥ 6.15 none.
    package var lastcloseClearsMapping = ClearMapping.none
    /// 2026: the state is refcounted and outlives fb_info; after removal faults get SIGBUS. Off (bug G): the VMAs
    /// keep pointing at the freed fb_info, and the next fault or mkwrite is a use-after-free.
    package var stateOutlivesInfo = true

    package init() {}
    package static let upstream = FBDefIOVariant()
}
