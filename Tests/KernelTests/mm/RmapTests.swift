// SPDX-License-Identifier: MIT — tests of the file reverse map (kernel: mm/rmap.c, mm/page_vma_mapped.c).
import Testing
@testable import Kernel

/// Counters shared by the tasks of the conservation test.
@EmuActor private final class ConservationState {
    var cleaned = 0, passes = 0, writersDone = 0, stillDirty = 0, mkwrites = 0
}

/// Records every VMA an rmap walk offers, and can stop the walk from `rmapOne` or `done`.
private struct RecordingControl: RmapWalkControl {
    var visits: [(vma: Int, address: VirtAddr)] = []
    var contended = false
    var tryLock = false
    /// `rmapOne` answers false once this many VMAs were seen.
    var stopAfter = Int.max
    /// `done` answers true once this many VMAs were seen.
    var doneAfter = Int.max
    var skipPrivate = false

    mutating func rmapOne(_ kernel: EmuKernel, _ folio: PFN?, _ vma: VMArea, _ address: VirtAddr) -> Bool {
        visits.append((vma.id, address))
        return visits.count < stopAfter
    }
    mutating func done(_ folio: PFN?) -> Bool { visits.count >= doneAfter }
    func invalidVMA(_ vma: VMArea) -> Bool { skipPrivate && invalidMkcleanVMA(vma) }
}

@Suite("rmap: mapping_wrprotect_range, folio_mkclean, __rmap_walk_file")
struct RmapTests {
    // The scenario of the first test. Device pages 0…11; `#` = written through a shared mapping (RW+dirty PTE),
    // `r` = read (RO clean PTE), `c` = written through a private mapping (COW copy, the file page untouched).
    //
    //   pgoff          0 1 2 3 4 5 6 7 8 9 a b
    //   A   shared     # # # # # # # #                at 0x1000_0000
    //   A   private            c c c c                at 0x1100_0000
    //   B   shared             # # # # # # # #        at 0x201f_e000 (pgoff 6 starts a new PTE table)
    //   B   shared                 #                  at 0x2100_0000
    //   B   shared RO            r r r                at 0x2200_0000
    //   B   private              r r                  at 0x2300_0000
    //   F   shared         # # # # # # # # # #        at 0x3000_0000, then fork → F1, F3; F1 forks F2
    //   F   private                c c                at 0x3100_0000 (inherited: write-protected COW pages)
    //   F1  (F's)              # # # # r
    //   F2  (F's)                  #      + private pgoff 6 written again (its own copy)
    //   F2  shared                   # . . .          at 0x4000_0000, pgoff 7…10 (starts inside the range)
    //   F3  (F's)                r r r
    //   range wrprotected:         [5 6 7]   → 15 PTEs change: A 3, B 3+1, F 3, F1 3, F2 1+1
    static let scenarioRange = 5 ..< 8

