// SPDX-License-Identifier: MIT — virtually contiguous kernel memory from scattered pages (kernel: mm/vmalloc.c).

/// The kernel's own virtual mappings of scattered pages. Kernel: mm/vmalloc.c
@EmuActor public final class Vmalloc {
    /// Kernel: VMALLOC_START on x86-64 with 4-level paging.
    package static let start: UInt64 = 0xFFFF_C900_0000_0000
    package static let end: UInt64 = 0xFFFF_E8FF_FFFF_FFFF
    unowned(unsafe) let phys: PhysicalMemory
    private var areas: [(base: UInt64, pfns: [PFN])] = []
    private var next: UInt64 = Vmalloc.start

    package init(phys: PhysicalMemory) { self.phys = phys }

    /// Allocates `size` bytes of zeroed, virtually contiguous kernel memory; nil if RAM runs out. A guard page is
    /// left after each area, as the kernel does. Kernel: vmalloc() / vzalloc()
    public func vmalloc(_ size: Int) -> UInt64? {
        precondition(size > 0)
        let n = pageAlign(size) >> PAGE_SHIFT
        var pfns: [PFN] = []
        for _ in 0 ..< n {
            guard let p = phys.allocPage(zeroed: true) else {
                pfns.forEach(phys.putPage)
                return nil
            }
            phys.frames[p.rawValue].flags.insert(.vmalloc)
            pfns.append(p)
        }
        let base = next
        next += UInt64((n + 1) << PAGE_SHIFT)
        areas.append((base, pfns))
        return base
    }

    /// Frees an area returned by `vmalloc`. Pages still referenced elsewhere (for example by a user PTE) live on
    /// until their last reference goes. Kernel: vfree()
    package func vfree(_ addr: UInt64) {
        guard let i = areas.firstIndex(where: { $0.base == addr }) else {
            preconditionFailure("vfree of an address vmalloc never returned")
        }
        for p in areas[i].pfns {
            phys.frames[p.rawValue].flags.remove(.vmalloc)
            phys.putPage(p)
        }
        areas.remove(at: i)
    }

    /// Kernel: is_vmalloc_addr()
    package func isVmallocAddr(_ addr: UInt64) -> Bool {
        areas.contains { addr >= $0.base && addr < $0.base + UInt64($0.pfns.count << PAGE_SHIFT) }
    }

    /// The page backing a vmalloc address. Kernel: vmalloc_to_page() / vmalloc_to_pfn()
    public func vmallocToPage(_ addr: UInt64) -> PFN? {
        for a in areas where addr >= a.base && addr < a.base + UInt64(a.pfns.count << PAGE_SHIFT) {
            return a.pfns[Int((addr - a.base) >> UInt64(PAGE_SHIFT))]
        }
        return nil
    }

    /// Calls `body(kernel bytes, offset into the caller's buffer, length)` for each page-sized piece of
    /// [addr, addr + count), in ascending order.
    private func forEachPiece(_ addr: UInt64, _ count: Int, _ what: String,
                              _ body: (UnsafeMutableRawPointer, Int, Int) -> Void) {
        var done = 0
        while done < count {
            let a = addr + UInt64(done)
            guard let pfn = vmallocToPage(a) else { preconditionFailure("vmalloc \(what) outside an area") }
            let off = Int(a & UInt64(PAGE_SIZE - 1))
            let n = min(PAGE_SIZE - off, count - done)
            body(phys.address(of: pfn) + off, done, n)
            done += n
        }
    }

    /// Copies bytes into a vmalloc area from the kernel side (for example fbcon drawing into the screen buffer).
    package func write(_ addr: UInt64, _ bytes: UnsafeRawBufferPointer) {
        forEachPiece(addr, bytes.count, "write") { page, done, n in
            page.copyMemory(from: bytes.baseAddress! + done, byteCount: n)
        }
    }

    /// Reads bytes of a vmalloc area.
    package func read(_ addr: UInt64, into out: UnsafeMutableRawBufferPointer) {
        forEachPiece(addr, out.count, "read") { page, done, n in
            (out.baseAddress! + done).copyMemory(from: page, byteCount: n)
        }
    }
}
