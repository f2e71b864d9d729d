/// A 2-D convolution layer (type name `conv`), run by a ``ConvBackend``.
///
/// Hyperparameters are those of ``Conv2DDescriptor`` except the input's height, width and
/// batch, which come from the input shape. Parameters: `weight` `[K, C/groups, R, S]`
/// (PyTorch's OIHW) and, when ``hasBias``, `bias` `[K]`.
///
/// Preparation: a following ``BatchNorm2D`` (when this layer has no activation) is folded
/// into the weights and bias, and a following ReLU is fused as the descriptor's activation;
/// the convolution is then prepared by the chosen backend for the model's batch, and also for
/// batch 1 when the batch is larger: a run with fewer samples than prepared goes sample by
/// sample through the batch-1 convolution (same backend).
///
/// FLOPs: ``Conv2DDescriptor/flops`` (`2 * N * K * OH * OW * C/groups * R * S`).
public final class Conv2D: Layer {
    public let name: String
    public var typeName: String { "conv" }
    /// Input channels C (fixed: the weights depend on it).
    public let inputChannels: Int
    /// Filters K.
    public let filters: Int
    public let kernelHeight: Int, kernelWidth: Int
    public let strideHeight: Int, strideWidth: Int
    public let padding: Padding
    public let dilationHeight: Int, dilationWidth: Int
    public let groups: Int
    public let hasBias: Bool
    public let activation: Activation
    private var weights: [Float]?
    private var bias: [Float]?

    /// A convolution with every hyperparameter; parameters start unset (see
    /// ``initializeParameters(using:)`` and ``setParameter(named:values:)``).
    /// - Throws: ``ConvError`` for a non-positive size, stride, dilation or group count,
    ///   negative padding, groups that do not divide C or K, or an invalid activation.
    public init(name: String, inputChannels: Int, filters: Int,
                kernelHeight: Int, kernelWidth: Int, strideHeight: Int = 1, strideWidth: Int = 1,
                padding: Padding = .zero, dilationHeight: Int = 1, dilationWidth: Int = 1,
                groups: Int = 1, hasBias: Bool = true, activation: Activation = .none) throws {
        self.name = name
        self.inputChannels = inputChannels
        self.filters = filters
        self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
        self.strideHeight = strideHeight; self.strideWidth = strideWidth
        self.padding = padding
        self.dilationHeight = dilationHeight; self.dilationWidth = dilationWidth
        self.groups = groups
        self.hasBias = hasBias
        self.activation = activation
        // Validate everything that does not depend on the spatial size.
        var probe = descriptor(for: TensorShape(n: 1, c: inputChannels, h: 1, w: 1))
        probe.inputHeight = effectiveKernel.height
        probe.inputWidth = effectiveKernel.width
        probe.padding = .zero
        try probe.validate()
        for (side, v) in [("top", padding.top), ("left", padding.left), ("bottom", padding.bottom),
                          ("right", padding.right)] where v < 0 {
            throw ConvError.negativePadding(side: side, value: v)
        }
    }

    private var effectiveKernel: (height: Int, width: Int) {
        ((Swift.max(kernelHeight, 1) - 1) * Swift.max(dilationHeight, 1) + 1,
         (Swift.max(kernelWidth, 1) - 1) * Swift.max(dilationWidth, 1) + 1)
    }

    /// The descriptor this layer runs for `input` (batch `input.n`).
    public func descriptor(for input: TensorShape) -> Conv2DDescriptor {
        Conv2DDescriptor(batch: input.n, inputChannels: input.c, inputHeight: input.h, inputWidth: input.w,
                         outputChannels: filters, kernelHeight: kernelHeight, kernelWidth: kernelWidth,
                         strideHeight: strideHeight, strideWidth: strideWidth, padding: padding,
                         dilationHeight: dilationHeight, dilationWidth: dilationWidth, groups: groups,
                         hasBias: hasBias, activation: activation)
    }

    public func outputShape(for input: TensorShape) throws -> TensorShape {
        if input.c != inputChannels {
            throw ConvError.shapeMismatch(what: "input channels", expected: [inputChannels], actual: [input.c])
        }
        let d = descriptor(for: input)
        try d.validate()
        return try TensorShape(d.outputShape)
    }

    public var parameters: [LayerParameter] {
        var p = [LayerParameter(name: "weight", shape: [filters, inputChannels / Swift.max(groups, 1), kernelHeight, kernelWidth])]
        if hasBias { p.append(LayerParameter(name: "bias", shape: [filters])) }
        return p
    }

    public func flops(for input: TensorShape) -> Int { descriptor(for: input).flops }

