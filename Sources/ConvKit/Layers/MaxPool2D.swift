/// Max pooling (type name `pool` with `"mode": "max"`, or `maxpool`).
///
/// Padded positions count as `-inf` (they never win), as in PyTorch; ``PoolGeometry/ceilMode`` is supported.
/// A NaN in a window makes the output NaN. FLOPs: one comparison per window element.
///
/// Example: a 2x2 window with stride 2 turns the 4x4 plane
/// `1 1 2 4 / 5 6 7 8 / 3 2 1 0 / 1 2 3 4` into `6 8 / 3 4`.
public final class MaxPool2D: PoolingLayer, PreparedLayer {
    public let name: String
    public var typeName: String { "maxpool" }
    public let geometry: PoolGeometry

    public init(name: String, geometry: PoolGeometry) {
        self.name = name
        self.geometry = geometry
    }

    public func forward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                        shape: TensorShape, threads: Int) throws {
        try geometry.pool(max: true, countIncludePad: false, input: input, output: output, shape: shape, threads: threads)
    }
}
