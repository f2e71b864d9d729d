/// Builds a ``GraphModel`` in Swift, inferring channel counts and shapes as it goes.
///
/// ```swift
/// let g = try GraphBuilder(input: [16, 32, 32])
/// let y = try g.conv(g.input, filters: 16, size: 3, pad: 1, activation: .relu)
/// let z = try g.conv(y, filters: 16, size: 3, pad: 1)
/// let out = try g.relu(g.add(z, g.input))
/// let model = try g.build(output: out, name: "block")
/// model.initializeWeights(seed: 1)
/// try model.save(path: "block.json")          // loads back with GraphModel.load(path:)
/// ```
///
/// Every method adds one node and returns its output (a ``Value``: tensor name and sample
/// shape); names are optional (`<type><k>` by default, unique within the builder). A shape that
/// does not fit throws a ``ConvError`` naming the node, at the call that adds it.
///
/// Threading: a builder is used from one thread at a time.
public final class GraphBuilder {
    /// A tensor of the graph being built: its name and the shape of one sample.
    public struct Value: Hashable, Sendable {
        public let name: String
        public let shape: TensorShape
        /// Channels C.
        public var channels: Int { shape.c }
        /// The tensor called `name`, of one sample of `shape` (values normally come from the
        /// builder's methods; the builder checks that a value is one of its tensors).
        public init(name: String, shape: TensorShape) { self.name = name; self.shape = shape }
    }

    /// The model's input.
    public let input: Value
    private var nodes: [GraphNode] = []
    private var shapes: [String: TensorShape]
    private var counts: [String: Int] = [:]

    /// A builder for samples of `[C, H, W]`.
    /// - Throws: ``ConvError`` unless `input` has three positive dimensions.
    public init(input: [Int]) throws {
        guard input.count == 3 else {
            throw ConvError.invalidArgument("the model input must be [C, H, W], got \(input)")
        }
        let s = TensorShape(n: 1, c: input[0], h: input[1], w: input[2])
        try s.validate()
        self.input = Value(name: ModelSpec.inputName, shape: s)
        shapes = [ModelSpec.inputName: s]
    }

    /// `name`, or the next `<type><k>` name.
    public func uniqueName(_ name: String?, type: String) -> String {
        if let name { return name }
        while true {
            counts[type, default: 0] += 1
            let candidate = "\(type)\(counts[type]!)"
            if shapes[candidate] == nil { return candidate }
        }
    }

    /// Adds `layer` reading `inputs` and returns its output.
    /// - Throws: ``ConvError`` for a duplicate name, an input from another builder, or inputs
    ///   that do not fit the layer.
    @discardableResult
    public func add(_ layer: any Layer, inputs: [Value]) throws -> Value {
        if shapes[layer.name] != nil { throw ConvError.invalidArgument("duplicate node name '\(layer.name)'") }
        for v in inputs where shapes[v.name] != v.shape {
            throw ConvError.invalidArgument("node '\(layer.name)' reads '\(v.name)', which is not a tensor of this builder")
        }
        let out = try GraphModel.inNode(nodes.count, layer) { try layer.outputShape(for: inputs.map(\.shape)) }
        try GraphModel.inNode(nodes.count, layer) { try out.validate() }
        nodes.append(GraphNode(layer, inputs: inputs.map(\.name)))
        shapes[layer.name] = out
        return Value(name: layer.name, shape: out)
    }

    /// The model with `outputs` (default: the last node added).
    public func build(outputs: [Value]? = nil, name: String = "model") throws -> GraphModel {
        try GraphModel(name: name, input: input.shape, inputName: input.name, nodes: nodes, outputs: outputs?.map(\.name))
    }

    /// The model whose output is `output`.
    public func build(output: Value, name: String = "model") throws -> GraphModel {
        try build(outputs: [output], name: name)
    }

    /// Runs `body`, naming node `name` in its error.
    private func creating<T>(_ name: String, _ type: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as ConvError {
            throw ConvError.invalidArgument("layer \(nodes.count) '\(name)' (\(type)): \(e)")
        }
    }

    // MARK: Layers

    /// A convolution of `filters` filters of `size x size` (see ``Conv2D``); the input channels
    /// come from `x`.
    public func conv(_ x: Value, filters: Int, size: Int, stride: Int = 1, pad: Int = 0, dilation: Int = 1,
                     groups: Int = 1, bias: Bool = true, activation: Activation = .none, name: String? = nil) throws -> Value {
        try conv(x, filters: filters, kernel: (size, size), stride: (stride, stride), padding: Padding(pad),
                 dilation: (dilation, dilation), groups: groups, bias: bias, activation: activation, name: name)
    }

