// SPDX-License-Identifier: MIT — mmap_lock's write side and the per-VMA lock (kernel: include/linux/mmap_lock.h,
// mm/mmap_lock.c, the 2026 kernel).
//
// A fault first tries to hold only its VMA (lock_vma_under_rcu); anything that changes a VMA holds mmap_lock for
// write and write-locks the VMA before touching it. A VMA write lock is not released on its own: it is a stamp, the
// mm's sequence number copied into the VMA, and it lasts until mmap_write_unlock bumps the mm's number, which
// releases every VMA write-locked in that epoch at once. So between a writer's vma_start_write and its
// mmap_write_unlock no fault can hold the VMA:
//
//     writer (mprotect, munmap, split, fork)    | fault on the same VMA
//     mmap_write_lock      (seq 2k → 2k+1)      |
//     vma_start_write(V):  waits for readers,   | lock_vma_under_rcu(V): V's seq == mm's seq → NULL,
//                          V.seq = 2k+1         |   VMA_LOCK_ABORT; mmap_read_lock waits for the writer
//     …change V…                                |
//     mmap_write_unlock    (seq 2k+1 → 2k+2)    |   …gets mmap_lock, sees V only as the writer left it
//
// and a fault that already holds V for read makes the writer wait in vma_start_write until it lets go.
//
// Versions: up to 6.14 the VMA lock was an rw_semaphore (vma->vm_lock) that vma_start_write took for write just
// long enough to stamp vm_lock_seq, and mm_lock_seq was bumped only at the unlock (6.13 made it a seqcount, odd
// while write-locked). Since 6.15 the rw_semaphore is gone: vma->vm_refcnt counts attachment and readers, and a
// writer adds VM_REFCNT_EXCLUDE_READERS_FLAG to it and sleeps on mm->vma_writer_wait until the readers are gone.
// The model is the 6.15+ form; what a fault and a writer can see is the same in both.

/// How an attempt to read-lock a VMA ended. Kernel: the three returns of vma_start_read() (the VMA, NULL, -EAGAIN)
enum VMAReadLock: Equatable {
    case locked
    /// Write-locked in the current epoch, or a writer is excluding readers: fall back to mmap_lock.
    case failed
    /// The VMA was detached after it was looked up: look again.
    case detached
}

@EmuActor extension EmuKernel {
    // MARK: - mmap_lock, write side

    /// Takes mmap_lock for write and opens a write epoch (the mm's sequence number becomes odd).
    /// Kernel: mmap_write_lock() → down_write() + mm_lock_seqcount_begin()
    package func mmapWriteLock(_ mm: MM) {
        mm.mmapLock.downWrite()
        mm.mmLockSeq &+= 1
    }

    /// Ends the write epoch — every VMA write-locked in it is unlocked at once — and releases mmap_lock.
    /// Kernel: mmap_write_unlock() → vma_end_write_all() + up_write()
    package func mmapWriteUnlock(_ mm: MM) {
        vmaEndWriteAll(mm)
        mm.mmapLock.upWrite()
    }

    /// `mmapWriteUnlock` without the preemption point after the release (the model's fork and exit paths have
    /// none there). Kernel: mmap_write_unlock()
    func mmapWriteUnlockNoPreempt(_ mm: MM) {
        vmaEndWriteAll(mm)
        mm.mmapLock.releaseWrite()
    }

    /// Releases every VMA write lock of the current epoch by moving the mm's sequence number on.
    /// Kernel: vma_end_write_all() → mm_lock_seqcount_end() — include/linux/mmap_lock.h
    func vmaEndWriteAll(_ mm: MM) {
        mm.mmapLock.assertWriteHeld()
        mm.mmLockSeq &+= 1
    }

    // MARK: - The per-VMA lock

    /// Tries to hold `vma` for read without waiting. It fails while the VMA is write-locked in the current epoch, or
    /// while a writer has set the exclude-readers flag and waits for the readers already inside.
    /// Kernel: vma_start_read() — mm/mmap_lock.c (the lockless sequence check, then the limited refcount increment;
    /// the kernel's second sequence check after the increment cannot differ here, where both happen at once)
    func vmaStartRead(_ mm: MM, _ vma: VMArea) -> VMAReadLock {
        if vma.vmLockSeq == mm.mmLockSeq { return .failed }
        let old = vma.vmRefcnt
        // __refcount_inc_not_zero_limited_acquire(): fails on 0 (detached) and at the limit (a writer's flag).
        if old == 0 { return .detached }
        if old >= VMArea.refcntLimit { return .failed }
        vma.vmRefcnt = old + 1
        vma.vmLockReaders.append(sched.current)
        return .locked
    }

    /// Drops a read lock; the last reader wakes a writer waiting to exclude readers. Followed by a preemption
    /// point, as every release in the model is. Kernel: vma_end_read() → vma_refcount_put()
    @inline(__always)
    func vmaEndRead(_ vma: VMArea) {
        vmaRefcountPut(vma)
        sched.preempt(.rwsemUp)
    }

