import ConvKit
import ConvKitONNX
import Foundation
import SwiftProtobuf
import Testing

/// How an exporter may write the same network.
struct ExporterStyle: CustomStringConvertible, Sendable {
    var foldBatchNorm = false
    var clipAsInputs = false          // opset 11+: min/max as inputs; else attributes (opset 10)
    var autoPad = false               // SAME_UPPER instead of explicit pads
    var reduceMean = false            // ReduceMean over [2, 3] instead of GlobalAveragePool
    var shapeChain = false            // Shape/Gather/Unsqueeze/Concat/Reshape instead of Flatten
    var matMul = false                // MatMul + Add instead of Gemm(transB=1)
    var floatData = false             // float_data instead of raw_data

    var opset: Int { clipAsInputs ? (reduceMean ? 18 : 13) : 10 }

    var description: String {
        [foldBatchNorm ? "BN folded" : "BN kept", clipAsInputs ? "clip inputs" : "clip attrs", autoPad ? "auto_pad" : "pads",
         reduceMean ? "ReduceMean" : "GAP", shapeChain ? "shape chain" : "Flatten", matMul ? "MatMul+Add" : "Gemm",
         floatData ? "float_data" : "raw_data"].joined(separator: ", ")
    }

    static let all: [ExporterStyle] = [
        ExporterStyle(),
        ExporterStyle(foldBatchNorm: true),
        ExporterStyle(clipAsInputs: true, autoPad: true),
        ExporterStyle(foldBatchNorm: true, clipAsInputs: true, reduceMean: true, shapeChain: true),
        ExporterStyle(clipAsInputs: true, shapeChain: true, matMul: true, floatData: true),
        ExporterStyle(foldBatchNorm: true, autoPad: true, matMul: true),
    ]
}

