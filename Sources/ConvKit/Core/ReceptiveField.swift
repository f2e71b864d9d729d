/// Receptive fields of stacks of convolution and pooling layers.
///
/// For a stack of layers with kernel extents `k_i` (dilation included) and strides `s_i`,
/// the receptive field of one output value on the stack's input is
/// `1 + sum_i (k_i - 1) * prod_{j < i} s_j`. For `L` stride-1 layers of `K x K` this is
/// `1 + L * (K - 1)`: three 3x3 layers see 7x7, like one 7x7 layer.
public enum ReceptiveField {
    /// One layer along one axis: kernel size, stride and dilation.
    public struct Layer: Hashable, Sendable {
        public var kernel: Int
        public var stride: Int
        public var dilation: Int
        public init(kernel: Int, stride: Int = 1, dilation: Int = 1) {
            self.kernel = kernel; self.stride = stride; self.dilation = dilation
        }
        /// Dilated kernel extent `(kernel - 1) * dilation + 1`.
        public var effectiveKernel: Int { (kernel - 1) * dilation + 1 }
    }

    /// The receptive field of a stack, first layer first (general formula with strides).
    public static func of(_ layers: [Layer]) -> Int {
        var field = 1
        var jump = 1
        for layer in layers {
            field += (layer.effectiveKernel - 1) * jump
            jump *= layer.stride
        }
        return field
    }

    /// `1 + layers * (kernel - 1)`: `layers` stride-1 layers of `kernel x kernel`.
    public static func ofStack(layers: Int, kernel: Int) -> Int {
        of(Array(repeating: Layer(kernel: kernel), count: layers))
    }
}
