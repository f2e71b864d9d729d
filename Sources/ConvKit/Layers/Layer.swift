/// One layer of a CNN: the plugin point for models.
///
/// A layer is a description plus its parameters (weights it owns). It knows its output shape
/// for an input shape, its parameter count and FLOPs, and its contribution to the receptive
/// field. To run, a ``SequentialModel`` asks each layer to ``prepare(for:context:)-(TensorShape,_)`` once for
/// the model's input shape and maximum batch; the returned ``PreparedLayer`` then runs any
/// number of batches without allocating.
///
/// Tensors are NCHW float32 throughout (see ``Tensor``); a vector is `[N, F, 1, 1]`.
/// Shapes passed to a layer carry the batch in `n`; parameter shapes never depend on it.
///
/// Register new layer types with ``LayerRegistry/register(_:factory:)`` to use them in model
/// files. A stateless layer can conform to both `Layer` and ``PreparedLayer`` and return
/// itself from `prepare` (the default implementation does that).
///
/// Threading: a layer (the description) is used from one thread at a time; the prepared
/// form is `Sendable` and runs concurrently.
public protocol Layer: AnyObject {
    /// The layer's unique name in its model (weights are looked up as `<name>.weight`, ...).
    var name: String { get }
    /// The type name it is registered under (`conv`, `relu`, `pool`, `fc`...).
    var typeName: String { get }
    /// The output shape for `input` (same batch).
    /// - Throws: ``ConvError`` when the input does not fit the layer.
    func outputShape(for input: TensorShape) throws -> TensorShape
    /// Learnable parameters (PyTorch's count: weights and biases; BatchNorm's running
    /// statistics are not parameters).
    var parameterCount: Int { get }
    /// Floating-point operations for `input` (multiply-add = 2; see each layer for its rule).
    func flops(for input: TensorShape) -> Int
    /// The layer's contribution to the receptive field for `input` (kernel, stride and dilation
    /// along the height and the width), or nil for an element-wise layer (kernel 1, stride 1).
    func receptiveField(for input: TensorShape) -> LayerReceptiveField?
    /// The named parameter tensors (`weight`, `bias`, ...) and their PyTorch shapes.
    var parameters: [LayerParameter] { get }
    /// The values of parameter `name` (row-major in its shape), or nil when never set.
    func parameterValues(named name: String) -> [Float]?
    /// Sets parameter `name`.
    /// - Throws: ``ConvError/shapeMismatch(what:expected:actual:)`` for a wrong count,
    ///   ``ConvError/invalidArgument(_:)`` for an unknown parameter name.
    func setParameter(named name: String, values: [Float]) throws
    /// Initialises every parameter deterministically from `generator` (He initialisation for
    /// weights, see ``WeightGenerator``).
    func initializeParameters(using generator: inout WeightGenerator)
    /// Prepares the layer for inputs of shape `input` (`input.n` is the largest batch).
    /// - Throws: ``ConvError`` for an input that does not fit or uninitialised parameters.
    func prepare(for input: TensorShape, context: LayerPreparationContext) throws -> any PreparedLayer

    // MARK: Several inputs (graph nodes such as Add, Mul and Concat)

    /// How many inputs the layer takes: `1...1` for the one-input layers (the default),
    /// `2...2` for a binary operation, `2...Int.max` for Concat and Sum.
    var inputArity: ClosedRange<Int> { get }
    /// The output shape for `inputs` (same batch). The default checks that there is exactly one
    /// input and calls ``outputShape(for:)-(TensorShape)``.
    func outputShape(for inputs: [TensorShape]) throws -> TensorShape
    /// FLOPs for `inputs`. The default: ``flops(for:)-(TensorShape)`` of the first.
    func flops(for inputs: [TensorShape]) -> Int
    /// Prepares the layer for `inputs` (the first input's `n` is the largest batch). The default
    /// calls ``prepare(for:context:)-(TensorShape,_)`` with the only input.
    func prepare(for inputs: [TensorShape], context: LayerPreparationContext) throws -> any PreparedLayer

    // MARK: Model files and memory

    /// The layer's keys in a model file (everything but `type`, `name` and `inputs`), so that a
    /// model built in Swift can be saved (``GraphModel/save(path:)``); nil (the default) when the
    /// layer cannot be written.
    var configuration: [String: JSONValue]? { get }
    /// True when the output is the input unchanged in memory (Flatten, Dropout, Identity): the
    /// model then gives the output the input's memory and skips the layer. Default false.
    var outputAliasesInput: Bool { get }
}

