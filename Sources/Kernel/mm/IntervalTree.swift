// SPDX-License-Identifier: MIT — the i_mmap interval tree (kernel: mm/interval_tree.c, an augmented rbtree).

/// A balanced, deterministic interval tree over closed page-offset ranges `[first, last]` (both ends inclusive, as
/// the kernel keys a VMA by `[vm_pgoff, vm_pgoff + vma_pages(vma) - 1]`).
///
/// Shape and storage:
/// - It is a value type. All nodes live in one array of plain structs linked by `Int32` indices (left, right, parent)
///   with an intrusive free list, and the elements live in a parallel array, so walking or rebalancing the tree
///   touches no reference counts. Copies share storage until one of them is mutated (copy-on-write via `Array`).
///   The node logic is not generic (see `IntervalTreeCore`), so it runs at full speed even unspecialised.
/// - Balancing is a treap: every node draws a priority from a SplitMix64 stream with a fixed seed, advanced once per
///   insertion, and the tree keeps the max-heap order on priorities. Nothing depends on hashing, on set or
///   dictionary iteration order or on system randomness, so the same sequence of operations always yields the same
///   shape, the same handles and the same visiting order.
/// - Every node carries the augmentation `subtreeLast`, the largest `last` in its subtree, which lets an overlap
///   query skip whole subtrees that end before the query starts.
/// - The in-order ("tree") order sorts by `first`; equal `first`s keep the order in which they were placed:
///   `insert(_:first:last:)` puts a node after every existing equal key, and `insert(_:first:last:after:)` puts it
///   right after a chosen node. Rotations never change the in-order sequence.
///
/// Handles stay valid until their node is removed; a stale handle (its node removed, or its slot reused) is caught
/// by a precondition in every method that takes one.
///
/// Kernel: `struct rb_root_cached i_mmap` in `struct address_space` with the `vma_interval_tree_*` operations —
/// mm/interval_tree.c
package struct IntervalTree<Element> {
    /// An opaque, stable reference to one node: a slot index plus the slot's generation, so a handle to a removed
    /// node never aliases a later node that reuses the slot.
    ///
    /// Kernel: the `struct rb_node shared.rb` embedded in each `struct vm_area_struct` — include/linux/mm_types.h
    package struct Handle: Hashable, Sendable {
        internal let index: Int32
        internal let generation: UInt32
        internal init(index: Int32, generation: UInt32) {
            self.index = index
            self.generation = generation
        }
    }

    /// Links, keys, priorities and augmentation.
    internal var core = IntervalTreeCore()
    /// `payload[i]` is the element of node slot `i`, `nil` for a free slot.
    internal var payload: [Element?] = []

    /// Creates an empty tree.
    ///
    /// Kernel: `mapping->i_mmap = RB_ROOT_CACHED` in `__address_space_init_once()` — fs/inode.c
    package init() {}

    /// The number of elements in the tree.
    ///
    /// Kernel: no counter exists; the nearest question is `mapping_mapped()` (is the tree non-empty) —
    /// include/linux/fs.h
    package var count: Int { core.count }

    /// Whether the tree holds no elements.
    ///
    /// Kernel: `RB_EMPTY_ROOT(&mapping->i_mmap.rb_root)`, as used by `mapping_mapped()` — include/linux/fs.h
    package var isEmpty: Bool { core.count == 0 }

    // MARK: Insertion and removal

    /// Inserts `e` under the closed interval `[first, last]` and returns its handle. A node whose `first` equals
    /// existing keys goes after all of them (so equal keys keep insertion order). Precondition: `first <= last`.
    ///
    /// Kernel: `vma_interval_tree_insert()` — mm/interval_tree.c
    @discardableResult
    package mutating func insert(_ e: Element, first: Int, last: Int) -> Handle {
        precondition(first <= last, "IntervalTree.insert: empty interval [\(first), \(last)]")
        let n = core.insert(first: first, last: last)
        store(e, at: n)
        return handle(n)
    }

    /// Inserts `e` under `[first, last]` as the in-order successor of `prev`, ahead of any other node that shares
    /// `prev`'s `first`. Fork uses this so the child's VMA sits next to the parent's. Preconditions: `prev` is
    /// live, `first == interval(prev).first` and `first <= last`.
    ///
    /// Kernel: `vma_interval_tree_insert_after()` — mm/interval_tree.c
    @discardableResult
    package mutating func insert(_ e: Element, first: Int, last: Int, after prev: Handle) -> Handle {
        let p = checked(prev, "insert(after:)")
        precondition(first <= last, "IntervalTree.insert(after:): empty interval [\(first), \(last)]")
        precondition(first == core.nodes[Int(p)].first,
                     "IntervalTree.insert(after:): first \(first) differs from prev's \(core.nodes[Int(p)].first)")
        let n = core.insert(first: first, last: last, after: p)
        store(e, at: n)
        return handle(n)
    }

    /// Removes the node `h` refers to and drops the tree's reference to its element; `h` (and every copy of it)
    /// becomes invalid. Precondition: `h` is live.
    ///
    /// Kernel: `vma_interval_tree_remove()` — mm/interval_tree.c
    package mutating func remove(_ h: Handle) {
        let n = checked(h, "remove")
        core.remove(n)
        payload[Int(n)] = nil
    }

    // MARK: Lookup

    /// The element stored at `h`. Precondition: `h` is live.
    ///
    /// Kernel: `container_of(node, struct vm_area_struct, shared.rb)` (what the iterators hand back) —
    /// mm/interval_tree.c
    package func element(_ h: Handle) -> Element {
        payload[Int(checked(h, "element"))]!
    }

    /// The closed interval stored at `h`. Precondition: `h` is live.
    ///
    /// Kernel: `vma_start_pgoff()` / `vma_last_pgoff()` — mm/interval_tree.c
    package func interval(_ h: Handle) -> (first: Int, last: Int) {
        let node = core.nodes[Int(checked(h, "interval"))]
        return (node.first, node.last)
    }

    /// Whether `h` still refers to a node of this tree (it has not been removed).
    ///
    /// Kernel: no counterpart; the nearest is `RB_EMPTY_NODE(&vma->shared.rb)` — include/linux/rbtree.h
    package func contains(_ h: Handle) -> Bool {
        core.isLive(h.index, generation: h.generation)
    }

    /// Calls `body` with every node whose interval overlaps the closed query `[first, last]` — that is, every node
    /// with `node.first <= last && first <= node.last` — in tree order (ascending `first`, equal keys in tree
    /// order). `body` returns `false` to stop the walk early. Precondition: `first <= last`. The body must not
    /// mutate the tree.
    ///
    /// The walk follows parent links, so it allocates nothing and uses no recursion. Subtrees whose `subtreeLast`
    /// is below `first` are skipped, and the walk ends at the first node that starts after `last`: reporting `k`
    /// nodes costs O(log n + k) when the hits are adjacent in tree order, and never more than O((k + 1) log n).
    ///
    /// Kernel: `vma_interval_tree_foreach()` (`vma_interval_tree_iter_first()` / `_iter_next()`) —
    /// mm/interval_tree.c
    package func forEachOverlapping(first: Int, last: Int, _ body: (Handle, Element) throws -> Bool) rethrows {
        precondition(first <= last, "IntervalTree.forEachOverlapping: empty query [\(first), \(last)]")
        var n = core.firstOverlap(first: first, last: last)
        while n >= 0 {
            guard try body(handle(n), payload[Int(n)]!) else { return }
            n = core.nextOverlap(after: n, first: first, last: last)
        }
    }

    /// The elements whose intervals overlap the closed query `[first, last]`, in tree order (the order
    /// `forEachOverlapping(first:last:_:)` visits them). Precondition: `first <= last`.
    ///
    /// Kernel: collecting `vma_interval_tree_foreach(vma, &mapping->i_mmap, first, last)` — mm/interval_tree.c
    package func overlapping(first: Int, last: Int) -> [Element] {
        precondition(first <= last, "IntervalTree.overlapping: empty query [\(first), \(last)]")
        var out: [Element] = []
        var n = core.firstOverlap(first: first, last: last)
        while n >= 0 {
            out.append(payload[Int(n)]!)
            n = core.nextOverlap(after: n, first: first, last: last)
        }
        return out
    }

    /// All elements in tree order (ascending `first`, equal keys in tree order).
    ///
    /// Kernel: `vma_interval_tree_foreach(vma, &mapping->i_mmap, 0, ULONG_MAX)` — mm/interval_tree.c
    package var elements: [Element] {
        var out: [Element] = []
        out.reserveCapacity(core.count)
        var n = core.root < 0 ? -1 : core.leftmost(core.root)
        while n >= 0 {
            out.append(payload[Int(n)]!)
            n = core.successor(n)
        }
        return out
    }

    /// Test hook. Checks the parent links, the in-order key order, the treap's heap order on priorities (its
    /// balance invariant), the augmented `subtreeLast` of every node, the node count, the free list and that
    /// exactly the live slots hold elements; returns a description of the first violation, or `nil`.
    ///
    /// Kernel: `check()` / `check_augmented()` in lib/rbtree_test.c (and `CONFIG_DEBUG_VM_RB`)
    package func checkInvariants() -> String? {
        if let bad = core.checkInvariants() { return bad }
        if payload.count != core.nodes.count {
            return "payload.count \(payload.count) != nodes.count \(core.nodes.count)"
        }
        for i in payload.indices where (payload[i] != nil) != (core.nodes[i].generation & 1 == 1) {
            return payload[i] == nil ? "live slot \(i) has no element" : "free slot \(i) still holds an element"
        }
        return nil
    }

    // MARK: Walking with handles

    /// The first node overlapping `[first, last]`, for walks that may switch tasks between nodes (the tree must not
    /// change until the walk ends; i_mmap_rwsem guarantees that for i_mmap). An empty query (`last < first`) finds
    /// nothing. Kernel: vma_interval_tree_iter_first() — mm/interval_tree.c
    func iterFirst(first: Int, last: Int) -> Handle? {
        guard first <= last else { return nil }
        let n = core.firstOverlap(first: first, last: last)
        return n < 0 ? nil : handle(n)
    }

    /// The next node after `h` overlapping `[first, last]`. Kernel: vma_interval_tree_iter_next()
    func iterNext(after h: Handle, first: Int, last: Int) -> Handle? {
        precondition(contains(h), "i_mmap changed under a walk that holds a handle into it")
        let n = core.nextOverlap(after: h.index, first: first, last: last)
        return n < 0 ? nil : handle(n)
    }

    // MARK: Internals

    @inline(__always)
    private func handle(_ n: Int32) -> Handle {
        Handle(index: n, generation: core.nodes[Int(n)].generation)
    }

    /// The node index behind a live handle; traps on a stale or foreign handle.
    private func checked(_ h: Handle, _ op: StaticString) -> Int32 {
        precondition(core.isLive(h.index, generation: h.generation), "IntervalTree.\(op): stale or foreign handle")
        return h.index
    }

    /// Puts `e` in the payload slot matching the node slot `n` the core just handed out.
    private mutating func store(_ e: Element, at n: Int32) {
        if Int(n) == payload.count {
            payload.append(e)
        } else {
            payload[Int(n)] = e
        }
    }
}

