import ConvKit
import ConvKitONNX
import Foundation

/// Whether `nameOrPath` names an ONNX file (recognised by content, see
/// `ONNXImporter.looksLikeONNX(path:)`; a JSON model file named `.onnx` still loads as JSON).
func isONNXModel(_ nameOrPath: String) -> Bool {
    if BuiltInModels.names.contains(nameOrPath) || !FileManager.default.fileExists(atPath: nameOrPath) { return false }
    return ONNXImporter.looksLikeONNX(path: nameOrPath)
}

/// A built-in model, a JSON model file or an ONNX file. Built-in and JSON models get He
/// initialisation from `seed` when it is given; an ONNX model always carries its weights.
func loadModel(_ nameOrPath: String, seed: UInt64? = nil) throws -> GraphModel {
    if isONNXModel(nameOrPath) { return try ONNXImporter.load(path: nameOrPath) }
    let m = try GraphModel.named(nameOrPath)
    if let seed { m.initializeWeights(seed: seed) }
    return m
}
