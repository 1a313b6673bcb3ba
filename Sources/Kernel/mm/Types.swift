// SPDX-License-Identifier: MIT — units and flag words of the mm (kernel: include/linux/mm.h, mm_types.h, mman.h).

/// Kernel: PAGE_SHIFT / PAGE_SIZE (x86-64, 4 KiB pages).
// Computed, so that other modules' fast paths fold them to constants instead of calling a global's accessor.
@inlinable public var PAGE_SHIFT: Int { 12 }
@inlinable public var PAGE_SIZE: Int { 1 << PAGE_SHIFT }

/// A page frame number: the index of a physical page. Kernel: `unsigned long pfn`, page_to_pfn().
public struct PFN: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: Int
    package init(_ rawValue: Int) { self.rawValue = rawValue }
    public static func < (a: PFN, b: PFN) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "pfn#\(String(rawValue, radix: 16))" }
}

/// A page index within a file (or a device's memory). Kernel: `pgoff_t`.
public struct PgOff: Hashable, Comparable, Sendable, CustomStringConvertible, Strideable {
    public var rawValue: Int
    public init(_ rawValue: Int) { self.rawValue = rawValue }
    public static func < (a: PgOff, b: PgOff) -> Bool { a.rawValue < b.rawValue }
    public func distance(to other: PgOff) -> Int { other.rawValue - rawValue }
    public func advanced(by n: Int) -> PgOff { PgOff(rawValue + n) }
    /// The byte offset of the page's first byte. Kernel: `pgoff << PAGE_SHIFT`.
    package var byteOffset: Int { rawValue << PAGE_SHIFT }
    public var description: String { "pgoff \(rawValue)" }
}

/// A user virtual address. Kernel: `unsigned long address` in a `vm_fault` or syscall.
public struct VirtAddr: Hashable, Comparable, Sendable, CustomStringConvertible, Strideable {
    public var rawValue: UInt64
    @inlinable package init(_ rawValue: UInt64) { self.rawValue = rawValue }
    @inlinable package init(_ rawValue: Int) { self.rawValue = UInt64(rawValue) }
    @inlinable public static func < (a: VirtAddr, b: VirtAddr) -> Bool { a.rawValue < b.rawValue }
    @inlinable public func distance(to other: VirtAddr) -> Int { Int(bitPattern: UInt(other.rawValue &- rawValue)) }
    @inlinable public func advanced(by n: Int) -> VirtAddr {
        VirtAddr(UInt64(bitPattern: Int64(bitPattern: rawValue) &+ Int64(n)))
    }
    /// Virtual page number.
    @inlinable package var vpn: UInt64 { rawValue >> UInt64(PAGE_SHIFT) }
    /// Kernel: `address & PAGE_MASK`
    @inlinable package var pageAligned: VirtAddr { VirtAddr(rawValue & ~UInt64(PAGE_SIZE - 1)) }
    @inlinable package var offsetInPage: Int { Int(rawValue & UInt64(PAGE_SIZE - 1)) }
    @inlinable package var isPageAligned: Bool { offsetInPage == 0 }
    @inlinable public static func + (a: VirtAddr, n: Int) -> VirtAddr { a.advanced(by: n) }
    @inlinable public static func - (a: VirtAddr, b: VirtAddr) -> Int { b.distance(to: a) }
    public var description: String { "0x" + String(rawValue, radix: 16) }
}

/// Rounds a byte count up to whole pages. Kernel: PAGE_ALIGN().
public func pageAlign(_ bytes: Int) -> Int { (bytes + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1) }

/// Error numbers returned by the emulated system calls. Kernel: include/uapi/asm-generic/errno-base.h
public enum Errno: Int32, Error, Sendable, CustomStringConvertible {
    case EPERM = 1, ENOENT = 2, EBADF = 9, ENOMEM = 12, EACCES = 13, EFAULT = 14, EBUSY = 16, ENODEV = 19
    case EINVAL = 22, ENOSPC = 28, EOVERFLOW = 75
    public var description: String {
        switch self {
        case .EPERM: "EPERM"
        case .ENOENT: "ENOENT"
        case .EBADF: "EBADF"
        case .ENOMEM: "ENOMEM"
        case .EACCES: "EACCES"
        case .EFAULT: "EFAULT"
        case .EBUSY: "EBUSY"
        case .ENODEV: "ENODEV"
        case .EINVAL: "EINVAL"
        case .ENOSPC: "ENOSPC"
        case .EOVERFLOW: "EOVERFLOW"
        }
    }
}

