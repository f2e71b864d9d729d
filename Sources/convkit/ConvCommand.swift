import ArgumentParser
import ConvKit
import Foundation

/// `convkit conv`: one convolution on NumPy `.npy` files.
struct ConvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract: "Run one convolution on NumPy .npy files with a chosen backend.",
        discussion: """
            Files are float32 little-endian, C order ('<f4'): input N,C,H,W; weights K,C/groups,R,S; \
            optional bias K; the output is written as N,K,OH,OW. Shapes come from the files.

            The output file is written atomically, and only after the convolution succeeded: on \
            any error no output file is left behind (an existing one is left untouched).

            Output (stdout, unless --quiet): one line, '<backend>: <output path> NxKxOHxOW in <ms> ms \
            (<descriptor>)'; the time is one warm execute call (weights prepared, after a first run that produced the output); with \
            --backend auto the backend named is the one auto chose.

            Exit codes: 0 success; 1 a failure (bad file, shape mismatch, unknown backend, \
            'unsupported' or 'unavailable' backend...) with one 'Error:' line on stderr; 64 a \
            malformed value.
            """)

    @Option(parsing: .unconditional, help: ArgumentHelp("Input .npy, shape N,C,H,W.", valueName: "x.npy"))
    var input: String

    @Option(parsing: .unconditional, help: ArgumentHelp("Weights .npy, shape K,C/groups,R,S.", valueName: "w.npy"))
    var weights: String

    @Option(parsing: .unconditional, help: ArgumentHelp("Bias .npy, shape K (omit for no bias).", valueName: "b.npy"))
    var bias: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Output .npy, shape N,K,OH,OW.", valueName: "y.npy"))
    var output: String

    @Option(parsing: .unconditional, help: ArgumentHelp("Stride: S, or 'h,w'.", valueName: "S|h,w"))
    var stride: String = "1"

    @Option(parsing: .unconditional, help: ArgumentHelp("Zero padding: P, 'h,w', 'top,left,bottom,right' or 'same'.",
                               valueName: "P|h,w|t,l,b,r|same"))
    var pad: String = "0"

    @Option(parsing: .unconditional, help: ArgumentHelp("Dilation: D (1 = none), or 'h,w'.", valueName: "D|h,w"))
    var dilation: String = "1"

    @Option(parsing: .unconditional, help: ArgumentHelp("Channel groups (C for depthwise).", valueName: "G"))
    var groups: String = "1"

    @Option(parsing: .unconditional, help: ArgumentHelp("Fused activation: none, relu, relu6 or clamp:MIN,MAX.",
                               valueName: "none|relu|relu6|clamp:MIN,MAX"))
    var activation: String = "none"

    @Option(parsing: .unconditional, help: ArgumentHelp("Winograd tile: 2, 4 or 6 for F(2x2), F(4x4) or F(6x6,3x3), or auto (per layer).",
                               valueName: "2|4|6|auto"))
    var winogradTile: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Backend name (see 'convkit backends'), or auto.", valueName: "name"))
    var backend: String = AutoBackend.autoName

    @Option(parsing: .unconditional, help: ArgumentHelp("Worker threads (default: CONVKIT_NUM_THREADS or the active cores).",
                               valueName: "T"))
    var threads: String?

    @Flag(help: "Refuse a filter that does not fit the padded input exactly (default: round down).")
    var exact = false

    @Flag(help: "Round down a filter that does not fit exactly (the default, as PyTorch and ONNX).")
    var floor = false

    @Flag(help: "Print nothing on success.")
    var quiet = false

    func run() throws {
        try runReportingErrors {
            if floor && exact { throw CLIError.usage("--floor and --exact contradict each other; give one") }
            if winogradTile != nil && backend != "winograd" && backend != AutoBackend.autoName {
                throw CLIError.usage("--winograd-tile applies to the winograd backend (or auto), not '\(backend)'")
            }
            try applyWinogradTile(winogradTile)
            let result = try ConvCommand.convolve(try options(), registry: .shared)
            try result.output.write(path: output)
            if !quiet {
                let shape = result.output.shape.map(String.init).joined(separator: "x")
                print("\(result.backend): \(output) \(shape) in \(String(format: "%.3f", result.milliseconds)) ms "
                      + "(\(result.descriptor))")
            }
        }
    }

    /// The parsed command line.
    struct Options {
        var input: String
        var weights: String
        var bias: String?
        var stride: (height: Int, width: Int)
        /// `nil` for `same`.
        var padding: Padding?
        var dilation: (height: Int, width: Int)
        var groups: Int
        var activation: Activation
        var backend: String
        var threads: Int?
        var exact: Bool
    }

    func options() throws -> Options {
        Options(
            input: input, weights: weights, bias: bias,
            stride: try CLIParse.pair(stride, option: "--stride"),
            padding: try CLIParse.padding(pad, option: "--pad"),
            dilation: try CLIParse.pair(dilation, option: "--dilation"),
            groups: try CLIParse.positiveInt(groups, option: "--groups"),
            activation: try CLIParse.activation(activation, option: "--activation"),
            backend: backend,
            threads: try threads.map { try CLIParse.positiveInt($0, option: "--threads") },
            exact: exact)
    }

    /// What a successful convolution produced.
    struct Result {
        var output: NumPyArray
        var descriptor: Conv2DDescriptor
        /// The backend that ran it (for `auto`, the one it chose).
        var backend: String
        var milliseconds: Double
    }

    /// Reads the files, checks the shapes, and runs the convolution; writes nothing.
    /// - Throws: ``ConvError`` for a bad file, mismatched shapes, an invalid descriptor, an
    ///   unknown, unavailable or unsupported backend.
    static func convolve(_ o: Options, registry: BackendRegistry) throws -> Result {
        // Resolve the backend first: a typo should not cost reading large files.
        let engine = try registry.backend(named: o.backend)
        if case let .unavailable(reason) = engine.availability {
            throw ConvError.unavailable(backend: engine.name, reason: reason)
        }
        let x = try readNumPy(o.input, what: "input")
        let w = try readNumPy(o.weights, what: "weights")
        let b = try o.bias.map { try readNumPy($0, what: "bias") }
        guard x.shape.count == 4 else {
            let hint = w.shape.count == 4 ? layoutHint(x.shape, channels: w.shape[1] * o.groups, height: x.shape.count == 3 ? x.shape[1] : 0,
                                                       width: x.shape.count == 3 ? x.shape[2] : 0) : ""
            throw ConvError.invalidFile(path: o.input, reason: "input must have 4 dimensions (N, C, H, W), "
                                        + "got shape \(NumPyArray.shapeTuple(x.shape))" + hint)
        }
        guard w.shape.count == 4 else {
            throw ConvError.invalidFile(path: o.weights, reason: "weights must have 4 dimensions (K, C/groups, R, S), "
                                        + "got shape \(NumPyArray.shapeTuple(w.shape))")
        }
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (k, cg, r, s) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        if c % o.groups != 0 {
            throw ConvError.groupsDoNotDivide(groups: o.groups, parameter: "input channels", value: c)
        }
        if cg * o.groups != c {
            if x.shape[3] == cg * o.groups && x.shape[1] > x.shape[3] {
                throw ConvError.invalidFile(path: o.input, reason: "shape \(x.shape) has \(c) channels but the weights \(w.shape) "
                                            + "take \(cg * o.groups)" + layoutHint(x.shape, channels: cg * o.groups, height: x.shape[1], width: x.shape[2]))
            }
            throw ConvError.shapeMismatch(what: "weights \(o.weights)", expected: [k, c / o.groups, r, s],
                                          actual: w.shape)
        }
        if let b, b.shape != [k] {
            throw ConvError.shapeMismatch(what: "bias \(o.bias ?? "")", expected: [k], actual: b.shape)
        }
        let padding = o.padding ?? Padding.same(
            inputHeight: h, inputWidth: wd, kernelHeight: r, kernelWidth: s,
            strideHeight: o.stride.height, strideWidth: o.stride.width,
            dilationHeight: o.dilation.height, dilationWidth: o.dilation.width)
        let d = Conv2DDescriptor(
            batch: n, inputChannels: c, inputHeight: h, inputWidth: wd, outputChannels: k,
            kernelHeight: r, kernelWidth: s, strideHeight: o.stride.height, strideWidth: o.stride.width,
            padding: padding, dilationHeight: o.dilation.height, dilationWidth: o.dilation.width,
            groups: o.groups, hasBias: b != nil, activation: o.activation, rounding: o.exact ? .exact : .floor)
        try d.validate()
        if case let .unsupported(reason) = engine.support(for: d) {
            throw ConvError.unsupported(backend: engine.name, reason: reason)
        }
        let prepared = try engine.prepare(d, weights: w.values, bias: b?.values)
        let input = try x.tensor()
        var result = try Tensor(shape: TensorShape(d.outputShape))
        // The output comes from the first run; the time printed is a second, warm run (caches,
        // pages and any lazily created state of the backend already in place).
        try prepared.execute(input, into: &result, threads: o.threads)
        let start = DispatchTime.now().uptimeNanoseconds
        try prepared.execute(input, into: &result, threads: o.threads)
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        return Result(output: NumPyArray(result), descriptor: d, backend: prepared.backendName,
                      milliseconds: elapsed)
    }
}
