import Foundation

/// A CNN as a sequence of layers, for example `[(CONV-RELU)*N-POOL?]*M-(FC-RELU)*K-SOFTMAX`.
///
/// Build it from layers, from a model file (``init(spec:registry:)``, ``load(path:registry:)``)
/// or by name (``builtIn(named:)``). Building infers every layer's shape for one sample and
/// reports the first layer that does not fit. Parameters start unset: load them
/// (``loadWeights(from:)``) or initialise them (``initializeWeights(seed:)``), then
/// ``prepare(batch:backend:threads:overrides:registry:)`` once and run the returned
/// ``PreparedModel`` many times.
///
/// Threading: the model (the description) is used from one thread at a time; the prepared
/// model runs concurrently.
public final class SequentialModel {
    /// The model's name.
    public let name: String
    /// The shape of one sample, `[1, C, H, W]`.
    public let inputShape: TensorShape
    /// The layers in order.
    public let layers: [any Layer]
    /// Each layer's output shape for one sample.
    public let outputShapes: [TensorShape]

    /// A model of `layers` taking samples of `input` (`input.n` is ignored).
    /// - Throws: ``ConvError/invalidArgument(_:)`` naming the first layer (index, name and
    ///   type) whose input does not fit, or a duplicate layer name.
    public init(name: String = "model", input: TensorShape, layers: [any Layer]) throws {
        var shape = TensorShape(n: 1, c: input.c, h: input.h, w: input.w)
        try shape.validate()
        if layers.isEmpty { throw ConvError.invalidArgument("a model needs at least one layer") }
        var shapes: [TensorShape] = []
        var names: Set<String> = []
        for (i, layer) in layers.enumerated() {
            if !names.insert(layer.name).inserted {
                throw ConvError.invalidArgument("duplicate layer name '\(layer.name)' (layer \(i))")
            }
            shape = try Self.inLayer(i, layer) { try layer.outputShape(for: shape) }
            try Self.inLayer(i, layer) { try shape.validate() }
            shapes.append(shape)
        }
        self.name = name
        self.inputShape = TensorShape(n: 1, c: input.c, h: input.h, w: input.w)
        self.layers = layers
        self.outputShapes = shapes
    }

    /// A model from a parsed model file, building each layer with `registry`.
    /// - Throws: ``ConvError`` naming the layer: an unknown type, a bad key or value, or a
    ///   shape that does not fit.
    public convenience init(spec: ModelSpec, registry: LayerRegistry = .shared) throws {
        let input = TensorShape(n: 1, c: spec.input[0], h: spec.input[1], w: spec.input[2])
        var shape = input
        var layers: [any Layer] = []
        for config in spec.layers {
            let layer = try registry.makeLayer(config, input: shape)
            shape = try Self.inLayer(config.index, layer) { try layer.outputShape(for: shape) }
            layers.append(layer)
        }
        try self.init(name: spec.name, input: input, layers: layers)
    }

    /// Loads a model file (see ``ModelSpec`` for the JSON form).
    public static func load(path: String, registry: LayerRegistry = .shared) throws -> SequentialModel {
        try SequentialModel(spec: ModelSpec.load(path: path), registry: registry)
    }

    /// A built-in architecture (see ``BuiltInModels``).
    public static func builtIn(named name: String) throws -> SequentialModel {
        try SequentialModel(spec: BuiltInModels.spec(named: name))
    }

    /// The shape of one output sample.
    public var outputShape: TensorShape { outputShapes.last! }
    /// Learnable parameters of all layers.
    public var parameterCount: Int { layers.reduce(0) { $0 + $1.parameterCount } }

    /// The layer called `name`.
    public func layer(named name: String) -> (any Layer)? { layers.first { $0.name == name } }

    // MARK: Weights

    /// Initialises every layer's parameters deterministically (see ``WeightGenerator``: He
    /// initialisation, one SplitMix64 stream per layer derived from `seed` and its index).
    public func initializeWeights(seed: UInt64) {
        for (i, layer) in layers.enumerated() {
            var g = WeightGenerator.forLayer(seed: seed, index: i)
            layer.initializeParameters(using: &g)
        }
    }

    /// Sets every parameter from `file` (`<layer>.<parameter>`, PyTorch shapes). Tensors the
    /// model does not use are ignored. Nothing is changed when any tensor is missing or wrong.
    /// - Throws: ``ConvError/invalidFile(path:reason:)`` for a missing tensor or non-F32 dtype,
    ///   ``ConvError/shapeMismatch(what:expected:actual:)`` for a mis-shaped one (both named).
    public func loadWeights(from file: SafeTensorsFile) throws {
        var staged: [(any Layer, String, [Float])] = []
        for layer in layers {
            for p in layer.parameters {
                staged.append((layer, p.name, try file.floats(named: "\(layer.name).\(p.name)", expectedShape: p.shape)))
            }
        }
        for (layer, p, values) in staged { try layer.setParameter(named: p, values: values) }
    }

