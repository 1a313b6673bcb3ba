// SPDX-License-Identifier: MIT — what the commands that run a machine share on the host side: the assets flag, a
// progress line, PNG snapshots and the signals that end a headless run.
import ArgumentParser
import Dispatch
import Foundation
import Frontend
import Kernel
import Lab
import Workloads

/// A folder the user named that holds no assets is bad input (status 2), unlike assets that cannot be found (3).
func checkAssetsFlag(_ path: String?) throws {
    guard let path else { return }
    do { _ = try Assets.locate(explicit: path) } catch {
        throw ValidationError("--assets: '\(path)' is not an assets folder (no \(Assets.markerFile) in it)")
    }
}

/// A one-line progress report on standard error, redrawn at most five times a second of wall time.
final class ProgressLine: @unchecked Sendable {
    private let lock = NSLock()
    private var last = ContinuousClock.now - .seconds(1)

    func update(_ done: Int, _ total: Int?, _ now: VirtualTime) {
        show("frame \(done)\(total.map { " of \($0)" } ?? ""), virtual time \(now)", force: done == total)
    }

    /// Redraws the line with `text`, at most five times a second unless `force`.
    func show(_ text: String, force: Bool = false) {
        lock.lock()
        defer { lock.unlock() }
        let wall = ContinuousClock.now
        guard wall - last >= .milliseconds(200) || force else { return }
        last = wall
        FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
    }

    func clear() { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
}

/// Writes PNG snapshots from the emulator thread, at the deterministic points the machine chooses.
final class PNGSnapshots: @unchecked Sendable {
    let directory: String
    private let lock = NSLock()
    private var count = 0
    private var error: String?
    init(directory: String) { self.directory = directory }

    func write(_ frame: Frame) {
        lock.lock()
        defer { lock.unlock() }
        let name = frame.dirty.isEmpty ? String(format: "update-%05d.png", count) : "final.png"
        count += 1
        do {
            try PNGEncoder.write("\(directory)/\(name)", width: frame.width, height: frame.height, argb: frame.pixels)
        } catch {
            if self.error == nil { self.error = "cannot write \(directory)/\(name): \(error)" }
        }
    }

    var firstError: String? {
        lock.lock()
        defer { lock.unlock() }
        return error
    }
}

/// Turns SIGINT/SIGTERM into a stop request, so that a run ends cleanly with its summary.
final class StopOnSignals: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    init(_ mailbox: FrameMailbox) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { mailbox.requestStop() }
            source.resume()
            sources.append(source)
        }
    }
    func cancel() { sources.forEach { $0.cancel() } }
}
