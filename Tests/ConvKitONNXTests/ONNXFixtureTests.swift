import ConvKit
import ConvKitONNX
import Foundation
import Testing

/// The committed fixtures (ONNX files written with the `onnx` package, each block in another
/// exporter style) against ONNX Runtime's outputs for the same inputs: an oracle independent of
/// ConvKit. See scripts/peers/make_onnx_fixtures.py.
@Suite struct ONNXFixtureTests {
    static let names = ["resnet_basic_bn", "resnet_bottleneck_folded", "fire_concat", "mobilenet_clip_attrs",
                        "mobilenet_clip_inputs", "se_dilated_grouped", "external_f16", "alexnet_lrn"]

    @Test(arguments: names)
    func matchesONNXRuntime(name: String) throws {
        let model = try ONNXImporter.load(path: "\(fixtures)/\(name).onnx")
        let x = try NumPyArray.read(path: "\(fixtures)/\(name).input.npy")
        let want = try NumPyArray.read(path: "\(fixtures)/\(name).ort.npy")
        let batch = x.shape[0]
        #expect([batch] + model.outputSampleDimensions == want.shape, "output shape as ONNX declares it")
        for backend in testBackends {
            let y = try run(model, x.values, batch: batch, backend: backend)
            // Winograd's transforms round more than a direct sum; the others agree with ORT to
            // float32 accumulation order.
            let tolerance = backend == "winograd" || backend == "auto" ? 1e-4 : 1e-5
            let err = relativeError(y, want.values)
            #expect(err <= tolerance, "\(name) on \(backend): normalized error \(err)")
            // A smaller batch than prepared: the first sample alone.
            let one = try run(model, Array(x.values.prefix(x.values.count / batch)), batch: 1, backend: backend)
            #expect(relativeError(one, Array(want.values.prefix(want.values.count / batch))) <= tolerance)
        }
    }

    /// The README's example, on a fixture.
    @Test func readmeExample() throws {
        let model = try ONNXImporter.load(path: "\(fixtures)/resnet_basic_bn.onnx")
        let prepared = try model.prepare(batch: 8, backend: "auto")
        let x = try Tensor(shape: TensorShape(n: 2, c: 8, h: 12, w: 12), values: randomValues(2 * 8 * 12 * 12, seed: 2))
        let y = try prepared.run(x)
        #expect(y.shape == TensorShape(n: 2, c: 10, h: 1, w: 1))
        #expect([2] + model.outputSampleDimensions == [2, 10])
    }

    /// The fixtures' exporter features map onto ConvKit's own nodes and fusions.
    @Test func importsIntoConvKitNodes() throws {
        let basic = try ONNXImporter.load(path: "\(fixtures)/resnet_basic_bn.onnx")
        let plan = try basic.plan(batch: 1, backend: "direct")
        let fused = plan.filter { $0.typeName == "conv" }.map(\.fusionText)
        #expect(fused.filter { $0.contains("BN folded") }.count == 5)
        // The first block adds the model input, which a conv must not overwrite: that add stays.
        #expect(fused.filter { $0.contains("residual") }.count == 1, "the second residual add fused into a conv: \(fused)")

        let folded = try ONNXImporter.load(path: "\(fixtures)/resnet_bottleneck_folded.onnx")
        let types = folded.nodes.map(\.layer.typeName)
        #expect(types.filter { $0 == "fc" }.count == 1 && types.filter { $0 == "add" }.count == 1,
                "MatMul + Add became one fc layer; only the residual add remains: \(types)")
        // The Shape/Gather/Unsqueeze/Concat/Reshape chain folds away: [N, 16, 1, 1] to [N, 16] is
        // the same memory, so the fc reads the mean directly.
        let fc = try #require(folded.nodes.first { $0.layer is Linear })
        #expect(folded.nodes.first { $0.name == fc.inputs[0] }?.layer is GlobalAvgPool)
        #expect(!types.contains("reshape") && !types.contains("flatten"))

        let attrs = try ONNXImporter.load(path: "\(fixtures)/mobilenet_clip_attrs.onnx")
        let conv = try attrs.plan(batch: 1, backend: "direct").filter { $0.typeName == "conv" }
        #expect(conv.prefix(2).allSatisfy { $0.fusedActivation == .clamp(min: 0, max: 6) }, "ReLU6 fused into the convs")
    }
}

/// Local response normalisation against its definition in float64, odd and even window sizes
/// (ONNX Runtime takes odd sizes only), and windows wider than the channels.
@Suite struct LocalResponseNormTests {
    @Test(arguments: [1, 2, 3, 4, 5, 9])
    func matchesTheDefinition(size: Int) throws {
        let (n, c, h, w) = (2, 7, 3, 5)
        let x = randomValues(n * c * h * w, seed: UInt64(size)).map { $0 * 3 }
        let lrn = try LocalResponseNorm(name: "lrn", size: size, alpha: 0.2, beta: 0.75, bias: 1.5)
        let g = try GraphBuilder(input: [c, h, w])
        let model = try g.build(output: g.add(lrn, inputs: [g.input]))
        let y = try run(model, x, batch: n, backend: "direct")
        var want = [Float](repeating: 0, count: x.count)
        let before = (size - 1) / 2, after = size - 1 - before
        for s in 0..<n { for ch in 0..<c { for p in 0..<(h * w) {
            var sum = 0.0
            for i in max(0, ch - before)...min(c - 1, ch + after) { let v = Double(x[(s * c + i) * h * w + p]); sum += v * v }
            let v = Double(x[(s * c + ch) * h * w + p])
            want[(s * c + ch) * h * w + p] = Float(v / pow(1.5 + 0.2 / Double(size) * sum, 0.75))
        } } }
        #expect(relativeError(y, want) <= 1e-6, "size \(size)")
    }
}
