import ConvKit
import Foundation

/// The operator converters, by ONNX `op_type` (default domain): the importer's table of what it
/// supports. Each converter reads its node's inputs and attributes, adds ConvKit nodes to the
/// builder (or computes a constant) and defines the node's outputs.
enum ONNXOperators {
    typealias Converter = @Sendable (inout ONNXGraphConverter, Onnx_NodeProto, Int) throws -> Void
    typealias C = ONNXGraphConverter
    typealias Dimension = ONNXConstant.Dimension

    static let table: [String: Converter] = [
        "Conv": conv,
        "BatchNormalization": batchNormalization,
        "Relu": { c, n, _ in try unary(&c, n) { ReLU(name: $0) } },
        "LeakyRelu": { c, n, _ in
            let alpha = try ONNXAttributes(n).float("alpha", default: 0.01)
            try unary(&c, n) { try Pointwise(name: $0, function: .leakyReLU(alpha: alpha)) }
        },
        "Sigmoid": { c, n, _ in try unary(&c, n) { try Pointwise(name: $0, function: .sigmoid) } },
        "Tanh": { c, n, _ in try unary(&c, n) { try Pointwise(name: $0, function: .tanh) } },
        "HardSigmoid": { c, n, _ in
            let a = ONNXAttributes(n)
            let alpha = try a.float("alpha", default: 0.2), beta = try a.float("beta", default: 0.5)
            try unary(&c, n) { try Pointwise(name: $0, function: .hardSigmoid(alpha: alpha, beta: beta)) }
        },
        "HardSwish": { c, n, _ in try unary(&c, n) { try Pointwise(name: $0, function: .hardSwish) } },
        "Clip": clip,
        "Add": { c, n, _ in try binary(&c, n, .add) },
        "Mul": { c, n, _ in try binary(&c, n, .mul) },
        "Sum": sum,
        "Concat": concat,
        "MaxPool": { c, n, _ in try pool(&c, n, max: true) },
        "AveragePool": { c, n, _ in try pool(&c, n, max: false) },
        "GlobalAveragePool": { c, n, _ in
            let x = try c.image(n)
            try c.addLayer(n, inputs: [x]) { GlobalAvgPool(name: $0) }
        },
        "GlobalMaxPool": { c, n, _ in
            let x = try c.image(n)
            try c.addLayer(n, inputs: [x]) { GlobalMaxPool(name: $0) }
        },
        "ReduceMean": reduceMean,
        "Flatten": flatten,
        "Reshape": reshape,
        "Squeeze": squeeze,
        "Unsqueeze": unsqueeze,
        "Gemm": gemm,
        "MatMul": matMul,
        "Softmax": softmax,
        "LRN": { c, n, _ in
            let a = ONNXAttributes(n)
            guard a.has("size") else { throw c.fail(n, "attribute 'size' is required") }
            let size = try a.int("size", default: 1)
            let alpha = try a.float("alpha", default: 1e-4), beta = try a.float("beta", default: 0.75)
            let bias = try a.float("bias", default: 1)
            let x = try c.image(n)
            try c.addLayer(n, inputs: [x]) { try LocalResponseNorm(name: $0, size: size, alpha: alpha, beta: beta, bias: bias) }
        },
        "Dropout": dropout,
        "Identity": { c, n, _ in try c.define(n, c.value(n, 0)) },
        "Constant": constant,
        "ConstantOfShape": constantOfShape,
        "Shape": shape,
        "Gather": gather,
        "Cast": cast,
    ]

    // MARK: Convolution and normalisation

    /// Padding from `pads` or `auto_pad` for a window of `kernel` (dilated) and `stride`.
    static func padding(_ c: C, _ n: Onnx_NodeProto, _ a: ONNXAttributes, input: (Int, Int), kernel: (Int, Int),
                        stride: (Int, Int), dilation: (Int, Int)) throws -> Padding {
        let auto = try a.string("auto_pad", default: "NOTSET")
        switch auto {
        case "NOTSET", "":
            let p = try a.ints("pads", count: 4, default: [0, 0, 0, 0])
            if let bad = p.first(where: { $0 < 0 }) { throw c.fail(n, "pads \(p) holds a negative value \(bad)") }
            return Padding(top: p[0], left: p[1], bottom: p[2], right: p[3])
        case "VALID":
            return .zero
        case "SAME_UPPER", "SAME_LOWER":
            func split(_ size: Int, _ k: Int, _ s: Int, _ d: Int) throws -> (Int, Int) {
                let out = (size + s - 1) / s
                let (span, o1) = (k - 1).multipliedReportingOverflow(by: d)
                let (reach, o2) = (out - 1).multipliedReportingOverflow(by: s)
                guard !o1, !o2, span < Int(Int32.max), reach < Int(Int32.max) else {
                    throw c.fail(n, "kernel \(k), stride \(s) and dilation \(d) give a window too large to pad")
                }
                let total = max(reach + span + 1 - size, 0)
                return auto == "SAME_UPPER" ? (total / 2, total - total / 2) : (total - total / 2, total / 2)
            }
            let (t, b) = try split(input.0, kernel.0, stride.0, dilation.0)
            let (l, r) = try split(input.1, kernel.1, stride.1, dilation.1)
            return Padding(top: t, left: l, bottom: b, right: r)
        default:
            throw c.fail(n, "auto_pad '\(auto)' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID")
        }
    }

