// SPDX-License-Identifier: MIT — the i_mmap interval tree as the mm maintains it (mmap, munmap and mprotect splits,
// fork), checked against a naive scan of every process's VMAs (kernel: mm/interval_tree.c under mm/mmap.c, mm/vma.c).
import Testing
@testable import Kernel

/// What the checker found, round by round.
@EmuActor private final class PropertyLog {
    var rounds = 0
    var queries = 0
    var cleanedPTEs = 0
    var failures: [String] = []
}

@Suite("i_mmap through the mm")
struct IMmapThroughMMTests {
    static let devicePages = 64
    static let rounds = 8
    static let opsPerRound = 5

    /// One random step of process `t` on its own address space: map (shared or private), unmap or mprotect part of
    /// a file VMA (splitting it), or store to a shared writable page.
    @EmuActor
    static func randomStep(_ t: UserTask, fd: Int, rng: inout SplitMix64) throws {
        let fileVMAs = t.mm.vmas.filter { $0.file != nil }
        switch rng.below(fileVMAs.count < 3 ? 2 : 6) {
        case 0, 1:
            guard fileVMAs.count < 12 else { return }
            let pages = 1 + rng.below(8)
            let pgoff = rng.below(devicePages - 8)
            _ = try t.mmap(length: pages * PAGE_SIZE, prot: .readWrite,
                                 flags: rng.below(3) == 0 ? .private : .shared,
                                 fd: fd, offset: pgoff * PAGE_SIZE)
        case 2:
            let v = fileVMAs[rng.below(fileVMAs.count)]
            let first = rng.below(v.pageCount)
            let count = 1 + rng.below(v.pageCount - first)
            try t.munmap(v.start + first * PAGE_SIZE, length: count * PAGE_SIZE)
        case 3:
            let v = fileVMAs[rng.below(fileVMAs.count)]
            let first = rng.below(v.pageCount)
            let count = 1 + rng.below(v.pageCount - first)
            try t.mprotect(v.start + first * PAGE_SIZE, length: count * PAGE_SIZE,
                                 prot: rng.below(2) == 0 ? .read : .readWrite)
        default:
            let writable = fileVMAs.filter { $0.flags.contains(.shared) && $0.flags.contains(.write) }
            guard !writable.isEmpty else { return }
            let v = writable[rng.below(writable.count)]
            try t.store32(v.start + rng.below(v.pageCount) * PAGE_SIZE, UInt32(t.pid))
        }
    }

    /// Compares the tree with a naive scan, and mapping_wrprotect_range with a naive count, on random queries.
    @EmuActor
    fileprivate static func check(_ f: RmapFixture, _ rng: inout SplitMix64, _ log: PropertyLog) {
        let k = f.k
        let tree = f.mapping.iMmap
        let all = f.fileVMAs()
        log.rounds += 1
        if let bad = tree.checkInvariants() { log.failures.append("invariant: \(bad)") }
        if tree.count != all.count { log.failures.append("tree holds \(tree.count) VMAs, processes \(all.count)") }
        for v in all {
            guard let h = v.iMmapHandle, tree.contains(h), tree.element(h) === v else {
                log.failures.append("\(v) is not linked in i_mmap")
                continue
            }
            let iv = tree.interval(h)
            if iv.first != v.pgoff.rawValue || iv.last != v.lastPgoff.rawValue {
                log.failures.append("\(v) is keyed [\(iv.first), \(iv.last)]")
            }
        }
        for _ in 0 ..< 6 {
            let first = rng.below(devicePages + 4) - 2
            let last = first + rng.below(rng.below(4) == 0 ? devicePages : 6)
            log.queries += 1
            let got = f.mapping.vmas(overlapping: PgOff(first), PgOff(last))
            let want = all.filter { $0.pgoff.rawValue <= last && $0.lastPgoff.rawValue >= first }
            if got.map(\.id).sorted() != want.map(\.id).sorted() {
                log.failures.append("[\(first), \(last)]: tree \(got.map(\.id)), scan \(want.map(\.id).sorted())")
            }
            if zip(got, got.dropFirst()).contains(where: { $0.pgoff > $1.pgoff }) {
                log.failures.append("[\(first), \(last)]: not in vm_pgoff order")
            }
            // The full write-protect against a naive count, where the range is inside the device.
            guard first >= 0 && last < devicePages else { continue }
            let expected = f.filePTEs().filter { pte in
                (first ... last).contains(pte.pgoff) && (pte.pte.isWrite || pte.pte.isDirty)
                    && all.first(where: { $0.id == pte.vma })!.flags.contains(.shared)
            }.count
            let visits = k.stats.rmapWalkVMAs
            let cleaned = k.mappingWrprotectRange(f.mapping, pgoff: PgOff(first), pfn: f.pfns[first],
                                                        nrPages: last - first + 1)
            if cleaned != expected {
                log.failures.append("[\(first), \(last)]: cleaned \(cleaned), expected \(expected)")
            }
            let visited = k.stats.rmapWalkVMAs - visits
            if visited != want.count {
                log.failures.append("[\(first), \(last)]: visited \(visited), overlapping \(want.count)")
            }
            log.cleanedPTEs += cleaned
        }
    }

    @Test("random mmap/munmap/mprotect/fork: i_mmap agrees with a naive scan; mapping_wrprotect_range with a count",
          arguments: [UInt64(1), 2, 3, 4, 5, 6])
    @EmuActor func iMmapAgreesWithANaiveScan(seed: UInt64) {
        let f = RmapFixture(pages: Self.devicePages, policy: .random(seed: seed), ramPages: 2048)
        let k = f.k
        let log = PropertyLog()
        // The root, two children and a grandchild run rounds of random steps; a checker meets them after each round.
        let barrier = RmapBarrier(k, parties: 5)
        var checkRng = SplitMix64(seed: SplitMix64.derive(seed, "imap-check"))
        @EmuActor func run(_ t: UserTask, _ fd: Int) throws {
            var rng = SplitMix64(seed: SplitMix64.derive(seed, "imap-steps", t.pid))
            for _ in 0 ..< Self.rounds {
                for _ in 0 ..< Self.opsPerRound { try Self.randomStep(t, fd: fd, rng: &rng) }
                barrier.arrive()
            }
        }
        k.spawnProcess("root") { t in
            let fd = try t.open(f.inode)
            var rng = SplitMix64(seed: SplitMix64.derive(seed, "imap-setup"))
            for _ in 0 ..< 3 { try Self.randomStep(t, fd: fd, rng: &rng) }
            try t.fork("child1") { c in
                try c.fork("grandchild") { g in try run(g, fd) }
                try run(c, fd)
            }
            try t.fork("child2") { c in try run(c, fd) }
            try run(t, fd)
        }
        k.spawnProcess("checker") { _ in
            for _ in 0 ..< Self.rounds {
                barrier.arrive { Self.check(f, &checkRng, log) }
            }
        }
        #expect(k.sched.run() == .completed)
        #expect(k.processes.allSatisfy { $0.exitStatus == .exited }, "\(k.processes.map(\.exitStatus))")
        #expect(log.rounds == Self.rounds)
        #expect(log.queries == Self.rounds * 6)
        #expect(log.failures == [])
        #expect(log.cleanedPTEs > 0)
        #expect(f.mapping.iMmap.isEmpty)
    }
}
