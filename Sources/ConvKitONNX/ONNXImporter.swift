import ConvKit
import Foundation
import SwiftProtobuf

/// Reads ONNX models (`ModelProto`) into ConvKit's `GraphModel`.
///
/// ```swift
/// import ConvKit
/// import ConvKitONNX
///
/// let model = try ONNXImporter.load(path: "resnet50.onnx")   // weights included
/// let prepared = try model.prepare(batch: 8, backend: "auto")
/// try prepared.run(input: x, output: y, batch: 8)           // x: [N, 3, 224, 224], y: [N, 1000]
/// ```
///
/// What it reads:
/// - ONNX IR versions 3 to 10 and opsets 7 to 21 of the default domain (`""`/`ai.onnx`).
/// - Operators (``supportedOperators``): Conv (2-D: group, dilations, pads, `auto_pad`),
///   BatchNormalization (inference), Relu, LeakyRelu, Clip, Sigmoid, Tanh, HardSigmoid,
///   HardSwish, Add, Mul, Sum, Concat, MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool,
///   ReduceMean over H and W, Flatten, Reshape, Squeeze, Unsqueeze, Gemm, MatMul (with the Add
///   after it as its bias), Softmax, Dropout, Identity, Constant, ConstantOfShape, and the
///   integer shape arithmetic of exporters (Shape, Gather, Unsqueeze, Concat, Cast on
///   constants), which is computed at import with the batch size as a symbol. A `Mul` or `Add`
///   of a constant that is one value or one per channel becomes a per-channel affine node
///   (`BatchNorm2D.affine(name:channels:)`), folded into a convolution before it.
/// - Tensors: float32 from `raw_data` or `float_data`; float16, bfloat16 and float64 converted
///   to float32; int32 and int64; external data (`data_location = EXTERNAL`) from files in the
///   model's folder (a location outside it is an error).
/// - One input `[N, C, H, W]` of float32: the batch may be symbolic (the run's batch is used),
///   C, H and W must be known (or given in ``Options/inputShape``). The first graph output is
///   the model's output; `GraphModel.declaredOutputDimensions` keeps its ONNX shape.
///
/// The imported graph is the one ConvKit would build itself (convolutions, batch norms,
/// activations, additions as their own nodes), so preparing it fuses the same way: batch norm
/// folded into the convolution, activations and residual additions into its store. An
/// imported model runs exactly as fast as the same architecture built in Swift.
///
/// Memory: the file is mapped, its tensors are converted to float32 one at a time and each
/// protobuf tensor is released once converted, so import needs about the model's size (plus
/// the file's pages, which the system can drop).
///
/// Errors: ``ONNXImportError`` naming the file, node or tensor and the value at fault
/// (`ConvError`s from building a layer are wrapped into ``ONNXImportError/invalidNode(node:op:reason:)``).
/// Unsupported operators are reported all at once, before anything is converted.
///
/// Threading: each call works on its own data; call from any thread.
public enum ONNXImporter {
    /// Import options.
    public struct Options: Sendable {
        /// The input's `[C, H, W]`, for a model whose input shape is symbolic (or to check it):
        /// nil (default) takes the shape from the model. Where the model states a size, it must
        /// agree.
        public var inputShape: [Int]?
        public init(inputShape: [Int]? = nil) { self.inputShape = inputShape }
    }

    /// The IR versions read.
    public static let irVersions: ClosedRange<Int64> = 3...10
    /// The default-domain opset versions read.
    public static let opsets: ClosedRange<Int> = 7...21

    /// The operators of the default domain the importer converts.
    public static var supportedOperators: [String] { ONNXOperators.table.keys.sorted() }

    /// Whether the file at `path` is to be read as an ONNX model rather than a JSON model file:
    /// its content is not JSON text (the first non-blank byte is not `{` or `[`), and it starts
    /// like a protobuf `ModelProto` (field 1 to 8, 14, or a two-byte tag) or its name ends in
    /// `.onnx` (so that a damaged ONNX file gets the ONNX reader's error). Reads only the first
    /// bytes.
    public static func looksLikeONNX(path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        guard let head = try? h.read(upToCount: 64) else { return false }
        if startsLikeJSON(head) { return false }
        if path.lowercased().hasSuffix(".onnx") { return true }
        guard let first = firstNonBlankByte(head) else { return false }
        let field = Int(first >> 3), wire = first & 7
        if (1...8).contains(field) || field == 14 { return wire == 0 || wire == 2 }
        // Fields 16 and above take a two-byte tag.
        return first & 0x80 != 0 && (wire == 2)
    }

