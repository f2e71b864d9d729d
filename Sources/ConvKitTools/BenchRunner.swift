import ConvKit
import Foundation

/// The results of a benchmark run, ready for the formatters.
public struct BenchReport: Codable, Equatable, Sendable {
    /// One record per layer, backend and thread count, in layer, backend, thread order.
    public var records: [BenchRecord]
    /// The peak GFLOP/s per thread used for `peak_pct` (nil when unknown).
    public var peakGFLOPsPerThread: Double?
    /// Rounds and minimum time per cell and round, as configured.
    public var rounds: Int
    public var minTime: Double
    /// Cores of the machine: the peak of `t` threads is `min(t, cores) x peak per thread`.
    public var cores: Int

    public init(records: [BenchRecord], peakGFLOPsPerThread: Double?, rounds: Int, minTime: Double,
                cores: Int = BenchReport.activeCores) {
        self.records = records
        self.peakGFLOPsPerThread = peakGFLOPsPerThread
        self.rounds = rounds
        self.minTime = minTime
        self.cores = cores
    }

    /// The active processor count of this machine.
    public static var activeCores: Int { max(ProcessInfo.processInfo.activeProcessorCount, 1) }

    /// The peak GFLOP/s of `threads` threads (`min(threads, cores) x peak per thread`), if known.
    public func peak(threads: Int) -> Double? {
        peakGFLOPsPerThread.map { $0 * Double(min(threads, cores)) }
    }
}

/// Where a benchmark run is: called before each layer with its 1-based index.
public struct BenchProgress: Sendable {
    public var index: Int
    public var count: Int
    public var layer: String
}

/// The benchmark engine.
///
/// Method, per layer:
/// 1. Deterministic input, weights and bias, uniform in [-1, 1) (``SplitMix64`` seeded
///    from the configuration's seed and the layer's name).
/// 2. Every backend is prepared outside the timed region; the prepare time and the first
///    execution are recorded as one-time costs. Unavailable backends and layers a backend
///    does not support are recorded with their reason, never run.
/// 3. The oracle output: the reference backend for layers up to
///    ``BenchConfiguration/referenceFlopLimit`` FLOPs, else `direct` when it ran, else the
///    first backend that ran. For each thread count every backend runs once more and its
///    output is compared with the oracle (normalized max error).
/// 4. Warm-up and calibration: each (backend, threads) runs until about a fifth of the
///    minimum time has passed; the repetition count is set to fill the minimum time.
/// 5. For each round, for each thread count, the backends run interleaved, each timing its
///    repetitions (and, for ``LayoutConvertingConvolution``, the core computation alone);
///    per-run time = elapsed / repetitions on a monotonic clock.
/// 6. Median, minimum and maximum over rounds.
///
/// Threading: ``run(progress:)`` runs on the calling thread; the backends use their own
/// worker threads. Run one benchmark at a time on a machine for meaningful numbers.
public struct BenchRunner {
    public let configuration: BenchConfiguration

    /// - Throws: whatever ``BenchConfiguration/validate()`` throws.
    public init(configuration: BenchConfiguration) throws {
        try configuration.validate()
        self.configuration = configuration
    }

    /// Runs the whole benchmark and returns its records. Backend failures become records
    /// with status ``BenchStatus/failed``; this method itself does not fail.
    public func run(progress: ((BenchProgress) -> Void)? = nil) -> BenchReport {
        let config = configuration
        var records: [BenchRecord] = []
        for (i, layer) in config.layers.enumerated() {
            progress?(BenchProgress(index: i + 1, count: config.layers.count, layer: layer.name))
            records += runLayer(layer)
        }
        var report = BenchReport(records: records, peakGFLOPsPerThread: config.peakGFLOPsPerThread,
                                 rounds: config.rounds, minTime: config.minTime)
        Self.fillRelativeColumns(&report)
        return report
    }

    /// The deterministic (input, weights, bias) of `layer` under `seed`.
    public static func data(for layer: BenchLayer, seed: UInt64) -> (input: [Float], weights: [Float], bias: [Float]) {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325 // FNV-1a of the name
        for byte in layer.name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        var rng = SplitMix64(seed: seed ^ hash)
        let d = layer.descriptor
        let input = rng.signedUnitFloats(count: d.inputCount)
        let weights = rng.signedUnitFloats(count: d.weightCount)
        let bias = rng.signedUnitFloats(count: d.biasCount)
        return (input, weights, bias)
    }

