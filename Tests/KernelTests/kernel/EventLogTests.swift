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
}
