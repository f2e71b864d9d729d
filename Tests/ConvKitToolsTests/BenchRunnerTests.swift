import ConvKit
import Testing
@testable import ConvKitTools

// MARK: - Fake backends around the reference

/// The reference's result plus `offset` on every element (offset 0: an exact backend).
private struct OffsetBackend: ConvBackend {
    let name: String
    var offset: Float = 0
    var summary: String { "reference + \(offset)" }
    var availability: BackendAvailability { .available }
    func support(for descriptor: Conv2DDescriptor) -> BackendSupport { .supported }
    func prepare(_ descriptor: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>,
                 bias: UnsafeBufferPointer<Float>?) throws -> any PreparedConvolution {
        OffsetConvolution(inner: try ReferenceBackend().prepare(descriptor, weights: weights, bias: bias),
                          name: name, offset: offset)
    }
}

private final class OffsetConvolution: PreparedConvolution {
    let inner: any PreparedConvolution
    let name: String
    let offset: Float
    init(inner: any PreparedConvolution, name: String, offset: Float) {
        self.inner = inner; self.name = name; self.offset = offset
    }
    var descriptor: Conv2DDescriptor { inner.descriptor }
    var backendName: String { name }
    var implementation: String { "offset \(offset)" }
    var workspaceBytes: Int { 0 }
    func execute(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>, threads: Int?) throws {
        try inner.execute(input: input, output: output, threads: threads)
        for i in 0..<descriptor.outputCount { output[i] += offset }
    }
}

/// Reports a core-only time like oneDNN's primitive (the core here recomputes into a copy).
private struct LayoutBackend: ConvBackend {
    let name: String
    var summary: String { "layout-converting fake" }
    var availability: BackendAvailability { .available }
    func support(for descriptor: Conv2DDescriptor) -> BackendSupport { .supported }
    func prepare(_ descriptor: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>,
                 bias: UnsafeBufferPointer<Float>?) throws -> any PreparedConvolution {
        LayoutConvolution(inner: try ReferenceBackend().prepare(descriptor, weights: weights, bias: bias), name: name)
    }
}

private final class LayoutConvolution: LayoutConvertingConvolution, @unchecked Sendable {
    let inner: any PreparedConvolution
    let name: String
    private var coreCalls = 0
    init(inner: any PreparedConvolution, name: String) { self.inner = inner; self.name = name }
    var descriptor: Conv2DDescriptor { inner.descriptor }
    var backendName: String { name }
    var implementation: String { "fake blocked" }
    var workspaceBytes: Int { 0 }
    func execute(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>, threads: Int?) throws {
        try inner.execute(input: input, output: output, threads: threads)
    }
    func executeCoreOnly(threads: Int?) throws { coreCalls += 1 }
}

private struct StubBackend: ConvBackend {
    let name: String
    var availability: BackendAvailability = .available
    var supportAnswer: BackendSupport = .supported
    var prepareError: ConvError?
    var summary: String { "stub" }
    func support(for descriptor: Conv2DDescriptor) -> BackendSupport { supportAnswer }
    func prepare(_ descriptor: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>,
                 bias: UnsafeBufferPointer<Float>?) throws -> any PreparedConvolution {
        if let prepareError { throw prepareError }
        return try ReferenceBackend().prepare(descriptor, weights: weights, bias: bias)
    }
}

// MARK: - Tests

@Suite("Bench runner")
struct BenchRunnerTests {
    static let layer = BenchLayer("tiny", c: 3, h: 6, w: 6, k: 4, r: 3, s: 3, pad: 1)

    static func configuration(_ backends: [any ConvBackend], threads: [Int] = [1, 2]) -> BenchConfiguration {
        var c = BenchConfiguration(layers: [layer], backends: backends, threadCounts: threads)
        c.rounds = 2
        c.minTime = 0.0005
        c.peakGFLOPsPerThread = 100
        return c
    }

