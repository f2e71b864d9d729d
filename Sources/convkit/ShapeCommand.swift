import ArgumentParser
import ConvKit

/// `convkit shape`: the geometry of one convolution layer, with the familiar `(W - F + 2P)/S + 1`.
struct ShapeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shape",
        abstract: "Output volume, parameters, FLOPs and receptive field of a convolution layer.",
        discussion: """
            Output size along each axis: (W - F + 2P)/S + 1, with F the dilated kernel extent \
            (F - 1) * D + 1 and 2P the total padding (top + bottom, or left + right).

            Output (stdout), when the filter fits the padded input exactly: line 1 is the output \
            volume KxOHxOW alone (for scripts), e.g. 10x32x32; then 'key: value' lines: input, \
            layer, height and width (the formula), output, parameters, FLOPs, receptive field.

            When it does not fit exactly, the output is rounded down, as in PyTorch, ONNX, \
            `convkit conv`, `convkit run` and the library (a 'note:' line says so and exit code is \
            0); with --exact, the formula lines are printed followed by a line starting \
            'does not fit:', and the exit code is 1.

            Exit codes: 0 success; 1 does not fit, or an invalid configuration (one 'Error:' \
            line on stderr); 64 a malformed value (one 'Error:' line on stderr).

            Example: convkit shape --input 3x32x32 --filters 10 --size 5 --stride 1 --pad 2
            """)

    @Option(parsing: .unconditional, help: ArgumentHelp("Input volume: channels x height x width.", valueName: "CxHxW"))
    var input: String

    @Option(parsing: .unconditional, help: ArgumentHelp("Number of filters K (output channels).", valueName: "K"))
    var filters: String

    @Option(parsing: .unconditional, help: ArgumentHelp("Kernel size: F (square) or RxS (height x width).", valueName: "F|RxS"))
    var size: String

    @Option(parsing: .unconditional, help: ArgumentHelp("Stride: S, or 'h,w'.", valueName: "S|h,w"))
    var stride: String = "1"

    @Option(parsing: .unconditional, help: ArgumentHelp("Zero padding: P, 'h,w', 'top,left,bottom,right' or 'same'.",
                               valueName: "P|h,w|t,l,b,r|same"))
    var pad: String = "0"

    @Option(parsing: .unconditional, help: ArgumentHelp("Dilation: D (1 = none), or 'h,w'.", valueName: "D|h,w"))
    var dilation: String = "1"

    @Option(parsing: .unconditional, help: ArgumentHelp("Channel groups (C for depthwise).", valueName: "G"))
    var groups: String = "1"

    @Option(parsing: .unconditional, help: ArgumentHelp("Batch size N (scales the FLOPs).", valueName: "N"))
    var batch: String = "1"

    @Option(parsing: .unconditional, help: ArgumentHelp("Also report the receptive field of L such layers stacked.", valueName: "L"))
    var layers: String = "1"

    @Flag(help: "Do not count biases in the parameters.")
    var noBias = false

    @Flag(help: "Round down a filter that does not fit exactly (the default, as PyTorch and ONNX).")
    var floor = false

    @Flag(help: "Refuse a filter that does not fit the padded input exactly: print why and exit 1.")
    var exact = false

    func run() throws {
        try runReportingErrors {
            if floor && exact { throw CLIError.usage("--floor and --exact contradict each other; give one") }
            let d = try descriptor()
            if d.inputChannels >= 8 && d.inputChannels == d.inputHeight && [1, 3, 4].contains(d.inputWidth) {
                writeToStandardError("note: --input is CxHxW (channels first); \(input) looks like HxWxC: did you mean "
                                     + "\(d.inputWidth)x\(d.inputChannels)x\(d.inputHeight)?\n")
            }
            let lines = try ShapeCommand.report(for: d, layers: CLIParse.positiveInt(layers, option: "--layers"),
                                                acceptInexact: !exact)
            print(lines.text, terminator: "")
            if !lines.fits { throw ExitCode.failure }
        }
    }

    /// The descriptor the options describe (not yet validated).
    func descriptor() throws -> Conv2DDescriptor {
        let volume = try CLIParse.volume(input, option: "--input")
        let k = try CLIParse.positiveInt(filters, option: "--filters")
        let kernel = try CLIParse.kernelSize(size, option: "--size")
        let s = try CLIParse.pair(stride, option: "--stride")
        let dil = try CLIParse.pair(dilation, option: "--dilation")
        let g = try CLIParse.positiveInt(groups, option: "--groups")
        let n = try CLIParse.positiveInt(batch, option: "--batch")
        let padding = try CLIParse.padding(pad, option: "--pad")
            ?? Padding.same(inputHeight: volume.height, inputWidth: volume.width,
                            kernelHeight: kernel.height, kernelWidth: kernel.width,
                            strideHeight: s.height, strideWidth: s.width,
                            dilationHeight: dil.height, dilationWidth: dil.width)
        return Conv2DDescriptor(
            batch: n, inputChannels: volume.channels, inputHeight: volume.height, inputWidth: volume.width,
            outputChannels: k, kernelHeight: kernel.height, kernelWidth: kernel.width,
            strideHeight: s.height, strideWidth: s.width, padding: padding,
            dilationHeight: dil.height, dilationWidth: dil.width, groups: g, hasBias: !noBias)
    }

    /// The text `shape` prints for `d`, and whether the configuration is accepted
    /// (fits exactly, or `acceptInexact`).
    /// - Throws: ``ConvError`` when `d` is invalid for another reason than an inexact fit.
    static func report(for d: Conv2DDescriptor, layers: Int, acceptInexact: Bool) throws
        -> (text: String, fits: Bool)
    {
        try d.validate()
        let fits = d.fitsExactly
        let formulas = [
            "height: " + formula("H", input: d.inputHeight, kernel: d.effectiveKernelHeight,
                                 padding: d.padding.top + d.padding.bottom, stride: d.strideHeight),
            "width: " + formula("W", input: d.inputWidth, kernel: d.effectiveKernelWidth,
                                padding: d.padding.left + d.padding.right, stride: d.strideWidth),
        ]
        if !fits && !acceptInexact {
            var axes: [String] = []
            if d.exactOutputHeight != d.exactOutputHeight.rounded() {
                axes.append("height (\(formatFormulaValue(d.exactOutputHeight)) is not an integer)")
            }
            if d.exactOutputWidth != d.exactOutputWidth.rounded() {
                axes.append("width (\(formatFormulaValue(d.exactOutputWidth)) is not an integer)")
            }
            let text = formulas.joined(separator: "\n") + "\n"
                + "does not fit: the filter does not tile the padded input exactly along "
                + axes.joined(separator: " and ")
                + "; rounding down would give \(d.outputChannels)x\(d.outputHeight)x\(d.outputWidth)"
                + " (without --exact it is rounded down)\n"
            return (text, false)
        }
        let volume = "\(d.outputChannels)x\(d.outputHeight)x\(d.outputWidth)"
        var out = [volume]
        out.append("input: \(d.inputChannels)x\(d.inputHeight)x\(d.inputWidth) (CxHxW)"
                   + (d.batch > 1 ? ", batch \(d.batch)" : ""))
        var layer = "layer: \(d.outputChannels) filter\(d.outputChannels == 1 ? "" : "s") \(d.kernelHeight)x\(d.kernelWidth), stride "
            + pairText(d.strideHeight, d.strideWidth) + ", pad \(d.padding)"
        if d.dilationHeight != 1 || d.dilationWidth != 1 {
            layer += ", dilation " + pairText(d.dilationHeight, d.dilationWidth)
        }
        if d.groups != 1 { layer += ", groups \(d.groups)" + (d.isDepthwise ? " (depthwise)" : "") }
        out.append(layer)
        out.append(contentsOf: formulas)
        if !fits {
            out.append("note: does not fit exactly; rounded down (leftover input rows/columns are ignored; --exact refuses it)")
        }
        out.append("output: \(volume) (KxOHxOW), \(groupedThousands(d.outputChannels * d.outputHeight * d.outputWidth)) values"
                   + (d.batch > 1 ? " per image" : ""))
        out.append("parameters: \(d.parameterCount) (\(d.weightCount) weights: \(d.outputChannels) "
                   + "filter\(d.outputChannels == 1 ? "" : "s") of "
                   + "\(d.inputChannelsPerGroup)x\(d.kernelHeight)x\(d.kernelWidth); \(d.biasCount) biases)")
        out.append("FLOPs: \(d.flops) (\(formatFLOPs(d.flops)); 2 x N x K x OH x OW x C/groups x R x S"
                   + (d.batch > 1 ? ", batch \(d.batch)" : "") + ")")
        let field = d.receptiveField
        out.append("receptive field: \(field.height)x\(field.width)")
        if layers > 1 {
            let rh = ReceptiveField.of(Array(repeating: ReceptiveField.Layer(
                kernel: d.kernelHeight, stride: d.strideHeight, dilation: d.dilationHeight), count: layers))
            let rw = ReceptiveField.of(Array(repeating: ReceptiveField.Layer(
                kernel: d.kernelWidth, stride: d.strideWidth, dilation: d.dilationWidth), count: layers))
            out.append("receptive field of \(layers) stacked layers: \(rh)x\(rw)")
        }
        return (out.joined(separator: "\n") + "\n", true)
    }

    /// `(W - F + 2P)/S + 1 = (7 - 3 + 0)/3 + 1 = 2.33`.
    static func formula(_ axis: String, input: Int, kernel: Int, padding: Int, stride: Int) -> String {
        let value = Double(input - kernel + padding) / Double(stride) + 1
        return "(\(axis) - F + 2P)/S + 1 = (\(input) - \(kernel) + \(padding))/\(stride) + 1 = "
            + formatFormulaValue(value)
    }

    private static func pairText(_ a: Int, _ b: Int) -> String { a == b ? "\(a)" : "\(a),\(b)" }

    private static func formatFLOPs(_ f: Int) -> String {
        let v = Double(f)
        if v >= 1e9 { return formatFormulaValue(v / 1e9) + " GFLOP" }
        if v >= 1e6 { return formatFormulaValue(v / 1e6) + " MFLOP" }
        if v >= 1e3 { return formatFormulaValue(v / 1e3) + " kFLOP" }
        return "\(f) FLOP"
    }
}
