
/// A fully connected layer (type name `fc`): `y = act(W x + b)` for each sample, where `x` is
/// the whole input volume `C*H*W` flattened in C, H, W order (PyTorch's `flatten(1)` of NCHW).
///
/// Parameters: `weight` `[out, in]` (PyTorch's layout) and `bias` `[out]` (when ``hasBias``).
/// Input `[N, C, H, W]` with `C*H*W == in`; output `[N, out, 1, 1]`.
///
/// Computation: on AVX2+FMA, the C kernel `ck_f32_fc_ukernel_4x3__avx2_fma` (tiles of 4 outputs
/// x 3 samples of dot products vectorised along the features, 12 accumulators, weights read in
/// place), and for a batch of one `ck_f32_fc_ukernel_8x1__avx2_fma` (8 weight rows streamed at
/// once, each sum by the same operations, so a sample's outputs do not depend on the batch); on the portable ISA, Swift SIMD8 dot products
/// four samples at a time. Output neurons are split over threads; every output is computed by
/// the same operations whatever the thread count or batch, so results are bit-identical for
/// any `threads` and batch.
///
/// FLOPs: `2 * N * in * out`. Receptive field: the whole input plane (like a convolution
/// whose kernel is `H x W`).
public final class Linear: Layer {
    public let name: String
    public var typeName: String { "fc" }
    /// Input features `in` (`C*H*W` of the input).
    public let inputFeatures: Int
    /// Output features `out`.
    public let outputFeatures: Int
    public let hasBias: Bool
    public let activation: Activation
    private var weights: [Float]?
    private var bias: [Float]?

    /// - Throws: ``ConvError`` for a non-positive feature count or an invalid activation.
    public init(name: String, inputFeatures: Int, outputFeatures: Int, hasBias: Bool = true,
                activation: Activation = .none) throws {
        if inputFeatures < 1 { throw ConvError.nonPositive(parameter: "fc input features", value: inputFeatures) }
        if outputFeatures < 1 { throw ConvError.nonPositive(parameter: "fc units", value: outputFeatures) }
        try activation.validate()
        self.name = name
        self.inputFeatures = inputFeatures
        self.outputFeatures = outputFeatures
        self.hasBias = hasBias
        self.activation = activation
    }

    public func outputShape(for input: TensorShape) throws -> TensorShape {
        let features = input.c * input.h * input.w
        if features != inputFeatures {
            throw ConvError.shapeMismatch(what: "fc input (C*H*W)", expected: [inputFeatures], actual: [input.c, input.h, input.w])
        }
        return TensorShape(n: input.n, c: outputFeatures, h: 1, w: 1)
    }

    public var parameters: [LayerParameter] {
        var p = [LayerParameter(name: "weight", shape: [outputFeatures, inputFeatures])]
        if hasBias { p.append(LayerParameter(name: "bias", shape: [outputFeatures])) }
        return p
    }

    public func flops(for input: TensorShape) -> Int { 2 * input.n * inputFeatures * outputFeatures }

    public func receptiveField(for input: TensorShape) -> LayerReceptiveField? {
        LayerReceptiveField(height: .init(kernel: input.h), width: .init(kernel: input.w))
    }

    public func parameterValues(named name: String) -> [Float]? {
        switch name {
        case "weight": return weights
        case "bias" where hasBias: return bias
        default: return nil
        }
    }

    public func setParameter(named name: String, values: [Float]) throws {
        try checkParameterValues(named: name, values)
        if name == "weight" { weights = values } else { bias = values }
    }

    public func initializeParameters(using generator: inout WeightGenerator) {
        weights = generator.heUniform(count: inputFeatures * outputFeatures, fanIn: inputFeatures)
        bias = hasBias ? [Float](repeating: 0, count: outputFeatures) : nil
    }

    public func prepare(for input: TensorShape, context: LayerPreparationContext) throws -> any PreparedLayer {
        _ = try outputShape(for: input)
        guard let w = weights, !(hasBias && bias == nil) else {
            throw ConvError.invalidArgument("layer '\(name)' (fc) has no weights; load or initialise them first")
        }
        return PreparedLinear(name: name, inputFeatures: inputFeatures, outputFeatures: outputFeatures,
                              maxBatch: input.n, weights: w, bias: bias,
                              activation: context.fusedActivation ?? activation)
    }
}

/// A ``Linear`` layer with its weights in an aligned buffer.
final class PreparedLinear: PreparedLayer {
    let name: String
    let inputFeatures: Int
    let outputFeatures: Int
    let maxBatch: Int
    let weights: AlignedBuffer
    let bias: AlignedBuffer?
    let activation: Activation
    /// The kernels of ``KernelISA/selected`` (the 4x3 tile and the batch-1 GEMV, or none).
    let kernels = KernelTable.selected

    var implementation: String? {
        kernels.fullyConnectedTile != nil ? "ck_f32_fc_ukernel_4x3 (avx2+fma; batch 1: ck_f32_fc_ukernel_8x1), weights read in place" : "Swift SIMD dot products (portable)"
    }

    init(name: String, inputFeatures: Int, outputFeatures: Int, maxBatch: Int, weights: [Float], bias: [Float]?,
         activation: Activation) {
        self.name = name
        self.inputFeatures = inputFeatures
        self.outputFeatures = outputFeatures
        self.maxBatch = maxBatch
        self.weights = weights.withUnsafeBufferPointer { AlignedBuffer(copying: $0) }
        self.bias = bias.map { b in b.withUnsafeBufferPointer { AlignedBuffer(copying: $0) } }
        self.activation = activation
    }

