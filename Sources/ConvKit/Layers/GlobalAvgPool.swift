/// Global average pooling (type name `gap` or `globalavgpool`): `[N, C, H, W]` to
/// `[N, C, 1, 1]`, the mean of each plane. FLOPs: one addition per input element.
public final class GlobalAvgPool: Layer, PreparedLayer {
    public let name: String
    public var typeName: String { "gap" }

    public init(name: String) { self.name = name }

    public func outputShape(for input: TensorShape) throws -> TensorShape {
        TensorShape(n: input.n, c: input.c, h: 1, w: 1)
    }
    public func flops(for input: TensorShape) -> Int { input.count }
    public func receptiveField(for input: TensorShape) -> LayerReceptiveField? {
        LayerReceptiveField(height: .init(kernel: input.h), width: .init(kernel: input.w))
    }

    public func forward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                        shape: TensorShape, threads: Int) throws {
        let plane = shape.h * shape.w
        let planes = shape.n * shape.c
        let scale = 1 / Float(plane)
        ParallelFor.run(items: planes, threads: ThreadPolicy.threads(requested: threads, elements: 2 * shape.count)) { _, range in
            for p in range {
                let src = input + p * plane
                var s: Float = 0
                for i in 0..<plane { s += src[i] }
                output[p] = s * scale
            }
        }
    }
}
