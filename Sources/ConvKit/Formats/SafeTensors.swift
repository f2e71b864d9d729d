import Foundation

/// A safetensors file (the format of Hugging Face's `safetensors` package), read whole.
///
/// Layout: an 8-byte little-endian unsigned header length `L`; `L` bytes of UTF-8 JSON, an
/// object mapping each tensor name to `{"dtype": "F32", "shape": [...], "data_offsets":
/// [begin, end]}` plus an optional `"__metadata__"` object of string values (the header may be
/// padded with trailing spaces); then the data, where each tensor's bytes are
/// `begin..<end` relative to the start of the data, row-major, little-endian.
///
/// Checks when opening (each failure is ``ConvError/invalidFile(path:reason:)`` naming the
/// file and, where there is one, the tensor): the file holds the 8-byte length and the whole
/// header; the header is a JSON object whose entries have a string dtype, a shape of
/// non-negative integers and two integer offsets with `begin <= end <= data size`; the byte
/// count matches the shape and dtype; tensors do not overlap (they may come in any order and
/// leave gaps). F32, F16, BF16 and F64 tensors can be read as floats (the last three converted
/// to float32); reading another dtype throws an error naming the dtype (other tensors, such as
/// PyTorch's int64 `num_batches_tracked`, may be present and are ignored unless read).
public struct SafeTensorsFile: Sendable {
    /// One tensor's header entry.
    public struct Entry: Hashable, Sendable {
        public var name: String
        public var dtype: String
        public var shape: [Int]
        /// Byte range in the data section.
        public var offsets: Range<Int>
    }

    /// The file's path (or a label for in-memory data), used in errors.
    public let path: String
    /// The `__metadata__` strings.
    public let metadata: [String: String]
    /// The tensors by name.
    public let entries: [String: Entry]
    private let data: Data
    private let dataStart: Int

    /// Bytes per element of the dtypes safetensors defines.
    static let dtypeSizes: [String: Int] = [
        "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
        "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8,
    ]

