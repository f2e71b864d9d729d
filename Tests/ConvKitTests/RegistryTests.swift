import ConvKit
import Testing

/// A backend defined by a test: supports only 1x1 convolutions and delegates to the reference.
private struct PointwiseOnlyBackend: ConvBackend {
    var name = "test-pointwise"
    var availability: BackendAvailability = .available
    var summary: String { "1x1 only (test)" }
    func support(for descriptor: Conv2DDescriptor) -> BackendSupport {
        descriptor.isPointwise ? .supported : .unsupported(reason: "only 1x1 kernels")
    }
    func prepare(_ descriptor: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>,
                 bias: UnsafeBufferPointer<Float>?) throws -> any PreparedConvolution {
        if case let .unsupported(reason) = support(for: descriptor) {
            throw ConvError.unsupported(backend: name, reason: reason)
        }
        return try ReferenceBackend().prepare(descriptor, weights: weights, bias: bias)
    }
}

/// Supports everything but asks `auto` to pick it only for batch > 1.
private struct BatchPreferringBackend: ConvBackend, AutoSelectable {
    var name = "test-batch"
    var availability: BackendAvailability { .available }
    var summary: String { "prefers batches (test)" }
    func support(for descriptor: Conv2DDescriptor) -> BackendSupport { .supported }
    func recommends(_ descriptor: Conv2DDescriptor) -> Bool { descriptor.batch > 1 }
    func prepare(_ descriptor: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>,
                 bias: UnsafeBufferPointer<Float>?) throws -> any PreparedConvolution {
        try ReferenceBackend().prepare(descriptor, weights: weights, bias: bias)
    }
}

@Suite("Backend registry")
struct RegistryTests {
    static let conv3x3 = Conv2DDescriptor(channels: 2, height: 5, width: 5, filters: 3, size: 3)
    static let conv1x1 = Conv2DDescriptor(channels: 2, height: 5, width: 5, filters: 3, size: 1)

    @Test("The shared registry has the reference backend and auto")
    func shared() throws {
        let names = BackendRegistry.shared.names
        #expect(names.contains("reference"))
        #expect(names.last == "auto")
        #expect(try BackendRegistry.shared.backend(named: "reference").name == "reference")
        #expect(try BackendRegistry.shared.backend(named: "auto").name == "auto")
    }

    @Test("An unknown name is an error that lists the known names")
    func unknown() {
        let registry = BackendRegistry(backends: [ReferenceBackend(), PointwiseOnlyBackend()])
        let error = #expect(throws: ConvError.self) { try registry.backend(named: "fastest") }
        #expect(error == .unknownBackend(name: "fastest", known: ["reference", "test-pointwise", "auto"]))
        #expect(error?.description == "unknown backend 'fastest' (known: reference, test-pointwise, auto)")
    }

    @Test("A backend registered by a test is selected by name and runs")
    func customBackend() throws {
        let registry = BackendRegistry(backends: [ReferenceBackend()])
        registry.register(PointwiseOnlyBackend())
        #expect(registry.names == ["reference", "test-pointwise", "auto"])
        let backend = try registry.backend(named: "test-pointwise")
        #expect(backend.summary == "1x1 only (test)")
        #expect(backend.support(for: Self.conv3x3) == .unsupported(reason: "only 1x1 kernels"))
        let error = #expect(throws: ConvError.self) {
            try backend.prepare(Self.conv3x3, weights: [Float](repeating: 0, count: 54), bias: [0, 0, 0])
        }
        #expect(error == .unsupported(backend: "test-pointwise", reason: "only 1x1 kernels"))
        let prepared = try backend.prepare(Self.conv1x1, weights: [1, 0, 0, 1, 1, 1], bias: [0, 0, 0])
        let x = try Tensor(shape: TensorShape(Self.conv1x1.inputShape),
                           values: [Float](repeating: 1, count: 25) + [Float](repeating: 2, count: 25))
        let y = try prepared.execute(x)
        #expect(y[0, 0, 0, 0] == 1 && y[0, 1, 4, 4] == 2 && y[0, 2, 2, 2] == 3)
    }

    @Test("Registering a name again replaces the backend in place")
    func replace() throws {
        let registry = BackendRegistry(backends: [PointwiseOnlyBackend(), ReferenceBackend()])
        registry.register(PointwiseOnlyBackend(availability: .unavailable(reason: "replaced")))
        #expect(registry.all.map(\.name) == ["test-pointwise", "reference"])
        #expect(try registry.backend(named: "test-pointwise").availability == .unavailable(reason: "replaced"))
    }

    @Test("auto picks the first available backend that supports the descriptor")
    func auto() throws {
        let registry = BackendRegistry(backends: [PointwiseOnlyBackend(), ReferenceBackend()])
        let auto = try #require(try registry.backend(named: "auto") as? AutoBackend)
        #expect(try auto.choose(for: Self.conv1x1).name == "test-pointwise")
        #expect(try auto.choose(for: Self.conv3x3).name == "reference")
        let prepared = try auto.prepare(Self.conv3x3, weights: [Float](repeating: 0, count: 54), bias: [1, 2, 3])
        #expect(prepared.backendName == "reference")
        // An unavailable backend is skipped.
        registry.register(PointwiseOnlyBackend(availability: .unavailable(reason: "test")))
        let auto2 = try #require(try registry.backend(named: "auto") as? AutoBackend)
        #expect(try auto2.choose(for: Self.conv1x1).name == "reference")
    }

    @Test("auto honours AutoSelectable, and falls back to any supporting backend")
    func autoSelectable() throws {
        let auto = AutoBackend(candidates: [BatchPreferringBackend(), ReferenceBackend()])
        #expect(try auto.choose(for: Self.conv3x3).name == "reference")
        var batched = Self.conv3x3
        batched.batch = 4
        #expect(try auto.choose(for: batched).name == "test-batch")
        let only = AutoBackend(candidates: [BatchPreferringBackend()])
        #expect(try only.choose(for: Self.conv3x3).name == "test-batch")
    }

    @Test("auto with no supporting backend says unsupported; with none available, unavailable")
    func autoNothing() {
        let auto = AutoBackend(candidates: [PointwiseOnlyBackend()])
        let error = #expect(throws: ConvError.self) { try auto.choose(for: Self.conv3x3) }
        guard case let .unsupported(backend, reason)? = error else {
            Issue.record("expected unsupported, got \(String(describing: error))")
            return
        }
        #expect(backend == "auto")
        #expect(reason.contains("3x3"))
        #expect(!auto.support(for: Self.conv3x3).isSupported)
        #expect(auto.support(for: Self.conv1x1).isSupported)
        let none = AutoBackend(candidates: [PointwiseOnlyBackend(availability: .unavailable(reason: "x"))])
        #expect(!none.availability.isAvailable)
        #expect(AutoBackend(candidates: []).availability == .unavailable(reason: "no backend available"))
    }
}

