import ArgumentParser
import ConvKit

/// `convkit summary`: a Keras-style table of a model's layers (see ``ModelSummary``).
struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Print a model's layers: output shapes, parameters, FLOPs, receptive fields, backends.",
        discussion: """
            MODEL is an ONNX file, a JSON model file or a built-in name (\(BuiltInModels.names.joined(separator: ", "))). \
            The backend column shows which backend would run each convolution (a backend that cannot \
            run a layer falls back to direct). Needs no weights. Exits non-zero with one line on \
            stderr on error.
            """)

    @Option(parsing: .unconditional, help: ArgumentHelp("A model file (.onnx or .json) or a built-in name.", valueName: "file|name"))
    var model: String

    @Option(parsing: .unconditional, help: ArgumentHelp("Backend for the convolutions: a registered backend or auto.", valueName: "name"))
    var backend: String = "auto"

    @Option(parsing: .unconditional, help: ArgumentHelp("Batch size the shapes and FLOPs are given for.", valueName: "n"))
    var batch: Int = 1

    @Option(name: .customLong("layer-backend"),
            help: ArgumentHelp("Backend for one convolution layer (repeatable).", valueName: "layer=name"))
    var layerBackends: [String] = []

    func run() throws {
        try runReportingErrors {
            if batch < 1 { throw CLIError.malformed("--batch", "\(batch)", expected: "a positive integer") }
            let m = try loadModel(model)
            let summary = try m.summary(batch: batch, backend: backend, overrides: parseLayerBackends(layerBackends))
            print(summary.render(), terminator: "")
        }
    }
}
