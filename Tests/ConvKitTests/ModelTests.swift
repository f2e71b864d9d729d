import Foundation
import Testing
import ConvKit

/// Runs `model` prepared for `batch` on `backend` with `x` and returns the output.
func runModel(_ model: SequentialModel, _ x: [Float], batch: Int, backend: String, threads: Int = 2,
              runBatch: Int? = nil) throws -> [Float] {
    let prepared = try model.prepare(batch: batch, backend: backend, threads: threads)
    let n = runBatch ?? batch
    var y = [Float](repeating: .nan, count: n * prepared.outputSampleCount)
    try x.withUnsafeBufferPointer { xb in
        try y.withUnsafeMutableBufferPointer { try prepared.run(input: xb, output: $0, batch: n) }
    }
    return y
}

/// The backends to compare (onednn only where it is available).
var modelBackends: [String] {
    var names = ["direct", "winograd", "auto"]
    if OneDNNBackend().availability.isAvailable { names.append("onednn") }
    return names
}

let issueJSON = """
    {"input": [3, 16, 16], "layers": [{"type": "conv", "name": "c1", "filters": 16, "size": 5, "stride": 1, "pad": 2, "activation": "relu"}, {"type": "pool", "mode": "max", "size": 2, "stride": 2}, {"type": "relu"}, {"type": "fc", "name": "fc1", "units": 10, "activation": "relu"}, {"type": "softmax"}]}
    """

func spec(_ json: String) throws -> ModelSpec {
    try ModelSpec(name: "test", json: JSONValue.parse(Data(json.utf8), path: "test.json"), path: "test.json")
}

func errorText(_ body: () throws -> Void) -> String {
    do { try body() } catch { return "\(error)" }
    return "no error"
}

@Suite("Models")
struct ModelTests {
    @Test("built-in models give the same outputs on every backend, batch 1 and 7",
          arguments: ["lenet5", "convnetjs-mnist", "convnetjs-cifar10"], [1, 7])
    func builtInsAgreeAcrossBackends(name: String, batch: Int) throws {
        let model = try SequentialModel.builtIn(named: name)
        model.initializeWeights(seed: 9)
        var rng = TestRandom(seed: UInt64(batch))
        let x = rng.uniform(batch * model.inputShape.count)
        let ref = try runModel(model, x, batch: batch, backend: "reference")
        #expect(ref.count == batch * 10)
        for n in 0..<batch {
            let s = ref[n * 10 ..< (n + 1) * 10].reduce(0.0) { $0 + Double($1) }
            #expect(abs(s - 1) < 1e-5)
        }
        for backend in modelBackends {
            let y = try runModel(model, x, batch: batch, backend: backend)
            #expect(normalizedMaxError(y, ref) < 1e-4, "\(name) batch \(batch) on \(backend)")
        }
    }

    @Test("a run with fewer samples than prepared equals the full run's first samples")
    func smallerBatch() throws {
        let model = try SequentialModel.builtIn(named: "convnetjs-cifar10")
        model.initializeWeights(seed: 1)
        var rng = TestRandom(seed: 4)
        let x = rng.uniform(7 * model.inputShape.count)
        let full = try runModel(model, x, batch: 7, backend: "direct")
        let part = try runModel(model, x, batch: 7, backend: "direct", runBatch: 3)
        #expect(normalizedMaxError(part, Array(full[0..<30])) < 1e-5)
        let one = try runModel(model, Array(x[0..<model.inputShape.count]), batch: 1, backend: "direct")
        #expect(normalizedMaxError(one, Array(full[0..<10])) < 1e-5)
    }