    static func positive(_ c: C, _ n: Onnx_NodeProto, _ name: String, _ v: [Int]) throws -> [Int] {
        if let bad = v.first(where: { $0 < 1 }) { throw c.fail(n, "\(name) \(v) holds \(bad); they must be positive") }
        return v
    }

    static func conv(_ c: inout C, _ n: Onnx_NodeProto, _: Int) throws {
        let x = try c.image(n)
        let w = try c.floats(n, 1)
        guard w.dims.count == 4 else {
            throw c.fail(n, "weight '\(n.input[1])' has shape \(w.dims); ConvKit runs 2-D convolutions (weights [K, C/group, kH, kW])")
        }
        let a = ONNXAttributes(n)
        let group = try a.int("group", default: 1)
        let (k, cg, kh, kw) = (w.dims[0], w.dims[1], w.dims[2], w.dims[3])
        if let ks = try a.ints("kernel_shape"), ks != [kh, kw] {
            throw c.fail(n, "kernel_shape \(ks) does not match the weight's [\(kh), \(kw)]")
        }
        let s = try positive(c, n, "strides", a.ints("strides", count: 2, default: [1, 1]))
        let d = try positive(c, n, "dilations", a.ints("dilations", count: 2, default: [1, 1]))
        if group < 1 { throw c.fail(n, "group \(group) must be positive") }
        if cg.multipliedReportingOverflow(by: group) != (x.channels, false) {
            throw c.fail(n, "weight '\(n.input[1])' \(w.dims) with group \(group) expects \(cg * group) input channels, the input has \(x.channels)")
        }
        let pad = try padding(c, n, a, input: (x.shape.h, x.shape.w), kernel: (kh, kw), stride: (s[0], s[1]), dilation: (d[0], d[1]))
        var bias: [Float]? = nil
        if c.input(n, 2) != nil {
            let b = try c.floats(n, 2)
            if b.values.count != k { throw c.fail(n, "bias '\(n.input[2])' has \(b.values.count) values for \(k) filters") }
            bias = b.values
        }
        try c.addLayer(n, inputs: [x]) { name in
            let layer = try Conv2D(name: name, inputChannels: x.channels, filters: k, kernelHeight: kh, kernelWidth: kw,
                                   strideHeight: s[0], strideWidth: s[1], padding: pad, dilationHeight: d[0],
                                   dilationWidth: d[1], groups: group, hasBias: bias != nil)
            try layer.setParameter(named: "weight", values: w.values)
            if let bias { try layer.setParameter(named: "bias", values: bias) }
            return layer
        }
    }

    static func batchNormalization(_ c: inout C, _ n: Onnx_NodeProto, _: Int) throws {
        let (x, dims) = try c.activation(n)
        guard let channels = dims.first else { throw c.fail(n, "input '\(n.input[0])' has no channel dimension") }
        let a = ONNXAttributes(n)
        if try a.int("training_mode", default: 0) != 0 {
            throw c.fail(n, "training_mode=1: ConvKit runs inference (running statistics) only")
        }
        if c.opset < 9, try a.int("spatial", default: 1) != 1 {
            throw c.fail(n, "spatial=0 (statistics per value, not per channel) is not supported")
        }
        let eps = try a.float("epsilon", default: 1e-5)
        var params: [[Float]] = []
        for (k, what) in ["scale", "B", "mean", "var"].enumerated() {
            let t = try c.floats(n, k + 1)
            if t.values.count != channels {
                throw c.fail(n, "\(what) '\(n.input[k + 1])' has \(t.values.count) values for \(channels) channels")
            }
            params.append(t.values)
        }
        try c.addLayer(n, inputs: [x], dims: dims) { name in
            let layer = try BatchNorm2D(name: name, channels: channels, epsilon: eps)
            for (k, p) in ["weight", "bias", "running_mean", "running_var"].enumerated() {
                try layer.setParameter(named: p, values: params[k])
            }
            return layer
        }
    }

    // MARK: Element-wise

    static func unary(_ c: inout C, _ n: Onnx_NodeProto, _ make: (String) throws -> any Layer) throws {
        let (x, dims) = try c.activation(n)
        try c.addLayer(n, inputs: [x], dims: dims, make)
    }

    static func clip(_ c: inout C, _ n: Onnx_NodeProto, _: Int) throws {
        var lo = -Float.infinity, hi = Float.infinity
        if c.opset < 11 {
            let a = ONNXAttributes(n)
            lo = try a.float("min", default: lo)
            hi = try a.float("max", default: hi)
        } else {
            for (k, name) in [(1, "min"), (2, "max")] where c.input(n, k) != nil {
                let t = try c.floats(n, k)
                guard t.values.count == 1 else { throw c.fail(n, "\(name) '\(n.input[k])' has \(t.values.count) values; it must be a scalar") }
                if k == 1 { lo = t.values[0] } else { hi = t.values[0] }
            }
        }
        try unary(&c, n) { try Pointwise(name: $0, function: .clip(min: lo, max: hi)) }
    }

