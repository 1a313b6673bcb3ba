// SPDX-License-Identifier: MIT — read-only views of lock state for observers (the step view, the walkthrough):
// what a debugger would read out of a crash dump, never used by the kernel model itself.

extension KLock {
    /// The tasks waiting for the lock, in the order they will get it (FIFO hand-off).
    /// Kernel: mutex->wait_list (kernel/locking/mutex.c)
    package var waiterIDs: [Int] { Array(waiters) }
}

extension PhysicalMemory {
    /// The task that took the page lock of `pfn` (-1: taken outside a task), or nil when the page is not locked.
    /// The kernel does not record this; hung-task reports and the step view name the holder for the reader.
    /// Kernel: PG_locked (folio_lock() in mm/filemap.c)
    package func pageLockHolder(of pfn: PFN) -> Int? {
        guard isLocked(pfn) else { return nil }
        let h = pageLockHolder[pfn.rawValue]
        return h == Self.noHolder ? -1 : h
    }
}
