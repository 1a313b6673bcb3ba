// SPDX-License-Identifier: MIT — the explorer's built-in scenarios: 2–4 processes on a few pages, each shaped so that
// one bug of kernel-spec.md §9 can show under some interleaving (and none of them under a correct kernel).
import Kernel
import Panels

/// One scenario: processes spawned on a `ScenarioMachine`. The programs stop early once a checker fired.
package struct Scenario: Sendable {
    package let name: String
    package let summary: String
    /// Pixels per line of the scenario's framebuffer (1024: one page a line).
    var xres = 1024
    /// CPUs of the machine: one (every interleaving is the policy's to choose) unless the race needs several.
    var cpus = 1
    let spawn: @EmuActor @Sendable (ScenarioMachine) -> Void

    init(name: String, summary: String, xres: Int = 1024, cpus: Int = 1,
         spawn: @escaping @EmuActor @Sendable (ScenarioMachine) -> Void) {
        self.name = name
        self.summary = summary
        self.xres = xres
        self.cpus = cpus
        self.spawn = spawn
    }

    package static let all: [Scenario] = [
        wpRace, twoOpeners, closeStillImage, remapOffset, workAfterClose, faultWhileListed, removal, twoNodes,
        failedOpen, fbtftProbe, damageTail, pfnMtime, privateFirst, threadsOnTwoCPUs,
    ]

    package static func named(_ name: String) -> Scenario? { all.first { $0.name == name } }

    /// The listing of `fbdefio-emu scenarios`.
    package static var table: String {
        all.map { $0.name.padded(20) + $0.summary }.joined(separator: "\n")
    }
}

/// A process that ignores the fault it took (a program that handles SIGBUS by stopping).
@EmuActor private func stopOnSignal(_ body: () throws -> Void) throws {
    do { try body() } catch is UserFault { return }
}

extension Scenario {
    /// Bugs A and H, the missing TLB flush, scenario 22: a writer rewrites four pages while another process fsyncs
    /// in a loop, so the worker runs at any point of a write fault.
    static let wpRace = Scenario(
        name: "wp-race",
        summary: "writer rewrites 4 pages in rounds while another process fsyncs in a loop (bugs A, H; TLB flush)"
    ) { m in
        m.kernel.spawnProcess("writer") { t in
            let (fd, a) = try m.map(t)
            for round in 1 ... 3 {
                for p in 0 ..< 4 where !m.shouldStop {
                    try t.store8(a + p * PAGE_SIZE + round, UInt8(round * 16 + p))
                }
                m.kernel.sched.sleep(until: m.kernel.now + .us(50))
            }
            try t.fsync(fd)
            m.expectDisplayed("after the writer's last fsync")
        }
        m.kernel.spawnProcess("fsyncer") { t in
            let (fd, _) = try m.map(t, opener: 1)
            for _ in 0 ..< 6 where !m.shouldStop {
                try t.fsync(fd)
                m.kernel.sched.sleep(until: m.kernel.now + .us(30))
            }
        }
    }

    /// The missing TLB flush on an SMP machine: two threads of one process on two CPUs write the same pages; the
    /// worker's write-protect must reach the other CPU's TLB (a shootdown), or that thread's later stores go through
    /// a stale writable entry without a fault and never reach the panel.
    static let threadsOnTwoCPUs = Scenario(
        name: "threads-two-cpus",
        summary: "two threads of one process on two CPUs rewrite the same 2 pages while a third fsyncs (TLB flush)",
        cpus: 2
    ) { m in
        m.kernel.spawnProcess("writer", cpu: 0) { t in
            let (fd, a) = try m.map(t)
            let other = t.clone("thread", cpu: 1) { u in
                for round in 1 ... 4 where !m.shouldStop {
                    for p in 0 ..< 2 { try u.store8(a + p * PAGE_SIZE + 8 + round, UInt8(0x80 | round << 2 | p)) }
                    m.kernel.sched.sleep(until: m.kernel.now + .us(40))
                }
            }
            for round in 1 ... 4 where !m.shouldStop {
                for p in 0 ..< 2 { try t.store8(a + p * PAGE_SIZE + round, UInt8(round << 2 | p)) }
                m.kernel.sched.sleep(until: m.kernel.now + .us(40))
            }
            while other.exitStatus == .running { m.kernel.sched.sleep(until: m.kernel.now + .us(20)) }
            try t.fsync(fd)
            m.expectDisplayed("after both threads' last writes and an fsync")
        }
        m.kernel.spawnProcess("fsyncer", cpu: 1) { t in
            let (fd, _) = try m.map(t, opener: 1)
            for _ in 0 ..< 8 where !m.shouldStop {
                try t.fsync(fd)
                m.kernel.sched.sleep(until: m.kernel.now + .us(25))
            }
        }
    }

