import Testing
@testable import Kernel
import TestSupport

/// What the fault path counts and reports, as mm/memory.c does: PGFAULT for every handle_mm_fault that is not to be
/// retried (failed ones included), the spurious-fault TLB flush skipped on a retried fault, PG_dirty set by
/// noop_dirty_folio, WARN_ON_ONCE printed once per site with a count, and fault_dirty_shared_page dropping the lock
/// (VM_FAULT_COMPLETED, or RETRY before 5.19) for pages that have a mapping — fb_defio's up to 6.14.
@Suite struct FaultAccountingTests {
    /// The fb_defio of 6.11–6.14 as far as the fault path sees it: ->fault sets page->mapping and page->index.
    static var legacyDefio: FBDefIOVariant {
        var v = FBDefIOVariant.upstream
        v.protect = .pageMkclean
        v.workerLocksPage = true
        v.faultSetsPageMapping = true
        v.faultTakesMutex = false
        v.stateOutlivesInfo = false
        v.lastcloseClearsMapping = .boundPagerefs
        return v
    }

    /// Runs `body` in a process holding mmap_lock for read, as the fault path does around handle_mm_fault.
    @EmuActor func underMmapLock(_ k: EmuKernel, _ t: UserTask, _ body: () -> Void) {
        t.mm.mmapLock.downRead()
        body()
        t.mm.mmapLock.upRead()
    }

