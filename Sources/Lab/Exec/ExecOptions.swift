// SPDX-License-Identifier: MIT — what defines an exec run (`ExecOptions`, `ExecTracking`) and what it hands back
// (`ExecReport`).
import Kernel

/// Everything that defines an exec run.
package struct ExecOptions: Sendable {
    package var machine = MachineOptions()
    package var panel = "ili9341-spi32"
    /// nil: the panel's resolution and framebuffer depth.
    package var width: Int?
    package var height: Int?
    package var bpp: Int?
    package var delay = DelayChoice.panelDefault
    package var sortPagereflist: Bool?
    /// The program and its arguments.
    package var argv: [String] = []
    /// libfbdefio-preload.so.
    package var preload = ""
    /// The program's environment (LD_PRELOAD and the socket variable are added).
    package var environment: [String: String] = [:]
    /// Threads of the fake process that run the program's write faults concurrently (`--fault-threads`); 0: the
    /// thread that reads the program runs them, one at a time.
    package var faultThreads = 0
    /// How the program's writes are trapped (`--tracking`).
    package var tracking = ExecTracking.auto
    /// Build the replay trace of what the program did (`--record`).
    package var record = false
    /// Wall seconds after which the program is asked to stop (SIGTERM); nil: until it exits.
    package var duration: Double?
    package var keepEvents = false
    package var keepTrace = false
    /// Demo workload processes beside the program (`--workload`), drawing `procs` bands in the rows below
    /// `programRows`; nil: none.
    package var workload: String?
    package var procs = 1
    /// Rows at the top left to the program; nil: half the screen with a workload, all of it without.
    package var programRows: Int?
    /// Virtual time between two workload frames.
    package var frameInterval = VirtualTime.ms(20)
    package var assetsPath: String?
    package init() {}

    /// The rows the workloads' bands start at.
    package func workloadTop(height: Int) -> Int { programRows ?? (workload == nil ? height : height / 2) }
}

/// How the program's first writes reach the emulated kernel.
package enum ExecTracking: String, Sendable, CaseIterable {
    /// userfaultfd write-protect where the host allows it, else mprotect + SIGSEGV.
    case auto
    /// userfaultfd write-protect: the program's thread waits in the host kernel; the emulator reads the fault from
    /// the descriptor the library passed over the socket and lifts the protection itself.
    case uffd
    /// A read-only mapping; the library's SIGSEGV handler asks the emulator and unprotects the page.
    case mprotect
}

/// What an exec run produced.
package struct ExecReport: Sendable {
    package var summary: String
    /// How the program ended; nil if it could not be started.
    package var exit: ExecExit?
    /// The machine could not be set up (the host's memory file, the workloads' assets): nothing ran.
    package var setupFailed: Bool
    package var openedFramebuffer: Bool
    /// Problems to report and exit non-zero for (a mode the machine cannot provide, a failed emulated access, a
    /// checker violation, the program not opening the framebuffer).
    package var errors: [String]
    /// Panel == framebuffer memory at the end, and no online checker fired.
    package var checkerPassed: Bool
    /// The emulator asked the program to stop (`--duration`, Ctrl-C, the window closed): how it then ended is
    /// reported, not held against it.
    package var stoppedOnRequest: Bool
    /// One line per request of the program that reached the emulated kernel, in order (the tests' oracle):
    /// `open`, `mmap offset=… length=…`, `fault page=P batch=B`, `fsync`, `close`, `munmap`, and `exit` when
    /// the program has ended (what it left mapped and open is then unmapped and closed).
    package var log: [String]
    /// The replay trace (`--record`).
    package var trace: String?
    package var stats: RunStats
    package var events: [String]
    package var chromeTrace: String?
    package var finalFrame: Frame
    package var mechanism: String
}
