// SPDX-License-Identifier: MIT — the step views' model: the states read at event boundaries of scenario 7 (two
// processes, one page), the window that re-runs the machine, and the walkthrough's change encoding.
import Foundation
import Kernel
@testable import Lab
import Testing

/// Runs one pass on the emulator thread from a test thread, as the CLI does.
func blockingStepPass(_ source: StepSource, _ window: ClosedRange<Int>?) -> Result<StepRun, StepError> {
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var result: Result<StepRun, StepError>?
    Task { @EmuActor in
        result = StepRunner.run(source, window: window)
        done.signal()
    }
    done.wait()
    return result!
}

@Suite struct StepTests {
    static let tracePath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Goldens/two-procs-one-page.trace")

    static func source() throws -> StepSource {
        let text = try String(contentsOf: tracePath, encoding: .utf8)
        return .replay(try ReplayTrace(parsing: Array(text.utf8)), ReplayOptions(), name: "two-procs-one-page.trace")
    }

    static func fullRun() throws -> StepRun { try blockingStepPass(source(), nil).get() }

    /// The two processes' cells of page 0, in mapping order ("." not present, "wD" writable dirty young…).
    static func grid(_ s: StepState) -> [String] {
        s.mappings.map { $0.cells[0].symbol.trimmingCharacters(in: .whitespaces) }
    }

    /// Kernel-spec scenario 7: A writes (tracked), B writes (its own PTE faults, page_mkwrite finds the page listed:
    /// the list is unchanged); the worker write-protects both PTEs; the next writes by both fault again.
    @Test func scenario7StateAtEachStep() throws {
        let r = try Self.fullRun()
        #expect(r.events.count == 53)
        #expect(r.states.count == 53)
        func state(_ kind: KernelEvent.Kind, _ k: Int) throws -> StepState {
            let e = try #require(r.events.filter { $0.kind == kind }.dropFirst(k).first, "no \(kind) #\(k)")
            return try #require(r.states[e.number])
        }
        // Both map the page; nothing is present yet.
        #expect(Self.grid(try state(.mmap, 1)) == [".", "."])
        // A's write fault: the page joins the list and the timer is armed before A's PTE is made writable.
        let added = try state(.defioListAdd, 0)
        #expect(added.pagereflist == [0])
        #expect(added.mutexHolder == "proc0")
        #expect(Self.grid(added) == [".", "."])
        guard case .timer = try state(.timerArm, 0).work else { Issue.record("work not pending on its timer"); return }
        let aWritable = try state(.pteSet, 0)
        #expect(Self.grid(aWritable) == ["wD", "."])
        #expect(aWritable.event.who == "proc0")
        // B's write: its own page_mkwrite, and no second list_add (the page is listed already).
        let bWritable = try state(.pteSet, 1)
        #expect(Self.grid(bWritable) == ["wD", "wD"])
        #expect(bWritable.pagereflist == [0])
        #expect(r.events.filter { $0.kind == .defioListAdd }.count == 2)  // one per round
        #expect(r.events.filter { $0.kind == .mkwrite }.count == 4)  // one per process per round
        // A's TLB entry shows up (a refill makes no event) once B faults: writable, on A's CPU.
        #expect(try state(.fault, 1).tlb[0].map(\.symbol) == ["proc0:0w"])
        // The worker: A's PTE is cleared and flushed, then set read-only; then B's.
        let aCleared = try state(.tlbShootdown, 0)
        #expect(aCleared.event.isWorker)
        #expect(aCleared.mutexHolder == aCleared.event.who)
        #expect(Self.grid(aCleared) == [".", "wD"])
        #expect(Self.grid(try state(.wrprotect, 0)) == ["ry", "wD"])
        let protected = try state(.defioProtect, 0)
        #expect(protected.event.text == "page 0 write-protected: 2 PTEs")
        #expect(Self.grid(protected) == ["ry", "ry"])
        #expect(protected.tlb.allSatisfy { $0.isEmpty })
        #expect(try state(.defioListClear, 0).pagereflist == [])
        // Round 2: both write again, and both fault (their PTEs are read-only) and are listed again.
        let again = try state(.pteSet, 3)
        #expect(Self.grid(again) == ["wD", "wD"])
        #expect(again.pagereflist == [0])
        #expect(again.mkwrites == 4)
        #expect(again.batches == 1)
        // The checkers stay quiet throughout.
        #expect(r.states.values.allSatisfy { $0.checkers.allSatisfy { $0.violation == nil } })
        #expect(r.violation == nil)
    }

