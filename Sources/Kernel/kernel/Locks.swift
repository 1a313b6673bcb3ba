// SPDX-License-Identifier: MIT — scheduler-aware locks (kernel: kernel/locking/mutex.c, rwsem.c, spinlock.c,
// include/linux/wait.h).
import DequeModule

/// An exclusive lock whose waiters are not runnable: a sleeping mutex or a spinlock.
///
/// Acquiring is a preemption point before the attempt; releasing is one after the release, so another task can get
/// in right at the boundary, as another CPU could. Ownership passes directly to the first waiter (FIFO), which
/// keeps every interleaving deterministic and starvation-free.
///
/// Outside a running scheduler (a unit test driving kernel functions directly) an uncontended lock works and a
/// contended one is a precondition failure, since nobody could ever release it.
///
/// Kernel: `struct mutex` (kernel/locking/mutex.c), `spinlock_t` (the split page-table lock, mm/memory.c).
@EmuActor public final class KLock {
    package enum Kind: Sendable { case mutex, spinlock }
    package let name: String
    package let kind: Kind
    unowned(unsafe) let sched: Scheduler
    /// The holder's task id (-1 when held outside a task, or free).
    package private(set) var owner = -1
    package private(set) var isLocked = false
    private(set) var waiters = Deque<Int>()
    /// Acquisitions that had to wait.
    package private(set) var contentions = 0
    /// When it was last released with nobody waiting (on the releasing CPU's clock).
    private var releasedAt = VirtualTime.zero

    package init(_ name: String, kind: Kind, scheduler: Scheduler) {
        self.name = name
        self.kind = kind
        self.sched = scheduler
    }

    package static func mutex(_ name: String, _ sched: Scheduler) -> KLock { KLock(name, kind: .mutex, scheduler: sched) }
    package static func spin(_ name: String, _ sched: Scheduler) -> KLock { KLock(name, kind: .spinlock, scheduler: sched) }

    /// Kernel: mutex_lock() / spin_lock()
    @inline(__always)
    package func lock() {
        sched.preempt(kind == .mutex ? .mutexLock : .spinLock)
        sched.charge(sched.costs.lock)
        if !isLocked {
            // Free now, but on another CPU it may have been held until a time this CPU has not reached yet.
            sched.waited(until: releasedAt)
            isLocked = true
            owner = sched.current
            return
        }
        let me = sched.current
        precondition(me >= 0, "\(name): contended outside a running task (held by T\(owner))")
        precondition(owner != me, "\(name): recursive acquisition by T\(me)")
        contentions += 1
        waiters.append(me)
        if kind == .mutex {
            sched.block("mutex \(name) held by T\(owner)")
        } else {
            sched.spin("spinlock \(name) held by T\(owner)")
        }
        assert(owner == me && isLocked, "\(name): woken without ownership")
    }

    /// Kernel: mutex_trylock() / spin_trylock(). Not a preemption point.
    package func tryLock() -> Bool {
        guard !isLocked else { return false }
        isLocked = true
        owner = sched.current
        return true
    }

    /// Kernel: mutex_unlock() / spin_unlock()
    @inline(__always)
    package func unlock() {
        release()
        sched.preempt(kind == .mutex ? .mutexUnlock : .spinUnlock)
    }

    /// Releases without a preemption point (for paths that must not switch, such as deadlock unwinding in tests).
    package func release() {
        precondition(isLocked, "\(name): unlock of an unlocked lock")
        precondition(owner == sched.current, "\(name): unlocked by T\(sched.current), owner is T\(owner)")
        if let next = waiters.popFirst() {
            owner = next
            sched.wake(next)
        } else {
            isLocked = false
            owner = -1
            releasedAt = sched.now
        }
    }

    /// lockdep-lite: the running task holds this lock. Kernel: lockdep_assert_held()
    package func assertHeld(file: StaticString = #fileID, line: UInt = #line) {
        precondition(isLocked && owner == sched.current, "\(name) not held by T\(sched.current)", file: file, line: line)
    }
}

/// Kernel name for the sleeping lock. Kernel: `struct mutex`.
package typealias KMutex = KLock

/// A reader-writer semaphore with FIFO fairness: a reader queues behind a waiting writer.
/// Kernel: `struct rw_semaphore` — kernel/locking/rwsem.c (mmap_lock, i_mmap_rwsem, the per-VMA lock).
@EmuActor public final class KRWSemaphore {
    package let name: String
    unowned(unsafe) let sched: Scheduler
    package private(set) var readers: [Int] = []
    package private(set) var writer: Int? = nil
    private var waiters = Deque<(task: Int, write: Bool)>()
    package private(set) var contentions = 0

    package init(_ name: String, scheduler: Scheduler) {
        self.name = name
        self.sched = scheduler
    }

