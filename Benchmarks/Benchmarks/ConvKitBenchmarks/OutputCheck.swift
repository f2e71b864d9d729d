import ConvKit

/// The precondition every benchmark checks outside its measured region: the result is
/// still correct, so that a fast but wrong kernel cannot post a good time.
///
/// Two oracles, both in `Double`:
/// - ``ReferenceBackend`` on the whole output, for layers of at most
///   ``fullReferenceFLOPLimit`` (the larger ones would make setup take seconds);
/// - the convolution's definition evaluated directly at ``sampleCount`` sampled output
///   positions (every corner of the first and last image and filter, the rest drawn at
///   random), for every layer and backend; this is also the oracle of the `reference`
///   benchmark itself.
///
/// Error measure: `max |y - y_ref| / max |y_ref|` (normalized max error), with inputs,
/// weights and bias uniform in [-1, 1]. Tolerances per backend: the bounds the unit tests
/// use (`direct`, `onednn`, `reference`: 1e-5; `winograd`: 1e-3, its F(6x6,3x3) bound).
enum OutputCheck {
    /// Layers up to this many FLOPs are compared with ``ReferenceBackend`` in full.
    static let fullReferenceFLOPLimit = 300_000_000
    /// Output positions the direct evaluation samples.
    static let sampleCount = 256

    /// The normalized-max-error bound for `backend`.
    static func tolerance(for backend: String) -> Double {
        backend == "winograd" ? 1e-3 : 1e-5
    }

    /// Whether `backend` promises bit-identical results for repeated calls at one thread
    /// count (ConvKit's own backends do; oneDNN follows its own rules).
    static func repeatsBitExactly(_ backend: String) -> Bool {
        backend != "onednn"
    }

    /// Throws unless `y`, the output of `backend` on `layer`, is finite and within the
    /// backend's tolerance of both oracles.
    static func verify(_ y: [Float], of layer: Layer, backend: String,
                       input: [Float], weights: [Float], bias: [Float]?) throws {
        let d = layer.descriptor
        if let i = y.firstIndex(where: { !$0.isFinite }) {
            throw failure(layer, backend, "output[\(i)] = \(y[i]) is not finite")
        }
        let limit = tolerance(for: backend)

        let sampled = sampledError(y, d, input: input, weights: weights, bias: bias)
        if !(sampled <= limit) {
            throw failure(layer, backend, "normalized max error \(sampled) at \(sampleCount) sampled outputs "
                + "exceeds \(limit)")
        }

        if backend != ReferenceBackend().name && d.flops <= fullReferenceFLOPLimit {
            let ref = try ReferenceBackend().prepare(d, weights: weights, bias: bias)
            var yRef = [Float](repeating: .nan, count: d.outputCount)
            try input.withUnsafeBufferPointer { x in
                try yRef.withUnsafeMutableBufferPointer { try ref.execute(input: x, output: $0, threads: nil) }
            }
            let full = normalizedMaxError(y, yRef)
            if !(full <= limit) {
                throw failure(layer, backend, "normalized max error \(full) against ReferenceBackend "
                    + "exceeds \(limit)")
            }
        }
    }

    /// Throws unless `last`, the output of the last measured call, matches `first`, the
    /// checked output of the first call: bit for bit where the backend promises it, else
    /// within 1e-6.
    static func verifyRepeat(_ last: [Float], first: [Float], of layer: Layer, backend: String) throws {
        if last.count != first.count {
            throw failure(layer, backend, "output count changed from \(first.count) to \(last.count)")
        }
        if repeatsBitExactly(backend) {
            if let i = last.indices.first(where: { last[$0].bitPattern != first[$0].bitPattern }) {
                throw failure(layer, backend, "the last measured output differs from the checked first one "
                    + "at \(i): \(last[i]) vs \(first[i])")
            }
        } else {
            let err = normalizedMaxError(last, first)
            if !(err <= 1e-6) {
                throw failure(layer, backend, "the last measured output differs from the checked first one "
                    + "by \(err) (normalized)")
            }
        }
    }

    private static func failure(_ layer: Layer, _ backend: String, _ what: String) -> ConvError {
        .invalidArgument("\(backend) on \(layer.name) (\(layer.descriptor)): \(what)")
    }

    /// `max |y - ref| / max |ref|`; infinity when any value is not finite.
    static func normalizedMaxError(_ y: [Float], _ ref: [Float]) -> Double {
        var maxDiff = 0.0, maxRef = 0.0
        for (a, b) in zip(y, ref) {
            guard a.isFinite && b.isFinite else { return .infinity }
            maxDiff = max(maxDiff, abs(Double(a) - Double(b)))
            maxRef = max(maxRef, abs(Double(b)))
        }
        return maxRef > 0 ? maxDiff / maxRef : maxDiff
    }

    /// The normalized max error of `y` at sampled output positions, against the definition
    /// of the convolution (bias plus the sum over the group's channels and the kernel,
    /// padded positions contributing nothing) evaluated in `Double`.
    private static func sampledError(_ y: [Float], _ d: Conv2DDescriptor,
                                     input: [Float], weights: [Float], bias: [Float]?) -> Double {
        let (n, k, oh, ow) = (d.batch, d.outputChannels, d.outputHeight, d.outputWidth)
        var positions: [(Int, Int, Int, Int)] = []
        for b in Set([0, n - 1]) {
            for f in Set([0, k - 1]) {
                for (r, c) in [(0, 0), (0, ow - 1), (oh - 1, 0), (oh - 1, ow - 1)] {
                    positions.append((b, f, r, c))
                }
            }
        }
        var rng = SplitMix64(seed: 0x5A_3B_1E)
        while positions.count < sampleCount {
            positions.append((Int.random(in: 0..<n, using: &rng), Int.random(in: 0..<k, using: &rng),
                              Int.random(in: 0..<oh, using: &rng), Int.random(in: 0..<ow, using: &rng)))
        }

        let cg = d.inputChannelsPerGroup, kg = d.outputChannelsPerGroup
        let (h, w) = (d.inputHeight, d.inputWidth)
        var maxDiff = 0.0, maxRef = 0.0
        for (b, f, r, c) in positions {
            let g = f / kg
            var acc = Double(bias?[f] ?? 0)
            for ci in 0..<cg {
                let channel = g * cg + ci
                for kr in 0..<d.kernelHeight {
                    let iy = r * d.strideHeight - d.padding.top + kr * d.dilationHeight
                    guard iy >= 0 && iy < h else { continue }
                    for ks in 0..<d.kernelWidth {
                        let ix = c * d.strideWidth - d.padding.left + ks * d.dilationWidth
                        guard ix >= 0 && ix < w else { continue }
                        let xv = input[((b * d.inputChannels + channel) * h + iy) * w + ix]
                        let wv = weights[((f * cg + ci) * d.kernelHeight + kr) * d.kernelWidth + ks]
                        acc += Double(xv) * Double(wv)
                    }
                }
            }
            let ref = Double(d.activation.apply(Float(acc)))
            let got = Double(y[((b * k + f) * oh + r) * ow + c])
            maxDiff = max(maxDiff, abs(got - ref))
            maxRef = max(maxRef, abs(ref))
        }
        return maxRef > 0 ? maxDiff / maxRef : maxDiff
    }
}
