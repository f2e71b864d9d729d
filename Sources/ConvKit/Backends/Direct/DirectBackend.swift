/// The native direct convolution backend (`direct`).
///
/// Runs every valid descriptor. The algorithm is chosen at prepare time (see ``Algorithm``):
/// - depthwise (`groups == C == K`): on AVX2+FMA a whole-plane kernel over a zero-padded copy
///   of each channel (stride 2 de-interleaved), on AVX-512F for square 3x3, 5x5 and 7x7
///   filters (dilation 1 or 2, stride 1 or 2) a kernel that reads each plane in place, on the
///   portable ISA a per-channel row kernel;
/// - strided 1x1 unpadded layers, and stride-1 ones on planes of at most 64 pixels: on AVX2+FMA
///   a pointwise GEMM with the output channels as the vector over the input packed into 6-pixel
///   panels, in depth blocks of up to 256 (``Algorithm/packedPointwise`` forces it); on
///   AVX-512F the indirect kernel below, measured faster there;
/// - other 1x1 stride-1 unpadded layers: a pointwise GEMM over the NCHW planes, the pixels as
///   the vector (``Algorithm/pointwise`` forces it), except deep ones on AVX-512F (at least 256
///   input channels and 128 output channels per group, or 1024 pixels), which run the indirect
///   kernel below;
/// - on AVX-512F, one-group layers with stride 1 or 2, a lowered depth `C * R * S` of at most
///   32 and more than 16 output channels (few-channel stems): im2col rows of each block of
///   output pixels and the pointwise GEMM over them (``Algorithm/im2colPointwise``);
/// - everything else, on AVX2+FMA: an indirect direct convolution: a 6-pixel by
///   16-output-channel register tile (12 accumulators of 8 floats) whose inputs are broadcast
///   straight from the NCHW input through a tap-offset table (a padded layer first copies its
///   input into a zero-padded buffer), so strides and dilation cost nothing extra; weights
///   packed once at prepare time; bias, activation and a residual addition fused into the store;
///   layers with at most 12 output channels per group and stride 1 along rows run a
///   few-channel kernel over the same taps instead (8 pixels of a row as the vector, one
///   accumulator per output channel);
/// - everything else on the portable ISA (or when asked for): an implicit GEMM per group,
///   `Y[K/g x OH*OW] = W[K/g x (C/g)RS] * X̂`, where `X̂` (im2col) is never materialised:
///   cache-sized blocks of it are packed into 16-pixel panels and fed to a 6x16 micro-kernel.
///
/// Micro-kernels: AVX2+FMA C kernels when the CPU has them, else portable Swift SIMD code
/// (force it with `CONVKIT_ISA=portable` or ``init(isa:algorithm:)``).
///
/// Accuracy: float32 accumulation in a fixed order; normalized max error against the
/// float64 reference is typically 1e-6 to 3e-6 for 64-512 input channels with the indirect
/// kernel (one running sum per output over all taps), below 1e-6 with the implicit GEMM, and
/// tested at 1e-5.
///
/// Threading: work is split into independent tiles of the output; each output element is
/// computed by the same sequence of operations whatever the thread count, so results are
/// bit-identical for any `threads`.
public struct DirectBackend: ConvBackend {
    /// How a non-depthwise layer is computed.
    public enum Algorithm: String, Sendable, CaseIterable {
        /// The indirect kernel on AVX2+FMA, the implicit GEMM otherwise (the default).
        case automatic
        /// The implicit GEMM (packed im2col panels, 6x16 GEMM micro-kernel), on any ISA.
        case implicitGEMM = "implicit-gemm"
        /// The indirect kernel (6 pixels x 16 channels, inputs broadcast in place). AVX2+FMA
        /// only: with the portable ISA, and for layers whose input plane has 2^31 floats or
        /// more (32-bit tap offsets), the implicit GEMM runs instead.
        case indirect
        /// The pointwise GEMM for every 1x1 stride-1 unpadded
        /// layer whatever its size (automatic uses it for shallow layers of at least 28x28
        /// pixels); other layers as ``automatic``.
        case pointwise
        /// The packed pointwise GEMM (output channels as the vector, input packed into 6-pixel
        /// panels) for every unpadded 1x1 layer, strided or not (automatic uses it for planes
        /// of at most 64 pixels and for strided 1x1 layers); other layers as ``automatic``.
        case packedPointwise = "packed-pointwise"
        /// Im2col rows of each block of output pixels (the zero padding as masked-off lanes)
        /// and the pointwise GEMM over them, the pixels as the vector, for one-group layers with
        /// stride 1 or 2 and a lowered depth `C * R * S` of at most 96 on AVX-512F (automatic
        /// uses it for depths of at most 32 with more than 16 output channels, a 3-channel 3x3
        /// stem for example: 1.05-2.06x the indirect kernel on such layers); other layers as
        /// ``automatic``.
        case im2colPointwise = "im2col-pointwise"
    }

