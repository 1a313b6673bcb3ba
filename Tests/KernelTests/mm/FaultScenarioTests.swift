import Testing
@testable import Kernel
import TestSupport

/// The fault-path scenarios of kernel-spec.md §8 that need only memory.c and a driver's hooks (the fb_defio side of
/// them comes with the fb_defio model). Unless stated: 16 pages, one MAP_SHARED read/write mapping at offset 0, a
/// ->page_mkwrite that behaves like fb_defio's (file time, lock page, VM_FAULT_LOCKED), per-VMA locks on.
@Suite struct FaultScenarioTests {
    let pageSize = PAGE_SIZE

    /// Scenario 1 (and 21): the first write to a page with no PTE.
    @Test @EmuActor func firstWriteToANonePTE() throws {
        let k = testKernel()
        let dev = TestDevice(k)
        let result = Box<(MM?, VirtAddr)>((nil, VirtAddr(0)))
        k.spawnProcess("p") { t in
            let fd = try t.open(dev.inode)
            let a = try t.mmap(length: 16 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
            #expect(t.mm.pte(at: a + 3 * PAGE_SIZE).isNone)
            try t.store8(a + 3 * PAGE_SIZE + 10, 0xAB)
            result.value = (t.mm, a)
            // Keep the mapping for the checks below: stop before exit tears it down.
            let pte = t.mm.pte(at: a + 3 * PAGE_SIZE)
            #expect(pte.state == "RW+D")
            #expect(pte.pfn == dev.pfn(3))
            #expect(t.tlb.lookup(a + 3 * PAGE_SIZE)?.writable == true)
        }
        #expect(k.sched.run() == .completed)
        #expect(dev.log == ["p fault 3", "p mkwrite 3"])
        // One fault: first attempted under the per-VMA lock (RETRY, scenario 21), redone under mmap_lock.
        #expect(k.stats.faultAttempts == 1)
        #expect(k.stats.vmaLockRetries == 1)
        #expect(k.stats.faults == 1)
        #expect(k.stats.pageMkwriteCalls == 1)
        #expect(k.phys.address(of: dev.pfn(3)).load(fromByteOffset: 10, as: UInt8.self) == 0xAB)
        #expect(dev.inode.mtime > .zero)
        #expect(k.processes[0].exitStatus == .exited)
    }

    /// Scenario 2: more writes through the now-writable PTE do not fault.
    @Test @EmuActor func repeatedWritesWithinACycleDoNotFault() throws {
        let k = testKernel()
        let dev = TestDevice(k)
        k.spawnProcess("p") { t in
            let fd = try t.open(dev.inode)
            let a = try t.mmap(length: 16 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
            for i in 0 ..< 11 { try t.store32(a + 3 * PAGE_SIZE + 4 * i, UInt32(i)) }
        }
        #expect(k.sched.run() == .completed)
        #expect(dev.log == ["p fault 3", "p mkwrite 3"])
        #expect(k.stats.faults == 1)
        #expect(k.phys.address(of: dev.pfn(3)).load(fromByteOffset: 40, as: UInt32.self) == 10)
    }

    /// Scenario 3: a read maps the page read-only (no mkwrite); the write then takes the write-protect fault.
    @Test @EmuActor func readThenWrite() throws {
        let k = testKernel()
        let dev = TestDevice(k)
        let states = Box<[String]>([])
        k.spawnProcess("p") { t in
            let fd = try t.open(dev.inode)
            let a = try t.mmap(length: 16 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
            _ = try t.load8(a + 5 * PAGE_SIZE)
            states.value.append(t.mm.pte(at: a + 5 * PAGE_SIZE).state)
            states.value.append(dev.log.joined(separator: ","))
            try t.store8(a + 5 * PAGE_SIZE, 1)
            states.value.append(t.mm.pte(at: a + 5 * PAGE_SIZE).state)
        }
        #expect(k.sched.run() == .completed)
        #expect(states.value == ["RO", "p fault 5", "RW+D"])
        #expect(dev.log == ["p fault 5", "p mkwrite 5"])
        #expect(k.stats.readFaults >= 1)
        #expect(k.stats.wpPageShared >= 1)
        #expect(k.stats.faults == 2)
    }

    /// Scenario 7: two processes, one page: each PTE is upgraded through its own mkwrite.
    @Test @EmuActor func twoProcessesWriteTheSamePage() throws {
        let k = testKernel()
        let dev = TestDevice(k)
        let mms = Box<[(MM, VirtAddr)]>([])
        for name in ["A", "B"] {
            k.spawnProcess(name) { t in
                let fd = try t.open(dev.inode)
                let a = try t.mmap(length: 16 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
                try t.store8(a + 4 * PAGE_SIZE, name == "A" ? 1 : 2)
                mms.value.append((t.mm, a))
                #expect(t.mm.pte(at: a + 4 * PAGE_SIZE).state == "RW+D")
                #expect(t.mm.pte(at: a + 4 * PAGE_SIZE).pfn == dev.pfn(4))
            }
        }
        #expect(k.sched.run() == .completed)
        #expect(dev.log == ["A fault 4", "A mkwrite 4", "B fault 4", "B mkwrite 4"])
        #expect(k.phys.address(of: dev.pfn(4)).load(as: UInt8.self) == 2)
    }

    /// Scenario 8: a write to a MAP_PRIVATE mapping copies the page; ->page_mkwrite is never called and the device
    /// memory never changes.
    @Test @EmuActor func privateMappingGetsACOWCopy() throws {
        let k = testKernel()
        let dev = TestDevice(k)
        let seen = Box<(PTE, UInt8)>((.none, 0))
        k.spawnProcess("p") { t in
            let fd = try t.open(dev.inode)
            let a = try t.mmap(length: 16 * PAGE_SIZE, prot: .readWrite, flags: .private, fd: fd)
            try t.store8(a + 2 * PAGE_SIZE, 0x5A)
            seen.value = (t.mm.pte(at: a + 2 * PAGE_SIZE), try t.load8(a + 2 * PAGE_SIZE))
        }
        #expect(k.sched.run() == .completed)
        #expect(dev.log == ["p fault 2"])
        #expect(seen.value.0.state == "RW+D")
        #expect(seen.value.0.pfn != dev.pfn(2))
        #expect(seen.value.1 == 0x5A)
        #expect(k.phys.address(of: dev.pfn(2)).load(as: UInt8.self) == 0)
        #expect(k.stats.cowFaults >= 1)
        #expect(k.stats.pageMkwriteCalls == 0)
    }

    /// Scenario 8 continued: read first, then write: the read-only file PTE is replaced by a private copy.
    @Test @EmuActor func privateMappingReadThenWriteCopiesOnWrite() throws {
        let k = testKernel()
        let dev = TestDevice(k)
        k.phys.address(of: dev.pfn(1)).storeBytes(of: 0x77, as: UInt8.self)
        let seen = Box<[String]>([])
        k.spawnProcess("p") { t in
            let fd = try t.open(dev.inode)
            let a = try t.mmap(length: 16 * PAGE_SIZE, prot: .readWrite, flags: .private, fd: fd)
            seen.value.append("\(try t.load8(a + PAGE_SIZE))")
            #expect(t.mm.pte(at: a + PAGE_SIZE).pfn == dev.pfn(1))
            try t.store8(a + PAGE_SIZE + 1, 0x11)
            #expect(t.mm.pte(at: a + PAGE_SIZE).pfn != dev.pfn(1))
            seen.value.append("\(try t.load8(a + PAGE_SIZE)) \(try t.load8(a + PAGE_SIZE + 1))")
        }
        #expect(k.sched.run() == .completed)
        #expect(seen.value == ["119", "119 17"])
        #expect(dev.log == ["p fault 1"])
        #expect(k.stats.wpPageCopy == 1)
        #expect(k.phys.address(of: dev.pfn(1)).load(fromByteOffset: 1, as: UInt8.self) == 0)
    }

    /// Scenario 10: the driver refuses pages past its memory: SIGBUS for reads and writes alike.
    @Test @EmuActor func accessBeyondTheDeviceIsSIGBUS() throws {
        let k = testKernel()
        let dev = TestDevice(k)
        let caught = Box<[UserFault]>([])
        let base = Box<VirtAddr>(VirtAddr(0))
        k.spawnProcess("p") { t in
            let fd = try t.open(dev.inode)
            let a = try t.mmap(length: 20 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
            base.value = a
            do { _ = try t.load8(a + 16 * PAGE_SIZE) } catch { caught.value.append(error as! UserFault) }
            do { try t.store8(a + 17 * PAGE_SIZE + 3, 1) } catch { caught.value.append(error as! UserFault) }
            try t.store8(a + 15 * PAGE_SIZE, 1)  // The last real page still works.
        }
        #expect(k.sched.run() == .completed)
        #expect(caught.value == [.sigbus(base.value + 16 * PAGE_SIZE), .sigbus(base.value + 17 * PAGE_SIZE + 3)])
        #expect(dev.log == ["p fault 16", "p fault 17", "p fault 15", "p mkwrite 15"])
        #expect(k.stats.sigbus == 2)
    }

    /// Scenario 17: the child of a fork has the shared VMA (->open called) but no PTEs; its write faults afresh.
    @Test @EmuActor func forkChildFaultsAfresh() throws {
        let k = testKernel()
        let dev = TestDevice(k)
        let childPTE = Box<[String]>([])
        k.spawnProcess("parent") { t in
            let fd = try t.open(dev.inode)
            let a = try t.mmap(length: 16 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
            try t.store8(a + PAGE_SIZE, 1)
            try t.fork("child") { c in
                childPTE.value.append(c.mm.pte(at: a + PAGE_SIZE).state)
                #expect(c.mm.vmaLookup(a)?.ops?.name == "scratch")
                try c.store8(a + PAGE_SIZE, 2)
                childPTE.value.append(c.mm.pte(at: a + PAGE_SIZE).state)
            }
        }
        #expect(k.sched.run() == .completed)
        #expect(childPTE.value == ["NONE", "RW+D"])
        #expect(dev.log == ["parent fault 1", "parent mkwrite 1", "child fault 1", "child mkwrite 1"])
        #expect(dev.opens == 1)
        #expect(dev.closes == 2)
        #expect(k.phys.address(of: dev.pfn(1)).load(as: UInt8.self) == 2)
    }

    /// Scenario 18: mprotect(PROT_READ) makes writes SIGSEGV before any driver hook; back to read/write, a dirty
    /// (already notified) PTE becomes writable without a fault while a clean one stays read-only and faults.
    @Test @EmuActor func mprotectAroundWriteNotify() throws {
        let k = testKernel()
        let dev = TestDevice(k)
        let seen = Box<[String]>([])
        k.spawnProcess("p") { t in
            let fd = try t.open(dev.inode)
            let a = try t.mmap(length: 16 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
            let p1 = a + PAGE_SIZE, p2 = a + 2 * PAGE_SIZE
            try t.store8(p1, 1)
            _ = try t.load8(p2)
            try t.mprotect(a, length: 16 * PAGE_SIZE, prot: .read)
            seen.value.append("\(t.mm.pte(at: p1).state) \(t.mm.pte(at: p2).state)")
            do { try t.store8(p1, 9) } catch { seen.value.append("\(error)") }
            try t.mprotect(a, length: 16 * PAGE_SIZE, prot: .readWrite)
            seen.value.append("\(t.mm.pte(at: p1).state) \(t.mm.pte(at: p2).state)")
            let before = dev.log.count
            try t.store8(p1, 3)
            seen.value.append("p1 hooks \(dev.log.count - before)")
            try t.store8(p2, 4)
            seen.value.append("\(t.mm.pte(at: p1).state) \(t.mm.pte(at: p2).state)")
            #expect(t.signals == [.sigsegv(p1, .accErr)])
        }
        #expect(k.sched.run() == .completed)
        #expect(seen.value[0] == "RO+D RO")
        #expect(seen.value[1].hasPrefix("SIGSEGV (SEGV_ACCERR)"))
        #expect(Array(seen.value[2...]) == ["RW+D RO", "p1 hooks 0", "RW+D RW+D"])
        #expect(dev.log == ["p fault 1", "p mkwrite 1", "p fault 2", "p mkwrite 2"])
        #expect(k.phys.address(of: dev.pfn(1)).load(as: UInt8.self) == 3)
    }

    /// Scenario 22: a ->page_mkwrite that returns 0 for a page with no mapping makes every write fault retry
    /// forever; the emulator reports a livelock and kills the task instead of hanging.
    @Test @EmuActor func mkwriteReturningZeroIsALivelock() throws {
        let k = testKernel(livelockAttempts: 50)
        let dev = TestDevice(k, mkwrite: .returnZero)
        let base = Box<VirtAddr>(VirtAddr(0))
        k.spawnProcess("p") { t in
            let fd = try t.open(dev.inode)
            let a = try t.mmap(length: 16 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
            base.value = a
            try t.store8(a, 1)
            Issue.record("the store should never complete")
        }
        #expect(k.sched.run() == .completed)
        #expect(k.processes[0].exitStatus == .killed(.livelock(base.value, attempts: 50)))
        #expect(k.stats.mkwriteRetries == 50)
        #expect(k.stats.livelocks == 1)
        #expect(dev.log.count == 100)
        #expect(Array(dev.log.prefix(4)) == ["p fault 0", "p mkwrite 0", "p fault 0", "p mkwrite 0"])
        #expect(k.sched.reports.contains { $0.contains("LIVELOCK") })
    }

    /// Scenario 23: while one thread's ->page_mkwrite runs with the PTL dropped, another thread upgrades the same PTE;
    /// the first one's pte_same recheck fails, it returns NOPAGE, and its retried store succeeds with no further
    /// mkwrite.
    @Test @EmuActor func pteSameBailout() throws {
        let k = testKernel()
        let dev = TestDevice(k, mkwrite: .sleepThenLock(.ms(1)))
        let seen = Box<[String]>([])
        k.spawnProcess("A") { t in
            let fd = try t.open(dev.inode)
            let a = try t.mmap(length: 16 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
            let p3 = a + 3 * PAGE_SIZE
            _ = try t.load8(p3)
            t.clone("B") { b in
                b.kernel.sched.sleep(until: b.kernel.now + .us(100))
                try b.store8(p3 + 1, 0xBB)
                seen.value.append("B done \(b.mm.pte(at: p3).state)")
            }
            try t.store8(p3, 0xAA)
            seen.value.append("A done \(t.mm.pte(at: p3).state)")
            t.kernel.sched.sleep(until: t.kernel.now + .ms(5))
        }
        #expect(k.sched.run() == .completed)
        #expect(seen.value == ["A done RW+D", "B done RW+D"])
        #expect(dev.log == ["A fault 3", "A mkwrite 3", "B mkwrite 3"])
        #expect(k.stats.pteChangedBailouts == 1)
        let page = k.phys.address(of: dev.pfn(3))
        #expect(page.load(as: UInt8.self) == 0xAA)
        #expect(page.load(fromByteOffset: 1, as: UInt8.self) == 0xBB)
    }

    /// Scenario 26: a PFN-mapped (DAX-style) shared mapping without ->pfn_mkwrite: the write to the read-only
    /// special PTE is made writable silently — no hook, no file time update (the 2015 DAX mtime bug).
    @Test @EmuActor func pfnMapWithoutPfnMkwriteIsSilent() throws {
        let k = testKernel()
        let dev = TestDevice(k, mkwrite: .none, pfnMap: true)
        let seen = Box<[String]>([])
        k.spawnProcess("p") { t in
            let fd = try t.open(dev.inode)
            let a = try t.mmap(length: 16 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
            _ = try t.load8(a)
            seen.value.append(t.mm.pte(at: a).state)
            try t.store8(a, 7)
            seen.value.append(t.mm.pte(at: a).state)
        }
        #expect(k.sched.run() == .completed)
        #expect(seen.value == ["RO*", "RW+D*"])
        #expect(dev.log == ["p fault 0"])
        #expect(k.stats.wpPFNShared == 1)
        #expect(k.stats.pfnMkwriteCalls == 0)
        #expect(dev.inode.mtime == .zero)
        #expect(k.phys.address(of: dev.pfn(0)).load(as: UInt8.self) == 7)
    }

    /// Scenario 26 with the fix: ->pfn_mkwrite is told (file time updated) and the PTE upgrade goes through the
    /// pte_same recheck.
    @Test @EmuActor func pfnMapWithPfnMkwriteNotifies() throws {
        let k = testKernel()
        let dev = TestDevice(k, mkwrite: .none, pfnMap: true, pfnMkwrite: true)
        let seen = Box<[String]>([])
        k.spawnProcess("p") { t in
            let fd = try t.open(dev.inode)
            let a = try t.mmap(length: 16 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
            _ = try t.load8(a)
            try t.store8(a, 7)
            seen.value.append(t.mm.pte(at: a).state)
        }
        #expect(k.sched.run() == .completed)
        #expect(seen.value == ["RW+D*"])
        #expect(dev.log == ["p fault 0", "p pfn_mkwrite 0"])
        #expect(k.stats.pfnMkwriteCalls == 1)
        #expect(dev.inode.mtime > .zero)
    }

    /// Without a ->page_mkwrite, a shared writable mapping is not write-notified: the first write installs a
    /// writable PTE straight away and later writes never fault.
    @Test @EmuActor func sharedMappingWithoutMkwriteStartsWritable() throws {
        let k = testKernel()
        let dev = TestDevice(k, mkwrite: .none)
        let seen = Box<[String]>([])
        k.spawnProcess("p") { t in
            let fd = try t.open(dev.inode)
            let a = try t.mmap(length: 16 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
            _ = try t.load8(a)
            seen.value.append(t.mm.pte(at: a).state)
            try t.store8(a, 1)
            seen.value.append(t.mm.pte(at: a).state)
        }
        #expect(k.sched.run() == .completed)
        #expect(seen.value == ["RW", "RW+D"])
        #expect(dev.log == ["p fault 0"])
        #expect(k.stats.faults == 1)
    }

    /// Without per-VMA locks (older kernels / other architectures) there is no spurious RETRY.
    @Test @EmuActor func withoutPerVMALocksThereIsNoRetry() throws {
        let k = testKernel(perVMALocks: false)
        let dev = TestDevice(k)
        k.spawnProcess("p") { t in
            let fd = try t.open(dev.inode)
            let a = try t.mmap(length: 16 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
            try t.store8(a, 1)
        }
        #expect(k.sched.run() == .completed)
        #expect(k.stats.vmaLockRetries == 0)
        #expect(k.stats.faults == 1)
        #expect(dev.log == ["p fault 0", "p mkwrite 0"])
    }

    /// A write to a read-only mapping and an access outside every VMA are rejected by the arch code with SIGSEGV;
    /// a writable shared mapping of a read-only file is refused with EACCES.
    @Test @EmuActor func segvCodesAndMmapPermissions() throws {
        let k = testKernel()
        let dev = TestDevice(k)
        let caught = Box<[String]>([])
        let base = Box<VirtAddr>(VirtAddr(0))
        k.spawnProcess("p") { t in
            let fd = try t.open(dev.inode, .read)
            let a = try t.mmap(length: 4 * PAGE_SIZE, prot: .read, flags: .shared, fd: fd)
            base.value = a
            do { try t.store8(a, 1) } catch { caught.value.append("\(error)") }
            do { _ = try t.load8(VirtAddr(UInt64(0x1000_0000))) } catch { caught.value.append("\(error)") }
            do {
                _ = try t.mmap(length: PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
            } catch { caught.value.append("\(error)") }
        }
        #expect(k.sched.run() == .completed)
        #expect(caught.value == ["SIGSEGV (SEGV_ACCERR) at \(base.value)", "SIGSEGV (SEGV_MAPERR) at 0x10000000",
                                 "EACCES"])
        #expect(dev.log.isEmpty)
    }
}