    /// The normalized max error `max|y - ref| / max|ref|` (the absolute max error when the
    /// reference is all zeros); `nil` when `y` holds a NaN or infinity.
    public static func normalizedMaxError(_ y: UnsafeBufferPointer<Float>, reference: UnsafeBufferPointer<Float>) -> Double? {
        var maxDiff = 0.0, maxRef = 0.0
        for i in 0..<Swift.min(y.count, reference.count) {
            let a = Double(y[i]), b = Double(reference[i])
            if !a.isFinite { return nil }
            maxDiff = Swift.max(maxDiff, abs(a - b))
            maxRef = Swift.max(maxRef, abs(b))
        }
        return maxRef > 0 ? maxDiff / maxRef : maxDiff
    }

    // MARK: - One layer

    /// One backend's state while a layer is measured.
    private final class Cell {
        let backend: any ConvBackend
        var prepared: (any PreparedConvolution)?
        var status: BenchStatus = .ok
        var reason: String?
        var prepareMs: Double?
        var firstRunMs: Double?
        var output: Tensor
        /// Per thread count: error, repetitions, per-run seconds of each round.
        var maxErr: [Int: Double] = [:]
        var inaccurate: [Int: String] = [:]
        var reps: [Int: Int] = [:]
        var coreReps: [Int: Int] = [:]
        var times: [Int: [Double]] = [:]
        var coreTimes: [Int: [Double]] = [:]

        init(backend: any ConvBackend, output: Tensor) {
            self.backend = backend
            self.output = output
        }

        var isRunning: Bool { prepared != nil && status == .ok }

        func fail(_ error: any Error) {
            status = .failed
            reason = "\(error)"
            prepared = nil
        }
    }

    private func runLayer(_ layer: BenchLayer) -> [BenchRecord] {
        let config = configuration
        let d = layer.descriptor
        let (inputValues, weights, bias) = Self.data(for: layer, seed: config.seed)
        // Descriptors were validated, so these shapes are valid.
        guard let input = try? Tensor(shape: TensorShape(d.inputShape), values: inputValues),
              let emptyOutput = try? Tensor(shape: TensorShape(d.outputShape))
        else {
            return config.backends.flatMap { b in
                config.threadCounts.map {
                    BenchRecord(layer: layer, backend: b.name, threads: $0, status: .failed,
                                reason: "cannot allocate the tensors")
                }
            }
        }
        let firstThreads = config.threadCounts[0]

        // Prepare (one-time costs), then a first run.
        let cells = config.backends.map { Cell(backend: $0, output: emptyOutput) }
        for cell in cells {
            let b = cell.backend
            if case let .unavailable(reason) = b.availability {
                cell.status = .unavailable; cell.reason = reason; continue
            }
            if case let .unsupported(reason) = b.support(for: d) {
                cell.status = .unsupported; cell.reason = reason; continue
            }
            do {
                let (seconds, prepared) = try BenchClock.measure { try b.prepare(d, weights: weights, bias: bias) }
                cell.prepareMs = seconds * 1e3
                cell.prepared = prepared
                let (first, _) = try BenchClock.measure { try prepared.execute(input, into: &cell.output, threads: firstThreads) }
                cell.firstRunMs = first * 1e3
            } catch {
                cell.fail(error)
            }
        }

        // The oracle.
        var oracleName: String?
        var oracleOutput: Tensor?
        var oracleCell: Cell?
        if d.flops <= config.referenceFlopLimit {
            oracleName = config.reference.name
            if let own = cells.first(where: { $0.backend.name == config.reference.name && $0.isRunning }) {
                oracleOutput = own.output
                oracleCell = own
            } else if let p = try? config.reference.prepare(d, weights: weights, bias: bias),
                      let y = try? p.execute(input, threads: nil) {
                oracleOutput = y
            } else {
                oracleName = nil
            }
        }
        if oracleOutput == nil {
            if let c = cells.first(where: { $0.backend.name == "direct" && $0.isRunning })
                ?? cells.first(where: { $0.isRunning }) {
                oracleName = c.backend.name
                oracleOutput = c.output
                oracleCell = c
            }
        }

        // Accuracy per thread count, warm-up and calibration.
        for t in config.threadCounts {
            for cell in cells where cell.isRunning {
                guard let p = cell.prepared else { continue }
                do {
                    try p.execute(input, into: &cell.output, threads: t)
                    if let ref = oracleOutput, cell !== oracleCell {
                        let err = cell.output.withUnsafeBufferPointer { y in
                            ref.withUnsafeBufferPointer { Self.normalizedMaxError(y, reference: $0) }
                        }
                        if let err {
                            cell.maxErr[t] = err
                            if err > config.errorTolerance {
                                cell.inaccurate[t] = "error above the tolerance \(config.errorTolerance)"
                            }
                        } else {
                            cell.inaccurate[t] = "output contains NaN or infinity"
                        }
                    }
                    let perRun = try calibrate { try p.execute(input, into: &cell.output, threads: t) }
                    cell.reps[t] = repetitions(perRun: perRun)
                    if let core = p as? any LayoutConvertingConvolution {
                        let corePerRun = try calibrate { try core.executeCoreOnly(threads: t) }
                        cell.coreReps[t] = repetitions(perRun: corePerRun)
                    }
                } catch {
                    cell.fail(error)
                }
            }
        }

        // Timed rounds, backends interleaved.
        for _ in 0..<config.rounds {
            for t in config.threadCounts {
                for cell in cells where cell.isRunning {
                    guard let p = cell.prepared, let reps = cell.reps[t] else { continue }
                    do {
                        let perRun = try input.withUnsafeBufferPointer { x in
                            try cell.output.withUnsafeMutableBufferPointer { y in
                                try timeRuns(reps) { try p.execute(input: x, output: y, threads: t) }
                            }
                        }
                        cell.times[t, default: []].append(perRun)
                        if let core = p as? any LayoutConvertingConvolution, let coreReps = cell.coreReps[t] {
                            // The core works on the buffers the last execute left behind.
                            let corePerRun = try timeRuns(coreReps) { try core.executeCoreOnly(threads: t) }
                            cell.coreTimes[t, default: []].append(corePerRun)
                        }
                    } catch {
                        cell.fail(error)
                    }
                }
            }
        }

        // Records.
        var out: [BenchRecord] = []
        for cell in cells {
            for t in config.threadCounts {
                var rec = BenchRecord(layer: layer, backend: cell.backend.name, threads: t,
                                      status: cell.status, reason: cell.reason)
                rec.prepareMs = cell.prepareMs
                rec.firstRunMs = cell.firstRunMs
                rec.implementation = cell.prepared?.implementation
                if cell.status == .ok {
                    let times = cell.times[t] ?? []
                    rec.checkedAgainst = oracleName
                    rec.maxErr = cell.maxErr[t]
                    if cell === oracleCell {
                        rec.reason = "oracle for this layer"
                    } else if oracleName == nil {
                        rec.reason = "not checked: no oracle ran"
                    }
                    if let why = cell.inaccurate[t] {
                        rec.status = .inaccurate
                        rec.reason = why
                    }
                    if let median = Self.median(times) {
                        rec.medianMs = median * 1e3
                        rec.minMs = times.min()! * 1e3
                        rec.maxMs = times.max()! * 1e3
                        rec.gflops = Double(d.flops) / median * 1e-9
                        rec.reps = cell.reps[t]
                        rec.rounds = times.count
                    }
                    if let coreMedian = Self.median(cell.coreTimes[t] ?? []) {
                        rec.coreMs = coreMedian * 1e3
                        rec.coreGflops = Double(d.flops) / coreMedian * 1e-9
                    }
                }
                out.append(rec)
            }
        }
        return out
    }

