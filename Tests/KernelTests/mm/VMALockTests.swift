import Testing
@testable import Kernel
import TestSupport

/// The per-VMA lock against the writers of a VMA (mprotect, munmap and its split, fork, mmap): a fault that finds the
/// VMA write-locked falls back to mmap_lock and waits there for the whole syscall; a fault that already holds the VMA
/// for read makes the writer wait in vma_start_write. Each race is forced with sleeps and a page-table lock (or
/// i_mmap_rwsem) held by a helper thread H, so it runs the same way under any policy. Shared mappings of a scratch
/// device with an fb_defio-like ->page_mkwrite; "RO PTE" = read first, so a write takes the write-protect path.
@Suite struct VMALockTests {
    /// The machine of each test: a kernel (keeping its event log when asked), a scratch device, and the lines the
    /// tasks record of what they saw.
    @EmuActor func machine(keepEvents: Bool = false) -> (k: EmuKernel, dev: TestDevice, seen: Box<[String]>) {
        let k = testKernel()
        if keepEvents { k.events.keep = true }
        return (k, TestDevice(k), Box<[String]>([]))
    }

    /// A process with one 16-page shared mapping whose page 3 (and 12) has a read-only PTE, and the PTL of its table.
    @EmuActor func mapAndRead(_ t: UserTask, _ dev: TestDevice, pages: Int = 16) throws -> (VirtAddr, KLock) {
        let fd = try t.open(dev.inode)
        let a = try t.mmap(length: pages * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
        _ = try t.load8(a + 3 * PAGE_SIZE)
        if pages > 12 { _ = try t.load8(a + 12 * PAGE_SIZE) }
        let slot = t.mm.pageTables.lookup(a + 3 * PAGE_SIZE)!
        return (a, t.kernel.phys.ptl(slot.table))
    }

    /// A fault holding the VMA for read makes mprotect wait in vma_start_write; the VMA does not change under it.
    ///
    ///     F: write to RO PTE p3            | W: mprotect(PROT_READ)            | H
    ///                                      |                                   | t=0    holds the PTL
    ///     t=.1ms V read-locked, waits PTL  |                                   |
    ///                                      | t=.2ms mmap_write_lock,           |
    ///                                      |   vma_start_write(V) waits for F  |
    ///                                      |                                   | t=.5ms W blocked, V still RW
    ///                                      |                                   | t=1ms  PTL released
    ///     needs ->page_mkwrite: RETRY,     |   wakes: V := READ, unlock        |
    ///     vma_end_read; mmap_read_lock     |                                   |
    ///     → SIGSEGV (SEGV_ACCERR)          |                                   |
    @Test @EmuActor func mprotectWaitsForAFaultHoldingTheVMA() throws {
        let (k, dev, seen) = machine(keepEvents: true)
        let ids = Box<[String: Int]>([:])
        let base = Box<VirtAddr>(VirtAddr(0))
        k.spawnProcess("P") { t in
            let (a, ptl) = try mapAndRead(t, dev)
            base.value = a
            let vma = t.mm.vmaLookup(a)!
            ptl.lock()
            let f = t.clone("F") { f in
                k.sched.sleep(until: .us(100))
                do { try f.store8(a + 3 * PAGE_SIZE, 1) } catch { seen.value.append("F: \(error)") }
            }
            let w = t.clone("W") { w in
                k.sched.sleep(until: .us(200))
                try w.mprotect(a, length: 16 * PAGE_SIZE, prot: .read)
                seen.value.append("W: done")
            }
            ids.value = ["F": f.schedID, "W": w.schedID]
            k.sched.sleep(until: .us(500))
            seen.value.append("W \(k.sched.state(of: w.schedID)), F \(k.sched.state(of: f.schedID))")
            seen.value.append("V writable \(vma.flags.contains(.write)), readers \(vma.vmLockReaders == [f.schedID])")
            #expect(vma.vmRefcnt == VMArea.excludeReadersFlag + 2, "attached + F's read lock + W's flag")
            k.sched.sleep(until: .ms(1))
            ptl.unlock()
            k.sched.sleep(until: .ms(2))
            #expect(t.mm.vmas.allSatisfy { !$0.isWriteLocked && $0.vmRefcnt == 1 }, "the epoch ended")
            #expect(t.mm.pte(at: a + 3 * PAGE_SIZE).state == "RO", "never made writable")
        }
        #expect(k.sched.run() == .completed)
        #expect(Array(seen.value.prefix(2)) == ["W blocked, F blocked", "V writable true, readers true"])
        #expect(Set(seen.value.dropFirst(2))
            == ["W: done", "F: SIGSEGV (SEGV_ACCERR) at \(base.value + 3 * PAGE_SIZE)"])
        #expect(k.stats.vmaLockRetries == 2 + 1, "P's two reads, then F's write")
        #expect(k.stats.vmaLockAborts == 0)
        // F's retry (which released the VMA) comes before the mprotect, its signal after.
        let order = k.events.events.compactMap { e -> String? in
            switch e.payload {
            case .retry where e.task == ids.value["F"]: "F retry"
            case .mprotect: "W mprotect"
            case .signal where e.task == ids.value["F"]: "F signal"
            default: nil
            }
        }
        #expect(order == ["F retry", "W mprotect", "F signal"])
    }

