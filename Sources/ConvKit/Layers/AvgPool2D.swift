/// Average pooling (type name `pool` with `"mode": "avg"`, or `avgpool`).
///
/// Follows PyTorch's defaults: `count_include_pad=True` (padded zeros count in the average,
/// so every window divides by `kernelHeight * kernelWidth`) and `ceil_mode=False`.
/// FLOPs: one addition per window element.
public final class AvgPool2D: PoolingLayer, PreparedLayer {
    public let name: String
    public var typeName: String { "avgpool" }
    public let geometry: PoolGeometry

    public init(name: String, geometry: PoolGeometry) {
        self.name = name
        self.geometry = geometry
    }

    public func forward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                        shape: TensorShape, threads: Int) throws {
        let w = shape.w
        let scale = 1 / Float(geometry.kernelHeight * geometry.kernelWidth)
        try geometry.forEachWindow(input: input, output: output, shape: shape, threads: threads) { src, y0, y1, x0, x1 in
            var s: Float = 0
            for y in y0..<y1 {
                let row = src + y * w
                for x in x0..<x1 { s += row[x] }
            }
            return s * scale
        }
    }
}
