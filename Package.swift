// swift-tools-version: 6.1
// fbdefio-emu: an emulator of the Linux kernel's framebuffer deferred I/O and the mm machinery under it.
// Module layering (DESIGN.md §4): fbdefio-emu → Lab → {Workloads, Panels} → Kernel.
import PackageDescription

/// Every Swift target runs nonisolated async code on its caller's executor (SE-0461), so the async code left around
/// the synchronous kernel (the commands' and the tests' helpers) never leaves the emulator thread on its own
/// (research/scheduler.md §3.2, pitfall 2).
///
/// Release builds drop two kinds of run-time check, which debug builds (the tests) keep: the dynamic exclusivity
/// checks (`swift_beginAccess` through a TLS lookup on Linux, about a fifth of the explorer's and the demo's time once),
/// and the dynamic actor-isolation checks (SE-0423) that Swift 6 puts at the entry of every emulator-isolated closure
/// handed to a function that takes a plain closure (`withUTF8`, `contains(where:)`, an event subscriber):
/// `swift_task_isCurrentExecutor` at each call, several per fault. All emulator code runs on one thread by
/// construction (`EmuExecutor`), which the debug builds' checks keep verifying.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
    .unsafeFlags(["-enforce-exclusivity=unchecked", "-Xfrontend", "-disable-dynamic-actor-isolation"],
                 .when(configuration: .release)),
]

let package = Package(
    name: "fbdefio-emu",
    products: [
        .executable(name: "fbdefio-emu", targets: ["fbdefio-emu"]),
        // Libraries for the separate benchmark package (Benchmarks/), which depends on this one by path. Their
        // `public` declarations are what that package calls, which covers a user of the machine, replay and explore
        // entry points (`Machine`, `Replay`, `Explorer`, their options and results); what only the project's own
        // targets share is `package`, and Panels, Workloads, Frontend and TestSupport are `package` throughout.
        // Release builds' default cross-module optimization serializes only public function bodies, so the small
        // Kernel members that Lab, Panels and Workloads call on the fault, event and frame-hash paths are
        // `@inlinable` (with `@usableFromInline` on what their bodies use; without them the replay ran 2% more
        // instructions), and three types are public for that alone: `KernelEvent` and its `Kind`, whose
        // synthesized `==` cannot be marked inlinable, and `VMFlags`, whose `OptionSet` conformance the checkers use.
        .library(name: "Kernel", targets: ["Kernel"]),
        .library(name: "Lab", targets: ["Lab"]),
        // `fbdefio-emu exec` sets LD_PRELOAD to this library (libfbdefio-preload.so, next to the executable).
        .library(name: "fbdefio-preload", type: .dynamic, targets: ["CFBPreload"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        .systemLibrary(name: "CSDL2", pkgConfig: "sdl2", providers: [.apt(["libsdl2-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(
            name: "Kernel",
            dependencies: ["CTaskSwitch", .product(name: "DequeModule", package: "swift-collections")],
            swiftSettings: swiftSettings),
        // The emulated tasks' stacks and the register switch between them (x86-64 and AArch64).
        .target(name: "CTaskSwitch", cSettings: [.unsafeFlags(["-gdwarf-4"])]),
        .target(name: "Panels", dependencies: ["Kernel"], swiftSettings: swiftSettings),
        .target(name: "Workloads", dependencies: ["Kernel"], swiftSettings: swiftSettings),
        // The wire protocol of `exec` and the emulator's host calls for it (memfd, SCM_RIGHTS, posix_spawn).
        // DWARF 4, as the Swift code's: valgrind (callgrind, for instruction counts) cannot read clang's default
        // DWARF 5 and refuses the whole binary.
        .target(name: "CFBExecProtocol", cSettings: [.unsafeFlags(["-gdwarf-4"])]),
        // The preload library a program runs under `exec`: only ever loaded with LD_PRELOAD, never linked in. It is
        // C only: -nostartfiles leaves out the Swift image registration (swiftrt.o) and -static-stdlib then pulls
        // nothing of the Swift runtime in, so the program does not load libswiftCore (nor its crash backtracer).
        .target(
            name: "CFBPreload",
            linkerSettings: [.linkedLibrary("dl"), .linkedLibrary("pthread"),
                             .unsafeFlags(["-nostartfiles", "-static-stdlib"])]),
        // A small fbdev client whose exact accesses the exec tests assert.
        .executableTarget(name: "fbexec-probe", linkerSettings: [.linkedLibrary("pthread")]),
        .target(
            name: "Lab",
            dependencies: ["Kernel", "Panels", "Workloads", "CFBExecProtocol",
                           .product(name: "Histogram", package: "hdrhistogram-swift")],
            swiftSettings: swiftSettings),
        // The display front end: SDL window + HUD, PNG codec. A library so that sdl-harness can run it too.
        .target(name: "Frontend", dependencies: ["Lab", "CSDL2", "CZlib"], swiftSettings: swiftSettings),
        .executableTarget(
            name: "fbdefio-emu",
            dependencies: [
                "Lab", "Frontend",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings),
        // What several test targets share (result boxes, finding or installing the host programs some tests run).
        // A plain target that only test targets depend on; nothing in Sources/ imports it.
        .target(name: "TestSupport", dependencies: ["Kernel"], path: "Tests/TestSupport", swiftSettings: swiftSettings),
        .testTarget(name: "KernelTests", dependencies: ["Kernel", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "PanelsTests", dependencies: ["Panels", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "WorkloadsTests", dependencies: ["Workloads", "TestSupport"], exclude: ["Goldens"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "LabTests", dependencies: ["Lab", "TestSupport"], exclude: ["Goldens"], swiftSettings: swiftSettings),
        // Drives the SDL window from its own main thread, for the tests that need a real process (Xvfb, signals).
        .executableTarget(name: "sdl-harness", dependencies: ["Frontend", "Lab"], swiftSettings: swiftSettings),
        .testTarget(
            name: "FrontendTests", dependencies: ["Frontend", "Lab", "CSDL2", "CZlib", "sdl-harness", "TestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(name: "CLITests", dependencies: ["fbdefio-emu", "fbexec-probe", "TestSupport"], swiftSettings: swiftSettings),
    ]
)
