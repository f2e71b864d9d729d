import Foundation
import ConvKit
import Testing

/// The README's "Using the library" example, compiled and run, so the README cannot drift
/// from the API.
@Suite("README example")
struct ReadmeExampleTests {
    @Test("the library example runs as written")
    func libraryExample() throws {
        func print(_ items: Any...) {}   // the README's prints, silenced in the test log
        // 3x32x32 input, 10 filters of 5x5, stride 1, zero padding 2, fused ReLU.
        let d = Conv2DDescriptor(channels: 3, height: 32, width: 32, filters: 10, size: 5,
                                 stride: 1, pad: 2, activation: .relu)
        print(d.outputShape, d.parameterCount, d.flops)       // [1, 10, 32, 32] 760 1536000

        // Weights K x C/groups x R x S (PyTorch's OIHW), bias K, input N x C x H x W: float32, row-major.
        let weights = (0..<d.weightCount).map { Float($0 % 7) * 0.01 - 0.03 }
        let bias = [Float](repeating: 0.1, count: d.outputChannels)
        let x = try Tensor(shape: TensorShape(d.inputShape), values: (0..<d.inputCount).map { Float($0 % 255) / 255 })

        let backend = try BackendRegistry.shared.backend(named: "auto")   // or "direct", "winograd", "onednn"
        let conv = try backend.prepare(d, weights: weights, bias: bias)   // validates and packs once
        let y = try conv.execute(x, threads: 2)                            // Tensor in, Tensor out (NCHW)
        print(y.shape, y[0, 3, 16, 16])                                    // 1x10x32x32 and one output value

        // Or on caller-owned memory, no copies (threads: nil = all cores):
        var out = [Float](repeating: 0, count: d.outputCount)
        try x.withUnsafeBufferPointer { xb in
            try out.withUnsafeMutableBufferPointer { yb in try conv.execute(input: xb, output: yb, threads: nil) }
        }

        #expect(d.outputShape == [1, 10, 32, 32] && d.parameterCount == 760 && d.flops == 1_536_000)
        #expect(y.shape.dims == d.outputShape)
        #expect(y.scalars.allSatisfy { $0 >= 0 })   // fused ReLU
        #expect(out == y.scalars)
        // Against the float64 reference.
        let ref = try ReferenceBackend().prepare(d, weights: weights, bias: bias).execute(x)
        #expect(zip(y.scalars, ref.scalars).allSatisfy { abs($0 - $1) <= 1e-4 })
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
