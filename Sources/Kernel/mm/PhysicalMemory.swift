// SPDX-License-Identifier: MIT — RAM and struct page (kernel: mm/page_alloc.c, include/linux/mm_types.h,
// mm/filemap.c for the page lock).
import DequeModule
#if canImport(Glibc)
import Glibc
#endif

/// Per-page flag bits. Kernel: `enum pageflags` (PG_locked, PG_dirty, …) in include/linux/page-flags.h.
package struct PageFlags: OptionSet, Hashable, Sendable {
    package let rawValue: UInt32
    package init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Kernel: PG_locked — the page lock (folio_lock).
    package static let locked = PageFlags(rawValue: 1 << 0)
    /// Kernel: PG_dirty
    package static let dirty = PageFlags(rawValue: 1 << 1)
    /// Kernel: PG_reserved — never freed (the shared zero page).
    package static let reserved = PageFlags(rawValue: 1 << 2)
    /// Kernel: PageTable() — the page holds page-table entries.
    package static let pageTable = PageFlags(rawValue: 1 << 3)
    /// Kernel: PG_anon_exclusive — an anonymous page mapped by exactly one process (COW reuse).
    package static let anonExclusive = PageFlags(rawValue: 1 << 4)
    /// Allocated by vmalloc (emulator bookkeeping; the kernel knows it from the vmap area).
    package static let vmalloc = PageFlags(rawValue: 1 << 5)
}

/// What `page->mapping` points at, with the kernel's type tag in its low two bits.
///
/// The upper bits are the id of an `AddressSpace` or `AnonVMA` registered with the physical memory; the tag says
/// which. Kernel: PAGE_MAPPING_ANON (1), PAGE_MAPPING_MOVABLE (2), PAGE_MAPPING_KSM (3) — include/linux/page-flags.h.
package struct PageMapping: Hashable, Sendable, CustomStringConvertible {
    package enum Tag: UInt, Sendable { case file = 0, anon = 1, movable = 2, ksm = 3 }
    package let raw: UInt
    package init(raw: UInt) { self.raw = raw }
    package init(id: Int, tag: Tag) {
        precondition(id > 0, "mapping ids start at 1 (0 is NULL)")
        raw = UInt(id) << 2 | tag.rawValue
    }
    /// Kernel: `page->mapping == NULL`
    package static let none = PageMapping(raw: 0)
    package var isNone: Bool { raw == 0 }
    package var tag: Tag { Tag(rawValue: raw & 3)! }
    package var id: Int { Int(raw >> 2) }
    /// Kernel: PageAnon()
    package var isAnon: Bool { !isNone && raw & 1 == 1 }
    package var description: String { isNone ? "NULL" : "\(tag)#\(id)" }
}

/// The metadata of one physical page. Kernel: `struct page` / `struct folio` (order 0).
package struct PageFrame: Sendable {
    package var flags: PageFlags = []
    /// Kernel: `_refcount`. 0 means free.
    package var refcount: Int32 = 0
    /// Kernel: `_mapcount` + 1 — the number of PTEs mapping the page.
    package var mapcount: Int32 = 0
    /// Kernel: `page->mapping` (tagged).
    package var mapping: PageMapping = .none
    /// Kernel: `page->index` — the page's offset in its mapping.
    package var index: PgOff = PgOff(0)
}

/// The machine's RAM: one arena of page frames plus their metadata, a page allocator and the page lock.
///
/// Page tables live in this arena too (as in the kernel), so a page-table walk reads the same memory a user store
/// writes.
/// Zeroed host memory for emulated RAM, kept for the next machine of the same size: the explorer boots thousands of
/// small machines a second, and fresh anonymous memory costs a host page fault per page touched.
final class RAMArenaPool: @unchecked Sendable {
    static let shared = RAMArenaPool()
    private let lock = HostMutex()
    private var free: [Int: [UnsafeMutableRawPointer]] = [:]
    private let keepPerSize = 4

    /// A page-aligned, all-zero arena of `bytes`.
    func take(bytes: Int) -> UnsafeMutableRawPointer {
        lock.lock()
        let reused = free[bytes]?.popLast()
        lock.unlock()
        if let reused { return reused }
        guard let mem = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              mem != MAP_FAILED else { preconditionFailure("host mmap of \(bytes) bytes of emulated RAM failed") }
        return mem
    }

    /// Takes back an arena whose every byte is zero again.
    func give(_ arena: UnsafeMutableRawPointer, bytes: Int) {
        lock.lock()
        let keep = free[bytes, default: []].count < keepPerSize
        if keep { free[bytes, default: []].append(arena) }
        lock.unlock()
        if !keep { munmap(arena, bytes) }
    }
}

/// A pthread mutex at a stable address (the Kernel module has no Foundation).
final class HostMutex: @unchecked Sendable {
    private let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    init() { pthread_mutex_init(m, nil) }
    deinit {
        pthread_mutex_destroy(m)
        m.deallocate()
    }
    func lock() { pthread_mutex_lock(m) }
    func unlock() { pthread_mutex_unlock(m) }
}

