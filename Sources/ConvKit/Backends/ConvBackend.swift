/// An engine that runs convolutions: the plugin point of ConvKit.
///
/// A backend answers whether it can run a descriptor (``support(for:)``) and
/// prepares a convolution once (``prepare(_:weights:bias:)``): it validates the
/// descriptor, packs or transforms the weights and sizes its workspace. The
/// returned ``PreparedConvolution`` is then executed many times.
///
/// Every backend takes and returns NCHW tensors (see ``Conv2DDescriptor`` for the
/// layouts); blocked layouts are internal to a backend.
///
/// Register third-party backends with ``BackendRegistry/register(_:)``.
///
/// Threading: a backend value is immutable and may be used from any thread.
public protocol ConvBackend: Sendable {
    /// The name a flag string selects it by (`reference`, `direct`, `winograd`, `onednn`...).
    var name: String { get }
    /// One line saying what it is.
    var summary: String { get }
    /// Whether it can run on this machine at all (a missing library, for example).
    var availability: BackendAvailability { get }
    /// Whether it can run `descriptor`, and if not why. Does not validate the descriptor;
    /// an invalid descriptor is reported by ``prepare(_:weights:bias:)``.
    func support(for descriptor: Conv2DDescriptor) -> BackendSupport
    /// Validates `descriptor`, copies and packs the weights (`K x C/groups x R x S`) and the
    /// bias (`K` values, required exactly when `descriptor.hasBias`), and sizes the workspace.
    /// Where the result ``PreparedConvolution/runsSmallerBatches`` (the native backends), that
    /// one packing serves every batch from 1 to `descriptor.batch`.
    ///
    /// The caller's buffers are only read, and may be released after the call.
    /// - Throws: ``ConvError`` for an invalid descriptor, mis-sized weights or bias, an
    ///   unsupported descriptor (``ConvError/unsupported(backend:reason:)``) or an
    ///   unavailable backend.
    func prepare(_ descriptor: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>,
                 bias: UnsafeBufferPointer<Float>?) throws -> any PreparedConvolution
    /// Whether the backend runs `descriptor` with ``Conv2DDescriptor/accumulate`` set (adding
    /// to the output's prior contents in its own output stage). The default is false; models
    /// then add a residual in a separate pass (``AccumulatingConvolution``).
    func canAccumulate(_ descriptor: Conv2DDescriptor) -> Bool
    /// What ``prepare(_:weights:bias:)`` would choose for `descriptor`, found without packing
    /// weights or allocating: the algorithm, the kernel (as the prepared convolution's
    /// ``PreparedConvolution/implementation`` will name it) and the workspace one execute uses
    /// with `threads` threads (nil: ``ConvKit/defaultThreadCount``). Nil when the backend cannot
    /// tell without preparing (the default; oneDNN chooses its kernel when it creates the
    /// primitive).
    /// - Throws: ``ConvError`` for an invalid descriptor, an unavailable backend or an
    ///   unsupported descriptor, as `prepare` would.
    func plan(for descriptor: Conv2DDescriptor, threads: Int?) throws -> ConvPlan?
}

extension ConvBackend {
    public func canAccumulate(_ descriptor: Conv2DDescriptor) -> Bool { false }
    public func plan(for descriptor: Conv2DDescriptor, threads: Int?) throws -> ConvPlan? { nil }
    /// ``plan(for:threads:)`` for ``ConvKit/defaultThreadCount`` threads.
    public func plan(for descriptor: Conv2DDescriptor) throws -> ConvPlan? { try plan(for: descriptor, threads: nil) }
}

