// swift-tools-version:6.0
//
// ConvKit: multithreaded SIMD convolutions for CNN inference on CPUs.
//
// The library product `ConvKit` depends on nothing but its own C targets. `ConvKitONNX`
// (ONNX import) adds apple/swift-protobuf. A package that depends on convkit resolves the
// packages listed below (SwiftPM resolves a dependency's whole graph) but builds only what
// the products it uses need: `ConvKit` alone builds neither swift-protobuf nor the argument
// parser. The benchmarks live in the nested package `Benchmarks/`.

import PackageDescription

let package = Package(
    name: "convkit",
    products: [
        // MARK: Public API
        .library(name: "ConvKit", targets: ["ConvKit"]),
        .library(name: "ConvKitONNX", targets: ["ConvKitONNX"]),
        .executable(name: "convkit", targets: ["convkit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        // `swift package generate-documentation --target ConvKit` (DocC); a plugin, never linked.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        // MARK: Library
        .target(
            name: "ConvKit",
            dependencies: ["CKernels", "CDNNLShim"],
            path: "Sources/ConvKit"
        ),

        // ONNX import: ModelProto to GraphModel. Sources/ConvKitONNX/Generated/onnx.pb.swift is
        // generated once by scripts/generate-onnx-swift.sh and committed; the build never runs
        // protoc or its plugin.
        .target(
            name: "ConvKitONNX",
            dependencies: ["ConvKit", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Sources/ConvKitONNX"
        ),

        // MARK: Implementation details (C)
        // FMA-bound micro-kernels and CPU feature detection. ISA-specific code is
        // selected per function with __attribute__((target(...))) and chosen at
        // run time; no build flags.
        // Organised by ISA: common/ (CPU features, threading primitives, memory advice), avx2/
        // (AVX2+FMA kernels), avx512/ (AVX-512F kernels), internal/ (private headers shared by
        // kernels); include/ is the one public header.
        .target(
            name: "CKernels",
            path: "CKernels",
            cSettings: [.define("_GNU_SOURCE"), .headerSearchPath("internal")]
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
                "ConvKit", "ConvKitTools", "ConvKitONNX",
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
            name: "ConvKitONNXTests",
            dependencies: ["ConvKit", "ConvKitONNX", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Tests/ConvKitONNXTests",
            // ONNX files and ONNX Runtime's outputs, read by path (scripts/peers/make_onnx_fixtures.py).
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "ConvKitToolsTests",
            dependencies: ["ConvKit", "ConvKitTools", "convkit"],
            path: "Tests/ConvKitToolsTests"
        ),
    ]
)
