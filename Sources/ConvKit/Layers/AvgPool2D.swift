/// Average pooling (type name `pool` with `"mode": "avg"`, or `avgpool`).
///
/// Follows PyTorch: with ``countIncludePad`` (the default, PyTorch's `count_include_pad=True`)
/// padded zeros count in the average (a window divides by its area clipped to the padded input);
/// without it (ONNX's default) by the number of input values in the window.
/// ``PoolGeometry/ceilMode`` is supported.
/// FLOPs: one addition per window element.
public final class AvgPool2D: PoolingLayer, PreparedLayer {
    public let name: String
    public var typeName: String { "avgpool" }
    public let geometry: PoolGeometry
    /// Whether padded positions count in the divisor.
    public let countIncludePad: Bool

    public init(name: String, geometry: PoolGeometry, countIncludePad: Bool = true) {
        self.name = name
        self.geometry = geometry
        self.countIncludePad = countIncludePad
    }

    public func forward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                        shape: TensorShape, threads: Int) throws {
        try geometry.pool(max: false, countIncludePad: countIncludePad, input: input, output: output, shape: shape,
                          threads: threads)
    }
}
