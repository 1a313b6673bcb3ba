// SPDX-License-Identifier: MIT — marking pages dirty (kernel: mm/page-writeback.c).

@EmuActor extension EmuKernel {
    /// Marks a page dirty through its mapping's `->dirty_folio`, or directly when it belongs to no mapping (or the
    /// mapping has no such hook). Returns whether the page became dirty just now.
    /// Kernel: folio_mark_dirty() — mm/page-writeback.c
    @discardableResult
    package func folioMarkDirty(_ page: PFN) -> Bool {
        if let mapping = phys.fileMapping(of: page), let dirty = mapping.aops.dirtyFolio {
            return dirty(mapping, page)
        }
        return noopDirtyFolio(nil, page)
    }

    /// Sets PG_dirty and nothing else — no dirty tag, no writeback accounting: for memory that is never written
    /// back, such as fb_defio's (its address_space operations use it). Returns whether the flag was clear.
    /// Kernel: noop_dirty_folio() — mm/page-writeback.c
    package func noopDirtyFolio(_ mapping: AddressSpace?, _ page: PFN) -> Bool {
        if phys.frames[page.rawValue].flags.contains(.dirty) { return false }
        phys.frames[page.rawValue].flags.insert(.dirty)  // folio_test_set_dirty()
        return true
    }
}

extension PageFrame {
    /// Kernel: folio_test_dirty() — PG_dirty
    package var isDirty: Bool { flags.contains(.dirty) }
}
