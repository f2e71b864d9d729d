import ConvKit

/// One benchmark's state: a layer prepared on one backend, with its input and output
/// buffers, run at a fixed thread count.
///
/// - ``setUp()`` (outside the measured region): draws weights, bias and input, prepares
///   the convolution (weights packed, workspace sized, oneDNN primitives created), runs it
///   once (first-call costs), checks that output against the oracle (``OutputCheck``) and
///   keeps it.
/// - ``run()`` (the measured region): one `execute` on caller-owned buffers, nothing else.
/// - ``tearDown()`` (outside the measured region): checks that the output of the last
///   measured call still equals the checked first one, so a run that went wrong midway
///   cannot report a time; then frees the buffers.
///
/// Any failure throws, and package-benchmark reports it as the benchmark's error instead
/// of a result.
final class Workload {
    let backend: any ConvBackend
    let layer: Layer
    let threads: Int

    private var prepared: (any PreparedConvolution)?
    private var input = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
    private var output = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
    private var checkedOutput: [Float] = []

    init(backend: any ConvBackend, layer: Layer, threads: Int) {
        self.backend = backend
        self.layer = layer
        self.threads = threads
    }

    deinit { releaseBuffers() }

    /// The name the benchmark is registered (and baselined) under: `backend layer tN`.
    var benchmarkName: String { "\(backend.name) \(layer.name) t\(threads)" }

    /// Floating-point operations of one run (`2*N*K*OH*OW*(C/groups)*R*S`).
    var flops: Int { layer.descriptor.flops }

    /// Prepares, runs once and checks the result. Not measured.
    func setUp() throws {
        let d = layer.descriptor
        var rng = SplitMix64(seed: 0xC0_4E_C1_7)
        let weights = rng.uniform(d.weightCount)
        let bias = d.hasBias ? rng.uniform(d.outputChannels) : nil
        let x = rng.uniform(d.inputCount)

        let p = try backend.prepare(d, weights: weights, bias: bias)
        releaseBuffers()
        input = .allocateAligned(count: d.inputCount)
        _ = input.initialize(from: x)
        output = .allocateAligned(count: d.outputCount)
        output.initialize(repeating: .nan)

        try p.execute(input: UnsafeBufferPointer(input), output: output, threads: threads)
        let y = Array(output)
        try OutputCheck.verify(y, of: layer, backend: backend.name, input: x, weights: weights, bias: bias)
        checkedOutput = y
        output.update(repeating: .nan)
        prepared = p
    }

    /// The measured call: one convolution on the prepared buffers.
    @inline(__always)
    func run() throws {
        guard let prepared else {
            throw ConvError.invalidArgument("benchmark \(benchmarkName) ran without a successful setUp()")
        }
        try prepared.execute(input: UnsafeBufferPointer(input), output: output, threads: threads)
    }

    /// Checks the last measured output against the checked first one, then frees everything.
    func tearDown() throws {
        defer {
            prepared = nil
            checkedOutput = []
            releaseBuffers()
        }
        guard prepared != nil else { return }
        try OutputCheck.verifyRepeat(Array(output), first: checkedOutput, of: layer, backend: backend.name)
    }

    private func releaseBuffers() {
        if input.baseAddress != nil { input.deallocate() }
        if output.baseAddress != nil { output.deallocate() }
        input = .init(start: nil, count: 0)
        output = .init(start: nil, count: 0)
    }
}

extension UnsafeMutableBufferPointer where Element == Float {
    /// Uninitialised storage for `count` floats, 64-byte aligned (a cache line, as `Tensor`).
    static func allocateAligned(count: Int) -> UnsafeMutableBufferPointer<Float> {
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: count * MemoryLayout<Float>.stride,
                                                         alignment: 64)
        return raw.bindMemory(to: Float.self)
    }
}

extension SplitMix64 {
    /// `count` values uniform in [-1, 1) (ConvKit's generator: every run benchmarks the same data).
    mutating func uniform(_ count: Int) -> [Float] { signedUnitFloats(count: count) }
}
