@testable import Kernel
@testable import Lab
import Testing

/// Each online checker on states built by hand that break it, and on the same states left intact.
@Suite struct CheckerTests {
    /// A scenario machine of `variant` that never switches unless a task blocks.
    @EmuActor func machine(_ variant: String = "upstream") throws -> ScenarioMachine {
        ScenarioMachine(variant: try Variants.select(variant), policy: .scripted([:]))
    }

    /// A machine whose one process wrote page 2 (listed, PTE writable+dirty) and then runs `meddle` before the
    /// worker's batch, with the scripted "never switch" schedule.
    @EmuActor func afterOneWrite(_ variant: String = "upstream+worker-page-lock",
                                 meddle: @escaping @EmuActor (ScenarioMachine, UserTask, VirtAddr) -> Void)
        throws -> Violation? {
        let m = try machine(variant)
        m.kernel.spawnProcess("p") { t in
            let (fd, a) = try m.map(t)
            try t.store8(a + 2 * PAGE_SIZE, 1)
            meddle(m, t, a)
            try t.fsync(fd)
        }
        _ = m.run()
        return m.checkers.first
    }

    @Test @EmuActor func intactStateRaisesNothing() throws {
        #expect(try afterOneWrite { _, _, _ in } == nil)
    }

    /// The page drops off the list while its PTE stays writable: when the worker empties the list, dirty tracking
    /// reports the PTE.
    @Test @EmuActor func unlistedWritablePageIsDirtyTrackingViolation() throws {
        let v = try afterOneWrite { m, _, _ in _ = m.info.fbdefioState!.list.delInit(2) }
        #expect(v?.kind == .dirtyTracking)
        #expect(v?.page == 2)
    }

    /// A write-protect that leaves the TLB entry writable: re-arm reports it when the batch reaches the driver.
    @Test @EmuActor func staleWritableTLBEntryIsRearmViolation() throws {
        let v = try afterOneWrite("upstream+missing-tlb-flush") { _, _, _ in }
        #expect(v?.kind == .rearm)
        #expect(v?.what.contains("TLB") == true)
    }

    /// A PTE made writable behind the worker's back after its write-protect pass.
    @Test @EmuActor func writablePTEOfProcessedPageIsRearmViolation() throws {
        let m = try machine()
        m.info.fbdefio!.deferredIO = { info, _ in
            // Inside the callback the list is still intact; poke the PTE writable as a racing fault would.
            for t in info.kernel.processes {
                let a = t.mm.vmas[0].start + 2 * PAGE_SIZE
                if let slot = t.mm.pageTables.lookup(a) { slot.write(slot.read().mkwrite()) }
            }
        }
        m.kernel.spawnProcess("p") { t in
            let (fd, a) = try m.map(t)
            try t.store8(a + 2 * PAGE_SIZE, 1)
            try t.fsync(fd)
        }
        _ = m.run()
        // The callback runs after the re-arm check of this batch: the next list clear finds the PTE.
        #expect(m.checkers.first?.kind == .dirtyTracking)
    }

    /// A second successful page_mkwrite of one process's page in one batch.
    @Test @EmuActor func secondMkwriteInOneBatchIsFaultAccountingViolation() throws {
        // The PTE is made read-only again without the worker, so the next store faults and mkwrites again in
        // the same batch.
        let m = try machine()
        m.kernel.spawnProcess("p") { t in
            let (_, a) = try m.map(t)
            try t.store8(a, 1)
            let slot = t.mm.pageTables.lookup(a)!
            slot.write(slot.read().wrprotected())
            t.tlb.invalidatePage(a)
            try t.store8(a, 2)
        }
        _ = m.run()
        #expect(m.checkers.first?.kind == .faultAccounting)
    }

    /// A listed node re-initialised by hand: the next add is a list_add corruption report.
    @Test @EmuActor func corruptedListIsListIntegrityViolation() throws {
        let m = try machine()
        m.kernel.spawnProcess("p") { t in
            let (fd, a) = try m.map(t)
            try t.store8(a, 1)
            m.info.fbdefioState!.list.initNode(0)
            try t.store8(a + PAGE_SIZE, 1)
            try t.fsync(fd)
        }
        _ = m.run()
        #expect(m.checkers.first?.kind == .listIntegrity)
        #expect(m.checkers.first?.what.contains("list_add corruption") == true)
    }

    /// Bug F's end: the page the second mkwrite locked stays locked, the worker waits for it forever holding the
    /// mutex, fsync waits for the worker — the hung-task detector names the page lock.
    @Test @EmuActor func bugFHangsAndIsReportedAsHungTask() throws {
        let m = try machine("v6.8")
        Scenario.named("remap-offset")!.spawn(m)
        let outcome = m.run()
        guard case .deadlock = outcome else { Issue.record("expected a deadlock, got \(outcome)"); return }
        let hung = m.kernel.failures.filter { if case .hungTask = $0 { true } else { false } }
        #expect(hung.contains { "\($0)".contains("page lock of") }, "\(m.kernel.failures) \(m.kernel.sched.reports)")
        #expect(hung.contains { "\($0)".contains("blocked for more than 122 seconds") })
    }

    /// A mkwrite that keeps failing with VM_FAULT_OOM (bug F's trigger on the ≥ 6.11 lookup) is retried, not
    /// killed: the access spins until the livelock detector stops it.
    @Test @EmuActor func oomFromMkwriteIsRetriedIntoALivelock() throws {
        var switches = try Variants.select("upstream").switches
        switches.defio.offsetFromVMAStart = true
        let selection = Variants.Selection(name: "upstream(offset-from-vma-start)", parts: [], switches: switches)
        let m = ScenarioMachine(variant: selection, policy: .scripted([:]))
        Scenario.named("remap-offset")!.spawn(m)
        _ = m.run()
        #expect(m.kernel.stats.oom > 1)
        #expect(m.kernel.processes.contains { if case .killed(.livelock(_, _)) = $0.exitStatus { true } else { false } })
        #expect(!m.kernel.processes.contains { if case .killed(.oom(_)) = $0.exitStatus { true } else { false } })
    }
}