    /// Bug D: two descriptors, the first closed while the other keeps drawing.
    static let twoOpeners = Scenario(
        name: "two-openers",
        summary: "one process opens twice, closes one descriptor, keeps drawing through the other (bug D)"
    ) { m in
        m.kernel.spawnProcess("app") { t in
            let (fd, a) = try m.map(t)
            let other = try t.open(m.info.node)
            try t.store8(a, 1)
            try t.store8(a + PAGE_SIZE, 1)
            try t.close(other)  // not the last close: the mapping and `fd` remain
            for round in 2 ... 4 where !m.shouldStop {
                try t.store8(a + round, UInt8(round))
                try t.store8(a + 2 * PAGE_SIZE + round, UInt8(round))
                m.kernel.sched.sleep(until: m.kernel.now + .ms(12))
            }
            try t.fsync(fd)
            m.expectDisplayed("after the last fsync", pages: [0, 1, 2])
        }
        m.kernel.spawnProcess("daemon") { t in
            let (_, a) = try m.map(t, opener: 1)
            m.kernel.sched.sleep(until: .ms(5))
            try t.store8(a + 3 * PAGE_SIZE, 7)
        }
    }

    /// Bug E: a still image drawn, unmapped and closed before the delay.
    static let closeStillImage = Scenario(
        name: "close-still-image",
        summary: "a program draws a still image, unmaps and closes at once; it must show (at the last close since 6.8) (bug E)"
    ) { m in
        m.kernel.spawnProcess("still") { t in
            let (fd, a) = try m.map(t)
            for p in 0 ..< 3 { try t.store8(a + p * PAGE_SIZE, UInt8(0x40 + p)) }
            try t.munmap(a, length: m.info.fix.smemLen)
            if try m.close(t, fd), m.flushesAtLastClose { m.expectDisplayed("when the last close returned") }
        }
        // Before 6.2 nothing happens at close and the pending work shows the image after the delay; with 6.3–6.7's
        // cancel it never shows.
        m.whenQuiescent { m.expectDisplayed("once everything ended") }
        m.kernel.spawnProcess("viewer") { t in
            _ = try m.close(t, try m.open(t))
        }
    }

    /// Bug F: the syzkaller reproducer — one page mapped at a fixed address at a high file offset, written, then
    /// the same address mapped at offset 0 and written.
    static let remapOffset = Scenario(
        name: "remap-offset",
        summary: "map the last page at address X, write; map page 0 at X (MAP_FIXED), write; fsync (bug F)"
    ) { m in
        m.kernel.spawnProcess("remap") { t in
            let last = (m.info.fix.smemLen >> PAGE_SHIFT) - 1
            let x = VirtAddr(0x1000_0000)  // a fixed address below the mmap base
            let (fd, _) = try m.map(t, pages: 1, offset: last, at: x)
            try t.store8(x, 0x55)
            _ = try t.mmap(x, length: PAGE_SIZE, prot: .readWrite, flags: [.shared, .fixed], fd: fd, offset: 0)
            try t.store8(x + 8, 0x66)
            try t.fsync(fd)
            m.expectDisplayed("after fsync", pages: [0, (m.info.fix.smemLen >> PAGE_SHIFT) - 1])
        }
        m.kernel.spawnProcess("other") { t in
            let (_, a) = try m.map(t, opener: 1)
            try t.store8(a + 2 * PAGE_SIZE, 1)
        }
    }

    /// Bug C: pages still queued after the last close, then the driver reallocates its memory (a mode change).
    static let workAfterClose = Scenario(
        name: "work-after-close",
        summary: "write, unmap, close, then the driver changes mode (reallocates the framebuffer) (bug C)"
    ) { m in
        m.kernel.spawnProcess("app") { t in
            let (fd, a) = try m.map(t)
            try t.store8(a + PAGE_SIZE, 9)
            try t.munmap(a, length: m.info.fix.smemLen)
            try t.close(fd)
        }
        m.kernel.spawnProcess("modeset") { t in
            let fd = try t.open(m.info.node)
            try t.close(fd)
            m.kernel.sched.sleep(until: m.kernel.now + .us(200))
            _ = m.info.reallocateScreen()  // the application closed long ago
            m.resetPanel()  // the driver's full update after set_par
        }
    }