    /// The micro-kernel instruction set.
    public let isa: KernelISA
    /// The algorithm for non-depthwise layers.
    public let algorithm: Algorithm

    /// A direct backend using `isa` (default: the best ISA of this CPU, or `portable` when
    /// `CONVKIT_ISA=portable`) and `algorithm`.
    public init(isa: KernelISA = .selected, algorithm: Algorithm = .automatic) {
        self.isa = isa
        self.algorithm = algorithm
    }

    public var name: String { "direct" }
    public var summary: String {
        kernels.convTile != nil && algorithm != .implicitGEMM
            ? "direct convolution, indirect " + (kernels.convTilePair != nil ? "6x32 avx512f" : "6x16 avx2+fma")
                + " micro-kernel"
            : "implicit-GEMM direct convolution, 6x16 \(isa.rawValue) micro-kernel"
    }

    /// The micro-kernels of ``isa``.
    var kernels: KernelTable { KernelTable.of(isa) }
    public var availability: BackendAvailability {
        if !KernelISA.isSupported(isa) {
            return .unavailable(reason: "this CPU lacks AVX2+FMA; use isa: .portable")
        }
        return .available
    }
    public func support(for descriptor: Conv2DDescriptor) -> BackendSupport { .supported }

    /// The indirect and depthwise kernels add into the output in their store (a fused residual
    /// addition) on AVX2+FMA; the implicit-GEMM and portable paths do not.
    public func canAccumulate(_ d: Conv2DDescriptor) -> Bool {
        if d.isDepthwise && DepthwiseConvolution.paddedPlaneFloats(d) <= 1 << 24 {
            return kernels.depthwisePlane != nil && d.strideHeight == d.strideWidth
                && d.dilationHeight == d.dilationWidth
        }
        guard kernels.convTile != nil else { return false }
        return algorithm != .implicitGEMM && (DirectPointwiseConvolution.supportsShape(d)
            || DirectIm2colConvolution.supportsShape(d, isa: isa)
            || DirectPackedPointwiseConvolution.supportsShape(d) || DirectIndirectConvolution.supports(d))
    }

    public func prepare(_ descriptor: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>,
                        bias: UnsafeBufferPointer<Float>?) throws -> any PreparedConvolution {
        try checkWeightsAndBias(descriptor, weights: weights, bias: bias)
        if case let .unavailable(reason) = availability { throw ConvError.unavailable(backend: name, reason: reason) }
        try checkAccumulation(descriptor, self)
        switch path(for: descriptor) {
        case .depthwise:
            return DepthwiseConvolution(descriptor: descriptor, weights: weights, bias: bias, isa: isa)
        case .packedPointwise:
            return try DirectPackedPointwiseConvolution(descriptor: descriptor, weights: weights, bias: bias, isa: isa)
        case .pointwise:
            return try DirectPointwiseConvolution(descriptor: descriptor, weights: weights, bias: bias, isa: isa)
        case .indirect:
            return try DirectIndirectConvolution(descriptor: descriptor, weights: weights, bias: bias, isa: isa)
        case .im2colPointwise:
            return try DirectIm2colConvolution(descriptor: descriptor, weights: weights, bias: bias, isa: isa)
        case .implicitGEMM:
            return try DirectGEMMConvolution(descriptor: descriptor, weights: weights, bias: bias, isa: isa)
        }
    }

