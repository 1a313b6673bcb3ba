// SPDX-License-Identifier: MIT — row 6: one `mappingWrprotectRange` call per page, per PTE it cleans, against the
// host's mprotect(PROT_READ) of one page.
import BenchDevice
import HostMM
import Kernel

enum WrprotectRow {
    /// Processes mapping the page: the replay row's 16 (each `mapping_wrprotect_range` call of the fb_defio worker
    /// then cleans 16 PTEs).
    static let mappers = 16
    static let devicePages = 16
    static let trackedPgoff = 8
    /// Calls per round (each after every mapper re-dirtied the page, which is not timed).
    static let callsPerRound = 200

    /// The machine of WrprotectBench, smaller: a vmalloc'd device file whose ->page_mkwrite locks the page (as
    /// fb_defio's does), `mappers` processes that map it MAP_SHARED and store to the tracked page. The benchmark
    /// drives their stores and the call itself from outside any scheduler run (nothing is contended).
    @EmuActor static func emulator(rounds: Int) throws -> Best {
        let k = EmuKernel(policy: .roundRobin(), ramPages: 4 * mappers + 2 * devicePages + 1024)
        guard let (inode, pfns) = makeBenchDevice(k, pages: devicePages) else { throw BenchFailure("vmalloc failed") }
        var tasks: [(UserTask, VirtAddr)] = []
        for i in 0 ..< mappers {
            guard let t = k.spawnProcess("mapper\(i)", { _ in }) else { throw BenchFailure("no RAM for a process") }
            let fd = try t.open(inode)
            let a = try t.mmap(length: PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd,
                                     offset: trackedPgoff * PAGE_SIZE)
            tasks.append((t, a))
        }
        var best = Best()
        var generation: UInt32 = 0
        for _ in 0 ..< rounds {
            for _ in 0 ..< callsPerRound {
                generation &+= 1
                for (t, a) in tasks { try t.store32(a, generation) }  // RW + dirty again (not timed)
                let start = nowNanoseconds()
                let cleaned = k.mappingWrprotectRange(inode.mapping, pgoff: PgOff(trackedPgoff),
                                                            pfn: pfns[trackedPgoff], nrPages: 1)
                let elapsed = nowNanoseconds() - start
                guard cleaned == mappers else { throw BenchFailure("cleaned \(cleaned) PTEs, expected \(mappers)") }
                best.add(Double(elapsed) / Double(mappers))
            }
        }
        return best
    }

    static let hostPages = 2048

    static func host(rounds: Int) throws -> Best {
        var ns = 0.0
        guard hostmm_mprotect_per_page(Int32(hostPages), Int32(rounds), &ns) == 0 else {
            throw BenchFailure("hostmm_mprotect_per_page failed (errno \(errnoValue()))")
        }
        var best = Best()
        best.add(ns)
        return best
    }
}