    /// mprotect over two VMAs keeps the first write-locked while it waits for a reader of the second: a fault on the
    /// first finds it write-locked, falls back to mmap_lock (VMA_LOCK_ABORT) and only sees the range once the whole
    /// syscall is done — never the first VMA changed and the second not yet.
    ///
    ///     F1: write to low's RO PTE   | F2: write to high's RO PTE  | W: mprotect(low+high, READ) | H
    ///                                 |                             |                             | holds the PTL
    ///                                 | t=.1ms high read-locked,    |                             |
    ///                                 |   waits for the PTL         |                             |
    ///                                 |                             | t=.2ms low: locked, READ    |
    ///                                 |                             |   high: waits for F2        |
    ///     t=.3ms low write-locked:    |                             |                             |
    ///       ABORT, mmap_read_lock     |                             |                             |
    ///       waits for W               |                             |                             | t=1ms releases
    ///                                 | RETRY, vma_end_read         |   high := READ, unlock      |
    ///     SIGSEGV after W's mprotect  | SIGSEGV                     |                             |
    @Test @EmuActor func aFaultOnAWriteLockedVMAFallsBackAndWaitsForTheWholeSyscall() throws {
        let (k, dev, seen) = machine(keepEvents: true)
        let ids = Box<[String: Int]>([:])
        let lowBase = Box<VirtAddr>(VirtAddr(0))
        k.spawnProcess("P") { t in
            let fd = try t.open(dev.inode)
            let high = try t.mmap(length: 4 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
            let low = try t.mmap(length: 4 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd,
                                       offset: 8 * PAGE_SIZE)
            #expect(low + 4 * PAGE_SIZE == high, "adjacent, low first in address order")
            lowBase.value = low
            _ = try t.load8(low)
            _ = try t.load8(high)
            let ptl = k.phys.ptl(t.mm.pageTables.lookup(high)!.table)
            ptl.lock()
            let f2 = t.clone("F2") { f in
                k.sched.sleep(until: .us(100))
                do { try f.store8(high, 2) } catch { seen.value.append("F2: \(error)") }
            }
            let w = t.clone("W") { w in
                k.sched.sleep(until: .us(200))
                try w.mprotect(low, length: 8 * PAGE_SIZE, prot: .read)
            }
            let f1 = t.clone("F1") { f in
                k.sched.sleep(until: .us(300))
                do { try f.store8(low, 1) } catch { seen.value.append("F1: \(error)") }
            }
            ids.value = ["F1": f1.schedID, "F2": f2.schedID, "W": w.schedID]
            k.sched.sleep(until: .us(500))
            let lowVMA = t.mm.vmaLookup(low)!, highVMA = t.mm.vmaLookup(high)!
            seen.value.append("low READ \(!lowVMA.flags.contains(.write)) locked \(lowVMA.isWriteLocked), "
                + "high READ \(!highVMA.flags.contains(.write)), aborts \(k.stats.vmaLockAborts), "
                + "F1 \(k.sched.state(of: f1.schedID)), W \(k.sched.state(of: w.schedID))")
            k.sched.sleep(until: .ms(1))
            ptl.unlock()
        }
        #expect(k.sched.run() == .completed)
        #expect(seen.value.first == "low READ true locked true, high READ false, aborts 1, F1 blocked, W blocked")
        #expect(seen.value.dropFirst().sorted().map { String($0.prefix(23)) }
            == ["F1: SIGSEGV (SEGV_ACCER", "F2: SIGSEGV (SEGV_ACCER"])
        #expect(k.stats.vmaLockAborts == 1)
        #expect(k.stats.vmaLockRetries == 2 + 1, "P's two reads, then F2's write; F1 never held the VMA lock")
        let order = k.events.events.compactMap { e -> String? in
            switch e.payload {
            case .mprotect(let s, _, _, _, _, _): "mprotect \(s == lowBase.value ? "low" : "high")"
            case .signal where e.task == ids.value["F1"]: "F1 signal"
            default: nil
            }
        }
        #expect(order == ["mprotect low", "mprotect high", "F1 signal"])
    }

