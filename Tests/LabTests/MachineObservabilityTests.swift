import Foundation
import Kernel
@testable import Lab
import Testing

/// The demo machine's --stats / --trace / --events data.
@Suite struct MachineObservabilityTests {
    @Test @EmuActor func latencyCountsEveryDeliveredPageAndTheTraceHasTheTracks() throws {
        var o = DemoOptions()
        o.workload = "sprites"
        o.procs = 2
        o.frames = 6
        o.keepEvents = true
        o.keepTrace = true
        let r = try Machine(o).run()
        #expect(r.checkerPassed, "\(r.checkerReport)")
        let c = Dictionary(uniqueKeysWithValues: r.stats.counters)
        // Every writer fsyncs at the end, so every first write of a batch reached the panel.
        #expect(r.stats.latency.count == c["pages_delivered"])
        #expect(r.stats.latency.undelivered == 0)
        #expect(r.stats.latency.maximum > 0)
        #expect(r.mkwritesPerPage.reduce(0, +) == c["page_mkwrite"])
        let json = try #require(r.trace)
        let t = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let events = try #require(t["traceEvents"] as? [[String: Any]])
        let threads = Set(events.filter { $0["name"] as? String == "thread_name" }
            .compactMap { ($0["args"] as? [String: Any])?["name"] as? String })
        #expect(threads.isSuperset(of: ["draw0", "draw1", "panel bus", "timer wheel"]), "\(threads)")
        #expect(threads.contains { $0.hasPrefix("worker (kworker/") }, "\(threads)")
        let slices = Set(events.filter { $0["ph"] as? String == "X" }.compactMap { $0["name"] as? String })
        #expect(slices.isSuperset(of: ["fault", "page_mkwrite", "write-protect pass", "deferred_io", "bus transfer"]))
        for line in r.events.prefix(500) { _ = try JSONSerialization.jsonObject(with: Data(line.utf8)) }
        #expect(r.summary.contains("latency store→panel: \(r.stats.latency.count) stores"))
    }
}