    static func binary(_ c: inout C, _ n: Onnx_NodeProto, _ op: Elementwise.Operation) throws {
        let a = try c.value(n, 0), b = try c.value(n, 1)
        switch (a, b) {
        case let (.activation(x, xd), .constant(k)), let (.constant(k), .activation(x, xd)):
            return try channelConstant(&c, n, op, x, xd, k)
        case (.constant, .constant):
            throw c.fail(n, "both operands are constants; ConvKit computes arithmetic on constants only for shapes")
        default: break
        }
        guard case let .activation(x, xd) = a, case let .activation(y, yd) = b else { return }
        // ONNX broadcasting aligns trailing axes; ConvKit's per-channel broadcast is the same
        // only between tensors of one rank ([N, C, 1, 1] against [N, C, H, W]).
        if xd.count != yd.count {
            throw c.fail(n, "operands of rank \(xd.count + 1) and \(yd.count + 1): ConvKit broadcasts only between tensors of the same rank")
        }
        let dims = x.shape.count >= y.shape.count ? xd : yd
        try c.addLayer(n, inputs: [x, y], dims: dims) { Elementwise(name: $0, operation: op) }
    }

    /// `x * k` or `x + k` for a constant `k` that is one value or one per channel (it
    /// broadcasts as `[1, C, 1, 1]`): a per-channel affine node (folded into a conv before it).
    static func channelConstant(_ c: inout C, _ n: Onnx_NodeProto, _ op: Elementwise.Operation, _ x: GraphBuilder.Value,
                                _ xd: [Int], _ k: ONNXConstant) throws {
        guard case let .floats(kd, kv) = k else { throw c.fail(n, "the constant operand must be a float tensor") }
        let rank = xd.count + 1
        guard kd.count <= rank, let channels = xd.first else {
            throw c.fail(n, "the constant of shape \(kd) does not broadcast to [N, \(xd.map(String.init).joined(separator: ", "))]")
        }
        let full = [Int](repeating: 1, count: rank - kd.count) + kd
        guard full.enumerated().allSatisfy({ $0.offset == 1 || $0.element == 1 }), full.count < 2 || full[1] == 1 || full[1] == channels else {
            throw c.fail(n, "the constant of shape \(kd) is not one value or one per channel of [N, \(xd.map(String.init).joined(separator: ", "))]; ConvKit supports those only")
        }
        let values = kv.count == 1 ? [Float](repeating: kv[0], count: channels) : kv
        let (scale, shift) = op == .mul ? (values, [Float](repeating: 0, count: channels))
                                        : ([Float](repeating: 1, count: channels), values)
        try c.addLayer(n, inputs: [x], dims: xd) { name in
            let layer = try BatchNorm2D.affine(name: name, channels: channels)
            try layer.setParameter(named: "weight", values: scale)
            try layer.setParameter(named: "bias", values: shift)
            return layer
        }
    }

    static func sum(_ c: inout C, _ n: Onnx_NodeProto, _: Int) throws {
        guard !n.input.isEmpty else { throw c.fail(n, "has no inputs") }
        let inputs = try n.input.indices.map { try c.activation(n, $0) }
        if inputs.count == 1 { return try c.define(n, .activation(inputs[0].value, dims: inputs[0].dims)) }
        try c.addLayer(n, inputs: inputs.map(\.value), dims: inputs[0].dims) { Elementwise(name: $0, operation: .sum) }
    }

    // MARK: Concat, pooling, reductions

    static func normalize(_ c: C, _ n: Onnx_NodeProto, axis: Int, rank: Int) throws -> Int {
        guard axis >= -rank && axis < rank else { throw c.fail(n, "axis \(axis) is out of range for rank \(rank)") }
        return axis < 0 ? axis + rank : axis
    }