/// Plugins: a custom backend placed in auto's order of preference; a custom layer sees the
/// model's backend in its preparation context.
@Suite struct PluginPlacementTests {
    static let conv1x1 = Conv2DDescriptor(channels: 2, height: 5, width: 5, filters: 3, size: 1)

    @Test func registerBeforePlacesABackendInAutosOrder() throws {
        let registry = BackendRegistry(backends: [DirectBackend(), ReferenceBackend()])
        let auto0 = try #require(try registry.backend(named: "auto") as? AutoBackend)
        #expect(try auto0.choose(for: Self.conv1x1).name == "direct")
        try registry.register(PointwiseOnlyBackend(), before: "direct")
        #expect(registry.all.map(\.name) == ["test-pointwise", "direct", "reference"])
        let auto = try #require(try registry.backend(named: "auto") as? AutoBackend)
        #expect(try auto.choose(for: Self.conv1x1).name == "test-pointwise")
        // Moving it again, and an unknown anchor (the registry is left as it was).
        try registry.register(PointwiseOnlyBackend(), before: "reference")
        #expect(registry.all.map(\.name) == ["direct", "test-pointwise", "reference"])
        #expect(throws: ConvError.self) { try registry.register(PointwiseOnlyBackend(), before: "nope") }
        #expect(registry.all.map(\.name) == ["direct", "test-pointwise", "reference"])
    }

    /// A layer that records the backend its context carries.
    final class BackendRecordingLayer: Layer, PreparedLayer {
        let name: String
        var typeName: String { "recorder" }
        nonisolated(unsafe) static var seen: [String] = []
        init(name: String) { self.name = name }
        func outputShape(for input: TensorShape) throws -> TensorShape { input }
        func prepare(for input: TensorShape, context: LayerPreparationContext) throws -> any PreparedLayer {
            Self.seen.append(context.backend.name)
            return self
        }
        func forward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, shape: TensorShape, threads: Int) throws {
            output.update(from: input, count: shape.count)
        }
    }

    @Test func aCustomLayerGetsTheModelsBackend() throws {
        let g = try GraphBuilder(input: [2, 5, 5])
        let c = try g.conv(g.input, filters: 3, size: 1)
        let model = try g.build(output: g.add(BackendRecordingLayer(name: "rec"), inputs: [c]))
        model.initializeWeights(seed: 1)
        BackendRecordingLayer.seen = []
        for b in ["direct", "reference", "auto"] { _ = try model.prepare(batch: 1, backend: b) }
        #expect(BackendRecordingLayer.seen == ["direct", "reference", "auto"])
    }

    @Test func commonPoolWindowsNeedNoTry() throws {
        let p = MaxPool2D(name: "p", geometry: .window3x3Stride2Pad1)
        #expect(try p.outputShape(for: TensorShape(n: 1, c: 64, h: 112, w: 112)) == TensorShape(n: 1, c: 64, h: 56, w: 56))
        #expect(try PoolGeometry(size: 2) == .window2x2Stride2)
        #expect(try PoolGeometry(size: 3, stride: 2) == .window3x3Stride2)
        #expect(try PoolGeometry(size: 3, stride: 1, pad: 1) == .window3x3Stride1Pad1)
    }

    @Test func convErrorIsALocalizedError() {
        let e: any Error = ConvError.nonPositive(parameter: "stride", value: 0)
        #expect(e.localizedDescription == ConvError.nonPositive(parameter: "stride", value: 0).description)
    }
}
