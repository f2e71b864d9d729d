import Foundation
import Testing
import ConvKit

/// Runs `model` (weights set) prepared for `batch` on `backend` and returns the first output.
func runGraph(_ model: GraphModel, _ x: [Float], batch: Int, backend: String, threads: Int = 2,
              runBatch: Int? = nil) throws -> [Float] {
    try runModel(model, x, batch: batch, backend: backend, threads: threads, runBatch: runBatch)
}

/// A small graph exercising every node type: odd channels, a residual add fused into a conv,
/// an unfused add, a squeeze-and-excitation product, concat (in place and copied), both pooling
/// modes with ceil_mode and count_include_pad, pointwise functions, standalone BatchNorm.
func zooGraph(channels: Int = 5, size: Int = 12) throws -> GraphModel {
    let g = try GraphBuilder(input: [channels, size, size])
    let x = g.input
    let c1 = try g.relu(g.batchNorm(g.conv(x, filters: 7, size: 3, pad: 1, bias: false, name: "c1"), name: "bn1"), name: "r1")
    let c2 = try g.relu(g.conv(c1, filters: 7, size: 3, pad: 1, name: "c2"), name: "r2")
    let c3 = try g.batchNorm(g.conv(c2, filters: 7, size: 3, pad: 1, name: "c3"), name: "bn3")
    let res = try g.relu(g.add(c3, c1, name: "res"), name: "res_relu")               // fused into c3, over r1
    let side = try g.conv(x, filters: 7, size: 1, name: "side")
    let both = try g.add(side, res, name: "both")                                       // fused into side, over res
    let se = try g.pointwise(g.conv(g.globalAvgPool(both, name: "squeeze"), filters: 7, size: 1, name: "excite"), .sigmoid,
                             name: "gate")
    let scaled = try g.mul(both, se, name: "scale")
    let a = try g.relu6(g.conv(scaled, filters: 3, size: 1, name: "a"), name: "a6")
    let b = try g.conv(scaled, filters: 6, size: 3, pad: 2, dilation: 2, name: "b")
    let cat = try g.concat([a, b, scaled], name: "cat")                                 // a, b in place; scaled copied
    let mp = try g.maxPool(cat, size: 3, stride: 2, ceilMode: true, name: "mp")
    let ap = try g.avgPool(cat, size: 3, stride: 2, pad: 1, countIncludePad: false, name: "ap")
    let ap2 = try g.avgPool(cat, size: 3, stride: 2, ceilMode: true, name: "ap2")    // last window clipped
    let pooled = try g.add(g.add(mp, ap, name: "pools"), ap2, name: "pools2")
    let bn = try g.batchNorm(pooled, name: "bn_alone")                                   // not after a conv
    let dw = try g.pointwise(g.conv(bn, filters: 16, size: 3, pad: 1, groups: 16, name: "dw"), .hardSwish, name: "hs")
    let leaky = try g.pointwise(dw, .leakyReLU(alpha: 0.1), name: "leaky")
    let t = try g.pointwise(g.pointwise(leaky, .tanh, name: "tanh"), .hardSigmoid(alpha: 0.2, beta: 0.5), name: "hsig")
    let fc = try g.linear(g.dropout(g.flatten(t, name: "flat"), name: "drop"), units: 9, name: "fc")
    return try g.build(output: g.softmax(fc, name: "prob"), name: "zoo")
}

/// Sets every parameter (BatchNorm statistics random, so that folding is exercised).
func randomizeWeights(_ model: GraphModel, seed: UInt64) throws {
    model.initializeWeights(seed: seed)
    var rng = TestRandom(seed: seed ^ 0x5eed)
    for layer in model.layers where layer is BatchNorm2D {
        for p in layer.parameters {
            let v = rng.uniform(p.count)
            try layer.setParameter(named: p.name, values: p.name == "running_var" || p.name == "weight" ? v.map { 1 + 0.5 * $0 }
                                   : v.map { 0.2 * $0 })
        }
    }
    for layer in model.layers where layer is Conv2D || layer is Linear {
        if layer.parameters.contains(where: { $0.name == "bias" }) {
            try layer.setParameter(named: "bias", values: rng.uniform(layer.parameters[1].count).map { 0.1 * $0 })
        }
    }
}