    static func concat(_ c: inout C, _ n: Onnx_NodeProto, _: Int) throws {
        let a = ONNXAttributes(n)
        guard a.has("axis") else { throw c.fail(n, "attribute 'axis' is required") }
        let axis = try a.int("axis", default: 1)
        let inputs = try n.input.indices.map { try c.value(n, $0) }
        if inputs.allSatisfy({ if case .constant = $0 { return true }; return false }) {
            // Shape arithmetic: 1-D integer (or float) constants joined end to end.
            var ints: [Dimension] = [], floats: [Float] = [], allInts = true
            let total = try inputs.indices.reduce(0) { sum, k in
                let (t, o) = sum.addingReportingOverflow(try c.constant(n, k).dims.reduce(1, *))
                if o || t > ONNXTensorData.byteLimit / 16 { throw c.fail(n, "its constant inputs hold too many values") }
                return t
            }
            try c.charge(total * MemoryLayout<Dimension>.stride, n)
            for k in inputs.indices {
                let t = try c.constant(n, k)
                guard t.dims.count <= 1 else { throw c.fail(n, "constant inputs of rank \(t.dims.count) are not supported (1-D only)") }
                _ = try normalize(c, n, axis: axis, rank: 1)
                switch t {
                case let .ints(_, v): ints += v; floats += v.map { if case let .value(i) = $0 { return Float(i) }; return .nan }
                case let .floats(_, v): allInts = false; floats += v
                case let .unsupported(_, type): throw c.fail(n, "input '\(n.input[k])' is \(type)")
                }
            }
            return try c.define(n, .constant(allInts ? .ints(dims: [ints.count], values: ints) : .floats(dims: [floats.count], values: floats)),
                                charged: true)
        }
        let xs = try n.input.indices.map { try c.activation(n, $0) }
        let rank = xs[0].dims.count + 1
        if xs.contains(where: { $0.dims.count + 1 != rank }) { throw c.fail(n, "its inputs have different ranks") }
        let ax = try normalize(c, n, axis: axis, rank: rank)
        guard ax == 1 else { throw c.fail(n, "axis \(axis): ConvKit concatenates along channels (axis 1) only") }
        var dims = xs[0].dims
        dims[0] = xs.reduce(0) { $0 + $1.dims[0] }
        try c.addLayer(n, inputs: xs.map(\.value), dims: dims) { Concat(name: $0) }
    }

    static func pool(_ c: inout C, _ n: Onnx_NodeProto, max isMax: Bool) throws {
        let x = try c.image(n)
        let a = ONNXAttributes(n)
        guard let ks = try a.ints("kernel_shape") else { throw c.fail(n, "attribute 'kernel_shape' is required") }
        guard ks.count == 2 else { throw c.fail(n, "kernel_shape \(ks): ConvKit pools over 2-D windows") }
        _ = try positive(c, n, "kernel_shape", ks)
        let s = try positive(c, n, "strides", a.ints("strides", count: 2, default: [1, 1]))
        if let d = try a.ints("dilations"), d.contains(where: { $0 != 1 }) {
            throw c.fail(n, "dilations \(d) are not supported for pooling")
        }
        let pad = try padding(c, n, a, input: (x.shape.h, x.shape.w), kernel: (ks[0], ks[1]), stride: (s[0], s[1]), dilation: (1, 1))
        let ceil = try a.int("ceil_mode", default: 0) != 0
        let includePad = try a.int("count_include_pad", default: 0) != 0
        try c.addLayer(n, inputs: [x]) { name in
            let g = try PoolGeometry(kernelHeight: ks[0], kernelWidth: ks[1], strideHeight: s[0], strideWidth: s[1],
                                     padding: pad, ceilMode: ceil)
            return isMax ? MaxPool2D(name: name, geometry: g) : AvgPool2D(name: name, geometry: g, countIncludePad: includePad)
        }
    }

    static func reduceMean(_ c: inout C, _ n: Onnx_NodeProto, _: Int) throws {
        let x = try c.image(n)
        let a = ONNXAttributes(n)
        let axes: [Int]? = c.opset < 18 ? try a.ints("axes") : (c.input(n, 1) != nil ? try c.plainInts(n, 1) : nil)
        guard let axes, !axes.isEmpty else { throw c.fail(n, "no axes (a mean over every dimension, batch included) is not supported") }
        let set = Set(try axes.map { try normalize(c, n, axis: $0, rank: 4) })
        guard set == [2, 3], axes.count == 2 else { throw c.fail(n, "axes \(axes): ConvKit averages over H and W (axes [2, 3]) only") }
        let keep = try a.int("keepdims", default: 1) != 0
        try c.addLayer(n, inputs: [x], dims: keep ? [x.channels, 1, 1] : [x.channels]) { GlobalAvgPool(name: $0) }
    }

    // MARK: Shapes

    static func flatten(_ c: inout C, _ n: Onnx_NodeProto, _: Int) throws {
        let (x, dims) = try c.activation(n)
        let axis = try normalize(c, n, axis: ONNXAttributes(n).int("axis", default: 1), rank: dims.count + 1)
        guard axis == 1 else { throw c.fail(n, "axis \(axis): ConvKit keeps the batch as its own dimension (axis 1 only)") }
        try c.relabel(n, x, dims: [dims.reduce(1, *)])
    }

