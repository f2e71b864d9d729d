/// Dropout (type name `dropout`): the identity at inference. The rate is kept for the summary
/// only. The model skips it (no copy).
public final class Dropout: Layer, PreparedLayer {
    public let name: String
    public var typeName: String { "dropout" }
    /// The training-time drop probability (unused at inference).
    public let rate: Float

    /// - Throws: ``ConvError/invalidArgument(_:)`` unless `0 <= rate < 1`.
    public init(name: String, rate: Float = 0.5) throws {
        guard rate >= 0 && rate < 1 else {
            throw ConvError.invalidArgument("dropout '\(name)': rate must be in [0, 1), got \(rate)")
        }
        self.name = name
        self.rate = rate
    }

    public func outputShape(for input: TensorShape) throws -> TensorShape { input }
    public var isPassThrough: Bool { true }

    public func forward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                        shape: TensorShape, threads: Int) throws {
        output.update(from: input, count: shape.count)
    }
}