extension IntervalTree: Sendable where Element: Sendable {}

/// The element-free half of `IntervalTree`: the node pool, the treap links and priorities and the `subtreeLast`
/// augmentation. Keeping it non-generic means the tree algorithms are compiled once, for concrete types.
internal struct IntervalTreeCore: Sendable {
    /// One tree node. `generation` is odd while the node is live and even while it is on the free list; a free
    /// node's `parent` field links the free list.
    struct Node: Sendable {
        var first: Int
        var last: Int
        var subtreeLast: Int
        var priority: UInt64
        var left: Int32
        var right: Int32
        var parent: Int32
        var generation: UInt32
    }

    var nodes: [Node] = []
    var root: Int32 = -1
    var freeHead: Int32 = -1
    var count = 0
    /// SplitMix64 state for node priorities; a fixed seed, advanced once per insertion.
    var priorityState: UInt64 = 0x0FBD_EF10_1A1A_7EE5

    func isLive(_ n: Int32, generation: UInt32) -> Bool {
        n >= 0 && Int(n) < nodes.count && nodes[Int(n)].generation == generation
    }

    // MARK: Insertion and removal

    /// Links a new node after every existing node with an equal or smaller `first`; returns its slot.
    mutating func insert(first: Int, last: Int) -> Int32 {
        let n = allocate(first: first, last: last)
        if root < 0 {
            root = n
        } else {
            // Walk down to a leaf slot. Every node passed will contain the new node, so widen its augmentation now.
            var cur = root
            while true {
                if nodes[Int(cur)].subtreeLast < last { nodes[Int(cur)].subtreeLast = last }
                if first < nodes[Int(cur)].first {
                    let next = nodes[Int(cur)].left
                    if next < 0 { nodes[Int(cur)].left = n; break }
                    cur = next
                } else {
                    let next = nodes[Int(cur)].right
                    if next < 0 { nodes[Int(cur)].right = n; break }
                    cur = next
                }
            }
            nodes[Int(n)].parent = cur
        }
        siftUp(n)
        count += 1
        return n
    }

