import ArgumentParser
import ConvKit
import ConvKitTools
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `convkit bench`: times the backends on CNN layers (see ``BenchRunner`` for the method and
/// ``BenchRecord`` for the CSV/JSON columns).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark the backends on standard CNN layers.",
        discussion: """
            Prepares every backend outside the timed region, warms up, then for each round runs the \
            backends interleaved, layer by layer, timing enough repetitions to fill --min-time; reports \
            the median per-run time over rounds, GFLOP/s, speed-up vs onednn, % of peak, and the \
            normalized max error vs the reference (or vs direct for layers above 2 GFLOP). \
            Exits non-zero, writing nothing, on a bad option or suite file.
            """)

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
        case table, csv, json
        var format: BenchFormat {
            switch self {
            case .table: return .table
            case .csv: return .csv
            case .json: return .json
            }
        }
    }

    @Option(parsing: .unconditional, help: ArgumentHelp("Layers from a CSV file with the header \(LayerSuite.csvHeader) (default: the built-in suite).",
                               valueName: "file.csv"))
    var suite: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Only these layers of the suite (comma-separated names).", valueName: "name,..."))
    var layers: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Backends to compare, comma-separated (default: every registered backend except reference); direct:ALGORITHM (automatic, implicit-gemm, indirect, pointwise, packed-pointwise) times one algorithm of direct.",
                               valueName: "name,..."))
    var backends: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Thread counts, comma-separated (default: 1 and all cores).", valueName: "n,..."))
    var threads: String?

    @Option(parsing: .unconditional, help: "Rounds; the median over rounds is reported (default 5, or 1 with --quick).")
    var rounds: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds each layer, backend and thread count is timed per round (default 0.25, or 0.02 with --quick).",
                               valueName: "seconds"))
    var minTime: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("Peak GFLOP/s of one thread, for the % of peak column (default: measured at start-up with 12 independent FMA chains of the ISA in use, zmm on AVX-512F, ymm on AVX2; unknown on the portable ISA).",
                               valueName: "gflops"))
    var peakGflops: Double?

    @Option(parsing: .unconditional, help: "Output format.")
    var format: OutputFormat = .table

    @Option(parsing: .unconditional, help: ArgumentHelp("Write the output to this file (atomically) instead of standard output.", valueName: "file"))
    var output: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Also write a grouped bar chart of GFLOP/s to this SVG file.", valueName: "file.svg"))
    var plot: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Winograd tile: 2, 4 or 6 for F(2x2), F(4x4) or F(6x6,3x3), or auto (per layer).",
                               valueName: "2|4|6|auto"))
    var winogradTile: String?

    @Option(name: [.customLong("models"), .customLong("model")],
            parsing: .unconditional, help: ArgumentHelp("Benchmark whole models instead of layers (--model is the same option): built-in names or model files (.onnx or .json), comma-separated, or 'zoo' (\(ModelBenchRunner.zoo.joined(separator: ", "))). Backends default to auto plus every registered backend except reference; outputs are checked against direct.",
                               valueName: "name,..."))
    var models: String?

    @Flag(help: "No progress line on standard error.")
    var quiet = false

    @Flag(help: "Print the layers the run would time (the suite, after --suite, --layers or --quick) and the model zoo, then exit.")
    var list = false

    @Flag(help: "A quick smoke run: \(LayerSuite.quickNames.count) small layers (unless --suite or --layers), 1 round, 0.02 s per cell.")
    var quick = false

    func run() throws {
        try runReportingErrors {
            if winogradTile != nil, let b = try list(backends, "--backends"), !b.contains("winograd") && !b.contains(AutoBackend.autoName) {
                throw CLIError.usage("--winograd-tile applies to the winograd backend (or auto), which --backends leaves out")
            }
            try applyWinogradTile(winogradTile)
            if list {
                let config = try makeConfiguration()
                print("layers (\(config.layers.count)):")
                for l in config.layers { print("  \(l.name): \(l.descriptor)") }
                print("models (--models zoo): \(ModelBenchRunner.zoo.joined(separator: ", "))")
                print("built-in models: \(BuiltInModels.names.joined(separator: ", "))")
                return
            }
            if models != nil {
                try runModels()
                return
            }
            let config = try makeConfiguration()
            try checkWritable(output)
            try checkWritable(plot)
            let runner = try BenchRunner(configuration: config)
            // Progress only for a person watching: off with --quiet, or when stderr is not a
            // terminal (stdout may be redirected: `convkit bench --format csv > out.csv`).
            let showProgress = !quiet && isatty(STDERR_FILENO) != 0
            let report = runner.run(progress: showProgress ? { p in
                writeToStandardError("\r[\(p.index)/\(p.count)] \(p.layer)\u{1B}[K")
            } : nil)
            if showProgress { writeToStandardError("\r\u{1B}[K") }
            let text = try format.format.render(report)
            if let plot { try BenchOutputFile.write(BenchPlot.svg(report), to: plot) }
            if let output {
                try BenchOutputFile.write(text, to: output)
            } else {
                print(text, terminator: "")
            }
        }
    }

    /// The configuration these options describe.
    /// - Throws: ``SuiteFileError`` or ``ConvError`` for a bad suite file, layer, backend,
    ///   thread count or number.
    /// `--models`: whole-model timings.
    func runModels(registry: BackendRegistry = .shared) throws {
        guard let value = models else { return }
        if suite != nil || layers != nil { throw ConvError.invalidArgument("--models cannot be combined with --suite or --layers") }
        var names: [String] = []
        for item in try list(value, "--models")! { names += item == "zoo" ? ModelBenchRunner.zoo : [item] }
        let backendNames: [String]
        if let b = try list(backends, "--backends") {
            for n in b { _ = try registry.backend(named: n) }
            backendNames = b
        } else {
            backendNames = [AutoBackend.autoName] + registry.all.map(\.name).filter { $0 != "reference" && $0 != "winograd" }
                .filter { (try? registry.backend(named: $0).availability.isAvailable) ?? false }
        }
        let threadCounts = try parseThreads()
        let r = rounds ?? (quick ? 1 : 5)
        let t = minTime ?? (quick ? 0.02 : 0.5)
        if r < 1 { throw CLIError.malformed("--rounds", "\(r)", expected: "a positive integer") }
        if !(t >= 0) { throw CLIError.malformed("--min-time", "\(t)", expected: "a non-negative number of seconds") }
        try checkWritable(output)
        try checkWritable(plot)
        for n in names { _ = try loadModel(n) }   // fail early on a bad name or file
        let runner = ModelBenchRunner(models: names, backends: backendNames, threads: threadCounts, rounds: r, minTime: t,
                                      load: { name, seed in try loadModel(name, seed: seed) })
        let showProgress = !quiet && isatty(STDERR_FILENO) != 0
        let records = try runner.run(progress: showProgress ? { done, total, label in
            writeToStandardError("\r[\(done + 1)/\(total)] \(label)\u{1B}[K")
        } : nil)
        if showProgress { writeToStandardError("\r\u{1B}[K") }
        let text: String
        switch format {
        case .table: text = ModelBenchFormat.table(records, rounds: r, minTime: t)
        case .csv: text = ModelBenchFormat.csv(records)
        case .json: text = try ModelBenchFormat.json(records)
        }
        if let plot {
            try BenchOutputFile.write(BenchPlot.svg(ModelBenchFormat.plotReport(records, rounds: r, minTime: t),
                                                    title: "convkit bench --models: GFLOP/s per model (higher is better)"), to: plot)
        }
        if let output { try BenchOutputFile.write(text, to: output) } else { print(text, terminator: "") }
    }

    private func parseThreads() throws -> [Int] {
        guard let items = try list(threads, "--threads") else { return BenchConfiguration.defaultThreadCounts }
        return try items.map { item in
            guard let n = Int(item), n >= 1 else { throw CLIError.malformed("--threads", item, expected: "positive integers, comma-separated") }
            return n
        }
    }

    func makeConfiguration(registry: BackendRegistry = .shared) throws -> BenchConfiguration {
        var suite = try self.suite.map { try LayerSuite.load(path: $0) } ?? .standard
        if let names = try list(layers, "--layers") {
            suite = try suite.filtered(names: names)
        } else if quick && self.suite == nil {
            suite = .quick
        }

        let chosen: [any ConvBackend]
        if let names = try list(backends, "--backends") {
            chosen = try names.map { name in
                if let variant = try DirectAlgorithmVariant(name) { return variant }
                return try registry.backend(named: name)
            }
        } else {
            let all = registry.all.filter { $0.name != "reference" }
            chosen = all.isEmpty ? registry.all : all
        }

        let threadCounts: [Int]
        if let items = try list(threads, "--threads") {
            threadCounts = try items.map { item in
                guard let n = Int(item), n >= 1 else { throw CLIError.malformed("--threads", item, expected: "positive integers, comma-separated") }
                return n
            }
        } else {
            threadCounts = BenchConfiguration.defaultThreadCounts
        }

        var config = BenchConfiguration(layers: suite.layers, backends: chosen, threadCounts: threadCounts)
        config.rounds = rounds ?? (quick ? 1 : 5)
        config.minTime = minTime ?? (quick ? 0.02 : 0.25)
        if config.rounds < 1 { throw CLIError.malformed("--rounds", "\(config.rounds)", expected: "a positive integer") }
        if !(config.minTime >= 0) { throw CLIError.malformed("--min-time", "\(config.minTime)", expected: "a non-negative number of seconds") }
        if let p = peakGflops, !(p > 0) { throw CLIError.malformed("--peak-gflops", "\(p)", expected: "a positive number") }
        if let r = registry.all.first(where: { $0.name == "reference" }) { config.reference = r }
        if let peakGflops { config.peakGFLOPsPerThread = peakGflops }
        try config.validate()
        return config
    }

    /// Splits a comma-separated option; nil when absent.
    private func list(_ value: String?, _ option: String) throws -> [String]? {
        guard let value else { return nil }
        let items = value.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        if items.contains(where: \.isEmpty) {
            throw CLIError.malformed(option, value, expected: "a comma-separated list without empty items")
        }
        return items
    }

    /// Fails early (before a long run) when `path`'s directory does not exist.
    private func checkWritable(_ path: String?) throws {
        guard let path else { return }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue,
              FileManager.default.isWritableFile(atPath: directory)
        else {
            throw ConvError.invalidFile(path: path, reason: "directory \(directory) does not exist or is not writable")
        }
    }
}

