// swift-tools-version: 6.1
// Benchmarks of fbdefio-emu (a separate package so the main one does not depend on the benchmark harness).
// Run: make bench (the ratio table, BenchTable), or cd Benchmarks && swift package --disable-sandbox benchmark
// (the ordo-one suites, WrprotectBench and ExploreBench).
import PackageDescription

/// BenchTable is compiled like the main package's targets (its store loops call into Kernel the way Workloads
/// does, so they must be built the same way): no dynamic exclusivity checks in release builds.
let tableSwiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]
/// The C baselines at -O2 whatever the configuration (SwiftPM's default for C in debug builds is -O0).
/// DWARF 4 as the Swift code's, so that valgrind can read the binary (it cannot read clang's default DWARF 5).
let baselineCSettings: [CSetting] = [.unsafeFlags(["-O2", "-gdwarf-4"])]

let package = Package(
    name: "fbdefio-emu-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "fbdefio-emu", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The ratio table: every emulator measurement beside its host baseline, in one process (make bench).
        .executableTarget(
            name: "BenchTable",
            dependencies: [
                "PlasmaC", "HostMM", "BenchDevice",
                .product(name: "Kernel", package: "fbdefio-emu"),
                .product(name: "Lab", package: "fbdefio-emu"),
            ],
            // Not under Benchmarks/ directly: ordo-one's plugin runs every executable target whose folder is
            // directly in a folder named Benchmarks as one of its suites.
            path: "Tools/BenchTable",
            swiftSettings: tableSwiftSettings
        ),
        // The device file both write-protect benchmarks map.
        .target(name: "BenchDevice", dependencies: [.product(name: "Kernel", package: "fbdefio-emu")],
                path: "Tools/BenchDevice", swiftSettings: tableSwiftSettings),
        // The plasma workload's arithmetic in C (the baseline of the plasma row).
        .target(name: "PlasmaC", path: "PlasmaC", cSettings: baselineCSettings),
        // The host kernel's minor faults, mprotect and SIGSEGV tracking, store and memcpy loops (the other baselines).
        .target(name: "HostMM", path: "HostMM", cSettings: baselineCSettings),
        .executableTarget(
            name: "WrprotectBench",
            dependencies: [
                "HostMM", "BenchDevice",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Kernel", package: "fbdefio-emu"),
            ],
            path: "WrprotectBench",
            swiftSettings: [.enableUpcomingFeature("NonisolatedNonsendingByDefault")],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "ExploreBench",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Kernel", package: "fbdefio-emu"),
                .product(name: "Lab", package: "fbdefio-emu"),
            ],
            path: "ExploreBench",
            swiftSettings: [.enableUpcomingFeature("NonisolatedNonsendingByDefault")],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
