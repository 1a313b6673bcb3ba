import Testing
@testable import Kernel

/// The event fingerprint (`EventLog.hash`).
@Suite struct EventLogTests {
    /// The name table is indexed by a kind's tag: that tag must be the kind's position among the cases, and every
    /// name hashes apart.
    @Test func everyKindFindsItsOwnName() {
        for (i, kind) in KernelEvent.Kind.allCases.enumerated() {
            #expect(Int(unsafeBitCast(kind, to: UInt8.self)) == i)
            var f = FNV1a()
            f.mix(bytes: kind.rawValue.utf8)
            #expect(kind.nameHash == f.value, "\(kind)")
        }
        #expect(Set(KernelEvent.Kind.allCases.map(\.nameHash)).count == KernelEvent.Kind.allCases.count)
    }

    /// Events that differ in any one field, or only in their order, give different hashes; the same events give the
    /// same hash.
    @Test @EmuActor func eachFieldAndTheOrderCount() {
        func hash(_ events: [KernelEvent]) -> UInt64 {
            let log = EventLog()
            for e in events { log.record(e) }
            return log.hash
        }
        let base = KernelEvent(time: .ns(5), task: 1, cpu: 0, payload: .fault(address: VirtAddr(0x1000), write: true))
        let variants = [
            KernelEvent(time: .ns(6), task: 1, cpu: 0, payload: .fault(address: VirtAddr(0x1000), write: true)),
            KernelEvent(time: .ns(5), task: 2, cpu: 0, payload: .fault(address: VirtAddr(0x1000), write: true)),
            KernelEvent(time: .ns(5), task: 1, cpu: 1, payload: .fault(address: VirtAddr(0x1000), write: true)),
            KernelEvent(time: .ns(5), task: 1, cpu: 0, payload: .fault(address: VirtAddr(0x2000), write: true)),
            KernelEvent(time: .ns(5), task: 1, cpu: 0, payload: .fault(address: VirtAddr(0x1000), write: false)),
            KernelEvent(time: .ns(5), task: 1, cpu: 0, payload: .munmap(start: VirtAddr(0x1000), length: 1)),
        ]
        let hashes = [hash([base])] + variants.map { hash([$0]) }
        #expect(Set(hashes).count == hashes.count)
        #expect(hash([base, variants[0]]) != hash([variants[0], base]))
        #expect(hash([base, variants[3]]) == hash([base, variants[3]]))
    }

    /// A subscriber is told the events of its kinds and no others, after the subscribers before it; the log keeps
    /// a subscriber object alive; one subscribed during an event is told the events after it.
    @Test @EmuActor func subscribersAreToldTheirKindsInOrder() {
        final class Recorder: KernelEventSubscriber {
            let name: String
            let trail: Box
            init(_ name: String, _ trail: Box) {
                self.name = name
                self.trail = trail
            }
            override func kernelEvent(_ e: KernelEvent) { trail.items.append("\(name):\(e.kind.rawValue)") }
        }
        final class Box { var items: [String] = [] }
        let log = EventLog()
        let trail = Box()
        log.subscribe(Recorder("faults", trail), KernelEvent.KindSet([.fault, .faultResult]))
        log.subscribe(KernelEvent.KindSet(.mkwrite)) { e in trail.items.append("closure:\(e.kind.rawValue)") }
        var late = false
        log.subscribe { e in
            trail.items.append("all:\(e.kind.rawValue)")
            if !late {
                late = true
                log.subscribe(Recorder("late", trail))
            }
        }
        func event(_ payload: KernelEvent.Payload) -> KernelEvent { KernelEvent(time: .ns(1), task: 0, payload: payload) }
        log.record(event(.fault(address: VirtAddr(0x1000), write: true)))
        log.record(event(.mkwrite(pgoff: PgOff(0), result: .locked)))
        log.record(event(.retry(address: VirtAddr(0x1000), result: .retry, lock: .vmaLock)))
        #expect(trail.items == [
            "faults:fault", "all:fault",
            "closure:page-mkwrite", "all:page-mkwrite", "late:page-mkwrite",
            "all:retry", "late:retry",
        ])
        #expect(log.count == 3)
    }
}