    func forward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, shape: TensorShape, threads: Int) throws {
        let features = shape.c * shape.h * shape.w
        if features != inputFeatures || shape.n < 1 || shape.n > maxBatch {
            throw ConvError.shapeMismatch(what: "input of layer '\(name)'", expected: [maxBatch, inputFeatures, 1, 1],
                                          actual: shape.dims)
        }
        let n = shape.n, fin = inputFeatures, fout = outputFeatures
        let w = UnsafePointer(weights.base)
        let b = bias.map { UnsafePointer($0.base) }
        let (lo, hi) = activation.bounds
        let work = n * fin * fout
        let t = ThreadPolicy.threads(requested: threads, flops: 2 * work)
        if let tile = kernels.fullyConnectedTile, let gemv = kernels.fullyConnectedRow {
            // Tiles of 4 outputs x 3 samples, in the C kernel; outputs split over threads.
            let flags: UInt32 = activation != .none ? KernelFlags.clamp : 0
            if n == 1 {
                // Batch 1: the GEMV kernel, 8 outputs per call (the same sums as the 4x3 tile).
                ParallelFor.run(items: (fout + 7) / 8, threads: t) { _, range in
                    for rb in range {
                        let o = rb * 8
                        gemv(fin, w + o * fin, fin, Swift.min(8, fout - o), input, output + o, b.map { $0 + o }, flags,
                             lo, hi)
                    }
                }
                return
            }
            let rowBlocks = (fout + 3) / 4
            ParallelFor.run(items: rowBlocks, threads: t) { _, range in
                for rb in range {
                    let o = rb * 4, nw = Swift.min(4, fout - o)
                    var s = 0
                    while s < n {
                        let nx = Swift.min(3, n - s)
                        tile(fin, w + o * fin, fin, nw, input + s * fin, fin, nx, output + s * fout + o, fout,
                             b.map { $0 + o }, flags, lo, hi)
                        s += nx
                    }
                }
            }
            return
        }
        ParallelFor.run(items: fout, threads: t) { _, range in
            for o in range {
                let row = w + o * fin
                let add = b?[o] ?? 0
                var s = 0
                while s + 4 <= n {
                    let d = Self.dot4(row, input + s * fin, fin)
                    output[s * fout + o] = Self.activate(d.0 + add, lo, hi)
                    output[(s + 1) * fout + o] = Self.activate(d.1 + add, lo, hi)
                    output[(s + 2) * fout + o] = Self.activate(d.2 + add, lo, hi)
                    output[(s + 3) * fout + o] = Self.activate(d.3 + add, lo, hi)
                    s += 4
                }
                while s < n {
                    output[s * fout + o] = Self.activate(Self.dot1(row, input + s * fin, fin) + add, lo, hi)
                    s += 1
                }
            }
        }
    }

    @inline(__always)
    static func activate(_ x: Float, _ lo: Float, _ hi: Float) -> Float {
        x.isNaN ? x : Swift.min(Swift.max(x, lo), hi)
    }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    /// Fixed-order reduction of the two accumulators (the same in ``dot1`` and ``dot4``).
    @inline(__always)
    static func reduce(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> Float {
        let v = a + b
        let h = v.lowHalf + v.highHalf
        let q = h.lowHalf + h.highHalf
        return q[0] + q[1]
    }

    /// The dot product of `w` and `x` over `n` values.
    static func dot1(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
        var i = 0
        while i + 16 <= n {
            a0 = load(w + i) * load(x + i) + a0
            a1 = load(w + i + 8) * load(x + i + 8) + a1
            i += 16
        }
        if i + 8 <= n {
            a0 = load(w + i) * load(x + i) + a0
            i += 8
        }
        var s = reduce(a0, a1)
        while i < n {
            s = w[i] * x[i] + s
            i += 1
        }
        return s
    }

    /// Four dot products of `w` with four consecutive samples (stride `n`), each computed
    /// exactly as ``dot1`` computes it.
    static func dot4(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) -> (Float, Float, Float, Float) {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), b0 = SIMD8<Float>(), b1 = SIMD8<Float>()
        var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), d0 = SIMD8<Float>(), d1 = SIMD8<Float>()
        let x0 = x, x1 = x + n, x2 = x + 2 * n, x3 = x + 3 * n
        var i = 0
        while i + 16 <= n {
            let w0 = load(w + i), w1 = load(w + i + 8)
            a0 = w0 * load(x0 + i) + a0; a1 = w1 * load(x0 + i + 8) + a1
            b0 = w0 * load(x1 + i) + b0; b1 = w1 * load(x1 + i + 8) + b1
            c0 = w0 * load(x2 + i) + c0; c1 = w1 * load(x2 + i + 8) + c1
            d0 = w0 * load(x3 + i) + d0; d1 = w1 * load(x3 + i + 8) + d1
            i += 16
        }
        if i + 8 <= n {
            let w0 = load(w + i)
            a0 = w0 * load(x0 + i) + a0
            b0 = w0 * load(x1 + i) + b0
            c0 = w0 * load(x2 + i) + c0
            d0 = w0 * load(x3 + i) + d0
            i += 8
        }
        var s0 = reduce(a0, a1), s1 = reduce(b0, b1), s2 = reduce(c0, c1), s3 = reduce(d0, d1)
        while i < n {
            let wi = w[i]
            s0 = wi * x0[i] + s0
            s1 = wi * x1[i] + s1
            s2 = wi * x2[i] + s2
            s3 = wi * x3[i] + s3
            i += 1
        }
        return (s0, s1, s2, s3)
    }
}
