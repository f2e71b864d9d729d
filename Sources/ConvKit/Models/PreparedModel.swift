import Foundation

/// A ``SequentialModel`` prepared for batches of up to ``maxBatch`` samples.
///
/// A run reads NCHW input, passes it through every layer (folded and fused layers are gone,
/// Flatten and Dropout are skipped with no copy) and writes the last layer's output. The first
/// layer reads the caller's input and the last one writes the caller's output directly;
/// intermediate activations alternate between two ping-pong buffers of the largest
/// intermediate size.
///
/// Batches: a run may have any batch from 1 to ``maxBatch``. A run of exactly ``maxBatch``
/// samples runs each convolution once on the whole batch; a smaller one runs the convolutions
/// sample by sample (their batch-1 preparation, same backend) and the other layers on the whole
/// batch. Re-prepare for a different largest batch.
///
/// Allocation and threading: runs allocate nothing in the steady state. Each run takes a
/// buffer pair from a small pool guarded by a lock and gives it back; the pool starts with one
/// pair, so concurrent runs are safe and a new pair is allocated only the first time runs
/// overlap (one pair per level of concurrency, kept for later runs). Each run uses
/// ``threads`` worker threads (or its own `threads` argument). Results are bit-identical for
/// any thread count except on the `onednn` backend.
public final class PreparedModel: @unchecked Sendable {
    struct Step {
        let layer: any PreparedLayer
        let index: Int
        let name: String
        let sampleInput: TensorShape
        let sampleOutputCount: Int
    }

    /// The model's name.
    public let name: String
    /// The largest batch a run may have.
    public let maxBatch: Int
    /// Worker threads per run by default.
    public let threads: Int
    /// The shape of one input sample `[1, C, H, W]`.
    public let inputShape: TensorShape
    /// The shape of one output sample `[1, classes, 1, 1]` for a classifier.
    public let outputShape: TensorShape
    /// How each layer runs (backends, fusions), for ``maxBatch``.
    public let plans: [LayerPlan]
    private let steps: [Step]
    private let bufferCount: Int
    private let lock = NSLock()
    private var freePairs: [(AlignedBuffer, AlignedBuffer)]

    init(name: String, maxBatch: Int, threads: Int, inputShape: TensorShape, outputShape: TensorShape,
         plans: [LayerPlan], steps: [Step]) {
        self.name = name
        self.maxBatch = maxBatch
        self.threads = threads
        self.inputShape = inputShape
        self.outputShape = outputShape
        self.plans = plans
        self.steps = steps
        // Every step's output but the last lands in a ping-pong buffer.
        let largest = steps.dropLast().map(\.sampleOutputCount).max() ?? 0
        bufferCount = largest * maxBatch
        freePairs = bufferCount > 0 ? [(AlignedBuffer(count: bufferCount), AlignedBuffer(count: bufferCount))] : []
    }

    /// The backend running each convolution layer, by layer name.
    public var backends: [String: String] {
        var r: [String: String] = [:]
        for p in plans { if let b = p.backend, p.fusedInto == nil { r[p.name] = b } }
        return r
    }

    /// Floats per input sample (`C*H*W`).
    public var inputSampleCount: Int { inputShape.count }
    /// Floats per output sample.
    public var outputSampleCount: Int { outputShape.count }
    /// Bytes of the activation buffers of one run (the pair).
    public var activationBytes: Int { 2 * bufferCount * MemoryLayout<Float>.stride }

    /// Runs `batch` samples (default ``maxBatch``).
    /// - Parameters:
    ///   - input: at least `batch * inputSampleCount` floats, NCHW.
    ///   - output: at least `batch * outputSampleCount` floats; must not overlap `input`.
    ///   - threads: worker threads for this run (default ``threads``).
    /// - Throws: ``ConvError`` for a batch outside `1...maxBatch`, a buffer too small,
    ///   overlapping buffers or `threads < 1`, before anything is written; a layer's failure
    ///   (naming the layer).
    public func run(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
                    batch: Int? = nil, threads: Int? = nil) throws {
        let n = batch ?? maxBatch
        if n < 1 { throw ConvError.nonPositive(parameter: "batch", value: n) }
        if n > maxBatch {
            throw ConvError.invalidArgument("batch \(n) is larger than the prepared batch \(maxBatch); prepare the model for it")
        }
        let t = threads ?? self.threads
        if t < 1 { throw ConvError.nonPositive(parameter: "threads", value: t) }
        let inCount = n * inputSampleCount, outCount = n * outputSampleCount
        if input.count < inCount { throw ConvError.bufferTooSmall(what: "input", required: inCount, actual: input.count) }
        if output.count < outCount { throw ConvError.bufferTooSmall(what: "output", required: outCount, actual: output.count) }
        guard let src0 = input.baseAddress, let dst = output.baseAddress else { return }
        let a = UnsafeRawPointer(src0), b = UnsafeRawPointer(dst)
        if a < b + outCount * 4 && b < a + inCount * 4 { throw ConvError.overlappingBuffers }
        if steps.isEmpty {
            dst.update(from: src0, count: inCount)
            return
        }
        let pair = takePair()
        defer { givePair(pair) }
        var src = src0
        for (k, step) in steps.enumerated() {
            let out: UnsafeMutablePointer<Float> = k == steps.count - 1 ? dst : (k % 2 == 0 ? pair!.0.base : pair!.1.base)
            var shape = step.sampleInput
            shape.n = n
            do {
                try step.layer.forward(input: src, output: out, shape: shape, threads: t)
            } catch let e as ConvError {
                throw ConvError.invalidArgument("layer \(step.index) '\(step.name)': \(e)")
            }
            src = UnsafePointer(out)
        }
    }

    /// Runs `input` (`[N, C, H, W]` with `N <= maxBatch`) and returns the output `[N, ...]`.
    /// - Throws: ``ConvError/shapeMismatch(what:expected:actual:)`` for a wrong sample shape,
    ///   and what ``run(input:output:batch:threads:)`` throws.
    public func run(_ input: Tensor, threads: Int? = nil) throws -> Tensor {
        let s = input.shape
        if s.c != inputShape.c || s.h != inputShape.h || s.w != inputShape.w {
            throw ConvError.shapeMismatch(what: "model input", expected: [s.n, inputShape.c, inputShape.h, inputShape.w],
                                          actual: s.dims)
        }
        var out = try Tensor(shape: TensorShape(n: s.n, c: outputShape.c, h: outputShape.h, w: outputShape.w))
        try input.withUnsafeBufferPointer { x in
            try out.withUnsafeMutableBufferPointer { y in try run(input: x, output: y, batch: s.n, threads: threads) }
        }
        return out
    }

    private func takePair() -> (AlignedBuffer, AlignedBuffer)? {
        if bufferCount == 0 { return nil }
        lock.lock()
        let p = freePairs.popLast()
        lock.unlock()
        return p ?? (AlignedBuffer(count: bufferCount), AlignedBuffer(count: bufferCount))
    }

    private func givePair(_ pair: (AlignedBuffer, AlignedBuffer)?) {
        guard let pair else { return }
        lock.lock()
        freePairs.append(pair)
        lock.unlock()
    }
}
