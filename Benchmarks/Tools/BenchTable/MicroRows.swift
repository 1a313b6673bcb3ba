// SPDX-License-Identifier: MIT — rows 3–5: the emulated CPU's store paths and one write-protect fault round trip,
// measured inside a process of a 1080p32 fb_defio framebuffer machine, against the host doing the same natively.
import HostMM
import Kernel
import Lab

/// The three per-access measurements of one emulator machine.
struct MicroResults: Sendable {
    /// ns per `store32` on a TLB hit.
    var store32 = Best()
    /// ns per row of `storeBytes` (7,680 bytes, 1920 pixels of 32 bpp).
    var span = Best()
    /// ns per write-protect fault round trip.
    var fault = Best()
}

enum MicroRows {
    static let width = 1920, height = 1080
    static let rowBytes = width * 4
    /// store32: a 64 KiB region (16 pages; the soft TLB has 64 slots, so every page stays cached), stored 64 times.
    static let storePages = 16
    static let storeReps = 64
    static var storeWords: Int { storePages * PAGE_SIZE / 4 }
    /// Span: 32 rows (240 KiB, 60 pages, all in the TLB), 64 times.
    static let spanRows = 32
    static let spanReps = 64

    /// One machine: a 1920x1080 32 bpp fb_defio framebuffer (the replay's configuration: round robin, every
    /// emulated operation free in virtual time, so no timer fires in a timed loop), and one process that maps all of
    /// it MAP_SHARED and measures, `rounds` rounds of each.
    @EmuActor static func emulator(rounds: Int) throws -> MicroResults {
        var options = MachineOptions()
        options.policy = .rr
        options.quantumMicros = 1000
        options.hz = 1000
        var config = MachineConfig(options)
        config.costs = .zero
        let fbPages = pageAlign(width * height * 4) >> PAGE_SHIFT
        let kernel = config.makeKernel(ramPages: fbPages + 4096)
        // The online checkers watch every event of the run, as in every Lab machine (they must outlive the run).
        guard let (info, checkers) = config.makeFramebuffer(kernel, xres: width, yres: height, bitsPerPixel: 32,
                                                           id: "bench")
        else { throw BenchFailure("no RAM for the framebuffer") }
        let defio = FBDeferredIO(delay: kernel.sched.tickRate.msecsToJiffies(50), deferredIO: { _, _ in })
        guard config.setUpDeferredIO(info, defio) else { throw BenchFailure("fb_deferred_io_init failed") }
        var results: MicroResults?
        var failure: String?
        let process = kernel.spawnProcess("bench") { t in
            do {
                results = try measure(t, info: info, kernel: kernel, pages: fbPages, rounds: rounds)
            } catch {
                failure = "\(error)"
            }
        }
        guard process != nil else { throw BenchFailure("no RAM for the process") }
        let outcome = kernel.sched.run()
        checkers.runEnded(outcome)
        if let failure { throw BenchFailure(failure) }
        if let violation = checkers.first { throw BenchFailure("micro machine: \(violation)") }
        guard outcome == .completed, let results else { throw BenchFailure("micro machine: \(outcome)") }
        return results
    }

