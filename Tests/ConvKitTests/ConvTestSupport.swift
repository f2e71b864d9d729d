import ConvKit

/// Deterministic pseudo-random numbers (SplitMix64) for reproducible test data.
struct TestRandom: RandomNumberGenerator {
    private var generator: SplitMix64
    init(seed: UInt64) { generator = SplitMix64(seed: seed) }
    mutating func next() -> UInt64 { generator.next() }
    /// `count` values uniform in [-1, 1] (alias of `uniform`).
    mutating func values(_ count: Int) -> [Float] { uniform(count) }

    /// `count` values uniform in [-1, 1].
    mutating func uniform(_ count: Int) -> [Float] {
        (0..<count).map { _ in Float.random(in: -1...1, using: &self) }
    }
}

/// `max |y - ref| / max |ref|` (absolute error when the reference is all zeros); infinity
/// when the NaN patterns differ.
func normalizedMaxError(_ y: [Float], _ ref: [Float]) -> Double {
    precondition(y.count == ref.count)
    var maxDiff = 0.0, maxRef = 0.0
    for (a, b) in zip(y, ref) {
        if a.isNaN != b.isNaN { return .infinity }
        if a.isNaN { continue }
        if a.isInfinite || b.isInfinite {
            if a != b { return .infinity }
            continue
        }
        maxDiff = max(maxDiff, abs(Double(a) - Double(b)))
        maxRef = max(maxRef, abs(Double(b)))
    }
    return maxRef > 0 ? maxDiff / maxRef : maxDiff
}

/// Inputs, weights and bias for `d`, drawn from `seed`.
struct ConvCase {
    let descriptor: Conv2DDescriptor
    let input: [Float]
    let weights: [Float]
    let bias: [Float]?

    init(_ d: Conv2DDescriptor, seed: UInt64 = 1) {
        var rng = TestRandom(seed: seed)
        descriptor = d
        input = rng.uniform(d.inputCount)
        weights = rng.uniform(d.weightCount)
        bias = d.hasBias ? rng.uniform(d.outputChannels) : nil
    }

    /// Runs `backend` with `threads` threads and returns the output.
    func run(_ backend: any ConvBackend, threads: Int? = nil) throws -> [Float] {
        let prepared = try backend.prepare(descriptor, weights: weights, bias: bias)
        var out = [Float](repeating: .nan, count: descriptor.outputCount)
        try input.withUnsafeBufferPointer { x in
            try out.withUnsafeMutableBufferPointer { y in
                try prepared.execute(input: x, output: y, threads: threads)
            }
        }
        return out
    }

    /// The float64-accumulating reference output.
    func reference() throws -> [Float] { try run(ReferenceBackend()) }
}

