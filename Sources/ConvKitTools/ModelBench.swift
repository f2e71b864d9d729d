import ConvKit
import Foundation

/// One model, backend and thread count of `convkit bench --models`.
public struct ModelBenchRecord: Codable, Equatable, Sendable {
    public var model: String
    public var backend: String
    public var threads: Int
    public var batch: Int
    /// Median over rounds of the per-run time (input in, logits out), milliseconds.
    public var medianMs: Double?
    public var minMs: Double?
    public var maxMs: Double?
    /// `(max - min) / median` over the rounds.
    public var spread: Double?
    /// Runs timed per round, rounds.
    public var reps: Int?
    public var rounds: Int?
    /// FLOPs of one run; `gflops = flops / median`.
    public var flops: Int
    public var gflops: Double?
    /// Normalized max error of the output against `checkedAgainst` (empty for the oracle).
    public var maxErr: Double?
    public var checkedAgainst: String?
    /// One-time costs outside the timed region: preparation and the first run.
    public var prepareMs: Double?
    public var firstRunMs: Double?
    /// Activation memory of one run (the planned arena), bytes.
    public var activationBytes: Int?
    public var status: BenchStatus
    public var reason: String?
    /// Convolutions per backend after `auto`'s choice and fallbacks (`direct 31, winograd 22`).
    public var convolutions: String?
}

/// Times whole models per backend and thread count: prepared outside the timed region, then per
/// round every model, thread count and backend interleaved, each cell timed for `minTime`
/// seconds (at least one run); the median over rounds is reported. Every output is compared
/// with the output of the `direct` backend (the fastest exact backend; the float64 reference is
/// too slow for whole models), so a fast wrong result cannot win.
public struct ModelBenchRunner {
    public var models: [String]
    public var backends: [String]
    public var threads: [Int]
    public var rounds: Int
    public var minTime: Double
    public var batch: Int
    public var seed: UInt64
    /// Loads a model by name or path, with weights (the default: ``GraphModel/named(_:registry:)``
    /// and He initialisation from the seed; the CLI also reads ONNX files, weights included).
    public var load: (_ name: String, _ seed: UInt64) throws -> GraphModel

    public init(models: [String], backends: [String], threads: [Int], rounds: Int, minTime: Double, batch: Int = 1,
                seed: UInt64 = 0, load: ((String, UInt64) throws -> GraphModel)? = nil) {
        self.models = models; self.backends = backends; self.threads = threads; self.rounds = rounds
        self.minTime = minTime; self.batch = batch; self.seed = seed
        self.load = load ?? { name, seed in
            let m = try GraphModel.named(name)
            m.initializeWeights(seed: seed)
            return m
        }
    }

    /// The built-in torchvision architectures (`--models zoo`).
    public static let zoo = ["resnet18", "resnet50", "mobilenet_v2", "squeezenet1_1"]

    struct Cell {
        var record: ModelBenchRecord
        var prepared: PreparedModel?
        var times: [Double] = []
        var reps = 0
    }