    /// The paths of the direct backend (the ``ConvPlan/algorithm`` names).
    enum Path: String {
        case depthwise, packedPointwise = "packed-pointwise", pointwise, indirect, implicitGEMM = "implicit-gemm"
        case im2colPointwise = "im2col-pointwise"
    }

    /// The path `prepare` takes for `descriptor` (a valid one).
    func path(for descriptor: Conv2DDescriptor) -> Path {
        if descriptor.isDepthwise && DepthwiseConvolution.paddedPlaneFloats(descriptor) <= 1 << 24 {
            return .depthwise
        }
        // Other layers run the indirect kernel, unless the ISA is portable or the padded input
        // plane would be huge (see DirectIndirectConvolution.supports); those, and depthwise
        // layers whose zero-padded plane would exceed 64 MiB, run as an implicit GEMM, which
        // never materialises padding.
        let kernels = self.kernels
        if kernels.convTile != nil && (algorithm == .automatic && DirectPackedPointwiseConvolution.supports(descriptor, isa: isa)
            || algorithm == .packedPointwise && DirectPackedPointwiseConvolution.supportsShape(descriptor)) {
            return .packedPointwise
        }
        if kernels.pointwiseTile != nil && (algorithm == .automatic && DirectPointwiseConvolution.supports(descriptor, isa: isa)
            || algorithm == .pointwise && DirectPointwiseConvolution.supportsShape(descriptor)) {
            return .pointwise
        }
        if algorithm == .automatic && DirectIm2colConvolution.supports(descriptor, isa: isa)
            || algorithm == .im2colPointwise && DirectIm2colConvolution.supportsShape(descriptor, isa: isa) {
            return .im2colPointwise
        }
        if kernels.convTile != nil && algorithm != .implicitGEMM && DirectIndirectConvolution.supports(descriptor) {
            return .indirect
        }
        return .implicitGEMM
    }

    /// The path, kernel and workspace ``prepare(_:weights:bias:)`` would use for `descriptor`,
    /// without packing or allocating anything (see ``ConvBackend/plan(for:threads:)``).
    /// - Throws: ``ConvError`` for an invalid descriptor, `threads < 1`, an ISA this CPU lacks,
    ///   or accumulation the path cannot fuse.
    public func plan(for descriptor: Conv2DDescriptor, threads: Int?) throws -> ConvPlan? {
        try descriptor.validate()
        if case let .unavailable(reason) = availability { throw ConvError.unavailable(backend: name, reason: reason) }
        try checkAccumulation(descriptor, self)
        let t = threads ?? ConvKit.defaultThreadCount
        if t < 1 { throw ConvError.nonPositive(parameter: "threads", value: t) }
        let d = descriptor
        let path = path(for: d)
        let kernel: String, workspace: Int
        switch path {
        case .depthwise:
            (kernel, workspace) = (DepthwiseConvolution.implementation(d, isa: isa),
                                   DepthwiseConvolution.workspaceBytes(d, isa: isa, threads: t))
        case .packedPointwise:
            (kernel, workspace) = (DirectPackedPointwiseConvolution.implementation(d, isa: isa),
                                   DirectPackedPointwiseConvolution.workspaceBytes(d))
        case .pointwise:
            (kernel, workspace) = (DirectPointwiseConvolution.implementation(isa: isa), 0)
        case .indirect:
            (kernel, workspace) = (DirectIndirectConvolution.implementation(d, isa: isa),
                                   DirectIndirectConvolution.workspaceBytes(d, isa: isa))
        case .im2colPointwise:
            (kernel, workspace) = (DirectIm2colConvolution.implementation(isa: isa),
                                   DirectIm2colConvolution.workspaceBytes(d, threads: t))
        case .implicitGEMM:
            (kernel, workspace) = (DirectGEMMConvolution.implementation(d, isa: isa),
                                   DirectGEMMConvolution.workspaceBytes(d, threads: t))
        }
        return ConvPlan(backend: name, algorithm: path.rawValue, kernel: kernel, workspaceBytes: workspace, threads: t)
    }
}