    /// When the write lock and a read lock were last released (the releasing CPU's clock): a CPU behind them that
    /// finds the semaphore free could not have taken it earlier.
    private var writeReleasedAt = VirtualTime.zero, readReleasedAt = VirtualTime.zero

    package var isWriteLocked: Bool { writer != nil }
    package var isLocked: Bool { writer != nil || !readers.isEmpty }

    /// Kernel: down_read()
    @inline(__always)
    package func downRead() {
        sched.preempt(.rwsemDown)
        sched.charge(sched.costs.lock)
        if tryDownRead() { return }
        wait(write: false)
    }

    /// Kernel: down_write()
    @inline(__always)
    package func downWrite() {
        sched.preempt(.rwsemDown)
        sched.charge(sched.costs.lock)
        if tryDownWrite() { return }
        wait(write: true)
    }

    /// Kernel: down_read_trylock(). Not a preemption point.
    package func tryDownRead() -> Bool {
        guard writer == nil, waiters.isEmpty else { return false }
        sched.waited(until: writeReleasedAt)
        readers.append(sched.current)
        return true
    }

    /// Kernel: down_write_trylock(). Not a preemption point.
    package func tryDownWrite() -> Bool {
        guard writer == nil, readers.isEmpty, waiters.isEmpty else { return false }
        sched.waited(until: max(writeReleasedAt, readReleasedAt))
        writer = sched.current
        return true
    }

    private func wait(write: Bool) {
        let me = sched.current
        precondition(me >= 0, "\(name): contended outside a running task")
        contentions += 1
        waiters.append((me, write))
        let holder = writer.map { "writer T\($0)" } ?? "readers \(readers.map { "T\($0)" })"
        sched.block("rwsem \(name) (\(write ? "write" : "read")) held by \(holder)")
    }

    /// Kernel: up_read()
    @inline(__always)
    package func upRead() {
        releaseRead()
        sched.preempt(.rwsemUp)
    }

    /// Kernel: up_write()
    @inline(__always)
    package func upWrite() {
        releaseWrite()
        sched.preempt(.rwsemUp)
    }

    package func releaseRead() {
        guard let i = readers.firstIndex(of: sched.current) else {
            preconditionFailure("\(name): up_read by T\(sched.current), which holds no read lock")
        }
        readers.remove(at: i)
        readReleasedAt = max(readReleasedAt, sched.now)
        grant()
    }

    package func releaseWrite() {
        precondition(writer == sched.current, "\(name): up_write by T\(sched.current), writer is \(String(describing: writer))")
        writer = nil
        writeReleasedAt = sched.now
        grant()
    }

    private func grant() {
        while let w = waiters.first {
            if w.write {
                guard writer == nil, readers.isEmpty else { return }
                waiters.removeFirst()
                writer = w.task
                sched.wake(w.task)
                return
            }
            guard writer == nil else { return }
            waiters.removeFirst()
            readers.append(w.task)
            sched.wake(w.task)
        }
    }

    /// Kernel: lockdep_assert_held() (read or write).
    package func assertHeld(file: StaticString = #fileID, line: UInt = #line) {
        precondition(writer == sched.current || readers.contains(sched.current),
                     "\(name) not held by T\(sched.current)", file: file, line: line)
    }
    /// Kernel: lockdep_assert_held_write()
    package func assertWriteHeld(file: StaticString = #fileID, line: UInt = #line) {
        precondition(writer == sched.current, "\(name) not write-held by T\(sched.current)", file: file, line: line)
    }
}

/// Tasks waiting for an event. Kernel: `wait_queue_head_t` with wait_event()/wake_up().
@EmuActor package final class WaitQueue {
    package let name: String
    unowned(unsafe) let sched: Scheduler
    private var waiters = Deque<Int>()
    /// Waits here are TASK_UNINTERRUPTIBLE (a flush) rather than idle (a worker waiting for work): only those count
    /// for the hung-task detector.
    package let uninterruptible: Bool

    package init(_ name: String, scheduler: Scheduler, uninterruptible: Bool = true) {
        self.name = name
        self.sched = scheduler
        self.uninterruptible = uninterruptible
    }

    /// Blocks until `condition` holds, re-checking after each wake-up. Kernel: wait_event()
    package func wait(until condition: () -> Bool) {
        while !condition() {
            if sched.isShuttingDown { return }
            waiters.append(sched.current)
            sched.block("waitqueue \(name)", uninterruptible: uninterruptible)
        }
    }

    /// Kernel: wake_up_all()
    package func wakeAll() {
        while let w = waiters.popFirst() { sched.wake(w) }
    }

    package var isEmpty: Bool { waiters.isEmpty }
}