    /// Loads the weights from the safetensors file at `path`.
    public func loadWeights(path: String) throws { try loadWeights(from: SafeTensorsFile(path: path)) }

    /// Every parameter as a named tensor, in layer order.
    /// - Throws: ``ConvError/invalidArgument(_:)`` when a parameter was never set.
    public func weightTensors() throws -> [SafeTensor] {
        try layers.flatMap { layer in
            try layer.parameters.map { p in
                guard let v = layer.parameterValues(named: p.name) else {
                    throw ConvError.invalidArgument("parameter '\(layer.name).\(p.name)' is not set")
                }
                return SafeTensor(name: "\(layer.name).\(p.name)", shape: p.shape, values: v)
            }
        }
    }

    /// Writes every parameter to a safetensors file (atomically).
    public func saveWeights(path: String, metadata: [String: String] = [:]) throws {
        try SafeTensorsWriter.write(weightTensors(), metadata: metadata, to: path)
    }

    // MARK: Planning and preparation

    /// How each layer will run for `batch` and `backend`, without preparing anything: output
    /// shapes, parameters, FLOPs, cumulative receptive fields, fusions and the backend of each
    /// convolution. ``summary(batch:backend:overrides:registry:)`` renders it.
    /// - Throws: as ``prepare(batch:backend:threads:overrides:registry:)`` (but never for
    ///   unset weights).
    public func plan(batch: Int = 1, backend: String = AutoBackend.autoName, overrides: [String: String] = [:],
                     registry: BackendRegistry = .shared) throws -> [LayerPlan] {
        if batch < 1 { throw ConvError.nonPositive(parameter: "batch", value: batch) }
        _ = try registry.backend(named: backend)
        for key in overrides.keys.sorted() {
            _ = try registry.backend(named: overrides[key]!)
            guard let l = layer(named: key) else {
                throw ConvError.invalidArgument("backend override for unknown layer '\(key)' (layers: \(layers.map(\.name).joined(separator: ", ")))")
            }
            if !(l is Conv2D) {
                throw ConvError.invalidArgument("backend override for layer '\(key)' (\(l.typeName)), which is not a convolution")
            }
        }
        var plans: [LayerPlan] = []
        var shape = TensorShape(n: batch, c: inputShape.c, h: inputShape.h, w: inputShape.w)
        var rfH: [ReceptiveField.Layer] = [], rfW: [ReceptiveField.Layer] = []
        var i = 0
        var fusedInto: [Int: String] = [:]
        while i < layers.count {
            let layer = layers[i]
            let input = shape
            let out = try Self.inLayer(i, layer) { try layer.outputShape(for: input) }
            if let rf = layer.receptiveField(for: input) { rfH.append(rf.height); rfW.append(rf.width) }
            var plan = LayerPlan(index: i, name: layer.name, typeName: layer.typeName, inputShape: input, outputShape: out,
                                 parameterCount: layer.parameterCount, flops: layer.flops(for: input),
                                 receptiveField: (ReceptiveField.of(rfH), ReceptiveField.of(rfW)))
            if let fused = fusedInto[i] {
                plan.fusedInto = fused
            } else if let conv = layer as? Conv2D {
                var d = conv.descriptor(for: input)
                if i + 1 < layers.count, conv.activation == .none, layers[i + 1] is BatchNorm2D {
                    fusedInto[i + 1] = conv.name
                    d.hasBias = true
                }
                let next = fusedInto[i + 1] != nil ? i + 2 : i + 1
                if next < layers.count, layers[next] is ReLU, d.activation == .none || d.activation == .relu {
                    fusedInto[next] = conv.name
                    plan.fusedActivation = .relu
                    d.activation = .relu
                }
                plan.foldsBatchNorm = fusedInto[i + 1] != nil && layers[i + 1] is BatchNorm2D
                let requested = overrides[conv.name] ?? backend
                let (chosen, reason) = try Self.inLayer(i, layer) {
                    try Self.resolveBackend(requested, for: d, registry: registry)
                }
                plan.requestedBackend = requested
                plan.backend = chosen.name
                plan.fallbackReason = reason
                plan.resolvedBackend = chosen
            } else if let fc = layer as? Linear {
                if i + 1 < layers.count, layers[i + 1] is ReLU, fc.activation == .none || fc.activation == .relu {
                    fusedInto[i + 1] = fc.name
                    plan.fusedActivation = .relu
                }
            }
            plans.append(plan)
            shape = out
            i += 1
        }
        return plans
    }

    /// The backend that runs `d` when `requested` is asked for: `auto` picks per descriptor; a
    /// backend that is unavailable or cannot run `d` falls back to `direct` (with the reason).
    static func resolveBackend(_ requested: String, for d: Conv2DDescriptor, registry: BackendRegistry) throws
        -> (any ConvBackend, String?)
    {
        let b = try registry.backend(named: requested)
        if let auto = b as? AutoBackend { return (try auto.choose(for: d), nil) }
        var reason: String? = nil
        if case let .unavailable(r) = b.availability { reason = "\(requested) unavailable: \(r)" }
        else if case let .unsupported(r) = b.support(for: d) { reason = "\(requested): \(r)" }
        guard let reason else { return (b, nil) }
        let direct = try registry.backend(named: "direct")
        return (direct, reason)
    }

