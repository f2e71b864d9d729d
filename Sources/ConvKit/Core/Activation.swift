/// The element-wise activation fused into a convolution's output.
///
/// Applied after the bias: `y = act(conv(x, w) + b)`.
public enum Activation: Hashable, Sendable, CustomStringConvertible {
    /// The identity.
    case none
    /// `max(x, 0)`. NaN stays NaN.
    case relu
    /// `min(max(x, min), max)`; ReLU6 is `.clamp(min: 0, max: 6)`. NaN stays NaN.
    case clamp(min: Float, max: Float)

    /// ReLU6, as used by MobileNet.
    public static let relu6 = Activation.clamp(min: 0, max: 6)

    /// The lower and upper bounds this activation clamps to (`-inf`/`+inf` when unbounded).
    public var bounds: (lower: Float, upper: Float) {
        switch self {
        case .none: return (-.infinity, .infinity)
        case .relu: return (0, .infinity)
        case let .clamp(lo, hi): return (lo, hi)
        }
    }

    /// Throws ``ConvError/invalidActivation(_:)`` for a clamp with NaN bounds or min > max.
    public func validate() throws {
        if case let .clamp(lo, hi) = self {
            if lo.isNaN || hi.isNaN { throw ConvError.invalidActivation("clamp bounds must not be NaN") }
            if lo > hi { throw ConvError.invalidActivation("clamp min \(lo) is greater than max \(hi)") }
        }
    }

    /// Applies the activation to one value, propagating NaN.
    @inlinable
    public func apply(_ x: Float) -> Float {
        switch self {
        case .none: return x
        case .relu: return x.isNaN ? x : (x < 0 ? 0 : x)
        case let .clamp(lo, hi): return x.isNaN ? x : Swift.min(Swift.max(x, lo), hi)
        }
    }

    public var description: String {
        switch self {
        case .none: return "none"
        case .relu: return "relu"
        case let .clamp(lo, hi): return "clamp(\(lo),\(hi))"
        }
    }
}
