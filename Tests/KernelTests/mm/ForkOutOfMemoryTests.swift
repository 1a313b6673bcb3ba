import Testing
@testable import Kernel
import TestSupport

/// fork(2) running out of RAM at every page-table allocation of the child, one run per failure point. The file
/// VMAs come first in address order, so most failure points find some of them copied (opened, in i_mmap, holding
/// a file reference) and have to undo that.
///
///     parent's VMAs (ascending address)                    copied how                  child allocations it needs
///     0x1000_0000 scratch A, shared, written               no PTEs (the child faults)  (first of all the child's PGD)
///     0x1001_0000 scratch A, private, pgoff 4, written     PTEs (the COW copy)         PUD, PMD, PTE table
///     0x1002_0000 scratch B, shared, PFN map, read         special PTEs (VM_MIXEDMAP)  — (the same PTE table)
///     0x4000_0000 anonymous, written                       PTEs                        PMD, PTE table
///     under mmap_base: anonymous 4 MiB, both ends written  PTEs                        PUD, PMD, two PTE tables
///
/// Whatever point fails, fork must throw ENOMEM and leave no trace: the parent's VMAs, pages and contents as they
/// were (its COW PTEs may have lost the write bit, as in the kernel), both files' i_mmap trees and reference counts
/// back to the parent's alone, every ->open of a copied VMA matched by a ->close, and every page the child took —
/// page tables and page references — free again.
@Suite struct ForkOutOfMemoryTests {
    /// What one run saw: the allocations of the fork (the probe run) or whether each check held.
    struct Outcome {
        var forkAllocations = 0
        var failures: [String] = []
    }

    /// One machine with the parent of the picture above. With `failAt` nil the fork succeeds and its page
    /// allocations are counted; otherwise RAM is filled until exactly `failAt` pages are free before the fork.
    @EmuActor static func run(failAt: Int?) -> Outcome {
        let k = testKernel()
        let devA = TestDevice(k)
        let devB = TestDevice(k, pfnMap: true)
        let freeAtBoot = k.phys.freePages
        let out = Box(Outcome())
        func check(_ ok: Bool, _ what: @autoclosure () -> String) {
            if !ok { out.value.failures.append("fail at \(failAt.map(String.init) ?? "-"): \(what())") }
        }
        k.spawnProcess("parent") { t in
            let fdA = try t.open(devA.inode)
            let fdB = try t.open(devB.inode)
            func at(_ a: UInt64) -> VirtAddr { VirtAddr(a) }
            let sharedA = try t.mmap(at(0x1000_0000), length: 4 * PAGE_SIZE, prot: .readWrite,
                                     flags: [.shared, .fixed], fd: fdA)
            let privateA = try t.mmap(at(0x1001_0000), length: 4 * PAGE_SIZE, prot: .readWrite,
                                      flags: [.private, .fixed], fd: fdA, offset: 4 * PAGE_SIZE)
            let sharedB = try t.mmap(at(0x1002_0000), length: 4 * PAGE_SIZE, prot: .readWrite,
                                     flags: [.shared, .fixed], fd: fdB)
            let fixed = try t.mmap(at(0x4000_0000), length: PAGE_SIZE, prot: .readWrite,
                                   flags: [.private, .anonymous, .fixed])
            let anon = try t.mmap(length: 1024 * PAGE_SIZE, prot: .readWrite, flags: [.private, .anonymous])
            let written = [sharedA, privateA + PAGE_SIZE, anon, anon + 1023 * PAGE_SIZE, fixed]
            for (i, a) in written.enumerated() { try t.store8(a, UInt8(i + 1)) }
            _ = try t.load8(sharedB + 2 * PAGE_SIZE)
            let touched = written + [sharedB + 2 * PAGE_SIZE]

            let vmas = t.mm.vmas.map { "\($0.id) \($0.start)-\($0.end)" }
            let pfns = touched.map { t.mm.pte(at: $0).pfn }
            @EmuActor func pageCounts() -> [String] {
                pfns.map { "\(k.phys.frames[$0.rawValue].refcount)/\(k.phys.frames[$0.rawValue].mapcount)" }
            }
            let counts = pageCounts()
            let iMmap = (devA.inode.mapping.iMmap.count, devB.inode.mapping.iMmap.count)
            let refs = (try t.file(fdA).refcount, try t.file(fdB).refcount)
            let hooks = (devA.opens, devA.closes, devB.opens, devB.closes)
            let free = k.phys.freePages

            guard let failAt else {
                let before = k.phys.allocations
                try t.fork("child") { _ in }
                out.value.forkAllocations = k.phys.allocations - before
                return
            }
            var held: [PFN] = []
            while k.phys.freePages > failAt { held.append(k.phys.allocPage()!) }
            do throws(Errno) {
                try t.fork("child") { _ in out.value.failures.append("the child of a failed fork ran") }
                check(false, "fork succeeded")
            } catch {
                check(error == .ENOMEM, "fork threw \(error), not ENOMEM")
            }
            held.forEach(k.phys.putPage)

            check(k.phys.freePages == free, "\(free - k.phys.freePages) pages not freed")
            check(t.mm.vmas.map { "\($0.id) \($0.start)-\($0.end)" } == vmas, "parent VMAs changed")
            check(touched.map { t.mm.pte(at: $0).pfn } == pfns, "parent PTEs changed")
            check(touched.allSatisfy { t.mm.pte(at: $0).isPresent }, "a parent PTE is gone")
            check(pageCounts() == counts, "page refcount or mapcount changed")
            check((devA.inode.mapping.iMmap.count, devB.inode.mapping.iMmap.count) == iMmap,
                  "i_mmap keeps child VMAs")
            check((try t.file(fdA).refcount, try t.file(fdB).refcount) == refs, "file references leaked")
            check(devA.opens - hooks.0 == devA.closes - hooks.1 && devB.opens - hooks.2 == devB.closes - hooks.3,
                  "->open without ->close")
            // The parent still works: its data is there and every page takes a store.
            for (i, a) in written.enumerated() {
                check(try t.load8(a) == UInt8(i + 1), "parent lost the byte at \(a)")
                try t.store8(a, 0xEE)
            }
            // And with the RAM back, the same fork succeeds.
            try t.fork("child") { c in
                check(try c.load8(anon + 1023 * PAGE_SIZE) == 0xEE, "child sees the wrong data")
            }
        }
        check(k.sched.run() == .completed, "the run did not complete")
        check(devA.inode.mapping.iMmap.isEmpty && devB.inode.mapping.iMmap.isEmpty, "i_mmap not empty at the end")
        // The parent's own VMAs were set up by ->mmap, not ->open; each copied one was opened: one ->close more per
        // parent VMA.
        check(devA.closes - devA.opens == 2 && devB.closes - devB.opens == 1, "->open and ->close unbalanced")
        check(k.phys.freePages == freeAtBoot, "\(freeAtBoot - k.phys.freePages) pages leaked by the run")
        return out.value
    }

    @Test @EmuActor func forkUnwindsTheChildAtEveryFailurePoint() {
        let probe = Self.run(failAt: nil)
        #expect(probe.failures.isEmpty, "\(probe.failures)")
        // The PGD and the nine page-table pages of the picture.
        #expect(probe.forkAllocations == 10, "\(probe.forkAllocations) allocations")
        for failAt in 0 ..< probe.forkAllocations {
            let outcome = Self.run(failAt: failAt)
            #expect(outcome.failures.isEmpty, "\(outcome.failures)")
        }
    }
}
