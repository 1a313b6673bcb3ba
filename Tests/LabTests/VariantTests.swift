@testable import Kernel
@testable import Lab
import Testing

/// The registry: names, chains, and that each version is the exact bundle of its kernel range.
@Suite struct VariantTests {
    @Test func everyRegisteredNameAndAliasSelects() throws {
        for v in Variants.all { #expect((try? Variants.select(v.name)) != nil, "\(v.name)") }
        for (alias, target) in Variants.aliases {
            #expect(try Variants.select(alias).switches == Variants.select(target).switches, "\(alias)")
        }
        #expect(Set(Variants.all.map(\.name)).count == Variants.all.count)
    }

    @Test func chainsComposeAndBadChainsAreRefused() throws {
        let fixed = try Variants.select("upstream+worker-page-lock")
        #expect(fixed.switches.defio.workerLocksPage)
        #expect(fixed.switches.defio.protect == .mappingWrprotectRange)
        // A chain that starts with a patch applies it to upstream.
        #expect(try Variants.select("worker-page-lock").switches == fixed.switches)
        #expect(try Variants.select("v6.8+missing-tlb-flush").switches.mm.wrprotectFlushesTLB == false)
        #expect(throws: Variants.ParseError.self) { try Variants.select("upstream+v6.8") }
        #expect(throws: Variants.ParseError.self) { try Variants.select("no-such-kernel") }
        #expect(throws: Variants.ParseError.self) { try Variants.select("upstream+") }
    }

    /// 6.11–6.14, as read in the kernel's history: folio_mkclean under the page lock, page->mapping set by the fault,
    /// no defio mutex in the fault, fb_info lifetime, the ≥ 6.11 lookup, lastclose flushing and stripping bound pages.
    @Test func legacyFolioMkcleanIsTheExactBundle() throws {
        let d = try Variants.select("legacy-folio-mkclean").switches.defio
        #expect(d.protect == .pageMkclean && d.workerLocksPage && d.faultSetsPageMapping)
        #expect(!d.faultTakesMutex && !d.stateOutlivesInfo)
        #expect(d.pagerefLookup == .bindOnce && d.release == .lastclose && d.lastclose == .flush)
        #expect(d.lastcloseClearsMapping == .boundPagerefs && !d.offsetFromVMAStart && d.mkwriteLocksPage)
    }

    /// Bug F needs the 2022–24 lookup that rebinds an unlisted pageref; E's cancel is 6.3–6.7; D is 6.2.
    @Test func versionsBetweenTheBugs() throws {
        let f = try Variants.select("offset-from-vma-start").switches.defio
        #expect(f.offsetFromVMAStart && f.pagerefLookup == .rebindUnlisted && f.lastclose == .flush)
        #expect(f.lastcloseClearsMapping == .allPages)
        #expect(try Variants.select("v6.9").switches.defio.offsetFromVMAStart == false)
        #expect(try Variants.select("v6.3").switches.defio.lastclose == .cancel)
        #expect(try Variants.select("v6.2").switches.defio.release == .everyClose)
        #expect(try Variants.select("v5.19").switches.defio.release == .nothing)
        let b = try Variants.select("v5.18").switches.defio
        #expect(b.faultReinitsListNode && b.pagerefLookup == .pageLRU)
        let a = try Variants.select("race-nondirty-2010").switches
        #expect(!a.defio.mkwriteLocksPage && a.defio.alwaysSorted && a.mm.oomKillsOnUserFault)
        #expect(try Variants.select("keep-non-dirty").switches.defio.workerKeepsUncleanedPages)
    }

    /// fault_dirty_shared_page() is the same code in 6.12 and in 2026; what drops the lock in ≤ 6.14 is fb_defio's
    /// page->mapping. The return value once the lock is dropped changed in 5.19 (COMPLETED, RETRY before), and before
    /// 5.5 the lock was kept.
    @Test func faultDirtySharedPageUnlockFollowsTheVersion() throws {
        func unlock(_ v: String) throws -> FaultDirtyUnlock { try Variants.select(v).switches.mm.faultDirtySharedPageUnlock }
        for v in ["upstream", "v6.15", "legacy-folio-mkclean", "v6.9", "v6.8", "v6.3", "v6.2", "v5.19"] {
            #expect(try unlock(v) == .completed, "\(v)")
        }
        #expect(try unlock("v5.18") == .retry)
        #expect(try unlock("v2.6.35") == .never)
        #expect(try unlock("race-nondirty-2010") == .never)
        let legacy = try Variants.select("legacy-folio-mkclean").switches
        #expect(legacy.defio.faultSetsPageMapping, "the page has a mapping, so the lock is dropped")
        #expect(!Variants.upstream.switches.defio.faultSetsPageMapping, "no mapping: the lock is kept")
        var config = MMConfig()
        try Variants.select("v5.18").switches.mm.apply(to: &config)
        #expect(config.faultDirtySharedPageUnlock == .retry)
    }

    @Test func everyVariantNamesScenariosThatExist() {
        for v in Variants.all {
            for s in v.scenarios { #expect(Scenario.named(s) != nil, "\(v.name) names \(s)") }
        }
    }
}
