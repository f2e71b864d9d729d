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
}
