import Testing
@testable import Kernel

typealias TestDevice = ScratchDevice

/// Boots a machine with the given policy and a small configuration suited to unit tests.
@EmuActor func testKernel(_ policy: SchedPolicy = .roundRobin(), livelockAttempts: Int = 1000,
                          perVMALocks: Bool = true, ramPages: Int = 1024) -> EmuKernel {
    var config = MMConfig()
    config.livelockAttempts = livelockAttempts
    config.perVMALocks = perVMALocks
    return EmuKernel(policy: policy, ramPages: ramPages, config: config)
}

/// Shared results of the tasks of one test machine.
@EmuActor final class Box<T> {
    var value: T
    init(_ value: T) { self.value = value }
}