    /// Bug B: a second process's first touch of a listed page (its fault re-initialises the list node), then
    /// another page is listed.
    static let faultWhileListed = Scenario(
        name: "fault-while-listed",
        summary: "A writes page 0; B's first read of page 0 faults while it is listed; A writes page 1 (bug B)"
    ) { m in
        m.kernel.spawnProcess("A") { t in
            let (fd, a) = try m.map(t)
            try t.store8(a, 1)
            m.kernel.sched.sleep(until: m.kernel.now + .us(100))
            try t.store8(a + PAGE_SIZE, 2)
            try t.fsync(fd)
            m.expectDisplayed("after fsync", pages: [0, 1])
        }
        m.kernel.spawnProcess("B") { t in
            let (_, a) = try m.map(t, opener: 1)
            m.kernel.sched.sleep(until: m.kernel.now + .us(50))
            _ = try t.load8(a)
        }
    }

    /// Bugs G and N: the device is unplugged while a process keeps writing through its mapping.
    static let removal = Scenario(
        name: "removal",
        summary: "a writer keeps writing while the device is unplugged (cleanup) under its mapping (bugs G, N)"
    ) { m in
        m.kernel.spawnProcess("writer") { t in
            let (_, a) = try m.map(t)
            try stopOnSignal {
                for round in 1 ... 4 where !m.shouldStop {
                    for p in 0 ..< 3 { try t.store8(a + p * PAGE_SIZE + round, UInt8(round)) }
                    m.kernel.sched.sleep(until: m.kernel.now + .us(40))
                }
                _ = try t.load8(a + 5 * PAGE_SIZE)  // a first touch after the removal
            }
        }
        m.kernel.spawnProcess("unplug") { t in
            m.kernel.sched.sleep(until: m.kernel.now + .us(60))
            if m.env.deviceRemoval { fbDeferredIOCleanup(m.info) }
        }
    }

    /// Bug I: the second process opens (another node of) the device after the first mapped it.
    static let twoNodes = Scenario(
        name: "two-nodes",
        summary: "A maps /dev/fb0 and draws; B opens the device later (a second node with bug I) (bug I)"
    ) { m in
        m.kernel.spawnProcess("A") { t in
            let (fd, a) = try m.map(t)
            for round in 1 ... 3 where !m.shouldStop {
                try t.store8(a + round, UInt8(round))
                m.kernel.sched.sleep(until: m.kernel.now + .ms(10))
            }
            try t.fsync(fd)
            m.expectDisplayed("after A's fsync", pages: [0])
        }
        m.kernel.spawnProcess("B") { t in
            m.kernel.sched.sleep(until: m.kernel.now + .ms(1))
            let (_, a) = try m.map(t, opener: 1)
            try t.store8(a + 4 * PAGE_SIZE, 3)
        }
    }

    /// Bug M: one opener's driver open fails; the other's last close must still flush.
    static let failedOpen = Scenario(
        name: "failed-open",
        summary: "the driver's open fails for one process; another draws and closes last (bug M)"
    ) { m in
        m.kernel.spawnProcess("probe") { t in
            if let fd = try? m.open(t) { _ = try m.close(t, fd) }
        }
        m.kernel.spawnProcess("app") { t in
            m.kernel.sched.sleep(until: m.kernel.now + .us(10))
            let (fd, a) = try m.map(t)
            try t.store8(a + PAGE_SIZE, 0x31)
            try t.munmap(a, length: m.info.fix.smemLen)
            if try m.close(t, fd), m.flushesAtLastClose { m.expectDisplayed("when the last close returned") }
        }
    }

    /// Bug K: a program draws on a panel whose driver set up deferred I/O before it knew the framebuffer's size.
    static let fbtftProbe = Scenario(
        name: "fbtft-probe",
        summary: "two programs open, map and draw on a freshly probed fbtft-style panel, then fsync (bug K)"
    ) { m in
        for i in 0 ..< 2 {
            m.kernel.spawnProcess("app\(i)") { t in
                let (fd, a) = try m.map(t)
                try t.store8(a + i * PAGE_SIZE, UInt8(0x70 + i))
                try t.fsync(fd)
                m.expectDisplayed("after app\(i)'s fsync", pages: [i])
            }
        }
    }

