/// Gives each sample a new shape with the same values in the same order (type name `reshape`):
/// `[N, C, H, W]` becomes `[N, C', H', W']` with `C' * H' * W' = C * H * W`.
///
/// The memory layout is unchanged, so the model skips it (no copy), as it does ``Flatten``
/// (the special case `[C * H * W, 1, 1]`). Importers use it for ONNX `Reshape`, `Squeeze` and
/// `Unsqueeze` nodes that change the sample's shape. FLOPs: none.
public final class Reshape: Layer, PreparedLayer {
    public let name: String
    public var typeName: String { "reshape" }
    /// The shape of one output sample, `[C', H', W']`.
    public let sampleShape: [Int]

    /// - Throws: ``ConvError`` unless `sampleShape` is three positive sizes.
    public init(name: String, sampleShape: [Int]) throws {
        guard sampleShape.count == 3 else {
            throw ConvError.invalidArgument("reshape '\(name)': the sample shape must be [C, H, W], got \(sampleShape)")
        }
        self.name = name
        self.sampleShape = sampleShape
        try TensorShape(n: 1, c: sampleShape[0], h: sampleShape[1], w: sampleShape[2]).validate()
    }

    /// - Throws: ``ConvError/shapeMismatch(what:expected:actual:)`` when the input sample does not
    ///   hold `C' * H' * W'` values.
    public func outputShape(for input: TensorShape) throws -> TensorShape {
        let out = TensorShape(n: input.n, c: sampleShape[0], h: sampleShape[1], w: sampleShape[2])
        if out.count != input.count {
            throw ConvError.shapeMismatch(what: "reshape '\(name)' input values per sample", expected: [out.count / input.n],
                                          actual: [input.c, input.h, input.w])
        }
        return out
    }

    public func flops(for input: TensorShape) -> Int { 0 }
    public func receptiveField(for input: TensorShape) -> LayerReceptiveField? {
        LayerReceptiveField(height: .init(kernel: input.h), width: .init(kernel: input.w))
    }
    public var isPassThrough: Bool { true }
    public var configuration: [String: JSONValue]? { ["shape": .array(sampleShape.map { .number(Double($0)) })] }
    public var outputAliasesInput: Bool { true }

    public func forward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                        shape: TensorShape, threads: Int) throws {
        output.update(from: input, count: shape.count)
    }
}