/// Named descriptors covering the edge cases every backend must handle.
enum EdgeCases {
    static var all: [(String, Conv2DDescriptor)] {
        var cases: [(String, Conv2DDescriptor)] = [
            ("3x3 pad 1", .init(channels: 8, height: 9, width: 9, filters: 8, size: 3, pad: 1)),
            ("1x1 input", .init(channels: 4, height: 1, width: 1, filters: 5, size: 1)),
            ("1x1 input, 3x3 pad 1", .init(channels: 3, height: 1, width: 1, filters: 7, size: 3, pad: 1)),
            ("kernel equals padded input", .init(channels: 2, height: 5, width: 5, filters: 3, size: 7, pad: 1)),
            ("padding larger than half the kernel", .init(channels: 3, height: 7, width: 7, filters: 4, size: 3, pad: 3)),
            ("channels 1", .init(channels: 1, height: 29, width: 29, filters: 6, size: 5, pad: 2)),
            ("channels 3 stride 2", .init(channels: 3, height: 29, width: 29, filters: 16, size: 3, stride: 2, pad: 1)),
            ("channels 5", .init(channels: 5, height: 7, width: 7, filters: 13, size: 3, pad: 1)),
            ("channels 13 -> 24", .init(channels: 13, height: 29, width: 29, filters: 24, size: 3, pad: 1)),
            ("channels 17", .init(channels: 17, height: 7, width: 7, filters: 17, size: 3)),
            ("batch 7", .init(batch: 7, channels: 3, height: 7, width: 7, filters: 5, size: 3, pad: 1)),
            ("1x1 conv", .init(channels: 32, height: 14, width: 14, filters: 20, size: 1)),
            ("1x1 stride 2", .init(channels: 16, height: 13, width: 13, filters: 8, size: 1, stride: 2)),
            ("11x11 stride 4", .init(channels: 3, height: 63, width: 63, filters: 8, size: 11, stride: 4)),
            ("dilation 2", .init(channels: 6, height: 17, width: 17, filters: 7, size: 3, pad: 2, dilation: 2)),
            ("dilation 3 no pad", .init(channels: 4, height: 13, width: 11, filters: 3, size: 3, dilation: 3)),
            ("groups 2", .init(channels: 8, height: 9, width: 9, filters: 6, size: 3, pad: 1, groups: 2)),
            ("groups 3 stride 2", .init(channels: 9, height: 11, width: 11, filters: 12, size: 3, stride: 2, pad: 1, groups: 3)),
            ("depthwise 3x3", .init(channels: 13, height: 29, width: 29, filters: 13, size: 3, pad: 1, groups: 13)),
            ("depthwise stride 2", .init(channels: 8, height: 29, width: 29, filters: 8, size: 3, stride: 2, pad: 1, groups: 8)),
            ("depthwise 5x5 dilated", .init(channels: 5, height: 20, width: 23, filters: 5, size: 5, pad: 4, dilation: 2, groups: 5)),
            ("depthwise multiplier 2", .init(channels: 4, height: 9, width: 9, filters: 8, size: 3, pad: 1, groups: 4)),
            ("no bias", .init(channels: 5, height: 8, width: 8, filters: 9, size: 3, pad: 1, hasBias: false)),
            ("relu", .init(channels: 5, height: 8, width: 8, filters: 9, size: 3, pad: 1, activation: .relu)),
            ("relu6", .init(channels: 5, height: 8, width: 8, filters: 9, size: 3, pad: 1, activation: .relu6)),
            ("depthwise relu", .init(channels: 6, height: 10, width: 10, filters: 6, size: 3, pad: 1, groups: 6, activation: .relu)),
            ("large depth (blocked)", .init(channels: 96, height: 6, width: 6, filters: 10, size: 3, pad: 1)),
            ("many pixels (blocked)", .init(channels: 4, height: 70, width: 70, filters: 7, size: 3, pad: 1)),
        ]
        cases.append(("rectangular 3x5 asymmetric pad", Conv2DDescriptor(
            inputChannels: 3, inputHeight: 10, inputWidth: 12, outputChannels: 5, kernelHeight: 3, kernelWidth: 5,
            strideHeight: 1, strideWidth: 2, padding: Padding(top: 0, left: 2, bottom: 2, right: 1))))
        cases.append(("rectangular 5x1 stride 2,1 dilation 1,2", Conv2DDescriptor(
            batch: 2, inputChannels: 4, inputHeight: 13, inputWidth: 9, outputChannels: 6, kernelHeight: 5,
            kernelWidth: 1, strideHeight: 2, strideWidth: 1, padding: Padding(top: 1, left: 0, bottom: 3, right: 0),
            dilationHeight: 1, dilationWidth: 2)))
        cases.append(("depthwise asymmetric", Conv2DDescriptor(
            inputChannels: 3, inputHeight: 7, inputWidth: 30, outputChannels: 3, kernelHeight: 3, kernelWidth: 3,
            padding: Padding(top: 2, left: 0, bottom: 0, right: 3), groups: 3)))
        return cases
    }
}

/// A random valid descriptor within small bounds (for property-style tests).
func randomDescriptor(using rng: inout TestRandom) -> Conv2DDescriptor {
    while true {
        let groups = [1, 1, 1, 2, 3].randomElement(using: &rng)!
        let depthwise = Int.random(in: 0..<6, using: &rng) == 0
        let cg = Int.random(in: 1...7, using: &rng)
        let c = depthwise ? Int.random(in: 1...12, using: &rng) : cg * groups
        let k = depthwise ? c : Int.random(in: 1...9, using: &rng) * groups
        let r = Int.random(in: 1...5, using: &rng), s = Int.random(in: 1...5, using: &rng)
        let d = Conv2DDescriptor(
            batch: Int.random(in: 1...3, using: &rng),
            inputChannels: c, inputHeight: Int.random(in: 1...20, using: &rng),
            inputWidth: Int.random(in: 1...20, using: &rng), outputChannels: k,
            kernelHeight: r, kernelWidth: s,
            strideHeight: Int.random(in: 1...3, using: &rng), strideWidth: Int.random(in: 1...3, using: &rng),
            padding: Padding(top: Int.random(in: 0...3, using: &rng), left: Int.random(in: 0...3, using: &rng),
                             bottom: Int.random(in: 0...3, using: &rng), right: Int.random(in: 0...3, using: &rng)),
            dilationHeight: Int.random(in: 1...2, using: &rng), dilationWidth: Int.random(in: 1...2, using: &rng),
            groups: depthwise ? c : groups, hasBias: Bool.random(using: &rng),
            activation: [.none, .relu, .relu6].randomElement(using: &rng)!)
        if (try? d.validate()) != nil { return d }
    }
}
