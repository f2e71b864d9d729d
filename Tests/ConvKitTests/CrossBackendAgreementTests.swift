import ConvKit
import Testing

/// The project's main safety net: every available backend agrees with the float64 reference
/// (and so with each other) on named edge cases, standard network layers (scaled down) and a
/// large seeded random set of descriptors.
///
/// To add a backend, register it in `BackendRegistry.builtIn` (or add it to `backends` below)
/// and give its tolerance in `tolerance(for:_:)`.
@Suite("all backends agree with the reference")
struct CrossBackendAgreementTests {
    /// Every registered backend except the reference itself, plus auto.
    static var backends: [any ConvBackend] {
        BackendRegistry.shared.all.filter { $0.name != "reference" }
            + [try! BackendRegistry.shared.backend(named: "auto")]
    }

    /// Normalized max error allowed for `backend` on `d`.
    static func tolerance(for backend: any ConvBackend, _ d: Conv2DDescriptor) -> Double {
        if backend.name == "winograd" {
            switch WinogradBackend.automaticTile(for: d) {
            case .f2x3: return 1e-5
            case .f4x3: return 1e-4
            case .f6x3: return 1e-3
            }
        }
        if backend.name == "auto", WinogradBackend().recommends(d) { return 1e-3 }
        return 1e-5
    }

    static func check(_ d: Conv2DDescriptor, seed: UInt64, label: String, threads: Int? = nil) throws {
        let c = ConvCase(d, seed: seed)
        let ref = try c.reference()
        var outputs: [(String, [Float])] = []
        for backend in backends where backend.availability.isAvailable {
            guard backend.support(for: d).isSupported else {
                // Unsupported must be a typed error, never a trap.
                #expect(throws: ConvError.self, "\(backend.name) \(label)") { try c.run(backend, threads: threads) }
                continue
            }
            let y = try c.run(backend, threads: threads)
            let err = normalizedMaxError(y, ref)
            #expect(err <= tolerance(for: backend, d), "\(backend.name) \(label) \(d): error \(err)")
            outputs.append((backend.name, y))
        }
        // Pairwise agreement follows from the bounds; check it directly for the exact backends.
        let exact = outputs.filter { $0.0 != "winograd" && $0.0 != "auto" }
        for i in exact.indices.dropFirst() {
            let err = normalizedMaxError(exact[i].1, exact[0].1)
            #expect(err <= 2e-5, "\(exact[i].0) vs \(exact[0].0) \(label): \(err)")
        }
    }

    @Test("named edge cases", arguments: EdgeCases.all.map(\.0))
    func edgeCases(_ name: String) throws {
        let d = try #require(EdgeCases.all.first { $0.0 == name }?.1)
        try Self.check(d, seed: 21, label: name)
    }

    @Test("standard network layers, scaled down")
    func networkLayers() throws {
        let layers: [(String, Conv2DDescriptor)] = [
            ("cs231n 3x32x32 -> 10 5x5 p2", .init(channels: 3, height: 32, width: 32, filters: 10, size: 5, pad: 2)),
            ("alexnet conv1 (1/4 size)", .init(channels: 3, height: 63, width: 63, filters: 24, size: 11, stride: 4)),
            ("alexnet conv2 (1/4 channels)", .init(channels: 24, height: 27, width: 27, filters: 64, size: 5, pad: 2)),
            ("vgg 3x3 (1/4)", .init(channels: 64, height: 28, width: 28, filters: 64, size: 3, pad: 1)),
            ("resnet stem (1/4)", .init(channels: 3, height: 56, width: 56, filters: 16, size: 7, stride: 2, pad: 3)),
            ("resnet 1x1", .init(channels: 64, height: 14, width: 14, filters: 32, size: 1)),
            ("resnet 3x3 s2", .init(channels: 16, height: 28, width: 28, filters: 32, size: 3, stride: 2, pad: 1)),
            ("resnet res5 3x3", .init(channels: 128, height: 7, width: 7, filters: 128, size: 3, pad: 1)),
            ("depthwise 3x3", .init(channels: 32, height: 28, width: 28, filters: 32, size: 3, pad: 1, groups: 32)),
            ("odd 13 -> 24", .init(channels: 13, height: 29, width: 29, filters: 24, size: 3, pad: 1)),
            ("cifar batch 8", .init(batch: 8, channels: 32, height: 16, width: 16, filters: 64, size: 3, pad: 1)),
            ("dilated", .init(channels: 16, height: 28, width: 28, filters: 16, size: 3, pad: 2, dilation: 2)),
            ("relu fused", .init(channels: 32, height: 20, width: 20, filters: 48, size: 3, pad: 1, activation: .relu)),
        ]
        for (name, d) in layers { try Self.check(d, seed: 5, label: name) }
    }

    @Test("random descriptors (seeded, property-style)")
    func randomDescriptors() throws {
        let seed: UInt64 = 0xA11_BAC_E2D5
        var rng = TestRandom(seed: seed)
        for i in 0..<200 {
            let d = randomDescriptor(using: &rng)
            try Self.check(d, seed: UInt64(i), label: "random #\(i) (suite seed \(seed))", threads: 1 + i % 2)
        }
    }
}
