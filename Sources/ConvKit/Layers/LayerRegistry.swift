import Foundation

/// Layer types by name: the plugin point of model files.
///
/// A factory builds a layer from its ``LayerConfig`` (the JSON object) and its input shape
/// (batch 1). The shared registry holds the built-in types; register your own with
/// ``register(_:factory:)`` and use them in model files as `{"type": "<name>", ...}`.
///
/// Built-in types and their keys (every key but `type` is optional unless marked required;
/// `name` is allowed everywhere; unknown keys are errors):
/// - `conv`: `filters` (required), `size` (required; integer or `[h, w]`), `stride` (1),
///   `pad` (0; integer, `[h, w]` or `[top, left, bottom, right]`), `dilation` (1), `groups` (1),
///   `bias` (true), `activation` (`none`, `relu`, `relu6`).
/// - `pool`: `mode` (`max` or `avg`; default `max`), `size` (required), `stride` (= size),
///   `pad` (0), `ceil_mode` (false), `count_include_pad` (true; average pooling only: PyTorch's
///   default). Aliases `maxpool` and `avgpool` fix the mode.
/// - `gap` / `globalavgpool`: global average pooling to `[C, 1, 1]`; `globalmaxpool`.
/// - `relu`, `softmax`, `flatten`, `identity`, `sigmoid`, `tanh`, `hardswish`, `relu6`: no keys.
/// - `clip`: `min` (-inf), `max` (+inf). `leakyrelu`: `alpha` (0.01). `hardsigmoid`: `alpha`
///   (0.2), `beta` (0.5).
/// - `fc`: `units` (required), `bias` (true), `activation` (`none`, `relu`, `relu6`).
/// - `reshape`: `shape` (required, `[C, H, W]` of one sample, same number of values).
/// - `lrn`: `size` (required), `alpha` (1e-4), `beta` (0.75), `bias` (1): local response
///   normalisation across channels.
/// - `dropout`: `rate` (0.5; ignored at inference).
/// - `batchnorm`: `eps` (1e-5); the channel count comes from the input. `affine` (false):
///   only `weight` and `bias`, `y = x * weight + bias`.
/// - `add`, `mul` (two inputs), `sum` (two or more): `activation` (`none`); an input may be a
///   per-channel `[C, 1, 1]` vector. `concat` (one or more inputs): along channels.
///
/// Every layer may also have `inputs` (see ``ModelSpec``).
///
/// Threading: all methods are safe to call from any thread.
public final class LayerRegistry: @unchecked Sendable {
    /// Builds a layer from its configuration and its input shape (`n` = 1).
    public typealias Factory = @Sendable (_ config: LayerConfig, _ input: TensorShape) throws -> any Layer
    /// Builds a layer of any number of inputs from its configuration and its input shapes.
    public typealias GraphFactory = @Sendable (_ config: LayerConfig, _ inputs: [TensorShape]) throws -> any Layer

    /// The process-wide registry, holding the built-in types.
    public static let shared = LayerRegistry(builtIn: true)

    private let lock = NSLock()
    private var factories: [String: GraphFactory] = [:]

    /// A registry with the built-in layer types, or empty.
    public init(builtIn: Bool = true) {
        if builtIn { for (name, f) in Self.builtInFactories { factories[name] = f } }
    }

    /// Registers `factory` (a one-input layer type) for `typeName`, replacing any earlier one.
    public func register(_ typeName: String, factory: @escaping Factory) {
        register(multiInput: typeName, factory: Self.oneInput(factory))
    }

    /// Registers `factory` (a layer type of any number of inputs, such as an attention or a
    /// custom merge) for `typeName`, replacing any earlier one.
    public func register(multiInput typeName: String, factory: @escaping GraphFactory) {
        lock.lock(); defer { lock.unlock() }
        factories[typeName] = factory
    }

