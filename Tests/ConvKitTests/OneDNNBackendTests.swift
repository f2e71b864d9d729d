@_spi(Testing) import ConvKit
import Testing

// The oneDNN backend against the reference backend. Tests that need oneDNN are skipped,
// with the reason shown, where it is unavailable (no libdnnl-dev at build time, no
// library at run time, or CONVKIT_DISABLE_ONEDNN set); the "unavailable" tests run there.

private let oneDNNAvailable = OneDNNBackend().availability.isAvailable
private let oneDNNSkipReason: Comment = "oneDNN \(OneDNNBackend().availability)"

/// Normalized max error of oneDNN (f32) against the reference (Double accumulation).
private let tolerance: Double = 1e-5

/// Deterministic values in [-1, 1) (a 64-bit LCG), so failures reproduce.
private func randomValues(_ count: Int, seed: UInt64) -> [Float] {
    var state = seed &* 6364136223846793005 &+ 1442695040888963407
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int32(truncatingIfNeeded: state >> 32)) / Float(Int32.max) * 0.999
    }
}

/// max|y - yRef| / max|yRef|.
/// A named case (the name shows in the test report).
struct OneDNNCase: Sendable, CustomTestStringConvertible {
    let name: String
    let descriptor: Conv2DDescriptor
    var testDescription: String { "\(name): \(descriptor)" }
}

private func c(_ name: String, _ d: Conv2DDescriptor) -> OneDNNCase { OneDNNCase(name: name, descriptor: d) }

private let cases: [OneDNNCase] = [
    c("plain 3x3 pad 1", Conv2DDescriptor(channels: 8, height: 12, width: 12, filters: 16, size: 3, pad: 1)),
    c("5x5 stride 2", Conv2DDescriptor(channels: 4, height: 17, width: 17, filters: 8, size: 5, stride: 2, pad: 2)),
    c("1x1", Conv2DDescriptor(channels: 16, height: 10, width: 10, filters: 24, size: 1)),
    c("1x1 stride 2", Conv2DDescriptor(channels: 16, height: 11, width: 11, filters: 8, size: 1, stride: 2)),
    c("1 channel", Conv2DDescriptor(channels: 1, height: 9, width: 9, filters: 4, size: 3, pad: 1)),
    c("3 channels", Conv2DDescriptor(channels: 3, height: 9, width: 9, filters: 5, size: 3, pad: 1)),
    c("5 channels", Conv2DDescriptor(channels: 5, height: 9, width: 9, filters: 13, size: 3, pad: 1)),
    c("13 channels", Conv2DDescriptor(channels: 13, height: 9, width: 9, filters: 24, size: 3, pad: 1)),
    c("spatial 1", Conv2DDescriptor(channels: 8, height: 1, width: 1, filters: 8, size: 3, pad: 1)),
    c("spatial 7", Conv2DDescriptor(channels: 8, height: 7, width: 7, filters: 8, size: 3, pad: 1)),
    c("spatial 29", Conv2DDescriptor(channels: 8, height: 29, width: 29, filters: 16, size: 3, pad: 1)),
    c("batch 3", Conv2DDescriptor(batch: 3, channels: 8, height: 9, width: 9, filters: 16, size: 3, pad: 1)),
    c("asymmetric padding", Conv2DDescriptor(
        inputChannels: 8, inputHeight: 10, inputWidth: 11, outputChannels: 8, kernelHeight: 3, kernelWidth: 3,
        padding: Padding(top: 0, left: 2, bottom: 1, right: 0))),
    c("padding larger than kernel half", Conv2DDescriptor(channels: 8, height: 6, width: 6, filters: 8, size: 3, pad: 3)),
    c("floor rounding", Conv2DDescriptor(channels: 8, height: 8, width: 8, filters: 8, size: 3, stride: 2)),
    c("dilation 2", Conv2DDescriptor(channels: 8, height: 13, width: 13, filters: 16, size: 3, pad: 2, dilation: 2)),
    c("groups 2", Conv2DDescriptor(channels: 16, height: 9, width: 9, filters: 32, size: 3, pad: 1, groups: 2)),
    c("depthwise", Conv2DDescriptor(channels: 16, height: 12, width: 12, filters: 16, size: 3, pad: 1, groups: 16)),
    c("depthwise stride 2", Conv2DDescriptor(channels: 8, height: 13, width: 13, filters: 8, size: 3, stride: 2, pad: 1,
                                             groups: 8)),
    c("no bias", Conv2DDescriptor(channels: 8, height: 9, width: 9, filters: 16, size: 3, pad: 1, hasBias: false)),
    c("relu", Conv2DDescriptor(channels: 16, height: 9, width: 9, filters: 16, size: 3, pad: 1, activation: .relu)),
    c("clamp(0,6)", Conv2DDescriptor(channels: 16, height: 9, width: 9, filters: 16, size: 3, pad: 1,
                                     activation: .relu6)),
    c("clamp with an infinite bound", Conv2DDescriptor(channels: 16, height: 9, width: 9, filters: 16, size: 3, pad: 1,
                                                      activation: .clamp(min: -.infinity, max: 1))),
    c("everything at once", Conv2DDescriptor(
        batch: 2, inputChannels: 12, inputHeight: 15, inputWidth: 13, outputChannels: 18, kernelHeight: 3,
        kernelWidth: 2, strideHeight: 2, strideWidth: 1, padding: Padding(top: 2, left: 0, bottom: 1, right: 3),
        dilationHeight: 2, dilationWidth: 3, groups: 3, activation: .relu)),
    c("rectangular 3x5", Conv2DDescriptor(
        inputChannels: 8, inputHeight: 11, inputWidth: 14, outputChannels: 16, kernelHeight: 3, kernelWidth: 5,
        strideHeight: 1, strideWidth: 2, padding: Padding(height: 1, width: 2))),
]

