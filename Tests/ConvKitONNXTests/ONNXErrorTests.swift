import ConvKit
import ConvKitONNX
import Foundation
import SwiftProtobuf
import Testing

/// Imports `proto` and returns the error it throws (nil when it imports).
func importError(_ proto: Onnx_ModelProto, options: ONNXImporter.Options = .init()) -> ONNXImportError? {
    do {
        _ = try ONNXImporter.model(from: proto, options: options)
        return nil
    } catch let e as ONNXImportError {
        return e
    } catch {
        Issue.record("not an ONNXImportError: \(type(of: error)) \(error)")
        return nil
    }
}

/// A small valid model: conv 3 -> 4 (3x3, pad 1), relu, global average pool, flatten, gemm.
func smallModel(opset: Int = 13, edit: (inout ONNXGraphMaker) -> Void = { _ in }) -> Onnx_ModelProto {
    var g = ONNXGraphMaker(opset: opset)
    let c = g.conv("input", 3, 4, 3, ["pads": [1, 1, 1, 1]])
    let f = g.node("Flatten", [g.node("GlobalAveragePool", [g.node("Relu", [c], name: "relu")])])
    _ = g.node("Gemm", [f, g.constant(g.weights([2, 4], fanIn: 4), dims: [2, 4]), g.constant([0.5, -0.5], dims: [2])],
               name: "head", ["transB": 1])
    edit(&g)
    return g.model(input: [3, 8, 8], output: g.nodes.last!.output[0], outputDims: [2])
}

@Suite struct ONNXErrorTests {
    func loadBytes(_ data: Data, name: String = "bad.onnx") -> ONNXImportError? {
        do { _ = try ONNXImporter.load(serialized: data, name: name); return nil } catch let e as ONNXImportError { return e } catch {
            Issue.record("not an ONNXImportError: \(error)"); return nil
        }
    }

