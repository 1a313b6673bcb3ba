// SPDX-License-Identifier: MIT — helpers for the front-end tests: child processes, tool lookup, frames.
import Foundation
import Frontend
import Kernel
import Lab
import Synchronization
import Testing
import TestSupport

extension SplitMix64 {
    /// A test image of seeded pixel values.
    mutating func image(width: Int, height: Int) -> ARGBImage {
        ARGBImage(width: width, height: height, pixels: (0 ..< width * height).map { _ in
            UInt32(truncatingIfNeeded: next())
        })
    }
}

func fullRect(_ w: Int, _ h: Int) -> Rect { Rect(x: 0, y: 0, width: w, height: h) }

func frame(_ index: Int, _ image: ARGBImage, dirty: [Rect], pages: [Rect] = [],
           hud: HUDStats = HUDStats()) -> Frame {
    Frame(index: index, width: image.width, height: image.height, pixels: image.pixels, dirty: dirty,
          lastBatchPages: pages, hud: hud)
}

/// Runs `body` once per key, however often it is called (onPresent fires on every present).
final class Once: Sendable {
    private let done = Mutex(Set<String>())
    func callAsFunction(_ key: String, _ body: () -> Void) {
        let first = done.withLock { $0.insert(key).inserted }
        if first { body() }
    }
}

/// The built executables sit next to the test bundle in the build folder.
func builtProduct(_ name: String) -> String {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent(name).path
}

func tempDirectory(_ tag: String) throws -> String {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("fbdefio-frontend-\(tag)-\(getpid())-\(UInt32.random(in: 0 ... .max))").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// A child process whose output is collected as it arrives.
///
/// posix_spawn hands the calling thread's signal mask to the child, and test threads (libdispatch workers) block
/// most signals: a child spawned from one would ignore SIGTERM. So the child starts with an empty mask, unless
/// `blockQuitSignals` asks for SIGINT and SIGTERM to be blocked (to test a program that must cope with that).
final class Child {
    let process: Process
    private let out = LockedBox("")
    private let err = LockedBox("")
    private let closedPipes = LockedBox(0)

    /// `environment` entries replace the inherited ones; a nil value removes the variable.
    init(_ executable: String, _ arguments: [String], environment: [String: String?] = [:],
         blockQuitSignals: Bool = false) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let o = Pipe(), e = Pipe()
        process.standardOutput = o
        process.standardError = e
        process.standardInput = FileHandle.nullDevice
        var mask = sigset_t(), saved = sigset_t()
        sigemptyset(&mask)
        if blockQuitSignals {
            sigaddset(&mask, SIGINT)
            sigaddset(&mask, SIGTERM)
        }
        pthread_sigmask(SIG_SETMASK, &mask, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        try process.run()
        Self.drain(o.fileHandleForReading, into: out, closed: closedPipes)
        Self.drain(e.fileHandleForReading, into: err, closed: closedPipes)
    }

    private static func drain(_ handle: FileHandle, into sink: LockedBox<String>, closed: LockedBox<Int>) {
        let h = UncheckedHandle(handle: handle)
        Thread.detachNewThread {
            while true {
                let data = h.handle.availableData
                if data.isEmpty { break }
                sink.update { $0 += String(decoding: data, as: UTF8.self) }
            }
            closed.update { $0 += 1 }
        }
    }

    var stdout: String { out.get }
    var stderr: String { err.get }

    /// Both output pipes have reached end of file (everything the child wrote is in `stdout`/`stderr`).
    var outputComplete: Bool { closedPipes.get == 2 }

    /// Waits (without holding a thread) until `done()` or `timeout` seconds passed; returns `done()`.
    private func poll(timeout: Double, _ done: () -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !done() && Date() < deadline { try? await Task.sleep(for: .milliseconds(10)) }
        return done()
    }

    private func firstLine(_ prefix: String) -> String? {
        stdout.split(separator: "\n").first { $0.hasPrefix(prefix) }.map(String.init)
    }

    /// The first stdout line starting with `prefix`, waiting up to `timeout` seconds (less if the child ends).
    func waitForLine(_ prefix: String, timeout: Double) async -> String? {
        _ = await poll(timeout: timeout) { firstLine(prefix) != nil || outputComplete }
        return firstLine(prefix)
    }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// The exit status once the child ended and its output was read, or nil if it did not end within `timeout`
    /// seconds (it is then killed).
    func waitForExit(timeout: Double) async -> Int32? {
        guard await poll(timeout: timeout, { !process.isRunning }) else {
            stop()
            return nil
        }
        process.waitUntilExit()
        _ = await poll(timeout: 5) { outputComplete }
        return process.terminationStatus
    }

    /// Blocks until the child ends and its output was read (for the one-off tool installation).
    func waitForExitBlocking() -> Int32 {
        process.waitUntilExit()
        while !outputComplete { Thread.sleep(forTimeInterval: 0.01) }
        return process.terminationStatus
    }

    /// Ends the process if it still runs (cleanup path).
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// FileHandle is not Sendable; each one here is used by one reader thread only.
private struct UncheckedHandle: @unchecked Sendable {
    let handle: FileHandle
}

/// Runs a command to completion: status (nil on timeout) and combined output.
@discardableResult
func runCommand(_ executable: String, _ arguments: [String], environment: [String: String?] = [:],
                timeout: Double = 60) async throws -> (status: Int32?, output: String) {
    let child = try Child(executable, arguments, environment: environment)
    let status = await child.waitForExit(timeout: timeout)
    return (status, child.stdout + child.stderr)
}

/// The same, blocking the calling thread (for code that cannot be async, such as a lazily computed static).
func runCommandBlocking(_ executable: String, _ arguments: [String], environment: [String: String?] = [:])
    throws -> (status: Int32, output: String) {
    let child = try Child(executable, arguments, environment: environment)
    let status = child.waitForExitBlocking()
    return (status, child.stdout + child.stderr)
}