    @EmuActor
    static func buildScenario(_ f: RmapFixture, _ barrier: RmapBarrier) {
        let k = f.k, inode = f.inode
        func touch(_ t: UserTask, _ base: VirtAddr, firstPgoff: Int, _ pgoffs: [Int], write: Bool) throws {
            for p in pgoffs {
                let a = base + (p - firstPgoff) * PAGE_SIZE
                if write { try t.store32(a, UInt32(0xA000 + t.pid * 16 + p)) } else { _ = try t.load32(a) }
            }
        }
        k.spawnProcess("A") { t in
            let fd = try t.open(inode)
            let s = try t.mmap(.page(0x10000), length: 8 * PAGE_SIZE, prot: .readWrite, flags: [.shared, .fixed],
                                     fd: fd)
            try touch(t, s, firstPgoff: 0, Array(0 ..< 8), write: true)
            let p = try t.mmap(.page(0x11000), length: 4 * PAGE_SIZE, prot: .readWrite, flags: [.private, .fixed],
                                     fd: fd, offset: 4 * PAGE_SIZE)
            try touch(t, p, firstPgoff: 4, Array(4 ..< 8), write: true)
            barrier.arrive()
            try t.store32(s + 6 * PAGE_SIZE, 1)  // must fault again
            barrier.arrive()
        }
        k.spawnProcess("B") { t in
            let fd = try t.open(inode)
            let s = try t.mmap(.page(0x201FE), length: 8 * PAGE_SIZE, prot: .readWrite, flags: [.shared, .fixed],
                                     fd: fd, offset: 4 * PAGE_SIZE)
            try touch(t, s, firstPgoff: 4, Array(4 ..< 12), write: true)
            let s2 = try t.mmap(.page(0x21000), length: PAGE_SIZE, prot: .readWrite, flags: [.shared, .fixed],
                                      fd: fd, offset: 6 * PAGE_SIZE)
            try touch(t, s2, firstPgoff: 6, [6], write: true)
            let ro = try t.mmap(.page(0x22000), length: 3 * PAGE_SIZE, prot: .read, flags: [.shared, .fixed],
                                      fd: fd, offset: 5 * PAGE_SIZE)
            try touch(t, ro, firstPgoff: 5, [5, 6, 7], write: false)
            let pr = try t.mmap(.page(0x23000), length: 2 * PAGE_SIZE, prot: .readWrite,
                                      flags: [.private, .fixed], fd: fd, offset: 5 * PAGE_SIZE)
            try touch(t, pr, firstPgoff: 5, [5, 6], write: false)
            barrier.arrive()
            try t.store32(s + 2 * PAGE_SIZE, 2)  // pgoff 6
            barrier.arrive()
        }
        k.spawnProcess("F") { t in
            let fd = try t.open(inode)
            let s = try t.mmap(.page(0x30000), length: 10 * PAGE_SIZE, prot: .readWrite, flags: [.shared, .fixed],
                                     fd: fd, offset: 2 * PAGE_SIZE)
            try touch(t, s, firstPgoff: 2, Array(2 ..< 12), write: true)
            let p = try t.mmap(.page(0x31000), length: 2 * PAGE_SIZE, prot: .readWrite, flags: [.private, .fixed],
                                     fd: fd, offset: 6 * PAGE_SIZE)
            try touch(t, p, firstPgoff: 6, [6, 7], write: true)
            try t.fork("F1") { c in
                try touch(c, s, firstPgoff: 2, [4, 5, 6, 7], write: true)
                try touch(c, s, firstPgoff: 2, [8], write: false)
                try c.fork("F2") { g in
                    try touch(g, s, firstPgoff: 2, [6], write: true)
                    try touch(g, p, firstPgoff: 6, [6], write: true)
                    let fd2 = try g.open(inode)
                    let s3 = try g.mmap(.page(0x40000), length: 4 * PAGE_SIZE, prot: .readWrite,
                                              flags: [.shared, .fixed], fd: fd2, offset: 7 * PAGE_SIZE)
                    try touch(g, s3, firstPgoff: 7, [7], write: true)
                    barrier.arrive()
                    try g.store32(s + 4 * PAGE_SIZE, 3)  // pgoff 6
                    barrier.arrive()
                }
                barrier.arrive()
                try c.store32(s + 4 * PAGE_SIZE, 4)
                barrier.arrive()
            }
            try t.fork("F3") { c in
                try touch(c, s, firstPgoff: 2, [5, 6, 7], write: false)
                barrier.arrive()
                barrier.arrive()
            }
            barrier.arrive()
            try t.store32(s + 4 * PAGE_SIZE, 5)
            barrier.arrive()
        }
    }