/// Flags of a VMA, with the kernel's bit values. Kernel: `vm_flags_t`, VM_* in include/linux/mm.h.
public struct VMFlags: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    package static let read = VMFlags(rawValue: 0x1)
    package static let write = VMFlags(rawValue: 0x2)
    package static let exec = VMFlags(rawValue: 0x4)
    package static let shared = VMFlags(rawValue: 0x8)
    package static let mayRead = VMFlags(rawValue: 0x10)
    package static let mayWrite = VMFlags(rawValue: 0x20)
    package static let mayExec = VMFlags(rawValue: 0x40)
    package static let mayShare = VMFlags(rawValue: 0x80)
    package static let pfnMap = VMFlags(rawValue: 0x400)
    package static let io = VMFlags(rawValue: 0x4000)
    package static let dontCopy = VMFlags(rawValue: 0x20000)
    package static let dontExpand = VMFlags(rawValue: 0x40000)
    package static let hugetlb = VMFlags(rawValue: 0x40_0000)
    package static let dontDump = VMFlags(rawValue: 0x400_0000)
    package static let mixedMap = VMFlags(rawValue: 0x1000_0000)

    static let names: [(VMFlags, String)] = [
        (.read, "rd"), (.write, "wr"), (.exec, "ex"), (.shared, "sh"), (.mayRead, "mr"), (.mayWrite, "mw"),
        (.mayExec, "me"), (.mayShare, "ms"), (.pfnMap, "pf"), (.io, "io"), (.dontCopy, "dc"),
        (.dontExpand, "de"), (.hugetlb, "ht"), (.dontDump, "dd"), (.mixedMap, "mm"),
    ]
    /// The two-letter mnemonics of /proc/PID/smaps "VmFlags:".
    public var description: String { Self.names.filter { contains($0.0) }.map(\.1).joined(separator: " ") }
}

/// Protection bits of mmap/mprotect. Kernel: PROT_* in include/uapi/asm-generic/mman-common.h
public struct Prot: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    package static let none: Prot = []
    package static let read = Prot(rawValue: 0x1)
    package static let write = Prot(rawValue: 0x2)
    package static let exec = Prot(rawValue: 0x4)
    public static let readWrite: Prot = [.read, .write]
}

/// Flags of mmap. Kernel: MAP_* in include/uapi/asm-generic/mman-common.h and linux/mman.h
public struct MapFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let shared = MapFlags(rawValue: 0x01)
    package static let `private` = MapFlags(rawValue: 0x02)
    package static let fixed = MapFlags(rawValue: 0x10)
    package static let anonymous = MapFlags(rawValue: 0x20)
}

/// Faults a user access can end in, delivered to the fake process as a Swift error it may catch.
/// Kernel: force_sig_fault() with SIGSEGV/SIGBUS codes, the OOM path, and (emulator only) livelock detection.
public enum UserFault: Error, Equatable, Sendable, CustomStringConvertible {
    public enum SegvCode: Sendable, Equatable { case mapErr, accErr }
    /// SIGSEGV: no VMA (`SEGV_MAPERR`) or the VMA forbids the access (`SEGV_ACCERR`).
    case sigsegv(VirtAddr, SegvCode)
    /// SIGBUS (`BUS_ADRERR`): a driver refused the page (past the end, device gone).
    case sigbus(VirtAddr)
    /// VM_FAULT_OOM on a user fault where the kernel still OOM-killed the faulting task (≤ 5.15; since 5.16 the
    /// access is retried instead).
    case oom(VirtAddr)
    /// The same access faulted again and again without progress: reported and the task killed.
    case livelock(VirtAddr, attempts: Int)

    public var description: String {
        switch self {
        case .sigsegv(let a, .mapErr): "SIGSEGV (SEGV_MAPERR) at \(a)"
        case .sigsegv(let a, .accErr): "SIGSEGV (SEGV_ACCERR) at \(a)"
        case .sigbus(let a): "SIGBUS (BUS_ADRERR) at \(a)"
        case .oom(let a): "OOM kill on a fault at \(a)"
        case .livelock(let a, let n): "LIVELOCK: \(n) fault attempts at \(a) without progress"
        }
    }
}
