// SPDX-License-Identifier: MIT — virtual time, jiffies and the cost table (kernel: kernel/time/, include/linux/jiffies.h).

/// A point on the virtual clock, in picoseconds since boot (so sub-nanosecond costs such as one copied byte add up
/// exactly). 2^63 ps is about 106 days of virtual time.
public struct VirtualTime: Comparable, Hashable, Sendable, CustomStringConvertible {
    package var picoseconds: Int64
    package init(picoseconds: Int64) { self.picoseconds = picoseconds }
    package static func ns(_ n: Int64) -> VirtualTime { VirtualTime(picoseconds: n &* 1000) }
    public static func us(_ n: Int64) -> VirtualTime { VirtualTime(picoseconds: n &* 1_000_000) }
    package static func ms(_ n: Int64) -> VirtualTime { VirtualTime(picoseconds: n &* 1_000_000_000) }
    package static let zero = VirtualTime(picoseconds: 0)
    public var nanoseconds: Int64 { picoseconds / 1000 }
    public static func < (a: VirtualTime, b: VirtualTime) -> Bool { a.picoseconds < b.picoseconds }
    public static func + (a: VirtualTime, b: VirtualTime) -> VirtualTime {
        VirtualTime(picoseconds: a.picoseconds &+ b.picoseconds)
    }
    public static func - (a: VirtualTime, b: VirtualTime) -> VirtualTime {
        VirtualTime(picoseconds: a.picoseconds &- b.picoseconds)
    }
    /// "12.345678ms"-style rendering with fixed precision, for traces and summaries.
    public var description: String {
        let ns = nanoseconds
        let magnitude = ns.magnitude
        let ms = magnitude / 1_000_000, frac = magnitude % 1_000_000
        let digits = String(frac)
        return "\(ns < 0 ? "-" : "")\(ms).\(String(repeating: "0", count: 6 - digits.count))\(digits)ms"
    }
}

/// A count of timer ticks. Kernel: `unsigned long jiffies`, include/linux/jiffies.h.
public struct Jiffies: Comparable, Hashable, Sendable, CustomStringConvertible {
    package var rawValue: Int64
    package init(_ rawValue: Int64) { self.rawValue = rawValue }
    public static func < (a: Jiffies, b: Jiffies) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "\(rawValue)j" }
}

/// The tick rate and the conversions a driver sees. Kernel: `HZ`, `msecs_to_jiffies()`, `jiffies_to_msecs()`.
public struct TickRate: Hashable, Sendable {
    /// Ticks per second. Kernel: `CONFIG_HZ` (100, 250, 300 or 1000).
    package let hz: Int64
    package static let allowed: [Int64] = [100, 250, 300, 1000]
    public init(hz: Int64) {
        precondition(hz > 0 && hz <= 1_000_000, "HZ out of range")
        self.hz = hz
    }
    /// Length of one tick.
    package var tick: VirtualTime { VirtualTime(picoseconds: 1_000_000_000_000 / hz) }
    /// The tick count at a given time. Kernel: `jiffies` (here starting at 0 at boot).
    package func jiffies(at t: VirtualTime) -> Jiffies { Jiffies(t.picoseconds / tick.picoseconds) }
    /// The time at which the tick counter reaches `j`.
    package func time(of j: Jiffies) -> VirtualTime { VirtualTime(picoseconds: j.rawValue &* tick.picoseconds) }
    /// Rounds up, as the kernel does, so that a non-zero delay never becomes zero ticks.
    /// Kernel: msecs_to_jiffies() — include/linux/jiffies.h
    public func msecsToJiffies(_ ms: Int64) -> Jiffies { Jiffies((ms * hz + 999) / 1000) }
    /// Kernel: jiffies_to_msecs() — kernel/time/time.c
    package func jiffiesToMsecs(_ j: Jiffies) -> Int64 { (j.rawValue * 1000 + hz - 1) / hz }
}

