// SPDX-License-Identifier: MIT — a scratch device whose mmap hooks are configurable (a teaching driver).

/// A scratch character device for showing and testing the fault paths: `pages` pages of vmalloc memory behind
/// `->fault`, with a `->page_mkwrite` (or `->pfn_mkwrite`) hook whose behaviour is chosen at creation. Every hook
/// call is logged as "<task> <hook> <pgoff>", so a test or a demo can show the exact sequence.
/// Kernel analogue: none — a teaching driver in the style of fb_defio's hooks (drivers/video/fbdev/core/fb_defio.c).
@EmuActor package final class ScratchDevice {
    package enum Mkwrite: Sendable {
        /// No ->page_mkwrite at all: shared writable mappings are not write-notified.
        case none
        /// Like fb_defio: update the file time, lock the page, return VM_FAULT_LOCKED.
        case lockedLikeFBDefio
        /// Return 0 without locking (the protocol error of scenario 22).
        case returnZero
        /// Sleep `delay` of virtual time first (so other tasks run inside the hook), then behave like fb_defio.
        case sleepThenLock(VirtualTime)
    }

    package let k: EmuKernel
    package let pages: Int
    package let base: UInt64
    package let mkwrite: Mkwrite
    /// Map like DAX: VM_MIXEDMAP on a mapping that writes back, special PTEs inserted from ->fault
    /// (vmf_insert_mixed).
    package let pfnMap: Bool
    /// Supply ->pfn_mkwrite (only meaningful with `pfnMap`).
    package let pfnMkwrite: Bool
    package private(set) var inode: Inode!
    package private(set) var log: [String] = []
    package private(set) var opens = 0, closes = 0

    package init(_ k: EmuKernel, pages: Int = 16, mkwrite: Mkwrite = .lockedLikeFBDefio, pfnMap: Bool = false,
         pfnMkwrite: Bool = false) {
        self.k = k
        self.pages = pages
        base = k.vmalloc.vmalloc(pages * PAGE_SIZE)!
        self.mkwrite = mkwrite
        self.pfnMap = pfnMap
        self.pfnMkwrite = pfnMkwrite
        inode = Inode(kernel: k, name: "scratch", fops: FileOperations(name: "scratch", mmap: { [unowned self] _, vma in
            vma.ops = self.vmOps
            vma.flags.formUnion([.dontExpand, .dontDump])
            if self.pfnMap { vma.flags.insert(.mixedMap) }
            return nil
        }))
        inode.mapping.canWriteback = pfnMap
    }

    package func pfn(_ pgoff: Int) -> PFN { k.vmalloc.vmallocToPage(base + UInt64(pgoff * PAGE_SIZE))! }

    private func record(_ what: String, _ pgoff: PgOff) {
        log.append("\(k.sched.name(of: k.sched.current)) \(what) \(pgoff.rawValue)")
    }

    var vmOps: VMOperations {
        var ops = VMOperations(name: "scratch",
            open: { [unowned self] _ in self.opens += 1 },
            close: { [unowned self] _ in self.closes += 1 },
            fault: { [unowned self] vmf in
                self.record("fault", vmf.pgoff)
                guard vmf.pgoff.rawValue < self.pages else { return .sigbus }
                if self.pfnMap {
                    return self.k.vmfInsertMixed(vmf.vma, vmf.address, self.pfn(vmf.pgoff.rawValue))
                }
                let p = self.pfn(vmf.pgoff.rawValue)
                self.k.phys.getPage(p)
                vmf.page = p
                return .zero
            })
        switch mkwrite {
        case .none:
            break
        case .lockedLikeFBDefio:
            ops.pageMkwrite = { [unowned self] vmf in self.lockLikeFBDefio(&vmf) }
        case .returnZero:
            ops.pageMkwrite = { [unowned self] vmf in
                self.record("mkwrite", vmf.pgoff)
                return .zero
            }
        case .sleepThenLock(let delay):
            ops.pageMkwrite = { [unowned self] vmf in
                self.k.sched.sleep(until: self.k.now + delay)
                return self.lockLikeFBDefio(&vmf)
            }
        }
        if pfnMkwrite {
            ops.pfnMkwrite = { [unowned self] vmf in
                self.record("pfn_mkwrite", vmf.pgoff)
                fileUpdateTime(self.k, vmf.vma.file!)
                return .zero
            }
        }
        return ops
    }

    private func lockLikeFBDefio(_ vmf: inout VMFault) -> VMFaultResult {
        record("mkwrite", vmf.pgoff)
        fileUpdateTime(k, vmf.vma.file!)
        k.phys.lockPage(vmf.page!)
        return .locked
    }
}

