// swift-tools-version:6.0
//
// ConvKit: multithreaded SIMD convolutions for CNN inference on CPUs.
//
// The library product `ConvKit` depends on nothing but its own C targets, so
// packages that depend on it never pull in the command-line or benchmark
// dependencies. The benchmarks live in the nested package `Benchmarks/`.

import PackageDescription

let package = Package(
    name: "convkit",
    products: [
        // MARK: Public API
        .library(name: "ConvKit", targets: ["ConvKit"]),
        .executable(name: "convkit", targets: ["convkit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: Library
        .target(
            name: "ConvKit",
            dependencies: ["CKernels", "CDNNLShim"],
            path: "Sources/ConvKit"
        ),

        // MARK: Implementation details (C)
        // FMA-bound micro-kernels and CPU feature detection. ISA-specific code is
        // selected per function with __attribute__((target(...))) and chosen at
        // run time; no build flags.
        .target(
            name: "CKernels",
            path: "CKernels",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        // Glue to oneDNN 2.x, loaded at run time with dlopen. Compiled against
        // <oneapi/dnnl/dnnl.h> only where that header exists.
        .target(
            name: "CDNNLShim",
            path: "Sources/CDNNLShim",
            cSettings: [.define("_GNU_SOURCE")],
            linkerSettings: [.linkedLibrary("dl")]
        ),

        // MARK: Tools (benchmark engine, file formats for the CLI)
        .target(
            name: "ConvKitTools",
            dependencies: ["ConvKit"],
            path: "Sources/ConvKitTools"
        ),
        .executableTarget(
            name: "convkit",
            dependencies: [
                "ConvKit", "ConvKitTools",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/convkit"
        ),

        // MARK: Tests
        .testTarget(
            name: "ConvKitTests",
            dependencies: ["ConvKit", "CKernels"],
            path: "Tests/ConvKitTests"
        ),
        .testTarget(
            name: "ConvKitToolsTests",
            dependencies: ["ConvKit", "ConvKitTools", "convkit"],
            path: "Tests/ConvKitToolsTests"
        ),
    ]
)
