import ConvKit
import Foundation

/// Why an ONNX model could not be imported.
///
/// Every case names what is wrong: the file, the node (its name, or its first output when the
/// node has no name) and operator, or the tensor, with the offending value. The description is
/// one line, suitable for a command-line error.
public enum ONNXImportError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// The bytes are not an ONNX model: empty, truncated, not protobuf, or JSON.
    case unreadable(path: String, reason: String)
    /// The model as a whole cannot be read: no graph, an IR version or opset outside what
    /// ConvKit reads, several inputs, an input shape ConvKit cannot plan, a cycle.
    case invalidModel(String)
    /// Operators ConvKit does not implement: all of them, each with its node.
    case unsupportedOperators([ONNXUnsupportedNode])
    /// A node that cannot be imported: its label, its operator and why.
    case invalidNode(node: String, op: String, reason: String)
    /// A tensor (initializer, `Constant` value or external-data file) that cannot be read.
    case invalidTensor(name: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            return "\(path): not a readable ONNX model: \(reason)"
        case let .invalidModel(reason):
            return "ONNX model: \(reason)"
        case let .unsupportedOperators(nodes):
            let list = nodes.map(\.description).joined(separator: "; ")
            return "ONNX model: \(nodes.count) node\(nodes.count == 1 ? "" : "s") with an unsupported operator: \(list)"
        case let .invalidNode(node, op, reason):
            return "ONNX node '\(node)' (\(op)): \(reason)"
        case let .invalidTensor(name, reason):
            return "ONNX tensor '\(name)': \(reason)"
        }
    }

    public var errorDescription: String? { description }
}

/// A node whose operator ConvKit does not implement.
public struct ONNXUnsupportedNode: Hashable, Sendable, CustomStringConvertible {
    /// The node's name, or `output '<name>'` when it has none.
    public var node: String
    /// The operator (`op_type`).
    public var op: String
    /// The operator set domain (`""` is the default ONNX domain, `ai.onnx`).
    public var domain: String
    /// The opset version the model imports for that domain (0 when it imports none).
    public var opset: Int

    public init(node: String, op: String, domain: String, opset: Int) {
        self.node = node; self.op = op; self.domain = domain; self.opset = opset
    }

    public var description: String {
        "\(domain.isEmpty ? "" : domain + ".")\(op) (opset \(opset)) at node '\(node)'"
    }
}