    @Test("results do not depend on the thread count, and concurrent runs agree")
    func threadsAndConcurrency() async throws {
        let model = try SequentialModel.builtIn(named: "convnetjs-mnist")
        model.initializeWeights(seed: 2)
        var rng = TestRandom(seed: 5)
        let x = rng.uniform(4 * model.inputShape.count)
        let y1 = try runModel(model, x, batch: 4, backend: "direct", threads: 1)
        #expect(try runModel(model, x, batch: 4, backend: "direct", threads: 2) == y1)
        let prepared = try model.prepare(batch: 4, backend: "direct", threads: 1)
        let input = try Tensor(shape: TensorShape(n: 4, c: 1, h: 24, w: 24), values: x)
        let outputs = try await withThrowingTaskGroup(of: [Float].self) { group in
            for _ in 0..<4 { group.addTask { try prepared.run(input).scalars } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outputs.count == 4)
        #expect(outputs.allSatisfy { $0 == y1 })
    }

    @Test("the issue's minimum JSON form works")
    func issueJSONForm() throws {
        let model = try SequentialModel(spec: spec(issueJSON))
        #expect(model.layers.map(\.name) == ["c1", "pool1", "relu1", "fc1", "softmax1"])
        #expect(model.layers.map(\.typeName) == ["conv", "maxpool", "relu", "fc", "softmax"])
        #expect(model.outputShape == TensorShape(n: 1, c: 10, h: 1, w: 1))
        #expect(model.parameterCount == 16 * 3 * 25 + 16 + 16 * 8 * 8 * 10 + 10)
        model.initializeWeights(seed: 3)
        var rng = TestRandom(seed: 6)
        let x = rng.uniform(2 * 3 * 16 * 16)
        let ref = try runModel(model, x, batch: 2, backend: "reference")
        #expect(normalizedMaxError(try runModel(model, x, batch: 2, backend: "auto"), ref) < 1e-4)
        // The ReLU after fc1 is part of fc1; the standalone ReLU after the pool runs on its own.
        let plan = try model.plan()
        #expect(plan[2].fusedInto == nil)
        #expect(plan[0].backend != nil)
    }

    @Test("optional keys: groups, dilation, asymmetric pad, no bias, batchnorm, dropout, flatten, gap, avg pool")
    func optionalKeys() throws {
        let json = """
            {"input": [4, 12, 12], "layers": [
              {"type": "conv", "name": "c1", "filters": 8, "size": 3, "pad": [1, 0, 1, 3], "groups": 2, "bias": false},
              {"type": "batchnorm", "name": "bn1"},
              {"type": "relu"},
              {"type": "conv", "name": "c2", "filters": 8, "size": [3, 1], "dilation": 2, "pad": [2, 0]},
              {"type": "pool", "mode": "avg", "size": 2, "stride": 2, "pad": 1},
              {"type": "batchnorm", "name": "bn2"},
              {"type": "dropout", "rate": 0.2},
              {"type": "gap"},
              {"type": "flatten"},
              {"type": "fc", "name": "out", "units": 3},
              {"type": "softmax"}]}
            """
        let model = try SequentialModel(spec: spec(json))
        #expect(model.outputShapes[0] == TensorShape(n: 1, c: 8, h: 12, w: 13))
        #expect(model.outputShapes[3] == TensorShape(n: 1, c: 8, h: 12, w: 13))
        model.initializeWeights(seed: 4)
        var rng = TestRandom(seed: 8)
        for bn in ["bn1", "bn2"] {
            let layer = model.layer(named: bn)!
            try layer.setParameter(named: "weight", values: rng.uniform(8))
            try layer.setParameter(named: "bias", values: rng.uniform(8))
            try layer.setParameter(named: "running_mean", values: rng.uniform(8))
            try layer.setParameter(named: "running_var", values: rng.uniform(8).map { abs($0) + 0.1 })
        }
        let plan = try model.plan(backend: "direct")
        #expect(plan[1].fusedInto == "c1" && plan[2].fusedInto == "c1" && plan[0].foldsBatchNorm)
        #expect(plan[5].fusedInto == nil)
        let x = rng.uniform(7 * 4 * 12 * 12)
        let ref = try runModel(model, x, batch: 7, backend: "reference")
        for backend in modelBackends {
            #expect(normalizedMaxError(try runModel(model, x, batch: 7, backend: backend), ref) < 1e-4, "\(backend)")
        }
    }

    @Test("BatchNorm folded into the convolution equals the unfolded evaluation")
    func batchNormFolding() throws {
        let conv = try Conv2D(name: "c", inputChannels: 3, filters: 4, kernelHeight: 3, kernelWidth: 3, padding: Padding(1))
        let bn = try BatchNorm2D(name: "bn", channels: 4)
        let model = try SequentialModel(input: TensorShape(n: 1, c: 3, h: 6, w: 6), layers: [conv, bn, ReLU(name: "r")])
        model.initializeWeights(seed: 5)
        var rng = TestRandom(seed: 12)
        try conv.setParameter(named: "bias", values: rng.uniform(4))
        let g = rng.uniform(4), b = rng.uniform(4), m = rng.uniform(4), v = rng.uniform(4).map { abs($0) + 0.05 }
        try bn.setParameter(named: "weight", values: g)
        try bn.setParameter(named: "bias", values: b)
        try bn.setParameter(named: "running_mean", values: m)
        try bn.setParameter(named: "running_var", values: v)
        let x = rng.uniform(2 * 3 * 36)
        let folded = try runModel(model, x, batch: 2, backend: "reference")
        #expect(try model.plan()[1].fusedInto == "c")
        // Unfolded: the convolution alone, then BN and ReLU by their formulas.
        let convOnly = try SequentialModel(input: model.inputShape, layers: [conv])
        let y = try runModel(convOnly, x, batch: 2, backend: "reference")
        var expected = [Float]()
        for (i, value) in y.enumerated() {
            let c = (i / 36) % 4
            let t = (Double(value) - Double(m[c])) / (Double(v[c]) + 1e-5).squareRoot() * Double(g[c]) + Double(b[c])
            expected.append(Float(max(t, 0)))
        }
        #expect(normalizedMaxError(folded, expected) < 1e-5)
    }

    @Test("VGG-16 and AlexNet: shapes, parameter counts, FLOPs and summary (not run in debug tests)")
    func largeModels() throws {
        let vgg = try SequentialModel.builtIn(named: "vgg16")
        #expect(vgg.parameterCount == 138_357_544)
        #expect(vgg.outputShape == TensorShape(n: 1, c: 1000, h: 1, w: 1))
        #expect(vgg.layer(named: "features.28") is Conv2D)
        #expect(vgg.layer(named: "classifier.6") is Linear)
        let summary = try vgg.summary(backend: "winograd")
        // 15.47 GMAC of convolutions and fc layers.
        #expect(abs(Double(summary.flops) / 1e9 - 30.95) < 0.01)
        #expect(summary.layers.filter { $0.backend == "winograd" }.count == 13)
        #expect(summary.render().contains("Total params: 138,357,544"))
        let alex = try SequentialModel.builtIn(named: "alexnet")
        #expect(alex.parameterCount == 61_100_840)
        #expect(alex.outputShapes[7] == TensorShape(n: 1, c: 256, h: 6, w: 6))
        let a = try alex.summary(backend: "winograd")
        // The 11x11 and 5x5 layers fall back to direct, with the reason.
        #expect(a.layers[0].backend == "direct")
        #expect(a.layers[0].fallbackReason?.contains("3x3") == true)
        #expect(a.layers[4].backend == "winograd")
        let lenet = try SequentialModel.builtIn(named: "lenet5")
        #expect(lenet.parameterCount == 61_706)
        #expect(try SequentialModel.builtIn(named: "convnetjs-mnist").outputShapes.map(\.dims) ==
                [[1, 8, 24, 24], [1, 8, 12, 12], [1, 16, 12, 12], [1, 16, 4, 4], [1, 10, 1, 1], [1, 10, 1, 1]])
    }

