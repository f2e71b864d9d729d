/// Flattens each sample (type name `flatten`): `[N, C, H, W]` becomes `[N, C*H*W, 1, 1]`,
/// in C, H, W order (PyTorch's `flatten(1)` of NCHW). The memory layout is unchanged, so the
/// model skips it (no copy).
///
/// Receptive field: it is counted as a kernel of the whole `H x W` plane (each output value
/// depends on every input position), so that the layers after it see 1x1 inputs.
public final class Flatten: Layer, PreparedLayer {
    public let name: String
    public var typeName: String { "flatten" }

    public init(name: String) { self.name = name }

    public func outputShape(for input: TensorShape) throws -> TensorShape {
        TensorShape(n: input.n, c: input.c * input.h * input.w, h: 1, w: 1)
    }

    public func receptiveField(for input: TensorShape) -> LayerReceptiveField? {
        LayerReceptiveField(height: .init(kernel: input.h), width: .init(kernel: input.w))
    }

    public var isPassThrough: Bool { true }

    public func forward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                        shape: TensorShape, threads: Int) throws {
        output.update(from: input, count: shape.count)
    }
}