/// A network holding the blocks of the CNNs ConvKit targets, written in `style`: a stem conv
/// with BatchNorm and ReLU6, a MobileNetV2 inverted residual (expand, depthwise, project, add),
/// a SqueezeNet Fire module (concat), a squeeze-and-excitation scale, a ResNet bottleneck with
/// a strided 1x1 downsample and a basic block, a classifier head. The weights depend only on
/// the seed, not on the style, so every style computes the same function.
func exportedNetwork(_ style: ExporterStyle, channels c: Int = 6, size: Int = 14) -> Onnx_ModelProto {
    var g = ONNXGraphMaker(opset: style.opset, seed: 7)
    if style.opset == 10 { g.irVersion = 5 }
    let raw = !style.floatData

    /// conv (+ BN, kept or folded) with random parameters drawn in a style-independent order.
    func convBN(_ x: String, _ cin: Int, _ cout: Int, _ k: Int, stride: Int = 1, group: Int = 1) -> String {
        let dims = [cout, cin / group, k, k]
        var w = g.weights(dims, fanIn: cin / group * k * k)
        let gamma = g.weights([cout], fanIn: 2).map { 1 + 0.3 * $0 }, beta = g.weights([cout], fanIn: 50)
        let mean = g.weights([cout], fanIn: 50), variance = g.weights([cout], fanIn: 2).map { 1 + 0.4 * $0 }
        var attrs: [String: Any] = ["strides": [stride, stride], "group": group, "kernel_shape": [k, k]]
        if k > 1 {
            if style.autoPad && stride == 1 { attrs["auto_pad"] = "SAME_UPPER" } else { attrs["pads"] = [k / 2, k / 2, k / 2, k / 2] }
        }
        if style.foldBatchNorm {
            var b = [Float](repeating: 0, count: cout)
            let per = w.count / cout
            for o in 0..<cout {
                let s = Float(Double(gamma[o]) / (Double(variance[o]) + 1e-5).squareRoot())
                for i in 0..<per { w[o * per + i] *= s }
                b[o] = beta[o] - mean[o] * s
            }
            return g.node("Conv", [x, g.constant(w, dims: dims, raw: raw), g.constant(b, dims: [cout], raw: raw)], attrs)
        }
        let y = g.node("Conv", [x, g.constant(w, dims: dims, raw: raw)], attrs)
        return g.node("BatchNormalization", [y, g.constant(gamma, dims: [cout], raw: raw), g.constant(beta, dims: [cout], raw: raw),
                                             g.constant(mean, dims: [cout], raw: raw), g.constant(variance, dims: [cout], raw: raw)],
                      ["epsilon": Float(1e-5)])
    }
    func relu6(_ x: String) -> String {
        if style.clipAsInputs {
            return g.node("Clip", [x, g.constant([0], dims: [], raw: raw), g.constant([6], dims: [], raw: raw)])
        }
        return g.node("Clip", [x], ["min": Float(0), "max": Float(6)])
    }
    func relu(_ x: String) -> String { g.node("Relu", [x]) }
    func mean(_ x: String) -> String {
        if !style.reduceMean { return g.node("GlobalAveragePool", [x]) }
        if style.opset >= 18 { return g.node("ReduceMean", [x, g.ints([2, 3])], ["keepdims": 1]) }
        return g.node("ReduceMean", [x], ["axes": [2, 3], "keepdims": 1])
    }

    let stem = relu6(convBN("input", 3, c, 3))
    // Inverted residual: expand x4, depthwise 3x3, project, add.
    let e = relu6(convBN(stem, c, 4 * c, 1))
    let d = relu6(convBN(e, 4 * c, 4 * c, 3, group: 4 * c))
    let ir = g.node("Add", [stem, convBN(d, 4 * c, c, 1)])
    // Fire: squeeze, expand 1x1 and 3x3, concat.
    let sq = relu(convBN(ir, c, 3, 1))
    let fire = g.node("Concat", [relu(convBN(sq, 3, 5, 1)), relu(convBN(sq, 3, 4, 3))], ["axis": 1])
    // Squeeze-and-excitation over the 9 fire channels.
    let s = g.node("Sigmoid", [convBN(relu(convBN(mean(fire), 9, 3, 1)), 3, 9, 1)])
    let se = g.node("Mul", [fire, s])
    // Bottleneck with a strided downsample, then a basic block.
    let b1 = relu(convBN(se, 9, 4, 1))
    let b2 = relu(convBN(b1, 4, 4, 3, stride: 2))
    let bottleneck = relu(g.node("Add", [convBN(b2, 4, 12, 1), convBN(se, 9, 12, 1, stride: 2)]))
    let basic = relu(g.node("Add", [convBN(relu(convBN(bottleneck, 12, 12, 3)), 12, 12, 3), bottleneck]))
    // Head.
    let pooled = mean(basic)
    let flat: String
    if style.shapeChain {
        let shape = g.node("Shape", [pooled])
        let n = g.node("Gather", [shape, g.ints([0], dims: [])], ["axis": 0])
        let n1 = style.opset >= 13 ? g.node("Unsqueeze", [n, g.ints([0])]) : g.node("Unsqueeze", [n], ["axes": [0]])
        flat = g.node("Reshape", [pooled, g.node("Concat", [n1, g.ints([-1])], ["axis": 0])])
    } else {
        flat = g.node("Flatten", [pooled], ["axis": 1])
    }
    let w = g.weights([10, 12], fanIn: 12), bias = g.weights([10], fanIn: 50)
    let out: String
    if style.matMul {
        var t = [Float](repeating: 0, count: 120)
        for o in 0..<10 { for i in 0..<12 { t[i * 10 + o] = w[o * 12 + i] } }
        out = g.node("Add", [g.node("MatMul", [flat, g.constant(t, dims: [12, 10], raw: raw)]), g.constant(bias, dims: [10], raw: raw)])
    } else {
        out = g.node("Gemm", [flat, g.constant(w, dims: [10, 12], raw: raw), g.constant(bias, dims: [10], raw: raw)], ["transB": 1])
    }
    return g.model(input: [3, size, size], output: out, outputDims: [10])
}

@Suite struct ONNXStyleTests {
    static let input = randomValues(3 * 3 * 14 * 14, seed: 11)

    /// Every exporter style of the network computes the same logits as the first, on the
    /// reference backend; each style agrees across backends.
    @Test(arguments: ExporterStyle.all.indices)
    func stylesAgree(style k: Int) throws {
        let base = try run(ONNXImporter.model(from: exportedNetwork(ExporterStyle.all[0])), Self.input, batch: 3, backend: "reference")
        let model = try ONNXImporter.model(from: exportedNetwork(ExporterStyle.all[k]))
        for backend in testBackends {
            let y = try run(model, Self.input, batch: 3, backend: backend)
            let tolerance = backend == "winograd" || backend == "auto" ? 1e-3 : 1e-5
            #expect(relativeError(y, base) <= tolerance, "\(ExporterStyle.all[k]) on \(backend): \(relativeError(y, base))")
        }
    }

