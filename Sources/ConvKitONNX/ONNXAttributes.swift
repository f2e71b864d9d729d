import ConvKit
import Foundation

/// A node's attributes by name, with typed access that names the node and attribute in its
/// errors.
struct ONNXAttributes {
    let node: Onnx_NodeProto
    private var byName: [String: Onnx_AttributeProto] = [:]

    init(_ node: Onnx_NodeProto) {
        self.node = node
        for a in node.attribute { byName[a.name] = a }
    }

    func has(_ name: String) -> Bool { byName[name] != nil }

    private func fail(_ name: String, _ reason: String) -> ONNXImportError {
        .invalidNode(node: ONNXGraphConverter.label(node), op: node.opType, reason: "attribute '\(name)' \(reason)")
    }

    private func attribute(_ name: String, _ type: Onnx_AttributeProto.AttributeType) throws -> Onnx_AttributeProto? {
        guard let a = byName[name] else { return nil }
        if a.hasType && a.type != type { throw fail(name, "is \(a.type), expected \(type)") }
        return a
    }

    static func int(_ v: Int64) -> Int? { v >= Int64(Int32.min) && v <= Int64(Int32.max) ? Int(v) : nil }

    func int(_ name: String, default def: Int) throws -> Int {
        guard let a = try attribute(name, .int) else { return def }
        guard let v = Self.int(a.i) else { throw fail(name, "is \(a.i), out of range") }
        return v
    }

    func float(_ name: String, default def: Float) throws -> Float {
        guard let a = try attribute(name, .float) else { return def }
        return a.f
    }

    func string(_ name: String, default def: String) throws -> String {
        guard let a = try attribute(name, .string) else { return def }
        guard let s = String(data: a.s, encoding: .utf8) else { throw fail(name, "is not UTF-8 text") }
        return s
    }

    func ints(_ name: String) throws -> [Int]? {
        guard let a = try attribute(name, .ints) else { return nil }
        return try a.ints.map {
            guard let v = Self.int($0) else { throw fail(name, "holds \($0), out of range") }
            return v
        }
    }

    /// `name` as `count` integers, or `def` when absent.
    func ints(_ name: String, count: Int, default def: [Int]) throws -> [Int] {
        guard let v = try ints(name) else { return def }
        if v.count != count { throw fail(name, "has \(v.count) values \(v), expected \(count)") }
        return v
    }

    func floats(_ name: String) throws -> [Float]? { try attribute(name, .floats)?.floats }

    func tensor(_ name: String) throws -> Onnx_TensorProto? {
        guard let a = try attribute(name, .tensor) else { return nil }
        return a.t
    }
}
