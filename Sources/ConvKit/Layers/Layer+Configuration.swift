// The model-file form of the built-in layers (the keys LayerRegistry's factories read).

extension JSONValue {
    fileprivate static func int(_ v: Int) -> JSONValue { .number(Double(v)) }
    fileprivate static func pair(_ a: Int, _ b: Int) -> JSONValue { a == b ? .int(a) : .array([.int(a), .int(b)]) }
    fileprivate static func padding(_ p: Padding) -> JSONValue {
        .array([.int(p.top), .int(p.left), .int(p.bottom), .int(p.right)])
    }
}

extension Conv2D {
    public var configuration: [String: JSONValue]? {
        ["filters": .int(filters), "size": .pair(kernelHeight, kernelWidth), "stride": .pair(strideHeight, strideWidth),
         "pad": .padding(padding), "dilation": .pair(dilationHeight, dilationWidth), "groups": .int(groups),
         "bias": .bool(hasBias), "activation": activation.configValue]
    }
}

extension PoolGeometry {
    fileprivate var configuration: [String: JSONValue] {
        ["size": .pair(kernelHeight, kernelWidth), "stride": .pair(strideHeight, strideWidth), "pad": .padding(padding),
         "ceil_mode": .bool(ceilMode)]
    }
}

extension MaxPool2D {
    public var configuration: [String: JSONValue]? { geometry.configuration }
}

extension AvgPool2D {
    public var configuration: [String: JSONValue]? {
        var c = geometry.configuration
        c["count_include_pad"] = .bool(countIncludePad)
        return c
    }
}

extension Linear {
    public var configuration: [String: JSONValue]? {
        ["units": .int(outputFeatures), "bias": .bool(hasBias), "activation": activation.configValue]
    }
}

extension Dropout {
    public var configuration: [String: JSONValue]? { ["rate": .number(Double(rate))] }
    public var outputAliasesInput: Bool { true }
}

extension Flatten {
    public var configuration: [String: JSONValue]? { [:] }
    public var outputAliasesInput: Bool { true }
}

extension BatchNorm2D {
    public var configuration: [String: JSONValue]? { isAffine ? ["affine": .bool(true)] : ["eps": .number(Double(epsilon))] }
}

extension ReLU { public var configuration: [String: JSONValue]? { [:] } }
extension Softmax { public var configuration: [String: JSONValue]? { [:] } }
extension GlobalAvgPool { public var configuration: [String: JSONValue]? { [:] } }
extension GlobalMaxPool { public var configuration: [String: JSONValue]? { [:] } }
extension Concat { public var configuration: [String: JSONValue]? { [:] } }

extension Elementwise {
    public var configuration: [String: JSONValue]? { ["activation": activation.configValue] }
}

extension Pointwise {
    public var configuration: [String: JSONValue]? {
        switch function {
        case let .clip(lo, hi):
            var c: [String: JSONValue] = [:]
            if lo.isFinite { c["min"] = .number(Double(lo)) }
            if hi.isFinite { c["max"] = .number(Double(hi)) }
            return c
        case let .leakyReLU(a): return ["alpha": .number(Double(a))]
        case let .hardSigmoid(a, b): return ["alpha": .number(Double(a)), "beta": .number(Double(b))]
        case .sigmoid, .tanh, .hardSwish, .identity: return [:]
        }
    }
    public var outputAliasesInput: Bool { function == .identity }
}