/// What a backend will run for one descriptor (``ConvBackend/plan(for:threads:)``), known before
/// anything is packed.
public struct ConvPlan: Sendable, Equatable, CustomStringConvertible {
    /// The backend's registry name.
    public var backend: String
    /// The algorithm: for `direct` one of `depthwise`, `packed-pointwise`, `pointwise`,
    /// `indirect`, `implicit-gemm`; for `winograd` the tile, for example `F(4x4,3x3)`.
    public var algorithm: String
    /// The kernel, exactly as the prepared convolution's
    /// ``PreparedConvolution/implementation`` will report it.
    public var kernel: String
    /// Bytes of working memory one execute uses with ``threads`` threads, besides input, output
    /// and packed weights (the prepared convolution's ``PreparedConvolution/workspaceBytes``
    /// for the default thread count).
    public var workspaceBytes: Int
    /// The thread count the workspace is for.
    public var threads: Int
    /// Whether the prepared convolution runs any batch of 1 to `descriptor.batch` images on
    /// its one packing of the weights (``PreparedConvolution/runsSmallerBatches``): prepare once
    /// for the largest batch. True for every plan the built-in backends give.
    public var runsSmallerBatches: Bool = true

    public var description: String {
        "\(backend) \(algorithm): \(kernel); workspace \(workspaceBytes) bytes for \(threads) threads"
    }
}

/// Throws ``ConvError/unsupported(backend:reason:)`` when `d` accumulates and `backend`
/// cannot (every built-in backend's `prepare` calls it).
func checkAccumulation(_ d: Conv2DDescriptor, _ backend: any ConvBackend) throws {
    if d.accumulate && !backend.canAccumulate(d) {
        throw ConvError.unsupported(backend: backend.name, reason: "accumulating into the output is not supported for \(d)")
    }
}

/// Whether a backend can run on this machine.
public enum BackendAvailability: Hashable, Sendable, CustomStringConvertible {
    case available
    case unavailable(reason: String)

    public var isAvailable: Bool { self == .available }
    public var description: String {
        switch self {
        case .available: return "available"
        case let .unavailable(reason): return "unavailable: \(reason)"
        }
    }
}

/// Whether a backend can run a given descriptor.
public enum BackendSupport: Hashable, Sendable, CustomStringConvertible {
    case supported
    case unsupported(reason: String)

    public var isSupported: Bool { self == .supported }
    public var description: String {
        switch self {
        case .supported: return "supported"
        case let .unsupported(reason): return "unsupported: \(reason)"
        }
    }
}

/// A convolution prepared by a backend: weights packed, workspace sized.
///
/// Threading contract: ``execute(input:output:threads:)`` may be called concurrently
/// from several threads on different output buffers; each call uses up to `threads`
/// worker threads of its own. Results are bit-identical whatever the thread count,
/// for every backend except `onednn`, which follows oneDNN's own rules.
public protocol PreparedConvolution: AnyObject, Sendable {
    /// The descriptor it was prepared for.
    var descriptor: Conv2DDescriptor { get }
    /// The backend that prepared it.
    var backendName: String { get }
    /// The implementation chosen (for example a micro-kernel name or oneDNN's `impl_info_str`).
    var implementation: String { get }
    /// Bytes of working memory one execution uses besides input, output and packed weights.
    var workspaceBytes: Int { get }
    /// Runs the convolution on caller-owned memory without copying it.
    ///
    /// - Parameters:
    ///   - input: at least `descriptor.inputCount` floats, NCHW.
    ///   - output: at least `descriptor.outputCount` floats, NCHW; must not overlap `input`.
    ///   - threads: worker threads for this call; `nil` means ``ConvKit/defaultThreadCount``.
    ///     Counts above ``ConvKit/maximumThreadCount`` are treated as that maximum.
    /// - Throws: ``ConvError/bufferTooSmall(what:required:actual:)``,
    ///   ``ConvError/overlappingBuffers`` or ``ConvError/nonPositive(parameter:value:)`` for
    ///   `threads < 1`, all before any element is written; a backend-internal failure.
    func execute(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
                 threads: Int?) throws

