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
///   `pad` (0). Aliases `maxpool` and `avgpool` fix the mode. Average pooling counts padding
///   (PyTorch's `count_include_pad=True`).
/// - `gap` / `globalavgpool`: global average pooling to `[C, 1, 1]`.
/// - `relu`, `softmax`, `flatten`: no keys.
/// - `fc`: `units` (required), `bias` (true), `activation` (`none`, `relu`, `relu6`).
/// - `dropout`: `rate` (0.5; ignored at inference).
/// - `batchnorm`: `eps` (1e-5); the channel count comes from the input.
///
/// Threading: all methods are safe to call from any thread.
public final class LayerRegistry: @unchecked Sendable {
    /// Builds a layer from its configuration and its input shape (`n` = 1).
    public typealias Factory = @Sendable (_ config: LayerConfig, _ input: TensorShape) throws -> any Layer

    /// The process-wide registry, holding the built-in types.
    public static let shared = LayerRegistry(builtIn: true)

    private let lock = NSLock()
    private var factories: [String: Factory] = [:]

    /// A registry with the built-in layer types, or empty.
    public init(builtIn: Bool = true) {
        if builtIn { for (name, f) in Self.builtInFactories { factories[name] = f } }
    }

    /// Registers `factory` for `typeName`, replacing any earlier one.
    public func register(_ typeName: String, factory: @escaping Factory) {
        lock.lock(); defer { lock.unlock() }
        factories[typeName] = factory
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
        lock.lock()
        let factory = factories[config.type]
        lock.unlock()
        guard let factory else {
            throw config.error("unknown layer type '\(config.type)' (known: \(typeNames.joined(separator: ", ")))")
        }
        do {
            return try factory(config, input)
        } catch let e as ConvError {
            if case let .invalidArgument(m) = e, m.hasPrefix("layer \(config.index) ") { throw e }
            throw config.error(e.description)
        }
    }

    static let builtInFactories: [(String, Factory)] = [
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
        ("flatten", { c, _ in try c.checkKeys([]); return Flatten(name: c.name) }),
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
            try c.checkKeys(["eps"])
            return try BatchNorm2D(name: c.name, channels: input.c, epsilon: Float(c.number("eps", default: 1e-5)))
        }),
    ]

    private static func makePool(_ c: LayerConfig, mode fixed: String?) throws -> any Layer {
        try c.checkKeys(fixed == nil ? ["mode", "size", "stride", "pad"] : ["size", "stride", "pad"])
        let mode = try fixed ?? c.string("mode", default: "max")
        let (kh, kw) = try c.pair("size")
        let (sh, sw) = try c.pair("stride", default: (kh, kw))
        let g = try PoolGeometry(kernelHeight: kh, kernelWidth: kw, strideHeight: sh, strideWidth: sw, padding: c.padding())
        switch mode {
        case "max": return MaxPool2D(name: c.name, geometry: g)
        case "avg": return AvgPool2D(name: c.name, geometry: g)
        default: throw c.error("unknown pool mode '\(mode)' (known: max, avg)")
        }
    }
}