/// What each emulated operation costs on the virtual clock (DESIGN.md §3: time advances with work).
///
/// The defaults are orders of magnitude from BASELINES.md (a 2-core x86-64 host): a minor fault is about a
/// microsecond, write-protecting one PTE about 70 ns, a page copy a few hundred ns. Only relative sizes matter for
/// the interleavings; the panel models (bus time) dominate any real deferred-I/O cycle.
public struct CostTable: Sendable, Equatable {
    /// One load or store instruction through a TLB hit (any width up to 8 bytes).
    package var access: VirtualTime
    /// Each byte of a bulk span store or copy beyond the first access.
    package var copyByte: VirtualTime
    /// A software-TLB miss that the page-table walk resolves without a fault.
    package var tlbRefill: VirtualTime
    /// Exception entry and exit plus `handle_mm_fault` dispatch, per attempt (a RETRY pays it again).
    package var faultEntry: VirtualTime
    /// Calling a driver hook (`->fault`, `->page_mkwrite`, `->pfn_mkwrite`), excluding what it does.
    package var hookCall: VirtualTime
    /// `file_update_time()` on the device inode.
    package var fileUpdateTime: VirtualTime
    /// Taking or releasing an uncontended lock.
    package var lock: VirtualTime
    /// Writing one PTE (install or upgrade).
    package var pteUpdate: VirtualTime
    /// Write-protecting and cleaning one PTE (BASELINES.md: ≈70 ns per PTE); the TLB flush that follows is charged
    /// separately as `tlbFlushPage`.
    package var pteWrprotect: VirtualTime
    /// Flushing one TLB entry (`flush_tlb_page`).
    package var tlbFlushPage: VirtualTime
    /// Flushing a range: base cost; each page in it adds `tlbFlushRangePerPage`.
    package var tlbFlushRange: VirtualTime
    package var tlbFlushRangePerPage: VirtualTime
    /// A TLB shootdown: the IPI to the other CPUs that ran the address space and the wait for their
    /// acknowledgement (x86 measurements put one round trip at 1.5–3 µs); each CPU beyond the first adds a little.
    package var tlbShootdown: VirtualTime
    package var tlbShootdownPerCPU: VirtualTime
    /// Allocating one page frame (page allocator fast path).
    package var pageAlloc: VirtualTime
    /// Entering and leaving a system call.
    package var syscall: VirtualTime
    /// VMA bookkeeping in mmap/munmap/mprotect/fork, per VMA touched.
    package var vmaUpdate: VirtualTime
    /// Visiting one VMA in a reverse-map or page-mapping walk.
    package var rmapVisit: VirtualTime

    /// The default costs (BASELINES.md orders of magnitude).
    public init() {
        access = VirtualTime(picoseconds: 1_000)
        copyByte = VirtualTime(picoseconds: 100)
        tlbRefill = VirtualTime.ns(30)
        faultEntry = VirtualTime.ns(600)
        hookCall = VirtualTime.ns(50)
        fileUpdateTime = VirtualTime.ns(100)
        lock = VirtualTime.ns(20)
        pteUpdate = VirtualTime.ns(20)
        pteWrprotect = VirtualTime.ns(70)
        tlbFlushPage = VirtualTime.ns(100)
        tlbFlushRange = VirtualTime.ns(200)
        tlbFlushRangePerPage = VirtualTime.ns(5)
        tlbShootdown = VirtualTime.ns(2000)
        tlbShootdownPerCPU = VirtualTime.ns(300)
        pageAlloc = VirtualTime.ns(150)
        syscall = VirtualTime.ns(100)
        vmaUpdate = VirtualTime.ns(400)
        rmapVisit = VirtualTime.ns(25)
    }

    /// Every operation free (`CostTable.zero`): a field added to the table must be given here too, or this does
    /// not compile.
    private init(allZero: Void) {
        access = .zero
        copyByte = .zero
        tlbRefill = .zero
        faultEntry = .zero
        hookCall = .zero
        fileUpdateTime = .zero
        lock = .zero
        pteUpdate = .zero
        pteWrprotect = .zero
        tlbFlushPage = .zero
        tlbFlushRange = .zero
        tlbFlushRangePerPage = .zero
        tlbShootdown = .zero
        tlbShootdownPerCPU = .zero
        pageAlloc = .zero
        syscall = .zero
        vmaUpdate = .zero
        rmapVisit = .zero
    }

    public static let zero = CostTable(allZero: ())
    public static let `default` = CostTable()

    /// The cost of copying `bytes` bytes.
    @inline(__always) package func copy(_ bytes: Int) -> VirtualTime {
        VirtualTime(picoseconds: copyByte.picoseconds &* Int64(bytes))
    }
}
