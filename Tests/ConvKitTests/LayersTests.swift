import Testing
import Foundation
import ConvKit

/// Runs a prepared layer on `input` of `shape` and returns the output.
func forward(_ layer: any Layer, _ input: [Float], _ shape: TensorShape, threads: Int = 1,
             backend: any ConvBackend = ReferenceBackend()) throws -> [Float] {
    let out = try layer.outputShape(for: shape)
    let prepared = try layer.prepare(for: shape, context: LayerPreparationContext(backend: backend))
    var y = [Float](repeating: .nan, count: out.count)
    try input.withUnsafeBufferPointer { x in
        try y.withUnsafeMutableBufferPointer { o in
            try prepared.forward(input: x.baseAddress!, output: o.baseAddress!, shape: shape, threads: threads)
        }
    }
    return y
}

/// Straightforward pooling reference: max pads with -inf, avg divides by the window area.
func naivePool(_ x: [Float], _ s: TensorShape, kh: Int, kw: Int, sh: Int, sw: Int, pad: Padding, max: Bool) -> [Float] {
    let oh = (s.h + pad.top + pad.bottom - kh) / sh + 1, ow = (s.w + pad.left + pad.right - kw) / sw + 1
    var y: [Float] = []
    for p in 0..<(s.n * s.c) {
        for i in 0..<oh {
            for j in 0..<ow {
                var m = -Float.infinity, sum: Double = 0
                for a in 0..<kh {
                    for b in 0..<kw {
                        let r = i * sh + a - pad.top, c = j * sw + b - pad.left
                        let v: Float = (r >= 0 && r < s.h && c >= 0 && c < s.w) ? x[p * s.h * s.w + r * s.w + c] : (max ? -.infinity : 0)
                        m = Swift.max(m, v)
                        sum += Double(v)
                    }
                }
                y.append(max ? m : Float(sum / Double(kh * kw)))
            }
        }
    }
    return y
}

@Suite("Layers")
struct LayersTests {
    @Test("max pool 2x2 stride 2 on the issue's 4x4 example")
    func maxPoolExample() throws {
        let x: [Float] = [1, 1, 2, 4, 5, 6, 7, 8, 3, 2, 1, 0, 1, 2, 3, 4]
        let pool = MaxPool2D(name: "p", geometry: try PoolGeometry(size: 2, stride: 2))
        let s = TensorShape(n: 1, c: 1, h: 4, w: 4)
        #expect(try pool.outputShape(for: s) == TensorShape(n: 1, c: 1, h: 2, w: 2))
        #expect(try forward(pool, x, s) == [6, 8, 3, 4])
    }

