// SPDX-License-Identifier: MIT — the command line (a thin shell over Lab).
import ArgumentParser
import Foundation
import Kernel
import Frontend
import Lab
import Panels
import Workloads

@main
struct FBDefioEmu: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fbdefio-emu",
        abstract: "An emulator of the Linux kernel's framebuffer deferred I/O (fb_defio) and the mm under it.",
        discussion: """
            Fake user processes map a device into their own page tables and software TLB; their stores are trapped \
            by emulated write-protect faults along the kernel's fault paths (handle_mm_fault, do_wp_page, \
            page_mkwrite). Everything runs in virtual time under a seeded scheduler: the same seed and flags give \
            the same trace, byte for byte. Exit status: 0 success, 1 a check failed or a violation was found, 2 bad \
            usage or bad input, 3 the machine could not be set up (assets missing, out of memory, a host facility \
            missing).
            """,
        subcommands: [Run.self, ExecCLI.self, PanelsCommand.self, WorkloadsCommand.self, Boot.self, ReplayCLI.self,
                      HeatmapCLI.self, VariantsCommand.self, ScenariosCommand.self, Explore.self, ReplaySchedule.self,
                      StepCommand.self],
        defaultSubcommand: Run.self)

    /// Synchronous on purpose: the process main thread stays free for the SDL loop (research/scheduler.md §6).
    /// Every command exits with 0 on success, 1 when a check failed or a violation was found (`ExitCode(1)`), 2 for
    /// bad usage or bad input (a `ValidationError`: one line naming the flag), 3 when the machine could not be set up
    /// (a `SetupFailure`: assets missing, out of memory, a host facility missing).
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let failure as SetupFailure {
            FileHandle.standardError.write(Data("fbdefio-emu: \(failure.message)\n".utf8))
            Foundation.exit(3)
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                let full = fullMessage(for: error)
                let message = namedChoiceError(full) ?? full.split(separator: "\n").first.map(String.init) ?? "bad arguments"
                FileHandle.standardError.write(Data("fbdefio-emu: \(message)\n".utf8))
                FileHandle.standardError.write(Data("Run 'fbdefio-emu --help' for the flags.\n".utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}

/// The machine could not be set up: the workloads' assets are missing, the emulated RAM is too small, or the host
/// lacks something the command needs. Not the user's input, so no usage hint: `main` prints the one-line message and
/// exits with status 3.
struct SetupFailure: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

extension Machine.SetupError {
    /// Unknown names are bad input (status 2); missing assets and memory are a machine that could not be set up (3).
    var commandError: any Error {
        switch self {
        case .unknownPanel, .unknownWorkload: ValidationError(description)
        case .outOfMemory, .assets: SetupFailure(description)
        }
    }
}

/// Writes an output file a flag names; a failure is a usage error naming the flag and the path. A regular file is
/// replaced atomically; anything else that exists (`/dev/null`, a FIFO, `/dev/stdout`) is written in place — a
/// rename would put a regular file where the device was.
func writeOutput(_ text: String, to path: String, flag: String) throws {
    var isDirectory: ObjCBool = false
    let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
    let regular = !exists || (try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType)
        == .typeRegular
    do { try text.write(toFile: path, atomically: regular, encoding: .utf8) } catch {
        throw ValidationError("\(flag): cannot write '\(path)': \(error.localizedDescription)")
    }
}

/// A run of emulator code started from the main thread; `wait()` blocks until it returns.
final class EmulatorRun<T: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var value: T?  // Written once on the emulator thread before `done` is signalled.

    fileprivate func finish(_ v: T) {
        value = v
        done.signal()
    }

    func wait() -> T {
        done.wait()
        done.signal()  // Let a second wait() return too.
        return value!
    }
}

/// Starts `body` on the emulator thread (the main thread stays free, e.g. for SDL).
func startOnEmulator<T: Sendable>(_ body: @escaping @EmuActor @Sendable () -> T) -> EmulatorRun<T> {
    let run = EmulatorRun<T>()
    Task { @EmuActor in run.finish(body()) }
    return run
}

/// Runs `body` on the emulator thread and blocks the calling thread until it returns.
func runOnEmulator<T: Sendable>(_ body: @escaping @EmuActor @Sendable () -> T) -> T {
    startOnEmulator(body).wait()
}