    // MARK: - Timing

    /// Runs `body` until about a fifth of the minimum time has passed (at least twice: the
    /// first run is a warm-up) and returns the mean seconds per run of the timed runs.
    private func calibrate(_ body: () throws -> Void) throws -> Double {
        try body() // warm-up
        let budget = configuration.minTime / 5
        var runs = 0
        var elapsed = 0.0
        repeat {
            let (s, _) = try BenchClock.measure(body)
            elapsed += s
            runs += 1
        } while elapsed < budget
        return elapsed / Double(runs)
    }

    private func repetitions(perRun: Double) -> Int {
        guard perRun > 0 else { return 1_000 }
        return Swift.max(1, Swift.min(1_000_000, Int((configuration.minTime / perRun).rounded(.up))))
    }

    /// Seconds per run of `reps` back-to-back runs of `body`.
    private func timeRuns(_ reps: Int, _ body: () throws -> Void) throws -> Double {
        let start = BenchClock.nowNanoseconds()
        for _ in 0..<reps { try body() }
        let end = BenchClock.nowNanoseconds()
        return Double(end &- start) * 1e-9 / Double(reps)
    }

    static func median(_ values: [Double]) -> Double? {
        if values.isEmpty { return nil }
        let s = values.sorted()
        let m = s.count / 2
        return s.count % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2
    }

    /// Fills `speedup_vs_onednn` and `peak_pct` once every record exists.
    static func fillRelativeColumns(_ report: inout BenchReport) {
        var onednn: [String: Double] = [:] // "layer|threads" -> median_ms
        for r in report.records where r.backend == "onednn" && r.status == .ok {
            if let m = r.medianMs { onednn["\(r.layer)|\(r.threads)"] = m }
        }
        for i in report.records.indices {
            let r = report.records[i]
            guard let m = r.medianMs, m > 0 else { continue }
            if let base = onednn["\(r.layer)|\(r.threads)"] {
                report.records[i].speedupVsOnednn = base / m
            }
            if let peak = report.peak(threads: r.threads), let g = r.gflops {
                report.records[i].peakPct = 100 * g / peak
            }
        }
    }
}