    /// Prepares the model to run batches of up to `batch` samples.
    ///
    /// Infers every shape, folds each BatchNorm2D that follows a convolution without
    /// activation into it, fuses each ReLU that follows a convolution or fc layer, prepares
    /// every convolution on its backend (`backend`, or `overrides[layerName]`; `auto` picks per
    /// layer; a backend that cannot run a layer falls back to `direct`, see ``LayerPlan``), and
    /// allocates one pair of ping-pong activation buffers of the largest intermediate size.
    ///
    /// - Parameters:
    ///   - batch: the largest batch a run may have (runs of fewer samples are allowed).
    ///   - backend: a name from `registry` (`direct`, `winograd`, `onednn`, `reference`, `auto`).
    ///   - threads: worker threads per run (nil: ``ConvKit/defaultThreadCount``).
    ///   - overrides: backend names for individual convolution layers, by layer name.
    /// - Throws: ``ConvError`` naming the layer: a shape that does not fit, unset weights, an
    ///   unknown backend, a preparation failure.
    public func prepare(batch: Int = 1, backend: String = AutoBackend.autoName, threads: Int? = nil,
                        overrides: [String: String] = [:], registry: BackendRegistry = .shared) throws -> PreparedModel {
        let t = threads ?? ConvKit.defaultThreadCount
        if t < 1 { throw ConvError.nonPositive(parameter: "threads", value: t) }
        var plans = try plan(batch: batch, backend: backend, overrides: overrides, registry: registry)
        var steps: [PreparedModel.Step] = []
        for (i, layer) in layers.enumerated() where plans[i].fusedInto == nil {
            let p = plans[i]
            let context = LayerPreparationContext(
                backend: p.resolvedBackend ?? ReferenceBackend(),
                foldedBatchNorm: p.foldsBatchNorm ? layers[i + 1] as? BatchNorm2D : nil,
                fusedActivation: p.fusedActivation)
            let prepared = try Self.inLayer(i, layer) { try layer.prepare(for: p.inputShape, context: context) }
            if let b = prepared.backendName { plans[i].backend = b }
            if prepared.isPassThrough { continue }
            let sample = TensorShape(n: 1, c: p.inputShape.c, h: p.inputShape.h, w: p.inputShape.w)
            steps.append(.init(layer: prepared, index: i, name: layer.name, sampleInput: sample,
                               sampleOutputCount: p.outputShape.count / batch))
        }
        return PreparedModel(name: name, maxBatch: batch, threads: t, inputShape: inputShape, outputShape: outputShape,
                             plans: plans, steps: steps)
    }

    /// A Keras-style summary for `batch` (see ``ModelSummary``).
    public func summary(batch: Int = 1, backend: String = AutoBackend.autoName, overrides: [String: String] = [:],
                        registry: BackendRegistry = .shared) throws -> ModelSummary {
        ModelSummary(model: name, inputShape: TensorShape(n: batch, c: inputShape.c, h: inputShape.h, w: inputShape.w),
                     backend: backend, layers: try plan(batch: batch, backend: backend, overrides: overrides, registry: registry))
    }

    /// Runs `body`, turning a ConvError into one that names layer `index`.
    static func inLayer<T>(_ index: Int, _ layer: any Layer, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let e as ConvError {
            if case let .invalidArgument(m) = e, m.hasPrefix("layer \(index) ") { throw e }
            throw ConvError.invalidArgument("layer \(index) '\(layer.name)' (\(layer.typeName)): \(e)")
        }
    }
}

/// How one layer of a model runs (see ``SequentialModel/plan(batch:backend:overrides:registry:)``).
public struct LayerPlan: @unchecked Sendable {
    public var index: Int
    public var name: String
    public var typeName: String
    /// Input and output shapes for the planned batch.
    public var inputShape: TensorShape
    public var outputShape: TensorShape
    public var parameterCount: Int
    /// FLOPs for the planned batch.
    public var flops: Int
    /// Cumulative receptive field (height, width) of one output value of this layer on the
    /// model's input (``ReceptiveField/of(_:)`` over the layers so far).
    public var receptiveField: (height: Int, width: Int)
    /// The layer this one is folded or fused into (BatchNorm after a convolution, ReLU after a
    /// convolution or fc layer), or nil.
    public var fusedInto: String? = nil
    /// The activation fused into this layer from a following ReLU.
    public var fusedActivation: Activation? = nil
    /// True when the following BatchNorm2D is folded into this convolution.
    public var foldsBatchNorm = false
    /// The backend asked for (convolutions only).
    public var requestedBackend: String? = nil
    /// The backend that runs it (convolutions only).
    public var backend: String? = nil
    /// Why the requested backend was replaced by `direct`, or nil.
    public var fallbackReason: String? = nil
    var resolvedBackend: (any ConvBackend)? = nil
}