@EmuActor public final class PhysicalMemory {
    package let pageCount: Int
    /// The bytes of all pages. Kernel: the direct map (`page_address()`).
    @usableFromInline package nonisolated(unsafe) let arena: UnsafeMutableRawPointer
    /// Kernel: `mem_map` — one `struct page` per frame.
    package var frames: [PageFrame]
    private var freeList: [Int32]  // A stack: the lowest free PFN is on top.
    unowned(unsafe) let sched: Scheduler
    /// Split page-table locks, by the PFN of their page-table page (made on first use). Kernel: `ptdesc->ptl`.
    private var ptlocks: [KLock?]
    /// Page-lock waiters by PFN. Kernel: the hashed folio wait queues of mm/filemap.c.
    private var pageWaiters: [Int: Deque<Int>] = [:]
    /// Who took each page lock, by PFN (`noHolder` while it is free; the kernel does not track this, hung-task
    /// reports name it for the reader). Arrays by PFN, not dictionaries: every fault locks and unlocks a page.
    private(set) var pageLockHolder: [Int]
    static let noHolder = Int.min
    /// SMP machines: when each page was last unlocked with nobody waiting (the unlocking CPU's clock; zero if never).
    private var pageUnlockedAt: [VirtualTime]
    /// One bit per page ever allocated (those are the only ones that may hold data).
    private var used: [UInt64]
    /// Objects that `page->mapping` may name, by id (index 0 is NULL).
    private var mappingObjects: [AnyObject?] = [nil]
    /// The shared zero page: mapped read-only for read faults on anonymous memory. Kernel: ZERO_PAGE(0).
    package private(set) var zeroPage = PFN(0)
    package private(set) var allocations = 0

    package init(pages: Int, scheduler: Scheduler) {
        precondition(pages >= 16, "too little RAM")
        pageCount = pages
        arena = RAMArenaPool.shared.take(bytes: pages << PAGE_SHIFT)
        used = Array(repeating: 0, count: (pages + 63) / 64)
        frames = Array(repeating: PageFrame(), count: pages)
        ptlocks = Array(repeating: nil, count: pages)
        pageLockHolder = Array(repeating: Self.noHolder, count: pages)
        pageUnlockedAt = Array(repeating: .zero, count: pages)
        freeList = (1 ..< pages).reversed().map { Int32($0) }
        sched = scheduler
        frames[0].flags = .reserved
        frames[0].refcount = 1
        zeroPage = PFN(0)
    }

    /// Hands the arena back clean: only the pages this machine ever allocated can be non-zero.
    deinit {
        for (w, bits) in used.enumerated() where bits != 0 {
            for b in 0 ..< 64 where bits & (1 << UInt64(b)) != 0 {
                (arena + ((w * 64 + b) << PAGE_SHIFT)).initializeMemory(as: UInt8.self, repeating: 0, count: PAGE_SIZE)
            }
        }
        RAMArenaPool.shared.give(arena, bytes: pageCount << PAGE_SHIFT)
    }

    package var freePages: Int { freeList.count }

    /// The bytes of a page. Kernel: page_address()
    @inlinable @inline(__always) package func address(of pfn: PFN) -> UnsafeMutableRawPointer {
        arena + (pfn.rawValue << PAGE_SHIFT)
    }

    /// Whether a page holds the same bytes as `other` (a page-sized buffer, such as a panel's copy of it).
    /// Kernel: memcmp_pages() — mm/util.c
    package func memcmpPages(_ pfn: PFN, _ other: UnsafeRawPointer) -> Bool {
        memcmp(address(of: pfn), other, PAGE_SIZE) == 0
    }

    /// Kernel: pfn_valid()
    package func pfnValid(_ pfn: PFN) -> Bool { pfn.rawValue >= 0 && pfn.rawValue < pageCount }

    /// Allocates one page with refcount 1, or nil when RAM is exhausted. Kernel: alloc_page()
    package func allocPage(zeroed: Bool = true) -> PFN? {
        guard let top = freeList.popLast() else { return nil }
        let pfn = PFN(Int(top))
        frames[pfn.rawValue] = PageFrame(refcount: 1)
        let word = pfn.rawValue >> 6, bit = UInt64(1) << UInt64(pfn.rawValue & 63)
        // A page never handed out before is still zero (fresh or cleaned arena): no need to clear it again.
        if zeroed && used[word] & bit != 0 {
            address(of: pfn).initializeMemory(as: UInt8.self, repeating: 0, count: PAGE_SIZE)
        }
        used[word] |= bit
        allocations += 1
        sched.charge(sched.costs.pageAlloc)
        return pfn
    }

    /// Kernel: get_page() / folio_get()
    public func getPage(_ pfn: PFN) {
        precondition(frames[pfn.rawValue].refcount > 0, "get_page on a free page \(pfn)")
        frames[pfn.rawValue].refcount += 1
    }

