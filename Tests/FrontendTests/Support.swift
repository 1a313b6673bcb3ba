// SPDX-License-Identifier: MIT — helpers for the front-end tests: child processes, tool lookup, frames.
import Foundation
import Frontend
import Lab
import Synchronization
import Testing

/// A deterministic pseudo-random generator for test images (SplitMix64).
struct TestRNG {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func image(width: Int, height: Int) -> ARGBImage {
        ARGBImage(width: width, height: height, pixels: (0 ..< width * height).map { _ in
            UInt32(truncatingIfNeeded: next())
        })
    }
}

func fullRect(_ w: Int, _ h: Int) -> PixelRect { PixelRect(x: 0, y: 0, width: w, height: h) }

func frame(_ index: Int, _ image: ARGBImage, dirty: [PixelRect], pages: [PixelRect] = [],
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

/// A value written on one thread and read on another.
final class Box<T: Sendable>: Sendable {
    private let value: Mutex<T>
    init(_ v: T) { value = Mutex(v) }
    var get: T { value.withLock { $0 } }
    func set(_ v: T) { value.withLock { $0 = v } }
    func update(_ body: (inout T) -> Void) { value.withLock { body(&$0) } }
}

/// The built executables sit next to the test bundle in the build folder.
func builtProduct(_ name: String) -> String {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent(name).path
}

/// The full path of `tool` on PATH, if any.
func which(_ tool: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for dir in path.split(separator: ":") {
        let candidate = "\(dir)/\(tool)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

func tempDirectory(_ tag: String) throws -> String {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("fbdefio-frontend-\(tag)-\(getpid())-\(UInt32.random(in: 0 ... .max))").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// A child process whose output is collected as it arrives.
final class Child {
    let process: Process
    private let out = Box("")
    private let err = Box("")

    /// `environment` entries replace the inherited ones; a nil value removes the variable.
    init(_ executable: String, _ arguments: [String], environment: [String: String?] = [:]) throws {
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
        try process.run()
        Self.drain(o.fileHandleForReading, into: out)
        Self.drain(e.fileHandleForReading, into: err)
    }

    private static func drain(_ handle: FileHandle, into sink: Box<String>) {
        let h = UncheckedHandle(handle: handle)
        Thread.detachNewThread {
            while true {
                let data = h.handle.availableData
                if data.isEmpty { break }
                sink.update { $0 += String(decoding: data, as: UTF8.self) }
            }
        }
    }

    var stdout: String { out.get }
    var stderr: String { err.get }

    /// The first stdout line starting with `prefix`, waiting up to `timeout` seconds.
    func waitForLine(_ prefix: String, timeout: Double) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let line = stdout.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) { return String(line) }
            if !process.isRunning {
                Thread.sleep(forTimeInterval: 0.05)  // let the reader catch the last output
                return stdout.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }).map(String.init)
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return nil
    }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// The exit status, or nil if the process did not end within `timeout` seconds (it is then killed).
    func waitForExit(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        process.waitUntilExit()
        Thread.sleep(forTimeInterval: 0.05)  // let the readers take the last bytes
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

/// Runs a command to completion: status and combined output.
@discardableResult
func runCommand(_ executable: String, _ arguments: [String], environment: [String: String?] = [:],
                timeout: Double = 120) throws -> (status: Int32, output: String) {
    let child = try Child(executable, arguments, environment: environment)
    let status = child.waitForExit(timeout: timeout) ?? -1
    return (status, child.stdout + child.stderr)
}
