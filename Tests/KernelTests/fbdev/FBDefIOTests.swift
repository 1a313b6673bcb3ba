import Testing
@testable import Kernel
import TestSupport

/// A framebuffer of 16 pages (1024×16 at 32 bpp: one page per scanline) with fb_defio and a driver callback that
/// records what it receives and when, and optionally takes `busTime` (it sleeps holding the defio mutex, as a
/// driver waiting for its bus does).
@EmuActor final class DefioRig {
    let k: EmuKernel
    let info: FBInfo
    var batches: [(time: VirtualTime, pages: [Int])] = []
    var busTime = VirtualTime.zero

    init(delay: Jiffies = Jiffies(25), sort: Bool = false, policy: SchedPolicy = .roundRobin(),
         variant: FBDefIOVariant = .upstream, cpus: Int = 1, wrprotectFlushesTLB: Bool = true) {
        k = testKernel(policy, cpus: cpus, wrprotectFlushesTLB: wrprotectFlushesTLB)
        info = FBInfo(kernel: k, xres: 1024, yres: 16, bitsPerPixel: 32)!
        info.variant = variant
        info.fbdefio = FBDeferredIO(delay: delay, sortPagereflist: sort) { [unowned self] _, refs in
            self.batches.append((self.k.now, refs.map(\.pgoff.rawValue)))
            if self.busTime > .zero { self.k.sched.sleep(until: self.k.now + self.busTime) }
        }
        #expect(fbDeferredIOInit(info) == nil)
    }

    var pages: [[Int]] { batches.map(\.pages) }
    /// When the work of a batch begun in tick `tick` runs: the timer wheel runs it at the tick after
    /// `jiffies + delay` (level 0; these delays are under 63 ticks).
    func fireTime(batchStartedIn tick: Int64 = 0) -> VirtualTime {
        let hz = k.sched.tickRate.hz
        let slot = TimerWheelSlot(expires: Jiffies(tick + info.fbdefio!.delay.rawValue), clock: Jiffies(tick), hz: hz)
        return k.sched.tickRate.time(of: slot.expiry)
    }
    var delayTime: VirtualTime { fireTime() }

    /// Opens /dev/fb0 and maps `pages` pages at file page `offset`.
    func map(_ t: UserTask, pages: Int = 16, offset: Int = 0, flags: MapFlags = .shared) throws
        -> (fd: Int, base: VirtAddr) {
        let fd = try t.open(info.node)
        let a = try t.mmap(length: pages * PAGE_SIZE, prot: .readWrite, flags: flags, fd: fd,
                                 offset: offset * PAGE_SIZE)
        return (fd, a)
    }

    func sleep(until t: VirtualTime) { k.sched.sleep(until: t) }
}