    @Test func unreadableFiles() throws {
        let valid = try smallModel().serializedData()
        #expect(loadBytes(Data())?.description.contains("empty") == true)
        // Truncated at every length that cuts a field: a typed error, never a crash.
        for cut in stride(from: 1, to: valid.count, by: max(1, valid.count / 97)) {
            let e = loadBytes(valid.prefix(cut))
            #expect(e != nil, "truncated to \(cut) of \(valid.count) bytes imported")
        }
        var g = SplitMix64(seed: 5)
        for _ in 0..<50 {
            let bytes = Data((0..<Int(g.next() % 4096 + 1)).map { _ in UInt8(truncatingIfNeeded: g.next()) })
            #expect(loadBytes(bytes) != nil)
        }
        let json = loadBytes(Data(#"{"name": "m", "input": [3, 8, 8], "layers": []}"#.utf8))
        #expect(json?.description.contains("JSON") == true, "\(String(describing: json))")
        // A file path that does not exist.
        #expect(throws: ONNXImportError.self) { try ONNXImporter.load(path: "/nonexistent/model.onnx") }
    }

    @Test func unsupportedOperatorsAreAllListed() throws {
        let proto = smallModel { g in
            g.node("Resize", [g.nodes[0].output[0]], name: "up")
            g.node("LSTM", [g.nodes[0].output[0]], name: "rnn")
            var n = Onnx_NodeProto()
            n.opType = "Conv"; n.domain = "com.microsoft"; n.name = "fused"; n.input = ["input"]; n.output = ["f"]
            g.nodes.append(n)
        }
        guard case let .unsupportedOperators(list)? = importError(proto) else { Issue.record("expected unsupportedOperators"); return }
        #expect(list.map(\.node) == ["up", "rnn", "fused"])
        #expect(list.map(\.op) == ["Resize", "LSTM", "Conv"])
        #expect(list.allSatisfy { $0.opset == 13 || $0.domain == "com.microsoft" })
        #expect(ONNXImporter.unsupportedNodes(in: proto).count == 3)
        #expect(ONNXImportError.unsupportedOperators(list).description.contains("Resize (opset 13) at node 'up'"))
    }

    @Test func badGraphs() throws {
        // A node reading a tensor nothing defines.
        let undefined = importError(smallModel { g in g.nodes[1].input = ["nowhere"] })
        #expect(undefined?.description.contains("'nowhere'") == true && undefined?.description.contains("relu") == true,
                "\(String(describing: undefined))")
        // Conv weights for 5 input channels on a 3-channel input.
        var g = ONNXGraphMaker(opset: 13)
        let y = g.conv("input", 5, 4, 3)
        let channels = importError(g.model(input: [3, 8, 8], output: y))
        #expect(channels?.description.contains("expects 5 input channels, the input has 3") == true, "\(String(describing: channels))")
        // An initializer whose data is shorter than its dims.
        let short = importError(smallModel { g in g.initializers[0].dims = [4, 3, 3, 4] })
        guard case let .invalidTensor(_, reason)? = short else { Issue.record("expected invalidTensor, got \(String(describing: short))"); return }
        #expect(reason.contains("raw data holds 432 bytes"), "\(reason)")
        // Dims whose product overflows, or exceeds memory.
        for dims: [Int64] in [[1 << 40, 1 << 40], [Int64.max, 2], [1 << 36], [-1, 3]] {
            let e = importError(smallModel { g in g.initializers[0].dims = dims })
            guard case .invalidTensor? = e else { Issue.record("dims \(dims): \(String(describing: e))"); continue }
        }
        // A cycle: relu reads the gemm's output.
        let cycle = importError(smallModel { g in g.nodes[1].input = [g.nodes.last!.output[0]] })
        #expect(cycle?.description.contains("cycle") == true, "\(String(describing: cycle))")
        // Two nodes writing one tensor.
        let twice = importError(smallModel { g in g.nodes[2].output = g.nodes[1].output })
        #expect(twice?.description.contains("also writes") == true)
        // An attribute of the wrong type, an unknown auto_pad, a negative pad.
        #expect(importError(smallModel { g in g.nodes[0].attribute.append(ONNXGraphMaker.attribute("group", "two")) }) != nil)
        #expect(importError(smallModel { g in g.nodes[0].attribute.append(ONNXGraphMaker.attribute("auto_pad", "SAME")) })?
            .description.contains("auto_pad 'SAME'") == true)
        #expect(importError(smallModel { g in
            g.nodes[0].attribute = g.nodes[0].attribute.filter { $0.name != "pads" } + [ONNXGraphMaker.attribute("pads", [1, -1, 1, 1])]
        })?.description.contains("negative") == true)
        // A constant where a run-time tensor is needed; an add of a constant.
        #expect(importError(smallModel { g in g.nodes[1].input = [g.initializers[1].name] }) != nil)
    }

    @Test func badModels() throws {
        var ir = smallModel(); ir.irVersion = 2
        #expect(importError(ir)?.description.contains("IR version 2") == true)
        #expect(importError(smallModel(opset: 6))?.description.contains("opset 6") == true)
        #expect(importError(smallModel(opset: 22))?.description.contains("opset 22") == true)
        var noOpset = smallModel(); noOpset.opsetImport = []
        #expect(importError(noOpset) != nil)
        var twoInputs = smallModel(); twoInputs.graph.input.append(ONNXGraphMaker.valueInfo("mask", [nil, 1]))
        #expect(importError(twoInputs)?.description.contains("one input") == true)
        var rank2 = smallModel(); rank2.graph.input = [ONNXGraphMaker.valueInfo("input", [nil, 192])]
        #expect(importError(rank2)?.description.contains("[N, C, H, W]") == true)
        // Symbolic image size: an error naming the option that fixes it, then imported with it.
        var symbolic = smallModel(); symbolic.graph.input = [ONNXGraphMaker.valueInfo("input", [nil, 3, nil, nil])]
        #expect(importError(symbolic)?.description.contains("symbolic") == true)
        #expect(importError(symbolic, options: .init(inputShape: [3, 8, 8])) == nil)
        #expect(importError(smallModel(), options: .init(inputShape: [4, 8, 8]))?.description.contains("says 4") == true)
        // An output declared with another shape than the graph computes.
        var declared = smallModel(); declared.graph.output = [ONNXGraphMaker.valueInfo(declared.graph.output[0].name, [nil, 3])]
        #expect(importError(declared)?.description.contains("declares shape") == true)
        // An output that is a constant.
        var constant = smallModel(); constant.graph.output = [ONNXGraphMaker.valueInfo(constant.graph.initializer[0].name, [nil])]
        #expect(importError(constant)?.description.contains("constant") == true)
    }

    @Test func externalDataOutsideTheFolderIsRefused() throws {
        var proto = smallModel()
        var e = Onnx_StringStringEntryProto(); e.key = "location"; e.value = "../../etc/passwd"
        proto.graph.initializer[0].clearRawData()
        proto.graph.initializer[0].externalData = [e]
        proto.graph.initializer[0].dataLocation = .external
        let error = try #require(throws: ONNXImportError.self) {
            try ONNXImporter.load(serialized: proto.serializedData(), externalDataDirectory: NSTemporaryDirectory())
        }
        #expect(error.description.contains("outside the model's folder"))
        // Without a folder (bytes in memory), external data is refused too.
        #expect(throws: ONNXImportError.self) { try ONNXImporter.load(serialized: proto.serializedData()) }
    }

    /// Huge padding makes activations larger than memory: refused at prepare, nothing allocated.
    @Test func activationsLargerThanMemoryAreRefused() throws {
        let proto = smallModel { g in
            g.nodes[0].attribute = g.nodes[0].attribute.filter { $0.name != "pads" } + [ONNXGraphMaker.attribute("pads", [200_000, 200_000, 200_000, 200_000])]
        }
        let model = try ONNXImporter.model(from: proto)
        #expect(throws: ConvError.self) { try model.prepare(batch: 1, backend: "direct") }
    }
}