    /// A SIGBUS fault is a PGFAULT too: it RETRYs once under the per-VMA lock (not counted), then fails under
    /// mmap_lock (counted). A SIGSEGV the arch code raises before handle_mm_fault (access_error) is not.
    @Test @EmuActor func failedFaultsAreCounted() throws {
        let k = testKernel()
        let dev = TestDevice(k)
        k.spawnProcess("p") { t in
            let fd = try t.open(dev.inode)
            let a = try t.mmap(length: 20 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
            do { try t.store8(a + 17 * PAGE_SIZE, 1) } catch { #expect(error as? UserFault == .sigbus(a + 17 * PAGE_SIZE)) }
            let ro = try t.mmap(length: PAGE_SIZE, prot: .read, flags: .shared, fd: fd)
            do { try t.store8(ro, 1) } catch { #expect(error as? UserFault == .sigsegv(ro, .accErr)) }
        }
        #expect(k.sched.run() == .completed)
        #expect(k.stats.faultAttempts == 2)
        #expect(k.stats.faults == 1, "the SIGBUS fault; the access error never reached handle_mm_fault")
        #expect(k.stats.sigbus == 1 && k.stats.sigsegv == 1)
        #expect(k.stats.vmaLockRetries == 1, "the SIGBUS fault needed ->fault")
        #expect(k.stats.vmaLockSuccess == 1, "the access error was decided under the VMA lock")
    }

    /// sanitize_fault_flags() refuses a write fault on a VMA without VM_MAYWRITE with SIGSEGV — counted as a fault
    /// — and WARN_ON_ONCE()s: one report for any number of hits, and the count of hits.
    @Test @EmuActor func warnOnOnceReportsOnceAndCounts() throws {
        let k = testKernel()
        let dev = TestDevice(k)
        let results = Box<[VMFaultResult]>([])
        k.spawnProcess("p") { t in
            let fd = try t.open(dev.inode, .read)
            let a = try t.mmap(length: 4 * PAGE_SIZE, prot: .read, flags: .shared, fd: fd)
            let vma = t.mm.vmaLookup(a)!
            #expect(!vma.flags.contains(.mayWrite))
            underMmapLock(k, t) {
                for i in 0 ..< 3 {
                    results.value.append(k.handleMMFault(vma, a + i * PAGE_SIZE, [.write, .allowRetry, .user]))
                }
            }
        }
        #expect(k.sched.run() == .completed)
        #expect(results.value == [.sigsegv, .sigsegv, .sigsegv])
        #expect(k.stats.faults == 3, "PGFAULT counts failed faults")
        #expect(k.sched.reports.count == 1)
        #expect(k.sched.reports.first?.hasSuffix("WARNING: write fault on a VMA without VM_MAYWRITE") == true)
        #expect(k.onceWarnings.map(\.hits) == [3])
        #expect(k.onceWarnings.first?.site == "sanitize_fault_flags: !(vm_flags & VM_MAYWRITE)")
        #expect(k.onceWarningCounts == ["WARN_ON_ONCE sanitize_fault_flags: !(vm_flags & VM_MAYWRITE): 3 hits, printed once"])
    }

    /// A write fault that finds its PTE already writable and dirty flushes the stale TLB entry — unless it is a
    /// retried fault (FAULT_FLAG_TRIED), whose first attempt already dealt with it.
    @Test @EmuActor func spuriousFlushIsSkippedOnARetriedFault() throws {
        let k = testKernel()
        let dev = TestDevice(k)
        let flushes = Box<[Int]>([])
        k.spawnProcess("p") { t in
            let fd = try t.open(dev.inode)
            let a = try t.mmap(length: 4 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
            try t.store8(a, 1)
            #expect(t.mm.pte(at: a).state == "RW+D")
            let vma = t.mm.vmaLookup(a)!
            underMmapLock(k, t) {
                let before = k.stats.tlbFlushPage
                #expect(k.handleMMFault(vma, a, [.write, .allowRetry, .user]) == .zero)
                flushes.value.append(k.stats.tlbFlushPage - before)
                #expect(k.handleMMFault(vma, a, [.write, .allowRetry, .user, .tried]) == .zero)
                flushes.value.append(k.stats.tlbFlushPage - before)
                #expect(k.handleMMFault(vma, a, [.allowRetry, .user]) == .zero)  // a read: never flushed
                flushes.value.append(k.stats.tlbFlushPage - before)
            }
        }
        #expect(k.sched.run() == .completed)
        #expect(flushes.value == [1, 1, 1])
        #expect(k.stats.spuriousFaults == 3)
    }

    /// The same through the whole fault path of 5.5–5.18: fault_dirty_shared_page drops mmap_lock on the first
    /// attempt and returns RETRY, the retry (TRIED) finds the PTE it installed already writable — a spurious fault
    /// that flushes nothing. Only the completing attempt is a PGFAULT.
    @Test @EmuActor func aRetryFromFaultDirtySharedPageIsSpuriousWithoutAFlush() throws {
        let k = testKernel()
        k.config.faultDirtySharedPageUnlock = .retry
        k.events.keep = true
        let dev = TestDevice(k)
        // page->mapping, as fb_defio's ->fault set it up to 6.14.
        k.phys.frames[dev.pfn(2).rawValue].mapping = PageMapping(id: dev.inode.mapping.id, tag: .file)
        k.spawnProcess("p") { t in
            let fd = try t.open(dev.inode)
            let a = try t.mmap(length: 4 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
            try t.store8(a + 2 * PAGE_SIZE, 9)
            #expect(t.mm.pte(at: a + 2 * PAGE_SIZE).state == "RW+D")
            #expect(!t.mm.mmapLock.isLocked)
        }
        #expect(k.sched.run() == .completed)
        let retries = k.events.events.compactMap { e -> String? in
            if case .retry(_, let r, let lock) = e.payload { return "\(lock.rawValue): \(r)" }
            return nil
        }
        #expect(retries == ["per-VMA lock: RETRY", "mmap_lock: RETRY"])
        #expect(k.stats.faultAttempts == 1 && k.stats.faults == 1)
        #expect(k.stats.spuriousFaults == 1)
        #expect(k.stats.tlbFlushPage == 0)
        #expect(dev.log == ["p fault 2", "p mkwrite 2"])
    }

    /// ≤ 6.14 fb_defio: the page has a mapping, so on the first attempt under mmap_lock fault_dirty_shared_page
    /// drops the lock and the fault completes there (VM_FAULT_COMPLETED); since 6.15 the page has none and the fault
    /// returns 0 with the lock held. Both set PG_dirty, through noop_dirty_folio.
    @Test(arguments: [false, true]) @EmuActor func legacyDefioCompletesTheFaultUnlocked(legacy: Bool) throws {
        let rig = DefioRig(variant: legacy ? Self.legacyDefio : .upstream)
        rig.k.events.keep = true
        let seen = Box<[String]>([])
        rig.k.spawnProcess("p") { t in
            let (_, a) = try rig.map(t)
            try t.store32(a + 5 * PAGE_SIZE, 0xFFFF_FFFF)
            let pfn = t.mm.pte(at: a + 5 * PAGE_SIZE).pfn
            let frame = rig.k.phys.frames[pfn.rawValue]
            seen.value.append("mapping \(!frame.mapping.isNone) PG_dirty \(frame.isDirty) "
                + "mmap_lock held \(t.mm.mmapLock.isLocked)")
            #expect(rig.k.noopDirtyFolio(nil, pfn) == false, "already dirty")
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(seen.value == ["mapping \(legacy) PG_dirty true mmap_lock held false"])
        let results = rig.k.events.events.compactMap { e -> VMFaultResult? in
            if case .faultResult(_, let r) = e.payload { return r }
            return nil
        }
        #expect(results == [legacy ? .completed : .zero])
        #expect(rig.k.stats.faults == 1 && rig.k.stats.vmaLockRetries == 1)
        #expect(rig.k.stats.pageMkwriteCalls == 1)
    }

    /// Before 5.5 the lock was kept: the fault completes with 0 under mmap_lock even though the page has a mapping.
    @Test @EmuActor func beforeFiveFiveTheLockIsKept() throws {
        let rig = DefioRig(variant: Self.legacyDefio)
        rig.k.config.faultDirtySharedPageUnlock = .never
        rig.k.events.keep = true
        rig.k.spawnProcess("p") { t in
            let (_, a) = try rig.map(t)
            try t.store32(a, 1)
        }
        #expect(rig.k.sched.run() == .completed)
        let results = rig.k.events.events.compactMap { e -> VMFaultResult? in
            if case .faultResult(_, let r) = e.payload { return r }
            return nil
        }
        #expect(results == [.zero])
    }

    /// PG_dirty is what the kernel sets wherever a file page learns of a write: the fault path (folio_mark_dirty)
    /// and the zap of a dirty PTE; an anonymous page's zap does not set it.
    @Test @EmuActor func zapMarksFilePagesDirtyButNotAnonymousOnes() throws {
        let k = testKernel()
        let dev = TestDevice(k, mkwrite: .none)
        let seen = Box<[String]>([])
        k.spawnProcess("p") { t in
            let fd = try t.open(dev.inode)
            let a = try t.mmap(length: 4 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
            try t.store8(a + PAGE_SIZE, 1)
            let shared = dev.pfn(1)
            // No ->page_mkwrite: the fault path itself dirtied the page (noop_dirty_folio: no mapping).
            seen.value.append("after the fault \(k.phys.frames[shared.rawValue].isDirty)")
            k.phys.frames[shared.rawValue].flags.remove(.dirty)  // as if written back
            try t.munmap(a, length: 4 * PAGE_SIZE)
            seen.value.append("after the zap \(k.phys.frames[shared.rawValue].isDirty)")
            let anon = try t.mmap(length: PAGE_SIZE, prot: .readWrite, flags: [.private, .anonymous])
            try t.store8(anon, 1)
            let p = t.mm.pte(at: anon).pfn
            k.phys.getPage(p)  // keep the frame to look at it after the zap
            try t.munmap(anon, length: PAGE_SIZE)
            seen.value.append("anonymous after the zap \(k.phys.frames[p.rawValue].isDirty)")
            k.phys.putPage(p)
        }
        #expect(k.sched.run() == .completed)
        #expect(seen.value == ["after the fault true", "after the zap true", "anonymous after the zap false"])
    }
}
