import ConvKit
import Foundation

/// A constant tensor read from an initializer or a `Constant` node.
///
/// Shapes computed at import (the `Shape -> Gather -> Concat` chains exporters write) hold the
/// batch size as a symbol, since it is known only at run time.
enum ONNXConstant {
    /// One element of an integer constant: a number, or the batch size.
    enum Dimension: Hashable, CustomStringConvertible {
        case value(Int)
        case batch
        var description: String {
            switch self {
            case let .value(v): return String(v)
            case .batch: return "N"
            }
        }
    }

    case floats(dims: [Int], values: [Float])
    case ints(dims: [Int], values: [Dimension])
    /// A data type ConvKit does not compute with (strings, booleans, 8-bit integers...); an
    /// error only if a node needs its values.
    case unsupported(dims: [Int], type: String)

    var dims: [Int] {
        switch self {
        case let .floats(d, _), let .ints(d, _), let .unsupported(d, _): return d
        }
    }

    /// The memory its values take.
    var bytes: Int {
        switch self {
        case let .floats(_, v): return v.count * MemoryLayout<Float>.stride
        case let .ints(_, v): return v.count * MemoryLayout<Dimension>.stride
        case .unsupported: return 0
        }
    }
}

/// Reads `TensorProto` data: float32 from `raw_data` or `float_data`; float16, bfloat16 and
/// float64 converted; int32 and int64; external data (`data_location = EXTERNAL`) from files
/// in the model's folder.
///
/// Sizes are checked before anything is allocated: the element count (with overflow checks)
/// must fit in half of the machine's memory and match the data the tensor holds.
enum ONNXTensorData {
    /// The largest tensor read, in bytes (half of physical memory); also the budget for all the
    /// constants of one import together (see ``ONNXGraphConverter/charge(_:_:)``).
    static let byteLimit = Int(clamping: ProcessInfo.processInfo.physicalMemory / 2)
    /// The most values an integer constant may hold: integer tensors are shapes and indices.
    static let shapeConstantLimit = 1 << 16

    /// `v` rounded to bfloat16 (nearest, ties to even; NaN kept).
    static func roundToBFloat16(_ v: Float) -> Float {
        if v.isNaN { return v }
        let bits = v.bitPattern
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return Float(bitPattern: rounded & 0xFFFF_0000)
    }

    static func typeName(_ t: Int32) -> String {
        Onnx_TensorProto.DataType(rawValue: Int(t)).map { "\($0)" } ?? "data type \(t)"
    }

    /// The element count of `dims`.
    static func count(_ dims: [Int64], name: String) throws -> Int {
        var n = 1
        for d in dims {
            guard d >= 0 else {
                throw ONNXImportError.invalidTensor(name: name, reason: "dimension \(d) in dims \(dims) is negative")
            }
            // Each dimension alone must fit too (a 0 elsewhere would hide it from the product).
            if d > Int64(byteLimit) {
                throw ONNXImportError.invalidTensor(name: name, reason: "dimension \(d) in dims \(dims) is larger than memory can hold")
            }
            let (p, o) = n.multipliedReportingOverflow(by: Int(d))
            if o || p > byteLimit {
                throw ONNXImportError.invalidTensor(name: name, reason: "dims \(dims) hold more values than memory can (limit \(byteLimit) bytes)")
            }
            n = p
        }
        return n
    }

