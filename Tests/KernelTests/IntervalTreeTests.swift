// SPDX-License-Identifier: MIT — tests for the i_mmap interval tree (kernel: lib/interval_tree_test.c).
import Testing
@testable import Kernel

@Suite("IntervalTree (i_mmap)")
struct IntervalTreeTests {
    typealias Tree = IntervalTree<Int>

    /// One oracle entry: what the tree should hold, in the order the tree should hold it.
    struct Entry {
        var first: Int
        var last: Int
        var id: Int
        var handle: Tree.Handle
    }

    /// Naive overlap filter over the oracle, keeping its order.
    static func naive(_ oracle: [Entry], _ a: Int, _ b: Int) -> [Int] {
        oracle.filter { $0.first <= b && a <= $0.last }.map(\.id)
    }

    /// Compares every observable of `tree` with `oracle`; returns the first mismatch.
    static func compare(_ tree: Tree, _ oracle: [Entry], _ rng: inout SplitMix64) -> String? {
        if let bad = tree.checkInvariants() { return "invariant: \(bad)" }
        if tree.count != oracle.count { return "count \(tree.count) != \(oracle.count)" }
        if tree.isEmpty != oracle.isEmpty { return "isEmpty mismatch" }
        let got = tree.elements, want = oracle.map(\.id)
        if got != want { return "elements \(got) != \(want)" }
        if !oracle.isEmpty {
            let e = oracle[rng.below(oracle.count)]
            if tree.element(e.handle) != e.id { return "element(handle) of id \(e.id) is \(tree.element(e.handle))" }
            let iv = tree.interval(e.handle)
            if iv.first != e.first || iv.last != e.last { return "interval of id \(e.id) is \(iv)" }
        }
        for _ in 0..<4 {
            let a = rng.below(72) - 4
            let b = a + rng.below(rng.below(4) == 0 ? 80 : 12)
            let want = naive(oracle, a, b)
            if tree.overlapping(first: a, last: b) != want {
                return "overlapping(\(a), \(b)) = \(tree.overlapping(first: a, last: b)), expected \(want)"
            }
            // The handles the walk yields must name the same elements.
            var viaHandles: [Int] = []
            tree.forEachOverlapping(first: a, last: b) { h, e in
                viaHandles.append(tree.element(h) == e ? e : -1)
                return true
            }
            if viaHandles != want { return "forEachOverlapping(\(a), \(b)) handles disagree: \(viaHandles)" }
        }
        return nil
    }

    // MARK: - 1. Model-based property test

    @Test("random insert / insert-after / remove against a naive oracle",
          arguments: [1, 2, 3, 0x5EED, 0xFBDE_F10] as [UInt64])
    func modelBased(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var tree = Tree()
        var oracle: [Entry] = []
        var removed: [Tree.Handle] = []
        var nextID = 0
        for step in 0..<2000 {
            let roll = rng.below(10)
            let wantGrow = oracle.count < 6 || (oracle.count < 48 && roll < 6)
            if wantGrow {
                let first = rng.below(64)
                let last = first + rng.below(rng.below(3) == 0 ? 24 : 6)
                if !oracle.isEmpty && roll % 3 == 0 {
                    // Fork-style: the new node goes right after a chosen one with the same first.
                    let at = rng.below(oracle.count)
                    let prev = oracle[at]
                    let h = tree.insert(nextID, first: prev.first, last: last - first + prev.first, after: prev.handle)
                    oracle.insert(Entry(first: prev.first, last: last - first + prev.first, id: nextID, handle: h),
                                  at: at + 1)
                } else {
                    let h = tree.insert(nextID, first: first, last: last)
                    let at = oracle.firstIndex { $0.first > first } ?? oracle.count
                    oracle.insert(Entry(first: first, last: last, id: nextID, handle: h), at: at)
                }
                nextID += 1
            } else {
                let e = oracle.remove(at: rng.below(oracle.count))
                tree.remove(e.handle)
                removed.append(e.handle)
            }
            if let bad = Self.compare(tree, oracle, &rng) {
                Issue.record("seed \(seed), step \(step): \(bad)")
                return
            }
            if let stale = removed.last, tree.contains(stale) {
                Issue.record("seed \(seed), step \(step): removed handle still live")
                return
            }
        }
        #expect(nextID > 1000)
        #expect(removed.allSatisfy { !tree.contains($0) })
        #expect(oracle.allSatisfy { tree.contains($0.handle) })
        // Drain completely, checking along the way.
        while !oracle.isEmpty {
            let e = oracle.remove(at: rng.below(oracle.count))
            tree.remove(e.handle)
            if let bad = Self.compare(tree, oracle, &rng) {
                Issue.record("seed \(seed), drain: \(bad)")
                return
            }
        }
        #expect(tree.isEmpty)
        #expect(tree.elements.isEmpty)
        #expect(tree.overlapping(first: Int.min, last: Int.max).isEmpty)
    }

