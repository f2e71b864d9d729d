// swift-tools-version:6.1
//
// ConvKit's regression benchmarks (ordo-one/benchmark, formerly package-benchmark).
//
// A nested package, as swift-collections keeps its Benchmarks/ folder: the root
// package (the library users depend on) never sees the benchmark framework or its
// dependencies. Run from this folder with `swift package benchmark`; see README.md.
// Never run by CI; nothing here asserts a time.

import PackageDescription

let package = Package(
    name: "ConvKitBenchmarks",
    dependencies: [
        // MARK: The package under test
        .package(name: "convkit", path: ".."),

        // MARK: Benchmark framework
        // swift-tools-version 6.1 is needed for `traits:`. Naming the traits here turns
        // off the package's default "RuntimeInterposer" trait (ARC hooks on Linux with
        // Swift 6.3), whose dependency (swift-runtime-interposer) is not needed for
        // wall-clock benchmarks; "MallocInterposer" keeps the malloc counters, which
        // show that a prepared convolution's execute does not allocate.
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1",
                 traits: ["MallocInterposer"]),
    ],
    targets: [
        // MARK: Benchmark suites
        .executableTarget(
            name: "ConvKitBenchmarks",
            dependencies: [
                .product(name: "ConvKit", package: "convkit"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/ConvKitBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark"),
            ]
        ),
    ]
)