    @Test func recordsHaveTheExpectedShapeAndStatuses() throws {
        let backends: [any ConvBackend] = [
            ReferenceBackend(),
            OffsetBackend(name: "direct"),
            OffsetBackend(name: "sloppy", offset: 0.5),
            LayoutBackend(name: "onednn"),
            StubBackend(name: "picky", supportAnswer: .unsupported(reason: "never")),
            StubBackend(name: "absent", availability: .unavailable(reason: "no library")),
            StubBackend(name: "broken", prepareError: .backendFailure(backend: "broken", operation: "create", status: "boom")),
        ]
        var progress: [Int] = []
        let report = try BenchRunner(configuration: Self.configuration(backends)).run { progress.append($0.index) }
        #expect(progress == [1])
        let records = report.records
        #expect(records.count == backends.count * 2)
        #expect(records.map(\.backend) == backends.flatMap { [$0.name, $0.name] })
        #expect(records.map(\.threads) == Array(repeating: [1, 2], count: backends.count).flatMap { $0 })
        #expect(records.allSatisfy { $0.layer == "tiny" && $0.flops == Self.layer.descriptor.flops && $0.k == 4 })

        func rec(_ b: String, _ t: Int = 1) throws -> BenchRecord {
            try #require(records.first { $0.backend == b && $0.threads == t })
        }
        for t in [1, 2] {
            let ref = try rec("reference", t)
            #expect(ref.status == .ok && ref.maxErr == nil && ref.reason == "oracle for this layer")
            let direct = try rec("direct", t)
            #expect(direct.status == .ok && direct.maxErr == 0 && direct.checkedAgainst == "reference")
            #expect((direct.medianMs ?? 0) > 0 && (direct.gflops ?? 0) > 0 && direct.rounds == 2)
            #expect((direct.reps ?? 0) >= 1 && direct.minMs! <= direct.medianMs! && direct.medianMs! <= direct.maxMs!)
            #expect(direct.prepareMs != nil && direct.firstRunMs != nil && direct.peakPct != nil)
            #expect(direct.speedupVsOnednn != nil)
            let sloppy = try rec("sloppy", t)
            #expect(sloppy.status == .inaccurate && (sloppy.maxErr ?? 0) > 1e-3)
            let onednn = try rec("onednn", t)
            #expect(onednn.status == .ok && onednn.coreMs != nil && onednn.coreGflops != nil)
            #expect(onednn.speedupVsOnednn == 1 && onednn.implementation == "fake blocked")
        }
        #expect(try rec("picky").status == .unsupported && rec("picky").reason == "never")
        #expect(try rec("absent").status == .unavailable && rec("absent").reason == "no library")
        let broken = try rec("broken")
        #expect(broken.status == .failed && broken.reason?.contains("boom") == true && broken.medianMs == nil)
    }

    @Test func largeLayersAreCheckedAgainstDirectThenTheFirstBackend() throws {
        var config = Self.configuration([OffsetBackend(name: "fast", offset: 1e-6), OffsetBackend(name: "direct")],
                                        threads: [1])
        config.referenceFlopLimit = 0
        var records = try BenchRunner(configuration: config).run().records
        #expect(records.allSatisfy { $0.checkedAgainst == "direct" })
        #expect(records[1].reason == "oracle for this layer" && records[1].maxErr == nil)
        #expect((records[0].maxErr ?? -1) > 0 && records[0].status == .ok)

        config.backends = [StubBackend(name: "absent", availability: .unavailable(reason: "x")),
                           OffsetBackend(name: "first"), OffsetBackend(name: "second")]
        records = try BenchRunner(configuration: config).run().records
        #expect(records.filter { $0.status == .ok }.allSatisfy { $0.checkedAgainst == "first" })
        #expect(records[2].maxErr == 0)
    }

    @Test func dataIsDeterministicAndInRange() {
        let a = BenchRunner.data(for: Self.layer, seed: 7)
        let b = BenchRunner.data(for: Self.layer, seed: 7)
        let c = BenchRunner.data(for: Self.layer, seed: 8)
        #expect(a.input == b.input && a.weights == b.weights && a.bias == b.bias)
        #expect(a.input != c.input)
        let d = Self.layer.descriptor
        #expect(a.input.count == d.inputCount && a.weights.count == d.weightCount && a.bias.count == 4)
        #expect((a.input + a.weights + a.bias).allSatisfy { $0 >= -1 && $0 < 1 })
        var g = SplitMix64(seed: 0)
        #expect(g.next() == 0xE220_A839_7B1D_CDAF) // SplitMix64's published first output for seed 0
    }

    @Test func normalizedMaxError() {
        let y: [Float] = [1, 2, 3.5], ref: [Float] = [1, 2, 4]
        y.withUnsafeBufferPointer { yb in
            ref.withUnsafeBufferPointer { rb in
                #expect(BenchRunner.normalizedMaxError(yb, reference: rb) == 0.125)
            }
        }
        let nan: [Float] = [.nan, 0, 0]
        nan.withUnsafeBufferPointer { yb in
            ref.withUnsafeBufferPointer { rb in #expect(BenchRunner.normalizedMaxError(yb, reference: rb) == nil) }
        }
    }

    @Test func invalidConfigurationsAreRefused() {
        var c = Self.configuration([ReferenceBackend()])
        c.threadCounts = [1, 0]
        #expect(throws: ConvError.nonPositive(parameter: "threads", value: 0)) { try BenchRunner(configuration: c) }
        c = Self.configuration([ReferenceBackend()])
        c.rounds = 0
        #expect(throws: ConvError.nonPositive(parameter: "rounds", value: 0)) { try BenchRunner(configuration: c) }
        c = Self.configuration([ReferenceBackend(), ReferenceBackend()])
        #expect(throws: ConvError.self) { try BenchRunner(configuration: c) }
        c = Self.configuration([ReferenceBackend()])
        c.layers = [Self.layer, Self.layer]
        #expect(throws: ConvError.self) { try BenchRunner(configuration: c) }
        c = Self.configuration([ReferenceBackend()])
        c.minTime = -1
        #expect(throws: ConvError.self) { try BenchRunner(configuration: c) }
    }
}