    /// The imported network is the graph ConvKit builds itself: the same nodes, fusions and
    /// backends as its twin written with GraphBuilder (so it runs exactly as fast), and
    /// bit-identical outputs with the twin on the direct backend.
    @Test func importedGraphEqualsBuiltInTwin() throws {
        let imported = try ONNXImporter.model(from: exportedNetwork(ExporterStyle()))
        let g = try GraphBuilder(input: [3, 14, 14])
        func convBN(_ x: GraphBuilder.Value, _ cout: Int, _ k: Int, stride: Int = 1, group: Int = 1) throws -> GraphBuilder.Value {
            try g.batchNorm(g.conv(x, filters: cout, size: k, stride: stride, pad: k / 2, groups: group, bias: false))
        }
        let c = 6
        let stem = try g.relu6(convBN(g.input, c, 3))
        let e = try g.relu6(convBN(stem, 4 * c, 1))
        let d = try g.relu6(convBN(e, 4 * c, 3, group: 4 * c))
        let ir = try g.add(stem, convBN(d, c, 1))
        let sq = try g.relu(convBN(ir, 3, 1))
        let fire = try g.concat([g.relu(convBN(sq, 5, 1)), g.relu(convBN(sq, 4, 3))])
        let s = try g.pointwise(convBN(g.relu(convBN(g.globalAvgPool(fire), 3, 1)), 9, 1), .sigmoid)
        let se = try g.mul(fire, s)
        let b2 = try g.relu(convBN(g.relu(convBN(se, 4, 1)), 4, 3, stride: 2))
        let bottleneck = try g.relu(g.add(convBN(b2, 12, 1), convBN(se, 12, 1, stride: 2)))
        let basic = try g.relu(g.add(convBN(g.relu(convBN(bottleneck, 12, 3)), 12, 3), bottleneck))
        let twin = try g.build(output: g.linear(g.flatten(g.globalAvgPool(basic)), units: 10))
        // Copy the imported parameters, layer by layer, into the twin.
        let weighted = imported.layers.filter { !$0.parameters.isEmpty }
        let twinWeighted = twin.layers.filter { !$0.parameters.isEmpty }
        try #require(weighted.count == twinWeighted.count)
        for (a, b) in zip(weighted, twinWeighted) {
            #expect(a.typeName == b.typeName)
            for p in a.parameters { try b.setParameter(named: p.name, values: #require(a.parameterValues(named: p.name))) }
        }
        let pi = try imported.plan(batch: 3, backend: "auto"), pt = try twin.plan(batch: 3, backend: "auto")
        // A flatten of [C, 1, 1] is the same memory: the twin has a no-copy node, the import none.
        let describe = { (plan: [LayerPlan]) in plan.filter { $0.fusedInto == nil && $0.typeName != "flatten" }.map { "\($0.typeName) \($0.backend ?? "-") \($0.fusedActivation.map { "\($0)" } ?? "") \($0.foldsBatchNorm) \($0.fusedAdd != nil) \($0.writesIntoConcat != nil)" } }
        #expect(describe(pi) == describe(pt))
        #expect(try run(imported, Self.input, batch: 3, backend: "direct") == run(twin, Self.input, batch: 3, backend: "direct"))
    }

    /// External data (`data_location = EXTERNAL`) read from the model's folder, with offsets.
    @Test func externalData() throws {
        var proto = exportedNetwork(ExporterStyle(foldBatchNorm: true))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("convkit-onnx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var blob = Data("header".utf8)
        for i in proto.graph.initializer.indices where proto.graph.initializer[i].dataType == 1 {
            let raw = proto.graph.initializer[i].rawData
            var entries: [Onnx_StringStringEntryProto] = []
            for (k, v) in [("location", "weights/net.bin"), ("offset", "\(blob.count)"), ("length", "\(raw.count)")] {
                var e = Onnx_StringStringEntryProto(); e.key = k; e.value = v; entries.append(e)
            }
            blob.append(raw)
            proto.graph.initializer[i].clearRawData()
            proto.graph.initializer[i].externalData = entries
            proto.graph.initializer[i].dataLocation = .external
        }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("weights"), withIntermediateDirectories: true)
        try blob.write(to: dir.appendingPathComponent("weights/net.bin"))
        let path = dir.appendingPathComponent("net.onnx").path
        try proto.serializedData().write(to: URL(fileURLWithPath: path))
        let inline = try run(ONNXImporter.model(from: exportedNetwork(ExporterStyle(foldBatchNorm: true))), Self.input, batch: 3, backend: "direct")
        #expect(try run(ONNXImporter.load(path: path), Self.input, batch: 3, backend: "direct") == inline)
        // The data file gone: a typed error naming the tensor and the file.
        try FileManager.default.removeItem(at: dir.appendingPathComponent("weights/net.bin"))
        #expect { try ONNXImporter.load(path: path) } throws: { e in
            guard case let .invalidTensor(_, reason)? = e as? ONNXImportError else { return false }
            return reason.contains("net.bin")
        }
    }

    /// float16, bfloat16 and float64 initializers are converted to float32.
    @Test func halfAndDoubleInitializers() throws {
        let values: [Float] = [1, -2.5, 0.099975586, 65504, -0.0, 3.140625]
        for (type, bytes): (Onnx_TensorProto.DataType, Data) in [
            (.float16, Data(values.flatMap { v -> [UInt8] in
                let h = Float16(v).bitPattern; return [UInt8(h & 0xff), UInt8(h >> 8)] })),
            (.bfloat16, Data(values.flatMap { v -> [UInt8] in
                let h = UInt16(v.bitPattern >> 16); return [UInt8(h & 0xff), UInt8(h >> 8)] })),
            (.double, values.map { Double($0) }.withUnsafeBufferPointer { Data(buffer: $0) }),
        ] {
            var g = ONNXGraphMaker(opset: 13)
            var t = Onnx_TensorProto()
            t.name = "w"; t.dims = [6, 1, 1, 1]; t.dataType = Int32(type.rawValue); t.rawData = bytes
            g.initializers.append(t)
            let y = g.node("Conv", ["input", "w"])
            let model = try ONNXImporter.model(from: g.model(input: [1, 1, 1], output: y))
            let out = try run(model, [1], batch: 1, backend: "reference")
            let expected = type == .bfloat16 ? values.map { Float(bitPattern: $0.bitPattern & 0xffff_0000) } : values.map { Float(Float16($0)) == $0 || type == .double ? $0 : Float(Float16($0)) }
            #expect(out == expected, "\(type)")
        }
    }
}

/// Per-channel constant `Mul` and `Add` (BatchNorm written as arithmetic on unsqueezed
/// constants, as the model zoo's DenseNet and Inception exports do) equal the BatchNormalization
/// they spell out; a scalar constant broadcasts; other shapes are refused naming the node.
@Suite struct ONNXConstantArithmeticTests {
    func network(arithmetic: Bool, scalar: Bool = false) -> Onnx_ModelProto {
        var g = ONNXGraphMaker(opset: 9, seed: 3)
        let c = 5
        let x = g.conv("input", 3, c, 3, bias: false, ["pads": [1, 1, 1, 1]])
        let scale = g.weights([c], fanIn: 2).map { 1 + 0.5 * $0 }, shift = g.weights([c], fanIn: 8)
        let y: String
        if arithmetic {
            let s = g.node("Unsqueeze", [g.constant(scale, dims: [c])], ["axes": [1, 2]])
            let b = g.constant(shift, dims: [c, 1, 1])
            y = g.node("Add", [b, g.node("Mul", [g.node("Relu", [x]), s])])
        } else {
            y = g.node("BatchNormalization", [g.node("Relu", [x]), g.constant(scale, dims: [c]), g.constant(shift, dims: [c]),
                                              g.constant([Float](repeating: 0, count: c), dims: [c]),
                                              g.constant([Float](repeating: 1, count: c), dims: [c])], ["epsilon": Float(1e-12)])
        }
        let z = scalar ? g.node("Mul", [y, g.constant([0.5], dims: [])]) : y
        return g.model(input: [3, 7, 7], output: z, outputDims: [c, 7, 7])
    }