    /// Opens and checks the file at `path`.
    /// - Throws: ``ConvError/invalidFile(path:reason:)``.
    public init(path: String) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ConvError.invalidFile(path: path, reason: "cannot read the weights file (\((error as NSError).localizedDescription))")
        }
        try self.init(data: data, path: path)
    }

    /// Parses and checks the file contents `data`; `path` labels errors.
    /// - Throws: ``ConvError/invalidFile(path:reason:)``.
    public init(data: Data, path: String = "<safetensors>") throws {
        func fail(_ reason: String) -> ConvError { ConvError.invalidFile(path: path, reason: reason) }
        guard data.count >= 8 else {
            throw fail("truncated safetensors file: \(data.count) bytes, fewer than the 8-byte header length")
        }
        var length: UInt64 = 0
        for i in (0..<8).reversed() { length = length << 8 | UInt64(data[data.startIndex + i]) }
        guard length <= UInt64(data.count - 8) else {
            throw fail("truncated safetensors file: the header length \(length) runs past the end of the file (\(data.count - 8) bytes after the length)")
        }
        let headerEnd = 8 + Int(length)
        let headerData = data.subdata(in: data.startIndex + 8 ..< data.startIndex + headerEnd)
        let header: JSONValue
        do { header = try JSONDecoder().decode(JSONValue.self, from: headerData) } catch {
            throw fail("malformed safetensors header: not valid JSON")
        }
        guard case let .object(top) = header else { throw fail("malformed safetensors header: not a JSON object") }
        let dataSize = data.count - headerEnd
        var metadata: [String: String] = [:]
        var entries: [String: Entry] = [:]
        for (name, value) in top {
            if name == "__metadata__" {
                guard case let .object(m) = value else { throw fail("'__metadata__' must be an object of strings") }
                for (k, v) in m {
                    guard case let .string(s) = v else { throw fail("'__metadata__' value '\(k)' must be a string") }
                    metadata[k] = s
                }
                continue
            }
            guard case let .object(e) = value else { throw fail("tensor '\(name)': entry must be an object") }
            guard case let .string(dtype)? = e["dtype"] else { throw fail("tensor '\(name)': missing or non-string 'dtype'") }
            guard case let .array(shapeValues)? = e["shape"] else { throw fail("tensor '\(name)': missing 'shape'") }
            let shape = shapeValues.compactMap(\.intValue)
            guard shape.count == shapeValues.count, shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("tensor '\(name)': 'shape' must hold non-negative integers")
            }
            guard case let .array(off)? = e["data_offsets"], off.count == 2,
                  let begin = off[0].intValue, let end = off[1].intValue else {
                throw fail("tensor '\(name)': 'data_offsets' must be [begin, end]")
            }
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw fail("tensor '\(name)': data_offsets [\(begin), \(end)] out of range (data section holds \(dataSize) bytes)")
            }
            guard let size = Self.dtypeSizes[dtype] else { throw fail("tensor '\(name)': unknown dtype '\(dtype)'") }
            var count = 1
            for d in shape {
                let (r, o) = count.multipliedReportingOverflow(by: d)
                if o { throw fail("tensor '\(name)': shape \(shape) is too large") }
                count = r
            }
            let (bytes, o) = count.multipliedReportingOverflow(by: size)
            if o || bytes != end - begin {
                throw fail("tensor '\(name)': \(end - begin) data bytes for shape \(shape) of \(dtype) (expected \(o ? "too many" : String(bytes)))")
            }
            entries[name] = Entry(name: name, dtype: dtype, shape: shape, offsets: begin..<end)
        }
        let sorted = entries.values.sorted { ($0.offsets.lowerBound, $0.offsets.upperBound) < ($1.offsets.lowerBound, $1.offsets.upperBound) }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.offsets.lowerBound < a.offsets.upperBound {
            throw fail("tensors '\(a.name)' and '\(b.name)' overlap in the data section")
        }
        self.path = path
        self.metadata = metadata
        self.entries = entries
        self.data = data
        self.dataStart = headerEnd
    }

    /// The tensor names, sorted.
    public var names: [String] { entries.keys.sorted() }

    /// The dtypes ``floats(named:)`` reads: F32 as it is, F16, BF16 and F64 converted to float32
    /// (F64 rounded to nearest).
    public static let floatDTypes: Set<String> = ["F32", "F16", "BF16", "F64"]

    /// The values and shape of floating-point tensor `name` (see ``floatDTypes``).
    /// - Throws: ``ConvError/invalidFile(path:reason:)`` for a missing tensor or another dtype
    ///   (naming it).
    public func floats(named name: String) throws -> (shape: [Int], values: [Float]) {
        guard let e = entries[name] else {
            throw ConvError.invalidFile(path: path, reason: "missing tensor '\(name)'")
        }
        guard Self.floatDTypes.contains(e.dtype) else {
            throw ConvError.invalidFile(path: path, reason: "tensor '\(name)' has dtype \(e.dtype); only F32, F16, BF16 and F64 can be read as floats")
        }
        let size = Self.dtypeSizes[e.dtype]!
        let count = e.offsets.count / size
        var values = [Float](repeating: 0, count: count)
        let start = dataStart + e.offsets.lowerBound
        data.withUnsafeBytes { all in
            let src = UnsafeRawBufferPointer(rebasing: all[start..<(start + count * size)])
            values.withUnsafeMutableBufferPointer { dst in
                switch e.dtype {
                case "F32":
                    UnsafeMutableRawBufferPointer(dst).copyMemory(from: src)
                case "F64":
                    for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self).littleEndian.asDouble) }
                case "BF16":
                    for i in 0..<count {
                        dst[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self).littleEndian) << 16)
                    }
                default: // F16
                    for i in 0..<count { dst[i] = halfToFloat(src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self).littleEndian) }
                }
            }
        }
        return (e.shape, values)
    }

    /// The values of float tensor `name` (F32, F16, BF16 or F64, as ``floats(named:)``), which
    /// must have shape `expected`.
    /// - Throws: as ``floats(named:)``, and ``ConvError/shapeMismatch(what:expected:actual:)``
    ///   naming the tensor and both shapes.
    public func floats(named name: String, expectedShape expected: [Int]) throws -> [Float] {
        if let e = entries[name], e.shape != expected {
            throw ConvError.shapeMismatch(what: "tensor '\(name)' in \(path)", expected: expected, actual: e.shape)
        }
        do {
            return try floats(named: name).values
        } catch ConvError.invalidFile(let p, let reason) where reason.hasPrefix("missing tensor") {
            throw ConvError.invalidFile(path: p, reason: reason + " (expected shape \(expected))")
        }
    }
}