    /// Whether ``execute(input:output:images:threads:)`` runs any batch of 1 to
    /// `descriptor.batch` images with these packed weights and this workspace (prepare once for
    /// the largest batch). `true` for the native backends (`direct`, `winograd`, `reference`);
    /// `false` for `onednn`, whose primitives have a fixed batch, and by default.
    var runsSmallerBatches: Bool { get }

    /// Runs the convolution on the first `images` images: `input` holds `images` NCHW images
    /// (`images * C * H * W` floats), `output` receives `images * K * OH * OW`. Each output is
    /// computed exactly as in a full-batch call (the same bits).
    /// - Throws: ``ConvError/nonPositive(parameter:value:)`` for `images < 1`,
    ///   ``ConvError/unsupported(backend:reason:)`` for more images than `descriptor.batch` or,
    ///   where ``runsSmallerBatches`` is `false`, fewer; everything
    ///   ``execute(input:output:threads:)`` throws, all before any element is written.
    func execute(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
                 images: Int, threads: Int?) throws
}

extension PreparedConvolution {
    public var runsSmallerBatches: Bool { false }

    /// Runs the whole batch when `images == descriptor.batch`; throws otherwise.
    public func execute(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
                        images: Int, threads: Int?) throws {
        try checkImages(images, smaller: false)
        try execute(input: input, output: output, threads: threads)
    }

    /// Checks `images` for ``execute(input:output:images:threads:)``: at least 1, at most the
    /// prepared batch, and the whole batch unless `smaller` (the backend runs fewer).
    public func checkImages(_ images: Int, smaller: Bool) throws {
        if images < 1 { throw ConvError.nonPositive(parameter: "images", value: images) }
        let batch = descriptor.batch
        if images > batch || (!smaller && images != batch) {
            throw ConvError.unsupported(backend: backendName, reason: images > batch
                ? "\(images) images, but prepared for a batch of \(batch); prepare for the largest batch"
                : "prepared for a batch of \(batch), it runs only that batch (not \(images) images)")
        }
    }

    /// The descriptor of a run on `images` images (its batch replaced).
    public func descriptor(images: Int) -> Conv2DDescriptor {
        var d = descriptor
        d.batch = images
        return d
    }
}

/// A prepared convolution whose one preparation runs any batch of 1 to `descriptor.batch`
/// images: it implements ``PreparedConvolution/execute(input:output:images:threads:)``, and the
/// whole-batch `execute` and ``PreparedConvolution/runsSmallerBatches`` follow from it (the
/// native backends' prepared types).
protocol BatchSlicingConvolution: PreparedConvolution {}

extension BatchSlicingConvolution {
    var runsSmallerBatches: Bool { true }

    func execute(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
                 threads: Int?) throws {
        try execute(input: input, output: output, images: descriptor.batch, threads: threads)
    }
}

extension ConvBackend {
    /// Prepares from arrays. See ``prepare(_:weights:bias:)``.
    public func prepare(_ descriptor: Conv2DDescriptor, weights: [Float], bias: [Float]?) throws
        -> any PreparedConvolution
    {
        try weights.withUnsafeBufferPointer { w in
            if let bias {
                return try bias.withUnsafeBufferPointer { b in try prepare(descriptor, weights: w, bias: b) }
            }
            return try prepare(descriptor, weights: w, bias: nil)
        }
    }
}

extension PreparedConvolution {
    /// Runs the convolution on `input` and returns a new output tensor.
    /// - Throws: ``ConvError/shapeMismatch(what:expected:actual:)`` when `input.shape` is not
    ///   the descriptor's input shape, and everything ``execute(input:output:threads:)`` throws.
    public func execute(_ input: Tensor, threads: Int? = nil) throws -> Tensor {
        var output = try Tensor(shape: TensorShape(descriptor.outputShape))
        try execute(input, into: &output, threads: threads)
        return output
    }

