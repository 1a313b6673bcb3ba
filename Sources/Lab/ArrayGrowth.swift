// SPDX-License-Identifier: MIT — the tables indexed by small ids (a scheduler task's, an mm's, a page's) that the
// checkers and the replay grow as the ids appear.

extension Array {
    /// Appends `filler` until the array holds at least `count` elements.
    @inline(__always) mutating func grow(to count: Int, with filler: Element) {
        if self.count < count { append(contentsOf: repeatElement(filler, count: count - self.count)) }
    }
}