extension Layer {
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.shape.reduce(1, *) } }
    public func flops(for input: TensorShape) -> Int { 0 }
    public func receptiveField(for input: TensorShape) -> LayerReceptiveField? { nil }
    public var parameters: [LayerParameter] { [] }
    public func parameterValues(named name: String) -> [Float]? { nil }
    public func setParameter(named name: String, values: [Float]) throws {
        throw ConvError.invalidArgument("layer '\(self.name)' (\(typeName)) has no parameter '\(name)'")
    }
    public func initializeParameters(using generator: inout WeightGenerator) {}

    public var configuration: [String: JSONValue]? { nil }
    public var outputAliasesInput: Bool { false }
    public var inputArity: ClosedRange<Int> { 1...1 }
    public func outputShape(for inputs: [TensorShape]) throws -> TensorShape {
        try checkInputCount(inputs.count)
        return try outputShape(for: inputs[0])
    }
    public func flops(for inputs: [TensorShape]) -> Int { inputs.first.map { flops(for: $0) } ?? 0 }
    public func prepare(for inputs: [TensorShape], context: LayerPreparationContext) throws -> any PreparedLayer {
        try checkInputCount(inputs.count)
        return try prepare(for: inputs[0], context: context)
    }

    /// Throws unless `count` is in ``inputArity``, naming the layer.
    public func checkInputCount(_ count: Int) throws {
        if !inputArity.contains(count) {
            let want = inputArity.lowerBound == inputArity.upperBound ? "\(inputArity.lowerBound)"
                : inputArity.upperBound == Int.max ? "at least \(inputArity.lowerBound)"
                : "\(inputArity.lowerBound) to \(inputArity.upperBound)"
            throw ConvError.invalidArgument("layer '\(name)' (\(typeName)) takes \(want) input\(want == "1" ? "" : "s"), got \(count)")
        }
    }
}

extension Layer where Self: PreparedLayer {
    /// A stateless layer is its own prepared form.
    public func prepare(for input: TensorShape, context: LayerPreparationContext) throws -> any PreparedLayer {
        _ = try outputShape(for: input)
        return self
    }
}

/// A layer ready to run: parameters packed, buffers sized.
///
/// Threading contract: ``forward(input:output:shape:threads:)`` may be called concurrently on
/// different buffers, and must not allocate in the steady state.
public protocol PreparedLayer: AnyObject, Sendable {
    /// The backend that runs it (convolutions), or nil.
    var backendName: String? { get }
    /// True when the output is the input unchanged in memory (Flatten, Dropout): the model
    /// then skips the layer, with no copy.
    var isPassThrough: Bool { get }
    /// Runs the layer on a batch.
    /// - Parameters:
    ///   - input: `shape.count` floats, NCHW.
    ///   - output: the output shape's count of floats; never overlaps `input`.
    ///   - shape: this call's input shape; `shape.n` is at most the batch the layer was
    ///     prepared for, and the other dimensions are the prepared ones.
    ///   - threads: worker threads (at least 1).
    func forward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                 shape: TensorShape, threads: Int) throws
    /// Runs a layer of several inputs on a batch. `inputs[i]` holds input `i` (its prepared
    /// sample shape, `shape.n` samples); `shape` is the first input's shape for this call.
    /// The default calls ``forward(input:output:shape:threads:)`` with the first input.
    func forward(inputs: UnsafeBufferPointer<UnsafePointer<Float>>, output: UnsafeMutablePointer<Float>,
                 shape: TensorShape, threads: Int) throws
    /// The micro-kernel or algorithm it runs (for profiles), or nil.
    var implementation: String? { get }
}

extension PreparedLayer {
    public var backendName: String? { nil }
    public var isPassThrough: Bool { false }
    public var implementation: String? { nil }
    public func forward(inputs: UnsafeBufferPointer<UnsafePointer<Float>>, output: UnsafeMutablePointer<Float>,
                        shape: TensorShape, threads: Int) throws {
        try forward(input: inputs[0], output: output, shape: shape, threads: threads)
    }
}

/// A prepared layer of several inputs: it implements only
/// ``PreparedLayer/forward(inputs:output:shape:threads:)``.
public protocol MultiInputPreparedLayer: PreparedLayer {}

