// SPDX-License-Identifier: MIT — the boxes the tests share results through.
import Kernel
import Synchronization

/// Results shared between a test and the tasks of its machine, all on the emulator's actor.
@EmuActor package final class Box<T> {
    package var value: T
    package init(_ value: T) { self.value = value }
}

/// A value written on one thread and read on another (a child process's output, a window's callbacks).
package final class LockedBox<T: Sendable>: Sendable {
    private let value: Mutex<T>
    package init(_ v: T) { value = Mutex(v) }
    package var get: T { value.withLock { $0 } }
    package func set(_ v: T) { value.withLock { $0 = v } }
    package func update(_ body: (inout T) -> Void) { value.withLock { body(&$0) } }
}
