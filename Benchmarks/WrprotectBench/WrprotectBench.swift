// SPDX-License-Identifier: MIT — the cost of one mapping_wrprotect_range() call as the number of processes mapping
// the page grows, while the file also has thousands of VMAs that do not overlap the page.
//
// Run: cd Benchmarks && swift package --disable-sandbox benchmark
import BenchDevice
import Benchmark
import HostMM
import Kernel

/// One machine for one benchmark size: a 128-page vmalloc'd device file, `mappers` processes that each map its
/// page 64 shared and have written it (RW+dirty PTE), and `others` processes that each map one other page (4096 in
/// the measured sizes; 0 in a control run that shows they cost nothing).
///
/// The processes are real `UserTask`s, but the benchmark drives their system calls and stores itself, from outside
/// any scheduler run (everything is uncontended, so no run is needed); their scheduler tasks are never started.
@EmuActor final class WrprotectMachine {
    static let devicePages = 128
    static let trackedPgoff = 64
    /// VMAs of the file that never overlap the tracked page, in the measured sizes.
    nonisolated static let others = 4096
    /// Machines by "mappers/others" (looked up, never iterated).
    private static var machines: [String: WrprotectMachine] = [:]

    let k: EmuKernel
    let inode: Inode
    let trackedPFN: PFN
    private var mappers: [(task: UserTask, address: VirtAddr)] = []
    private var generation: UInt32 = 0

    private init(processes: Int) {
        // Each process holds four page-table pages once it has touched its mapping.
        k = EmuKernel(policy: .roundRobin(), ramPages: 4 * processes + 2 * Self.devicePages + 1024)
        let device = makeBenchDevice(k, pages: Self.devicePages)!  // fb_defio-style ->fault and ->page_mkwrite
        trackedPFN = device.pfns[Self.trackedPgoff]
        inode = device.inode
    }

    /// Builds (once) the machine for `mappers` processes mapping the tracked page and `others` that do not.
    static func prepare(mappers: Int, others: Int) async throws {
        if machines["\(mappers)/\(others)"] != nil { return }
        let m = WrprotectMachine(processes: mappers + others)
        for i in 0 ..< others {
            // Single pages everywhere but the tracked one.
            var pgoff = i % (devicePages - 1)
            if pgoff >= trackedPgoff { pgoff += 1 }
            let (t, a) = try await m.mapOnePage(name: "other\(i)", pgoff: pgoff)
            try await t.store32(a, 1)
        }
        for i in 0 ..< mappers {
            let (t, a) = try await m.mapOnePage(name: "mapper\(i)", pgoff: trackedPgoff)
            try await t.store32(a, 1)
            m.mappers.append((t, a))
        }
        machines["\(mappers)/\(others)"] = m
    }

    static func machine(mappers: Int, others: Int) -> WrprotectMachine { machines["\(mappers)/\(others)"]! }

    static func discard(mappers: Int, others: Int) { machines["\(mappers)/\(others)"] = nil }

    private func mapOnePage(name: String, pgoff: Int) async throws -> (UserTask, VirtAddr) {
        let t = k.spawnProcess(name) { _ in }!
        let fd = try await t.open(inode)
        let a = try await t.mmap(length: PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd, offset: pgoff * PAGE_SIZE)
        return (t, a)
    }

    /// Every mapper stores to the tracked page again: a write-protect fault through ->page_mkwrite makes its PTE
    /// RW+dirty once more (and refills its TLB).
    func redirty() async throws {
        generation &+= 1
        for (t, a) in mappers { try await t.store32(a, generation) }
    }

    struct Sample {
        var wallNanoseconds: Int
        var virtualNanoseconds: Int
        var cleaned: Int
        var visited: Int
    }

    /// One mapping_wrprotect_range() call on the tracked page, timed on the emulator thread.
    func wrprotectOnce() async -> Sample {
        let visits = k.stats.rmapWalkVMAs
        let virtualStart = k.now
        let start = ContinuousClock.now
        let cleaned = await k.mappingWrprotectRange(inode.mapping, pgoff: PgOff(Self.trackedPgoff), pfn: trackedPFN,
                                                    nrPages: 1)
        let wall = ContinuousClock.now - start
        let ns = Int(wall.components.seconds) * 1_000_000_000 + Int(wall.components.attoseconds / 1_000_000_000)
        return Sample(wallNanoseconds: ns, virtualNanoseconds: Int((k.now - virtualStart).nanoseconds),
                      cleaned: cleaned, visited: k.stats.rmapWalkVMAs - visits)
    }
}

let benchmarks: @Sendable () -> Void = {
    let callWall = BenchmarkMetric.custom("call wall ns (emulator thread)")
    let callVirtual = BenchmarkMetric.custom("call virtual ns")
    let cleaned = BenchmarkMetric.custom("PTEs cleaned", useScalingFactor: false)
    let visited = BenchmarkMetric.custom("VMAs visited", useScalingFactor: false)
    let perPTE = BenchmarkMetric.custom("wall ns per PTE (emulator thread)")
    // The four sizes, each beside 4096 VMAs that do not overlap the page, then a control without them.
    let others = WrprotectMachine.others
    for (mappers, others) in [(1, others), (16, others), (256, others), (4096, others), (1, 0)] {
        Benchmark(
            "mappingWrprotectRange/\(mappers) mappers + \(others) others",
            configuration: .init(
                metrics: [.wallClock, callWall, perPTE, callVirtual, cleaned, visited],
                timeUnits: .nanoseconds,
                units: [callWall: .count, perPTE: .count, callVirtual: .count, cleaned: .count, visited: .count],
                warmupIterations: 3,
                maxDuration: .seconds(3),
                maxIterations: mappers >= 4096 ? 60 : 300),
            closure: { benchmark in
                let machine = await WrprotectMachine.machine(mappers: mappers, others: others)
                do {
                    try await machine.redirty()
                } catch {
                    benchmark.error("re-dirtying failed: \(error)")
                    return
                }
                benchmark.startMeasurement()
                let sample = await machine.wrprotectOnce()
                benchmark.stopMeasurement()
                if sample.cleaned != mappers || sample.visited != mappers {
                    benchmark.error("cleaned \(sample.cleaned) and visited \(sample.visited), expected \(mappers)")
                }
                benchmark.measurement(callWall, sample.wallNanoseconds)
                benchmark.measurement(perPTE, sample.wallNanoseconds / max(1, sample.cleaned))
                benchmark.measurement(callVirtual, sample.virtualNanoseconds)
                benchmark.measurement(cleaned, sample.cleaned)
                benchmark.measurement(visited, sample.visited)
            },
            setup: { try await WrprotectMachine.prepare(mappers: mappers, others: others) },
            teardown: { await WrprotectMachine.discard(mappers: mappers, others: others) })
    }
    // The host's baseline (the benchmark table's row 6): mprotect(PROT_READ) of one page at a time over 256
    // present, writable, dirty pages of a MAP_SHARED memfd mapping (HostMM.h); one PTE per call.
    let hostPerPage = BenchmarkMetric.custom("host mprotect ns per page")
    Benchmark(
        "host mprotect(PROT_READ), one page per call (baseline)",
        configuration: .init(metrics: [hostPerPage], units: [hostPerPage: .count], warmupIterations: 3,
                             maxDuration: .seconds(3), maxIterations: 300),
        closure: { benchmark in
            var ns = 0.0
            guard hostmm_mprotect_per_page(256, 1, &ns) == 0 else {
                benchmark.error("hostmm_mprotect_per_page failed")
                return
            }
            benchmark.measurement(hostPerPage, Int(ns.rounded()))
        })
}
