// SPDX-License-Identifier: MIT — the emulated machine's one CPU thread (no kernel analogue: this is the "host").
import DequeModule
import Foundation
import Synchronization

/// The one thread every piece of emulator code runs on: a serial executor on a dedicated pthread, FIFO for the jobs
/// of each origin (its own thread, or any other).
///
/// A machine runs inside one job here: `Scheduler.run` is an ordinary call, and every fake process and workqueue
/// worker is an emulated task on a stack of its own that the scheduler switches to at its preemption points, so
/// which task runs is decided by the seeded policy, never by this executor. The jobs are those of the Swift tasks
/// around the machines (a command's body, a test).
///
/// - Note: Determinism rests on one invariant (research/scheduler.md §3.2, pitfall 6): after a machine has
///   booted, every job enqueued here comes from this thread. `foreignEnqueues` counts the ones that did not;
///   tests assert it stays flat across a run.
package final class EmuExecutor: SerialExecutor, TaskExecutor, @unchecked Sendable {
    package static let shared = EmuExecutor(name: "fbdefio-emu CPU")

    private let condition = NSCondition()
    private var queue = Deque<UnownedJob>()  // Protected by `condition`.
    /// Jobs enqueued by the emulator thread itself: only that thread touches it, so they need neither the lock nor
    /// a wake-up.
    private var local = Deque<UnownedJob>()
    private let foreignPending = Atomic<Int>(0)
    private var thread: pthread_t?
    private let started = Atomic<Bool>(false)
    private let threadID = Atomic<UInt>(0)
    private let foreignEnqueueCount = Atomic<Int>(0)
    private let name: String

    init(name: String) {
        self.name = name
    }

    /// Jobs enqueued from a thread other than the emulator thread.
    package var foreignEnqueues: Int { foreignEnqueueCount.load(ordering: .relaxed) }

    /// True when the caller runs on the emulator thread.
    package var isCurrentThread: Bool {
        started.load(ordering: .acquiring) && threadID.load(ordering: .relaxed) == UInt(pthread_self())
    }

    package func enqueue(_ job: consuming ExecutorJob) {
        startIfNeeded()
        let unownedJob = UnownedJob(job)
        if isCurrentThread {
            local.append(unownedJob)
            return
        }
        foreignEnqueueCount.wrappingAdd(1, ordering: .relaxed)
        condition.lock()
        queue.append(unownedJob)
        foreignPending.wrappingAdd(1, ordering: .releasing)
        condition.signal()
        condition.unlock()
    }

    package func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    package func checkIsolated() {
        precondition(isCurrentThread, "emulator code ran off the emulator thread")
    }

    private func startIfNeeded() {
        if started.load(ordering: .acquiring) { return }
        condition.lock()
        defer { condition.unlock() }
        if started.load(ordering: .relaxed) { return }
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        // Emulated tasks run on stacks of their own (TaskStack); this one holds the code around a run (setting a
        // machine up, the checks after it), which can recurse too (page-table walks, interval-tree queries).
        pthread_attr_setstacksize(&attributes, 8 << 20)
        let box = Unmanaged.passRetained(self)
        var handle = pthread_t()
        let rc = pthread_create(&handle, &attributes, { raw in
            let executor = Unmanaged<EmuExecutor>.fromOpaque(raw!).takeRetainedValue()
            executor.runLoop()
            return nil
        }, box.toOpaque())
        pthread_attr_destroy(&attributes)
        precondition(rc == 0, "pthread_create failed for the emulator thread: \(rc)")
        thread = handle
        threadID.store(UInt(handle), ordering: .relaxed)
        started.store(true, ordering: .releasing)
    }

    private func runLoop() {
        // The creating thread publishes `threadID` under the condition's lock; wait for it before running jobs.
        condition.lock()
        condition.unlock()
        let serial = asUnownedSerialExecutor()
        while true {
            // A job from another thread (the window's main thread, a caller starting a run) goes first, so a long
            // run cannot starve it; otherwise the thread's own jobs run without touching the lock.
            if foreignPending.load(ordering: .acquiring) == 0, let job = local.popFirst() {
                job.runSynchronously(on: serial)
                continue
            }
            condition.lock()
            while queue.isEmpty && local.isEmpty { condition.wait() }
            let job = queue.popFirst()
            if job != nil { foreignPending.wrappingSubtract(1, ordering: .relaxed) }
            condition.unlock()
            job?.runSynchronously(on: serial)
        }
    }
}

/// The global actor of the emulated machine: everything isolated to it runs on `EmuExecutor.shared`.
@globalActor public actor EmuActor {
    public static let shared = EmuActor()
    public nonisolated var unownedExecutor: UnownedSerialExecutor {
        EmuExecutor.shared.asUnownedSerialExecutor()
    }
}