/// Prepares `d` on oneDNN and on the reference with the same random weights and bias.
private func preparePair(_ d: Conv2DDescriptor, seed: UInt64 = 1)
    throws -> (onednn: any PreparedConvolution, reference: any PreparedConvolution)
{
    let w = randomValues(d.weightCount, seed: seed)
    let b: [Float]? = d.hasBias ? randomValues(d.outputChannels, seed: seed + 1) : nil
    return (try OneDNNBackend().prepare(d, weights: w, bias: b), try ReferenceBackend().prepare(d, weights: w, bias: b))
}

private func randomInput(_ d: Conv2DDescriptor, seed: UInt64 = 3) throws -> Tensor {
    try Tensor(shape: TensorShape(d.inputShape), values: randomValues(d.inputCount, seed: seed))
}

@Suite("oneDNN backend")
struct OneDNNBackendTests {
    @Test("agrees with the reference", .enabled(if: oneDNNAvailable, oneDNNSkipReason),
          arguments: cases, [1, 2])
    func agreesWithReference(_ testCase: OneDNNCase, threads: Int) throws {
        let d = testCase.descriptor
        let (onednn, reference) = try preparePair(d)
        let x = try randomInput(d)
        let y = try onednn.execute(x, threads: threads)
        let yRef = try reference.execute(x, threads: 1)
        let error = normalizedMaxError(y.scalars, yRef.scalars)
        #expect(error <= tolerance, "normalized max error \(error) for \(d) with \(threads) threads")
        #expect(onednn.backendName == "onednn")
        // oneDNN names its kernels "<kind>:<isa>" (jit:avx2, brgconv:avx512_core, gemm:jit ...).
        #expect(onednn.implementation.contains(":"), "\(onednn.implementation)")
        if case let .clamp(lo, hi) = d.activation {
            #expect(y.scalars.allSatisfy { $0 >= lo && $0 <= hi })
        }
    }