extension MultiInputPreparedLayer {
    public func forward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                        shape: TensorShape, threads: Int) throws {
        var p = input
        try withUnsafePointer(to: &p) { try forward(inputs: UnsafeBufferPointer(start: $0, count: 1), output: output,
                                                    shape: shape, threads: threads) }
    }
}

/// A named parameter tensor of a layer and its shape (PyTorch's conventions).
public struct LayerParameter: Hashable, Sendable {
    /// The suffix after `<layer>.`: `weight`, `bias`, `running_mean`, `running_var`.
    public var name: String
    public var shape: [Int]
    public init(name: String, shape: [Int]) { self.name = name; self.shape = shape }
    /// Number of values.
    public var count: Int { shape.reduce(1, *) }
}

/// A layer's receptive-field contribution along each axis.
public struct LayerReceptiveField: Hashable, Sendable {
    public var height: ReceptiveField.Layer
    public var width: ReceptiveField.Layer
    public init(height: ReceptiveField.Layer, width: ReceptiveField.Layer) {
        self.height = height; self.width = width
    }
}

/// What a model passes to ``Layer/prepare(for:context:)-(TensorShape,_)``.
public struct LayerPreparationContext {
    /// The backend for this layer's convolutions. For a ``Conv2D``: the backend that runs it,
    /// already resolved (never `auto`, and able to run the layer, after any fallback). For any
    /// other layer, a plugin layer included: the backend the model is prepared with, as
    /// ``BackendRegistry/backend(named:)`` returns it (an ``AutoBackend`` for `auto`), so that a
    /// layer running its own convolutions uses the engine the caller chose.
    public var backend: any ConvBackend
    /// A BatchNorm2D that follows this layer and is folded into it (only for ``Conv2D``).
    public var foldedBatchNorm: BatchNorm2D?
    /// An activation that follows this layer and is fused into it (``Conv2D``, ``Linear``).
    public var fusedActivation: Activation?
    /// True when a residual addition that follows is fused into this convolution: it adds its
    /// result to the output buffer's prior contents (which the model fills with the residual)
    /// before the activation (see ``Conv2DDescriptor/accumulate``).
    public var accumulatesIntoOutput: Bool
    /// Per input of a ``Concat``: true when the input's producer already wrote it into its
    /// channel slice of the output (nothing to copy).
    public var inputsInPlace: [Bool] = []

    public init(backend: any ConvBackend, foldedBatchNorm: BatchNorm2D? = nil, fusedActivation: Activation? = nil,
                accumulatesIntoOutput: Bool = false) {
        self.backend = backend
        self.foldedBatchNorm = foldedBatchNorm
        self.fusedActivation = fusedActivation
        self.accumulatesIntoOutput = accumulatesIntoOutput
    }
}

/// Element-wise work split over ParallelFor: `count` floats read and written, in one chunk per
/// thread the work is worth (``ThreadPolicy``).
func parallelChunks(count: Int, threads: Int, _ body: (Range<Int>) -> Void) {
    let chunks = ThreadPolicy.threads(requested: threads, elements: 2 * count)
    ParallelFor.run(items: chunks, threads: chunks) { _, tasks in
        for t in tasks { body(count * t / chunks ..< count * (t + 1) / chunks) }
    }
}

/// Checks that `input` has the prepared sample shape and at most `maxBatch` samples.
func checkForwardShape(_ input: TensorShape, prepared: TensorShape, layer: String) throws {
    if input.c != prepared.c || input.h != prepared.h || input.w != prepared.w || input.n < 1 || input.n > prepared.n {
        throw ConvError.shapeMismatch(what: "input of layer '\(layer)'", expected: prepared.dims, actual: input.dims)
    }
}

extension Layer {
    /// Checks that `values` can be this layer's parameter `name` (one of ``parameters``, with
    /// its element count); used by every layer's `setParameter`.
    /// - Throws: ``ConvError/invalidArgument(_:)`` naming the layer and the unknown parameter,
    ///   or ``ConvError/shapeMismatch(what:expected:actual:)`` with the expected shape.
    func checkParameterValues(named name: String, _ values: [Float]) throws {
        guard let p = parameters.first(where: { $0.name == name }) else {
            throw ConvError.invalidArgument("layer '\(self.name)' (\(typeName)) has no parameter '\(name)'")
        }
        if values.count != p.count {
            throw ConvError.shapeMismatch(what: "\(self.name).\(name)", expected: p.shape, actual: [values.count])
        }
    }
}