    /// munmap of the upper half splits the VMA; the split write-locks it first, so while a fault holds the VMA for
    /// read (waiting for the PTL of page 12, in the half being unmapped) the VMA keeps its whole range. Then the fault
    /// retries under mmap_lock, after the munmap: SEGV_MAPERR.
    ///
    ///     F: write to RO PTE p12         | W: munmap(a+8p, 8p)              | H
    ///     t=.1ms V read-locked, waits    |                                  | holds the PTL
    ///                                    | t=.2ms __split_vma:              |
    ///                                    |   vma_start_write(V) waits for F | t=.5ms V is [a, a+16p)
    ///     RETRY, vma_end_read            |   split, detach, zap             | t=1ms releases
    ///     mmap_read_lock → SEGV_MAPERR   |                                  |
    @Test @EmuActor func aSplitWaitsForAFaultHoldingTheVMA() throws {
        let (k, dev, seen) = machine()
        let base = Box<VirtAddr>(VirtAddr(0))
        k.spawnProcess("P") { t in
            let (a, ptl) = try mapAndRead(t, dev)
            base.value = a
            let vma = t.mm.vmaLookup(a)!
            ptl.lock()
            let f = t.clone("F") { f in
                k.sched.sleep(until: .us(100))
                do { try f.store8(a + 12 * PAGE_SIZE, 1) } catch { seen.value.append("F: \(error)") }
            }
            let w = t.clone("W") { w in
                k.sched.sleep(until: .us(200))
                try w.munmap(a + 8 * PAGE_SIZE, length: 8 * PAGE_SIZE)
                seen.value.append("W: unmapped")
            }
            k.sched.sleep(until: .us(500))
            seen.value.append("V [\(vma.start - a), \(vma.end - a)) pages \(vma.pageCount), W \(k.sched.state(of: w.schedID)), "
                + "F \(k.sched.state(of: f.schedID)), \(t.mm.vmas.count) VMA")
            k.sched.sleep(until: .ms(1))
            ptl.unlock()
        }
        #expect(k.sched.run() == .completed)
        #expect(seen.value.first == "V [0, 65536) pages 16, W blocked, F blocked, 1 VMA")
        #expect(Set(seen.value.dropFirst())
            == ["W: unmapped", "F: SIGSEGV (SEGV_MAPERR) at \(base.value + 12 * PAGE_SIZE)"])
        #expect(k.stats.vmaLockRetries == 2 + 1, "P's two reads, then F's write")
        #expect(dev.log == ["P fault 3", "P fault 12"], "no hook ran for F: it retried, then found no VMA")
    }

    /// fork write-locks every VMA of the parent before copying it (dup_mmap): a thread of the parent that faults
    /// meanwhile cannot hold the VMA, falls back to mmap_lock and waits until the fork is done. Here fork blocks on
    /// i_mmap_rwsem (held by H for read, as an rmap walk would) while linking the child's copy of the first VMA.
    @Test @EmuActor func forkWriteLocksEveryParentVMA() throws {
        let (k, dev, seen) = machine()
        let parentMM = Box<MM?>(nil)
        let atOpen = Box<[[Bool]]>([])
        let original = dev.inode.fops.mmap!
        dev.inode.fops.mmap = { file, vma in
            let err = original(file, vma)
            var ops = vma.ops!
            let inner = ops.open
            ops.open = { v in
                inner?(v)
                // The child's copy is opened inside dup_mmap: which parent VMAs are write-locked by now?
                if let p = parentMM.value, v.mm !== p { atOpen.value.append(p.vmas.map(\.isWriteLocked)) }
            }
            vma.ops = ops
            return err
        }
        k.spawnProcess("P") { t in
            parentMM.value = t.mm
            let fd = try t.open(dev.inode)
            _ = try t.mmap(length: 4 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
            // Placed below the first: the lowest VMA, the first that dup_mmap write-locks and copies.
            let low = try t.mmap(length: 4 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd,
                                       offset: 8 * PAGE_SIZE)
            let mapping = dev.inode.mapping
            t.clone("H") { _ in
                mapping.iMmapRwsem.downRead()
                k.sched.sleep(until: .ms(1))
                mapping.iMmapRwsem.upRead()
            }
            let f = t.clone("F") { f in
                k.sched.sleep(until: .us(200))
                try f.store8(low + PAGE_SIZE, 7)
                seen.value.append("F: stored after the fork, aborts \(k.stats.vmaLockAborts)")
            }
            k.sched.sleep(until: .us(100))
            let child = try t.fork("child") { _ in }
            seen.value.append("P: forked \(child.name)")
            #expect(t.mm.vmas.allSatisfy { !$0.isWriteLocked }, "mmap_write_unlock ended the epoch")
            #expect(k.sched.state(of: f.schedID) != .done, "F still waits for mmap_lock")
        }
        let probe = Box<[String]>([])
        k.sched.addTimer(at: .us(500)) {
            let p = parentMM.value!
            probe.value.append("at .5ms: mmap_lock write \(p.mmapLock.isWriteLocked), "
                + "low VMA write-locked \(p.vmas[0].isWriteLocked), high \(p.vmas[1].isWriteLocked), "
                + "aborts \(k.stats.vmaLockAborts)")
        }
        #expect(k.sched.run() == .completed)
        #expect(probe.value == ["at .5ms: mmap_lock write true, low VMA write-locked true, high false, aborts 1"])
        #expect(atOpen.value == [[true, false], [true, true]])
        #expect(seen.value == ["P: forked child", "F: stored after the fork, aborts 1"])
        #expect(k.stats.vmaLockAborts == 1)
        #expect(k.stats.vmaLockRetries == 0, "F never held the VMA lock")
        #expect(k.phys.address(of: dev.pfn(9)).load(as: UInt8.self) == 7)
    }

    /// The lock itself: a VMA stamped in the current epoch refuses readers, the unlock of mmap_lock ends the stamp,
    /// and a detached VMA answers "look again".
    @Test @EmuActor func sequenceNumbersAndReferenceCount() throws {
        let (k, dev, seen) = machine()
        k.spawnProcess("P") { t in
            let fd = try t.open(dev.inode)
            let a = try t.mmap(length: 4 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
            let mm = t.mm, vma = mm.vmaLookup(a)!
            seen.value.append("seq \(mm.mmLockSeq) refcnt \(vma.vmRefcnt) stamped \(vma.vmLockSeq)")
            #expect(k.vmaStartRead(mm, vma) == .locked)
            #expect(vma.vmRefcnt == 2)
            k.vmaEndRead(vma)
            k.mmapWriteLock(mm)
            seen.value.append("write-locked mm: seq \(mm.mmLockSeq)")
            #expect(k.vmaStartRead(mm, vma) == .locked, "not stamped yet: readers still get in")
            k.vmaEndRead(vma)
            k.vmaStartWrite(vma)
            #expect(vma.isWriteLocked && vma.vmLockSeq == mm.mmLockSeq)
            #expect(k.vmaStartRead(mm, vma) == .failed)
            k.vmaStartWrite(vma)  // again: free
            k.mmapWriteUnlock(mm)
            seen.value.append("unlocked: seq \(mm.mmLockSeq), stamped \(vma.vmLockSeq)")
            #expect(k.vmaStartRead(mm, vma) == .locked)
            k.vmaEndRead(vma)
            try t.munmap(a, length: 4 * PAGE_SIZE)
            #expect(vma.vmRefcnt == 0)
            #expect(k.vmaStartRead(mm, vma) == .detached)
        }
        #expect(k.sched.run() == .completed)
        // mmap took and released mmap_lock once (seq 0 → 1 → 2) and stamped the new VMA with 1.
        #expect(seen.value == ["seq 2 refcnt 1 stamped 1", "write-locked mm: seq 3", "unlocked: seq 4, stamped 3"])
    }
}
