// SPDX-License-Identifier: MIT — host programs the tests run: found on PATH, or installed with apt-get when the
// tests run as root (`make test` in a fresh container); otherwise the test is skipped and says why.
import Foundation

/// The full path of `tool` on PATH (an absolute path is taken as it is, if executable), if any.
package func which(_ tool: String) -> String? {
    if tool.hasPrefix("/") { return FileManager.default.isExecutableFile(atPath: tool) ? tool : nil }
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for dir in path.split(separator: ":") {
        let candidate = "\(dir)/\(tool)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// Why a program a test needs is not there.
package struct ToolUnavailable: Error, CustomStringConvertible {
    package let reason: String
    package init(reason: String) { self.reason = reason }
    package var description: String { reason }
}

/// One apt-get at a time: suites that run in parallel would otherwise wait for each other's dpkg lock.
private let aptLock = NSLock()

/// Makes `found()` succeed: it is tried first, and when it fails and this is root, the Debian `packages` are
/// installed with apt-get (the package lists refreshed and the install retried once if it fails, as in a container
/// whose lists are stale) and it is tried again. `what` names the programs in the reasons; `caller` the suite, in
/// the line printed before an installation.
package func locateOrInstall<T>(_ what: String, packages: [String], for caller: String,
                               _ found: () -> T?) -> Result<T, ToolUnavailable> {
    aptLock.lock()
    defer { aptLock.unlock() }
    if let value = found() { return .success(value) }
    let install = "apt-get install " + packages.joined(separator: " ")
    guard getuid() == 0, let apt = which("apt-get") else {
        return .failure(ToolUnavailable(reason: "\(what) is missing and this is not root with apt-get: `\(install)`"))
    }
    print("\(caller): installing \(packages.joined(separator: " ")) with apt-get")
    let lockWait = ["-o", "DPkg::Lock::Timeout=120"]
    let args = ["install", "-y", "-q", "--no-install-recommends"] + lockWait + packages
    var result = runApt(apt, args)
    if result.status != 0 {
        _ = runApt(apt, ["update", "-q"] + lockWait)
        result = runApt(apt, args)
    }
    if let value = found() { return .success(value) }
    let tail = result.output.split(separator: "\n").suffix(3).joined(separator: " | ")
    return .failure(ToolUnavailable(reason: "`\(install)` did not provide \(what) (status \(result.status)): \(tail)"))
}

/// `tool`'s path, installing Debian's `package` when it is missing (see the generic form).
package func locateOrInstall(_ tool: String, package: String, for caller: String) -> Result<String, ToolUnavailable> {
    locateOrInstall(tool, packages: [package], for: caller) { which(tool) }
}

/// Runs apt-get non-interactively to its end: its status (-1 if it could not start) and its combined output, kept
/// in a file so that a long output cannot fill a pipe nobody reads.
private func runApt(_ apt: String, _ args: [String]) -> (status: Int32, output: String) {
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("fbdefio-apt-\(UUID().uuidString).log")
    guard FileManager.default.createFile(atPath: log.path, contents: nil),
          let handle = try? FileHandle(forWritingTo: log) else { return (-1, "cannot create \(log.path)") }
    defer { try? FileManager.default.removeItem(at: log) }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: apt)
    p.arguments = args
    p.environment = ProcessInfo.processInfo.environment.merging(["DEBIAN_FRONTEND": "noninteractive"]) { $1 }
    p.standardInput = FileHandle.nullDevice
    p.standardOutput = handle
    p.standardError = handle
    do { try p.run() } catch { return (-1, "cannot start \(apt): \(error)") }
    p.waitUntilExit()
    try? handle.close()
    return (p.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
}
