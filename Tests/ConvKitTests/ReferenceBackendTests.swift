import ConvKit
import Testing


/// Runs `d` on the reference backend and returns the output values.
func referenceOutput(_ d: Conv2DDescriptor, input: [Float], weights: [Float], bias: [Float]? = nil,
                     threads: Int = 1) throws -> [Float] {
    let prepared = try ReferenceBackend().prepare(d, weights: weights, bias: bias)
    let x = try Tensor(shape: TensorShape(d.inputShape), values: input)
    return try prepared.execute(x, threads: threads).scalars
}

@Suite("Reference backend")
struct ReferenceBackendTests {
    /// 1-channel 3x3 input 1...9, 2x2 kernel [[1, 2], [3, 4]].
    static let input3x3: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
    static let kernel2x2: [Float] = [1, 2, 3, 4]

    @Test("3x3 input, 2x2 kernel, no padding: computed by hand")
    func small() throws {
        let d = Conv2DDescriptor(channels: 1, height: 3, width: 3, filters: 1, size: 2, hasBias: false)
        let y = try referenceOutput(d, input: Self.input3x3, weights: Self.kernel2x2)
        // [1 2; 4 5] . [1 2; 3 4] = 1 + 4 + 12 + 20 = 37; then windows [2 3; 5 6], [4 5; 7 8], [5 6; 8 9].
        #expect(y == [37, 47, 67, 77])
    }

    @Test("Padding 1 reads zeros outside the input")
    func padding() throws {
        let d = Conv2DDescriptor(channels: 1, height: 3, width: 3, filters: 1, size: 2, pad: 1, hasBias: false)
        let y = try referenceOutput(d, input: Self.input3x3, weights: Self.kernel2x2)
        #expect(d.outputShape == [1, 1, 4, 4])
        // Output (i, j) reads input rows i-1...i and columns j-1...j (zero outside):
        // x[i-1][j-1] * 1 + x[i-1][j] * 2 + x[i][j-1] * 3 + x[i][j] * 4.
        let rightColumn: [Float] = [0 * 1 + 3 * 3, 3 * 1 + 6 * 3, 6 * 1 + 9 * 3, 9 * 1]
        let bottomRow: [Float] = [7 * 2, 7 * 1 + 8 * 2, 8 * 1 + 9 * 2, 9 * 1]
        let topRow: [Float] = [1 * 4, 1 * 3 + 2 * 4, 2 * 3 + 3 * 4, 3 * 3]
        let leftColumn: [Float] = [1 * 4, 1 * 2 + 4 * 4, 4 * 2 + 7 * 4, 7 * 2]
        #expect(Array(y[0..<4]) == topRow)
        #expect([y[3], y[7], y[11], y[15]] == rightColumn)
        #expect(Array(y[12..<16]) == bottomRow)
        #expect([y[0], y[4], y[8], y[12]] == leftColumn)
        // The interior equals the unpadded result.
        #expect([y[5], y[6], y[9], y[10]] == [37, 47, 67, 77])
    }

    @Test("Stride 2 skips windows")
    func stride() throws {
        let d = Conv2DDescriptor(channels: 1, height: 5, width: 5, filters: 1, size: 3, stride: 2, hasBias: false)
        let y = try referenceOutput(d, input: (0..<25).map(Float.init), weights: [Float](repeating: 1, count: 9))
        // Sum of the 3x3 window at (0,0): (0+1+2) + (5+6+7) + (10+11+12) = 54; each step of 2 columns
        // adds 2 * 9, each step of 2 rows adds 10 * 9.
        let expected: [Float] = [54, 54 + 18, 54 + 90, 54 + 108]
        #expect(y == expected)
    }

    @Test("Dilation 2 spreads the kernel taps")
    func dilation() throws {
        let d = Conv2DDescriptor(channels: 1, height: 5, width: 5, filters: 1, size: 2, dilation: 2,
                                 hasBias: false)
        let y = try referenceOutput(d, input: (0..<25).map(Float.init), weights: [1, 1, 1, 1])
        // Output (0,0) reads x[0][0] + x[0][2] + x[2][0] + x[2][2] = 0 + 2 + 10 + 12.
        #expect(d.outputShape == [1, 1, 3, 3])
        #expect(y[0] == 24)
        #expect(y[1] == 24 + 4)
        #expect(y[3] == 24 + 20)
        #expect(y[8] == 24 + 4 * 2 + 20 * 2)
    }

    @Test("Rectangular kernel and asymmetric padding")
    func asymmetric() throws {
        // 1x3 kernel [1, 10, 100] on one row [1, 2, 3] padded 2 on the left only.
        let d = Conv2DDescriptor(inputChannels: 1, inputHeight: 1, inputWidth: 3, outputChannels: 1,
                                 kernelHeight: 1, kernelWidth: 3,
                                 padding: Padding(top: 0, left: 2, bottom: 0, right: 0), hasBias: false)
        let y = try referenceOutput(d, input: [1, 2, 3], weights: [1, 10, 100])
        // Padded row [0, 0, 1, 2, 3]: windows [0 0 1], [0 1 2], [1 2 3].
        #expect(y == [100, 10 + 200, 1 + 20 + 300])
    }

