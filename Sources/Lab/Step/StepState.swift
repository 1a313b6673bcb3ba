// SPDX-License-Identifier: MIT — what the step views show after one kernel event: the event itself, and the
// machine's state read out of the kernel model at that event boundary (page tables, TLBs, fb_defio, locks,
// checkers). Nothing here changes the machine: every read goes through a read-only accessor.
import Kernel

/// One kernel event as the step views show it.
package struct StepEvent: Sendable, Equatable {
    /// 1-based position in the run's event stream (the `seq` of `--events`, counting kernel events only).
    package var number: Int
    package var time: VirtualTime
    /// Scheduler task id; -1 for interrupt context (a timer tick).
    package var task: Int
    /// The task's name ("proc0", "kworker/0:1"), or "irq" for interrupt context.
    package var who: String
    package var cpu: Int
    package var kind: KernelEvent.Kind
    /// The kernel function that did it, as `function — file`.
    package var function: String
    /// One line of what happened.
    package var text: String
    /// The event ran in a workqueue worker (the fb_defio deferred work).
    package var isWorker: Bool
    /// The framebuffer page the event concerns, when it names one.
    package var page: Int?
    /// The last replay trace line the event's task started ("line 6: proc 1 write 0 1 6"), if any.
    package var context: String?
}

/// The PTE of one framebuffer page in one mapping, as four bits plus "not covered by the mapping".
/// Kernel: pte_present() / pte_write() / pte_dirty() / pte_young() — arch/x86/include/asm/pgtable.h
package struct PTECell: Sendable, Equatable, Hashable {
    package var raw: UInt8
    package static let present: UInt8 = 1, write: UInt8 = 2, dirty: UInt8 = 4, young: UInt8 = 8, protNone: UInt8 = 16
    /// The mapping does not cover this page.
    package static let uncovered = PTECell(raw: 0x80)
    package static let none = PTECell(raw: 0)

    package init(raw: UInt8) { self.raw = raw }

    package init(_ pte: PTE) {
        var r: UInt8 = 0
        if pte.isProtNone { r |= Self.protNone } else if pte.isHardwarePresent { r |= Self.present }
        if pte.isWrite { r |= Self.write }
        if pte.isDirty { r |= Self.dirty }
        if pte.isYoung { r |= Self.young }
        self.raw = pte.isNone ? 0 : r
    }

    package var isPresent: Bool { raw & Self.present != 0 }
    package var isWritable: Bool { raw & (Self.present | Self.write) == Self.present | Self.write }

    /// Two characters: `.` not present, `r` read-only, `w` writable, `p` PROT_NONE; then `-` clean and old,
    /// `y` young, `d` dirty, `D` dirty and young. An uncovered page is two blanks.
    package var symbol: String {
        if self == .uncovered { return "  " }
        if raw & (Self.present | Self.protNone) == 0 { return ". " }
        let first = raw & Self.protNone != 0 ? "p" : raw & Self.write != 0 ? "w" : "r"
        let d = raw & Self.dirty != 0, y = raw & Self.young != 0
        return first + (d && y ? "D" : d ? "d" : y ? "y" : "-")
    }

    /// The state words of the HTML view and of test messages.
    package var words: String {
        if self == .uncovered { return "not mapped here" }
        if raw & (Self.present | Self.protNone) == 0 { return "not present" }
        var w = raw & Self.protNone != 0 ? "PROT_NONE" : raw & Self.write != 0 ? "writable" : "read-only"
        if raw & Self.dirty != 0 { w += ", dirty" }
        if raw & Self.young != 0 { w += ", young" }
        return w
    }
}

/// One process's mapping of the framebuffer: a PTE per framebuffer page (uncovered outside the mapping).
package struct MappingRow: Sendable, Equatable {
    package var process: String
    package var pid: Int
    package var mm: Int
    package var start: VirtAddr
    /// The PTE of framebuffer page i is `cells[i]`.
    package var cells: [PTECell]
    /// "proc0 (pid 1, mm 2) @0x7f00…"
    package var label: String { "\(process) (pid \(pid), mm\(mm)) @\(start)" }
}

/// One TLB entry for a framebuffer page: which process's translation, of which page, with what permission.
package struct TLBCell: Sendable, Equatable {
    package var process: String
    package var page: Int
    /// The entry lets stores through without a fault (the PTE was writable and dirty when it was loaded).
    package var writable: Bool
    package var symbol: String { "\(process):\(page)\(writable ? "w" : "r")" }
}

/// The deferred work's state. Kernel: delayed_work_pending() (include/linux/workqueue.h) / work_busy() (kernel/workqueue.c)
package enum WorkState: Sendable, Equatable {
    case idle
    /// The timer is armed and fires at the tick of `expiry`.
    case timer(expiry: VirtualTime)
    /// Queued on a worker, not running yet.
    case queued
    /// A worker runs it; `pending` when it was queued again meanwhile.
    case running(pending: Bool)

    package var text: String {
        switch self {
        case .idle: "idle"
        case .timer(let t): "pending, timer expires at \(t)"
        case .queued: "pending, queued on a worker"
        case .running(let p): p ? "running (and pending again)" : "running"
        }
    }
}

/// One checker's verdict so far.
package struct CheckerStatus: Sendable, Equatable {
    package var name: String
    /// nil: nothing found so far.
    package var violation: String?
}

/// The machine after one event.
package struct StepState: Sendable, Equatable {
    package var event: StepEvent
    package var mappings: [MappingRow]
    /// Per CPU, its TLB entries for framebuffer pages (every address space's, as a tagged TLB holds them).
    package var tlb: [[TLBCell]]
    /// The tracked pages in list order. Kernel: fb_deferred_io_state->pagereflist — drivers/video/fbdev/core/fb_defio.c
    package var pagereflist: [Int]
    package var work: WorkState
    /// The defio mutex's holder and waiters (names), and fb_info->lock's holder.
    package var mutexName: String
    package var mutexHolder: String?
    package var mutexWaiters: [String]
    package var infoLockHolder: String?
    /// Framebuffer pages whose page lock is held, with the holder.
    package var pageLocks: [(page: Int, holder: String)]
    package var checkers: [CheckerStatus]
    /// page_mkwrite calls and deferred-I/O batches so far.
    package var mkwrites: Int
    package var batches: Int
    package var pages: Int

    package static func == (a: StepState, b: StepState) -> Bool {
        a.event == b.event && a.mappings == b.mappings && a.tlb == b.tlb && a.pagereflist == b.pagereflist
            && a.work == b.work && a.mutexName == b.mutexName && a.mutexHolder == b.mutexHolder
            && a.mutexWaiters == b.mutexWaiters && a.infoLockHolder == b.infoLockHolder
            && a.pageLocks.map(\.page) == b.pageLocks.map(\.page) && a.pageLocks.map(\.holder) == b.pageLocks.map(\.holder)
            && a.checkers == b.checkers && a.mkwrites == b.mkwrites && a.batches == b.batches && a.pages == b.pages
    }
}

/// The checkers the step views list, in this order (the online checkers of DESIGN.md §7 and the run-level ones).
let stepCheckerKinds: [Violation.Kind] = [
    .dirtyTracking, .rearm, .faultAccounting, .listIntegrity, .notification, .livelock, .deadlock, .hungTask, .oops,
    .lostUpdate,
]