    // MARK: - 2. Exhaustive small cases

    @Test("every sequence of up to 4 small intervals, every query")
    func exhaustive() {
        var shapes: [(first: Int, last: Int)] = []
        for first in 0..<4 {
            for length in 1...3 { shapes.append((first, first + length - 1)) }
        }
        let span = 0..<6  // every page any shape can cover
        var queries: [(Int, Int)] = []
        for a in span {
            for b in a..<span.upperBound { queries.append((a, b)) }
        }
        // hits[s][q]: does shape s overlap query q (the naive definition)?
        let hits = shapes.map { s in queries.map { s.first <= $0.1 && $0.0 <= s.last } }
        var cases = 0
        for size in 0...4 {
            var total = 1
            for _ in 0..<size { total *= shapes.count }
            for code in 0..<total {
                // Decode `code` as `size` base-12 digits: the intervals, in insertion order.
                var picks: [Int] = []
                var c = code
                for _ in 0..<size {
                    picks.append(c % shapes.count)
                    c /= shapes.count
                }
                var tree = Tree()
                var handles: [Tree.Handle] = []
                for (id, s) in picks.enumerated() {
                    handles.append(tree.insert(id, first: shapes[s].first, last: shapes[s].last))
                }
                // Expected tree order: by first, insertion order among equals (a stable sort).
                let order = picks.indices.sorted { (shapes[picks[$0]].first, $0) < (shapes[picks[$1]].first, $1) }
                if let bad = tree.checkInvariants() {
                    Issue.record("picks \(picks): \(bad)")
                    return
                }
                if tree.elements != order {
                    Issue.record("picks \(picks): elements \(tree.elements) != \(order)")
                    return
                }
                for (q, (a, b)) in queries.enumerated() {
                    // Walk the tree's hits and the oracle's (order filtered by `hits`) in step.
                    var k = 0
                    var ok = true
                    tree.forEachOverlapping(first: a, last: b) { _, id in
                        while k < order.count && !hits[picks[order[k]]][q] { k += 1 }
                        ok = k < order.count && order[k] == id
                        k += 1
                        return ok
                    }
                    while ok && k < order.count {
                        ok = !hits[picks[order[k]]][q]
                        k += 1
                    }
                    if !ok {
                        let want = order.filter { hits[picks[$0]][q] }
                        let got = tree.overlapping(first: a, last: b)
                        Issue.record("picks \(picks), query [\(a), \(b)]: \(got) != \(want)")
                        return
                    }
                }
                // Removing any one element leaves the others in order.
                if size == 3 {
                    for victim in 0..<size {
                        var t = tree
                        t.remove(handles[victim])
                        let rest = order.filter { $0 != victim }
                        if t.elements != rest || t.checkInvariants() != nil {
                            Issue.record("picks \(picks), removing \(victim): \(t.elements) != \(rest)")
                            return
                        }
                    }
                }
                cases += 1
            }
        }
        #expect(cases == 1 + 12 + 144 + 1728 + 20736)
    }

