/// The native Winograd backend (`winograd`): F(2x2,3x3), F(4x4,3x3) and F(6x6,3x3).
///
/// Supports 3x3 kernels with stride 1, dilation 1 and one group: any batch, channel count,
/// spatial size and padding, bias and fused activation. Everything else is reported as
/// unsupported (with the reason), so `auto` and models fall back to `direct`.
///
/// Algorithm (Lavin and Gray, CVPR 2016; NNPACK's design): the kernel transform runs once
/// at prepare time; per block of output tiles, the input tiles are transformed 8 at a time
/// (on AVX2+FMA by the C kernels of `CKernels`: specialised F(4x4) transforms, dense ones for
/// F(2x2) and F(6x6); portable Swift SIMD code otherwise), then for each of the `alpha^2`
/// transformed positions one GEMM over channels runs on the 6x16 GEMM micro-kernel (on AVX-512F,
/// for layers of at most 128 x 128 channels, the 12x16 one: two 6-row weight panels per call,
/// the same bits), and the
/// output transform adds the bias and applies the activation. Tiles are processed in blocks
/// sized so that one block's transformed input and GEMM output stay in L2 (16-128 tiles), so
/// the transformed input is never fully materialised; see
/// ``PreparedConvolution/workspaceBytes``.
///
/// Accuracy: see ``WinogradTile``. Results are bit-identical whatever the thread count.
public struct WinogradBackend: ConvBackend, AutoSelectable {
    /// The tile size, or `nil` to choose per layer (``automaticTile(for:)``).
    public let tile: WinogradTile?
    /// The micro-kernel instruction set.
    public let isa: KernelISA

    public init(tile: WinogradTile? = nil, isa: KernelISA = .selected) {
        self.tile = tile
        self.isa = isa
    }

    public var name: String { "winograd" }
    public var summary: String {
        "Winograd \(tile.map(\.description) ?? "F(2|4|6,3x3) chosen per layer"), "
            + (KernelTable.of(isa).gemmRowPair != nil ? "6x16 or (up to 128 x 128 channels) 12x16 avx512f"
                : "6x16 \(isa.hasAVX2FMA ? "avx2+fma" : "portable")")
            + " GEMM"
    }
    public var availability: BackendAvailability {
        if !KernelISA.isSupported(isa) {
            return .unavailable(reason: "this CPU lacks AVX2+FMA; use isa: .portable")
        }
        return .available
    }

    public func support(for d: Conv2DDescriptor) -> BackendSupport {
        if d.kernelHeight != 3 || d.kernelWidth != 3 {
            return .unsupported(reason: "Winograd needs a 3x3 kernel, got \(d.kernelHeight)x\(d.kernelWidth)")
        }
        if d.strideHeight != 1 || d.strideWidth != 1 {
            return .unsupported(reason: "Winograd needs stride 1, got \(d.strideHeight),\(d.strideWidth)")
        }
        if d.dilationHeight != 1 || d.dilationWidth != 1 {
            return .unsupported(reason: "Winograd needs dilation 1, got \(d.dilationHeight),\(d.dilationWidth)")
        }
        if d.groups != 1 { return .unsupported(reason: "Winograd needs groups 1, got \(d.groups)") }
        return .supported
    }

    /// Winograd pays off once there are enough channels for the GEMMs to dominate the
    /// transforms: `auto` picks it for supported layers with at least 16 input and output
    /// channels and 49 output pixels (7x7) per batch (measured on ResNet's 7x7 res5 layers:
    /// F(2x2) 1.5x faster than direct).
    public func recommends(_ d: Conv2DDescriptor) -> Bool {
        support(for: d).isSupported && d.inputChannels >= 16 && d.outputChannels >= 16
            && d.outputHeight * d.outputWidth * d.batch >= 49
    }

    /// The tile used when none is forced: F(4x4,3x3) for outputs of at least 8x8 per image,
    /// else F(2x2,3x3). Measured on this project's machine (see the README), F(4x4) is the
    /// fastest tile on every standard layer: F(6x6) does fewer multiplications but its larger
    /// transforms and wasted partial tiles cost more than they save, and it is the least
    /// accurate; it is available by forcing `tile: .f6x3`.
    public static func automaticTile(for d: Conv2DDescriptor) -> WinogradTile {
        let side = Swift.min(d.outputHeight, d.outputWidth)
        return side >= 8 ? .f4x3 : .f2x3
    }

    /// The tile, kernel and workspace ``prepare(_:weights:bias:)`` would use for `descriptor`
    /// with `threads` threads (default: ``ConvKit/defaultThreadCount``), computed from the
    /// descriptor alone: the algorithm is the tile (for example `F(4x4,3x3)`).
    /// - Throws: ``ConvError`` for an invalid descriptor, `threads < 1`, an ISA this CPU lacks,
    ///   an unsupported descriptor or accumulation, as `prepare` would.
    public func plan(for descriptor: Conv2DDescriptor, threads: Int?) throws -> ConvPlan? {
        try descriptor.validate()
        try checkAccumulation(descriptor, self)
        if case let .unavailable(reason) = availability { throw ConvError.unavailable(backend: name, reason: reason) }
        if case let .unsupported(reason) = support(for: descriptor) {
            throw ConvError.unsupported(backend: name, reason: reason)
        }
        let t = threads ?? ConvKit.defaultThreadCount
        if t < 1 { throw ConvError.nonPositive(parameter: "threads", value: t) }
        let tile = tile ?? Self.automaticTile(for: descriptor)
        return ConvPlan(backend: name, algorithm: tile.description,
                        kernel: WinogradConvolution.implementation(descriptor, tile: tile, isa: isa),
                        workspaceBytes: WinogradConvolution.workspaceBytes(descriptor, tile: tile, threads: t),
                        threads: t)
    }

    public func prepare(_ descriptor: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>,
                        bias: UnsafeBufferPointer<Float>?) throws -> any PreparedConvolution {
        try checkWeightsAndBias(descriptor, weights: weights, bias: bias)
        try checkAccumulation(descriptor, self)
        if case let .unavailable(reason) = availability { throw ConvError.unavailable(backend: name, reason: reason) }
        if case let .unsupported(reason) = support(for: descriptor) {
            throw ConvError.unsupported(backend: name, reason: reason)
        }
        return try WinogradConvolution(descriptor: descriptor, weights: weights, bias: bias,
                                       tile: tile ?? Self.automaticTile(for: descriptor), isa: isa)
    }
}