    @Test("Groups: each output channel reads only its group's input channels")
    func groups() throws {
        // C = 4, K = 4, groups 2, 1x1 kernels: k0, k1 see channels 0, 1; k2, k3 see channels 2, 3.
        let d = Conv2DDescriptor(channels: 4, height: 1, width: 2, filters: 4, size: 1, groups: 2,
                                 hasBias: false)
        let x: [Float] = [1, 2, 10, 20, 100, 200, 1000, 2000]  // 4 channels x 2 pixels
        let w: [Float] = [1, 0,   0, 1,   1, 1,   2, -1]         // K x (C/groups) = 4 x 2
        let y = try referenceOutput(d, input: x, weights: w)
        #expect(y == [1, 2, 10, 20, 1100, 2200, 200 - 1000, 400 - 2000])
        // Depthwise: one channel per group.
        let dw = Conv2DDescriptor(channels: 3, height: 1, width: 1, filters: 3, size: 1, groups: 3, hasBias: false)
        #expect(try referenceOutput(dw, input: [1, 2, 3], weights: [5, 6, 7]) == [5, 12, 21])
    }

    @Test("Bias is added before the activation; relu, relu6 and clamp")
    func biasAndActivation() throws {
        var d = Conv2DDescriptor(channels: 1, height: 1, width: 4, filters: 2, size: 1)
        let x: [Float] = [-2, -0.5, 3, 7]
        let w: [Float] = [1, -1]
        let b: [Float] = [10, 0.5]
        #expect(try referenceOutput(d, input: x, weights: w, bias: b) == [8, 9.5, 13, 17, 2.5, 1, -2.5, -6.5])
        d.activation = .relu
        #expect(try referenceOutput(d, input: x, weights: w, bias: b) == [8, 9.5, 13, 17, 2.5, 1, 0, 0])
        d.activation = .relu6
        #expect(try referenceOutput(d, input: x, weights: w, bias: b) == [6, 6, 6, 6, 2.5, 1, 0, 0])
        d.activation = .clamp(min: -1, max: 2)
        #expect(try referenceOutput(d, input: x, weights: w, bias: b) == [2, 2, 2, 2, 2, 1, -1, -1])
    }

    @Test("Batch 2 computes each image independently")
    func batch() throws {
        var rng = TestRandom(seed: 7)
        let single = Conv2DDescriptor(channels: 3, height: 6, width: 5, filters: 4, size: 3, pad: 1)
        var double = single
        double.batch = 2
        let w = rng.values(single.weightCount), b = rng.values(4)
        let x0 = rng.values(single.inputCount), x1 = rng.values(single.inputCount)
        let y = try referenceOutput(double, input: x0 + x1, weights: w, bias: b)
        let y0 = try referenceOutput(single, input: x0, weights: w, bias: b)
        let y1 = try referenceOutput(single, input: x1, weights: w, bias: b)
        #expect(y == y0 + y1)
    }

    @Test("Sums accumulate in Double and round once")
    func doubleAccumulation() throws {
        // 1e8 + 1 - 1e8 is 0 in Float arithmetic but 1 in Double.
        let d = Conv2DDescriptor(channels: 3, height: 1, width: 1, filters: 1, size: 1, hasBias: false)
        #expect(try referenceOutput(d, input: [1e8, 1, -1e8], weights: [1, 1, 1]) == [1])
    }

    @Test("Results are identical for 1, 2 and 5 threads")
    func threadCounts() throws {
        var rng = TestRandom(seed: 42)
        let d = Conv2DDescriptor(batch: 2, inputChannels: 6, inputHeight: 11, inputWidth: 9, outputChannels: 10,
                                 kernelHeight: 3, kernelWidth: 2, strideHeight: 2, strideWidth: 1,
                                 padding: Padding(top: 1, left: 0, bottom: 2, right: 1), groups: 2,
                                 activation: .relu)
        let x = rng.values(d.inputCount), w = rng.values(d.weightCount), b = rng.values(d.outputChannels)
        let one = try referenceOutput(d, input: x, weights: w, bias: b, threads: 1)
        for threads in [2, 5] {
            let many = try referenceOutput(d, input: x, weights: w, bias: b, threads: threads)
            #expect(many.map(\.bitPattern) == one.map(\.bitPattern))
        }
        #expect(one.contains { $0 > 0 })
    }

