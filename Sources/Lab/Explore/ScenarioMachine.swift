// SPDX-License-Identifier: MIT — the small machine the explorer's scenarios run on.
import Kernel

/// A framebuffer of a few pages (`xres` × as many lines as fit in `pages` at 32 bpp; at the default 1024, one page a
/// line, and narrower lines leave the last page partly past yres), fb_defio with a driver that copies each
/// delivered page to its "panel" and holds the mutex for a bus time per page, the variant's switches, and every
/// online checker. Scenarios spawn 2–4 processes on it. One CPU unless a scenario needs more: on a preemptive
/// uniprocessor every interleaving of the preemption points can be chosen by the policy, which an SMP machine's
/// clock order would restrict.
@EmuActor package final class ScenarioMachine {
    package let kernel: EmuKernel
    package let info: FBInfo
    package let variant: Variants.Selection
    package let checkers: OnlineCheckers
    /// What the panel shows: the framebuffer bytes as of each page's last delivery.
    package private(set) var panel: [UInt8]
    /// Set at the first violation: scenario programs stop at their next step.
    package private(set) var stopped = false
    /// Bus time the driver spends per delivered page, with the defio mutex held.
    package var busTimePerPage = VirtualTime.us(20)
    /// Stop the scenario's programs at the first violation (off: run on, to see the violation's consequence).
    package var stopOnViolation = true
    /// The scheduler decision count when the first violation was found.
    package private(set) var decisionsAtViolation: Int?
    var env: VariantEnvironment { variant.switches.environment }

    package init(variant: Variants.Selection, policy: SchedPolicy, pages: Int = 8, xres: Int = 1024,
                delay: Jiffies = Jiffies(1), cpus: Int = 1, keepEvents: Bool = false) {
        var options = MachineOptions()
        options.variant = variant
        options.cpus = cpus
        var config = MachineConfig(options)
        config.livelockAttempts = 200
        config.policy = policy
        kernel = config.makeKernel(ramPages: 96 + 3 * pages)
        kernel.events.keep = keepEvents
        (info, checkers) = config.makeFramebuffer(kernel, xres: xres, yres: pages * 1024 / xres, bitsPerPixel: 32,
                                                  id: "explore")!
        self.variant = variant
        panel = info.readScreen()
        _ = config.setUpDeferredIO(info, FBDeferredIO(delay: delay) { [unowned self] info, refs in
            self.deliver(info, refs)
        })
        checkers.onViolation = { [unowned self] _ in
            if self.stopOnViolation { self.stopped = true }
            self.decisionsAtViolation = self.kernel.sched.recorded.count
        }
    }

    /// Copies each delivered page by its offset in the screen buffer, as drivers read it (so a wrong offset shows).
    private func deliver(_ info: FBInfo, _ refs: [FBDeferredIOPageref]) {
        panel.withUnsafeMutableBytes { dst in
            for r in refs where r.offset + PAGE_SIZE <= dst.count {
                info.readScreen(at: r.offset,
                                into: UnsafeMutableRawBufferPointer(rebasing: dst[r.offset ..< r.offset + PAGE_SIZE]))
            }
        }
        if !refs.isEmpty { kernel.sched.sleep(until: kernel.now + busTimePerPage * refs.count) }
    }

    /// The panel shows the framebuffer as it is now (a driver's full update, e.g. after a mode change).
    package func resetPanel() { panel = info.readScreen() }

    /// The node a process opens: the second one for every opener after the first when the variant has two.
    package func node(for opener: Int) -> Inode {
        opener > 0 && info.nodes.count > 1 ? info.nodes[1] : info.node
    }

    /// Files of the device the scenario's programs have open or are opening (an open counts from the moment it
    /// starts until it fails; a close from the moment it returns), so that a close seen as the last one really
    /// was. Files left to the exit of their process are not subtracted.
    package private(set) var openFiles = 0

    /// Opens the device (the second node for a later opener when the variant has two).
    package func open(_ t: UserTask, opener: Int = 0) throws -> Int {
        openFiles += 1
        do { return try t.open(node(for: opener)) } catch {
            openFiles -= 1
            throw error
        }
    }

    /// Closes a descriptor; returns whether it was the last open file of the device (a last close, as userspace
    /// sees it: the kernel then promises the flush).
    package func close(_ t: UserTask, _ fd: Int) throws -> Bool {
        try t.close(fd)
        openFiles -= 1
        return openFiles == 0
    }

    /// Opens the device and maps `pages` pages at page `offset` (MAP_SHARED, read/write).
    package func map(_ t: UserTask, opener: Int = 0, pages: Int? = nil, offset: Int = 0, at address: VirtAddr? = nil)
        throws -> (fd: Int, base: VirtAddr) {
        let fd = try open(t, opener: opener)
        let n = pages ?? info.fix.smemLen >> PAGE_SHIFT
        let base = try t.mmap(address, length: n * PAGE_SIZE, prot: .readWrite,
                                    flags: address == nil ? .shared : [.shared, .fixed], fd: fd, offset: offset * PAGE_SIZE)
        return (fd, base)
    }

    /// The kernel's promise at this moment (after an fsync or the last close): the panel shows what the framebuffer
    /// holds — on every page, or on `pages`, the ones the caller wrote (another process's write may still be in its
    /// fault when this one's fsync returns). A difference is a lost update.
    package func expectDisplayed(_ moment: String, pages: [Int]? = nil) {
        let wanted = pages.map(Set.init)
        if let p = undeliveredPages.first(where: { wanted?.contains($0) ?? true }) {
            checkers.report(.lostUpdate, "\(moment): page \(p) of the framebuffer never reached the panel", page: p)
        }
    }

    /// Pages whose panel content differs from the framebuffer now.
    package var undeliveredPages: [Int] {
        var out: [Int] = []
        panel.withUnsafeBytes { shown in
            for p in 0 ..< shown.count / PAGE_SIZE {
                // The framebuffer page in place (vmalloc_to_page), compared without copying it out.
                guard let pfn = kernel.vmalloc.vmallocToPage(info.screenBuffer + UInt64(p * PAGE_SIZE)) else { continue }
                if !kernel.phys.memcmpPages(pfn, shown.baseAddress! + p * PAGE_SIZE) { out.append(p) }
            }
        }
        return out
    }

    /// The kernel promises that the last close pushes pending updates out (6.8 and later flush there).
    package var flushesAtLastClose: Bool {
        variant.switches.defio.release == .lastclose && variant.switches.defio.lastclose == .flush
    }

    /// Checks to make once every process has ended and nothing is pending (quiescence).
    private var atQuiescence: [@EmuActor () -> Void] = []
    package func whenQuiescent(_ check: @escaping @EmuActor () -> Void) { atQuiescence.append(check) }

    /// Runs the spawned processes to the end and applies the end-of-run checks.
    package func run() -> RunOutcome {
        let outcome = kernel.sched.run()
        checkers.runEnded(outcome)
        // The checks capture the machine: drop them once run, or they would keep it alive.
        let checks = atQuiescence
        atQuiescence = []
        if outcome == .completed { for check in checks { check() } }
        kernel.sched.shutdown()
        return outcome
    }

    /// The task's next step should not happen (a violation was found): scenario programs call this between steps.
    package var shouldStop: Bool { stopped }
}

extension VirtualTime {
    static func * (a: VirtualTime, n: Int) -> VirtualTime { VirtualTime(picoseconds: a.picoseconds * Int64(n)) }
}