/// A named float32 tensor to write to a safetensors file.
public struct SafeTensor: Hashable, Sendable {
    public var name: String
    public var shape: [Int]
    public var values: [Float]
    public init(name: String, shape: [Int], values: [Float]) {
        self.name = name; self.shape = shape; self.values = values
    }
}

/// Writes safetensors files (F32 tensors only).
public enum SafeTensorsWriter {
    /// The file contents for `tensors` (stored in the given order, without gaps) and
    /// `metadata`. The header is padded with spaces to a multiple of 8 bytes, as the
    /// `safetensors` package does.
    /// - Throws: ``ConvError/invalidArgument(_:)`` for a duplicate or reserved name or a value
    ///   count that does not match its shape.
    public static func encode(_ tensors: [SafeTensor], metadata: [String: String] = [:]) throws -> Data {
        var header: [String: JSONValue] = [:]
        if !metadata.isEmpty { header["__metadata__"] = .object(metadata.mapValues { .string($0) }) }
        var offset = 0
        for t in tensors {
            if t.name == "__metadata__" { throw ConvError.invalidArgument("'__metadata__' is not a valid tensor name") }
            if header[t.name] != nil { throw ConvError.invalidArgument("duplicate tensor name '\(t.name)'") }
            if t.shape.contains(where: { $0 < 0 }) || t.shape.reduce(1, *) != t.values.count {
                throw ConvError.shapeMismatch(what: "tensor '\(t.name)'", expected: t.shape, actual: [t.values.count])
            }
            let bytes = t.values.count * 4
            header[t.name] = .object(["dtype": "F32", "shape": .array(t.shape.map { .number(Double($0)) }),
                                      "data_offsets": .array([.number(Double(offset)), .number(Double(offset + bytes))])])
            offset += bytes
        }
        var json = JSONValue.object(header).jsonData()
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(json)
        for t in tensors {
            t.values.withUnsafeBytes { out.append(contentsOf: $0) }
        }
        return out
    }

    /// Writes `tensors` to `path` atomically (a temporary file renamed into place).
    /// - Throws: as ``encode(_:metadata:)``, and ``ConvError/invalidFile(path:reason:)`` when
    ///   the file cannot be written.
    public static func write(_ tensors: [SafeTensor], metadata: [String: String] = [:], to path: String) throws {
        let data = try encode(tensors, metadata: metadata)
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw ConvError.invalidFile(path: path, reason: "cannot write (\((error as NSError).localizedDescription))")
        }
    }
}

extension UInt64 {
    fileprivate var asDouble: Double { Double(bitPattern: self) }
}

/// Conversions of 16-bit floating-point storage formats to `Float`, as model files hold them.
public enum HalfPrecision {
    /// IEEE binary16 bits to float32 (exact), subnormals, infinities and NaN included.
    @inlinable public static func float(fromFloat16Bits bits: UInt16) -> Float { halfToFloat(bits) }
    /// bfloat16 bits (the top half of a float32) to float32 (exact).
    @inlinable public static func float(fromBFloat16Bits bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }
}

/// IEEE binary16 to float32 (exact: every half value is a float), subnormals, infinities and
/// NaN included.
@usableFromInline
func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = Int((h >> 10) & 0x1f)
    let mantissa = UInt32(h & 0x3ff)
    if exponent == 0x1f { return Float(bitPattern: sign | 0x7f80_0000 | mantissa << 13) }
    if exponent == 0 {
        // Zero or subnormal: mantissa * 2^-24.
        let v = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
        return sign != 0 ? -v : v
    }
    return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | mantissa << 13)
}