    /// A window of states: the same states as a full pass, and a session that must re-run gets them again.
    @Test func windowedPassesGiveTheSameStates() throws {
        let full = try Self.fullRun()
        let part = try blockingStepPass(Self.source(), 20 ... 30).get()
        #expect(part.eventHash == full.eventHash)
        #expect(Set(part.states.keys) == Set(20 ... 30))
        for n in 20 ... 30 { #expect(part.states[n] == full.states[n], "state \(n)") }
        let session = try StepSession(Self.source(), windowSize: 4, runPass: blockingStepPass)
        #expect(session.count == 53)
        for n in [53, 1, 25, 24, 2] {
            let (s, prev) = try session.state(n)
            #expect(s == full.states[n])
            #expect(prev == (n > 1 ? full.states[n - 1] : nil))
        }
        #expect(session.passes > 1)
        let screen = try session.screen(25, width: 100, height: 40, ansi: false)
        let back = try session.screen(24, width: 100, height: 40, ansi: false)
        #expect(try session.screen(25, width: 100, height: 40, ansi: false) == screen)
        #expect(back != screen)
    }

    /// `--print` text is the same on every run.
    @Test func printIsDeterministic() throws {
        let a = StepText.printout(try Self.fullRun(), steps: 53)
        let b = StepText.printout(try Self.fullRun(), steps: 53)
        #expect(a == b)
        #expect(a.contains("── step 53 "))
    }

    /// The page's encoding, decoded the way its script does, gives back every state's cells, list and TLBs.
    @Test func walkthroughChangesRebuildEveryState() throws {
        let full = try Self.fullRun()
        let json = blockingEncode(try Self.source(), window: 1 ... 53)
        let d = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(d["from"] as? Int == 1)
        #expect(d["to"] as? Int == 53)
        #expect(d["total"] as? Int == 53)
        let ev = try #require(d["ev"] as? [String: Any])
        let deltas = try #require(ev["delta"] as? [[Int]])
        let lists = try #require(ev["list"] as? [[Int]])
        let tlbs = try #require(ev["tlb"] as? [[[Any]]])
        let rowSets = try #require(d["rowSets"] as? [[Int]])
        let rows = try #require(ev["rows"] as? [Int])
        let pages = try #require(d["pages"] as? Int)
        let mappings = try #require(d["mappings"] as? [String])
        var cells = Array(repeating: Array(repeating: 0x80, count: pages), count: mappings.count)
        var list: [Int] = []
        var tlb = Array(repeating: Set<String>(), count: 4)
        for i in 0 ..< 53 {
            let d = deltas[i]
            for k in stride(from: 0, to: d.count, by: 3) { cells[d[k]][d[k + 1]] = d[k + 2] }
            if let keep = lists[i].first { list = Array(list.prefix(keep)) + lists[i].dropFirst() }
            for change in tlbs[i] {
                let cpu = change[0] as! Int
                tlb[cpu].subtract(change[2] as! [String])
                tlb[cpu].formUnion(change[1] as! [String])
            }
            let s = try #require(full.states[i + 1])
            #expect(rowSets[rows[i]].map { mappings[$0] } == s.mappings.map(\.label))
            for (m, row) in zip(rowSets[rows[i]], s.mappings) { #expect(cells[m] == row.cells.map { Int($0.raw) }) }
            #expect(list == s.pagereflist)
            #expect(tlb == s.tlb.map { Set($0.map(\.symbol)) })
        }
    }

    @Test func walkthroughWindowKeepsTheViolation() {
        #expect(Walkthrough.window(total: 50, violationEvent: nil, maxSteps: 100) == 1 ... 50)
        #expect(Walkthrough.window(total: 500, violationEvent: nil, maxSteps: 100) == 1 ... 100)
        #expect(Walkthrough.window(total: 500, violationEvent: 80, maxSteps: 100) == 1 ... 100)
        #expect(Walkthrough.window(total: 500, violationEvent: 300, maxSteps: 100) == 211 ... 310)
        #expect(Walkthrough.window(total: 500, violationEvent: 498, maxSteps: 100) == 401 ... 500)
    }

    /// A schedule with a violation (the missing TLB flush): the race diagram and the event the checker fired at
    /// are carried, and the state at that event shows the stale writable TLB entry behind a read-only PTE.
    @Test func aViolatingScheduleCarriesItsDiagram() throws {
        let record = ScheduleRecord(variant: "upstream+missing-tlb-flush", scenario: "wp-race", switches: [:])
        let r = try blockingStepPass(.schedule(record), nil).get()
        let v = try #require(r.violation)
        #expect(v.kind == .rearm)
        #expect(r.diagram.contains("| worker"))
        #expect(r.diagram.contains("⇒ VIOLATION (re-arm)"))
        let n = try #require(r.violationEvent)
        let s = try #require(r.states[n])
        #expect(s.checkers.first { $0.name == "re-arm" }?.violation == v.description)
        #expect(r.states[n - 1]!.checkers.allSatisfy { $0.violation == nil })
        let page = try #require(v.page)
        let writer = try #require(s.mappings.first { $0.process == "writer" })
        #expect(!writer.cells[page].isWritable)
        #expect(s.tlb.joined().contains { $0.process == "writer" && $0.page == page && $0.writable })
    }
}

/// The walkthrough data of a pass, encoded on the emulator thread.
func blockingEncode(_ source: StepSource, window: ClosedRange<Int>) -> String {
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var json = ""
    Task { @EmuActor in
        let encoder = WalkthroughEncoder(window: window)
        if case .success(let run) = StepRunner.run(source, window: window, sink: { encoder.add($0) }) {
            json = encoder.json(run, command: "test", heatmapPNG: nil, notes: [])
        }
        done.signal()
    }
    done.wait()
    return json
}