    @Test("prepare checks the weight and bias counts")
    func prepareChecks() throws {
        let d = Conv2DDescriptor(channels: 2, height: 4, width: 4, filters: 3, size: 3)
        let backend = ReferenceBackend()
        var error = #expect(throws: ConvError.self) {
            try backend.prepare(d, weights: [Float](repeating: 0, count: 53), bias: [0, 0, 0])
        }
        #expect(error == .shapeMismatch(what: "weights", expected: [3, 2, 3, 3], actual: [53]))
        error = #expect(throws: ConvError.self) {
            try backend.prepare(d, weights: [Float](repeating: 0, count: 54), bias: [0, 0])
        }
        #expect(error == .shapeMismatch(what: "bias", expected: [3], actual: [2]))
        error = #expect(throws: ConvError.self) {
            try backend.prepare(d, weights: [Float](repeating: 0, count: 54), bias: nil)
        }
        #expect(error?.description.contains("no bias values") == true)
        var noBias = d
        noBias.hasBias = false
        error = #expect(throws: ConvError.self) {
            try backend.prepare(noBias, weights: [Float](repeating: 0, count: 54), bias: [1, 2, 3])
        }
        #expect(error?.description.contains("3 bias values") == true)
        var invalid = d
        invalid.groups = 2  // does not divide K = 3
        error = #expect(throws: ConvError.self) {
            try backend.prepare(invalid, weights: [Float](repeating: 0, count: 27), bias: [0, 0, 0])
        }
        #expect(error == .groupsDoNotDivide(groups: 2, parameter: "output channels", value: 3))
    }

    @Test("execute checks buffers and threads before writing anything")
    func executeChecks() throws {
        let d = Conv2DDescriptor(channels: 1, height: 4, width: 4, filters: 2, size: 3, hasBias: false)
        let prepared = try ReferenceBackend().prepare(d, weights: [Float](repeating: 1, count: 18), bias: nil)
        #expect(prepared.backendName == "reference")
        #expect(prepared.descriptor == d)
        let input = [Float](repeating: 1, count: 16)
        var output = [Float](repeating: -7, count: 8)
        func run(_ x: [Float], _ count: Int, threads: Int?) -> ConvError? {
            var y = [Float](repeating: -7, count: count)
            let error = #expect(throws: ConvError.self) {
                try x.withUnsafeBufferPointer { xb in
                    try y.withUnsafeMutableBufferPointer { yb in
                        try prepared.execute(input: xb, output: yb, threads: threads)
                    }
                }
            }
            #expect(y.allSatisfy { $0 == -7 }, "nothing is written on error")
            return error
        }
        #expect(run(Array(input.prefix(15)), 8, threads: 1) == .bufferTooSmall(what: "input", required: 16, actual: 15))
        #expect(run(input, 7, threads: 1) == .bufferTooSmall(what: "output", required: 8, actual: 7))
        #expect(run(input, 8, threads: 0) == .nonPositive(parameter: "threads", value: 0))
        #expect(run(input, 8, threads: -1) == .nonPositive(parameter: "threads", value: -1))
        // Overlapping input and output in one allocation.
        var shared = [Float](repeating: 1, count: 20)
        let overlap = #expect(throws: ConvError.self) {
            try shared.withUnsafeMutableBufferPointer { all in
                let x = UnsafeBufferPointer(rebasing: all[0..<16])
                let y = UnsafeMutableBufferPointer(rebasing: all[10..<18])
                try prepared.execute(input: x, output: y, threads: 1)
            }
        }
        #expect(overlap == .overlappingBuffers)
        // Adjacent (not overlapping) buffers are fine.
        try shared.withUnsafeMutableBufferPointer { all in
            let x = UnsafeBufferPointer(rebasing: all[0..<16])
            let y = UnsafeMutableBufferPointer(rebasing: all[16..<20])
            var small = d
            small.outputChannels = 1
            let p = try ReferenceBackend().prepare(small, weights: [Float](repeating: 1, count: 9), bias: nil)
            try p.execute(input: x, output: y, threads: 1)
        }
        #expect(Array(shared[16..<20]) == [9, 9, 9, 9])
        // Larger buffers than needed are accepted; only the first outputCount values are written.
        try input.withUnsafeBufferPointer { xb in
            try output.withUnsafeMutableBufferPointer { yb in
                try prepared.execute(input: xb, output: yb, threads: nil)
            }
        }
        #expect(output == [Float](repeating: 9, count: 8))
        // The Tensor API checks shapes.
        let wrong = try Tensor(n: 1, c: 1, h: 4, w: 5)
        let error = #expect(throws: ConvError.self) { try prepared.execute(wrong) }
        #expect(error == .shapeMismatch(what: "input", expected: [1, 1, 4, 4], actual: [1, 1, 4, 5]))
    }

    @Test("The reference backend is available and supports every valid descriptor")
    func support() {
        let r = ReferenceBackend()
        #expect(r.name == "reference")
        #expect(r.availability == .available)
        #expect(r.support(for: Conv2DDescriptor(channels: 5, height: 3, width: 9, filters: 10, size: 3,
                                                 stride: 3, dilation: 2, groups: 5)) == .supported)
    }
}
