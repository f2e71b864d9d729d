import Foundation

/// An element-wise function of one tensor (type names `clip`, `relu6`, `leakyrelu`,
/// `sigmoid`, `tanh`, `hardsigmoid`, `hardswish`, `identity`).
///
/// Definitions follow ONNX: `clip` is `min(max(x, min), max)`; `leakyrelu` is `x < 0 ? alpha x : x`
/// (alpha 0.01); `hardsigmoid` is `max(0, min(1, alpha x + beta))` (alpha 0.2, beta 0.5; PyTorch's
/// Hardsigmoid is alpha 1/6); `hardswish` is `x * max(0, min(1, x / 6 + 1/2))`. NaN propagates.
/// A `clip` (ReLU6) right after a convolution or fc layer is fused into it; `identity` is skipped
/// with no copy. FLOPs: one per element (an approximation).
public final class Pointwise: Layer, PreparedLayer {
    /// The function.
    public enum Function: Hashable, Sendable {
        case clip(min: Float, max: Float)
        case leakyReLU(alpha: Float)
        case sigmoid, tanh
        case hardSigmoid(alpha: Float, beta: Float)
        case hardSwish
        case identity

        var typeName: String {
            switch self {
            case .clip: return "clip"
            case .leakyReLU: return "leakyrelu"
            case .sigmoid: return "sigmoid"
            case .tanh: return "tanh"
            case .hardSigmoid: return "hardsigmoid"
            case .hardSwish: return "hardswish"
            case .identity: return "identity"
            }
        }

        @inline(__always)
        func apply(_ x: Float) -> Float {
            switch self {
            case let .clip(lo, hi): return x.isNaN ? x : Swift.min(Swift.max(x, lo), hi)
            case let .leakyReLU(a): return x < 0 ? a * x : x
            case .sigmoid: return 1 / (1 + Foundation.exp(-x))
            case .tanh: return Foundation.tanh(x)
            case let .hardSigmoid(a, b): return x.isNaN ? x : Swift.max(0, Swift.min(1, a * x + b))
            case .hardSwish: return x.isNaN ? x : x * Swift.max(0, Swift.min(1, x / 6 + 0.5))
            case .identity: return x
            }
        }
    }

    public let name: String
    public let function: Function
    public var typeName: String { function.typeName }

    /// - Throws: ``ConvError/invalidActivation(_:)`` for clip bounds that are NaN or reversed.
    public init(name: String, function: Function) throws {
        if case let .clip(lo, hi) = function { try Activation.clamp(min: lo, max: hi).validate() }
        self.name = name
        self.function = function
    }

    /// The fusable activation this function is (`clip`), or nil.
    public var activation: Activation? {
        if case let .clip(lo, hi) = function { return lo == 0 && hi == .infinity ? .relu : .clamp(min: lo, max: hi) }
        return nil
    }

    public func outputShape(for input: TensorShape) throws -> TensorShape { input }
    public func flops(for input: TensorShape) -> Int { function == .identity ? 0 : input.count }
    public var isPassThrough: Bool { function == .identity }
    public var implementation: String? { typeName }

    public func forward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                        shape: TensorShape, threads: Int) throws {
        let f = function
        parallelChunks(count: shape.count, threads: threads) { range in
            for i in range { output[i] = f.apply(input[i]) }
        }
    }
}

/// Global max pooling (type name `globalmaxpool`): `[N, C, H, W]` to `[N, C, 1, 1]`, the
/// largest value of each plane (NaN if the plane holds one). FLOPs: one per input element.
public final class GlobalMaxPool: Layer, PreparedLayer {
    public let name: String
    public var typeName: String { "globalmaxpool" }

    public init(name: String) { self.name = name }

    public func outputShape(for input: TensorShape) throws -> TensorShape { TensorShape(n: input.n, c: input.c, h: 1, w: 1) }
    public func flops(for input: TensorShape) -> Int { input.count }
    public func receptiveField(for input: TensorShape) -> LayerReceptiveField? {
        LayerReceptiveField(height: .init(kernel: input.h), width: .init(kernel: input.w))
    }

    public func forward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                        shape: TensorShape, threads: Int) throws {
        let plane = shape.h * shape.w
        ParallelFor.run(items: shape.n * shape.c, threads: ThreadPolicy.threads(requested: threads, elements: 2 * shape.count)) { _, range in
            for p in range {
                let src = input + p * plane
                var m = -Float.infinity, nan = false
                for i in 0..<plane { if src[i] > m { m = src[i] }; nan = nan || src[i].isNaN }
                output[p] = nan ? .nan : m
            }
        }
    }
}