    /// Bug J: DRM fbdev emulation behind the list, and a write to the page-rounded tail past the last visible line.
    static let damageTail = Scenario(
        name: "damage-tail",
        summary: "DRM fbdev emulation (simpledrm); a write to the last page's tail past yres, then fsync (bug J)",
        xres: 1000
    ) { m in
        let drm = makePanelDriver(PanelProfile.named("simpledrm")!, for: m.info, options: m.variant.switches.panel)
        m.info.fbdefio!.deferredIO = { info, refs in drm.deferredIO(info, refs) }
        m.kernel.spawnProcess("app") { t in
            let (fd, a) = try m.map(t)
            try t.store8(a + (m.info.fix.smemLen - 1), 0xEE)  // beyond yres × line_length
            try t.store8(a + 5, 0x11)
            try t.fsync(fd)
            drm.flush()
            for case .damageClipPastYres(let clip, let yres, let past) in drm.panel.diagnostics {
                m.checkers.report(.oops, "the DRM damage blit of clip \(clip) runs \(past) bytes past the "
                    + "framebuffer's \(yres) visible lines: an out-of-bounds copy in the damage worker")
                return
            }
        }
        m.kernel.spawnProcess("viewer") { t in
            let (_, a) = try m.map(t, opener: 1)
            _ = try t.load8(a)
        }
    }

    /// Bug L: a DAX-like PFN-mapped file, read first, then written.
    static let pfnMtime = Scenario(
        name: "pfn-mtime",
        summary: "a PFN-mapped shared file is read, then written: the write must be notified (bug L)"
    ) { m in
        let dev = ScratchDevice(m.kernel, pages: 2, mkwrite: .lockedLikeFBDefio, pfnMap: true,
                                pfnMkwrite: !m.env.pfnMapWithoutPfnMkwrite)
        for i in 0 ..< 2 {
            m.kernel.spawnProcess("dax\(i)") { t in
                let fd = try t.open(dev.inode)
                let a = try t.mmap(length: 2 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
                _ = try t.load8(a + i * PAGE_SIZE)
                let before = dev.inode.mtime
                m.kernel.sched.sleep(until: m.kernel.now + .us(5))
                try t.store8(a + i * PAGE_SIZE, 1)
                if dev.inode.mtime == before && !dev.log.contains(where: { $0.hasSuffix("pfn_mkwrite \(i)") }) {
                    m.checkers.report(.notification, "the write to page \(i) of a PFN-mapped shared file reached "
                        + "memory without ->pfn_mkwrite: mtime not updated, no dirty tracking", page: i, pid: t.pid)
                }
            }
        }
    }

    /// Bug O: a private mapping sorts first in i_mmap; `wp_shared_mapping_range` must still protect the shared ones.
    static let privateFirst = Scenario(
        name: "private-first",
        summary: "shared writers of a file, maybe a private mapping first in i_mmap; wp_shared_mapping_range (bug O)"
    ) { m in
        let dev = ScratchDevice(m.kernel, pages: 2, mkwrite: .lockedLikeFBDefio)
        if m.env.privateMappingFirst {
            m.kernel.spawnProcess("private") { t in
                let fd = try t.open(dev.inode)
                _ = try t.mmap(length: 2 * PAGE_SIZE, prot: .readWrite, flags: .private, fd: fd)
                m.kernel.sched.sleep(until: m.kernel.now + .ms(1))
            }
        }
        for i in 0 ..< 2 {
            m.kernel.spawnProcess("shared\(i)") { t in
                m.kernel.sched.sleep(until: m.kernel.now + .us(10))
                let fd = try t.open(dev.inode)
                let a = try t.mmap(length: 2 * PAGE_SIZE, prot: .readWrite, flags: .shared, fd: fd)
                try t.store8(a + i * PAGE_SIZE, 1)
                m.kernel.sched.sleep(until: m.kernel.now + .us(50))
                if i == 0 {
                    _ = m.kernel.wpSharedMappingRange(dev.inode.mapping, firstIndex: PgOff(0), nr: 2)
                    for other in m.kernel.processes where other.name.hasPrefix("shared") {
                        for vma in other.mm.vmas where vma.flags.contains(.shared) && vma.file?.inode === dev.inode {
                            for p in 0 ..< (vma.end - vma.start) >> PAGE_SHIFT where other.mm.pte(at: vma.start + p * PAGE_SIZE).isWrite {
                                m.checkers.report(.rearm, "after wp_shared_mapping_range, \(other.name)'s PTE of page "
                                    + "\(p) is still writable", page: p, pid: other.pid)
                            }
                        }
                    }
                }
                m.kernel.sched.sleep(until: m.kernel.now + .us(100))
            }
        }
    }
}

