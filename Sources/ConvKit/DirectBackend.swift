/// The native direct convolution backend (`direct`).
///
/// Runs every valid descriptor. Two algorithms, chosen at prepare time:
/// - depthwise (`groups == C == K`): a per-channel row kernel vectorised along the output
///   width (``DepthwiseConvolution``);
/// - everything else: an implicit GEMM per group, `Y[K/g x OH*OW] = W[K/g x (C/g)RS] * X̂`,
///   where `X̂` (im2col) is never materialised: cache-sized blocks of it are packed into
///   16-pixel panels and fed to a register-blocked 6x16 micro-kernel (12 accumulators of 8
///   floats), with the weights packed once at prepare time and bias and activation fused into
///   the micro-kernel's store (``DirectGEMMConvolution``).
///
/// Micro-kernels: AVX2+FMA C kernels when the CPU has them, else portable Swift SIMD code
/// (force it with `CONVKIT_ISA=portable` or ``init(isa:)``).
///
/// Accuracy: float32 accumulation in a fixed order; normalized max error against the
/// float64 reference is typically below 1e-6 and tested at 1e-5.
///
/// Threading: work is split into independent tiles of the output; each output element is
/// computed by the same sequence of operations whatever the thread count, so results are
/// bit-identical for any `threads`.
public struct DirectBackend: ConvBackend {
    /// The micro-kernel instruction set.
    public let isa: KernelISA

    /// A direct backend using `isa` (default: the best ISA of this CPU, or `portable` when
    /// `CONVKIT_ISA=portable`).
    public init(isa: KernelISA = .selected) { self.isa = isa }

    public var name: String { "direct" }
    public var summary: String { "implicit-GEMM direct convolution, 6x16 \(isa.rawValue) micro-kernel" }
    public var availability: BackendAvailability {
        if isa == .avx2fma && KernelISA.best != .avx2fma {
            return .unavailable(reason: "this CPU lacks AVX2+FMA; use isa: .portable")
        }
        return .available
    }
    public func support(for descriptor: Conv2DDescriptor) -> BackendSupport { .supported }

    public func prepare(_ descriptor: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>,
                        bias: UnsafeBufferPointer<Float>?) throws -> any PreparedConvolution {
        try checkWeightsAndBias(descriptor, weights: weights, bias: bias)
        if case let .unavailable(reason) = availability { throw ConvError.unavailable(backend: name, reason: reason) }
        if descriptor.isDepthwise && DepthwiseConvolution.paddedPlaneFloats(descriptor) <= 1 << 24 {
            return DepthwiseConvolution(descriptor: descriptor, weights: weights, bias: bias, isa: isa)
        }
        // Other layers, and depthwise layers whose zero-padded plane would exceed 64 MiB (huge
        // padding), run as an implicit GEMM, which never materialises padding.
        return try DirectGEMMConvolution(descriptor: descriptor, weights: weights, bias: bias, isa: isa)
    }
}