    static func reshape(_ c: inout C, _ n: Onnx_NodeProto, _: Int) throws {
        let (tdims, target) = try c.ints(n, 1)
        guard tdims.count == 1 else { throw c.fail(n, "shape '\(n.input[1])' must be 1-D, has dims \(tdims)") }
        let allowZero = try ONNXAttributes(n).int("allowzero", default: 0) != 0
        let data = try c.value(n, 0)
        if case let .constant(k) = data {
            let count = k.dims.reduce(1, *)
            let dims = try resolve(c, n, target, input: k.dims.map { .value($0) }, count: count, allowZero: allowZero)
            let plain = try dims.map { d -> Int in
                guard case let .value(v) = d else { throw c.fail(n, "a constant cannot take the batch size as a dimension") }
                return v
            }
            switch k {
            case let .floats(_, v): return try c.define(n, .constant(.floats(dims: plain, values: v)))
            case let .ints(_, v): return try c.define(n, .constant(.ints(dims: plain, values: v)))
            case let .unsupported(_, t): return try c.define(n, .constant(.unsupported(dims: plain, type: t)))
            }
        }
        let (x, dims) = try c.activation(n)
        let count = dims.reduce(1, *)
        // A static-batch export writes the batch as a number ([1, -1]): it is the batch.
        var shape = target
        if let b = c.declaredBatch, shape.first == Dimension.value(b), !shape.contains(Dimension.batch) { shape[0] = .batch }
        var out = try resolve(c, n, shape, input: [.batch] + dims.map { .value($0) }, count: nil, allowZero: allowZero,
                              sample: count)
        // The batch must stay the first dimension, alone.
        if out.first != .batch {
            if let b = c.declaredBatch, out.first == .value(b) { out[0] = .batch }
        }
        guard out.first == .batch, !out.dropFirst().contains(.batch) else {
            throw c.fail(n, "shape \(target) does not keep the batch as the first dimension; ConvKit runs each sample alone")
        }
        let rest = out.dropFirst().map { d -> Int in if case let .value(v) = d { return v }; return 0 }
        try c.relabel(n, x, dims: rest)
    }

    /// The dims of a Reshape to `target` (0 copies the input's dimension unless `allowZero`,
    /// one -1 is inferred). For a constant, `count` is its value count; for an activation,
    /// `sample` is the count per sample and the batch is the symbol.
    static func resolve(_ c: C, _ n: Onnx_NodeProto, _ target: [Dimension], input: [Dimension], count: Int?,
                        allowZero: Bool, sample: Int? = nil) throws -> [Dimension] {
        var out: [Dimension?] = []
        for (k, t) in target.enumerated() {
            switch t {
            case .batch: out.append(.batch)
            case .value(0) where !allowZero:
                guard k < input.count else { throw c.fail(n, "shape \(target): 0 at position \(k) copies no input dimension") }
                out.append(input[k])
            case .value(-1): out.append(nil)
            case let .value(v) where v >= 0: out.append(.value(v))
            case let .value(v): throw c.fail(n, "shape \(target) holds \(v)")
            }
        }
        let unknown = out.indices.filter { out[$0] == nil }
        if unknown.count > 1 { throw c.fail(n, "shape \(target) has more than one -1") }
        let hasBatch = out.contains(.batch)
        // The values the known dimensions (other than the batch) account for.
        var known = 1
        for case let .value(v)? in out {
            let (p, o) = known.multipliedReportingOverflow(by: v)
            if o { throw c.fail(n, "shape \(target) overflows") }
            known = p
        }
        let total: Int
        if let count { total = count } else if let sample { total = sample } else { total = 0 }
        if let u = unknown.first {
            if count == nil && !hasBatch {
                // [-1, K...]: the -1 is the batch when the rest is one sample.
                guard known == total else { throw c.fail(n, "shape \(target) does not split [N, \(total) values] into samples") }
                out[u] = .batch
            } else {
                guard known > 0, total % known == 0 else {
                    throw c.fail(n, "shape \(target) cannot hold \(total) values per sample")
                }
                out[u] = .value(total / known)
            }
        } else if count != nil || hasBatch {
            guard known == total else { throw c.fail(n, "shape \(target) holds \(known) values per sample, the input \(total)") }
        } else {
            // No batch symbol and no -1: the first value must be the (declared) batch.
            guard case let .value(first)? = out.first, first > 0, known / first == total, known % first == 0 else {
                throw c.fail(n, "shape \(target) does not hold the input's \(total) values per sample")
            }
        }
        return out.map { $0! }
    }

    /// Axes from the attribute (opset < 13) or input 1.
    static func axes(_ c: C, _ n: Onnx_NodeProto) throws -> [Int]? {
        if c.opset < 13 { return try ONNXAttributes(n).ints("axes") }
        return c.input(n, 1) != nil ? try c.plainInts(n, 1) : nil
    }

    static func squeeze(_ c: inout C, _ n: Onnx_NodeProto, _: Int) throws {
        let data = try c.value(n, 0)
        let given = try axes(c, n)
        if case let .constant(k) = data {
            let rank = k.dims.count
            let ax = try Set((given ?? k.dims.indices.filter { k.dims[$0] == 1 }).map { try normalize(c, n, axis: $0, rank: rank) })
            if let bad = ax.first(where: { k.dims[$0] != 1 }) { throw c.fail(n, "axis \(bad) has size \(k.dims[bad]), not 1") }
            let dims = k.dims.indices.filter { !ax.contains($0) }.map { k.dims[$0] }
            return try c.define(n, .constant(reshaped(k, dims)))
        }
        let (x, dims) = try c.activation(n)
        let rank = dims.count + 1
        let ax = try Set((given ?? (1..<rank).filter { dims[$0 - 1] == 1 }).map { try normalize(c, n, axis: $0, rank: rank) })
        if ax.contains(0) { throw c.fail(n, "squeezing the batch dimension is not supported") }
        if let bad = ax.first(where: { dims[$0 - 1] != 1 }) { throw c.fail(n, "axis \(bad) has size \(dims[bad - 1]), not 1") }
        try c.relabel(n, x, dims: (1..<rank).filter { !ax.contains($0) }.map { dims[$0 - 1] })
    }