    @Test("max and avg pooling match the naive reference", arguments: [
        (2, 2, 2, 2, Padding.zero), (3, 3, 3, 3, .zero), (3, 3, 2, 2, Padding(1)), (3, 2, 1, 2, Padding(top: 1, left: 0, bottom: 0, right: 1)),
        (2, 3, 2, 1, Padding(top: 0, left: 1, bottom: 1, right: 1)),
    ])
    func poolingMatchesReference(kh: Int, kw: Int, sh: Int, sw: Int, pad: Padding) throws {
        var rng = TestRandom(seed: 7)
        let s = TensorShape(n: 3, c: 5, h: 11, w: 9)
        let x = rng.uniform(s.count)
        let g = try PoolGeometry(kernelHeight: kh, kernelWidth: kw, strideHeight: sh, strideWidth: sw, padding: pad)
        for threads in [1, 2] {
            #expect(try forward(MaxPool2D(name: "m", geometry: g), x, s, threads: threads)
                    == naivePool(x, s, kh: kh, kw: kw, sh: sh, sw: sw, pad: pad, max: true))
            let avg = try forward(AvgPool2D(name: "a", geometry: g), x, s, threads: threads)
            #expect(normalizedMaxError(avg, naivePool(x, s, kh: kh, kw: kw, sh: sh, sw: sw, pad: pad, max: false)) < 1e-6)
        }
    }

    @Test("pooling on random plane sizes (1-45 wide: vector edges, overlapping last vectors), strides 1-3, asymmetric padding, NaN")
    func poolingRandomPlanes() throws {
        var rng = TestRandom(seed: 2026)
        func pick(_ n: Int) -> Int { Int(rng.uniform(1)[0] * 1000 + 1000) % n }
        var checked = 0
        while checked < 150 {
            let kh = 1 + pick(4), kw = 1 + pick(4), sh = 1 + pick(3), sw = 1 + pick(3)
            let pad = Padding(top: pick(kh), left: pick(kw), bottom: pick(kh), right: pick(kw))
            let s = TensorShape(n: 1, c: 2, h: 1 + pick(20), w: 1 + pick(45))
            guard s.h + pad.top + pad.bottom >= kh, s.w + pad.left + pad.right >= kw,
                  let g = try? PoolGeometry(kernelHeight: kh, kernelWidth: kw, strideHeight: sh, strideWidth: sw, padding: pad),
                  (try? g.outputShape(for: s)) != nil else { continue }
            var x = rng.uniform(s.count)
            let nanAt = pick(s.count)
            x[nanAt] = .nan
            let what = "\(s) k\(kh)x\(kw) s\(sh)x\(sw) \(pad)"
            let want = naivePool(x, s, kh: kh, kw: kw, sh: sh, sw: sw, pad: pad, max: true)
            let got = try forward(MaxPool2D(name: "m", geometry: g), x, s)
            // naivePool's Swift.max drops NaN; the layer propagates it: compare the other outputs
            // exactly, and check NaN exactly where a window covers the NaN input.
            let oh = (s.h + pad.top + pad.bottom - kh) / sh + 1, ow = (s.w + pad.left + pad.right - kw) / sw + 1
            let (np, ny, nx) = (nanAt / (s.h * s.w), nanAt / s.w % s.h, nanAt % s.w)
            for (i, v) in got.enumerated() {
                let p = i / (oh * ow), oy = i / ow % oh, ox = i % ow
                let covers = p == np && (oy * sh - pad.top...(oy * sh - pad.top + kh - 1)).contains(ny)
                    && (ox * sw - pad.left...(ox * sw - pad.left + kw - 1)).contains(nx)
                if covers { #expect(v.isNaN, "\(what): output \(i) covers the NaN") } else { #expect(v == want[i], "\(what): output \(i)") }
            }
            x[nanAt] = 0.5
            let avg = try forward(AvgPool2D(name: "a", geometry: g), x, s)
            #expect(normalizedMaxError(avg, naivePool(x, s, kh: kh, kw: kw, sh: sh, sw: sw, pad: pad, max: false)) < 1e-6, "\(what)")
            checked += 1
        }
    }

    @Test("average pooling counts padding (PyTorch's count_include_pad=True)")
    func avgPoolCountsPadding() throws {
        let g = try PoolGeometry(size: 2, stride: 1, pad: 1)
        let y = try forward(AvgPool2D(name: "a", geometry: g), [4, 8, 12, 16], TensorShape(n: 1, c: 1, h: 2, w: 2))
        // Corner window holds one real value and three padded zeros.
        #expect(y == [1, 3, 2, 4, 10, 6, 3, 7, 4])
    }

    @Test("max pooling pads with -inf, so negative inputs win over padding")
    func maxPoolPadsWithMinusInfinity() throws {
        let g = try PoolGeometry(size: 2, stride: 2, pad: 1)
        let y = try forward(MaxPool2D(name: "m", geometry: g), [-1, -2, -3, -4], TensorShape(n: 1, c: 1, h: 2, w: 2))
        #expect(y == [-1, -2, -3, -4])
    }

    @Test("pool geometry errors")
    func poolErrors() throws {
        #expect(throws: ConvError.nonPositive(parameter: "pool height", value: 0)) { try PoolGeometry(size: 0) }
        #expect(throws: ConvError.self) { try PoolGeometry(size: 2, pad: 2) }
        let g = try PoolGeometry(size: 5)
        #expect(throws: ConvError.kernelLargerThanInput(axis: "height", effectiveKernel: 5, paddedInput: 4)) {
            try g.outputShape(for: TensorShape(n: 1, c: 1, h: 4, w: 9))
        }
    }

    @Test("ReLU, global average pooling, flatten and dropout")
    func elementwiseLayers() throws {
        var rng = TestRandom(seed: 3)
        let s = TensorShape(n: 2, c: 3, h: 5, w: 7)
        var x = rng.uniform(s.count)
        x[4] = .nan
        let r = try forward(ReLU(name: "r"), x, s, threads: 2)
        for (a, b) in zip(r, x) {
            if b.isNaN { #expect(a.isNaN) } else { #expect(a == Swift.max(b, 0)) }
        }
        x[4] = 0.5
        let gap = try forward(GlobalAvgPool(name: "g"), x, s)
        #expect(try GlobalAvgPool(name: "g").outputShape(for: s) == TensorShape(n: 2, c: 3, h: 1, w: 1))
        for p in 0..<6 {
            let mean = x[p * 35 ..< (p + 1) * 35].reduce(0.0) { $0 + Double($1) } / 35
            #expect(abs(Double(gap[p]) - mean) < 1e-6)
        }
        let flatten = Flatten(name: "f")
        #expect(try flatten.outputShape(for: s) == TensorShape(n: 2, c: 105, h: 1, w: 1))
        #expect(try forward(flatten, x, s) == x)
        #expect(try forward(Dropout(name: "d", rate: 0.3), x, s) == x)
        #expect(throws: ConvError.self) { try Dropout(name: "d", rate: 1) }
    }

    @Test("Linear matches a naive double-precision product for every batch and thread count",
          arguments: [(1, 37, 5), (7, 64, 10), (5, 300, 33), (9, 8, 3)])
    func linearMatchesNaive(batch: Int, inFeatures: Int, outFeatures: Int) throws {
        var rng = TestRandom(seed: UInt64(inFeatures))
        // Input [N, C, H, W] with C*H*W = in when possible, to check the C, H, W flattening.
        let s = inFeatures % 4 == 0 ? TensorShape(n: batch, c: inFeatures / 4, h: 2, w: 2)
                                    : TensorShape(n: batch, c: inFeatures, h: 1, w: 1)
        let fc = try Linear(name: "fc", inputFeatures: inFeatures, outputFeatures: outFeatures)
        let w = rng.uniform(inFeatures * outFeatures), b = rng.uniform(outFeatures)
        try fc.setParameter(named: "weight", values: w)
        try fc.setParameter(named: "bias", values: b)
        let x = rng.uniform(s.count)
        var ref = [Float]()
        for n in 0..<batch {
            for o in 0..<outFeatures {
                var acc = Double(b[o])
                for i in 0..<inFeatures { acc += Double(w[o * inFeatures + i]) * Double(x[n * inFeatures + i]) }
                ref.append(Float(acc))
            }
        }
        let y1 = try forward(fc, x, s, threads: 1)
        #expect(normalizedMaxError(y1, ref) < 1e-5)
        #expect(try forward(fc, x, s, threads: 2) == y1)
        // One sample alone gives the same bits as inside a batch.
        let single = try forward(fc, Array(x[(batch - 1) * inFeatures ..< batch * inFeatures]),
                                 TensorShape(n: 1, c: s.c, h: s.h, w: s.w))
        #expect(single == Array(y1[(batch - 1) * outFeatures ..< batch * outFeatures]))
    }

    @Test("Linear with fused ReLU, and its shape errors")
    func linearReLUAndErrors() throws {
        let fc = try Linear(name: "fc", inputFeatures: 3, outputFeatures: 2, activation: .relu)
        try fc.setParameter(named: "weight", values: [1, 0, 0, -1, 0, 0])
        try fc.setParameter(named: "bias", values: [0, 0])
        #expect(try forward(fc, [2, 5, 5], TensorShape(n: 1, c: 3, h: 1, w: 1)) == [2, 0])
        #expect(throws: ConvError.shapeMismatch(what: "fc input (C*H*W)", expected: [3], actual: [2, 1, 1])) {
            try fc.outputShape(for: TensorShape(n: 1, c: 2, h: 1, w: 1))
        }
        #expect(throws: ConvError.shapeMismatch(what: "fc.weight", expected: [2, 3], actual: [5])) {
            try fc.setParameter(named: "weight", values: [1, 2, 3, 4, 5])
        }
        #expect(throws: ConvError.self) { try Linear(name: "x", inputFeatures: 0, outputFeatures: 2) }
    }

    @Test("softmax sums to one, matches the naive formula and is stable for large inputs")
    func softmax() throws {
        let s = TensorShape(n: 3, c: 4, h: 1, w: 2)
        var rng = TestRandom(seed: 11)
        var x = rng.uniform(s.count).map { $0 * 5 }
        for i in 8..<16 { x[i] = 1000 + Float(i) }           // would overflow exp without the max shift
        for i in 16..<24 { x[i] = -1000 - Float(i) }
        let y = try forward(Softmax(name: "s"), x, s)
        for n in 0..<3 {
            let row = Array(x[n * 8 ..< (n + 1) * 8]).map(Double.init)
            let m = row.max()!
            let e = row.map { Foundation.exp($0 - m) }
            let total = e.reduce(0, +)
            let sum = y[n * 8 ..< (n + 1) * 8].reduce(0.0) { $0 + Double($1) }
            #expect(abs(sum - 1) < 1e-6)
            for i in 0..<8 { #expect(abs(Double(y[n * 8 + i]) - e[i] / total) < 1e-6) }
        }
        #expect(y.allSatisfy { $0.isFinite })
    }

    @Test("BatchNorm2D matches its formula")
    func batchNorm() throws {
        let bn = try BatchNorm2D(name: "bn", channels: 3)
        let g: [Float] = [1, 2, 0.5], b: [Float] = [0, 1, -1], m: [Float] = [0.5, -1, 2], v: [Float] = [1, 4, 0.25]
        try bn.setParameter(named: "weight", values: g)
        try bn.setParameter(named: "bias", values: b)
        try bn.setParameter(named: "running_mean", values: m)
        try bn.setParameter(named: "running_var", values: v)
        #expect(bn.parameterCount == 6)
        let s = TensorShape(n: 2, c: 3, h: 2, w: 2)
        var rng = TestRandom(seed: 5)
        let x = rng.uniform(s.count)
        let y = try forward(bn, x, s)
        for i in 0..<s.count {
            let c = (i / 4) % 3
            let ref = (Double(x[i]) - Double(m[c])) / (Double(v[c]) + 1e-5).squareRoot() * Double(g[c]) + Double(b[c])
            #expect(abs(Double(y[i]) - ref) < 1e-5)
        }
        #expect(throws: ConvError.shapeMismatch(what: "batchnorm input channels", expected: [3], actual: [4])) {
            try bn.outputShape(for: TensorShape(n: 1, c: 4, h: 2, w: 2))
        }
    }

    @Test("Conv2D layer matches the reference backend, whole batch and sample by sample")
    func conv2D() throws {
        let conv = try Conv2D(name: "c", inputChannels: 3, filters: 5, kernelHeight: 3, kernelWidth: 3,
                              padding: Padding(1), activation: .relu)
        var g = WeightGenerator(seed: 1)
        conv.initializeParameters(using: &g)
        var rng = TestRandom(seed: 2)
        try conv.setParameter(named: "bias", values: rng.uniform(5))
        let s = TensorShape(n: 4, c: 3, h: 8, w: 8)
        let x = rng.uniform(s.count)
        var d = conv.descriptor(for: s)
        d.activation = .relu
        let ref = try ReferenceBackend().prepare(d, weights: conv.parameterValues(named: "weight")!,
                                                 bias: conv.parameterValues(named: "bias")!)
        var expected = [Float](repeating: 0, count: d.outputCount)
        try x.withUnsafeBufferPointer { xb in
            try expected.withUnsafeMutableBufferPointer { try ref.execute(input: xb, output: $0, threads: 1) }
        }
        let prepared = try conv.prepare(for: s, context: LayerPreparationContext(backend: DirectBackend()))
        #expect(prepared.backendName == "direct")
        var y = [Float](repeating: .nan, count: d.outputCount)
        try x.withUnsafeBufferPointer { xb in
            try y.withUnsafeMutableBufferPointer { o in
                try prepared.forward(input: xb.baseAddress!, output: o.baseAddress!, shape: s, threads: 2)
            }
        }
        #expect(normalizedMaxError(y, expected) < 1e-5)
        // Fewer samples than prepared: the batch-1 path.
        var y2 = [Float](repeating: .nan, count: d.outputCount / 2)
        try x.withUnsafeBufferPointer { xb in
            try y2.withUnsafeMutableBufferPointer { o in
                try prepared.forward(input: xb.baseAddress!, output: o.baseAddress!,
                                     shape: TensorShape(n: 2, c: 3, h: 8, w: 8), threads: 1)
            }
        }
        #expect(normalizedMaxError(y2, Array(expected[0..<d.outputCount / 2])) < 1e-5)
        #expect(conv.parameterCount == 5 * 3 * 9 + 5)
        #expect(conv.flops(for: TensorShape(n: 1, c: 3, h: 8, w: 8)) == 2 * 5 * 64 * 27)
        #expect(throws: ConvError.shapeMismatch(what: "input channels", expected: [3], actual: [4])) {
            try conv.outputShape(for: TensorShape(n: 1, c: 4, h: 8, w: 8))
        }
        #expect(throws: ConvError.groupsDoNotDivide(groups: 2, parameter: "input channels", value: 3)) {
            try Conv2D(name: "g", inputChannels: 3, filters: 4, kernelHeight: 3, kernelWidth: 3, groups: 2)
        }
    }

    @Test("He initialisation is deterministic and has the He variance")
    func heInitialisation() {
        var a = WeightGenerator.forLayer(seed: 42, index: 3), b = WeightGenerator.forLayer(seed: 42, index: 3)
        var c = WeightGenerator.forLayer(seed: 43, index: 3)
        let wa = a.heUniform(count: 20_000, fanIn: 50)
        #expect(wa == b.heUniform(count: 20_000, fanIn: 50))
        #expect(wa != c.heUniform(count: 20_000, fanIn: 50))
        let variance = wa.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(wa.count)
        #expect(abs(variance - 2.0 / 50) < 0.002)
        #expect(wa.allSatisfy { abs($0) <= (6.0 / 50).squareRoot() })
    }
}
