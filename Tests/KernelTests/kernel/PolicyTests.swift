import Testing
@testable import Kernel

/// The pure scheduling policies: PCT's priorities and change points, the scripted policy's defaults.
@Suite struct PolicyTests {
    /// PCT runs the highest-priority runnable task, the same one at every step until a change point demotes it.
    @Test func pctRunsTheHighestPriorityUntilAChangePoint() throws {
        var p = SchedPolicy.pct(seed: 7, depth: 3, steps: 20)
        #expect(p.changePoints.count == 2)
        #expect(p.changePoints == p.changePoints.sorted())
        #expect(p.changePoints.allSatisfy { (0 ..< 20).contains($0) })
        var runs: [Int] = []
        var current = 0
        for _ in 0 ..< 20 {
            current = p.pick(current: current, runnable: [0, 1, 2], sliceUsed: .zero)
            runs.append(current)
        }
        // Between change points the choice never moves; at each one the running task drops below every other.
        let first = p.changePoints[0]
        try #require(first > 0, "seed 7 puts no change point at step 0")
        #expect(Set(runs[0 ..< first]).count == 1)
        let demoted = runs[0]
        #expect(p.priorities[demoted]! <= p.changePoints.count)
        #expect(runs[first] != demoted)
        // Initial priorities lie above every demotion value.
        let second = p.changePoints[1]
        #expect(Set(runs[first ..< second]).count <= 1)
        #expect(p.priorities[runs[first]]! != p.priorities[demoted]!)
    }

    /// A later change point gives a lower priority than an earlier one.
    @Test func laterChangePointsDemoteFurther() {
        var p = SchedPolicy.pct(seed: 3, depth: 4, steps: 6)
        var current = 0
        var demotedAt: [Int: Int] = [:]
        for step in 0 ..< 6 {
            current = p.pick(current: current, runnable: [0, 1, 2, 3], sliceUsed: .zero)
            if let i = p.changePoints.firstIndex(of: step + 1) { demotedAt[i] = current }
        }
        let values = p.changePoints.indices.compactMap { i in demotedAt[i].flatMap { p.priorities[$0] } }
        #expect(values == values.sorted(by: >))
    }

    /// The same seed gives the same change points and the same choices.
    @Test func pctIsDeterministic() {
        var a = SchedPolicy.pct(seed: 11, depth: 3, steps: 50), b = SchedPolicy.pct(seed: 11, depth: 3, steps: 50)
        #expect(a.changePoints == b.changePoints)
        for i in 0 ..< 50 {
            let r = [0, 1, 2, 3].filter { $0 != i % 4 || i % 3 == 0 }
            #expect(a.pick(current: i % 4, runnable: r, sliceUsed: .zero) == b.pick(current: i % 4, runnable: r, sliceUsed: .zero))
        }
    }

    /// The scripted policy switches exactly where told (when the task can run) and otherwise stays, or hands the
    /// CPU to the lowest runnable id when the current task cannot go on.
    @Test func scriptedFollowsItsSwitchesAndDefaults() {
        var p = SchedPolicy(.scripted(switches: [1: 2, 3: 9]), seed: 0)
        #expect(p.pick(current: 0, runnable: [0, 1, 2], sliceUsed: .zero) == 0)  // step 0: stay
        #expect(p.pick(current: 0, runnable: [0, 1, 2], sliceUsed: .zero) == 2)  // step 1: switch to 2
        #expect(p.pick(current: 2, runnable: [0, 1], sliceUsed: .zero) == 0)     // step 2: 2 blocked, lowest
        #expect(p.pick(current: 0, runnable: [0, 1], sliceUsed: .zero) == 0)     // step 3: 9 cannot run, stay
    }
}

/// The page list with CONFIG_DEBUG_LIST's checks.
@Suite struct PagerefListTests {
    @Test func addDeleteAndWalk() {
        var l = PagerefList(nodes: 4)
        #expect(l.addTail(2) == nil)
        #expect(l.addTail(0) == nil)
        #expect(l.add(1, before: l.sortedSuccessor(of: 1)) == nil)  // sorted: before 2
        #expect(l.walk().nodes == [1, 2, 0])
        #expect(!l.isUnlisted(2))
        #expect(l.delInit(2) == nil)
        #expect(l.isUnlisted(2))
        #expect(l.walk().nodes == [1, 0])
        #expect(l.walk().looped == false)
    }

    /// Bug B's shape: a listed node re-initialised behind the list's back; the next add finds the tail pointing at
    /// itself and refuses, and a walk never gets back to the head.
    @Test func reinitialisedListedNodeIsCorruption() {
        var l = PagerefList(nodes: 4)
        #expect(l.addTail(0) == nil)
        l.initNode(0)
        let report = l.addTail(1)
        #expect(report?.hasPrefix("list_add corruption. prev->next should be next (head), but was node 0") == true)
        #expect(l.walk().looped)
        var d = PagerefList(nodes: 2)
        #expect(d.addTail(1) == nil)
        #expect(d.addTail(1)?.hasPrefix("list_add double add") == true)
    }
}
