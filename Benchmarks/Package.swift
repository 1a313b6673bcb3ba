// swift-tools-version: 6.1
// Benchmarks of fbdefio-emu (a separate package so the main one does not depend on the benchmark harness).
// Run: cd Benchmarks && swift package --disable-sandbox benchmark
import PackageDescription

let package = Package(
    name: "fbdefio-emu-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "fbdefio-emu", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "WrprotectBench",
            dependencies: [
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
