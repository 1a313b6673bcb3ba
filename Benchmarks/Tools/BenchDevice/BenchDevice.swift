// SPDX-License-Identifier: MIT — the device file the write-protect benchmarks map (WrprotectBench and the table's
// row 6).
import Kernel

/// A vmalloc'd device file of `pages` pages with fb_defio-style hooks: `->fault` hands out the vmalloc page,
/// `->page_mkwrite` locks it and returns LOCKED. Its inode, and the pages behind it; nil when RAM cannot hold it.
@EmuActor public func makeBenchDevice(_ k: EmuKernel, pages: Int) -> (inode: Inode, pfns: [PFN])? {
    guard let base = k.vmalloc.vmalloc(pages * PAGE_SIZE) else { return nil }
    let pfns = (0 ..< pages).map { k.vmalloc.vmallocToPage(base + UInt64($0 * PAGE_SIZE))! }
    let ops = VMOperations(
        name: "bench-fb",
        fault: { vmf in
            guard vmf.pgoff.rawValue < pfns.count else { return .sigbus }
            k.phys.getPage(pfns[vmf.pgoff.rawValue])
            vmf.page = pfns[vmf.pgoff.rawValue]
            return .zero
        },
        pageMkwrite: { vmf in
            k.phys.lockPage(vmf.page!)
            return .locked
        })
    let inode = Inode(kernel: k, name: "fb0", fops: FileOperations(name: "bench-fb", mmap: { _, vma in
        vma.ops = ops
        return nil
    }))
    return (inode, pfns)
}
