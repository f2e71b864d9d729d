import ConvKit
import ConvKitONNX
import Foundation
import SwiftProtobuf

/// The committed fixtures: ONNX files and ONNX Runtime's outputs (scripts/peers/make_onnx_fixtures.py).
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

/// `max |y - ref| / max |ref|`; infinity when the NaN patterns differ.
func relativeError(_ y: [Float], _ ref: [Float]) -> Double {
    precondition(y.count == ref.count, "\(y.count) values against \(ref.count)")
    var diff = 0.0, scale = 0.0
    for (a, b) in zip(y, ref) {
        if a.isNaN != b.isNaN { return .infinity }
        if a.isNaN { continue }
        diff = max(diff, abs(Double(a) - Double(b)))
        scale = max(scale, abs(Double(b)))
    }
    return scale > 0 ? diff / scale : diff
}

/// Runs `model` on `x` (batch `batch`) with `backend`.
func run(_ model: GraphModel, _ x: [Float], batch: Int, backend: String, threads: Int = 2) throws -> [Float] {
    let p = try model.prepare(batch: batch, backend: backend, threads: threads)
    var y = [Float](repeating: .nan, count: batch * p.outputSampleCount)
    try x.withUnsafeBufferPointer { xb in
        try y.withUnsafeMutableBufferPointer { yb in try p.run(input: xb, output: yb, batch: batch) }
    }
    return y
}

/// Deterministic values in [-1, 1].
func randomValues(_ count: Int, seed: UInt64) -> [Float] {
    var g = SplitMix64(seed: seed)
    return (0..<count).map { _ in Float(Double(g.next() >> 11) / Double(1 << 52)) - 1 }
}

/// The backends a test runs: the native ones, oneDNN where it is installed, and auto.
var testBackends: [String] {
    var b = ["reference", "direct", "winograd", "auto"]
    if (try? BackendRegistry.shared.backend(named: "onednn").availability.isAvailable) == true { b.append("onednn") }
    return b
}

/// Builds ONNX models in Swift with the generated types, as an exporter would.
struct ONNXGraphMaker {
    var opset: Int
    var irVersion: Int64 = 8
    var nodes: [Onnx_NodeProto] = []
    var initializers: [Onnx_TensorProto] = []
    private var counter = 0
    private var seed: UInt64

    init(opset: Int, seed: UInt64 = 1) { self.opset = opset; self.seed = seed }

    mutating func fresh(_ prefix: String) -> String { counter += 1; return "\(prefix)_\(counter)" }

    /// A float32 initializer (raw_data by default, float_data otherwise).
    mutating func constant(_ values: [Float], dims: [Int], raw: Bool = true, name: String? = nil) -> String {
        var t = Onnx_TensorProto()
        t.name = name ?? fresh("w")
        t.dims = dims.map(Int64.init)
        t.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        if raw {
            t.rawData = values.withUnsafeBufferPointer { Data(buffer: $0) }
        } else {
            t.floatData = values
        }
        initializers.append(t)
        return t.name
    }

    /// An int64 initializer.
    mutating func ints(_ values: [Int], dims: [Int]? = nil) -> String {
        var t = Onnx_TensorProto()
        t.name = fresh("i")
        t.dims = (dims ?? [values.count]).map(Int64.init)
        t.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
        t.int64Data = values.map(Int64.init)
        initializers.append(t)
        return t.name
    }

    /// Random weights of `dims`, scaled for He initialisation over `fanIn`.
    mutating func weights(_ dims: [Int], fanIn: Int) -> [Float] {
        seed &+= 1
        let s = Float((2 / Double(max(fanIn, 1))).squareRoot())
        return randomValues(dims.reduce(1, *), seed: seed).map { $0 * s }
    }

    static func attribute(_ name: String, _ value: Any) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        switch value {
        case let v as Int: a.type = .int; a.i = Int64(v)
        case let v as Float: a.type = .float; a.f = v
        case let v as Double: a.type = .float; a.f = Float(v)
        case let v as String: a.type = .string; a.s = Data(v.utf8)
        case let v as [Int]: a.type = .ints; a.ints = v.map(Int64.init)
        case let v as [Float]: a.type = .floats; a.floats = v
        case let v as Onnx_TensorProto: a.type = .tensor; a.t = v
        default: fatalError("unsupported attribute value \(value)")
        }
        return a
    }

    /// Adds a node and returns its first output.
    @discardableResult
    mutating func node(_ op: String, _ inputs: [String], outputs: Int = 1, name: String? = nil,
                       _ attributes: [String: Any] = [:]) -> String {
        var n = Onnx_NodeProto()
        n.opType = op
        n.name = name ?? fresh(op)
        n.input = inputs
        n.output = (0..<outputs).map { _ in fresh(op.lowercased()) }
        n.attribute = attributes.keys.sorted().map { Self.attribute($0, attributes[$0]!) }
        nodes.append(n)
        return n.output[0]
    }

    /// A convolution with random weights (and bias), as exporters write it.
    mutating func conv(_ x: String, _ cin: Int, _ cout: Int, _ k: Int, group: Int = 1, bias: Bool = true,
                       _ attributes: [String: Any] = [:]) -> String {
        let w = constant(weights([cout, cin / group, k, k], fanIn: cin / group * k * k), dims: [cout, cin / group, k, k])
        var inputs = [x, w]
        if bias { inputs.append(constant(weights([cout], fanIn: 50), dims: [cout])) }
        var a = attributes
        a["group"] = group
        a["kernel_shape"] = [k, k]
        return node("Conv", inputs, a)
    }

    /// BatchNormalization with random statistics.
    mutating func batchNorm(_ x: String, _ c: Int) -> String {
        let gamma = weights([c], fanIn: 2).map { 1 + 0.3 * $0 }
        let beta = weights([c], fanIn: 50)
        let mean = weights([c], fanIn: 50)
        let variance = weights([c], fanIn: 2).map { 1 + 0.4 * $0 }
        return node("BatchNormalization", [x, constant(gamma, dims: [c]), constant(beta, dims: [c]),
                                           constant(mean, dims: [c]), constant(variance, dims: [c])], ["epsilon": Float(1e-5)])
    }

    static func valueInfo(_ name: String, _ dims: [Int?], batch: String? = "N") -> Onnx_ValueInfoProto {
        var v = Onnx_ValueInfoProto()
        v.name = name
        var t = Onnx_TypeProto.Tensor()
        t.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        var shape = Onnx_TensorShapeProto()
        shape.dim = dims.enumerated().map { k, d in
            var dim = Onnx_TensorShapeProto.Dimension()
            if let d { dim.dimValue = Int64(d) } else if k == 0, let batch { dim.dimParam = batch } else { dim.dimParam = "d\(k)" }
            return dim
        }
        t.shape = shape
        var type = Onnx_TypeProto()
        type.tensorType = t
        v.type = type
        return v
    }

    /// The model reading `input` of `[N] + inputDims` and returning `output`.
    func model(input inputDims: [Int], output: String, outputDims: [Int?]? = nil) -> Onnx_ModelProto {
        var g = Onnx_GraphProto()
        g.name = "test"
        g.node = nodes
        g.initializer = initializers
        g.input = [Self.valueInfo("input", [nil] + inputDims.map { Optional($0) })]
        g.output = [Self.valueInfo(output, outputDims.map { [nil] + $0 } ?? [nil])]
        var m = Onnx_ModelProto()
        m.irVersion = irVersion
        m.producerName = "convkit-tests"
        var o = Onnx_OperatorSetIdProto()
        o.domain = ""
        o.version = Int64(opset)
        m.opsetImport = [o]
        m.graph = g
        return m
    }
}