    // MARK: - 3. Early stop

    struct Stop: Error {}

    @Test("the body returning false stops the walk; a thrown error propagates")
    func earlyStop() {
        var tree = Tree()
        for i in 0..<10 { tree.insert(i, first: i, last: i + 20) }
        var seen: [Int] = []
        tree.forEachOverlapping(first: 5, last: 5) { _, e in
            seen.append(e)
            return seen.count < 3
        }
        #expect(seen == [0, 1, 2])

        seen = []
        tree.forEachOverlapping(first: 0, last: 100) { _, e in
            seen.append(e)
            return false
        }
        #expect(seen == [0])

        seen = []
        #expect(throws: Stop.self) {
            try tree.forEachOverlapping(first: 0, last: 100) { _, e in
                seen.append(e)
                if e == 4 { throw Stop() }
                return true
            }
        }
        #expect(seen == [0, 1, 2, 3, 4])
    }

    // MARK: - 4. ASCII pictures (tools/testing/vma style)

    /// Builds a tree from a picture: the first line is a page-offset ruler, every further line one interval drawn
    /// as a run of its name's letter, starting at the column of its first page. Lines insert top to bottom.
    static func tree(_ picture: String) -> IntervalTree<String> {
        var lines = picture.split(separator: "\n", omittingEmptySubsequences: false)
        let ruler = lines.removeFirst()
        precondition(ruler.hasPrefix("0123456789"), "picture must start with a ruler")
        var tree = IntervalTree<String>()
        for line in lines {
            let chars = Array(line)
            guard let start = chars.firstIndex(where: { $0 != " " }) else { continue }
            var end = start
            while end + 1 < chars.count && chars[end + 1] == chars[start] { end += 1 }
            tree.insert(String(chars[start]), first: start, last: end)
        }
        return tree
    }

    @Test("picture: two overlapping mappings and a distant one")
    func picture() {
        // pgoff  0123456789
        //        AAAA
        //          BBB
        //               CC
        let t = Self.tree("""
            0123456789
            AAAA
              BBB
                   CC
            """)
        #expect(t.checkInvariants() == nil)
        #expect(t.elements == ["A", "B", "C"])
        #expect(t.overlapping(first: 3, last: 4) == ["A", "B"])
        #expect(t.overlapping(first: 0, last: 0) == ["A"])
        #expect(t.overlapping(first: 4, last: 7) == ["B", "C"])
        #expect(t.overlapping(first: 5, last: 6) == [])
        #expect(t.overlapping(first: 9, last: 9) == [])
        #expect(t.overlapping(first: 0, last: 9) == ["A", "B", "C"])
    }

    @Test("picture: equal keys keep insertion order; fork inserts right after the parent's node")
    func pictureFork() throws {
        // pgoff  0123456789
        //        PPPP          parent's mapping of the file
        //        QQ            another process, same first page
        //          RRRRR
        // then fork: P's child mapping "p" is placed right after P, ahead of Q.
        var t = Self.tree("""
            0123456789
            PPPP
            QQ
              RRRRR
            """)
        #expect(t.elements == ["P", "Q", "R"])
        var parent: IntervalTree<String>.Handle?
        t.forEachOverlapping(first: 0, last: 0) { h, e in
            if e == "P" { parent = h }
            return e != "P"
        }
        let p = try #require(parent)
        let child = t.insert("p", first: 0, last: 3, after: p)
        #expect(t.checkInvariants() == nil)
        #expect(t.elements == ["P", "p", "Q", "R"])
        #expect(t.overlapping(first: 3, last: 3) == ["P", "p", "R"])
        #expect(t.interval(child) == (0, 3))
        t.remove(p)
        #expect(t.elements == ["p", "Q", "R"])
        #expect(t.overlapping(first: 1, last: 2) == ["p", "Q", "R"])
        #expect(t.checkInvariants() == nil)
    }

    // MARK: - Other properties

    final class FakeVMA {
        let name: String
        init(_ name: String) { self.name = name }
    }

    @Test("class elements are held strongly while in the tree and released on remove")
    func classElements() {
        var tree = IntervalTree<FakeVMA>()
        weak var weakVMA: FakeVMA?
        var h: IntervalTree<FakeVMA>.Handle
        do {
            let vma = FakeVMA("vma0")
            weakVMA = vma
            h = tree.insert(vma, first: 10, last: 19)
        }
        tree.insert(FakeVMA("vma1"), first: 0, last: 9)
        #expect(weakVMA != nil)
        #expect(tree.element(h) === weakVMA)
        #expect(tree.overlapping(first: 15, last: 30).map(\.name) == ["vma0"])
        tree.remove(h)
        #expect(weakVMA == nil)
        #expect(!tree.contains(h))
        // The freed slot is reused, but the old handle stays dead.
        h = tree.insert(FakeVMA("vma2"), first: 5, last: 5)
        #expect(tree.elements.map(\.name) == ["vma1", "vma2"])
        #expect(tree.checkInvariants() == nil)
    }

    @Test("value semantics: a copy is unaffected by later mutation of the original")
    func valueSemantics() {
        var a = Tree()
        let h = a.insert(1, first: 0, last: 5)
        a.insert(2, first: 3, last: 4)
        let b = a
        a.remove(h)
        a.insert(3, first: 1, last: 1)
        #expect(b.elements == [1, 2])
        #expect(a.elements == [3, 2])
        #expect(b.contains(h) && !a.contains(h))
    }

    /// The shape of a tree as plain values: (first, last, left, right, parent, priority) per slot, plus the root.
    static func shape(_ t: Tree) -> [[Int]] {
        [[Int(t.core.root)]] + t.core.nodes.map {
            [$0.first, $0.last, Int($0.left), Int($0.right), Int($0.parent), Int(truncatingIfNeeded: $0.priority)]
        }
    }

    @Test("determinism: the same operations give the same shape and the same visiting order")
    func determinism() {
        func build() -> (Tree, [Int]) {
            var rng = SplitMix64(seed: 77)
            var t = Tree()
            var live: [Tree.Handle] = []
            for i in 0..<600 {
                if live.count > 20 && rng.below(3) == 0 {
                    t.remove(live.remove(at: rng.below(live.count)))
                } else {
                    let f = rng.below(40)
                    live.append(t.insert(i, first: f, last: f + rng.below(8)))
                }
            }
            return (t, t.overlapping(first: 10, last: 20))
        }
        let (t1, v1) = build(), (t2, v2) = build()
        #expect(Self.shape(t1) == Self.shape(t2))
        #expect(v1 == v2)
    }

    @Test("balance: sorted and equal-key insertions still give a shallow tree")
    func balance() {
        func height(_ t: Tree, _ n: Int32) -> Int {
            n < 0 ? 0 : 1 + max(height(t, t.core.nodes[Int(n)].left), height(t, t.core.nodes[Int(n)].right))
        }
        var sorted = Tree()
        for i in 0..<4096 { sorted.insert(i, first: i, last: i) }
        var equal = Tree()
        var h = equal.insert(0, first: 7, last: 7)
        for i in 1..<4096 {
            // Alternate between plain inserts (appended after all equal keys) and fork-style inserts.
            if i.isMultiple(of: 2) {
                h = equal.insert(i, first: 7, last: 7 + i)
            } else {
                h = equal.insert(i, first: 7, last: 7, after: h)
            }
        }
        #expect(sorted.checkInvariants() == nil)
        #expect(equal.checkInvariants() == nil)
        // A treap over 4096 nodes is about 2.99 ln n ≈ 25 deep on average; 64 would mean it is degenerating.
        #expect(height(sorted, sorted.core.root) < 64)
        #expect(height(equal, equal.core.root) < 64)
        #expect(sorted.overlapping(first: 100, last: 103) == [100, 101, 102, 103])
        #expect(equal.overlapping(first: 4000, last: 5000).count == 51)
    }
}
