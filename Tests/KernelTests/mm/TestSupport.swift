import Testing
@testable import Kernel

typealias TestDevice = ScratchDevice

/// Boots a machine with the given policy and a small configuration suited to unit tests.
@EmuActor func testKernel(_ policy: SchedPolicy = .roundRobin(), livelockAttempts: Int = 1000,
                          perVMALocks: Bool = true, ramPages: Int = 1024, cpus: Int = 1,
                          wrprotectFlushesTLB: Bool = true) -> EmuKernel {
    var config = MMConfig()
    config.livelockAttempts = livelockAttempts
    config.perVMALocks = perVMALocks
    config.wrprotectFlushesTLB = wrprotectFlushesTLB
    return EmuKernel(policy: policy, cpus: cpus, ramPages: ramPages, config: config)
}
