import ArgumentParser
import ConvKit
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `convkit run`: runs a model on a batch from a `.npy` file and writes the outputs.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a model on a batch of inputs (.npy) and write its outputs (.npy).",
        discussion: """
            MODEL is an ONNX file (weights included), a JSON model file or a built-in name (\(BuiltInModels.names.joined(separator: ", "))). \
            The input is a float32 .npy array [N, C, H, W] matching the model's input; the output is the \
            model's output in its own shape (float32 [N, classes] for a classifier: logits, or probabilities \
            when the model ends in a softmax), written \
            atomically after a successful run. Without --weights the weights are He-initialised from \
            --seed (deterministic). Exits non-zero with one line on stderr, writing nothing, on error.
            """)

    @Option(parsing: .unconditional, help: ArgumentHelp("A model file (.onnx or .json) or a built-in name.", valueName: "file|name"))
    var model: String

    @Option(parsing: .unconditional, help: ArgumentHelp("Weights in safetensors format (default: He initialisation from --seed).",
                               valueName: "file.safetensors"))
    var weights: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Input batch, float32 [N, C, H, W].", valueName: "x.npy"))
    var input: String

    @Option(parsing: .unconditional, help: ArgumentHelp("Output file, float32 [N, classes].", valueName: "y.npy"))
    var output: String

    @Option(parsing: .unconditional, help: ArgumentHelp("Backend for the convolutions: a registered backend or auto.", valueName: "name"))
    var backend: String = "auto"

    @Option(parsing: .unconditional, help: ArgumentHelp("Worker threads (default: CONVKIT_NUM_THREADS or all cores).", valueName: "n"))
    var threads: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seed of the weight initialisation when there is no --weights.", valueName: "n"))
    var seed: UInt64 = 0

    @Option(name: .customLong("layer-backend"),
            help: ArgumentHelp("Backend for one convolution layer (repeatable).", valueName: "layer=name"))
    var layerBackends: [String] = []

    @Option(parsing: .unconditional, help: ArgumentHelp("Time this many runs after one warm-up run and print the median and minimum run time on stderr.",
                               valueName: "n"))
    var timeRuns: Int = 0

    @Flag(help: "Print a per-node profile on stderr (backend, kernel, median time, share, GFLOP/s) over --time-runs runs (default 10).")
    var profile = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Print the K highest-scoring classes of each sample on stdout.", valueName: "K"))
    var top: Int?

    @Flag(help: "Fail instead of running a node on another backend than the one requested (default: a note on stderr per node).")
    var strict = false

    @Flag(help: "Print nothing on success (no summary line).")
    var quiet = false

    func run() throws {
        try runReportingErrors {
            if let top, top < 1 { throw CLIError.malformed("--top", "\(top)", expected: "a positive integer") }
            let start = DispatchTime.now().uptimeNanoseconds
            let result = try execute()
            try NumPyArray(shape: result.shape, values: result.values).write(path: output)
            if !quiet {
                let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
                print("\(output): [\(result.shape.map(String.init).joined(separator: ", "))] float32; "
                      + "\(result.summary), \(String(format: "%.1f", ms)) ms in all (load, prepare, run)")
            }
            if let top { print(Self.topClasses(result.values, shape: result.shape, k: top)) }
        }
    }

    /// The `k` best classes of each sample: `sample 0: 281 (12.5), 285 (11.0), ...`.
    static func topClasses(_ values: [Float], shape: [Int], k: Int) -> String {
        let n = shape[0], per = values.count / Swift.max(n, 1)
        return (0..<n).map { s in
            let row = values[(s * per)..<((s + 1) * per)]
            let best = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(k)
            return "sample \(s): " + best.map { "\($0 - s * per) (\(String(format: "%.4g", row[$0])))" }.joined(separator: ", ")
        }.joined(separator: "\n")
    }

    /// Loads the model, weights and input, runs, and returns the output (nothing written).
    func execute() throws -> (shape: [Int], values: [Float], summary: String) {
        if let threads, threads < 1 { throw CLIError.malformed("--threads", "\(threads)", expected: "a positive integer") }
        if timeRuns < 0 { throw CLIError.malformed("--time-runs", "\(timeRuns)", expected: "a non-negative integer") }
        let overrides = try parseLayerBackends(layerBackends)
        let m = try loadModel(model, seed: weights == nil ? seed : nil)
        if let weights {
            if isONNXModel(model) {
                throw ConvError.invalidArgument("--weights: the ONNX model '\(model)' carries its own weights")
            }
            let file = try SafeTensorsFile(path: weights)
            try m.loadWeights(from: file)
            let converted = Set(file.entries.values.map(\.dtype)).intersection(["F16", "BF16", "F64"]).sorted()
            if !converted.isEmpty {
                writeToStandardError("note: weights \(weights) hold \(converted.joined(separator: "/")) tensors; converted to float32\n")
            }
        }
        let x = try readNumPy(input, what: "input")
        let s = m.inputShape
        guard x.shape.count == 4, x.shape[1] == s.c, x.shape[2] == s.h, x.shape[3] == s.w, x.shape[0] >= 1 else {
            throw ConvError.invalidFile(path: input, reason: "shape \(x.shape) does not match the model's input [N, \(s.c), \(s.h), \(s.w)]"
                                        + layoutHint(x.shape, channels: s.c, height: s.h, width: s.w))
        }
        let n = x.shape[0]
        let prepared = try m.prepare(batch: n, backend: backend, threads: threads, overrides: overrides)
        // Never fall back silently: say which node runs where instead (or refuse with --strict).
        let fallbacks = prepared.plans.filter { $0.fallbackReason != nil }
        for p in fallbacks {
            let line = "node '\(p.name)' runs on \(p.backend ?? "direct"), not \(p.requestedBackend ?? backend): \(p.fallbackReason!)"
            if strict { throw ConvError.unsupported(backend: p.requestedBackend ?? backend, reason: line + " (--strict)") }
            writeToStandardError("note: \(line)\n")
        }
        var y = [Float](repeating: 0, count: n * prepared.outputSampleCount)
        try x.values.withUnsafeBufferPointer { xb in
            try y.withUnsafeMutableBufferPointer { yb in try prepared.run(input: xb, output: yb, batch: n) }
        }
        if profile {
            var scratch = y
            let timings = try x.values.withUnsafeBufferPointer { xb in
                try scratch.withUnsafeMutableBufferPointer { yb in
                    try prepared.profile(input: xb, output: yb, batch: n, runs: timeRuns > 0 ? timeRuns : 10)
                }
            }
            FileHandle.standardError.write(Data(ProfileTable.render(timings, model: m.name, batch: n).utf8))
        }
        if timeRuns > 0 && !profile {
            var times: [Double] = []
            var scratch = y
            try x.values.withUnsafeBufferPointer { xb in
                try scratch.withUnsafeMutableBufferPointer { yb in
                    for _ in 0..<timeRuns {
                        let start = DispatchTime.now().uptimeNanoseconds
                        try prepared.run(input: xb, output: yb, batch: n)
                        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                    }
                }
            }
            times.sort()
            let backends = Set(prepared.backends.values).sorted().joined(separator: ",")
            FileHandle.standardError.write(Data(("\(m.name) batch \(n) backend \(backend) [\(backends)]: median "
                + String(format: "%.3f", times[times.count / 2]) + " ms, min " + String(format: "%.3f", times[0])
                + " ms over \(timeRuns) runs\n").utf8))
        }
        var counts: [String: Int] = [:]
        for (_, b) in prepared.backends { counts[b, default: 0] += 1 }
        let engines = counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return ([n] + m.outputSampleDimensions, y,
                "\(m.name), batch \(n), backend \(backend)" + (engines.isEmpty ? "" : " (convolutions: \(engines))"))
    }
}

/// Parses `layer=backend` options.
func parseLayerBackends(_ items: [String]) throws -> [String: String] {
    var r: [String: String] = [:]
    for item in items {
        let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw CLIError.malformed("--layer-backend", item, expected: "layer=backend")
        }
        r[parts[0]] = parts[1]
    }
    return r
}