    /// Kernel: vma_refcount_put() — include/linux/mmap_lock.h
    func vmaRefcountPut(_ vma: VMArea) {
        guard let i = vma.vmLockReaders.firstIndex(of: sched.current) else {
            preconditionFailure("vma_end_read of vma#\(vma.id) by T\(sched.current), which does not hold it")
        }
        vma.vmLockReaders.remove(at: i)
        vma.vmRefcnt -= 1
        let n = vma.vmRefcnt
        // __vma_are_readers_excluded(): the flag is set and at most the attachment reference is left.
        if n != 0 && n & VMArea.excludeReadersFlag != 0 && n <= VMArea.excludeReadersFlag + 1,
           let writer = vma.mm.vmaWriterWait {
            vma.mm.vmaWriterWait = nil
            sched.wake(writer)  // rcuwait_wake_up(&mm->vma_writer_wait)
        }
    }

    /// Write-locks `vma` until the current write epoch ends: sets the exclude-readers flag, waits until every fault
    /// holding the VMA for read has let go, stamps the VMA with the mm's sequence number and clears the flag. From
    /// then on every `vmaStartRead` of it fails until `mmapWriteUnlock`. Enters and leaves with mmap_lock held for
    /// write. Free for a VMA already stamped in this epoch; a VMA in no tree yet (detached) is stamped without
    /// waiting. Kernel: vma_start_write() → __vma_start_write() → __vma_start_exclude_readers() — mm/mmap_lock.c
    func vmaStartWrite(_ vma: VMArea) {
        let mm = vma.mm
        mm.mmapLock.assertWriteHeld()
        if vma.isWriteLocked { return }
        if vma.vmRefcnt == 0 {
            // refcount_add_not_zero() fails on a detached VMA: nobody can hold it, nothing to wait for.
            vma.vmLockSeq = mm.mmLockSeq
            return
        }
        // The attempt may have to sleep, like the rw_semaphore it replaced: another task can run first.
        sched.preempt(.rwsemDown)
        sched.charge(costs.lock)
        vma.vmRefcnt += VMArea.excludeReadersFlag
        waitForVMAReaders(vma, leaving: VMArea.excludeReadersFlag + 1)
        vma.vmLockSeq = mm.mmLockSeq
        vma.vmRefcnt -= VMArea.excludeReadersFlag  // __vma_end_exclude_readers()
    }

    /// Sleeps until `vma`'s reference count is `target` (the flag plus the attachment, or the flag alone when
    /// detaching). Kernel: rcuwait_wait_event(&mm->vma_writer_wait, …, TASK_UNINTERRUPTIBLE)
    private func waitForVMAReaders(_ vma: VMArea, leaving target: Int) {
        while vma.vmRefcnt != target {
            precondition(vma.mm.vmaWriterWait == nil, "two writers waiting on mm\(vma.mm.id)'s vma_writer_wait")
            vma.mm.vmaWriterWait = sched.current
            let readers = vma.vmLockReaders.map { "T\($0)" }.joined(separator: ",")
            sched.block("vma_start_write of vma#\(vma.id): read-locked by \(readers)")
        }
    }

    /// Takes the attachment reference away from a write-locked VMA; afterwards no reader can get it. A reader
    /// that raised the count just before it saw the write lock is waited out (in the model the check and the
    /// increment are one step, so there is none). Kernel: vma_mark_detached() → __vma_exclude_readers_for_detach()
    func vmaMarkDetached(_ vma: VMArea) {
        precondition(vma.isWriteLocked, "vma_mark_detached of vma#\(vma.id), which is not write-locked")
        precondition(vma.vmRefcnt > 0, "vma_mark_detached of a detached VMA")
        vma.vmRefcnt -= 1
        if vma.vmRefcnt == 0 { return }
        vma.vmRefcnt += VMArea.excludeReadersFlag
        waitForVMAReaders(vma, leaving: VMArea.excludeReadersFlag)
        vma.vmRefcnt -= VMArea.excludeReadersFlag
    }

    /// Finds the VMA of `address` and holds it for read, or returns nil: no VMA there, or it is being changed
    /// (the fault then takes mmap_lock, and waits there for the writer). A VMA detached between lookup and lock
    /// is looked up again. Kernel: lock_vma_under_rcu() — mm/mmap_lock.c
    @inline(__always)
    func lockVMAUnderRCU(_ mm: MM, _ address: VirtAddr) -> VMArea? {
        while true {
            guard let vma = mm.vmaLookup(address) else {
                stats.vmaLockAborts += 1
                return nil
            }
            switch vmaStartRead(mm, vma) {
            case .detached:
                stats.vmaLockMisses += 1
                continue
            case .failed:
                stats.vmaLockAborts += 1
                return nil
            case .locked:
                // The VMA may have shrunk between the lookup and the lock.
                guard vma.contains(address) else {
                    vmaEndRead(vma)
                    stats.vmaLockAborts += 1
                    return nil
                }
                return vma
            }
        }
    }
}