    static func unsqueeze(_ c: inout C, _ n: Onnx_NodeProto, _: Int) throws {
        guard let given = try axes(c, n), !given.isEmpty else { throw c.fail(n, "axes are required") }
        let data = try c.value(n, 0)
        func insert(_ dims: [Int], rank: Int) throws -> [Int] {
            let outRank = rank + given.count
            let ax = try given.map { try normalize(c, n, axis: $0, rank: outRank) }
            if Set(ax).count != ax.count { throw c.fail(n, "axes \(given) repeat an axis") }
            var out: [Int] = [], rest = dims[...]
            for k in 0..<outRank {
                if ax.contains(k) { out.append(1) } else { out.append(rest.removeFirst()) }
            }
            return out
        }
        if case let .constant(k) = data {
            return try c.define(n, .constant(reshaped(k, insert(k.dims, rank: k.dims.count))))
        }
        let (x, dims) = try c.activation(n)
        let full = try insert([-1] + dims, rank: dims.count + 1)
        guard full.first == -1 else { throw c.fail(n, "inserting a dimension before the batch is not supported") }
        try c.relabel(n, x, dims: Array(full.dropFirst()))
    }

    static func reshaped(_ k: ONNXConstant, _ dims: [Int]) -> ONNXConstant {
        switch k {
        case let .floats(_, v): return .floats(dims: dims, values: v)
        case let .ints(_, v): return .ints(dims: dims, values: v)
        case let .unsupported(_, t): return .unsupported(dims: dims, type: t)
        }
    }

    // MARK: Fully connected

    /// A bias for `m` outputs from a constant of `m` values or one (broadcast).
    static func bias(_ c: C, _ n: Onnx_NodeProto, _ t: (dims: [Int], values: [Float]), m: Int, scale: Float) throws -> [Float] {
        let okDims = t.dims.isEmpty || t.dims == [1] || t.dims == [m] || t.dims == [1, m] || t.dims == [1, 1]
        guard okDims, t.values.count == m || t.values.count == 1 else {
            throw c.fail(n, "bias of shape \(t.dims) does not broadcast to [\(m)] (one value per output, or a scalar)")
        }
        let v = t.values.count == 1 ? [Float](repeating: t.values[0], count: m) : t.values
        return scale == 1 ? v : v.map { $0 * scale }
    }

    static func linear(_ c: inout C, _ n: Onnx_NodeProto, x: GraphBuilder.Value, k: Int, m: Int, weight: [Float],
                       bias: [Float]?, alsoDefine: String? = nil) throws {
        let v = try c.addLayer(n, inputs: [x], dims: [m]) { name in
            let layer = try Linear(name: name, inputFeatures: k, outputFeatures: m, hasBias: bias != nil)
            try layer.setParameter(named: "weight", values: weight)
            if let bias { try layer.setParameter(named: "bias", values: bias) }
            return layer
        }
        if let alsoDefine { c.values[alsoDefine] = .activation(v, dims: [m]) }
    }

    static func transpose(_ v: [Float], rows: Int, cols: Int) -> [Float] {
        var t = [Float](repeating: 0, count: v.count)
        for r in 0..<rows { for q in 0..<cols { t[q * rows + r] = v[r * cols + q] } }
        return t
    }

    static func gemm(_ c: inout C, _ n: Onnx_NodeProto, _: Int) throws {
        let (x, dims) = try c.activation(n)
        guard dims.count == 1 else {
            throw c.fail(n, "input '\(n.input[0])' has shape [N, \(dims.map(String.init).joined(separator: ", "))]; Gemm takes [N, K] (flatten first)")
        }
        let a = ONNXAttributes(n)
        if try a.int("transA", default: 0) != 0 {
            throw c.fail(n, "transA=1 (the input transposed, batch last) is not supported")
        }
        let transB = try a.int("transB", default: 0) != 0
        let alpha = try a.float("alpha", default: 1), beta = try a.float("beta", default: 1)
        let b = try c.floats(n, 1)
        guard b.dims.count == 2 else { throw c.fail(n, "B '\(n.input[1])' has shape \(b.dims); it must be 2-D") }
        let k = dims[0]
        let (m, kb) = transB ? (b.dims[0], b.dims[1]) : (b.dims[1], b.dims[0])
        if kb != k { throw c.fail(n, "B '\(n.input[1])' \(b.dims)\(transB ? " (transposed)" : "") takes \(kb) inputs, the input has \(k)") }
        var w = transB ? b.values : transpose(b.values, rows: k, cols: m)
        if alpha != 1 { w = w.map { $0 * alpha } }
        let bias = c.input(n, 2) != nil && beta != 0 ? try Self.bias(c, n, c.floats(n, 2), m: m, scale: beta) : nil
        try linear(&c, n, x: x, k: k, m: m, weight: w, bias: bias)
    }