func writeToStandardError(_ s: String) {
    FileHandle.standardError.write(Data(s.utf8))
}

/// `direct:<algorithm>` in `--backends`: the `direct` backend forced to one of its algorithms
/// (``DirectBackend/Algorithm``), timed as a backend of its own so that the algorithms can be
/// compared in the same interleaved rounds.
struct DirectAlgorithmVariant: ConvBackend {
    let inner: DirectBackend

    /// Nil for a name without the `direct:` prefix; throws for an unknown algorithm.
    init?(_ name: String) throws {
        guard name.hasPrefix("direct:") else { return nil }
        let algorithm = String(name.dropFirst("direct:".count))
        guard let a = DirectBackend.Algorithm(rawValue: algorithm) else {
            throw CLIError.malformed("--backends", name,
                                     expected: "direct:" + DirectBackend.Algorithm.allCases.map(\.rawValue).joined(separator: "|"))
        }
        inner = DirectBackend(algorithm: a)
    }

    var name: String { "direct:\(inner.algorithm.rawValue)" }
    var summary: String { inner.summary }
    var availability: BackendAvailability { inner.availability }
    func support(for descriptor: Conv2DDescriptor) -> BackendSupport { inner.support(for: descriptor) }
    func canAccumulate(_ descriptor: Conv2DDescriptor) -> Bool { inner.canAccumulate(descriptor) }
    func prepare(_ descriptor: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>,
                 bias: UnsafeBufferPointer<Float>?) throws -> any PreparedConvolution {
        try inner.prepare(descriptor, weights: weights, bias: bias)
    }
}
