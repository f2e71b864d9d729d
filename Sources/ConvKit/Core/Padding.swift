/// Zero padding around the input's spatial plane, possibly asymmetric.
///
/// `top` rows are added above and `bottom` below; `left` columns before and
/// `right` after. Padded positions read as zero.
public struct Padding: Hashable, Sendable, CustomStringConvertible {
    public var top: Int
    public var left: Int
    public var bottom: Int
    public var right: Int

    /// Asymmetric padding.
    public init(top: Int, left: Int, bottom: Int, right: Int) {
        self.top = top; self.left = left; self.bottom = bottom; self.right = right
    }

    /// The same padding `p` on all four sides.
    public init(_ p: Int) { self.init(top: p, left: p, bottom: p, right: p) }

    /// `height` rows above and below, `width` columns left and right.
    public init(height: Int, width: Int) {
        self.init(top: height, left: width, bottom: height, right: width)
    }

    /// No padding ("valid").
    public static let zero = Padding(0)

    /// "Same" padding (TensorFlow/ONNX `SAME_UPPER` convention): the output size is
    /// `ceil(input / stride)` along each axis; when the total padding is odd, the
    /// extra row/column goes to the bottom/right.
    ///
    /// With stride 1 the output has the input's size.
    public static func same(
        inputHeight: Int, inputWidth: Int,
        kernelHeight: Int, kernelWidth: Int,
        strideHeight: Int = 1, strideWidth: Int = 1,
        dilationHeight: Int = 1, dilationWidth: Int = 1
    ) -> Padding {
        func total(_ input: Int, _ k: Int, _ s: Int, _ d: Int) -> Int {
            let s = Swift.max(s, 1)
            let out = (input + s - 1) / s
            let effective = (k - 1) * d + 1
            return Swift.max((out - 1) * s + effective - input, 0)
        }
        let th = total(inputHeight, kernelHeight, strideHeight, dilationHeight)
        let tw = total(inputWidth, kernelWidth, strideWidth, dilationWidth)
        return Padding(top: th / 2, left: tw / 2, bottom: th - th / 2, right: tw - tw / 2)
    }

    /// True when top == bottom and left == right.
    public var isSymmetric: Bool { top == bottom && left == right }

    public var description: String {
        if top == bottom && left == right && top == left { return "\(top)" }
        return "\(top),\(left),\(bottom),\(right)"
    }
}