    @Test("mapping_wrprotect_range cleans every shared PTE of the range in every process, and nothing else",
          arguments: [UInt64(1), 2, 3])
    @EmuActor func wrprotectsAProcessPairAndAForkTree(seed: UInt64) {
        let f = RmapFixture(policy: .random(seed: seed))
        #expect(f.pfnsAreContiguous)
        let k = f.k
        let range = Self.scenarioRange
        let rangePFNs = f.pfns[range.lowerBound].rawValue ... f.pfns[range.upperBound - 1].rawValue
        var checked = false
        var mkwriteBeforeRewrite = 0
        // Seven processes (A, B, F, F1, F2, F3 and the checker) meet twice: after setup, and after the rewrites.
        let barrier = RmapBarrier(k, parties: 7)
        Self.buildScenario(f, barrier)
        k.spawnProcess("checker") { _ in
            barrier.arrive {
                let before = f.filePTEs()
                let ranged = before.filter { rangePFNs.contains($0.pte.pfn.rawValue) }
                let dirtyOrWritable = ranged.filter { $0.pte.isWrite || $0.pte.isDirty }
                #expect(dirtyOrWritable.count == 15)
                // The TLB of every writer still caches the writable translation.
                #expect(k.processes.contains { p in
                    p.tlb.validEntries.contains { rangePFNs.contains($0.pfn.rawValue) && $0.writable }
                })
                let privateBefore = f.fileVMAs().filter { !$0.flags.contains(.shared) }
                    .flatMap { v in stride(from: v.start, to: v.end, by: PAGE_SIZE).map { (v, $0, v.mm.pte(at: $0)) } }
                let devicePFNs = Set(f.pfns.map(\.rawValue))
                let cow = privateBefore.filter { !$0.2.isNone && !devicePFNs.contains($0.2.pfn.rawValue) }
                let cowContents = cow.map { k.phys.address(of: $0.2.pfn).load(as: UInt32.self) }
                let visitsBefore = k.stats.rmapWalkVMAs
                let overlapping = f.mapping.vmas(overlapping: PgOff(range.lowerBound), PgOff(range.upperBound - 1))

                let count = k.mappingWrprotectRange(f.mapping, pgoff: PgOff(range.lowerBound),
                                                          pfn: f.pfns[range.lowerBound], nrPages: range.count)

                let after = f.filePTEs()
                #expect(after.count == before.count)
                let changed = zip(before, after).filter { $0.0 != $0.1 }
                #expect(count == 15)
                #expect(count == changed.count)
                for (old, new) in changed {
                    // Only PTEs of the range changed, and only by losing RW and DIRTY.
                    #expect(rangePFNs.contains(old.pte.pfn.rawValue))
                    #expect(new.pte == old.pte.wrprotected().mkclean())
                }
                for v in after where rangePFNs.contains(v.pte.pfn.rawValue) {
                    #expect(!v.pte.isWrite && !v.pte.isDirty, "\(v)")
                }
                for p in k.processes {
                    for e in p.tlb.validEntries where rangePFNs.contains(e.pfn.rawValue) {
                        #expect(!e.writable, "\(p.name) still has a writable TLB entry for \(e.pfn)")
                    }
                }
                // Private mappings (COW copies and read-only file pages) are untouched, contents included.
                let privateAfter = privateBefore.map { $0.0.mm.pte(at: $0.1) }
                #expect(privateAfter == privateBefore.map(\.2))
                // Anonymous COW pages: A 4, F 2, and the copies of F's PTEs in F1, F2 (one replaced by its own copy)
                // and F3.
                #expect(cow.count == 12)
                #expect(cow.map { k.phys.address(of: $0.2.pfn).load(as: UInt32.self) } == cowContents)
                // One visit per i_mmap VMA overlapping the range (private ones too: invalid_vma filters them later).
                #expect(overlapping.count == 15)
                #expect(k.stats.rmapWalkVMAs - visitsBefore == overlapping.count)
                // Everything is read-only and clean now: a second pass finds nothing.
                #expect(k.mappingWrprotectRange(f.mapping, pgoff: PgOff(range.lowerBound),
                                                      pfn: f.pfns[range.lowerBound], nrPages: range.count) == 0)
                mkwriteBeforeRewrite = k.stats.pageMkwriteCalls
                checked = true
            }
            barrier.arrive {
                // A, B, F, F1 and F2 each stored to pgoff 6 once: each store faulted into ->page_mkwrite.
                #expect(k.stats.pageMkwriteCalls - mkwriteBeforeRewrite == 5)
            }
        }
        #expect(k.sched.run() == .completed)
        #expect(barrier.actionsRun == 2)
        #expect(checked)
        #expect(k.processes.allSatisfy { $0.exitStatus == .exited })
    }

    @Test("mapping_wrprotect_range(nil) is 0; the count excludes PTEs that are already read-only and clean")
    @EmuActor func countsOnlyDirtyOrWritablePTEs() {
        let f = RmapFixture()
        let k = f.k
        #expect(k.mappingWrprotectRange(nil, pgoff: PgOff(0), pfn: f.pfns[0], nrPages: 1) == 0)
        let barrier = RmapBarrier(k, parties: 3)
        for i in 0 ..< 2 {
            k.spawnProcess("p\(i)") { t in
                let fd = try t.open(f.inode)
                let a = try t.mmap(length: 4 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
                try t.store32(a + 2 * PAGE_SIZE, 7)       // pgoff 2: RW+dirty
                _ = try t.load32(a + 3 * PAGE_SIZE)       // pgoff 3: RO clean
                if i == 1 {
                    // A private mapping's PTE for pgoff 2, forged dirty (a CPU never dirties a read-only PTE): only
                    // invalid_mkclean_vma, not the PTE's state, can keep mkclean away from it.
                    let p = try t.mmap(length: 4 * PAGE_SIZE, prot: .readWrite, flags: .private, fd: fd)
                    _ = try t.load32(p + 2 * PAGE_SIZE)
                    let slot = t.mm.pageTables.lookup(p + 2 * PAGE_SIZE)!
                    slot.write(slot.read().mkdirty())
                }
                barrier.arrive()
            }
        }
        k.spawnProcess("checker") { _ in
            barrier.arrive {
                #expect(k.mappingWrprotectRange(f.mapping, pgoff: PgOff(3), pfn: f.pfns[3], nrPages: 1) == 0)
                // The write-protect backend of mapping_dirty_helpers leaves DIRTY set; mkclean counts those too.
                #expect(k.wpSharedMappingRange(f.mapping, firstIndex: PgOff(2), nr: 1) == 2)
                #expect(f.sharedPTEs().filter { $0.pgoff == 2 }.map(\.pte.state) == ["RO+D", "RO+D"])
                #expect(k.mappingWrprotectRange(f.mapping, pgoff: PgOff(2), pfn: f.pfns[2], nrPages: 1) == 2)
                #expect(f.sharedPTEs().filter { $0.pgoff == 2 }.map(\.pte.state) == ["RO", "RO"])
                let forged = f.fileVMAs().filter { !$0.flags.contains(.shared) }
                    .map { $0.mm.pte(at: $0.start + 2 * PAGE_SIZE) }
                #expect(forged.map(\.state) == ["RO+D"])
                // A PFN the offset does not map matches nothing.
                #expect(k.mappingWrprotectRange(f.mapping, pgoff: PgOff(2), pfn: f.pfns[9], nrPages: 1) == 0)
            }
        }
        #expect(k.sched.run() == .completed)
        #expect(barrier.actionsRun == 1)
    }

    @Test("concurrent writers and a write-protecting worker: every page_mkwrite is cleaned once or still dirty",
          arguments: [UInt64(11), 12, 13, 14])
    @EmuActor func cleaningIsConservedUnderRandomInterleavings(seed: UInt64) {
        var config = MMConfig()
        config.storeBudget = 1  // every store reaches a preemption point
        let f = RmapFixture(policy: .random(seed: seed, switchRatio: Ratio(1, 2)), config: config)
        let k = f.k
        let state = ConservationState()
        let barrier = RmapBarrier(k, parties: 4)
        for i in 0 ..< 3 {
            k.spawnProcess("w\(i)") { t in
                let fd = try t.open(f.inode)
                let a = try t.mmap(length: 8 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd,
                                         offset: i * PAGE_SIZE)
                for n in 0 ..< 120 { try t.store32(a + (4 - i) * PAGE_SIZE + 4 * (n % 8), UInt32(n)) }
                state.writersDone += 1
                barrier.arrive()
            }
        }
        k.spawnProcess("worker") { _ in
            while state.writersDone < 3 {
                state.cleaned += k.mappingWrprotectRange(f.mapping, pgoff: PgOff(4), pfn: f.pfns[4], nrPages: 1)
                state.passes += 1
                k.sched.sleep(until: k.now + .ns(300))
            }
            barrier.arrive {
                state.stillDirty = f.filePTEs().filter { $0.pgoff == 4 && ($0.pte.isWrite || $0.pte.isDirty) }.count
                state.mkwrites = k.stats.pageMkwriteCalls
            }
        }
        #expect(k.sched.run() == .completed)
        #expect(k.processes.allSatisfy { $0.exitStatus == .exited })
        // Each mkwrite made one RW+dirty PTE of pgoff 4 (the only page written), which the worker then cleaned
        // exactly once, or which is still dirty at the end.
        #expect(barrier.actionsRun == 1)
        #expect(state.passes >= 2)
        #expect(state.cleaned > 0)
        #expect(state.mkwrites == state.cleaned + state.stillDirty)
        #expect(k.stats.pteChangedBailouts == 0)
    }

    @Test("folio_mkclean finds nothing without page->mapping/index (the vmalloc page case), and works with them")
    @EmuActor func folioMkcleanNeedsMappingAndIndex() {
        let f = RmapFixture()
        let k = f.k
        let pfn = f.pfns[3]
        let barrier = RmapBarrier(k, parties: 4)
        for i in 0 ..< 3 {
            k.spawnProcess("p\(i)") { t in
                let fd = try t.open(f.inode)
                let a = try t.mmap(length: 4 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
                try t.store32(a + 3 * PAGE_SIZE, UInt32(i))
                barrier.arrive()
            }
        }
        k.spawnProcess("checker") { _ in
            barrier.arrive {
                let ptes = { f.filePTEs().filter { $0.pgoff == 3 }.map(\.pte) }
                #expect(ptes().count == 3)
                #expect(k.phys.frames[pfn.rawValue].mapcount == 3)
                k.phys.lockPage(pfn)
                #expect(k.folioMkclean(pfn) == 0)
                #expect(ptes().allSatisfy { $0.isWrite && $0.isDirty })
                // A wrong index: the walk looks where pgoff 2 is mapped, finds other PFNs, cleans nothing.
                k.phys.frames[pfn.rawValue].mapping = PageMapping(id: f.mapping.id, tag: .file)
                k.phys.frames[pfn.rawValue].index = PgOff(2)
                #expect(k.folioMkclean(pfn) == 0)
                #expect(ptes().allSatisfy { $0.isWrite && $0.isDirty })
                // What fb_defio's fault handler did before 6.15: page->mapping = file mapping, page->index = pgoff.
                k.phys.frames[pfn.rawValue].index = PgOff(3)
                #expect(k.folioMkclean(pfn) == 3)
                #expect(ptes().allSatisfy { !$0.isWrite && !$0.isDirty })
                k.phys.unlockPage(pfn)
                // Mapped by nobody: nothing to do even with mapping and index.
                let unmapped = f.pfns[9]
                k.phys.frames[unmapped.rawValue].mapping = PageMapping(id: f.mapping.id, tag: .file)
                k.phys.frames[unmapped.rawValue].index = PgOff(9)
                k.phys.lockPage(unmapped)
                #expect(k.folioMkclean(unmapped) == 0)
                k.phys.unlockPage(unmapped)
            }
        }
        #expect(k.sched.run() == .completed)
        #expect(barrier.actionsRun == 1)
    }

    @Test("__rmap_walk_file offers every overlapping VMA in i_mmap order at vma_address; rmap_one and done stop it")
    @EmuActor func walkOrderAddressesAndStops() {
        let f = RmapFixture()
        let k = f.k
        // pgoff     0 1 2 3 4 5 6 7
        //   V1          a a a a         offset 2, at 0x5000_0000 (shared)
        //   V2      b b b b b b b b     offset 0, at 0x5100_0000 (private)
        //   V3                c c       offset 5, at 0x5200_0000 (shared)
        //   V4        d d               offset 1, at 0x5300_0000 (shared) — ends before the query
        //   query         [3 . . . 6]
        k.spawnProcess("p") { t in
            let fd = try t.open(f.inode)
            _ = try t.mmap(.page(0x50000), length: 4 * PAGE_SIZE, prot: .readWrite, flags: [.shared, .fixed],
                                 fd: fd, offset: 2 * PAGE_SIZE)
            _ = try t.mmap(.page(0x51000), length: 8 * PAGE_SIZE, prot: .readWrite, flags: [.private, .fixed],
                                 fd: fd)
            _ = try t.mmap(.page(0x52000), length: 2 * PAGE_SIZE, prot: .readWrite, flags: [.shared, .fixed],
                                 fd: fd, offset: 5 * PAGE_SIZE)
            _ = try t.mmap(.page(0x53000), length: 2 * PAGE_SIZE, prot: .readWrite, flags: [.shared, .fixed],
                                 fd: fd, offset: 1 * PAGE_SIZE)
            let v1 = t.mm.vmaLookup(.page(0x50000))!.id, v2 = t.mm.vmaLookup(.page(0x51000))!.id
            let v3 = t.mm.vmaLookup(.page(0x52000))!.id
            var all = RecordingControl()
            k.__rmapWalkFile(nil, f.mapping, pgoffStart: PgOff(3), nrPages: 4, &all, locked: false)
            // Ascending vm_pgoff: V2 (0), V1 (2), V3 (5). The range starts inside V2 and V1 and before V3.
            #expect(all.visits.map(\.vma) == [v2, v1, v3])
            #expect(all.visits.map(\.address) == [.page(0x51003), .page(0x50001), .page(0x52000)])
            var filtered = RecordingControl()
            filtered.skipPrivate = true
            k.__rmapWalkFile(nil, f.mapping, pgoffStart: PgOff(3), nrPages: 4, &filtered, locked: false)
            #expect(filtered.visits.map(\.vma) == [v1, v3])
            var stopped = RecordingControl()
            stopped.stopAfter = 2
            k.__rmapWalkFile(nil, f.mapping, pgoffStart: PgOff(3), nrPages: 4, &stopped, locked: false)
            #expect(stopped.visits.map(\.vma) == [v2, v1])
            var done = RecordingControl()
            done.doneAfter = 1
            k.__rmapWalkFile(nil, f.mapping, pgoffStart: PgOff(3), nrPages: 4, &done, locked: false)
            #expect(done.visits.map(\.vma) == [v2])
            // The caller may hold i_mmap_rwsem already.
            f.mapping.iMmapRwsem.downRead()
            var locked = RecordingControl()
            k.__rmapWalkFile(nil, f.mapping, pgoffStart: PgOff(7), nrPages: 1, &locked, locked: true)
            #expect(locked.visits.map(\.vma) == [v2])
            #expect(f.mapping.iMmapRwsem.isLocked)
            f.mapping.iMmapRwsem.upRead()
            #expect(!f.mapping.iMmapRwsem.isLocked)
            // An empty range finds nothing.
            var none = RecordingControl()
            k.__rmapWalkFile(nil, f.mapping, pgoffStart: PgOff(3), nrPages: 0, &none, locked: false)
            #expect(none.visits.isEmpty)
        }
        #expect(k.sched.run() == .completed)
        #expect(k.processes[0].exitStatus == .exited)
    }

    @Test("try_lock: a walk that finds i_mmap_rwsem write-held reports contention; a plain walk waits for it")
    @EmuActor func tryLockReportsContention() {
        let f = RmapFixture()
        let k = f.k
        let q = WaitQueue("try-lock-test", scheduler: k.sched)
        let log = LockLog()
        k.spawnProcess("holder") { t in
            let fd = try t.open(f.inode)
            let a = try t.mmap(length: PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
            try t.store32(a, 1)
            f.mapping.iMmapRwsem.downWrite()
            log.holding = true
            log.lines.append("write-locked")
            q.wakeAll()
            q.wait(until: { log.contendedSeen })
            log.lines.append("unlocking")
            f.mapping.iMmapRwsem.upWrite()
        }
        k.spawnProcess("walker") { _ in
            q.wait(until: { log.holding })
            var trying = RecordingControl()
            trying.tryLock = true
            k.__rmapWalkFile(nil, f.mapping, pgoffStart: PgOff(0), nrPages: 1, &trying, locked: false)
            #expect(trying.contended)
            #expect(trying.visits.isEmpty)
            log.lines.append("contended")
            log.contendedSeen = true
            q.wakeAll()
            var waiting = RecordingControl()
            k.__rmapWalkFile(nil, f.mapping, pgoffStart: PgOff(0), nrPages: 1, &waiting, locked: false)
            #expect(!waiting.contended)
            #expect(waiting.visits.count == 1)
            log.lines.append("walked")
        }
        #expect(k.sched.run() == .completed)
        #expect(log.lines == ["write-locked", "contended", "unlocking", "walked"])
    }

    @Test("rmap_walk_file takes mapping and index from the folio; a folio disagreeing with the range is warned about")
    @EmuActor func rmapWalkFileUsesTheFolio() {
        let f = RmapFixture()
        let k = f.k
        k.spawnProcess("p") { t in
            let fd = try t.open(f.inode)
            _ = try t.mmap(.page(0x60000), length: 2 * PAGE_SIZE, prot: .readWrite, flags: [.shared, .fixed],
                                 fd: fd, offset: 4 * PAGE_SIZE)
            let pfn = f.pfns[5]
            k.phys.lockPage(pfn)
            var noMapping = RecordingControl()
            k.rmapWalkFile(folio: pfn, &noMapping)
            #expect(noMapping.visits.isEmpty)
            k.phys.frames[pfn.rawValue].mapping = PageMapping(id: f.mapping.id, tag: .file)
            k.phys.frames[pfn.rawValue].index = PgOff(5)
            var walk = RecordingControl()
            k.rmapWalkFile(folio: pfn, &walk)
            #expect(walk.visits.map(\.address) == [.page(0x60001)])
            #expect(k.sched.reports.isEmpty)
            var mismatch = RecordingControl()
            k.__rmapWalkFile(pfn, f.mapping, pgoffStart: PgOff(4), nrPages: 2, &mismatch, locked: false)
            #expect(mismatch.visits.count == 1)
            #expect(k.sched.reports.count == 2)
            #expect(k.sched.reports.allSatisfy { $0.contains("WARNING: __rmap_walk_file") })
            k.phys.unlockPage(pfn)
        }
        #expect(k.sched.run() == .completed)
        #expect(k.processes[0].exitStatus == .exited)
    }

    @Test("page_vma_mapped_walk matches by PFN across PTE tables, holding the PTL per match, with or without SYNC")
    @EmuActor func pageVMAMappedWalkMatchesByPFN() {
        let f = RmapFixture()
        let k = f.k
        // Six pages at 0x201f_d000: pgoff 0…2 in one PTE table, 3…5 in the next. Pages 1, 3 and 5 are mapped.
        k.spawnProcess("p") { t in
            let fd = try t.open(f.inode)
            let s = try t.mmap(.page(0x201FD), length: 6 * PAGE_SIZE, prot: .readWrite, flags: [.shared, .fixed],
                                     fd: fd)
            for p in [1, 3, 5] { try t.store32(s + p * PAGE_SIZE, 1) }
            let vma = t.mm.vmaLookup(s)!
            for flags in [PVMWFlags.sync, []] {
                var pvmw = PageVMAMappedWalk(pfn: f.pfns[0], nrPages: 6, pgoff: PgOff(0), vma: vma, address: s,
                                             flags: flags)
                var matches: [VirtAddr] = []
                while k.pageVMAMappedWalk(&pvmw) {
                    matches.append(pvmw.address)
                    #expect(pvmw.ptl === k.phys.ptl(pvmw.slot!.table))
                    #expect(pvmw.ptl!.isLocked)
                }
                #expect(matches == [s + PAGE_SIZE, s + 3 * PAGE_SIZE, s + 5 * PAGE_SIZE])
                #expect(pvmw.ptl == nil && pvmw.slot == nil)
                // A sub-range of PFNs starting at pgoff 2: only page 3 maps pfns[2…3].
                var sub = PageVMAMappedWalk(pfn: f.pfns[2], nrPages: 2, pgoff: PgOff(2), vma: vma,
                                            address: s + 2 * PAGE_SIZE, flags: flags)
                var subMatches: [VirtAddr] = []
                while k.pageVMAMappedWalk(&sub) { subMatches.append(sub.address) }
                #expect(subMatches == [s + 3 * PAGE_SIZE])
                // pfns[0…1] looked for where pgoff 2…3 are mapped: page 3 maps a higher PFN, page 2 nothing.
                var wrong = PageVMAMappedWalk(pfn: f.pfns[0], nrPages: 2, pgoff: PgOff(2), vma: vma,
                                              address: s + 2 * PAGE_SIZE, flags: flags)
                #expect(k.pageVMAMappedWalk(&wrong) == false)
                // One page: only the PTE at the start address is looked at.
                var one = PageVMAMappedWalk(pfn: f.pfns[3], nrPages: 1, pgoff: PgOff(3), vma: vma,
                                            address: s + 2 * PAGE_SIZE, flags: flags)
                #expect(k.pageVMAMappedWalk(&one) == false)
            }
            // An empty slot in an existing table: SYNC takes (and drops) the PTL to look; without it, no lock at all.
            for (flags, points) in [(PVMWFlags.sync, 2), ([], 0)] {
                var empty = PageVMAMappedWalk(pfn: f.pfns[0], nrPages: 1, pgoff: PgOff(0), vma: vma, address: s,
                                              flags: flags)
                let before = k.sched.preemptionPoints
                #expect(k.pageVMAMappedWalk(&empty) == false)
                #expect(k.sched.preemptionPoints - before == points)
            }
            // Ending a walk early releases the lock: page_vma_mapped_walk_done().
            var early = PageVMAMappedWalk(pfn: f.pfns[0], nrPages: 6, pgoff: PgOff(0), vma: vma, address: s,
                                          flags: .sync)
            #expect(k.pageVMAMappedWalk(&early))
            let ptl = early.ptl!
            k.pageVMAMappedWalkDone(&early)
            #expect(!ptl.isLocked)
            #expect(k.phys.ptl(vma.mm.pageTables.lookup(s)!.table).isLocked == false)
        }
        #expect(k.sched.run() == .completed)
        #expect(k.processes[0].exitStatus == .exited)
    }

    @Test("page_vma_mapped_walk steps over absent PUD and PMD entries to the next boundary of their level")
    @EmuActor func pageVMAMappedWalkStepsOverHoles() {
        let f = RmapFixture(pages: 1024, ramPages: 2048)
        let k = f.k
        // 4 MiB from 4 KiB below the 1 GiB line: pgoff 0 sits in the first PUD (absent: never touched), pgoff
        // 1…512 in the next PUD's first PMD (absent too), 513…1023 in its second PMD. Only pgoff 1023 is mapped.
        let start = VirtAddr(UInt64(1) << 30) + (-PAGE_SIZE)
        k.spawnProcess("p") { t in
            let fd = try t.open(f.inode)
            let s = try t.mmap(start, length: 1024 * PAGE_SIZE, prot: .readWrite, flags: [.shared, .fixed],
                                     fd: fd)
            try t.store32(s + 1023 * PAGE_SIZE, 1)
            let pt = t.mm.pageTables
            guard case .hole(let pud) = pt.pteTable(s), case .hole(let pmd) = pt.pteTable(s + PAGE_SIZE),
                  case .table = pt.pteTable(s + 1023 * PAGE_SIZE) else {
                Issue.record("unexpected page-table shape")
                return
            }
            #expect(pud == 1 << 30 && pmd == 1 << 21)
            let vma = t.mm.vmaLookup(s)!
            var pvmw = PageVMAMappedWalk(pfn: f.pfns[0], nrPages: 1024, pgoff: PgOff(0), vma: vma, address: s,
                                         flags: .sync)
            var matches: [VirtAddr] = []
            while k.pageVMAMappedWalk(&pvmw) { matches.append(pvmw.address) }
            #expect(matches == [s + 1023 * PAGE_SIZE])
            #expect(k.mappingWrprotectRange(f.mapping, pgoff: PgOff(0), pfn: f.pfns[0], nrPages: 1024) == 1)
            #expect(!t.mm.pte(at: s + 1023 * PAGE_SIZE).isWrite)
        }
        #expect(k.sched.run() == .completed)
        #expect(k.processes[0].exitStatus == .exited)
    }

    @Test("pfn_mkclean_range cleans the given shared VMA only; a private VMA is refused")
    @EmuActor func pfnMkcleanRangeCleansOneVMA() {
        let f = RmapFixture()
        let k = f.k
        let barrier = RmapBarrier(k, parties: 3)
        var shared: [VMArea] = []
        var privates: [VMArea] = []
        for i in 0 ..< 2 {
            k.spawnProcess("p\(i)") { t in
                let fd = try t.open(f.inode)
                let a = try t.mmap(length: 4 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
                for p in 0 ..< 4 { try t.store32(a + p * PAGE_SIZE, 1) }
                let p = try t.mmap(length: 4 * PAGE_SIZE, prot: .readWrite, flags: .private, fd: fd)
                _ = try t.load32(p + PAGE_SIZE)
                shared.append(t.mm.vmaLookup(a)!)
                privates.append(t.mm.vmaLookup(p)!)
                barrier.arrive()
            }
        }
        k.spawnProcess("checker") { _ in
            barrier.arrive {
                #expect(k.pfnMkcleanRange(f.pfns[1], nrPages: 2, pgoff: PgOff(1), privates[0]) == 0)
                #expect(k.pfnMkcleanRange(f.pfns[1], nrPages: 2, pgoff: PgOff(1), shared[0]) == 2)
                #expect(f.filePTEs().filter { $0.vma == shared[0].id }.map(\.pte.isWrite) == [true, false, false, true])
                #expect(f.filePTEs().filter { $0.vma == shared[1].id }.allSatisfy { $0.pte.isWrite && $0.pte.isDirty })
                #expect(f.filePTEs().filter { $0.vma == privates[0].id }.map(\.pte.state) == ["RO"])
            }
        }
        #expect(k.sched.run() == .completed)
        #expect(barrier.actionsRun == 1)
    }
}

/// What the try-lock test's tasks saw, in order.
@EmuActor private final class LockLog {
    var lines: [String] = []
    var holding = false
    var contendedSeen = false
}
