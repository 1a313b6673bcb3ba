// SPDX-License-Identifier: MIT — the boxes the tests share results through.
import Kernel
import Synchronization

/// Results shared between a test and the tasks of its machine, all on the emulator's actor.
@EmuActor public final class Box<T> {
    public var value: T
    public init(_ value: T) { self.value = value }
}

/// A value written on one thread and read on another (a child process's output, a window's callbacks).
public final class LockedBox<T: Sendable>: Sendable {
    private let value: Mutex<T>
    public init(_ v: T) { value = Mutex(v) }
    public var get: T { value.withLock { $0 } }
    public func set(_ v: T) { value.withLock { $0 = v } }
    public func update(_ body: (inout T) -> Void) { value.withLock { body(&$0) } }
}
