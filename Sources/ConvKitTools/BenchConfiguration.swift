import ConvKit

/// Everything a benchmark run needs: what to run and how long to time it.
public struct BenchConfiguration: Sendable {
    /// The layers, in output order. Names must be unique.
    public var layers: [BenchLayer]
    /// The backends, in output order. Unavailable backends are allowed (reported as such).
    public var backends: [any ConvBackend]
    /// Thread counts passed to `execute`, in output order; each at least 1.
    public var threadCounts: [Int]
    /// Rounds; the reported time is the median over rounds.
    public var rounds: Int = 5
    /// Seconds each (layer, backend, threads) cell is timed per round: the number of
    /// repetitions is chosen once, after warm-up, to fill this time (at least one run).
    public var minTime: Double = 0.25
    /// Layers up to this many FLOPs are checked against the reference backend; larger ones
    /// against `direct` when it ran, else against the first backend that ran.
    public var referenceFlopLimit: Int = 2_000_000_000
    /// The oracle for small layers.
    public var reference: any ConvBackend = ReferenceBackend()
    /// A normalized max error above this marks a cell ``BenchStatus/inaccurate``.
    public var errorTolerance: Double = 1e-3
    /// Peak GFLOP/s of one thread, for the `% of peak` column; `nil` when unknown.
    public var peakGFLOPsPerThread: Double? = BenchConfiguration.defaultPeakGFLOPsPerThread
    /// Seed of the inputs, weights and biases (uniform in [-1, 1)); each layer's data is
    /// derived from the seed and the layer's name, so it does not depend on the suite order.
    public var seed: UInt64 = 0xC0_4E_7C_17

    /// Creates a configuration; the timing settings keep their defaults.
    public init(layers: [BenchLayer], backends: [any ConvBackend], threadCounts: [Int]) {
        self.layers = layers
        self.backends = backends
        self.threadCounts = threadCounts
    }

    /// The single-thread f32 FMA peak of this machine in GFLOP/s for the ISA in use
    /// (``KernelISA/selected``), measured once per process with
    /// ``CPUFeatures/measureFMAPeakGFLOPs(seconds:isa:)`` (12 independent FMA chains of the
    /// ISA's vectors: zmm on AVX-512F, ymm on AVX2+FMA), or `nil` on the portable ISA. It is the
    /// ceiling of ConvKit's kernels of that ISA. Override it with `--peak-gflops`.
    public static let measuredPeakGFLOPsPerThread: Double? = CPUFeatures.measureFMAPeakGFLOPs(seconds: 0.15)

    /// The default peak per thread: ``measuredPeakGFLOPsPerThread``.
    public static var defaultPeakGFLOPsPerThread: Double? { measuredPeakGFLOPsPerThread }

    /// The default thread counts: 1 and ``ConvKit/defaultThreadCount``, deduplicated.
    public static var defaultThreadCounts: [Int] {
        let all = ConvKit.defaultThreadCount
        return all == 1 ? [1] : [1, all]
    }

    /// Checks the settings.
    /// - Throws: ``ConvError/invalidArgument(_:)`` for empty layer, backend or thread lists,
    ///   duplicate layer or backend names or thread counts; ``ConvError/nonPositive(parameter:value:)``
    ///   for a thread count or round count below 1; a negative or non-finite time, tolerance
    ///   or peak.
    public func validate() throws {
        if layers.isEmpty { throw ConvError.invalidArgument("no layers to benchmark") }
        if backends.isEmpty { throw ConvError.invalidArgument("no backends to benchmark") }
        if threadCounts.isEmpty { throw ConvError.invalidArgument("no thread counts given") }
        if let dup = firstDuplicate(layers.map(\.name)) {
            throw ConvError.invalidArgument("layer name '\(dup)' appears twice")
        }
        if let dup = firstDuplicate(backends.map(\.name)) {
            throw ConvError.invalidArgument("backend '\(dup)' appears twice")
        }
        if let dup = firstDuplicate(threadCounts) {
            throw ConvError.invalidArgument("thread count \(dup) appears twice")
        }
        for t in threadCounts where t < 1 { throw ConvError.nonPositive(parameter: "threads", value: t) }
        if rounds < 1 { throw ConvError.nonPositive(parameter: "rounds", value: rounds) }
        if !(minTime >= 0 && minTime.isFinite) {
            throw ConvError.invalidArgument("minimum time must be a non-negative number of seconds, got \(minTime)")
        }
        if !(errorTolerance >= 0 && errorTolerance.isFinite) {
            throw ConvError.invalidArgument("error tolerance must be non-negative, got \(errorTolerance)")
        }
        if let p = peakGFLOPsPerThread, !(p > 0 && p.isFinite) {
            throw ConvError.invalidArgument("peak GFLOP/s must be positive, got \(p)")
        }
        for layer in layers { try layer.descriptor.validate() }
    }
}

private func firstDuplicate<T: Hashable>(_ values: [T]) -> T? {
    var seen = Set<T>()
    for v in values where !seen.insert(v).inserted { return v }
    return nil
}
