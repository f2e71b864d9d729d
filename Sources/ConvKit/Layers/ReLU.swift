/// `max(x, 0)` element-wise (type name `relu`); NaN stays NaN.
///
/// In a model, a ReLU right after a ``Conv2D`` or ``Linear`` is fused into that layer.
/// FLOPs: one per element.
public final class ReLU: Layer, PreparedLayer {
    public let name: String
    public var typeName: String { "relu" }

    public init(name: String) { self.name = name }

    public func outputShape(for input: TensorShape) throws -> TensorShape { input }
    public func flops(for input: TensorShape) -> Int { input.count }

    public func forward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                        shape: TensorShape, threads: Int) throws {
        let count = shape.count
        parallelChunks(count: count, threads: threads) { range in
            var i = range.lowerBound
            let zero = SIMD8<Float>(repeating: 0)
            while i + 8 <= range.upperBound {
                let x = UnsafeRawPointer(input + i).loadUnaligned(as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(output + i).storeBytes(of: x.replacing(with: zero, where: x .< zero),
                                                               as: SIMD8<Float>.self)
                i += 8
            }
            while i < range.upperBound {
                let x = input[i]
                output[i] = x < 0 ? 0 : x
                i += 1
            }
        }
    }
}