    /// Links a new node as the in-order successor of live node `p` (the caller checked that the keys agree).
    mutating func insert(first: Int, last: Int, after p: Int32) -> Int32 {
        let n = allocate(first: first, last: last)
        // The successor slot is p's empty right link, or else the empty left link of the leftmost node of p's
        // right subtree.
        var parent = p
        if nodes[Int(p)].right < 0 {
            nodes[Int(p)].right = n
        } else {
            parent = leftmost(nodes[Int(p)].right)
            nodes[Int(parent)].left = n
        }
        nodes[Int(n)].parent = parent
        // Widen the augmentation on the path back to the root; stop once an ancestor already covers `last`.
        var a = parent
        while a >= 0 && nodes[Int(a)].subtreeLast < last {
            nodes[Int(a)].subtreeLast = last
            a = nodes[Int(a)].parent
        }
        siftUp(n)
        count += 1
        return n
    }

    /// Unlinks live node `n` and puts its slot on the free list (bumping its generation).
    mutating func remove(_ n: Int32) {
        // Rotate the node down, always lifting its higher-priority child, until it is a leaf.
        while true {
            let l = nodes[Int(n)].left, r = nodes[Int(n)].right
            if l < 0 && r < 0 { break }
            let up: Int32
            if l < 0 {
                up = r
            } else if r < 0 {
                up = l
            } else {
                up = nodes[Int(l)].priority >= nodes[Int(r)].priority ? l : r
            }
            rotateUp(up)
        }
        // Detach the leaf, then recompute the augmentation upwards until a value stops changing.
        let parent = nodes[Int(n)].parent
        if parent < 0 {
            root = -1
        } else {
            if nodes[Int(parent)].left == n { nodes[Int(parent)].left = -1 } else { nodes[Int(parent)].right = -1 }
            var a = parent
            while a >= 0 {
                let updated = computedSubtreeLast(a)
                if updated == nodes[Int(a)].subtreeLast { break }
                nodes[Int(a)].subtreeLast = updated
                a = nodes[Int(a)].parent
            }
        }
        nodes[Int(n)].generation &+= 1
        nodes[Int(n)].left = -1
        nodes[Int(n)].right = -1
        nodes[Int(n)].parent = freeHead
        freeHead = n
        count -= 1
    }

