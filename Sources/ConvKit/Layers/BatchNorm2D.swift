/// Batch normalisation at inference (type name `batchnorm`), per channel:
/// `y = (x - running_mean) / sqrt(running_var + eps) * weight + bias`.
///
/// Parameters (PyTorch's `BatchNorm2d` names): `weight` (gamma), `bias` (beta),
/// `running_mean`, `running_var`, each `[C]`; `eps` defaults to 1e-5. The parameter count is
/// PyTorch's (`2C`: the running statistics are buffers, not parameters).
///
/// The affine form (``affine(name:channels:)``, model-file key `"affine": true`) has only
/// `weight` (the scale) and `bias` (the shift): `y = x * weight + bias` per channel, as an
/// imported per-channel `Mul` or `Add` of a constant.
///
/// In a model, a BatchNorm2D right after a ``Conv2D`` without activation is folded into the
/// convolution's weights and bias when the model is prepared (see
/// ``scaleAndShift()``); otherwise it runs as its own layer. FLOPs: 2 per element.
public final class BatchNorm2D: Layer {
    public let name: String
    public var typeName: String { "batchnorm" }
    public let channels: Int
    public let epsilon: Float
    /// True for the affine form: `weight` and `bias` are the scale and shift themselves.
    public let isAffine: Bool
    private var values: [String: [Float]] = [:]

    static let parameterNames = ["weight", "bias", "running_mean", "running_var"]

    /// - Throws: ``ConvError`` for `channels < 1` or a non-positive or NaN epsilon.
    public init(name: String, channels: Int, epsilon: Float = 1e-5) throws {
        if channels < 1 { throw ConvError.nonPositive(parameter: "batchnorm channels", value: channels) }
        guard epsilon > 0 else { throw ConvError.invalidArgument("batchnorm '\(name)': eps must be positive, got \(epsilon)") }
        self.name = name
        self.channels = channels
        self.epsilon = epsilon
        self.isAffine = false
    }

    private init(affine name: String, channels: Int) {
        self.name = name
        self.channels = channels
        self.epsilon = 1e-5
        self.isAffine = true
    }

    /// The affine form: `y = x * weight + bias` per channel (no statistics, no epsilon).
    /// - Throws: ``ConvError`` for `channels < 1`.
    public static func affine(name: String, channels: Int) throws -> BatchNorm2D {
        if channels < 1 { throw ConvError.nonPositive(parameter: "batchnorm channels", value: channels) }
        return BatchNorm2D(affine: name, channels: channels)
    }

    public func outputShape(for input: TensorShape) throws -> TensorShape {
        if input.c != channels {
            throw ConvError.shapeMismatch(what: "batchnorm input channels", expected: [channels], actual: [input.c])
        }
        return input
    }

    /// The learnable parameters: `weight` and `bias` (2C).
    public var parameterCount: Int { 2 * channels }
    public var parameters: [LayerParameter] {
        (isAffine ? Array(Self.parameterNames.prefix(2)) : Self.parameterNames).map { LayerParameter(name: $0, shape: [channels]) }
    }
    public func flops(for input: TensorShape) -> Int { 2 * input.count }

    public func parameterValues(named name: String) -> [Float]? { values[name] }

    public func setParameter(named name: String, values v: [Float]) throws {
        try checkParameterValues(named: name, v)
        values[name] = v
    }

    public func initializeParameters(using generator: inout WeightGenerator) {
        values = ["weight": .init(repeating: 1, count: channels), "bias": .init(repeating: 0, count: channels)]
        if !isAffine {
            values["running_mean"] = .init(repeating: 0, count: channels)
            values["running_var"] = .init(repeating: 1, count: channels)
        }
    }

    /// The per-channel affine map this layer applies: `y = x * scale + shift` with
    /// `scale = weight / sqrt(running_var + eps)` and `shift = bias - running_mean * scale`
    /// (the affine form: `weight` and `bias`).
    /// - Throws: ``ConvError/invalidArgument(_:)`` when a parameter is unset or a variance is
    ///   negative.
    public func scaleAndShift() throws -> (scale: [Float], shift: [Float]) {
        if isAffine {
            guard let g = values["weight"], let b = values["bias"] else {
                throw ConvError.invalidArgument("layer '\(name)' (batchnorm) has no parameters; load or initialise them first")
            }
            return (g, b)
        }
        guard let g = values["weight"], let b = values["bias"], let m = values["running_mean"],
              let v = values["running_var"] else {
            throw ConvError.invalidArgument("layer '\(name)' (batchnorm) has no parameters; load or initialise them first")
        }
        var scale = [Float](repeating: 0, count: channels), shift = scale
        for c in 0..<channels {
            if v[c] < 0 { throw ConvError.invalidArgument("\(name).running_var[\(c)] is negative (\(v[c]))") }
            let s = Float(Double(g[c]) / (Double(v[c]) + Double(epsilon)).squareRoot())
            scale[c] = s
            shift[c] = b[c] - m[c] * s
        }
        return (scale, shift)
    }

    public func prepare(for input: TensorShape, context: LayerPreparationContext) throws -> any PreparedLayer {
        _ = try outputShape(for: input)
        let (scale, shift) = try scaleAndShift()
        return PreparedBatchNorm2D(scale: scale, shift: shift)
    }
}

final class PreparedBatchNorm2D: PreparedLayer {
    let scale: [Float]
    let shift: [Float]
    init(scale: [Float], shift: [Float]) { self.scale = scale; self.shift = shift }

    func forward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, shape: TensorShape, threads: Int) throws {
        let plane = shape.h * shape.w, c = shape.c
        scale.withUnsafeBufferPointer { sc in
            shift.withUnsafeBufferPointer { sh in
                ParallelFor.run(items: shape.n * c, threads: ThreadPolicy.threads(requested: threads, elements: 2 * shape.count)) { _, range in
                    for p in range {
                        let a = sc[p % c], b = sh[p % c]
                        let x = input + p * plane, y = output + p * plane
                        for i in 0..<plane { y[i] = x[i] * a + b }
                    }
                }
            }
        }
    }
}