    @Test("clamp and relu cases reach their bounds", .enabled(if: oneDNNAvailable, oneDNNSkipReason))
    func activationsAreExercised() throws {
        // Guards the activation cases above against data that never hits the bounds.
        for testCase in cases where testCase.descriptor.activation != .none {
            let d = testCase.descriptor
            var plain = d
            plain.activation = .none
            let (_, reference) = try preparePair(plain)
            let y = try reference.execute(try randomInput(d), threads: 1).scalars
            let (lo, hi) = d.activation.bounds
            if lo.isFinite { #expect(y.contains { $0 < lo }, "\(testCase.name): no value below \(lo)") }
            if hi.isFinite { #expect(y.contains { $0 > hi }, "\(testCase.name): no value above \(hi)") }
        }
    }

    @Test("many thread counts on one prepared convolution", .enabled(if: oneDNNAvailable, oneDNNSkipReason))
    func threadCountsShareOnePreparation() throws {
        let d = Conv2DDescriptor(channels: 16, height: 14, width: 14, filters: 16, size: 3, pad: 1, activation: .relu)
        let (onednn, reference) = try preparePair(d)
        let x = try randomInput(d)
        let yRef = try reference.execute(x, threads: 1).scalars
        for threads in [1, 2, 3, 1, 2] {
            let y = try onednn.execute(x, threads: threads).scalars
            #expect(normalizedMaxError(y, yRef) <= tolerance, "\(threads) threads")
        }
    }

    @Test("core-only runs after execute and leaves execute correct",
          .enabled(if: oneDNNAvailable, oneDNNSkipReason),
          arguments: [
              // Blocked input and output.
              Conv2DDescriptor(channels: 16, height: 10, width: 10, filters: 16, size: 3, pad: 1),
              // A first layer: oneDNN reads plain NCHW input.
              Conv2DDescriptor(channels: 3, height: 12, width: 12, filters: 8, size: 3, pad: 1),
              Conv2DDescriptor(channels: 8, height: 10, width: 10, filters: 8, size: 3, pad: 1, groups: 8),
          ])
    func coreOnly(_ d: Conv2DDescriptor) throws {
        let (prepared, reference) = try preparePair(d)
        let onednn = try #require(prepared as? any LayoutConvertingConvolution)
        let x = try randomInput(d)
        let yRef = try reference.execute(x, threads: 1).scalars
        var y = try onednn.execute(x, threads: 1)
        try onednn.executeCoreOnly(threads: 1)
        try onednn.executeCoreOnly(threads: 2)
        try onednn.executeCoreOnly(threads: nil)
        y = try onednn.execute(x, threads: 2)
        #expect(normalizedMaxError(y.scalars, yRef) <= tolerance)
        #expect(throws: ConvError.nonPositive(parameter: "threads", value: 0)) { try onednn.executeCoreOnly(threads: 0) }
    }

    @Test("concurrent executes on one prepared convolution", .enabled(if: oneDNNAvailable, oneDNNSkipReason))
    func concurrentExecutes() async throws {
        let d = Conv2DDescriptor(channels: 8, height: 12, width: 12, filters: 16, size: 3, pad: 1)
        let (onednn, reference) = try preparePair(d)
        let x = try randomInput(d)
        let yRef = try reference.execute(x, threads: 1).scalars
        let errors = try await withThrowingTaskGroup(of: Double.self) { group in
            for i in 0..<4 {
                group.addTask { normalizedMaxError(try onednn.execute(x, threads: 1 + i % 2).scalars, yRef) }
            }
            return try await group.reduce(into: [Double]()) { $0.append($1) }
        }
        #expect(errors.count == 4)
        #expect(errors.allSatisfy { $0 <= tolerance }, "\(errors)")
    }

    @Test("reports implementation and workspace", .enabled(if: oneDNNAvailable, oneDNNSkipReason))
    func reportsImplementation() throws {
        let d = Conv2DDescriptor(channels: 16, height: 10, width: 10, filters: 16, size: 3, pad: 1)
        let (onednn, _) = try preparePair(d)
        // oneDNN names its kernels "<kind>:<isa>" (jit:avx2, gemm:jit, ref:any...).
        #expect(onednn.implementation.contains(":"), "\(onednn.implementation)")
        // The scratchpad of a 16-channel 10x10 layer: far below its 6.4 KB input times 1000.
        #expect(onednn.workspaceBytes < 6_400_000, "\(onednn.workspaceBytes) bytes")
        #expect(OneDNNBackend.libraryVersion?.hasPrefix("2.") == true)
        #expect(OneDNNBackend().support(for: d) == .supported)
    }

    @Test("bad arguments are typed errors", .enabled(if: oneDNNAvailable, oneDNNSkipReason))
    func badArguments() throws {
        let d = Conv2DDescriptor(channels: 4, height: 6, width: 6, filters: 4, size: 3, pad: 1)
        #expect(throws: ConvError.shapeMismatch(what: "weights", expected: [4, 4, 3, 3], actual: [3])) {
            _ = try OneDNNBackend().prepare(d, weights: [1, 2, 3], bias: [0, 0, 0, 0])
        }
        var bad = d
        bad.strideHeight = 0
        #expect(throws: ConvError.self) { _ = try OneDNNBackend().prepare(bad, weights: [], bias: nil) }
        let (onednn, _) = try preparePair(d)
        let x = try randomInput(d)
        #expect(throws: ConvError.nonPositive(parameter: "threads", value: 0)) { _ = try onednn.execute(x, threads: 0) }
        let short = [Float](repeating: 0, count: d.inputCount - 1)
        var out = [Float](repeating: 0, count: d.outputCount)
        #expect(throws: ConvError.bufferTooSmall(what: "input", required: d.inputCount, actual: d.inputCount - 1)) {
            try short.withUnsafeBufferPointer { i in
                try out.withUnsafeMutableBufferPointer { o in try onednn.execute(input: i, output: o, threads: 1) }
            }
        }
    }