    private static func oneInput(_ f: @escaping Factory) -> GraphFactory {
        { @Sendable c, inputs in
            if inputs.count != 1 { throw c.error("takes 1 input, got \(inputs.count)") }
            return try f(c, inputs[0])
        }
    }

    /// The registered type names, sorted.
    public var typeNames: [String] {
        lock.lock(); defer { lock.unlock() }
        return factories.keys.sorted()
    }

    /// Builds the layer `config` describes.
    /// - Throws: ``ConvError/invalidArgument(_:)`` for an unknown type (naming it and the
    ///   known ones) and whatever the factory throws, with the layer named.
    public func makeLayer(_ config: LayerConfig, input: TensorShape) throws -> any Layer {
        try makeLayer(config, inputs: [input])
    }

    /// Builds the layer `config` describes, for its input shapes.
    /// - Throws: as ``makeLayer(_:input:)``.
    public func makeLayer(_ config: LayerConfig, inputs: [TensorShape]) throws -> any Layer {
        lock.lock()
        let factory = factories[config.type]
        lock.unlock()
        guard let factory else {
            throw config.error("unknown layer type '\(config.type)' (known: \(typeNames.joined(separator: ", ")))")
        }
        do {
            return try factory(config, inputs)
        } catch let e as ConvError {
            if case let .invalidArgument(m) = e, m.hasPrefix("layer \(config.index) ") { throw e }
            throw config.error(e.description)
        }
    }

    static var builtInFactories: [(String, GraphFactory)] {
        let multi: [(String, GraphFactory)] = [
            ("add", { @Sendable c, _ in try elementwise(c, .add) }),
            ("sum", { @Sendable c, _ in try elementwise(c, .sum) }),
            ("mul", { @Sendable c, _ in try elementwise(c, .mul) }),
            ("concat", { @Sendable c, _ in try c.checkKeys([]); return Concat(name: c.name) }),
        ]
        return oneInputFactories.map { ($0.0, oneInput($0.1)) } + multi
    }

    private static func elementwise(_ c: LayerConfig, _ op: Elementwise.Operation) throws -> any Layer {
        try c.checkKeys(["activation"])
        return Elementwise(name: c.name, operation: op, activation: try c.activation())
    }

    private static func pointwise(_ c: LayerConfig, _ f: Pointwise.Function, keys: Set<String> = []) throws -> any Layer {
        try c.checkKeys(keys)
        do { return try Pointwise(name: c.name, function: f) } catch let e as ConvError { throw c.error(e.description) }
    }

