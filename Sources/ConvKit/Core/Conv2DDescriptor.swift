/// Every hyperparameter of one 2-D convolution, the unit all backends work on.
///
/// Layouts (every backend takes and returns these; blocked layouts are internal):
/// - input:   `N x C x H x W` (NCHW), float32, contiguous;
/// - weights: `K x (C / groups) x R x S` (PyTorch's OIHW), where R x S is the kernel;
/// - bias:    `K` values (when ``hasBias``);
/// - output:  `N x K x OH x OW`.
///
/// Output size, in general form:
/// `OH = (H + padTop + padBottom - ((R - 1) * dilationH + 1)) / strideH + 1`
/// (and likewise for the width). When the division is not exact, the default
/// (``OutputRounding/floor``) follows PyTorch and ONNX: the leftover rows and
/// columns are ignored. ``OutputRounding/exact`` makes such a configuration an
/// error instead.
///
/// A descriptor is a plain value: create it freely, then call ``validate()``
/// (backends call it for you in `prepare`) to get a typed ``ConvError`` that
/// names any offending value.
public struct Conv2DDescriptor: Hashable, Sendable, CustomStringConvertible {
    /// Batch size N.
    public var batch: Int
    /// Input channels C.
    public var inputChannels: Int
    /// Input height H.
    public var inputHeight: Int
    /// Input width W.
    public var inputWidth: Int
    /// Output channels K (the number of filters).
    public var outputChannels: Int
    /// Kernel height R.
    public var kernelHeight: Int
    /// Kernel width S.
    public var kernelWidth: Int
    /// Vertical stride.
    public var strideHeight: Int
    /// Horizontal stride.
    public var strideWidth: Int
    /// Zero padding, possibly asymmetric.
    public var padding: Padding
    /// Vertical dilation (1 = none; PyTorch's convention).
    public var dilationHeight: Int
    /// Horizontal dilation (1 = none).
    public var dilationWidth: Int
    /// Channel groups; `groups == C == K` is a depthwise convolution.
    public var groups: Int
    /// Whether a bias of K values is added.
    public var hasBias: Bool
    /// Activation fused after the bias.
    public var activation: Activation
    /// What to do when the filter does not fit the input exactly.
    public var rounding: OutputRounding
    /// When true, the convolution adds its result to the output buffer's prior contents
    /// before the activation (a "sum" post-op, as oneDNN calls it): `y = act(y + conv(x, w) + b)`. Models use
    /// it to fuse a residual addition into the convolution that feeds it. Only backends whose
    /// ``ConvBackend/canAccumulate(_:)`` says so accept it; the others throw
    /// ``ConvError/unsupported(backend:reason:)`` at prepare time.
    public var accumulate: Bool = false

    /// How a configuration whose output size formula is not a whole number is treated.
    public enum OutputRounding: Hashable, Sendable {
        /// Round down and ignore the leftover input (PyTorch, ONNX, oneDNN).
        case floor
        /// Reject it with ``ConvError/inexactFit(axis:input:effectiveKernel:padding:stride:)``.
        case exact
    }

    /// Creates a descriptor with every hyperparameter spelled out.
    public init(
        batch: Int = 1,
        inputChannels: Int, inputHeight: Int, inputWidth: Int,
        outputChannels: Int,
        kernelHeight: Int, kernelWidth: Int,
        strideHeight: Int = 1, strideWidth: Int = 1,
        padding: Padding = .zero,
        dilationHeight: Int = 1, dilationWidth: Int = 1,
        groups: Int = 1,
        hasBias: Bool = true,
        activation: Activation = .none,
        rounding: OutputRounding = .floor
    ) {
        self.batch = batch
        self.inputChannels = inputChannels
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        self.outputChannels = outputChannels
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.strideHeight = strideHeight
        self.strideWidth = strideWidth
        self.padding = padding
        self.dilationHeight = dilationHeight
        self.dilationWidth = dilationWidth
        self.groups = groups
        self.hasBias = hasBias
        self.activation = activation
        self.rounding = rounding
    }

    /// The square form: input `channels x height x width`, `filters`
    /// filters of `size x size`, stride `stride`, zero padding `pad` on every side.
    public init(
        batch: Int = 1, channels: Int, height: Int, width: Int,
        filters: Int, size: Int, stride: Int = 1, pad: Int = 0,
        dilation: Int = 1, groups: Int = 1, hasBias: Bool = true,
        activation: Activation = .none
    ) {
        self.init(
            batch: batch, inputChannels: channels, inputHeight: height, inputWidth: width,
            outputChannels: filters, kernelHeight: size, kernelWidth: size,
            strideHeight: stride, strideWidth: stride, padding: Padding(pad),
            dilationHeight: dilation, dilationWidth: dilation, groups: groups,
            hasBias: hasBias, activation: activation)
    }

    public var description: String {
        var s = "N\(batch) C\(inputChannels) \(inputHeight)x\(inputWidth) -> K\(outputChannels) "
            + "\(kernelHeight)x\(kernelWidth) s\(strideHeight == strideWidth ? "\(strideHeight)" : "\(strideHeight),\(strideWidth)")"
            + " p\(padding)"
        if dilationHeight != 1 || dilationWidth != 1 {
            s += " d\(dilationHeight == dilationWidth ? "\(dilationHeight)" : "\(dilationHeight),\(dilationWidth)")"
        }
        if groups != 1 { s += " g\(groups)" }
        if !hasBias { s += " nobias" }
        if accumulate { s += " +=" }
        if activation != .none { s += " \(activation)" }
        return s
    }
}
