/// A convolution that adds its result into the output's prior contents, for a backend whose
/// output stage cannot (``ConvBackend/canAccumulate(_:)`` is false): the wrapped convolution
/// (prepared without activation) writes into a scratch buffer, then one pass computes
/// `y = act(y + scratch)`.
///
/// Models use it to keep a residual addition fused on every backend; the second pass costs a
/// read and a write of the output (``implementation`` says `+ separate residual pass`).
/// Threading and determinism are those of the wrapped convolution (the add pass splits
/// elements over threads, each computed the same way whatever the split).
public final class AccumulatingConvolution: PreparedConvolution, @unchecked Sendable {
    public let descriptor: Conv2DDescriptor
    /// The convolution without accumulation or activation.
    public let inner: any PreparedConvolution
    private let pool = WorkspacePool()

    /// Wraps `inner` (whose descriptor must be `descriptor` without `accumulate` and without
    /// activation).
    public init(descriptor: Conv2DDescriptor, inner: any PreparedConvolution) {
        self.descriptor = descriptor
        self.inner = inner
    }

    public var backendName: String { inner.backendName }
    public var implementation: String { inner.implementation + " + separate residual pass" }
    public var workspaceBytes: Int { inner.workspaceBytes + descriptor.outputCount * 4 }

    /// Whether the wrapped convolution runs smaller batches (then so does this one).
    public var runsSmallerBatches: Bool { inner.runsSmallerBatches }

    public func execute(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
                        threads: Int?) throws {
        try execute(input: input, output: output, images: descriptor.batch, threads: threads)
    }

    public func execute(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
                        images: Int, threads: Int?) throws {
        try checkImages(images, smaller: inner.runsSmallerBatches)
        let t = try checkedExecutionArguments(input: input, output: output, images: images, threads: threads)
        let count = descriptor(images: images).outputCount
        let act = descriptor.activation
        try pool.withBuffer(count: count) { scratch in
            try inner.execute(input: input, output: UnsafeMutableBufferPointer(start: scratch, count: count),
                              images: images, threads: t)
            let y = output.baseAddress!
            parallelChunks(count: count, threads: t) { range in
                addActivated(UnsafePointer(scratch) + range.lowerBound, into: y + range.lowerBound,
                             count: range.count, act)
            }
        }
    }
}

/// `y[i] = act(y[i] + x[i])` for `count` elements (SIMD; NaN propagates).
func addActivated(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, _ act: Activation) {
    let (lo, hi) = act.bounds
    let vlo = SIMD8<Float>(repeating: lo), vhi = SIMD8<Float>(repeating: hi)
    var i = 0
    while i + 8 <= count {
        var v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            + UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
        if act != .none {
            // NaN stays NaN: only lanes that compare below/above are replaced.
            v = v.replacing(with: vlo, where: v .< vlo).replacing(with: vhi, where: v .> vhi)
        }
        UnsafeMutableRawPointer(y + i).storeBytes(of: v, as: SIMD8<Float>.self)
        i += 8
    }
    while i < count {
        y[i] = act.apply(y[i] + x[i])
        i += 1
    }
}

extension ConvBackend {
    /// Prepares `descriptor`; when it accumulates and this backend cannot, prepares it without
    /// accumulation and activation and wraps it in an ``AccumulatingConvolution``.
    public func prepareAccumulating(_ descriptor: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>,
                                    bias: UnsafeBufferPointer<Float>?) throws -> any PreparedConvolution {
        if !descriptor.accumulate || canAccumulate(descriptor) {
            return try prepare(descriptor, weights: weights, bias: bias)
        }
        var plain = descriptor
        plain.accumulate = false
        plain.activation = .none
        return AccumulatingConvolution(descriptor: descriptor, inner: try prepare(plain, weights: weights, bias: bias))
    }
}

extension Optional where Wrapped == [Float] {
    /// Calls `body` with the array's buffer, or with nil.
    func withUnsafeBufferPointerOrNil<R>(_ body: (UnsafeBufferPointer<Float>?) throws -> R) rethrows -> R {
        switch self {
        case .none: return try body(nil)
        case let .some(a): return try a.withUnsafeBufferPointer { try body($0) }
        }
    }
}
