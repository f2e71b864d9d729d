import ConvKit
import ConvKitONNX
import Foundation

/// Whether `nameOrPath` names an ONNX file: recognised by content (a protobuf `ModelProto`), or
/// by the `.onnx` extension when the content is not JSON (so that a broken ONNX file gets the
/// ONNX reader's error, and a JSON model file named `.onnx` still loads as JSON).
func isONNXModel(_ nameOrPath: String) -> Bool {
    if BuiltInModels.names.contains(nameOrPath) || !FileManager.default.fileExists(atPath: nameOrPath) { return false }
    if ONNXImporter.looksLikeONNX(path: nameOrPath) { return true }
    guard nameOrPath.lowercased().hasSuffix(".onnx") else { return false }
    let head = FileHandle(forReadingAtPath: nameOrPath).flatMap { h in defer { try? h.close() }; return try? h.read(upToCount: 64) }
    let first = head?.first { ![0x20, 0x09, 0x0a, 0x0d].contains($0) }
    return first != UInt8(ascii: "{")
}

/// A built-in model, a JSON model file or an ONNX file. Built-in and JSON models get He
/// initialisation from `seed` when it is given; an ONNX model always carries its weights.
func loadModel(_ nameOrPath: String, seed: UInt64? = nil) throws -> GraphModel {
    if isONNXModel(nameOrPath) { return try ONNXImporter.load(path: nameOrPath) }
    let m = try GraphModel.named(nameOrPath)
    if let seed { m.initializeWeights(seed: seed) }
    return m
}