/// Cases from a review of the importer: each once crashed, allocated without bound or computed
/// something else than ONNX Runtime.
@Suite struct ONNXReviewCaseTests {
    @Test func sumWithoutInputs() {
        let e = importError(smallModel { g in g.node("Sum", [], name: "empty") })
        #expect(e?.description.contains("'empty'") == true, "\(String(describing: e))")
    }

    @Test func zeroDimensionCannotHideAHugeOne() {
        let e = importError(smallModel { g in
            g.initializers[0].dims = [0, 1 << 62, 1, 1]
            g.initializers[0].rawData = Data()
            g.nodes[0].attribute = [ONNXGraphMaker.attribute("group", 2)]
        })
        guard case .invalidTensor? = e else { Issue.record("\(String(describing: e))"); return }
    }

    @Test func constantsAreBudgetedBeforeAllocation() {
        // A float ConstantOfShape of more than half of memory: refused without allocating it.
        let huge = importError(smallModel { g in
            let shape = g.ints([1 << 40])
            g.node("ConstantOfShape", [shape], name: "fill")
        })
        #expect(huge != nil, "accepted a 4 TB constant")
        // An integer fill larger than shape arithmetic needs.
        var t = Onnx_TensorProto(); t.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue); t.dims = [1]; t.int64Data = [7]
        let ints = importError(smallModel { g in
            let shape = g.ints([1 << 20])
            g.node("ConstantOfShape", [shape], name: "ifill", ["value": t])
        })
        #expect(ints?.description.contains("'ifill'") == true, "\(String(describing: ints))")
    }

    @Test func elementwiseOperandsOfDifferentRanksAreRefused() {
        var g = ONNXGraphMaker(opset: 13)
        let x = g.conv("input", 3, 4, 1)
        let v = g.node("Flatten", [g.node("GlobalAveragePool", [x])])     // [N, 4]
        let y = g.node("Mul", [v, x], name: "mix")                         // [N, 4] * [N, 4, 8, 8]
        let e = importError(g.model(input: [3, 8, 8], output: y))
        #expect(e?.description.contains("same rank") == true, "\(String(describing: e))")
    }

    @Test func dropoutInTrainingModeIsRefused() {
        var flag = Onnx_TensorProto()
        flag.name = "training"; flag.dataType = Int32(Onnx_TensorProto.DataType.bool.rawValue); flag.rawData = Data([1])
        let on = importError(smallModel(opset: 13) { g in
            g.initializers.append(flag)
            g.node("Dropout", [g.nodes[0].output[0], "", "training"], name: "drop")
        })
        #expect(on?.description.contains("training_mode") == true, "\(String(describing: on))")
        flag.rawData = Data([0])
        #expect(importError(smallModel(opset: 13) { g in
            g.initializers.append(flag)
            g.node("Dropout", [g.nodes[0].output[0], "", "training"], name: "drop")
            g.nodes.swapAt(g.nodes.count - 1, g.nodes.count - 2)   // keep the head last
        }) == nil)
    }

    @Test func reshapeWithALiteralBatchOfOne() throws {
        var g = ONNXGraphMaker(opset: 13)
        let p = g.node("GlobalAveragePool", [g.conv("input", 3, 4, 3)])
        let y = g.node("Reshape", [p, g.ints([1, -1])])
        var proto = g.model(input: [3, 8, 8], output: y, outputDims: [4])
        proto.graph.input = [ONNXGraphMaker.valueInfo("input", [1, 3, 8, 8])]
        proto.graph.output = [ONNXGraphMaker.valueInfo(y, [1, 4])]
        let model = try ONNXImporter.model(from: proto)
        #expect(model.outputSampleDimensions == [4])
    }

    @Test func castToFloat16RoundsTheValues() throws {
        var g = ONNXGraphMaker(opset: 13)
        let w: [Float] = [0.1, 1.0 / 3, 1000.7, -2.2]
        let half = g.node("Cast", [g.constant(w, dims: [4, 1, 1, 1])], ["to": Int(Onnx_TensorProto.DataType.float16.rawValue)])
        let back = g.node("Cast", [half], ["to": 1])
        let y = g.node("Conv", ["input", back])
        let out = try run(ONNXImporter.model(from: g.model(input: [1, 1, 1], output: y)), [1], batch: 1, backend: "reference")
        #expect(out == w.map { Float(Float16($0)) })
    }

    @Test func externalDataThroughASymlinkOutsideIsRefused() throws {
        let fm = FileManager.default
        let base = fm.temporaryDirectory.appendingPathComponent("ck-onnx-link-\(UUID().uuidString)")
        let model = base.appendingPathComponent("model"), outside = base.appendingPathComponent("outside")
        try fm.createDirectory(at: model, withIntermediateDirectories: true)
        try fm.createDirectory(at: outside, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: base) }
        try fm.createSymbolicLink(at: model.appendingPathComponent("link"), withDestinationURL: outside)
        var proto = smallModel()
        let raw = proto.graph.initializer[0].rawData
        try raw.write(to: outside.appendingPathComponent("w.bin"))
        var e = Onnx_StringStringEntryProto(); e.key = "location"; e.value = "link/w.bin"
        proto.graph.initializer[0].clearRawData()
        proto.graph.initializer[0].externalData = [e]
        proto.graph.initializer[0].dataLocation = .external
        let path = model.appendingPathComponent("m.onnx").path
        try proto.serializedData().write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: ONNXImportError.self) { try ONNXImporter.load(path: path) }
        #expect(error.description.contains("outside the model's folder"), "\(error)")
    }
}