    public func receptiveField(for input: TensorShape) -> LayerReceptiveField? {
        LayerReceptiveField(height: .init(kernel: kernelHeight, stride: strideHeight, dilation: dilationHeight),
                            width: .init(kernel: kernelWidth, stride: strideWidth, dilation: dilationWidth))
    }

    public func parameterValues(named name: String) -> [Float]? {
        switch name {
        case "weight": return weights
        case "bias" where hasBias: return bias
        default: return nil
        }
    }

    public func setParameter(named name: String, values: [Float]) throws {
        try checkParameterValues(named: name, values)
        if name == "weight" { weights = values } else { bias = values }
    }

    public func initializeParameters(using generator: inout WeightGenerator) {
        let fanIn = inputChannels / groups * kernelHeight * kernelWidth
        weights = generator.heUniform(count: parameters[0].count, fanIn: fanIn)
        bias = hasBias ? [Float](repeating: 0, count: filters) : nil
    }

    public func prepare(for input: TensorShape, context: LayerPreparationContext) throws -> any PreparedLayer {
        _ = try outputShape(for: input)
        guard var w = weights, !(hasBias && bias == nil) else {
            throw ConvError.invalidArgument("layer '\(name)' (conv) has no weights; load or initialise them first")
        }
        var b = bias
        var d = descriptor(for: input)
        if let bn = context.foldedBatchNorm {
            let (scale, shift) = try bn.scaleAndShift()
            if scale.count != filters {
                throw ConvError.shapeMismatch(what: "batchnorm '\(bn.name)' channels", expected: [filters], actual: [scale.count])
            }
            let perFilter = w.count / filters
            for k in 0..<filters {
                for i in 0..<perFilter { w[k * perFilter + i] *= scale[k] }
            }
            var nb = [Float](repeating: 0, count: filters)
            for k in 0..<filters { nb[k] = (b?[k] ?? 0) * scale[k] + shift[k] }
            b = nb
            d.hasBias = true
        }
        if let act = context.fusedActivation { d.activation = act }
        d.accumulate = context.accumulatesIntoOutput
        let backend = context.backend
        let (full, single) = try w.withUnsafeBufferPointer { wp in
            try b.withUnsafeBufferPointerOrNil { bp -> (any PreparedConvolution, (any PreparedConvolution)?) in
                let full = try backend.prepareAccumulating(d, weights: wp, bias: bp)
                var single: (any PreparedConvolution)? = nil
                // Backends whose prepared convolutions run any smaller batch pack the weights
                // once; the others get a batch-1 preparation for runs on fewer images.
                if d.batch > 1 && !full.runsSmallerBatches {
                    var d1 = d
                    d1.batch = 1
                    single = try backend.prepareAccumulating(d1, weights: wp, bias: bp)
                }
                return (full, single)
            }
        }
        return PreparedConv2D(name: name, full: full, single: single)
    }
}

/// A convolution prepared for a batch. Smaller batches run on it directly where it can
/// (``PreparedConvolution/runsSmallerBatches``), else image by image on a batch-1 copy.
final class PreparedConv2D: PreparedLayer {
    let name: String
    let full: any PreparedConvolution
    let single: (any PreparedConvolution)?

    init(name: String, full: any PreparedConvolution, single: (any PreparedConvolution)?) {
        self.name = name; self.full = full; self.single = single
    }

    var backendName: String? { full.backendName }
    var implementation: String? { full.implementation }

    func forward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, shape: TensorShape, threads: Int) throws {
        let d = full.descriptor
        try checkForwardShape(shape, prepared: TensorShape(n: d.batch, c: d.inputChannels, h: d.inputHeight, w: d.inputWidth),
                              layer: name)
        if shape.n == d.batch {
            try full.execute(input: UnsafeBufferPointer(start: input, count: d.inputCount),
                             output: UnsafeMutableBufferPointer(start: output, count: d.outputCount), threads: threads)
            return
        }
        if full.runsSmallerBatches {
            try full.execute(input: UnsafeBufferPointer(start: input, count: shape.n * (d.inputCount / d.batch)),
                             output: UnsafeMutableBufferPointer(start: output, count: shape.n * (d.outputCount / d.batch)),
                             images: shape.n, threads: threads)
            return
        }
        guard let single else { return }
        let inStride = d.inputCount / d.batch, outStride = d.outputCount / d.batch
        for n in 0..<shape.n {
            try single.execute(input: UnsafeBufferPointer(start: input + n * inStride, count: inStride),
                               output: UnsafeMutableBufferPointer(start: output + n * outStride, count: outStride),
                               threads: threads)
        }
    }
}
