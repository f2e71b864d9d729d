/// The oracle: straightforward loops that accumulate in `Double`.
///
/// Supports every valid descriptor. Clarity over speed: it is the ground truth every
/// other backend is tested against. Each output value is
/// `act(bias[k] + sum over (c, r, s) of x[n, g*Cg + c, oh*sh - pt + r*dh, ow*sw - pl + s*dw] * w[k, c, r, s])`,
/// summed in `Double` in the order `c, r, s` and rounded to `Float` once; padded positions
/// contribute nothing. Work is split over `(n, k)` pairs, so results do not depend on the
/// thread count.
public struct ReferenceBackend: ConvBackend {
    public init() {}
    public var name: String { "reference" }
    public var summary: String { "naive loops accumulating in Double (the test oracle)" }
    public var availability: BackendAvailability { .available }
    public func support(for descriptor: Conv2DDescriptor) -> BackendSupport { .supported }
    public func canAccumulate(_ descriptor: Conv2DDescriptor) -> Bool { true }

    public func prepare(_ descriptor: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>,
                        bias: UnsafeBufferPointer<Float>?) throws -> any PreparedConvolution {
        try checkWeightsAndBias(descriptor, weights: weights, bias: bias)
        return PreparedReferenceConvolution(
            descriptor: descriptor, weights: Array(weights),
            bias: descriptor.hasBias ? Array(bias!) : Array(repeating: 0, count: descriptor.outputChannels))
    }
}

final class PreparedReferenceConvolution: BatchSlicingConvolution {
    let descriptor: Conv2DDescriptor
    let weights: [Float]
    let bias: [Float]

    init(descriptor: Conv2DDescriptor, weights: [Float], bias: [Float]) {
        self.descriptor = descriptor
        self.weights = weights
        self.bias = bias
    }

    var backendName: String { "reference" }
    var implementation: String { "naive loops, Double accumulation" }
    var workspaceBytes: Int { 0 }

    func execute(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
                 images: Int, threads: Int?) throws {
        let threads = try checkedExecutionArguments(input: input, output: output, images: images, threads: threads)
        let d = descriptor(images: images)
        let (C, H, W, K) = (d.inputChannels, d.inputHeight, d.inputWidth, d.outputChannels)
        let (R, S) = (d.kernelHeight, d.kernelWidth)
        let (OH, OW) = (d.outputHeight, d.outputWidth)
        let cg = d.inputChannelsPerGroup, kg = d.outputChannelsPerGroup
        let x = input.baseAddress!, y = output.baseAddress!
        weights.withUnsafeBufferPointer { wb in
            let w = wb.baseAddress!
            ParallelFor.run(items: d.batch * K, threads: threads) { _, range in
                for task in range {
                    let n = task / K, k = task % K
                    let g = k / kg
                    for oh in 0..<OH {
                        for ow in 0..<OW {
                            var acc = Double(bias[k])
                            for c in 0..<cg {
                                let plane = x + ((n * C + g * cg + c) * H) * W
                                for r in 0..<R {
                                    let ih = oh * d.strideHeight - d.padding.top + r * d.dilationHeight
                                    if ih < 0 || ih >= H { continue }
                                    for s in 0..<S {
                                        let iw = ow * d.strideWidth - d.padding.left + s * d.dilationWidth
                                        if iw < 0 || iw >= W { continue }
                                        acc += Double(plane[ih * W + iw]) * Double(w[((k * cg + c) * R + r) * S + s])
                                    }
                                }
                            }
                            let o = ((n * K + k) * OH + oh) * OW + ow
                            if d.accumulate { acc += Double(y[o]) }
                            y[o] = d.activation.apply(Float(acc))
                        }
                    }
                }
            }
        }
    }
}