    @Test("unavailable: reported, unsupported, prepare throws", .enabled(if: !oneDNNAvailable, "oneDNN is available"))
    func unavailablePath() throws {
        let backend = OneDNNBackend()
        guard case let .unavailable(reason) = backend.availability else {
            Issue.record("expected unavailable")
            return
        }
        #expect(!reason.isEmpty)
        let d = Conv2DDescriptor(channels: 4, height: 6, width: 6, filters: 4, size: 3, pad: 1)
        #expect(!backend.support(for: d).isSupported)
        #expect(throws: ConvError.unavailable(backend: "onednn", reason: reason)) {
            _ = try backend.prepare(d, weights: randomValues(d.weightCount, seed: 1), bias: [0, 0, 0, 0])
        }
        // The registry still lists it, and `auto` falls back to another backend.
        #expect(BackendRegistry.shared.names.contains("onednn"))
        #expect(try AutoBackend(candidates: BackendRegistry.builtIn).choose(for: d).name != "onednn")
    }

    @Test("CONVKIT_DISABLE_ONEDNN values")
    func disableVariable() {
        #expect(OneDNNBackend.disableEnvironmentVariable == "CONVKIT_DISABLE_ONEDNN")
        #expect(OneDNNBackend.disabledReason(environmentValue: "1") == "disabled by CONVKIT_DISABLE_ONEDNN")
        #expect(OneDNNBackend.disabledReason(environmentValue: "yes") == "disabled by CONVKIT_DISABLE_ONEDNN")
        #expect(OneDNNBackend.disabledReason(environmentValue: nil) == nil)
        #expect(OneDNNBackend.disabledReason(environmentValue: "") == nil)
        #expect(OneDNNBackend.disabledReason(environmentValue: "0") == nil)
    }

    @Test("status names and error mapping")
    func statusMapping() {
        let names = ["dnnl_success", "dnnl_out_of_memory", "dnnl_invalid_arguments", "dnnl_unimplemented",
                     "dnnl_iterator_ends", "dnnl_runtime_error", "dnnl_not_required"]
        for (status, name) in names.enumerated() {
            #expect(OneDNNBackend.statusName(Int32(status)) == name)
        }
        #expect(OneDNNBackend.statusName(-1) == "ck_dnnl_unavailable")
        #expect(OneDNNBackend.statusName(-2) == "ck_dnnl_out_of_memory")
        #expect(OneDNNBackend.statusName(-3) == "ck_dnnl_invalid_argument")
        #expect(OneDNNBackend.statusName(42) == "unknown status 42")

        #expect(OneDNNBackend.error(status: 1, operation: "dnnl_memory_create(src)")
            == .backendFailure(backend: "onednn", operation: "dnnl_memory_create(src)", status: "dnnl_out_of_memory"))
        #expect(OneDNNBackend.error(status: 3, operation: "dnnl_reorder_primitive_desc_create(src)")
            == .backendFailure(backend: "onednn", operation: "dnnl_reorder_primitive_desc_create(src)",
                               status: "dnnl_unimplemented"))
        guard case let .unsupported(backend, reason) =
            OneDNNBackend.error(status: 3, operation: "dnnl_primitive_desc_create(convolution)")
        else {
            Issue.record("unimplemented convolution should map to unsupported")
            return
        }
        #expect(backend == "onednn")
        #expect(reason.contains("dnnl_unimplemented"))
        if case .unavailable = OneDNNBackend.error(status: -1, operation: "ck_dnnl_conv_create") {} else {
            Issue.record("the shim's unavailable status should map to ConvError.unavailable")
        }
    }
}