    /// Converts `t` (all of it: the caller drops the proto afterwards, so data is read once).
    static func constant(_ t: Onnx_TensorProto, name: String, directory: String?) throws -> ONNXConstant {
        let dims = t.dims.map { Int($0) }
        let n = try count(t.dims, name: name)
        guard let type = Onnx_TensorProto.DataType(rawValue: Int(t.dataType)) else {
            throw ONNXImportError.invalidTensor(name: name, reason: "unknown data type \(t.dataType)")
        }
        let elementBytes: Int
        switch type {
        case .float, .int32: elementBytes = 4
        case .float16, .bfloat16: elementBytes = 2
        case .double, .int64: elementBytes = 8
        case .bool, .uint8, .int8: elementBytes = 1
        case .undefined: throw ONNXImportError.invalidTensor(name: name, reason: "data type is not set")
        default: return .unsupported(dims: dims, type: "\(type)")
        }
        if [.int32, .int64, .bool, .uint8, .int8].contains(type) && n > shapeConstantLimit {
            return .unsupported(dims: dims, type: "\(type) tensor of \(n) values (integer tensors are read up to \(shapeConstantLimit) values, for shapes and indices)")
        }
        let (bytes, o) = n.multipliedReportingOverflow(by: elementBytes)
        if o || bytes > byteLimit {
            throw ONNXImportError.invalidTensor(name: name, reason: "dims \(t.dims) need more than \(byteLimit) bytes")
        }
        var raw: Data? = nil
        if t.dataLocation == .external {
            raw = try external(t, name: name, bytes: bytes, directory: directory)
        } else if t.hasRawData {
            raw = t.rawData
        }
        if let raw {
            guard raw.count == bytes else {
                throw ONNXImportError.invalidTensor(name: name, reason: "raw data holds \(raw.count) bytes, dims \(t.dims) of \(type) need \(bytes)")
            }
            return raw.withUnsafeBytes { p -> ONNXConstant in
                func load<T>(_: T.Type, _ i: Int) -> T { p.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self) }
                switch type {
                case .float: return .floats(dims: dims, values: (0..<n).map { Float(bitPattern: UInt32(littleEndian: load(UInt32.self, $0))) })
                case .float16: return .floats(dims: dims, values: (0..<n).map { HalfPrecision.float(fromFloat16Bits: UInt16(littleEndian: load(UInt16.self, $0))) })
                case .bfloat16: return .floats(dims: dims, values: (0..<n).map { HalfPrecision.float(fromBFloat16Bits: UInt16(littleEndian: load(UInt16.self, $0))) })
                case .double: return .floats(dims: dims, values: (0..<n).map { Float(Double(bitPattern: UInt64(littleEndian: load(UInt64.self, $0)))) })
                case .int32: return .ints(dims: dims, values: (0..<n).map { .value(Int(Int32(littleEndian: load(Int32.self, $0)))) })
                case .bool, .uint8: return .ints(dims: dims, values: (0..<n).map { .value(Int(load(UInt8.self, $0))) })
                case .int8: return .ints(dims: dims, values: (0..<n).map { .value(Int(load(Int8.self, $0))) })
                default: return .ints(dims: dims, values: (0..<n).map { .value(Int(Int64(littleEndian: load(Int64.self, $0)))) })
                }
            }
        }
        func check(_ have: Int, _ field: String) throws {
            if have != n {
                throw ONNXImportError.invalidTensor(name: name, reason: "\(field) holds \(have) values, dims \(t.dims) need \(n)")
            }
        }
        switch type {
        case .float:
            try check(t.floatData.count, "float_data")
            return .floats(dims: dims, values: t.floatData)
        case .float16, .bfloat16:
            // 16-bit values are stored one per int32_data element.
            try check(t.int32Data.count, "int32_data")
            return .floats(dims: dims, values: t.int32Data.map {
                let bits = UInt16(truncatingIfNeeded: $0)
                return type == .float16 ? HalfPrecision.float(fromFloat16Bits: bits) : HalfPrecision.float(fromBFloat16Bits: bits)
            })
        case .double:
            try check(t.doubleData.count, "double_data")
            return .floats(dims: dims, values: t.doubleData.map { Float($0) })
        case .int32, .bool, .uint8, .int8:
            // Narrow integers and booleans are stored one per int32_data element.
            try check(t.int32Data.count, "int32_data")
            return .ints(dims: dims, values: t.int32Data.map { .value(Int($0)) })
        default:
            try check(t.int64Data.count, "int64_data")
            return .ints(dims: dims, values: t.int64Data.map { .value(Int($0)) })
        }
    }

    /// The `bytes` bytes of an external-data tensor: `location` (relative to the model's
    /// folder, inside it), `offset` (0) and `length` (all that the dims need).
    static func external(_ t: Onnx_TensorProto, name: String, bytes: Int, directory: String?) throws -> Data {
        var entries: [String: String] = [:]
        for e in t.externalData { entries[e.key] = e.value }
        guard let location = entries["location"], !location.isEmpty else {
            throw ONNXImportError.invalidTensor(name: name, reason: "external data without a 'location'")
        }
        guard let directory else {
            throw ONNXImportError.invalidTensor(name: name, reason: "external data '\(location)' but the model was not read from a file (no folder to read it from)")
        }
        let parts = location.split(separator: "/", omittingEmptySubsequences: true)
        if location.hasPrefix("/") || parts.contains("..") {
            throw ONNXImportError.invalidTensor(name: name, reason: "external data location '\(location)' is outside the model's folder")
        }
        func number(_ key: String) throws -> Int? {
            guard let s = entries[key] else { return nil }
            guard let v = Int(s), v >= 0 else {
                throw ONNXImportError.invalidTensor(name: name, reason: "external data \(key) '\(s)' is not a non-negative integer")
            }
            return v
        }
        let offset = try number("offset") ?? 0
        let length = try number("length") ?? bytes
        if length != bytes {
            throw ONNXImportError.invalidTensor(name: name, reason: "external data length \(length) bytes, dims \(t.dims) need \(bytes)")
        }
        let path = (directory as NSString).appendingPathComponent(location)
        let root = URL(fileURLWithPath: directory).resolvingSymlinksInPath().standardizedFileURL.path
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path
        if !(resolved == root || resolved.hasPrefix(root.hasSuffix("/") ? root : root + "/")) {
            throw ONNXImportError.invalidTensor(name: name, reason: "external data location '\(location)' resolves to '\(resolved)', outside the model's folder")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ONNXImportError.invalidTensor(name: name, reason: "cannot open external data file '\(path)'")
        }
        defer { try? handle.close() }
        do {
            let size = try handle.seekToEnd()
            let (end, o) = offset.addingReportingOverflow(bytes)
            if o || UInt64(end) > size {
                throw ONNXImportError.invalidTensor(name: name, reason: "external data file '\(path)' holds \(size) bytes, the tensor needs bytes \(offset)..<\(end)")
            }
            try handle.seek(toOffset: UInt64(offset))
            let data = try handle.read(upToCount: bytes) ?? Data()
            if data.count != bytes {
                throw ONNXImportError.invalidTensor(name: name, reason: "external data file '\(path)' ended after \(data.count) of \(bytes) bytes")
            }
            return data
        } catch let e as ONNXImportError {
            throw e
        } catch {
            throw ONNXImportError.invalidTensor(name: name, reason: "cannot read external data file '\(path)': \(error)")
        }
    }
}
