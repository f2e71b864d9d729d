import ConvKit
import Foundation
import Testing

/// Every failure the fuzz and reliability tests found, minimised, as a named test.
///
/// Tests marked `.disabled("bug: ...")` reproduce bugs in files this suite does not own; they
/// crash the test process today (a trap cannot be caught), so they stay disabled until fixed.
/// Run one with `swift test --filter RegressionTests/<name>` after removing the trait.
@Suite("Regressions found by fuzzing")
struct RegressionTests {
    /// Fuzz seed 212205442179110, valid case 604. Not a backend bug: the error measure.
    /// With a narrow clamp the outputs are far smaller than the 288-tap sums that produced
    /// them, so float32 rounding of the sums (2.5e-6 absolute) is 1.7e-5 of the largest
    /// clamped output. The fuzz test measures the error against the pre-activation scale.
    @Test("narrow clamp: direct's error is float32 rounding of the pre-activation sums")
    func narrowClampErrorScale() throws {
        let d = Conv2DDescriptor(
            inputChannels: 64, inputHeight: 6, inputWidth: 4, outputChannels: 2, kernelHeight: 3, kernelWidth: 3,
            strideHeight: 1, strideWidth: 2, padding: Padding(top: 0, left: 1, bottom: 0, right: 1), groups: 2,
            activation: .clamp(min: -0.14709139, max: 0.013627529))
        let seed: UInt64 = 212_205_442_179_110 &+ 604
        let c = ConvCase(d, seed: seed)
        let ref = try c.reference()
        let scale = try accumulationScale(c, ref, seed: seed)
        for backend in reliabilityBackends where backend.name != "reference" && backend.support(for: d).isSupported {
            let y = try c.run(backend, threads: 3)
            #expect(fuzzError(y, ref, scale: scale) <= 1e-5, "\(backend.name)")
        }
        // The clamped outputs are much smaller than the sums (the reason for the scale).
        let maxClamped = ref.map { Double(abs($0)) }.max()!
        #expect(scale > 10 * maxClamped)
    }

    /// Invalid fuzz, seed 212205442179110: `fitsExactly` (and `outputHeight`, `inputCount`,
    /// `flops`...) trapped with "arithmetic overflow" on descriptors with sizes near `Int.max`,
    /// although ErrorsTests promises the derived properties of invalid descriptors never trap.
    /// Fixed in Conv2DDescriptor+Geometry.swift: saturating arithmetic.
    @Test("derived properties saturate instead of trapping on sizes near Int.max")
    func derivedPropertiesSaturate() {
        var d = Conv2DDescriptor(channels: 3, height: 5, width: 5, filters: 4, size: 3)
        d.inputHeight = Int.max / 2 + 1
        d.inputWidth = Int.max
        d.padding = Padding(top: Int.max, left: 0, bottom: 1, right: 2)
        #expect(d.outputHeight > Int.max / 2)
        #expect(d.inputCount == Int.max)
        #expect(d.outputCount == Int.max && d.flops == Int.max)
        _ = (d.fitsExactly, d.exactOutputHeight, d.exactOutputWidth, d.description)
        d.kernelHeight = Int.min
        d.dilationHeight = Int.max
        #expect(d.effectiveKernelHeight <= Int.min + 1)
        #expect(d.outputHeight == 0 || d.outputHeight == Int.max)
        d.batch = Int.min
        #expect(d.inputCount == Int.min)
        #expect(throws: ConvError.self) { try d.validate() }
    }

    /// Fixed bug (was in DirectGEMMConvolution.execute and WinogradConvolution.execute):
    /// `threads` is only checked to be >= 1, then `base >= 4 * threads` (direct) and
    /// `blocks >= 2 * threads` (winograd) overflow for `threads > Int.max / 4` and trap.
    /// Expected: clamp the thread count (for example to the task count) or throw.
    @Test("a huge thread count does not trap",
          arguments: ReliabilityPath.all.filter { $0.backend.name != "onednn" })
    func hugeThreadCount(_ path: ReliabilityPath) throws {
        let c = ConvCase(path.descriptor, seed: 2)
        let prepared = try path.backend.prepare(c.descriptor, weights: c.weights, bias: c.bias)
        let y = try executeFilled(prepared, c.input, threads: Int.max)
        #expect(bitwiseEqual(y, try executeFilled(prepared, c.input, threads: 1)))
    }

    /// Fixed bug (was in DepthwiseConvolution; such layers now run on the GEMM path): a valid depthwise descriptor with huge
    /// padding and a stride as large (tiny input, 2x2 output) is prepared, but every execute
    /// copies each plane into a zero-padded plane of `paddedHeight * paddedWidth` floats:
    /// about 4.4e12 floats (17.6 TB) here, so the allocation fails and the process dies
    /// (and `planeFloats` itself overflows Int for paddings near 2^32). `workspaceBytes`
    /// traps the same way. Expected: prepare refuses it with a ConvError
    /// (``ConvError/sizeOverflow(what:limit:)``), or the depthwise path skips the padded copy
    /// (the GEMM path handles it: it never materialises padding).
    @Test("depthwise with huge padding and stride is refused at prepare or runs")
    func depthwiseHugePadding() throws {
        let d = Conv2DDescriptor(channels: 2, height: 1, width: 1, filters: 2, size: 3, stride: 1 << 20,
                                 pad: 1 << 20, groups: 2)
        try d.validate()
        #expect(d.outputShape == [1, 2, 2, 2])
        let c = ConvCase(d, seed: 1)
        let prepared: any PreparedConvolution
        do {
            prepared = try DirectBackend().prepare(d, weights: c.weights, bias: c.bias)
        } catch is ConvError {
            return  // refused at prepare: fine
        }
        #expect(prepared.workspaceBytes < 1 << 30)
        let y = try executeFilled(prepared, c.input, threads: 1)
        #expect(normalizedMaxError(y, try c.reference()) <= 1e-6)
    }

    /// Fixed bug (DirectGEMMConvolution now stores min(strideWidth, W) phases): with a horizontal stride above 1, every
    /// execute deinterleaves the input into `strideWidth * ceil(W / strideWidth)` floats per row
    /// (`rowStride`, `phasedFloats`), at least `strideWidth` floats per row however narrow the
    /// input. A valid 1x1 layer on a 1x1 input with stride 2^40 asks for 2^40 floats (4 TB), and
    /// the product overflows Int (a trap) for strides near 2^62; `workspaceBytes` too.
    /// Expected: phases beyond W are empty (use `min(strideWidth, W)` phases), or prepare refuses.
    @Test("direct GEMM with a huge horizontal stride runs or is refused at prepare")
    func directHugeStride() throws {
        let d = Conv2DDescriptor(inputChannels: 2, inputHeight: 3, inputWidth: 1, outputChannels: 8, kernelHeight: 1,
                                 kernelWidth: 1, strideHeight: 1, strideWidth: 1 << 40)
        try d.validate()
        let c = ConvCase(d, seed: 1)
        let prepared: any PreparedConvolution
        do {
            prepared = try DirectBackend().prepare(d, weights: c.weights, bias: c.bias)
        } catch is ConvError {
            return  // refused at prepare: fine
        }
        #expect(prepared.workspaceBytes < 1 << 30)
        let y = try executeFilled(prepared, c.input, threads: 1)
        #expect(normalizedMaxError(y, try c.reference()) <= 1e-6)
    }
}