    /// A convolution with every hyperparameter per axis.
    public func conv(_ x: Value, filters: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1), padding: Padding = .zero,
                     dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true, activation: Activation = .none,
                     name: String? = nil) throws -> Value {
        let n = uniqueName(name, type: "conv")
        let layer = try creating(n, "conv") {
            try Conv2D(name: n, inputChannels: x.channels, filters: filters, kernelHeight: kernel.0, kernelWidth: kernel.1,
                       strideHeight: stride.0, strideWidth: stride.1, padding: padding, dilationHeight: dilation.0,
                       dilationWidth: dilation.1, groups: groups, hasBias: bias, activation: activation)
        }
        return try add(layer, inputs: [x])
    }

    /// Batch normalisation over `x`'s channels (folded into a convolution before it).
    public func batchNorm(_ x: Value, epsilon: Float = 1e-5, name: String? = nil) throws -> Value {
        try add(BatchNorm2D(name: uniqueName(name, type: "batchnorm"), channels: x.channels, epsilon: epsilon), inputs: [x])
    }

    /// `max(x, 0)`.
    public func relu(_ x: Value, name: String? = nil) throws -> Value {
        try add(ReLU(name: uniqueName(name, type: "relu")), inputs: [x])
    }

    /// `min(max(x, 0), 6)`.
    public func relu6(_ x: Value, name: String? = nil) throws -> Value {
        try clip(x, min: 0, max: 6, name: name ?? uniqueName(nil, type: "relu6"))
    }

    /// `min(max(x, lo), hi)`.
    public func clip(_ x: Value, min lo: Float, max hi: Float, name: String? = nil) throws -> Value {
        try add(Pointwise(name: uniqueName(name, type: "clip"), function: .clip(min: lo, max: hi)), inputs: [x])
    }

    /// An element-wise function (``Pointwise/Function``).
    public func pointwise(_ x: Value, _ function: Pointwise.Function, name: String? = nil) throws -> Value {
        try add(Pointwise(name: uniqueName(name, type: function.typeName), function: function), inputs: [x])
    }

    /// Max pooling over `size x size` windows (stride default `size`).
    public func maxPool(_ x: Value, size: Int, stride: Int? = nil, pad: Int = 0, ceilMode: Bool = false,
                        name: String? = nil) throws -> Value {
        let g = try PoolGeometry(size: size, stride: stride, pad: pad, ceilMode: ceilMode)
        return try add(MaxPool2D(name: uniqueName(name, type: "maxpool"), geometry: g), inputs: [x])
    }

    /// Average pooling over `size x size` windows (stride default `size`).
    public func avgPool(_ x: Value, size: Int, stride: Int? = nil, pad: Int = 0, ceilMode: Bool = false,
                        countIncludePad: Bool = true, name: String? = nil) throws -> Value {
        let g = try PoolGeometry(size: size, stride: stride, pad: pad, ceilMode: ceilMode)
        return try add(AvgPool2D(name: uniqueName(name, type: "avgpool"), geometry: g, countIncludePad: countIncludePad),
                       inputs: [x])
    }

    /// The mean of each channel plane: `[C, 1, 1]`.
    public func globalAvgPool(_ x: Value, name: String? = nil) throws -> Value {
        try add(GlobalAvgPool(name: uniqueName(name, type: "gap")), inputs: [x])
    }

    /// `[C*H*W, 1, 1]` (no copy).
    public func flatten(_ x: Value, name: String? = nil) throws -> Value {
        try add(Flatten(name: uniqueName(name, type: "flatten")), inputs: [x])
    }

    /// A fully connected layer of `units` outputs over `x`'s `C*H*W` values.
    public func linear(_ x: Value, units: Int, bias: Bool = true, activation: Activation = .none,
                       name: String? = nil) throws -> Value {
        try add(Linear(name: uniqueName(name, type: "fc"), inputFeatures: x.shape.count, outputFeatures: units,
                       hasBias: bias, activation: activation), inputs: [x])
    }

    /// The identity at inference.
    public func dropout(_ x: Value, rate: Float = 0.5, name: String? = nil) throws -> Value {
        try add(Dropout(name: uniqueName(name, type: "dropout"), rate: rate), inputs: [x])
    }

    /// Softmax over each sample.
    public func softmax(_ x: Value, name: String? = nil) throws -> Value {
        try add(Softmax(name: uniqueName(name, type: "softmax")), inputs: [x])
    }

    /// `a + b` (same shape, or one of them `[C, 1, 1]`).
    public func add(_ a: Value, _ b: Value, activation: Activation = .none, name: String? = nil) throws -> Value {
        try add(Elementwise(name: uniqueName(name, type: "add"), operation: .add, activation: activation), inputs: [a, b])
    }

    /// `a * b` (same shape, or one of them `[C, 1, 1]`, as squeeze-and-excitation's scale).
    public func mul(_ a: Value, _ b: Value, name: String? = nil) throws -> Value {
        try add(Elementwise(name: uniqueName(name, type: "mul"), operation: .mul), inputs: [a, b])
    }

    /// Concatenation along channels.
    public func concat(_ values: [Value], name: String? = nil) throws -> Value {
        try add(Concat(name: uniqueName(name, type: "concat")), inputs: values)
    }
}
