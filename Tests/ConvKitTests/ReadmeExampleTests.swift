import Foundation
import ConvKit
import Testing

/// The README's "Using the library" example, compiled and run, so the README cannot drift
/// from the API.
@Suite("README example")
struct ReadmeExampleTests {
    @Test("the library example runs as written")
    func libraryExample() throws {
        // 3x32x32 input, 10 filters of 5x5, stride 1, zero padding 2, fused ReLU.
        let d = Conv2DDescriptor(channels: 3, height: 32, width: 32, filters: 10, size: 5,
                                 stride: 1, pad: 2, activation: .relu)
        #expect(d.outputShape == [1, 10, 32, 32])
        #expect(d.parameterCount == 760)
        #expect(d.flops == 1_536_000)

        var rng = TestRandom(seed: 1)
        let weights = rng.uniform(d.weightCount), bias = rng.uniform(10)
        let x = try Tensor(shape: TensorShape(d.inputShape), values: rng.uniform(d.inputCount))

        let backend = try BackendRegistry.shared.backend(named: "auto")
        let conv = try backend.prepare(d, weights: weights, bias: bias)
        let y = try conv.execute(x, threads: 2)
        #expect(y.shape.dims == d.outputShape)
        #expect(y.scalars.allSatisfy { $0 >= 0 })   // fused ReLU

        // On caller-owned memory, no copies.
        var out = [Float](repeating: 0, count: d.outputCount)
        try x.withUnsafeBufferPointer { xb in
            try out.withUnsafeMutableBufferPointer { yb in try conv.execute(input: xb, output: yb, threads: nil) }
        }
        #expect(out == y.scalars)
    }

    @Test("the graph model example runs as written")
    func modelExample() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ck-readme-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = dir.appendingPathComponent("block.json").path, weights = dir.appendingPathComponent("block.safetensors").path

        let g = try GraphBuilder(input: [16, 32, 32])
        let y = try g.conv(g.input, filters: 16, size: 3, pad: 1, activation: .relu)
        let z = try g.batchNorm(g.conv(y, filters: 16, size: 3, pad: 1, bias: false))
        let out = try g.relu(g.add(z, g.input))                 // a residual block
        let model = try g.build(output: out, name: "block")
        model.initializeWeights(seed: 1)
        try model.save(path: json)                              // GraphModel.load(path:) reads it back
        try model.saveWeights(path: weights)

        let prepared = try model.prepare(batch: 4, backend: "auto", threads: 2)
        let logits = try prepared.run(try Tensor(shape: TensorShape(n: 4, c: 16, h: 32, w: 32),
                                                 values: [Float](repeating: 0.5, count: 4 * 16 * 32 * 32)))
        let resnet = try BuiltInModels.model(named: "resnet50")  // then loadWeights(path:) or initializeWeights(seed:)

        #expect(logits.shape == TensorShape(n: 4, c: 16, h: 32, w: 32))
        #expect(resnet.parameterCount == 25_557_032)
        let again = try GraphModel.load(path: json)
        try again.loadWeights(path: weights)
        #expect(try again.prepare(batch: 4, backend: "auto", threads: 2).run(Tensor(shape: logits.shape,
            values: [Float](repeating: 0.5, count: 4 * 16 * 32 * 32))) == logits)
        // The residual is the caller's input, which a run never writes: the add runs on its own,
        // with the ReLU fused into it.
        #expect(try model.plan().contains { $0.typeName == "add" && $0.fusedActivation == .relu })
    }
}