    /// Drops a reference; the last one frees the page. Kernel: put_page() / folio_put()
    package func putPage(_ pfn: PFN) {
        precondition(frames[pfn.rawValue].refcount > 0, "put_page on a free page \(pfn) (refcount underflow)")
        frames[pfn.rawValue].refcount -= 1
        if frames[pfn.rawValue].refcount == 0 {
            precondition(!frames[pfn.rawValue].flags.contains(.reserved), "freeing a reserved page")
            precondition(frames[pfn.rawValue].mapcount == 0, "freeing \(pfn) while it is still mapped")
            frames[pfn.rawValue] = PageFrame()
            ptlocks[pfn.rawValue] = nil
            freeList.append(Int32(pfn.rawValue))
        }
    }

    // MARK: - page->mapping targets

    /// Reserves an id for an object that `page->mapping` can point at (ids start at 1; 0 is NULL).
    func reserveMappingId() -> Int {
        mappingObjects.append(nil)
        return mappingObjects.count - 1
    }

    /// Binds an id from `reserveMappingId` to its object. The registry holds it weakly in spirit: objects live as
    /// long as the machine, which is how long page->mapping pointers into them may exist.
    func setMappingObject(_ id: Int, _ object: AnyObject) {
        mappingObjects[id] = object
    }

    /// Kernel: folio_mapping() for file pages (nil for anonymous, movable or KSM pages and for NULL).
    package func fileMapping(of pfn: PFN) -> AddressSpace? {
        let m = frames[pfn.rawValue].mapping
        guard !m.isNone, m.tag == .file else { return nil }
        return mappingObjects[m.id] as? AddressSpace
    }

    /// The anon_vma of an anonymous page. Kernel: folio_anon_vma()
    package func anonVMA(of pfn: PFN) -> AnonVMA? {
        let m = frames[pfn.rawValue].mapping
        guard m.isAnon else { return nil }
        return mappingObjects[m.id] as? AnonVMA
    }

    // MARK: - Page lock

    package func isLocked(_ pfn: PFN) -> Bool { frames[pfn.rawValue].flags.contains(.locked) }

    /// Sleeps until the page lock is ours. Kernel: folio_lock() / lock_page() — mm/filemap.c
    @inline(__always)
    public func lockPage(_ pfn: PFN) {
        sched.preempt(.pageLock)
        sched.charge(sched.costs.lock)
        if !frames[pfn.rawValue].flags.contains(.locked) {
            // On an SMP machine the page may have been locked, in virtual time, until after this CPU's clock.
            sched.waited(until: pageUnlockedAt[pfn.rawValue])
            frames[pfn.rawValue].flags.insert(.locked)
            pageLockHolder[pfn.rawValue] = sched.current
            return
        }
        let me = sched.current
        precondition(me >= 0, "lock_page(\(pfn)) contended outside a running task")
        pageWaiters[pfn.rawValue, default: []].append(me)
        let h = pageLockHolder[pfn.rawValue]
        let holder = h == Self.noHolder ? "nobody known" : h >= 0 ? "T\(h) \(sched.name(of: h))" : "the kernel"
        sched.block("page lock of \(pfn) taken by \(holder)")
        assert(frames[pfn.rawValue].flags.contains(.locked))
    }

    /// Releases the page lock, handing it to the first waiter. Kernel: folio_unlock() / unlock_page()
    @inline(__always)
    package func unlockPage(_ pfn: PFN) {
        releasePageLock(pfn)
        sched.preempt(.pageUnlock)
    }

    func releasePageLock(_ pfn: PFN) {
        guard frames[pfn.rawValue].flags.contains(.locked) else {
            // VM_BUG_ON_FOLIO without CONFIG_DEBUG_VM: the bit is cleared again and nothing else happens (bug F
            // gets here, unlocking a page its mkwrite never locked).
            sched.report("WARNING: unlock_page(\(pfn)) of an unlocked page")
            return
        }
        if var q = pageWaiters[pfn.rawValue], let next = q.popFirst() {
            pageWaiters[pfn.rawValue] = q.isEmpty ? nil : q
            pageLockHolder[pfn.rawValue] = next
            sched.wake(next)  // The lock stays set: ownership passes to `next`.
        } else {
            frames[pfn.rawValue].flags.remove(.locked)
            pageLockHolder[pfn.rawValue] = Self.noHolder
            if sched.cpuCount > 1 { pageUnlockedAt[pfn.rawValue] = sched.now }
        }
    }

    // MARK: - Page tables

    /// The split page-table lock of a page-table page. Kernel: pte_lockptr() / ptlock_ptr()
    package func ptl(_ table: PFN) -> KLock {
        if let l = ptlocks[table.rawValue] { return l }
        let l = KLock.spin("ptl(\(table))", sched)
        ptlocks[table.rawValue] = l
        return l
    }

    /// Allocates a zeroed page-table page. Kernel: pte_alloc_one() / pmd_alloc_one() …
    func allocPageTable() -> PFN? {
        guard let pfn = allocPage(zeroed: true) else { return nil }
        frames[pfn.rawValue].flags.insert(.pageTable)
        return pfn
    }
}