@Suite struct FBDefIOTests {
    /// Scenario 1: one write ⇒ one fault, one mkwrite, list [3], work due D later; after it the PTE is read-only
    /// and clean again, the write-protect count was 1, the driver got [3].
    @Test @EmuActor func firstWriteIsTrackedAndDeliveredAfterTheDelay() throws {
        let rig = DefioRig()
        let seen = Box<[String]>([])
        rig.k.spawnProcess("p") { t in
            let (_, a) = try rig.map(t)
            try t.store32(a + 3 * PAGE_SIZE, 0xFF00FF)
            let state = rig.info.fbdefioState!
            seen.value.append("list \(state.pagereflist) pending \(rig.info.deferredWork!.isPending)")
            seen.value.append("deadline \(rig.info.deferredWork!.timerDeadline! == rig.delayTime)")
            seen.value.append("pte \(t.mm.pte(at: a + 3 * PAGE_SIZE).state)")
            rig.sleep(until: rig.delayTime + .ms(1))
            seen.value.append("pte \(t.mm.pte(at: a + 3 * PAGE_SIZE).state) list \(state.pagereflist)")
            #expect(t.tlb.lookup(a + 3 * PAGE_SIZE)?.writable != true)
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(seen.value == ["list [3] pending true", "deadline true", "pte RW+D", "pte RO list []"])
        #expect(rig.pages == [[3]])
        #expect(near(rig.batches[0].time, rig.delayTime))
        #expect(rig.info.defioStats.ptesWrprotected == 1)
        #expect(rig.k.stats.pageMkwriteCalls == 1)
    }

    /// Scenarios 2 and 4: more writes in the same cycle do not fault; after the callback the page is armed again and
    /// the next write starts a new cycle.
    @Test @EmuActor func rearmAfterTheCycle() throws {
        let rig = DefioRig()
        rig.k.spawnProcess("p") { t in
            let (_, a) = try rig.map(t)
            for i in 0 ..< 11 { try t.store32(a + 3 * PAGE_SIZE + 4 * i, UInt32(i)) }
            rig.sleep(until: rig.delayTime + .ms(1))
            try t.store32(a + 3 * PAGE_SIZE, 1)
            #expect(t.mm.pte(at: a + 3 * PAGE_SIZE).state == "RW+D")
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(rig.pages == [[3], [3]])
        #expect(rig.k.stats.pageMkwriteCalls == 2)
        #expect(rig.info.defioStats.batches == 2)
    }

    /// Scenario 5: the delay counts from the first write of a batch; it is not a debounce.
    @Test @EmuActor func theDelayIsNotADebounce() throws {
        let rig = DefioRig(delay: Jiffies(25))  // 100 ms at HZ=250
        let d = rig.delayTime
        rig.k.spawnProcess("p") { t in
            let (_, a) = try rig.map(t)
            try t.store8(a + 1 * PAGE_SIZE, 1)
            rig.sleep(until: VirtualTime(picoseconds: d.picoseconds * 9 / 10))
            try t.store8(a + 2 * PAGE_SIZE, 1)
            rig.sleep(until: VirtualTime(picoseconds: d.picoseconds * 11 / 10))
            try t.store8(a + 3 * PAGE_SIZE, 1)
            rig.sleep(until: d + d + d)
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(rig.pages == [[1, 2], [3]])
        #expect(near(rig.batches[0].time, d))
        // The second batch runs at the tick after 25 ticks from the one in which page 3 was first written
        // (1.1 × 104 ms = 114.4 ms → tick 28, expires 53, run at tick 54 = 216 ms).
        #expect(near(rig.batches[1].time, rig.fireTime(batchStartedIn: 28)))
        #expect(rig.batches[1].time >= .ms(216) && rig.batches[1].time < .ms(216) + .us(20))
    }

    /// Scenario 6: FIFO by default, ascending offsets when the driver asks to sort; never duplicates.
    @Test(arguments: [false, true]) @EmuActor func fifoOrSorted(sort: Bool) throws {
        let rig = DefioRig(sort: sort)
        rig.k.spawnProcess("p") { t in
            let (_, a) = try rig.map(t)
            for page in [7, 2, 9, 2] { try t.store8(a + page * PAGE_SIZE + 8, 1) }
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(rig.pages == [sort ? [2, 7, 9] : [7, 2, 9]])
    }

    /// Scenario 7: two processes write the same page; the second mkwrite finds it listed; the worker write-protects
    /// both PTEs (count 2); the next writes of both fault again.
    @Test @EmuActor func twoProcessesOnePageBothRearmed() throws {
        let rig = DefioRig()
        let states = Box<[String]>([])
        for name in ["A", "B"] {
            rig.k.spawnProcess(name) { t in
                let (_, a) = try rig.map(t)
                try t.store8(a + 4 * PAGE_SIZE, 1)
                rig.sleep(until: rig.delayTime + .ms(1))
                states.value.append("\(name) \(t.mm.pte(at: a + 4 * PAGE_SIZE).state)")
                try t.store8(a + 4 * PAGE_SIZE, 2)
            }
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(states.value == ["A RO", "B RO"])
        // B's mkwrite found page 4 listed in both cycles.
        #expect(rig.info.defioStats.alreadyListed == 2)
        #expect(rig.pages == [[4], [4]])
        #expect(rig.k.stats.pageMkwriteCalls == 4)
        // The first batch write-protected both PTEs; by the second both processes had exited (PTEs zapped).
        #expect(rig.info.defioStats.ptesWrprotected == 2)
    }

    /// Scenario 8 with fb_defio: a private mapping never reaches the display.
    @Test @EmuActor func privateMappingIsNeverTracked() throws {
        let rig = DefioRig()
        rig.k.spawnProcess("p") { t in
            let (fd, a) = try rig.map(t, flags: .private)
            try t.store8(a + 2 * PAGE_SIZE, 9)
            try t.fsync(fd)
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(rig.pages == [])
        #expect(rig.info.readScreen()[2 * PAGE_SIZE] == 0)
    }

    /// Scenario 9: a mapping at file offset 0x5000 tracks page 5.
    @Test @EmuActor func mmapWithAFileOffset() throws {
        let rig = DefioRig()
        rig.k.spawnProcess("p") { t in
            let (fd, a) = try rig.map(t, pages: 1, offset: 5)
            try t.store32(a, 0xABCDEF)
            try t.fsync(fd)
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(rig.pages == [[5]])
        #expect(rig.info.readScreen()[5 * PAGE_SIZE] == 0xEF)
    }

    /// Scenario 9 under bug F (2022–2024): the offset ignores the mmap offset, so page 0 is reported.
    @Test @EmuActor func offsetBugReportsTheWrongPage() throws {
        var variant = FBDefIOVariant.upstream
        variant.offsetFromVMAStart = true
        let rig = DefioRig(variant: variant)
        rig.k.spawnProcess("p") { t in
            let (fd, a) = try rig.map(t, pages: 1, offset: 5)
            try t.store32(a, 1)
            try t.fsync(fd)
        }
        #expect(rig.k.sched.run() == .completed)
        // pageref[0] was bound to the page of offset 5 — the driver is told "page 0".
        #expect(rig.pages == [[0]])
    }

    /// Scenario 10 with fb_defio: beyond smem_len ⇒ SIGBUS.
    @Test @EmuActor func beyondSmemLenIsSIGBUS() throws {
        let rig = DefioRig()
        let caught = Box<[String]>([])
        rig.k.spawnProcess("p") { t in
            let (_, a) = try rig.map(t, pages: 18)
            do { _ = try t.load8(a + 16 * PAGE_SIZE) } catch { caught.value.append("\(error)".prefix(6) + "") }
            do { try t.store8(a + 17 * PAGE_SIZE, 1) } catch { caught.value.append("\(error)".prefix(6) + "") }
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(caught.value == ["SIGBUS", "SIGBUS"])
    }

    /// Scenario 11: fsync runs pending work now and returns after the callback; with nothing pending it returns at
    /// once and no callback runs.
    @Test @EmuActor func fsyncFlushesNowOrReturnsAtOnce() throws {
        let rig = DefioRig()
        rig.busTime = .ms(5)
        let times = Box<[VirtualTime]>([])
        rig.k.spawnProcess("p") { t in
            let (fd, a) = try rig.map(t)
            try t.store8(a + 3 * PAGE_SIZE, 1)
            let before = t.kernel.now
            try t.fsync(fd)
            times.value = [before, t.kernel.now]
            #expect(rig.info.deferredWork!.isPending == false)
            let again = t.kernel.now
            try t.fsync(fd)
            times.value.append(t.kernel.now - again)
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(rig.pages == [[3]])
        #expect(rig.batches[0].time >= times.value[0])
        #expect(times.value[1] >= rig.batches[0].time + .ms(5))  // fsync returned after the 5 ms callback
        #expect(times.value[2] < .us(5))  // nothing pending: no wait
        #expect(rig.batches[0].time < rig.delayTime)  // the timer was not waited for
    }

    /// Scenario 12: only the last release flushes. A mapping pins its file, so `->release` of the mapped file runs
    /// only once the mapping is gone; the scenario therefore unmaps before closing.
    @Test @EmuActor func onlyTheLastCloseFlushes() throws {
        let rig = DefioRig()
        let seen = Box<[String]>([])
        rig.k.spawnProcess("p") { t in
            let fd1 = try t.open(rig.info.node)
            let fd2 = try t.open(rig.info.node)
            let a = try t.mmap(length: 16 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd1)
            try t.store8(a + PAGE_SIZE, 1)
            try t.munmap(a, length: 16 * PAGE_SIZE)
            try t.close(fd1)
            seen.value.append("after close 1: \(rig.pages)")
            try t.close(fd2)
            seen.value.append("after close 2: \(rig.pages) at \(t.kernel.now < rig.delayTime)")
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(seen.value == ["after close 1: []", "after close 2: [[1]] at true"])
    }

    /// Scenario 13 (≥ 6.15): writes through a mapping that outlives close() are tracked and delivered as usual.
    @Test @EmuActor func writesAfterCloseAreStillDelivered() throws {
        let rig = DefioRig()
        rig.k.spawnProcess("p") { t in
            let (fd, a) = try rig.map(t)
            try t.close(fd)
            try t.store8(a + 2 * PAGE_SIZE, 1)
            rig.sleep(until: rig.delayTime + .ms(1))
            try t.store8(a + 2 * PAGE_SIZE, 2)
            rig.sleep(until: rig.delayTime * 3)
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(rig.pages == [[2], [2]])
    }

    /// Scenario 14: while the callback runs (bus time T, mutex held), a write to a clean page waits in mkwrite, and
    /// (2026) a read fault on a page with no PTE waits in ->fault; both continue when the callback returns.
    @Test @EmuActor func writersStallForTheCallback() throws {
        let rig = DefioRig()
        rig.busTime = .ms(40)
        let d = rig.delayTime
        let done = Box<[String: VirtualTime]>([:])
        rig.k.spawnProcess("writer") { t in
            let (_, a) = try rig.map(t)
            _ = try t.load8(a + 6 * PAGE_SIZE)  // a clean read-only PTE for later
            try t.store8(a, 1)                  // starts the batch: callback at D, busy until D + 40 ms
            rig.sleep(until: d + .ms(10))
            try t.store8(a + 6 * PAGE_SIZE, 1)
            done.value["write"] = t.kernel.now
        }
        rig.k.spawnProcess("reader") { t in
            let (_, a) = try rig.map(t)
            rig.sleep(until: d + .ms(20))
            _ = try t.load8(a + 9 * PAGE_SIZE)
            done.value["read"] = t.kernel.now
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(near(rig.batches[0].time, d))
        let end = rig.batches[0].time + .ms(40)
        #expect(done.value["write"]! >= end && done.value["write"]! < end + .us(50))
        #expect(done.value["read"]! >= end && done.value["read"]! < end + .us(50))
        #expect(rig.pages == [[0], [6]])
    }

    /// Scenario 15: a write landing while the driver copies a page (already write-protected) faults, waits for the
    /// callback, and is delivered in the next cycle: nothing is lost.
    @Test @EmuActor func aWriteRacingWithTheCopyIsDeliveredNextCycle() throws {
        let rig = DefioRig()
        rig.busTime = .ms(20)
        let d = rig.delayTime
        var screenAtCallback: [UInt8] = []
        let inner = rig.info.fbdefio!.deferredIO
        rig.info.fbdefio!.deferredIO = { info, refs in
            inner(info, refs)
            screenAtCallback = info.readScreen()  // what the panel got, at the end of the transfer
        }
        rig.k.spawnProcess("p") { t in
            let (fd, a) = try rig.map(t)
            try t.store8(a + 3 * PAGE_SIZE, 1)
            rig.sleep(until: d + .ms(5))  // mid-transfer
            try t.store8(a + 3 * PAGE_SIZE, 2)
            try t.fsync(fd)
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(rig.pages == [[3], [3]])
        #expect(screenAtCallback[3 * PAGE_SIZE] == 2)
        #expect(rig.batches[1].time >= d + .ms(20))
    }

    /// Scenario 16: the page is unmapped before the worker runs: nothing to write-protect, but the driver still gets
    /// the page.
    @Test @EmuActor func munmapBeforeTheWorker() throws {
        let rig = DefioRig()
        rig.k.spawnProcess("p") { t in
            let (_, a) = try rig.map(t)
            try t.store8(a + 3 * PAGE_SIZE, 1)
            #expect(rig.info.fbdefioState!.refcount == 2)
            try t.munmap(a, length: 16 * PAGE_SIZE)
            #expect(rig.info.fbdefioState!.refcount == 1)
            rig.sleep(until: rig.delayTime + .ms(1))
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(rig.pages == [[3]])
        #expect(rig.info.defioStats.ptesWrprotected == 0)
    }

    /// Scenario 17 with fb_defio: the forked child's VMA took a state reference; its write faults and finds the page
    /// already listed.
    @Test @EmuActor func forkChildWritesAListedPage() throws {
        let rig = DefioRig()
        rig.k.spawnProcess("parent") { t in
            let (_, a) = try rig.map(t)
            try t.store8(a + PAGE_SIZE, 1)
            try t.fork("child") { c in
                #expect(rig.info.fbdefioState!.refcount == 3)
                try c.store8(a + PAGE_SIZE, 2)
                rig.sleep(until: rig.delayTime + .ms(1))
            }
            rig.sleep(until: rig.delayTime + .ms(1))
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(rig.pages == [[1]])
        #expect(rig.info.defioStats.alreadyListed == 1)
        #expect(rig.info.defioStats.ptesWrprotected == 2)
    }

    /// Scenario 19: device removal with a live mapping: pending work is flushed (which write-protects the written
    /// page); afterwards every fault and mkwrite gets SIGBUS, while reads through existing read-only PTEs keep
    /// working silently; the state is freed with the last VMA.
    @Test @EmuActor func deviceRemovalWithALiveMapping() throws {
        let rig = DefioRig()
        let seen = Box<[String]>([])
        rig.k.spawnProcess("p") { t in
            let (_, a) = try rig.map(t)
            try t.store8(a + 1 * PAGE_SIZE, 1)  // RW, pending
            _ = try t.load8(a + 2 * PAGE_SIZE)  // RO
            let state = rig.info.fbdefioState!
            fbDeferredIOCleanup(rig.info)
            seen.value.append("flushed \(rig.pages)")
            do { try t.store8(a + 1 * PAGE_SIZE, 2) } catch { seen.value.append("\(error)".prefix(6) + "") }
            seen.value.append("read \(try t.load8(a + 2 * PAGE_SIZE))")  // through the RO PTE: still works
            do { _ = try t.load8(a + 3 * PAGE_SIZE) } catch { seen.value.append("\(error)".prefix(6) + "") }
            seen.value.append("refs \(state.refcount) freed \(state.freed)")
            try t.munmap(a, length: 16 * PAGE_SIZE)
            seen.value.append("refs \(state.refcount) freed \(state.freed)")
        }
        #expect(rig.k.sched.run() == .completed)
        #expect(seen.value == ["flushed [[1]]", "SIGBUS", "read 0", "SIGBUS", "refs 1 freed false",
                               "refs 0 freed true"])
        #expect(rig.pages == [[1]])
    }

    /// The workqueue never runs the work twice at once and a schedule while pending does not move the deadline.
    @Test @EmuActor func delayedWorkSemantics() throws {
        let k = testKernel()
        let wq = k.systemWorkqueue
        var runs: [VirtualTime] = []
        var active = 0
        let work = DelayedWork("w", on: wq) {
            active += 1
            #expect(active == 1)
            runs.append(k.now)
            k.sched.sleep(until: k.now + .ms(10))
            active -= 1
        }
        k.spawnProcess("p") { t in
            #expect(work.schedule(Jiffies(5)))     // expires at tick 5, run at tick 6: 24 ms (HZ 250)
            k.sched.sleep(until: .ms(15))
            #expect(!work.schedule(Jiffies(5)))    // pending: no-op, still due at 24 ms
            k.sched.sleep(until: .ms(25))    // running until 34 ms
            #expect(work.isRunning)
            #expect(work.schedule(Jiffies(0)))     // queued behind the running instance
            work.flush()                     // waits for both
            #expect(runs.count == 2 && t.kernel.now >= .ms(44))
            #expect(work.schedule(Jiffies(100)))
            #expect(work.cancelSync())
            #expect(!work.isPending)
        }
        #expect(k.sched.run() == .completed)
        #expect(runs == [.ms(24), .ms(34)])
    }
}

/// The worker's own work (locks, write-protect) runs between the timer and the callback: a few hundred ns.
func near(_ t: VirtualTime, _ target: VirtualTime) -> Bool { t >= target && t < target + .us(20) }

extension VirtualTime {
    static func * (a: VirtualTime, n: Int64) -> VirtualTime { VirtualTime(picoseconds: a.picoseconds * n) }
}