@Suite("Graph models")
struct GraphModelTests {
    @Test("every node type matches the float64 oracle on every backend, batch 1 and 3, 1 and 2 threads")
    func zooAgainstOracle() throws {
        let model = try zooGraph()
        try randomizeWeights(model, seed: 11)
        for batch in [1, 3] {
            var rng = TestRandom(seed: UInt64(batch))
            let x = rng.uniform(batch * model.inputShape.count)
            let oracle = try GraphOracle.evaluate(model, input: x, batch: batch)["prob"]!.v
            for backend in ["reference"] + modelBackends {
                for threads in [1, 2] {
                    let y = try runGraph(model, x, batch: batch, backend: backend, threads: threads)
                    let err = normalizedMaxError(y, oracle)
                    #expect(err < (backend == "winograd" || backend == "auto" ? 1e-3 : 1e-4),
                            "backend \(backend), batch \(batch), \(threads) threads: error \(err)")
                }
            }
        }
    }

    @Test("fusions: BatchNorm folded, residual add and ReLU fused into the conv, concat written in place")
    func fusions() throws {
        let model = try zooGraph()
        let plans = try model.plan(backend: "direct")
        func plan(_ n: String) -> LayerPlan { plans.first { $0.name == n }! }
        #expect(plan("bn1").fusedInto == "c1")
        #expect(plan("r1").fusedInto == "c1")
        #expect(plan("c3").foldsBatchNorm)
        #expect(plan("c3").fusedAdd == "res" && plan("c3").residual == "r1")
        #expect(plan("res_relu").fusedInto == "c3")
        #expect(plan("r2").fusedInto == "c2")
        #expect(plan("both").fusedInto == "side" && plan("side").residual == "res_relu")  // over the first add's output
        #expect(plan("a6").fusedInto == "a")
        #expect(plan("a").writesIntoConcat == "cat" && plan("b").writesIntoConcat == "cat")
        #expect(plan("scale").writesIntoConcat == nil)  // also read by a and b
        #expect(plan("bn_alone").fusedInto == nil)
        #expect(plan("c3").fusionText.contains("+ res"))
        let summary = try model.summary(backend: "direct").render()
        #expect(summary.contains("writes into cat") && summary.contains("Activation memory"))
    }

    @Test("built-in torchvision models (reduced input) match the float64 oracle end to end and node by node",
          arguments: ["resnet18", "resnet50", "mobilenet_v2", "squeezenet1_1"])
    func torchvisionAgainstOracle(name: String) throws {
        let model = try BuiltInModels.model(named: name, input: [3, name == "squeezenet1_1" ? 67 : 48, 48])
        try randomizeWeights(model, seed: 5)
        var rng = TestRandom(seed: 9)
        let x = rng.uniform(2 * model.inputShape.count)
        let env = try GraphOracle.evaluate(model, input: x, batch: 2)
        let oracle = env[model.outputNames[0]]!.v
        for backend in modelBackends {
            let y = try runGraph(model, x, batch: 2, backend: backend)
            let err = normalizedMaxError(y, oracle)
            #expect(err < (backend == "winograd" || backend == "auto" ? 1e-3 : 1e-4), "\(name) on \(backend): \(err)")
        }
        // Node by node: the graph truncated at every merge point (adds, concats) and the pools.
        let checked = model.nodes.filter { $0.layer is Elementwise || $0.layer is Concat || $0.layer is PoolingLayer }
        #expect(!checked.isEmpty)
        for node in checked {
            let sub = try GraphModel(name: name, input: model.inputShape, nodes: model.nodes, outputs: [node.name])
            let y = try runGraph(sub, x, batch: 2, backend: "direct")
            let err = normalizedMaxError(y, env[node.name]!.v)
            #expect(err < 1e-4, "\(name) node \(node.name): \(err)")
        }
    }

    @Test("torchvision architectures: parameter counts, state_dict names, logits [N, 1000]")
    func torchvisionStructure() throws {
        let expected = ["resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
                        "mobilenet_v2": 3_504_872, "squeezenet1_1": 1_235_496]
        for (name, count) in expected {
            let m = try BuiltInModels.model(named: name)
            #expect(m.parameterCount == count, "\(name)")
            #expect(m.outputShape == TensorShape(n: 1, c: 1000, h: 1, w: 1), "\(name)")
        }
        let r50 = try BuiltInModels.model(named: "resnet50")
        let names = Set(r50.layers.flatMap { l in l.parameters.map { "\(l.name).\($0.name)" } })
        for n in ["conv1.weight", "bn1.running_var", "layer1.0.bn1.running_var", "layer2.0.downsample.0.weight",
                  "layer4.2.conv3.weight", "fc.weight", "fc.bias"] {
            #expect(names.contains(n), "\(n)")
        }
        let mb = try BuiltInModels.model(named: "mobilenet_v2")
        let mbNames = Set(mb.layers.flatMap { l in l.parameters.map { "\(l.name).\($0.name)" } })
        for n in ["features.0.0.weight", "features.1.conv.0.0.weight", "features.1.conv.1.weight", "features.2.conv.3.bias",
                  "features.18.1.running_var", "classifier.1.weight"] {
            #expect(mbNames.contains(n), "\(n)")
        }
        let sq = try BuiltInModels.model(named: "squeezenet1_1")
        #expect(sq.layer(named: "features.3.expand3x3")?.parameters.map(\.shape) == [[64, 16, 3, 3], [64]])
        // Residual adds of ResNet-50 are all fused (16 blocks), with their ReLU.
        let plans = try r50.plan(backend: "direct")
        #expect(plans.filter { $0.fusedAdd != nil }.count == 16)
        #expect(plans.filter { $0.typeName == "add" && $0.fusedInto == nil }.isEmpty)
        // MobileNetV2's 10 residual adds are fused into their projection convolutions.
        #expect(try mb.plan(backend: "direct").filter { $0.fusedAdd != nil }.count == 10)
        #expect(try sq.plan(backend: "direct").filter { $0.writesIntoConcat != nil }.count == 16)
    }

    @Test("native backends are bit-identical for 1, 2, 4, 5, 8 and 16 threads; concurrent runs equal serial runs")
    func determinismAndConcurrency() async throws {
        let model = try BuiltInModels.model(named: "resnet18", input: [3, 40, 40])
        try randomizeWeights(model, seed: 2)
        var rng = TestRandom(seed: 4)
        let x = rng.uniform(2 * model.inputShape.count)
        for backend in ["direct", "winograd", "auto"] {
            let one = try runGraph(model, x, batch: 2, backend: backend, threads: 1)
            for threads in [2, 4, 5, 8, 16] {
                #expect(try runGraph(model, x, batch: 2, backend: backend, threads: threads) == one, "\(backend), \(threads) threads")
            }
        }
        let zoo = try zooGraph()
        try randomizeWeights(zoo, seed: 3)
        let prepared = try zoo.prepare(batch: 4, backend: "auto", threads: 2)
        let inputs = (0..<8).map { i -> [Float] in var r = TestRandom(seed: UInt64(100 + i)); return r.uniform(4 * zoo.inputShape.count) }
        func run(_ x: [Float], threads: Int? = nil) throws -> [Float] {
            var y = [Float](repeating: 0, count: 4 * prepared.outputSampleCount)
            try x.withUnsafeBufferPointer { xb in
                try y.withUnsafeMutableBufferPointer { try prepared.run(input: xb, output: $0, threads: threads) }
            }
            return y
        }
        let serial = try inputs.map { try run($0) }
        // Concurrent runs, each with its own thread count (1 to 16 on this machine's cores).
        let concurrent = try await withThrowingTaskGroup(of: (Int, [Float]).self) { group in
            for (i, x) in inputs.enumerated() { group.addTask { (i, try run(x, threads: [1, 2, 4, 8, 16][i % 5])) } }
            var r = [[Float]](repeating: [], count: inputs.count)
            for try await (i, y) in group { r[i] = y }
            return r
        }
        #expect(concurrent == serial)
    }

    @Test("a run of fewer samples than prepared equals the same samples prepared alone (concat slices sample by sample)")
    func smallerBatches() throws {
        let model = try zooGraph()
        try randomizeWeights(model, seed: 8)
        var rng = TestRandom(seed: 1)
        let x = rng.uniform(5 * model.inputShape.count)
        let full = try runGraph(model, x, batch: 5, backend: "direct")
        let two = try runGraph(model, Array(x[0..<(2 * model.inputShape.count)]), batch: 5, backend: "direct", runBatch: 2)
        let alone = try runGraph(model, Array(x[0..<(2 * model.inputShape.count)]), batch: 2, backend: "direct")
        #expect(two == alone)
        #expect(normalizedMaxError(Array(full[0..<two.count]), two.map(Double.init)) < 1e-6)
    }

    @Test("memory is planned by lifetime: the arena is far smaller than all tensors together")
    func memoryPlan() throws {
        let model = try BuiltInModels.model(named: "resnet50")
        let arena = try model.activationBytes()
        let all = model.outputShapes.reduce(0) { $0 + $1.count * 4 }
        #expect(arena > 0 && arena * 8 < all, "arena \(arena) bytes, all tensors \(all) bytes")
        // At least the two largest live tensors of the stem (conv1 output and the pooled one).
        #expect(arena >= (64 * 112 * 112 + 64 * 56 * 56) * 4)
    }

    @Test("graph model files: inputs per node, outputs, any order; a Swift-built model saves and loads back")
    func modelFiles() throws {
        let json = """
            {"input": [4, 9, 9], "outputs": ["out"], "layers": [
              {"type": "relu", "name": "out", "inputs": "sum"},
              {"type": "conv", "name": "c2", "filters": 4, "size": 3, "pad": 1, "inputs": ["r1"]},
              {"type": "conv", "name": "c1", "filters": 4, "size": 3, "pad": 1, "inputs": "input"},
              {"type": "relu", "name": "r1", "inputs": "c1"},
              {"type": "add", "name": "sum", "inputs": ["c2", "input"]}]}
            """
        let model = try GraphModel(spec: spec(json))
        #expect(model.nodes.map(\.name) == ["c1", "r1", "c2", "sum", "out"])
        try randomizeWeights(model, seed: 1)
        var rng = TestRandom(seed: 2)
        let x = rng.uniform(model.inputShape.count)
        let oracle = try GraphOracle.evaluate(model, input: x, batch: 1)["out"]!.v
        #expect(normalizedMaxError(try runGraph(model, x, batch: 1, backend: "direct"), oracle) < 1e-5)

        let zoo = try zooGraph()
        try randomizeWeights(zoo, seed: 6)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ck-graph-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try zoo.save(path: dir.appendingPathComponent("zoo.json").path)
        try zoo.saveWeights(path: dir.appendingPathComponent("zoo.safetensors").path)
        let loaded = try GraphModel.load(path: dir.appendingPathComponent("zoo.json").path)
        try loaded.loadWeights(path: dir.appendingPathComponent("zoo.safetensors").path)
        #expect(loaded.nodes.map(\.name) == zoo.nodes.map(\.name))
        let xz = rng.uniform(2 * zoo.inputShape.count)
        #expect(try runGraph(loaded, xz, batch: 2, backend: "direct") == runGraph(zoo, xz, batch: 2, backend: "direct"))
        // A built-in graph round-trips too.
        let r18 = try BuiltInModels.model(named: "resnet18")
        let again = try GraphModel(spec: r18.spec())
        #expect(again.parameterCount == r18.parameterCount && again.nodes.count == r18.nodes.count)
    }

    @Test("bad graphs are typed errors naming the node",
          arguments: [
            (#"[{"type": "relu", "name": "a", "inputs": "b"}, {"type": "relu", "name": "b", "inputs": "a"}]"#, "cycle through nodes 'a', 'b'"),
            (#"[{"type": "relu", "name": "a", "inputs": "nope"}]"#, "node 0 'a' reads 'nope', which is neither"),
            (#"[{"type": "relu", "name": "a"}, {"type": "relu", "name": "a"}]"#, "duplicate layer name 'a'"),
            (#"[{"type": "relu", "name": "input"}]"#, "named 'input', the name of the model's input"),
            (#"[{"type": "conv", "name": "c", "filters": 3, "size": 1}, {"type": "add", "name": "s", "inputs": ["c", "input"]}]"#,
             "layer 1 's' (add): input 1 of add 's'"),
            (#"[{"type": "maxpool", "name": "p", "size": 2}, {"type": "concat", "name": "k", "inputs": ["p", "input"]}]"#,
             "input 1 of concat 'k' (N, H, W must match input 0)"),
            (#"[{"type": "add", "name": "s", "inputs": ["input"]}]"#, "takes 2 inputs, got 1"),
            (#"[{"type": "relu", "name": "r", "inputs": ["input", "input"]}]"#, "takes 1 input, got 2"),
            (#"[{"type": "relu", "name": "r", "inputs": 3}]"#, "'inputs' must be a tensor name"),
          ])
    func badGraphs(layers: String, expected: String) {
        let text = errorText { _ = try GraphModel(spec: spec(#"{"input": [4, 6, 6], "layers": "# + layers + "}")) }
        #expect(text.contains(expected), "\(text)")
    }

    @Test("Swift graphs: unknown outputs, foreign values and non-fitting inputs are typed errors")
    func builderErrors() throws {
        let g = try GraphBuilder(input: [3, 8, 8])
        let a = try g.conv(g.input, filters: 4, size: 3)
        let other = try GraphBuilder(input: [3, 9, 9])
        #expect(errorText { _ = try g.add(a, other.input) }.contains("is not a tensor of this builder"))
        #expect(errorText { _ = try g.conv(a, filters: 4, size: 9) }.contains("conv"))
        #expect(errorText { _ = try g.concat([a, g.input]) }.contains("must match input 0"))
        #expect(errorText { _ = try GraphModel(input: g.input.shape, nodes: [], outputs: nil) }.contains("at least one node"))
        #expect(errorText { _ = try g.build(outputs: [GraphBuilder.Value(name: "zz", shape: a.shape)]) }.contains("unknown output tensor 'zz'"))
    }

    @Test("an accumulating convolution adds to the output on every backend (native or by a second pass)")
    func accumulate() throws {
        let cases: [Conv2DDescriptor] = [
            Conv2DDescriptor(batch: 2, channels: 13, height: 9, width: 11, filters: 21, size: 3, pad: 1, activation: .relu),
            Conv2DDescriptor(channels: 16, height: 7, width: 7, filters: 16, size: 1),
            Conv2DDescriptor(channels: 8, height: 10, width: 10, filters: 8, size: 3, pad: 1, groups: 8, activation: .relu6),
            Conv2DDescriptor(channels: 24, height: 12, width: 12, filters: 17, size: 3, pad: 1),
        ]
        let backends: [any ConvBackend] = [DirectBackend(), DirectBackend(algorithm: .implicitGEMM), WinogradBackend()]
            + (OneDNNBackend().availability.isAvailable ? [OneDNNBackend()] : [])
        var rng = TestRandom(seed: 17)
        for var d in cases {
            d.accumulate = true
            let w = rng.uniform(d.weightCount), b = rng.uniform(d.outputChannels), x = rng.uniform(d.inputCount)
            let prior = rng.uniform(d.outputCount)
            var want = prior
            try ReferenceBackend().prepare(d, weights: w, bias: b).execute(
                input: x.withUnsafeBufferPointer { $0 }, output: want.withUnsafeMutableBufferPointer { $0 }, threads: 1)
            for backend in backends where backend.support(for: { var p = d; p.accumulate = false; return p }()).isSupported {
                var y = prior
                let conv = try backend.prepareAccumulating(d, weights: w.withUnsafeBufferPointer { $0 },
                                                           bias: b.withUnsafeBufferPointer { $0 })
                try x.withUnsafeBufferPointer { xb in try y.withUnsafeMutableBufferPointer { try conv.execute(input: xb, output: $0, threads: 2) } }
                #expect(normalizedMaxError(y, want) < 1e-4, "\(backend.name) \(d): \(conv.implementation)")
            }
        }
        var d = cases[0]
        d.accumulate = true
        #expect(errorText { _ = try WinogradBackend().prepare(d, weights: [Float](repeating: 0, count: d.weightCount),
                                                             bias: [Float](repeating: 0, count: d.outputChannels)) }
            .contains("accumulating into the output is not supported"))
    }
}
