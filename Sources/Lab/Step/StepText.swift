// SPDX-License-Identifier: MIT — the step view as text: the same screen for the terminal (with ANSI highlights,
// cut to the terminal's size) and for `--print N` (plain, whole).
import Kernel

package enum StepText {
    /// The kernel function behind an event, and its file.
    package static func function(_ e: KernelEvent) -> String {
        switch e.payload {
        case .fault(_, let write):
            return "do_user_addr_fault → handle_mm_fault (\(write ? "write" : "read")) — arch/x86/mm/fault.c"
        case .faultResult: return "handle_mm_fault returns — mm/memory.c"
        case .retry(_, _, let lock): return "lock_vma_under_rcu / handle_mm_fault: VM_FAULT_RETRY (\(lock.rawValue)) — mm/memory.c"
        case .mkwrite: return "fb_deferred_io_mkwrite → fb_deferred_io_track_page — drivers/video/fbdev/core/fb_defio.c"
        case .pfnMkwrite: return "vm_ops->pfn_mkwrite (wp_pfn_shared) — mm/memory.c"
        case .faultHook: return "fb_deferred_io_fault — drivers/video/fbdev/core/fb_defio.c"
        case .pteSet: return "set_pte_at (finish_fault / wp_page_reuse) — mm/memory.c"
        case .pteZap: return "zap_pte_range — mm/memory.c"
        case .wrprotect(_, _, _, let pageWalk):
            return pageWalk ? "wp_clean_pte_entry (mapping_wrprotect_range) — mm/mapping_dirty_helpers.c"
                : "page_vma_mkclean_one (folio_mkclean) — mm/rmap.c"
        case .pteClean: return "clean_record_pte — mm/mapping_dirty_helpers.c"
        case .tlbFlush(_, let pages, _):
            return pages == 1 ? "flush_tlb_page — arch/x86/mm/tlb.c" : "flush_tlb_range — arch/x86/mm/tlb.c"
        case .tlbShootdown: return "native_flush_tlb_multi (IPI) — arch/x86/mm/tlb.c"
        case .signal: return "force_sig_fault — kernel/signal.c"
        case .livelock: return "the emulator's livelock detector (the fault never made progress)"
        case .mmap: return "do_mmap → fb_deferred_io_mmap — mm/mmap.c"
        case .munmap: return "do_vmi_munmap — mm/vma.c"
        case .mprotect: return "mprotect_fixup — mm/mprotect.c"
        case .fork: return "dup_mmap — kernel/fork.c"
        case .exit: return "exit_mmap — mm/mmap.c"
        case .cowCopy: return "wp_page_copy — mm/memory.c"
        case .defioBatch: return "fb_deferred_io_work → fbdefio->deferred_io — drivers/video/fbdev/core/fb_defio.c"
        case .defioListAdd: return "fb_deferred_io_track_page: list_add — drivers/video/fbdev/core/fb_defio.c"
        case .defioListClear: return "fb_deferred_io_work: list_del_init — drivers/video/fbdev/core/fb_defio.c"
        case .defioProtect: return "fb_deferred_io_work: write-protect the page — drivers/video/fbdev/core/fb_defio.c"
        case .timerArm: return "schedule_delayed_work → __queue_delayed_work → add_timer — kernel/workqueue.c"
        case .timerFire: return "delayed_work_timer_fn (timer wheel) — kernel/workqueue.c, kernel/time/timer.c"
        }
    }

    /// One line of what an event did; `page` is the framebuffer page it concerns, if any.
    package static func describe(_ e: KernelEvent, page: Int?) -> String {
        let pg = page.map { " (fb page \($0))" } ?? ""
        switch e.payload {
        case .fault(let a, let w): return "\(w ? "write" : "read") fault at \(a)\(pg)"
        case .faultResult(let a, let r): return "fault at \(a)\(pg) done: \(r)"
        case .retry(let a, let r, let lock): return "fault at \(a)\(pg): \(r), retry without the \(lock.rawValue)"
        case .mkwrite(let p, let r): return "page_mkwrite(pgoff \(p.rawValue)) = \(r)"
        case .pfnMkwrite(let p, let r): return "pfn_mkwrite(pgoff \(p.rawValue)) = \(r)"
        case .faultHook(let p, let r): return "->fault(pgoff \(p.rawValue)) = \(r)"
        case .pteSet(let a, let pte, let mm): return "mm\(mm) PTE \(a)\(pg) := \(pte.state)"
        case .pteZap(let a, _, let mm): return "mm\(mm) PTE \(a)\(pg) zapped"
        case .wrprotect(let a, let pte, let mm, _): return "mm\(mm) PTE \(a)\(pg) write-protected: \(pte.state)"
        case .pteClean(let a, let pte, let mm): return "mm\(mm) PTE \(a)\(pg) cleaned: \(pte.state)"
        case .tlbFlush(let a, let n, let mm): return "mm\(mm) TLB flush \(a)\(pg), \(n) page\(n == 1 ? "" : "s")"
        case .tlbShootdown(let mm, let cpus): return "mm\(mm) TLB shootdown to \(cpus) other CPU\(cpus == 1 ? "" : "s")"
        case .signal(let f): return "signal \(f)"
        case .livelock(let a, let n): return "livelock at \(a) after \(n) attempts"
        case .mmap, .mprotect: return "\(e.kind.rawValue) \(e.note)"
        case .munmap(let s, let n): return "munmap \(s) +\(n)"
        case .fork(let p, let c): return "fork: T\(p) → T\(c)"
        case .exit(let mm): return "exit: mm\(mm) torn down"
        case .cowCopy(let f, let t): return "COW copy \(f) → \(t)"
        case .defioBatch(let b, let pages):
            return "deferred_io batch \(b): [\(pages.map { String($0.pgoff.rawValue) }.joined(separator: ","))]"
        case .defioListAdd(let p, _): return "page \(p) joins the pagereflist"
        case .defioListClear(let n, _): return "pagereflist emptied (\(n) page\(n == 1 ? "" : "s"))"
        case .defioProtect(let p, let n): return "page \(p) write-protected: \(n) PTE\(n == 1 ? "" : "s")"
        case .timerArm(let exp, let bucket, let level):
            return "delayed work timer armed: expires \(exp)j, wheel bucket \(bucket)j (level \(level))"
        case .timerFire(let bucket, _): return "timer fires (bucket \(bucket)j): work queued"
        }
    }

    /// The grid's legend.
    package static let legend = "PTE: . not present  r read-only  w writable  p PROT_NONE; then - clean+old  y young  "
        + "d dirty  D dirty+young; * (reverse video) changed in this step"

    /// Pages per grid row.
    static func columns(width: Int) -> Int {
        // "  pg 0000 " then 3 characters a page.
        let fit = max(4, (width - 10) / 3)
        var c = 4
        while c * 2 <= fit && c < 64 { c *= 2 }
        return c
    }

    /// The screen for state `s` (after event `s.event.number` of `total`); `previous` is the state one step
    /// before, for the highlights; `log` the events up to this one (the last few are shown). `width`/`height`
    /// cut the screen to a terminal (nil: everything). With `ansi`, changed cells are in reverse video; without,
    /// they are marked `*`.
    package static func screen(_ s: StepState, previous: StepState?, log: ArraySlice<StepEvent>, total: Int,
                              title: String, width: Int? = nil, height: Int? = nil, ansi: Bool = false,
                              status: String = "") -> [String] {
        let w = width ?? 132
        let e = s.event
        var out: [String] = []
        func bold(_ t: String) -> String { ansi ? "\u{1B}[1m\(t)\u{1B}[0m" : t }
        out.append(bold("fbdefio-emu step — \(title)"))
        out.append("event \(e.number)/\(total)  t=\(e.time)  cpu\(e.cpu)  \(e.who)\(e.isWorker ? " (worker)" : "")  "
            + "[\(e.kind.rawValue)]")
        out.append("  \(e.text)")
        out.append("  in \(e.function)")
        out.append(e.context.map { "  the last trace line this task started: \($0)" } ?? "")
        // PTE grids.
        let cols = columns(width: w)
        out.append(bold("Page tables") + " (\(s.pages) framebuffer page\(s.pages == 1 ? "" : "s"))  " + legend)
        if s.mappings.isEmpty { out.append("  (no process maps the framebuffer)") }
        for row in s.mappings {
            out.append("  " + row.label)
            let before = previous?.mappings.first { $0.mm == row.mm && $0.start == row.start }
            let covered = row.cells.indices.filter { row.cells[$0] != .uncovered }
            guard let lo = covered.first, let hi = covered.last else { continue }
            // On a terminal, each mapping gets a share of the rows: the ones around the event's page, else the
            // first ones with a change, else the first.
            let firstRow = lo / cols, lastRow = hi / cols
            let budget = height.map { max(2, ($0 - 34) / max(1, s.mappings.count)) } ?? Int.max
            var shownFrom = firstRow, shownTo = lastRow
            if lastRow - firstRow + 1 > budget {
                let changedRow = (lo ... hi).first { p in before.map { $0.cells[p] != row.cells[p] } ?? false }.map { $0 / cols }
                let own = row.process == e.who ? e.page.map { $0 / cols } : nil
                let focus = own ?? changedRow ?? e.page.map { $0 / cols } ?? firstRow
                shownFrom = max(firstRow, min(focus - budget / 2, lastRow - budget + 1))
                shownTo = shownFrom + budget - 1
            }
            for r in shownFrom ... shownTo {
                let base = r * cols
                var line = "  pg " + pad(String(base), 4) + " "
                for p in base ..< min(base + cols, row.cells.count) {
                    let c = row.cells[p]
                    let changed = before.map { $0.cells[p] != c } ?? (previous != nil)
                    if changed && ansi {
                        line += "\u{1B}[7m" + c.symbol + "\u{1B}[0m "
                    } else {
                        line += c.symbol + (changed ? "*" : " ")
                    }
                }
                out.append(line)
            }
            if shownFrom > firstRow || shownTo < lastRow {
                out.append("  (rows of pages \(shownFrom * cols)–\(min(hi, shownTo * cols + cols - 1)) of \(lo)–\(hi) shown)")
            }
        }
        // TLBs.
        out.append(bold("TLB") + " (framebuffer entries; w: a store goes through without a fault)")
        for (cpu, cells) in s.tlb.enumerated() {
            let before = previous.map { Set($0.tlb[cpu].map(\.symbol)) }
            let items = cells.map { c -> String in
                let changed = before.map { !$0.contains(c.symbol) } ?? false
                return changed ? (ansi ? "\u{1B}[7m\(c.symbol)\u{1B}[0m" : c.symbol + "*") : c.symbol
            }
            let gone = previous.map { $0.tlb[cpu].map(\.symbol).filter { sym in !cells.contains { $0.symbol == sym } } } ?? []
            out.append("  cpu\(cpu): " + (items.isEmpty ? "-" : items.joined(separator: " "))
                + (gone.isEmpty ? "" : "   flushed: " + gone.joined(separator: " ")))
        }
        // fb_defio.
        out.append(bold("fb_defio"))
        let listChanged = previous.map { $0.pagereflist != s.pagereflist } ?? false
        out.append("  pagereflist: [" + s.pagereflist.map(String.init).joined(separator: ", ") + "]"
            + (listChanged ? (ansi ? " \u{1B}[7mchanged\u{1B}[0m" : " *changed") : ""))
        let workChanged = previous.map { $0.work != s.work } ?? false
        out.append("  delayed work: \(s.work.text)" + (workChanged ? (ansi ? " \u{1B}[7m*\u{1B}[0m" : " *") : ""))
        out.append("  \(s.mutexName): " + (s.mutexHolder.map { "held by \($0)" } ?? "free")
            + (s.mutexWaiters.isEmpty ? "" : ", waiting: " + s.mutexWaiters.joined(separator: ", "))
            + (s.infoLockHolder.map { "   fb_info->lock: held by \($0)" } ?? ""))
        out.append("  page locks: " + (s.pageLocks.isEmpty ? "none"
            : s.pageLocks.map { "page \($0.page) by \($0.holder)" }.joined(separator: ", ")))
        out.append("  so far: \(s.mkwrites) page_mkwrite, \(s.batches) batch\(s.batches == 1 ? "" : "es")")
        // Checkers.
        let bad = s.checkers.filter { $0.violation != nil }
        out.append(bold("Checkers") + ": " + (bad.isEmpty ? "all \(s.checkers.count) quiet ("
            + s.checkers.map(\.name).joined(separator: ", ") + ")"
            : bad.map { "\($0.name): \($0.violation!)" }.joined(separator: "; ")))
        // Log: as many lines as fit.
        let logHeader = bold("Log")
        let keys = "keys: n/space next  b back  f next fault  w next worker pass  g go to  / search kind  q quit"
        var tail = [logHeader]
        let room = height.map { max(1, $0 - out.count - 3) } ?? 8
        for ev in log.suffix(room) {
            let mark = ev.number == e.number ? ">" : " "
            tail.append("\(mark)\(pad(String(ev.number), 6)) \(ev.time) cpu\(ev.cpu) \(ev.who.padded(12)) \(ev.text)")
        }
        out += tail
        if height != nil {
            out.append(status.isEmpty ? keys : status)
        }
        if let width {
            out = out.map { clip($0, width) }
        }
        if let height, out.count > height {
            out = Array(out.prefix(height - 1)) + [out.last!]
        }
        return out
    }

    static func pad(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }

    /// Cuts a line to `width` visible characters, keeping ANSI escapes whole.
    static func clip(_ line: String, _ width: Int) -> String {
        var visible = 0, out = "", inEscape = false
        for ch in line {
            if inEscape {
                out.append(ch)
                if ch.isLetter { inEscape = false }
                continue
            }
            if ch == "\u{1B}" {
                inEscape = true
                out.append(ch)
                continue
            }
            if visible >= width { continue }
            out.append(ch)
            visible += 1
        }
        return out.contains("\u{1B}") && !out.hasSuffix("\u{1B}[0m") ? out + "\u{1B}[0m" : out
    }

    /// The `--print N` text: the screen after each of the first `steps` events, separated by a rule.
    package static func printout(_ run: StepRun, steps: Int) -> String {
        var out = ""
        for n in 1 ... max(1, min(steps, run.events.count)) {
            guard let s = run.states[n] else { break }
            let lines = screen(s, previous: run.states[n - 1], log: run.events[0 ..< n], total: run.events.count,
                               title: run.title)
            out += "── step \(n) " + String(repeating: "─", count: 60) + "\n" + lines.joined(separator: "\n") + "\n"
        }
        return out
    }
}