    @Test func perChannelConstantsAreBatchNorm() throws {
        let x = randomValues(2 * 3 * 7 * 7, seed: 4)
        let arithmetic = try ONNXImporter.model(from: network(arithmetic: true))
        #expect(arithmetic.nodes.filter { ($0.layer as? BatchNorm2D)?.isAffine == true }.count == 2)
        let bn = try run(ONNXImporter.model(from: network(arithmetic: false)), x, batch: 2, backend: "reference")
        for backend in testBackends {
            #expect(relativeError(try run(arithmetic, x, batch: 2, backend: backend), bn) <= 1e-6, "\(backend)")
        }
        let half = try run(ONNXImporter.model(from: network(arithmetic: true, scalar: true)), x, batch: 2, backend: "direct")
        #expect(relativeError(half, bn.map { $0 * 0.5 }) <= 1e-6)
    }

    @Test func otherConstantShapesAreRefused() throws {
        var g = ONNXGraphMaker(opset: 13)
        let x = g.conv("input", 3, 4, 1)
        let y = g.node("Add", [x, g.constant([Float](repeating: 1, count: 4 * 7), dims: [1, 4, 7, 1])], name: "odd")
        let e = importError(g.model(input: [3, 7, 7], output: y))
        #expect(e?.description.contains("'odd'") == true && e?.description.contains("per channel") == true, "\(String(describing: e))")
    }
}