    /// Runs the benchmark. `progress(done, total, label)` is called before each cell.
    public func run(progress: ((Int, Int, String) -> Void)? = nil) throws -> [ModelBenchRecord] {
        var cells: [Cell] = []
        var inputs: [String: [Float]] = [:]
        var outputs: [String: [Float]] = [:]
        for name in models {
            let model = try load(name, seed)
            var rng = SplitMix64(seed: seed &+ 1)
            let x = (0..<(batch * model.inputShape.count)).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53)) }
            inputs[name] = x
            for b in backends {
                for t in threads {
                    var r = ModelBenchRecord(model: name, backend: b, threads: t, batch: batch, flops: model.flops * batch,
                                             status: .ok)
                    do {
                        let start = DispatchTime.now().uptimeNanoseconds
                        let p = try model.prepare(batch: batch, backend: b, threads: t)
                        r.prepareMs = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
                        r.activationBytes = p.activationBytes
                        var counts: [String: Int] = [:]
                        for (_, v) in p.backends { counts[v, default: 0] += 1 }
                        r.convolutions = counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                        var y = [Float](repeating: 0, count: batch * p.outputSampleCount)
                        let first = DispatchTime.now().uptimeNanoseconds
                        try run(p, x, &y)
                        r.firstRunMs = Double(DispatchTime.now().uptimeNanoseconds - first) / 1e6
                        outputs["\(name)/\(b)/\(t)"] = y
                        cells.append(Cell(record: r, prepared: p))
                    } catch {
                        r.status = .failed
                        r.reason = "\(error)"
                        cells.append(Cell(record: r, prepared: nil))
                    }
                }
            }
        }
        // Accuracy against direct (1 thread when measured, else any direct cell).
        for i in cells.indices where cells[i].prepared != nil {
            let r = cells[i].record
            guard r.backend != "direct" else { continue }
            let key = outputs.keys.sorted().first { $0.hasPrefix("\(r.model)/direct/") }
            guard let key, let want = outputs[key], let got = outputs["\(r.model)/\(r.backend)/\(r.threads)"] else { continue }
            // nil: a NaN or infinity in the output.
            let err = got.withUnsafeBufferPointer { g in want.withUnsafeBufferPointer { BenchRunner.normalizedMaxError(g, reference: $0) } }
                ?? .infinity
            cells[i].record.maxErr = err
            cells[i].record.checkedAgainst = "direct"
            if !(err <= 1e-3) {
                cells[i].record.status = .inaccurate
                cells[i].record.reason = "normalized error \(err) against direct"
            }
        }
        let total = rounds * cells.count
        var done = 0
        for _ in 0..<rounds {
            for i in cells.indices {
                progress?(done, total, "\(cells[i].record.model) \(cells[i].record.backend) \(cells[i].record.threads)T")
                done += 1
                guard let p = cells[i].prepared else { continue }
                let x = inputs[cells[i].record.model]!
                var y = [Float](repeating: 0, count: batch * p.outputSampleCount)
                var reps = 0
                let start = DispatchTime.now().uptimeNanoseconds
                var elapsed = 0.0
                repeat {
                    try run(p, x, &y)
                    reps += 1
                    elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                } while elapsed < minTime
                cells[i].times.append(elapsed / Double(reps) * 1e3)
                cells[i].reps = reps
            }
        }
        return cells.map { c in
            var r = c.record
            guard !c.times.isEmpty else { return r }
            let sorted = c.times.sorted()
            let median = sorted[sorted.count / 2]
            r.medianMs = median
            r.minMs = sorted.first
            r.maxMs = sorted.last
            r.spread = (sorted.last! - sorted.first!) / median
            r.reps = c.reps
            r.rounds = c.times.count
            r.gflops = Double(r.flops) / median / 1e6
            return r
        }
    }

    private func run(_ p: PreparedModel, _ x: [Float], _ y: inout [Float]) throws {
        try x.withUnsafeBufferPointer { xb in try y.withUnsafeMutableBufferPointer { try p.run(input: xb, output: $0, batch: batch) } }
    }
}