    static func matMul(_ c: inout C, _ n: Onnx_NodeProto, _: Int) throws {
        let (x, dims) = try c.activation(n)
        guard dims.count == 1 else {
            throw c.fail(n, "input '\(n.input[0])' has shape [N, \(dims.map(String.init).joined(separator: ", "))]; ConvKit multiplies [N, K] by a constant [K, M]")
        }
        let b = try c.floats(n, 1)
        guard b.dims.count == 2, b.dims[0] == dims[0] else {
            throw c.fail(n, "B '\(n.input[1])' has shape \(b.dims); it must be a constant [\(dims[0]), M]")
        }
        let (k, m) = (b.dims[0], b.dims[1])
        // The Add that follows, as the bias, when it is the only reader.
        var bias: [Float]? = nil, fused: String? = nil
        if let out = n.output.first, !c.graphOutputs.contains(out), let r = c.readers[out], r.count == 1, r[0] >= 0 {
            let add = c.nodes[r[0]]
            let other = add.input.count == 2 ? (add.input[0] == out ? 1 : 0) : -1
            if add.opType == "Add", other >= 0, add.input[1 - other] == out,
               case let .constant(.floats(d, v))? = c.values[add.input[other]],
               let bv = try? Self.bias(c, add, (d, v), m: m, scale: 1), let addOut = add.output.first, !addOut.isEmpty {
                bias = bv
                fused = addOut
                c.absorbed.insert(r[0])
            }
        }
        try linear(&c, n, x: x, k: k, m: m, weight: transpose(b.values, rows: k, cols: m), bias: bias, alsoDefine: fused)
    }

    static func softmax(_ c: inout C, _ n: Onnx_NodeProto, _: Int) throws {
        let (x, dims) = try c.activation(n)
        let rank = dims.count + 1
        let axis = try normalize(c, n, axis: ONNXAttributes(n).int("axis", default: c.opset < 13 ? 1 : -1), rank: rank)
        if axis == 0 { throw c.fail(n, "axis 0 (across the batch) is not supported") }
        if c.opset >= 13 && dims.indices.contains(where: { $0 != axis - 1 && dims[$0] != 1 }) {
            throw c.fail(n, "axis \(axis) of [N, \(dims.map(String.init).joined(separator: ", "))]: ConvKit's softmax runs over all values of a sample, so the other dimensions must be 1")
        }
        if c.opset < 13 && axis != 1 { throw c.fail(n, "axis \(axis): ConvKit's softmax runs over all values of a sample (axis 1)") }
        try c.addLayer(n, inputs: [x], dims: dims) { Softmax(name: $0) }
    }

    static func dropout(_ c: inout C, _ n: Onnx_NodeProto, _: Int) throws {
        if c.input(n, 2) != nil {
            let t = try c.constant(n, 2)
            let on: Bool
            switch t {
            case let .ints(_, v): on = v.contains { $0 != .value(0) }
            case let .floats(_, v): on = v.contains { $0 != 0 }
            case .unsupported: on = false   // a bool tensor: booleans are not read; see below
            }
            if on { throw c.fail(n, "training_mode is true; ConvKit runs inference only") }
        }
        if try ONNXAttributes(n).int("is_test", default: 1) == 0 && c.opset < 7 {
            throw c.fail(n, "is_test=0; ConvKit runs inference only")
        }
        try c.define(n, c.value(n, 0))
    }

    // MARK: Constants and shape arithmetic

    static func constant(_ c: inout C, _ n: Onnx_NodeProto, _: Int) throws {
        let a = ONNXAttributes(n)
        let name = n.output.first ?? C.label(n)
        if let t = try a.tensor("value") {
            return try c.define(n, .constant(ONNXTensorData.constant(t, name: name, directory: c.directory)))
        }
        if a.has("value_float") { return try c.define(n, .constant(.floats(dims: [], values: [a.float("value_float", default: 0)]))) }
        if let v = try a.floats("value_floats") { return try c.define(n, .constant(.floats(dims: [v.count], values: v))) }
        if a.has("value_int") { return try c.define(n, .constant(.ints(dims: [], values: [.value(a.int("value_int", default: 0))]))) }
        if let v = try a.ints("value_ints") { return try c.define(n, .constant(.ints(dims: [v.count], values: v.map { .value($0) }))) }
        throw c.fail(n, "holds no value ConvKit reads (value, value_float(s) or value_int(s))")
    }

