// SPDX-License-Identifier: MIT — golden text files of hashes: one line per run, its flags, then what it must give.
import Foundation
import Synchronization

/// A golden file whose lines read `KEY → VALUES`: the key names a run (the flags of the command that makes it), the
/// values are what it must give (`frame 1a91851f6ca8564d event …`). `#` starts a comment line; blank lines are
/// skipped. Under RECORD_SNAPSHOTS=1 (`make golden`) `check` first rewrites the key's line with what the current
/// build computed, as the replay goldens' tests do with their `.out` files; the change then shows in `git diff`.
package struct GoldenLines: Sendable {
    package static let separator = " → "
    package let path: String

    /// `name` in the Goldens folder beside the test file `file` (pass `#filePath`).
    package init(_ name: String, besides file: String) {
        path = URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent("Goldens")
            .appendingPathComponent(name).path
    }

    private func entries() -> [(key: String, value: String)] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            preconditionFailure("cannot read the golden file \(path)")
        }
        return text.split(separator: "\n").compactMap { line in
            if line.hasPrefix("#") || line.allSatisfy(\.isWhitespace) { return nil }
            let parts = line.components(separatedBy: Self.separator)
            precondition(parts.count == 2, "\(path): not 'KEY\(Self.separator)VALUES': \(line)")
            return (parts[0].trimmingCharacters(in: .whitespaces), parts[1].trimmingCharacters(in: .whitespaces))
        }
    }

    /// The runs' keys, in the file's order (the arguments of a parameterized test).
    package var keys: [String] { entries().map(\.key) }

    /// The values `key` must give, or nil if the file has no line for it.
    package func expected(_ key: String) -> String? { entries().first { $0.key == key }?.value }

    /// The values `key` must give, after recording `got` as them under RECORD_SNAPSHOTS=1.
    package func expected(_ key: String, recording got: String) -> String? {
        if ProcessInfo.processInfo.environment["RECORD_SNAPSHOTS"] == "1" { record(key, got) }
        return expected(key)
    }

    /// Replaces the key's line (or appends one), keeping every other line as it is. The parameterized cases of one
    /// test run in parallel; the lock keeps their rewrites of the file from overlapping.
    private func record(_ key: String, _ value: String) {
        goldenFileLock.withLock { _ in
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            if lines.last == "" { lines.removeLast() }
            let line = key + Self.separator + value
            if let i = lines.firstIndex(where: { $0.hasPrefix(key + Self.separator) }) {
                lines[i] = line
            } else {
                lines.append(line)
            }
            do { try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8) } catch {
                preconditionFailure("cannot write the golden file \(path): \(error)")
            }
        }
    }
}

private let goldenFileLock = Mutex(())