    static let oneInputFactories: [(String, Factory)] = [
        ("clip", { c, _ in
            try pointwise(c, .clip(min: c.float("min", default: -.infinity), max: c.float("max", default: .infinity)),
                          keys: ["min", "max"])
        }),
        ("relu6", { c, _ in try pointwise(c, .clip(min: 0, max: 6)) }),
        ("leakyrelu", { c, _ in try pointwise(c, .leakyReLU(alpha: c.float("alpha", default: 0.01)), keys: ["alpha"]) }),
        ("sigmoid", { c, _ in try pointwise(c, .sigmoid) }),
        ("tanh", { c, _ in try pointwise(c, .tanh) }),
        ("hardsigmoid", { c, _ in
            try pointwise(c, .hardSigmoid(alpha: c.float("alpha", default: 0.2), beta: c.float("beta", default: 0.5)),
                          keys: ["alpha", "beta"])
        }),
        ("hardswish", { c, _ in try pointwise(c, .hardSwish) }),
        ("identity", { c, _ in try pointwise(c, .identity) }),
        ("globalmaxpool", { c, _ in try c.checkKeys([]); return GlobalMaxPool(name: c.name) }),
        ("conv", { c, input in
            try c.checkKeys(["filters", "size", "stride", "pad", "dilation", "groups", "bias", "activation"])
            let (kh, kw) = try c.pair("size")
            let (sh, sw) = try c.pair("stride", default: (1, 1))
            let (dh, dw) = try c.pair("dilation", default: (1, 1))
            return try Conv2D(name: c.name, inputChannels: input.c, filters: c.int("filters"),
                              kernelHeight: kh, kernelWidth: kw, strideHeight: sh, strideWidth: sw,
                              padding: c.padding(), dilationHeight: dh, dilationWidth: dw,
                              groups: c.int("groups", default: 1), hasBias: c.bool("bias", default: true),
                              activation: c.activation())
        }),
        ("pool", { c, _ in try makePool(c, mode: nil) }),
        ("maxpool", { c, _ in try makePool(c, mode: "max") }),
        ("avgpool", { c, _ in try makePool(c, mode: "avg") }),
        ("gap", { c, _ in try c.checkKeys([]); return GlobalAvgPool(name: c.name) }),
        ("globalavgpool", { c, _ in try c.checkKeys([]); return GlobalAvgPool(name: c.name) }),
        ("relu", { c, _ in try c.checkKeys([]); return ReLU(name: c.name) }),
        ("softmax", { c, _ in try c.checkKeys([]); return Softmax(name: c.name) }),
        ("lrn", { c, _ in
            try c.checkKeys(["size", "alpha", "beta", "bias"])
            return try LocalResponseNorm(name: c.name, size: c.int("size"), alpha: Float(c.number("alpha", default: 1e-4)),
                                         beta: Float(c.number("beta", default: 0.75)), bias: Float(c.number("bias", default: 1)))
        }),
        ("flatten", { c, _ in try c.checkKeys([]); return Flatten(name: c.name) }),
        ("reshape", { c, _ in
            try c.checkKeys(["shape"])
            guard case let .array(a)? = c.values["shape"], a.count == 3, case let dims = a.compactMap(\.intValue),
                  dims.count == 3 else {
                throw ConvError.invalidArgument("layer '\(c.name)' (reshape): 'shape' must be [C, H, W]")
            }
            return try Reshape(name: c.name, sampleShape: dims)
        }),
        ("fc", { c, input in
            try c.checkKeys(["units", "bias", "activation"])
            return try Linear(name: c.name, inputFeatures: input.c * input.h * input.w, outputFeatures: c.int("units"),
                              hasBias: c.bool("bias", default: true), activation: c.activation())
        }),
        ("dropout", { c, _ in
            try c.checkKeys(["rate"])
            return try Dropout(name: c.name, rate: Float(c.number("rate", default: 0.5)))
        }),
        ("batchnorm", { c, input in
            try c.checkKeys(["eps", "affine"])
            if try c.bool("affine", default: false) {
                if c.values["eps"] != nil { throw ConvError.invalidArgument("layer '\(c.name)' (batchnorm): 'eps' does not apply to the affine form") }
                return try BatchNorm2D.affine(name: c.name, channels: input.c)
            }
            return try BatchNorm2D(name: c.name, channels: input.c, epsilon: Float(c.number("eps", default: 1e-5)))
        }),
    ]

    private static func makePool(_ c: LayerConfig, mode fixed: String?) throws -> any Layer {
        let common: Set<String> = ["size", "stride", "pad", "ceil_mode"]
        let mode = try fixed ?? c.string("mode", default: "max")
        try c.checkKeys(common.union(fixed == nil ? ["mode"] : []).union(mode == "avg" ? ["count_include_pad"] : []))
        let (kh, kw) = try c.pair("size")
        let (sh, sw) = try c.pair("stride", default: (kh, kw))
        let g = try PoolGeometry(kernelHeight: kh, kernelWidth: kw, strideHeight: sh, strideWidth: sw, padding: c.padding(),
                                 ceilMode: c.bool("ceil_mode", default: false))
        switch mode {
        case "max": return MaxPool2D(name: c.name, geometry: g)
        case "avg": return AvgPool2D(name: c.name, geometry: g, countIncludePad: try c.bool("count_include_pad", default: true))
        default: throw c.error("unknown pool mode '\(mode)' (known: max, avg)")
        }
    }
}