    @Test("summary: receptive fields, backends and per-layer overrides")
    func summaryAndOverrides() throws {
        let model = try SequentialModel.builtIn(named: "convnetjs-mnist")
        let plan = try model.plan(backend: "direct", overrides: ["conv2": "reference"])
        #expect(plan.map(\.receptiveField.height) == [5, 6, 14, 18, 36, 36])
        #expect(plan[0].backend == "direct" && plan[2].backend == "reference")
        model.initializeWeights(seed: 1)
        let prepared = try model.prepare(batch: 1, backend: "direct", threads: 1, overrides: ["conv2": "reference"])
        #expect(prepared.backends == ["conv1": "direct", "conv2": "reference"])
        let text = try model.summary(backend: "direct").render()
        #expect(text.contains("conv1") && text.contains("Total params: 5,994"))
        #expect(errorText { _ = try model.plan(overrides: ["nope": "direct"]) }.contains("unknown layer 'nope'"))
        #expect(errorText { _ = try model.plan(overrides: ["pool1": "direct"]) }.contains("not a convolution"))
        #expect(throws: ConvError.unknownBackend(name: "fast", known: BackendRegistry.shared.names)) {
            _ = try model.plan(backend: "fast")
        }
    }

    @Test("weights: safetensors round trip gives the same outputs; missing and mis-shaped tensors are named")
    func weightsRoundTrip() throws {
        let model = try SequentialModel.builtIn(named: "convnetjs-mnist")
        model.initializeWeights(seed: 77)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ck-model-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try model.saveWeights(path: path)
        let loaded = try SequentialModel.builtIn(named: "convnetjs-mnist")
        try loaded.loadWeights(path: path)
        var rng = TestRandom(seed: 3)
        let x = rng.uniform(2 * 24 * 24)
        #expect(try runModel(loaded, x, batch: 2, backend: "direct") == runModel(model, x, batch: 2, backend: "direct"))
        let file = try SafeTensorsFile(path: path)
        #expect(file.names == ["conv1.bias", "conv1.weight", "conv2.bias", "conv2.weight", "fc1.bias", "fc1.weight"])
        #expect(file.entries["fc1.weight"]?.shape == [10, 256])

        var tensors = try model.weightTensors()
        tensors.removeAll { $0.name == "conv2.bias" }
        let missing = try SafeTensorsFile(data: SafeTensorsWriter.encode(tensors), path: "w.safetensors")
        #expect(throws: ConvError.invalidFile(path: "w.safetensors", reason: "weights do not match model 'convnetjs-mnist': 1 missing tensor: conv2.bias [16]")) {
            try loaded.loadWeights(from: missing)
        }
        // Surplus tensors are listed too (PyTorch's num_batches_tracked counters are ignored).
        var surplus = try model.weightTensors()
        surplus.append(SafeTensor(name: "fc2.weight", shape: [1], values: [0]))
        surplus.append(SafeTensor(name: "bn.num_batches_tracked", shape: [1], values: [0]))
        let extra = try SafeTensorsFile(data: SafeTensorsWriter.encode(surplus), path: "w.safetensors")
        #expect(throws: ConvError.invalidFile(path: "w.safetensors", reason: "weights do not match model 'convnetjs-mnist': 1 tensor the model does not use: fc2.weight")) {
            try loaded.loadWeights(from: extra)
        }
        tensors.append(SafeTensor(name: "conv2.bias", shape: [4, 4], values: .init(repeating: 0, count: 16)))
        let misShaped = try SafeTensorsFile(data: SafeTensorsWriter.encode(tensors), path: "w.safetensors")
        #expect(throws: ConvError.shapeMismatch(what: "tensor 'conv2.bias' in w.safetensors", expected: [16], actual: [4, 4])) {
            try loaded.loadWeights(from: misShaped)
        }
        // A failed load changes nothing.
        #expect(try runModel(loaded, x, batch: 2, backend: "direct") == runModel(model, x, batch: 2, backend: "direct"))
    }

    @Test("without weights, preparation fails naming the layer; initialisation is deterministic")
    func initialisation() throws {
        let model = try SequentialModel.builtIn(named: "lenet5")
        #expect(errorText { _ = try model.prepare() }.contains("layer 0 'conv1' (conv)"))
        model.initializeWeights(seed: 10)
        let again = try SequentialModel.builtIn(named: "lenet5")
        again.initializeWeights(seed: 10)
        #expect(try model.weightTensors() == again.weightTensors())
        again.initializeWeights(seed: 11)
        #expect(try model.weightTensors() != again.weightTensors())
    }

    @Test("JSON errors are typed and name the layer or key", arguments: [
        ("{\"input\": [1, 8, 8], \"layers\": [", "malformed JSON"),
        ("{\"layers\": [{\"type\": \"relu\"}]}", "missing 'input'"),
        ("{\"input\": [1, 8], \"layers\": [{\"type\": \"relu\"}]}", "'input' must be [C, H, W]"),
        ("{\"input\": [1, 8, 8], \"layers\": []}", "non-empty array"),
        ("{\"input\": [1, 8, 8], \"layers\": [{\"name\": \"x\"}]}", "layer 0 has no 'type'"),
        ("{\"input\": [1, 8, 8], \"layers\": [{\"type\": \"relu\", \"name\": \"a\"}, {\"type\": \"relu\", \"name\": \"a\"}]}", "duplicate layer name 'a'"),
        ("{\"input\": [1, 8, 8], \"layer\": []}", "unknown top-level key 'layer'"),
    ])
    func fileErrors(json: String, expected: String) {
        let text = errorText { _ = try SequentialModel(spec: spec(json)) }
        #expect(text.contains(expected), "\(text)")
        #expect(text.hasPrefix("test.json: "))
    }

    @Test("layer errors name the layer", arguments: [
        ("{\"type\": \"conv3d\", \"name\": \"c\"}", "layer 0 'c' (conv3d): unknown layer type 'conv3d' (known: "),
        ("{\"type\": \"conv\", \"name\": \"c\", \"size\": 3}", "layer 0 'c' (conv): missing 'filters'"),
        ("{\"type\": \"conv\", \"filters\": 2, \"size\": 3, \"strid\": 2}", "layer 0 'conv1' (conv): unknown key 'strid'"),
        ("{\"type\": \"conv\", \"filters\": 2, \"size\": 9}", "layer 0 'conv1' (conv): effective kernel height 9 is larger"),
        ("{\"type\": \"conv\", \"filters\": 2, \"size\": 3, \"activation\": \"tanh\"}", "unknown activation 'tanh'"),
        ("{\"type\": \"conv\", \"filters\": \"two\", \"size\": 3}", "'filters' must be an integer"),
        ("{\"type\": \"pool\", \"mode\": \"min\", \"size\": 2}", "layer 0 'pool1' (pool): unknown pool mode 'min'"),
        ("{\"type\": \"fc\", \"units\": 0}", "'units' must be at least 1"),
        ("{\"type\": \"batchnorm\", \"eps\": -1}", "eps must be positive"),
    ])
    func layerErrors(layer: String, expected: String) {
        let json = "{\"input\": [1, 8, 8], \"layers\": [\(layer)]}"
        let text = errorText { _ = try SequentialModel(spec: spec(json)) }
        #expect(text.contains(expected), "\(text)")
    }

    @Test("a shape that does not fit names the layer index, name and type")
    func shapeErrorNamesLayer() {
        let json = """
            {"input": [1, 8, 8], "layers": [{"type": "conv", "name": "c1", "filters": 4, "size": 3},
              {"type": "pool", "name": "p", "size": 2}, {"type": "conv", "name": "c2", "filters": 4, "size": 5}]}
            """
        let text = errorText { _ = try SequentialModel(spec: spec(json)) }
        #expect(text == "layer 2 'c2' (conv): effective kernel height 5 is larger than the padded input height 3")
    }

    @Test("run argument errors are typed and write nothing")
    func runErrors() throws {
        let model = try SequentialModel.builtIn(named: "convnetjs-mnist")
        model.initializeWeights(seed: 1)
        let prepared = try model.prepare(batch: 2, backend: "direct", threads: 1)
        let x = [Float](repeating: 0.5, count: 3 * 576)
        var y = [Float](repeating: -7, count: 30)
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
                #expect(throws: ConvError.self) { try prepared.run(input: xb, output: yb, batch: 3) }
                #expect(throws: ConvError.nonPositive(parameter: "batch", value: 0)) { try prepared.run(input: xb, output: yb, batch: 0) }
                #expect(throws: ConvError.bufferTooSmall(what: "output", required: 20, actual: 5)) {
                    try prepared.run(input: xb, output: UnsafeMutableBufferPointer(rebasing: yb[0..<5]), batch: 2)
                }
            }
        }
        #expect(y.allSatisfy { $0 == -7 })
        #expect(throws: ConvError.shapeMismatch(what: "model input", expected: [1, 1, 24, 24], actual: [1, 3, 24, 24])) {
            _ = try prepared.run(Tensor(shape: TensorShape(n: 1, c: 3, h: 24, w: 24)))
        }
    }

    @Test("SequentialModel.named: built-in names, files, and a clear error for neither")
    func named() throws {
        #expect(try SequentialModel.named("convnetjs-cifar10").name == "convnetjs-cifar10")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ck-model-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try issueJSON.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try SequentialModel.named(path).layers.count == 5)
        #expect(errorText { _ = try SequentialModel.named("resnet") }.contains("not a built-in model (built-in: lenet5"))
    }
}