    static func firstNonBlankByte(_ data: Data) -> UInt8? {
        data.first { ![0x20, 0x09, 0x0a, 0x0d].contains($0) }
    }

    static func startsLikeJSON(_ data: Data) -> Bool {
        firstNonBlankByte(data).map { $0 == UInt8(ascii: "{") || $0 == UInt8(ascii: "[") } ?? false
    }

    /// Imports the model at `path`, weights included; external data is read from its folder.
    /// - Throws: ``ONNXImportError``.
    public static func load(path: String, options: Options = Options()) throws -> GraphModel {
        // The decoded proto is owned here alone, so that each tensor is freed once converted.
        var proto = try decode(path: path)
        let folder = (path as NSString).deletingLastPathComponent
        return try ONNXGraphConverter.convert(&proto, name: modelName(path), directory: folder.isEmpty ? "." : folder,
                                              options: options)
    }

    /// Imports a model from its serialized bytes. External data is read from
    /// `externalDataDirectory` (nil: a model with external data is an error).
    /// - Throws: ``ONNXImportError``.
    public static func load(serialized data: Data, name: String = "model", externalDataDirectory: String? = nil,
                            options: Options = Options()) throws -> GraphModel {
        var proto = try decode(data, path: name)
        return try ONNXGraphConverter.convert(&proto, name: name, directory: externalDataDirectory, options: options)
    }

    /// Imports a decoded `ModelProto`. The caller's copy keeps its tensors, so import needs
    /// their size again (``load(path:options:)`` does not).
    /// - Throws: ``ONNXImportError``.
    public static func model(from proto: Onnx_ModelProto, name: String = "model", externalDataDirectory: String? = nil,
                             options: Options = Options()) throws -> GraphModel {
        var proto = proto
        return try ONNXGraphConverter.convert(&proto, name: name, directory: externalDataDirectory, options: options)
    }

    /// The nodes of `proto` whose operator the importer does not convert (all of them, in
    /// graph order); empty when every operator is supported.
    public static func unsupportedNodes(in proto: Onnx_ModelProto) -> [ONNXUnsupportedNode] {
        ONNXGraphConverter.unsupportedNodes(proto)
    }

    /// Decodes the file at `path` (mapped, not copied).
    /// - Throws: ``ONNXImportError/unreadable(path:reason:)``.
    public static func decode(path: String) throws -> Onnx_ModelProto {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw ONNXImportError.unreadable(path: path, reason: "cannot read the file (\((error as NSError).localizedDescription))")
        }
        return try decode(data, path: path)
    }

    static func decode(_ data: Data, path: String) throws -> Onnx_ModelProto {
        if data.isEmpty { throw ONNXImportError.unreadable(path: path, reason: "the file is empty") }
        if startsLikeJSON(data.prefix(64)) {
            throw ONNXImportError.unreadable(path: path, reason: "it is JSON text, not a protobuf ModelProto (a ConvKit model file?)")
        }
        var options = BinaryDecodingOptions()
        options.messageDepthLimit = 64
        let proto: Onnx_ModelProto
        do {
            proto = try Onnx_ModelProto(serializedBytes: data, options: options)
        } catch {
            throw ONNXImportError.unreadable(path: path, reason: "protobuf decoding failed (\(error)); the file is truncated or not an ONNX model")
        }
        if !proto.hasGraph || proto.graph.node.isEmpty {
            throw ONNXImportError.unreadable(path: path, reason: "no graph with nodes (ir_version \(proto.irVersion)); not an ONNX model")
        }
        return proto
    }

    static func modelName(_ path: String) -> String {
        let base = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        return base.isEmpty ? "model" : base
    }
}