    /// Runs the convolution on `input`, writing into `output` (whose storage is reused).
    public func execute(_ input: Tensor, into output: inout Tensor, threads: Int? = nil) throws {
        guard input.shape.dims == descriptor.inputShape else {
            throw ConvError.shapeMismatch(what: "input", expected: descriptor.inputShape, actual: input.shape.dims)
        }
        guard output.shape.dims == descriptor.outputShape else {
            throw ConvError.shapeMismatch(what: "output", expected: descriptor.outputShape, actual: output.shape.dims)
        }
        try input.withUnsafeBufferPointer { x in
            try output.withUnsafeMutableBufferPointer { y in
                try execute(input: x, output: y, threads: threads)
            }
        }
    }

    /// Checks the buffers and thread count of an execute call; returns the thread count to use.
    /// Backends call this first, so that nothing is written when an argument is wrong.
    public func checkedExecutionArguments(input: UnsafeBufferPointer<Float>,
                                          output: UnsafeMutableBufferPointer<Float>,
                                          threads: Int?) throws -> Int {
        try checkedExecutionArguments(input: input, output: output, images: descriptor.batch, threads: threads)
    }

    /// The checks of ``checkedExecutionArguments(input:output:threads:)`` for a run on `images`
    /// images (``checkImages(_:smaller:)`` with `smaller: true`, then the buffers for that many).
    public func checkedExecutionArguments(input: UnsafeBufferPointer<Float>,
                                          output: UnsafeMutableBufferPointer<Float>,
                                          images: Int, threads: Int?) throws -> Int {
        try checkImages(images, smaller: true)
        let d = descriptor(images: images)
        if input.count < d.inputCount {
            throw ConvError.bufferTooSmall(what: "input", required: d.inputCount, actual: input.count)
        }
        if output.count < d.outputCount {
            throw ConvError.bufferTooSmall(what: "output", required: d.outputCount, actual: output.count)
        }
        if let i = input.baseAddress, let o = output.baseAddress {
            let inStart = UnsafeRawPointer(i), inEnd = inStart + d.inputCount * 4
            let outStart = UnsafeRawPointer(o), outEnd = outStart + d.outputCount * 4
            if inStart < outEnd && outStart < inEnd { throw ConvError.overlappingBuffers }
        }
        let t = threads ?? ConvKit.defaultThreadCount
        if t < 1 { throw ConvError.nonPositive(parameter: "threads", value: t) }
        // More threads than this cannot be used (and would overflow task arithmetic).
        return Swift.min(t, ConvKit.maximumThreadCount)
    }
}

/// Checks that `weights` and `bias` match `descriptor` (used by every backend's `prepare`).
func checkWeightsAndBias(_ descriptor: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>,
                         bias: UnsafeBufferPointer<Float>?) throws {
    try descriptor.validate()
    if weights.count != descriptor.weightCount {
        throw ConvError.shapeMismatch(what: "weights", expected: descriptor.weightShape, actual: [weights.count])
    }
    switch (descriptor.hasBias, bias) {
    case (true, nil):
        throw ConvError.invalidArgument("descriptor has a bias but no bias values were given (expected \(descriptor.outputChannels))")
    case (false, .some(let b)) where b.count > 0:
        throw ConvError.invalidArgument("descriptor has no bias but \(b.count) bias values were given")
    case (true, .some(let b)) where b.count != descriptor.outputChannels:
        throw ConvError.shapeMismatch(what: "bias", expected: [descriptor.outputChannels], actual: [b.count])
    default: break
    }
}

/// A prepared convolution that converts NCHW to an internal (for example blocked) layout
/// around its core computation. The benchmark uses this to report the core's time alone
/// besides the NCHW-in, NCHW-out time that users see.
public protocol LayoutConvertingConvolution: PreparedConvolution {
    /// Runs only the core computation on the internal-layout buffers left by the most
    /// recent ``PreparedConvolution/execute(input:output:threads:)`` (no layout conversions).
    /// Call `execute` at least once first.
    func executeCoreOnly(threads: Int?) throws
}
