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
        let w = shape.w
        let includePad = countIncludePad
        try geometry.forEachWindow(input: input, output: output, shape: shape, threads: threads) { src, y0, y1, x0, x1, area in
            var s: Float = 0
            for y in y0..<y1 {
                let row = src + y * w
                for x in x0..<x1 { s += row[x] }
            }
            return s / Float(includePad ? area : (y1 - y0) * (x1 - x0))
        }
    }
}
