// SPDX-License-Identifier: MIT — store-to-panel latency as an HdrHistogram, and the statistics JSON of a run.
import Histogram
import Kernel

/// The latency from a store to its appearance on the panel, in virtual nanoseconds, as an HdrHistogram
/// (3 significant digits, up to one hour). Stores that never reached the panel are counted apart.
package struct LatencyHistogram: Sendable {
    package private(set) var histogram = Histogram<UInt64>(
        lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: .three)
    /// Stores still waiting for the panel when the run ended.
    package var undelivered = 0

    package init() {}

    package mutating func record(_ latency: VirtualTime) {
        histogram.record(UInt64(max(0, min(latency.nanoseconds, 3_600_000_000_000))))
    }

    package var count: Int { Int(histogram.totalCount) }
    package func percentile(_ p: Double) -> Int64 { count == 0 ? 0 : Int64(histogram.valueAtPercentile(p)) }
    package var maximum: Int64 { count == 0 ? 0 : Int64(histogram.max) }

    /// "p50=… p90=… p99=… max=…" in virtual time.
    package var summary: String {
        func t(_ ns: Int64) -> String { VirtualTime.ns(ns).description }
        return "latency store→panel: \(count) stores, p50 \(t(percentile(50))) p90 \(t(percentile(90))) "
            + "p99 \(t(percentile(99))) max \(t(maximum)); \(undelivered) not delivered"
    }

    /// The JSON object of `--stats`.
    package var json: String {
        "{\"unit\":\"ns\",\"count\":\(count),\"p50\":\(percentile(50)),\"p90\":\(percentile(90)),"
            + "\"p99\":\(percentile(99)),\"max\":\(maximum),\"undelivered\":\(undelivered)}"
    }
}

/// The counters of a run in a fixed order: faults by path, mkwrites, pages and batches, write-protected PTEs, TLB
/// flushes and misses, bytes sent vs changed, write amplification.
package struct RunStats: Sendable {
    package var counters: [(String, Int)] = []
    package var bytesSent = 0
    package var bytesChanged = 0
    package var latency = LatencyHistogram()
    /// The `--variant` the machine ran.
    package var variant = "upstream"
    /// The first violation an online checker found, if any.
    package var violation: String?

    package init() {}

    @EmuActor package init(kernel k: EmuKernel, info: FBInfo, bytesSent: Int, bytesChanged: Int,
                          latency: LatencyHistogram, variant: String = "upstream") {
        self.variant = variant
        let s = k.stats, d = info.defioStats
        counters = [
            ("faults", s.faults), ("fault_attempts", s.faultAttempts), ("read_faults", s.readFaults),
            ("shared_faults", s.sharedFaults), ("wp_faults", s.wpFaults), ("wp_page_shared", s.wpPageShared),
            ("spurious_faults", s.spuriousFaults), ("vma_lock_retries", s.vmaLockRetries),
            ("vma_lock_aborts", s.vmaLockAborts),
            ("sigbus", s.sigbus), ("sigsegv", s.sigsegv),
            ("page_mkwrite", d.mkwrites), ("page_mkwrite_already_listed", d.alreadyListed),
            ("batches", d.batches), ("empty_batches", d.emptyBatches), ("pages_delivered", d.pagesDelivered),
            ("fsyncs", d.fsyncs), ("ptes_wrprotected", d.ptesWrprotected),
            ("tlb_flush_page", s.tlbFlushPage), ("tlb_flush_range", s.tlbFlushRange), ("tlb_flush_all", s.tlbFlushAll),
            ("tlb_misses", s.tlbRefills + s.faultAttempts), ("tlb_refills", s.tlbRefills),
            ("tlb_shootdowns", s.tlbShootdowns), ("tlb_shootdown_ipis", s.tlbShootdownIPIs),
            ("bytes_sent", bytesSent), ("bytes_changed", bytesChanged),
        ]
        if let work = info.deferredWork {
            // When the timer wheel really ran the work, after it was armed (the batch's first fault).
            counters += [("timers_armed", work.armed), ("timers_fired", work.timersFired),
                         ("timer_fire_delay_min_us", Int(work.fireDelayMin.nanoseconds / 1000)),
                         ("timer_fire_delay_max_us", Int(work.fireDelayMax.nanoseconds / 1000))]
        }
        self.bytesSent = bytesSent
        self.bytesChanged = bytesChanged
        self.latency = latency
    }

    /// Bytes sent per byte changed (0 when nothing changed), to three decimals.
    package var writeAmplification: String {
        guard bytesChanged > 0 else { return "0" }
        let milli = (bytesSent * 1000 + bytesChanged / 2) / bytesChanged
        let frac = String(milli % 1000)
        return "\(milli / 1000).\(String(repeating: "0", count: 3 - frac.count))\(frac)"
    }

    /// The `--stats` file: `{"variant":…,"counters":{…},"write_amplification":…,"latency":{…}}` (plus
    /// `"violation"` when a checker fired), keys in a fixed order.
    package var json: String {
        let c = counters.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",")
        let v = violation.map { ",\"violation\":\(jsonString($0))" } ?? ""
        return "{\"variant\":\(jsonString(variant)),\"counters\":{\(c)},\"write_amplification\":\(writeAmplification),"
            + "\"latency\":\(latency.json)\(v)}\n"
    }

    /// The summary lines printed at the end of a run.
    package var summary: String {
        "counters: " + counters.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
            + " write_amplification=\(writeAmplification)\n" + latency.summary
    }
}