    /// Takes a slot from the free list (or appends one), fills it and draws its priority. The slot is not linked.
    private mutating func allocate(first: Int, last: Int) -> Int32 {
        let priority = nextPriority()
        if freeHead >= 0 {
            let n = freeHead
            freeHead = nodes[Int(n)].parent
            let generation = nodes[Int(n)].generation &+ 1
            nodes[Int(n)] = Node(first: first, last: last, subtreeLast: last, priority: priority,
                                 left: -1, right: -1, parent: -1, generation: generation)
            return n
        }
        precondition(nodes.count < Int(Int32.max), "IntervalTree: too many nodes")
        nodes.append(Node(first: first, last: last, subtreeLast: last, priority: priority,
                          left: -1, right: -1, parent: -1, generation: 1))
        return Int32(nodes.count - 1)
    }

    /// One SplitMix64 step.
    private mutating func nextPriority() -> UInt64 {
        priorityState &+= 0x9E37_79B9_7F4A_7C15
        var z = priorityState
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Rotates `n` above its parent until the heap order on priorities holds again.
    private mutating func siftUp(_ n: Int32) {
        while true {
            let p = nodes[Int(n)].parent
            if p < 0 || nodes[Int(p)].priority >= nodes[Int(n)].priority { return }
            rotateUp(n)
        }
    }

    /// One rotation lifting `x` over its parent `p`; the in-order sequence is unchanged. `x` takes over `p`'s old
    /// subtree, so it inherits `p`'s `subtreeLast`; `p` recomputes its own from its new children.
    private mutating func rotateUp(_ x: Int32) {
        let p = nodes[Int(x)].parent
        let g = nodes[Int(p)].parent
        if nodes[Int(p)].left == x {
            let inner = nodes[Int(x)].right
            nodes[Int(p)].left = inner
            if inner >= 0 { nodes[Int(inner)].parent = p }
            nodes[Int(x)].right = p
        } else {
            let inner = nodes[Int(x)].left
            nodes[Int(p)].right = inner
            if inner >= 0 { nodes[Int(inner)].parent = p }
            nodes[Int(x)].left = p
        }
        nodes[Int(p)].parent = x
        nodes[Int(x)].parent = g
        if g < 0 {
            root = x
        } else if nodes[Int(g)].left == p {
            nodes[Int(g)].left = x
        } else {
            nodes[Int(g)].right = x
        }
        nodes[Int(x)].subtreeLast = nodes[Int(p)].subtreeLast
        nodes[Int(p)].subtreeLast = computedSubtreeLast(p)
    }

    @inline(__always)
    private func computedSubtreeLast(_ n: Int32) -> Int {
        let node = nodes[Int(n)]
        var m = node.last
        if node.left >= 0 { m = max(m, nodes[Int(node.left)].subtreeLast) }
        if node.right >= 0 { m = max(m, nodes[Int(node.right)].subtreeLast) }
        return m
    }

    // MARK: Walking

    func leftmost(_ start: Int32) -> Int32 {
        var n = start
        while nodes[Int(n)].left >= 0 { n = nodes[Int(n)].left }
        return n
    }

    /// In-order successor by parent links, or -1.
    func successor(_ start: Int32) -> Int32 {
        let r = nodes[Int(start)].right
        if r >= 0 { return leftmost(r) }
        var n = start
        var p = nodes[Int(n)].parent
        while p >= 0 && nodes[Int(p)].right == n {
            n = p
            p = nodes[Int(p)].parent
        }
        return p
    }

    /// The in-order first node overlapping `[first, last]`, or -1.
    func firstOverlap(first: Int, last: Int) -> Int32 {
        guard root >= 0 && nodes[Int(root)].subtreeLast >= first else { return -1 }
        return firstOverlap(in: root, first: first, last: last)
    }

    /// The in-order first node of the subtree at `start` that overlaps `[first, last]`, or -1. Precondition: the
    /// subtree's `subtreeLast >= first`.
    ///
    /// Why a single downward path suffices: if the left subtree reaches `first` (its `subtreeLast >= first`), some
    /// node X in it ends at or after `first`. Either the left subtree holds a match, or X starts after `last`; in
    /// that case every node after X in order starts after `last` too, so nothing in the whole subtree matches and
    /// returning -1 from the left descent is the right answer. Otherwise nothing on the left matches and the
    /// current node, then its right subtree, are the only candidates.
    private func firstOverlap(in start: Int32, first: Int, last: Int) -> Int32 {
        var n = start
        while true {
            let node = nodes[Int(n)]
            if node.left >= 0 && nodes[Int(node.left)].subtreeLast >= first {
                n = node.left
                continue
            }
            if node.first > last { return -1 }
            if node.last >= first { return n }
            if node.right >= 0 && nodes[Int(node.right)].subtreeLast >= first {
                n = node.right
                continue
            }
            return -1
        }
    }

    /// The in-order next node after `start` that overlaps `[first, last]`, or -1. The argument given for
    /// `firstOverlap(in:first:last:)` also means that a right subtree which reaches `first` but holds no match
    /// ends the whole walk.
    func nextOverlap(after start: Int32, first: Int, last: Int) -> Int32 {
        var n = start
        var right = nodes[Int(n)].right
        while true {
            if right >= 0 && nodes[Int(right)].subtreeLast >= first {
                return firstOverlap(in: right, first: first, last: last)
            }
            // Climb until we leave a left subtree: that ancestor is the next node in order.
            var from: Int32
            repeat {
                from = n
                n = nodes[Int(n)].parent
                if n < 0 { return -1 }
                right = nodes[Int(n)].right
            } while right == from
            let node = nodes[Int(n)]
            if node.first > last { return -1 }
            if node.last >= first { return n }
        }
    }

    // MARK: Checking

    /// See `IntervalTree.checkInvariants()`.
    func checkInvariants() -> String? {
        if root >= 0 && (Int(root) >= nodes.count || nodes[Int(root)].parent != -1) {
            return "root \(root) is out of range or has a parent"
        }
        var seen = [Bool](repeating: false, count: nodes.count)
        var reached = 0
        // Structural walk (explicit stack): links, liveness, heap order and augmentation.
        var stack: [Int32] = root >= 0 ? [root] : []
        while let n = stack.popLast() {
            if seen[Int(n)] { return "node \(n) reached twice (cycle or shared child)" }
            seen[Int(n)] = true
            reached += 1
            let node = nodes[Int(n)]
            if node.generation & 1 == 0 { return "node \(n) is linked into the tree but marked free" }
            if node.first > node.last { return "node \(n) has empty interval [\(node.first), \(node.last)]" }
            var expected = node.last
            for side in 0..<2 {
                let child = side == 0 ? node.left : node.right
                if child < 0 { continue }
                if Int(child) >= nodes.count { return "node \(n) has child index \(child) out of range" }
                let c = nodes[Int(child)]
                if c.parent != n { return "node \(child) has parent \(c.parent), expected \(n)" }
                if c.priority > node.priority { return "heap order broken: child \(child) outranks parent \(n)" }
                expected = max(expected, c.subtreeLast)
                stack.append(child)
            }
            if node.subtreeLast != expected {
                return "node \(n) [\(node.first), \(node.last)] has subtreeLast \(node.subtreeLast), "
                    + "expected \(expected)"
            }
        }
        if reached != count { return "count is \(count) but \(reached) nodes are reachable" }
        // Key order along the in-order walk (the structural walk proved the tree finite and acyclic).
        if root >= 0 {
            var prev = leftmost(root)
            var n = successor(prev)
            while n >= 0 {
                if nodes[Int(n)].first < nodes[Int(prev)].first {
                    return "key order broken: node \(n) (first \(nodes[Int(n)].first)) follows node \(prev) "
                        + "(first \(nodes[Int(prev)].first))"
                }
                prev = n
                n = successor(n)
            }
        }
        // Free list: every slot not in the tree must be on it exactly once and marked free.
        var free = 0
        var f = freeHead
        while f >= 0 {
            if Int(f) >= nodes.count { return "free list index \(f) out of range" }
            if seen[Int(f)] { return "slot \(f) is both in the tree and on the free list (or the list cycles)" }
            seen[Int(f)] = true
            if nodes[Int(f)].generation & 1 != 0 { return "free slot \(f) is marked live" }
            free += 1
            f = nodes[Int(f)].parent
        }
        if free + count != nodes.count { return "\(free) free + \(count) live slots != \(nodes.count) allocated" }
        return nil
    }
}