/// Output of `convkit bench --models`.
public enum ModelBenchFormat {
    /// A table per model: backend, threads, median ms, min-max, spread, GFLOP/s, speed-up vs
    /// `auto` (or the first backend), error vs direct, convolutions per backend; then warnings for
    /// cells whose rounds disagree by more than 10%.
    public static func table(_ records: [ModelBenchRecord], rounds: Int, minTime: Double) -> String {
        var out = "whole models, batch \(records.first?.batch ?? 1), random weights: median over \(rounds) rounds of "
            + "\(minTime) s per cell, backends interleaved per round\n"
        let base = records.first?.backend ?? "auto"
        var noisy: [String] = []
        for model in BenchTableFormatter.unique(records.map(\.model)) {
            let rs = records.filter { $0.model == model }
            let gflop = Double(rs[0].flops) / 1e9
            out += "\n\(model)  \(String(format: "%.2f", gflop)) GFLOP per run\n"
            let header = ["backend", "threads", "median ms", "min-max ms", "spread", "GFLOP/s", "vs \(base)", "max err",
                          "convolutions"]
            var rows = [header]
            for r in rs {
                guard let m = r.medianMs else {
                    rows.append([r.backend, "\(r.threads)", "\(r.status.rawValue): \(r.reason ?? "")", "", "", "", "", "", ""])
                    continue
                }
                let ref = records.first { $0.model == model && $0.backend == base && $0.threads == r.threads }?.medianMs
                if (r.spread ?? 0) > 0.1 { noisy.append("\(model) \(r.backend) \(r.threads)T (\(String(format: "%.0f", 100 * r.spread!))%)") }
                rows.append([r.backend, "\(r.threads)", String(format: "%.2f", m),
                             String(format: "%.2f-%.2f", r.minMs ?? m, r.maxMs ?? m),
                             String(format: "%.0f%%", 100 * (r.spread ?? 0)), String(format: "%.1f", r.gflops ?? 0),
                             ref.map { String(format: "%.2fx", $0 / m) } ?? "-",
                             r.maxErr.map { String(format: "%.1e", $0) } ?? (r.backend == "direct" ? "(oracle)" : "-"),
                             r.convolutions ?? ""])
            }
            var widths = header.map { _ in 0 }
            for row in rows { for (i, c) in row.enumerated() { widths[i] = Swift.max(widths[i], c.count) } }
            for row in rows {
                out += "  " + row.enumerated().map { i, c in
                    let pad = String(repeating: " ", count: widths[i] - c.count)
                    return (2...7).contains(i) ? pad + c : c + pad
                }.joined(separator: "  ") + "\n"
            }
        }
        if !noisy.isEmpty {
            out += "\nwarning: rounds differ by more than 10% (noisy machine?): \(noisy.joined(separator: ", "))\n"
        }
        return out
    }

    /// CSV: one line per record, numbers unformatted.
    public static func csv(_ records: [ModelBenchRecord]) -> String {
        let header = "model,backend,threads,batch,median_ms,min_ms,max_ms,spread,gflops,flops,max_err,checked_against,"
            + "reps,rounds,prepare_ms,first_run_ms,activation_bytes,status,reason,convolutions"
        func f(_ v: Double?) -> String { v.map { "\($0)" } ?? "" }
        func q(_ s: String?) -> String {
            guard let s else { return "" }
            return s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        var out = header + "\n"
        for r in records {
            out += [r.model, r.backend, "\(r.threads)", "\(r.batch)", f(r.medianMs), f(r.minMs), f(r.maxMs), f(r.spread),
                    f(r.gflops), "\(r.flops)", f(r.maxErr), r.checkedAgainst ?? "", r.reps.map(String.init) ?? "",
                    r.rounds.map(String.init) ?? "", f(r.prepareMs), f(r.firstRunMs), r.activationBytes.map(String.init) ?? "",
                    r.status.rawValue, q(r.reason), q(r.convolutions)].joined(separator: ",") + "\n"
        }
        return out
    }

    /// JSON: `{"models": [records...]}`, keys in snake case.
    public static func json(_ records: [ModelBenchRecord]) throws -> String {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try e.encode(["models": records]), as: UTF8.self) + "\n"
    }

    /// The records as layer-bench records (layer = model), for the SVG bar chart of GFLOP/s.
    public static func plotReport(_ records: [ModelBenchRecord], rounds: Int, minTime: Double) -> BenchReport {
        let rs = records.map { m -> BenchRecord in
            var r = BenchRecord(layer: BenchLayer(name: m.model, descriptor: Conv2DDescriptor(channels: 1, height: 1, width: 1, filters: 1, size: 1)),
                                backend: m.backend, threads: m.threads, status: m.status, reason: m.reason)
            r.medianMs = m.medianMs
            r.gflops = m.gflops
            r.flops = m.flops
            return r
        }
        return BenchReport(records: rs, peakGFLOPsPerThread: nil, rounds: rounds, minTime: minTime)
    }
}