    /// A tensor of the given (constant) shape filled with `value` (float 0 by default), as
    /// model-zoo exports write their weights.
    static func constantOfShape(_ c: inout C, _ n: Onnx_NodeProto, _: Int) throws {
        let dims = try c.plainInts(n, 0)
        let fill: ONNXConstant
        if let t = try ONNXAttributes(n).tensor("value") {
            fill = try ONNXTensorData.constant(t, name: n.output.first ?? C.label(n), directory: c.directory)
            guard fill.dims.reduce(1, *) == 1 else { throw c.fail(n, "value must hold one element, has dims \(fill.dims)") }
        } else {
            fill = .floats(dims: [1], values: [0])
        }
        let count = try ONNXTensorData.count(dims.map(Int64.init), name: n.output.first ?? C.label(n))
        if case .ints = fill, count > ONNXTensorData.shapeConstantLimit {
            throw c.fail(n, "an integer tensor of shape \(dims) is larger than shape arithmetic needs (\(ONNXTensorData.shapeConstantLimit) values)")
        }
        // Charged before anything is allocated.
        try c.charge(count * (fill.bytes / max(fill.dims.reduce(1, *), 1)), n)
        switch fill {
        case let .floats(_, v): try c.define(n, .constant(.floats(dims: dims, values: [Float](repeating: v[0], count: count))), charged: true)
        case let .ints(_, v): try c.define(n, .constant(.ints(dims: dims, values: [ONNXConstant.Dimension](repeating: v[0], count: count))), charged: true)
        case let .unsupported(_, t): throw c.fail(n, "value of type \(t) is not supported")
        }
    }

    static func shape(_ c: inout C, _ n: Onnx_NodeProto, _: Int) throws {
        let full: [Dimension]
        switch try c.value(n, 0) {
        case let .activation(_, dims): full = [.batch] + dims.map { .value($0) }
        case let .constant(k): full = k.dims.map { .value($0) }
        }
        let a = ONNXAttributes(n)
        let r = full.count
        func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + r : v, 0), r) }
        let start = clamp(try a.int("start", default: 0)), end = clamp(try a.int("end", default: r))
        let part = start < end ? Array(full[start..<end]) : []
        try c.define(n, .constant(.ints(dims: [part.count], values: part)))
    }

    static func gather(_ c: inout C, _ n: Onnx_NodeProto, _: Int) throws {
        let data = try c.constant(n, 0)
        let (idims, _) = try c.ints(n, 1)
        let indices = try c.plainInts(n, 1)
        let axis = try ONNXAttributes(n).int("axis", default: 0)
        guard data.dims.count == 1, axis == 0 || axis == -1 else {
            throw c.fail(n, "Gather is supported on 1-D constants (shape arithmetic) only; data has dims \(data.dims)")
        }
        let len = data.dims[0]
        let at = try indices.map { i -> Int in
            let j = i < 0 ? i + len : i
            guard j >= 0 && j < len else { throw c.fail(n, "index \(i) is out of range for \(len) values") }
            return j
        }
        switch data {
        case let .ints(_, v): try c.define(n, .constant(.ints(dims: idims, values: at.map { v[$0] })))
        case let .floats(_, v): try c.define(n, .constant(.floats(dims: idims, values: at.map { v[$0] })))
        case let .unsupported(_, t): throw c.fail(n, "data '\(n.input[0])' is \(t)")
        }
    }

    static func cast(_ c: inout C, _ n: Onnx_NodeProto, _: Int) throws {
        let a = ONNXAttributes(n)
        guard a.has("to") else { throw c.fail(n, "attribute 'to' is required") }
        let to = try a.int("to", default: 0)
        typealias T = Onnx_TensorProto.DataType
        let toFloat = [T.float, .double, .float16, .bfloat16].map(\.rawValue).contains(to)
        let toInt = [T.int64, .int32].map(\.rawValue).contains(to)
        switch try c.value(n, 0) {
        case .activation:
            guard to == T.float.rawValue else { throw c.fail(n, "casting a run-time tensor to \(ONNXTensorData.typeName(Int32(to))) is not supported") }
            try c.define(n, c.value(n, 0))
        case let .constant(k):
            switch (k, toFloat, toInt) {
            case let (.floats(d, v), true, _) where to == T.float16.rawValue || to == T.bfloat16.rawValue:
                // Round as the cast does (nearest, ties to even), so folded weights match.
                let r = to == T.float16.rawValue ? v.map { Float(Float16($0)) } : v.map(ONNXTensorData.roundToBFloat16)
                try c.define(n, .constant(.floats(dims: d, values: r)))
            case (.floats, true, _), (.ints, _, true): try c.define(n, .constant(k))
            case let (.floats(d, v), _, true):
                let ints = try v.map { f -> Dimension in
                    guard f.isFinite, abs(f) < 9e15 else { throw c.fail(n, "cannot cast \(f) to an integer") }
                    return .value(Int(f))
                }
                try c.define(n, .constant(.ints(dims: d, values: ints)))
            case (.ints, true, _):
                try c.define(n, .constant(.floats(dims: k.dims, values: c.floats(n, 0).values)))
            default:
                throw c.fail(n, "casting a constant to \(ONNXTensorData.typeName(Int32(to))) is not supported")
            }
        }
    }
}