    @EmuActor private static func measure(_ t: UserTask, info: FBInfo, kernel: EmuKernel, pages: Int,
                                          rounds: Int) throws -> MicroResults {
        var results = MicroResults()
        let fd = try t.open(info.node)
        let base = try t.mmap(length: info.fix.smemLen, prot: .readWrite, flags: .shared, fd: fd, offset: 0)
        // Every page present (first-touch faults), then a flush: every PTE read-only and clean again.
        for p in 0 ..< pages { try t.store32(base + p * PAGE_SIZE, 1) }
        try t.fsync(fd)

        // 5. One store per page, each a write-protect fault: do_wp_page → wp_page_shared → page_mkwrite (the page
        // goes on fb_defio's list) → PTE writable and dirty → the store. The flush after each round re-arms them.
        // (With per-VMA locks, each is two entries into the fault handler: the attempt under the VMA lock returns
        // RETRY before ->page_mkwrite, and the retry under mmap_lock does the work.)
        for r in 0 ..< rounds {
            let before = info.defioStats.mkwrites
            let start = nowNanoseconds()
            for p in 0 ..< pages { try t.store32(base + p * PAGE_SIZE, UInt32(truncatingIfNeeded: r)) }
            let elapsed = nowNanoseconds() - start
            let mkwrites = info.defioStats.mkwrites - before
            guard mkwrites == pages else { throw BenchFailure("fault round: \(mkwrites) page_mkwrite calls, expected \(pages)") }
            results.fault.add(Double(elapsed) / Double(pages))
            try t.fsync(fd)
        }

        // 3. store32 on a TLB hit, as MappedCanvas.plot and narrow fills call it: `va + i * 4`, then `store32`
        // (inlined: the hit is a few instructions here, a miss calls into the kernel).
        for p in 0 ..< storePages { try t.store32(base + p * PAGE_SIZE, 0) }  // fault in, fill the TLB
        for _ in 0 ..< rounds {
            let faultsBefore = kernel.stats.faults
            let start = nowNanoseconds()
            for rep in 0 ..< storeReps {
                let v = UInt32(truncatingIfNeeded: rep) &* 0x9E37_79B9
                for i in 0 ..< storeWords {
                    let va = base + i * 4, value = v &+ UInt32(truncatingIfNeeded: i)
                    try t.store32(va, value)
                }
            }
            let elapsed = nowNanoseconds() - start
            guard kernel.stats.faults == faultsBefore else { throw BenchFailure("store32 loop faulted") }
            results.store32.add(Double(elapsed) / Double(storeReps * storeWords))
        }

        // 4. Span writes, a row at a time (MappedCanvas.blit and wide fills): `storeBytes` of 7,680 bytes.
        let row = UnsafeMutableRawBufferPointer.allocate(byteCount: rowBytes, alignment: 16)
        defer { row.deallocate() }
        for i in 0 ..< rowBytes { row[i] = UInt8(truncatingIfNeeded: i &* 7) }
        let span = UnsafeRawBufferPointer(row)
        for y in 0 ..< spanRows { try t.storeBytes(base + y * rowBytes, span) }  // fault in, fill the TLB
        for _ in 0 ..< rounds {
            let faultsBefore = kernel.stats.faults
            let start = nowNanoseconds()
            for _ in 0 ..< spanReps {
                for y in 0 ..< spanRows { try t.storeBytes(base + y * rowBytes, span) }
            }
            let elapsed = nowNanoseconds() - start
            guard kernel.stats.faults == faultsBefore else { throw BenchFailure("span loop faulted") }
            results.span.add(Double(elapsed) / Double(spanReps * spanRows))
        }
        try t.close(fd)
        return results
    }

    /// The host's side of rows 3–5.
    struct HostResults: Sendable {
        var store32 = Best()
        var memcpyRow = Best()
        var minorFault = Best()
        var sigsegvRoundTrip = Best()
        var minorFaultsCounted = 0
        var sigsegvFaultsCounted = 0
    }

    static let hostFaultPages = 2048

    static func host(rounds: Int) throws -> HostResults {
        var h = HostResults()
        let words = storeWords
        let buffer = UnsafeMutablePointer<UInt32>.allocate(capacity: words)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 0, count: words)
        for r in 0 ..< rounds {
            let ns = hostmm_store32_loop(buffer, words, Int32(storeReps), UInt32(truncatingIfNeeded: r))
            h.store32.add(Double(ns) / Double(storeReps * words))
        }
        let rows = UnsafeMutableRawBufferPointer.allocate(byteCount: spanRows * rowBytes, alignment: 64)
        let source = UnsafeMutableRawBufferPointer.allocate(byteCount: rowBytes, alignment: 16)
        defer {
            rows.deallocate()
            source.deallocate()
        }
        rows.initializeMemory(as: UInt8.self, repeating: 0)
        for i in 0 ..< rowBytes { source[i] = UInt8(truncatingIfNeeded: i &* 7) }
        for _ in 0 ..< rounds {
            let ns = hostmm_copy_rows(rows.baseAddress!.assumingMemoryBound(to: UInt8.self), rowBytes,
                                      source.baseAddress!.assumingMemoryBound(to: UInt8.self), rowBytes,
                                      Int32(spanRows), Int32(spanReps))
            h.memcpyRow.add(Double(ns) / Double(spanReps * spanRows))
        }
        var best = 0.0
        var faults = 0
        guard hostmm_minor_write_fault(Int32(hostFaultPages), Int32(rounds), &best, &faults) == 0 else {
            throw BenchFailure("hostmm_minor_write_fault failed (errno \(errnoValue()))")
        }
        h.minorFault.add(best)
        h.minorFaultsCounted = faults
        guard hostmm_sigsegv_round_trip(Int32(hostFaultPages), Int32(rounds), &best, &faults) == 0 else {
            throw BenchFailure("hostmm_sigsegv_round_trip failed (errno \(errnoValue()))")
        }
        h.sigsegvRoundTrip.add(best)
        h.sigsegvFaultsCounted = faults
        return h
    }
}
