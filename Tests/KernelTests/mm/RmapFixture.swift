// SPDX-License-Identifier: MIT — a machine with a vmalloc-backed device file for the rmap and page-walk tests.
import Testing
@testable import Kernel

/// One machine with a device node whose pages are vmalloc'd kernel memory, mapped like a framebuffer: `->fault`
/// hands out the page at `vmf.pgoff` (with a reference) and `->page_mkwrite` locks it and returns LOCKED, so shared
/// writable mappings are write-notified. Nothing sets `page->mapping`/`index` unless a test does.
@EmuActor final class RmapFixture {
    let k: EmuKernel
    let inode: Inode
    let base: UInt64
    let pageCount: Int
    /// The PFN behind each page offset of the device.
    let pfns: [PFN]

    init(pages: Int = 16, policy: SchedPolicy = .roundRobin(), config: MMConfig = MMConfig(), ramPages: Int = 1024) {
        let k = EmuKernel(policy: policy, ramPages: ramPages, config: config)
        let base = k.vmalloc.vmalloc(pages * PAGE_SIZE)!
        let pfns = (0 ..< pages).map { k.vmalloc.vmallocToPage(base + UInt64($0 * PAGE_SIZE))! }
        let ops = VMOperations(
            name: "rmap-test-dev",
            fault: { vmf in
                guard vmf.pgoff.rawValue < pages else { return .sigbus }
                let pfn = pfns[vmf.pgoff.rawValue]
                k.phys.getPage(pfn)
                vmf.page = pfn
                return .zero
            },
            pageMkwrite: { vmf in
                k.phys.lockPage(vmf.page!)
                return .locked
            })
        inode = Inode(kernel: k, name: "dev", fops: FileOperations(name: "rmap-test-dev", mmap: { _, vma in
            vma.ops = ops
            return nil
        }))
        self.k = k
        self.base = base
        self.pageCount = pages
        self.pfns = pfns
    }

    var mapping: AddressSpace { inode.mapping }

    /// The PFNs were handed out in one run, so a range of them is physically contiguous (mapping_wrprotect_range
    /// and page_vma_mapped_walk need that for nrPages > 1).
    var pfnsAreContiguous: Bool { pfns.indices.allSatisfy { pfns[$0].rawValue == pfns[0].rawValue + $0 } }

    /// Every file VMA of every live process mapping this device, in process then address order.
    func fileVMAs() -> [VMArea] {
        k.processes.flatMap { $0.mm.vmas }.filter { $0.file?.mapping === mapping }
    }

    /// A PTE of one VMA: where it is, which file page, and its value.
    struct PTEView: Equatable {
        let vma: Int
        let address: VirtAddr
        let pgoff: Int
        let pte: PTE
    }

    /// Every present PTE of every file VMA of this device.
    func filePTEs() -> [PTEView] { ptes(of: fileVMAs()) }

    /// Every present PTE of every shared file VMA of this device.
    func sharedPTEs() -> [PTEView] { ptes(of: fileVMAs().filter { $0.flags.contains(.shared) }) }

    private func ptes(of vmas: [VMArea]) -> [PTEView] {
        vmas.flatMap { vma in
            stride(from: vma.start, to: vma.end, by: PAGE_SIZE).compactMap { a -> PTEView? in
                let pte = vma.mm.pte(at: a)
                if pte.isNone { return nil }
                return PTEView(vma: vma.id, address: a, pgoff: vma.linearPageIndex(a).rawValue, pte: pte)
            }
        }
    }
}

/// A reusable barrier for the tasks of one machine. Any arriver may hand in an action; when the last of `parties`
/// arrives, the actions of that round run in arrival order (on the last arriver's task), then everyone goes on.
@EmuActor final class RmapBarrier {
    let parties: Int
    private let queue: WaitQueue
    private var arrived = 0
    private var generation = 0
    private var actions: [@EmuActor () -> Void] = []
    /// Actions run so far (tests check it, so that a check inside an action cannot be skipped silently).
    private(set) var actionsRun = 0

    init(_ k: EmuKernel, parties: Int) {
        self.parties = parties
        queue = WaitQueue("rmap-test-barrier", scheduler: k.sched)
    }

    func arrive(_ action: (@EmuActor () -> Void)? = nil) {
        if let action { actions.append(action) }
        arrived += 1
        if arrived == parties {
            let round = actions
            actions = []
            for a in round {
                a()
                actionsRun += 1
            }
            arrived = 0
            generation += 1
            queue.wakeAll()
            return
        }
        let g = generation
        queue.wait(until: { self.generation != g })
    }
}

/// Byte-for-byte helpers for building addresses in tests.
extension VirtAddr {
    static func page(_ n: Int) -> VirtAddr { VirtAddr(UInt64(n) << UInt64(PAGE_SHIFT)) }
}
