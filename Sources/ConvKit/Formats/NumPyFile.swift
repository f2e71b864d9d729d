import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A float32 array stored in NumPy's `.npy` format: a short text header plus raw data.
///
/// Only what ConvKit needs is supported, and everything else is refused with a
/// ``ConvError/invalidFile(path:reason:)`` that says what was found:
/// - dtype `<f4` (little-endian float32); ``readConverting(path:)`` also converts `<f8` and
///   `<f2`; `>f4`, `<i4`... are refused by name;
/// - C order only (`'fortran_order': False`);
/// - format versions 1.0 (2-byte header length) and 2.0 / 3.0 (4-byte header length) are
///   read; files are written as version 1.0, or 2.0 when the header does not fit in 1.0;
/// - any number of dimensions, including `()` (a scalar, one value) and zero-sized ones.
///
/// Written headers follow NumPy's own layout (`{'descr': '<f4', 'fortran_order': False,
/// 'shape': (2, 3), }`, padded with spaces and ended with `\n` so that the data starts
/// at a multiple of 64 bytes), so `numpy.load` reads them and this reader reads what
/// `numpy.save` writes for float32 arrays.
///
/// ```swift
/// let x = try NumPyArray.read(path: "x.npy")      // shape [1, 3, 32, 32]
/// let t = try x.tensor()                          // NCHW Tensor
/// try NumPyArray(t).write(path: "y.npy")          // atomic: temp file + rename
/// ```
public struct NumPyArray: Hashable, Sendable, CustomStringConvertible {
    /// The dimensions, outermost first (C order). Empty for a scalar.
    public let shape: [Int]
    /// The elements in C (row-major) order; `shape.reduce(1, *)` of them.
    public let values: [Float]

    /// The `.npy` magic string: `\x93NUMPY`.
    public static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
    /// Data starts at a multiple of this many bytes in written files (NumPy's `ARRAY_ALIGN`).
    public static let alignment = 64

    /// An array of `shape` holding `values` in C order.
    /// - Throws: ``ConvError/invalidArgument(_:)`` for a negative dimension,
    ///   ``ConvError/sizeOverflow(what:limit:)`` when the element count overflows, and
    ///   ``ConvError/shapeMismatch(what:expected:actual:)`` when `values.count` differs
    ///   from the element count.
    public init(shape: [Int], values: [Float]) throws {
        let count = try NumPyArray.elementCount(of: shape, path: nil)
        guard values.count == count else {
            throw ConvError.shapeMismatch(what: "array values", expected: [count], actual: [values.count])
        }
        self.shape = shape
        self.values = values
    }

    /// The elements of `tensor`, with shape `[N, C, H, W]`.
    public init(_ tensor: Tensor) {
        shape = tensor.shape.dims
        values = tensor.scalars
    }

    /// Number of elements (the product of ``shape``; 1 for a scalar).
    public var count: Int { values.count }

    /// This array as an NCHW ``Tensor``.
    /// - Throws: ``ConvError/invalidArgument(_:)`` unless the array has 4 dimensions, and
    ///   ``ConvError`` for a zero-sized dimension.
    public func tensor() throws -> Tensor {
        try Tensor(shape: TensorShape(shape), values: values)
    }

    public var description: String {
        "NumPyArray(shape: " + NumPyArray.shapeTuple(shape) + ", \(values.count) float32 values)"
    }

    // MARK: Reading

    /// Reads a `.npy` file.
    /// - Throws: ``ConvError/invalidFile(path:reason:)`` naming `path` when the file cannot
    ///   be read or is not a float32 C-order `.npy` file (bad magic, unsupported version,
    ///   truncated header or data, malformed header, unsupported dtype, Fortran order,
    ///   trailing bytes), and ``ConvError/sizeOverflow(what:limit:)`` for a shape whose
    ///   element count overflows.
    public static func read(path: String) throws -> NumPyArray {
        try read(data: contents(of: path), path: path)
    }

    private static func contents(of path: String) throws -> Data {
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConvError.invalidFile(path: path, reason: "cannot read file: " + describeIOError(error, path: path))
        }
    }

    /// Parses the bytes of a `.npy` file. `path` is used only in error messages.
    /// - Throws: as ``read(path:)``.
    public static func read(data: Data, path: String = "<data>") throws -> NumPyArray {
        try data.withUnsafeBytes { try parse($0, path: path, converting: false).array }
    }

    /// Reads a `.npy` file of float32, float64 (`<f8`) or float16 (`<f2`), converting the
    /// others to float32 (float64 rounded to nearest; float16 exactly). Returns the array and
    /// the dtype it was converted from (nil for float32), so that a program can say so.
    /// - Throws: as ``read(path:)``, for any other dtype.
    public static func readConverting(path: String) throws -> (array: NumPyArray, convertedFrom: String?) {
        try contents(of: path).withUnsafeBytes { try parse($0, path: path, converting: true) }
    }

    private static func parse(_ bytes: UnsafeRawBufferPointer, path: String,
                              converting: Bool) throws -> (array: NumPyArray, convertedFrom: String?) {
        func fail(_ reason: String) -> ConvError { ConvError.invalidFile(path: path, reason: reason) }
        guard bytes.count >= 8 else {
            throw fail("not a .npy file: \(bytes.count) bytes, shorter than the 8-byte preamble")
        }
        guard Array(bytes[0..<6]) == magic else {
            throw fail("not a .npy file: bad magic bytes " + bytes[0..<6].map { hex($0) }.joined(separator: " ")
                       + " (expected 93 4E 55 4D 50 59, \"\\x93NUMPY\")")
        }
        let major = bytes[6], minor = bytes[7]
        let lengthBytes: Int
        switch major {
        case 1: lengthBytes = 2
        case 2, 3: lengthBytes = 4
        default: throw fail("unsupported .npy format version \(major).\(minor) (supported: 1.0, 2.0, 3.0)")
        }
        let headerStart = 8 + lengthBytes
        guard bytes.count >= headerStart else {
            throw fail("truncated header: the file ends inside the \(lengthBytes)-byte header length field")
        }
        var headerLength = 0
        for i in 0..<lengthBytes { headerLength |= Int(bytes[8 + i]) << (8 * i) }
        let dataStart = headerStart + headerLength
        guard bytes.count >= dataStart else {
            throw fail("truncated header: header length is \(headerLength) bytes but only "
                       + "\(bytes.count - headerStart) follow the preamble")
        }
        let headerBytes = bytes[headerStart..<dataStart]
        guard let header = String(bytes: headerBytes, encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw fail("malformed header: not valid text")
        }
        let dict = try HeaderParser.parse(header, path: path)
        let elementSize: Int
        switch dict.descr {
        case "<f4": elementSize = 4
        case "<f8" where converting: elementSize = 8
        case "<f2" where converting: elementSize = 2
        default:
            throw fail("unsupported dtype '\(dict.descr)': only little-endian float32 ('<f4')"
                       + (converting ? ", float64 ('<f8') and float16 ('<f2') are supported" : " is supported"))
        }
        guard !dict.fortranOrder else {
            throw fail("unsupported Fortran (column-major) order: only C order ('fortran_order': False) is supported")
        }
        let count = try elementCount(of: dict.shape, path: path)
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: elementSize)
        if overflow { throw ConvError.sizeOverflow(what: "\(path): data of shape \(shapeTuple(dict.shape))",
                                                   limit: "\(count) values exceed \(Int.max) bytes") }
        let available = bytes.count - dataStart
        guard available >= byteCount else {
            throw fail("truncated data: shape \(shapeTuple(dict.shape)) needs \(byteCount) bytes, got \(available)")
        }
        guard available == byteCount else {
            throw fail("\(available - byteCount) unexpected bytes after the \(byteCount) bytes of data of shape "
                       + shapeTuple(dict.shape))
        }
        let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count {
                let at = dataStart + elementSize * i
                switch elementSize {
                case 4: buffer[i] = Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
                case 8: buffer[i] = Float(Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self))))
                default: buffer[i] = halfToFloat(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self)))
                }
            }
            initialized = count
        }
        return (NumPyArray(uncheckedShape: dict.shape, values: values), elementSize == 4 ? nil : dict.descr)
    }

    private init(uncheckedShape: [Int], values: [Float]) {
        self.shape = uncheckedShape
        self.values = values
    }

    // MARK: Writing

    /// The bytes of this array as a `.npy` file (version 1.0, or 2.0 for a header longer
    /// than 65535 bytes; dtype `<f4`; C order; data aligned to 64 bytes).
    public func encode() -> Data {
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': \(NumPyArray.shapeTuple(shape)), }"
        // Version 1.0: 6 magic + 2 version + 2 length bytes; 2.0: 4 length bytes.
        var version: UInt8 = 1
        var preamble = 10
        var padded = NumPyArray.paddedHeader(dict, preamble: preamble)
        if padded.utf8.count > Int(UInt16.max) {
            version = 2
            preamble = 12
            padded = NumPyArray.paddedHeader(dict, preamble: preamble)
        }
        let headerLength = padded.utf8.count
        var out = Data(capacity: preamble + headerLength + 4 * values.count)
        out.append(contentsOf: NumPyArray.magic)
        out.append(contentsOf: [version, 0])
        for i in 0..<(preamble - 8) { out.append(UInt8(truncatingIfNeeded: headerLength >> (8 * i))) }
        out.append(contentsOf: Array(padded.utf8))
        var le = [UInt32](repeating: 0, count: values.count)
        for i in values.indices { le[i] = values[i].bitPattern.littleEndian }
        le.withUnsafeBytes { out.append(contentsOf: $0) }
        return out
    }

    /// Writes this array to `path` atomically: the bytes go to a temporary file in the same
    /// directory, which is then renamed over `path`. On failure nothing is left behind and
    /// an existing file at `path` is untouched.
    /// - Throws: ``ConvError/invalidFile(path:reason:)`` naming `path` and the system error.
    public func write(path: String) throws {
        try NumPyArray.writeAtomically(encode(), to: path)
    }

    /// Writes `data` to `path` through a temporary file in the same directory and `rename(2)`.
    static func writeAtomically(_ data: Data, to path: String) throws {
        func fail(_ what: String, _ code: Int32) -> ConvError {
            ConvError.invalidFile(path: path, reason: "cannot write file: \(what): \(String(cString: strerror(code)))")
        }
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temp = directory + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        if fd < 0 { throw fail("cannot create a temporary file in \(directory)", errno) }
        var ok = false
        defer {
            if !ok { unlink(temp) }
        }
        let writeError: Int32? = data.withUnsafeBytes { raw -> Int32? in
            var offset = 0
            while offset < raw.count {
                let n = posixWrite(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += n
            }
            return nil
        }
        if let code = writeError {
            close(fd)
            throw fail("write", code)
        }
        if close(fd) != 0 { throw fail("close", errno) }
        if rename(temp, path) != 0 { throw fail("rename", errno) }
        ok = true
    }

    // MARK: Helpers

    /// The product of `shape`, checking for negative dimensions and overflow.
    static func elementCount(of shape: [Int], path: String?) throws -> Int {
        var count = 1
        for d in shape {
            if d < 0 {
                let reason = "negative dimension \(d) in shape \(shapeTuple(shape))"
                if let path { throw ConvError.invalidFile(path: path, reason: "malformed header: " + reason) }
                throw ConvError.invalidArgument(reason)
            }
            let (p, o) = count.multipliedReportingOverflow(by: d)
            if o {
                throw ConvError.sizeOverflow(what: (path.map { "\($0): " } ?? "") + "shape \(shapeTuple(shape))",
                                             limit: "element count exceeds \(Int.max)")
            }
            count = p
        }
        return count
    }

    /// A shape written as a Python tuple, as in `.npy` headers and error messages:
    /// `()`, `(5,)`, `(2, 3)`.
    public static func shapeTuple(_ shape: [Int]) -> String {
        if shape.count == 1 { return "(\(shape[0]),)" }
        return "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }

    /// `dict` padded with spaces and ended with `\n` so that preamble + header is a
    /// multiple of ``alignment``.
    static func paddedHeader(_ dict: String, preamble: Int) -> String {
        let unpadded = preamble + dict.utf8.count + 1
        let padding = (alignment - unpadded % alignment) % alignment
        return dict + String(repeating: " ", count: padding) + "\n"
    }

    private static func hex(_ b: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(b >> 4)], digits[Int(b & 15)]])
    }
}

/// `write(2)`, named apart from ``NumPyArray/write(path:)``.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}

private func describeIOError(_ error: Error, path: String) -> String {
    // Foundation's messages for a missing file vary; prefer the POSIX reason when we can get it.
    var st = stat()
    if stat(path, &st) != 0 { return String(cString: strerror(errno)) }
    if (st.st_mode & S_IFMT) == S_IFDIR { return "is a directory" }
    return (error as NSError).localizedDescription
}

/// Parses the Python dict literal of a `.npy` header:
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
private struct HeaderParser {
    struct Header {
        var descr: String
        var fortranOrder: Bool
        var shape: [Int]
    }

    enum Value {
        case string(String)
        case bool(Bool)
        case tuple([Int])
    }

    let chars: [UInt8]
    var i = 0
    let path: String

    static func parse(_ text: String, path: String) throws -> Header {
        var p = HeaderParser(chars: Array(text.utf8), path: path)
        return try p.parseHeader(text)
    }

    func fail(_ reason: String) -> ConvError {
        ConvError.invalidFile(path: path, reason: "malformed header: " + reason)
    }

    mutating func skipSpace() {
        while i < chars.count, chars[i] == 0x20 || chars[i] == 0x0A || chars[i] == 0x09 || chars[i] == 0x0D { i += 1 }
    }

    mutating func expect(_ c: UInt8) throws {
        skipSpace()
        guard i < chars.count, chars[i] == c else {
            throw fail("expected '\(Character(Unicode.Scalar(c)))' at offset \(i)" + foundText())
        }
        i += 1
    }

    func foundText() -> String {
        i < chars.count ? ", found '\(Character(Unicode.Scalar(chars[i])))'" : ", found the end of the header"
    }

    mutating func peek() -> UInt8? {
        skipSpace()
        return i < chars.count ? chars[i] : nil
    }

    mutating func parseString() throws -> String {
        skipSpace()
        guard i < chars.count, chars[i] == 0x27 || chars[i] == 0x22 else {
            throw fail("expected a quoted string at offset \(i)" + foundText())
        }
        let quote = chars[i]
        i += 1
        let start = i
        while i < chars.count, chars[i] != quote {
            if chars[i] == 0x5C { throw fail("escape sequences in strings are not supported") }
            i += 1
        }
        guard i < chars.count else { throw fail("unterminated string") }
        let s = String(decoding: chars[start..<i], as: UTF8.self)
        i += 1
        return s
    }

    mutating func parseInt() throws -> Int {
        skipSpace()
        let start = i
        while i < chars.count, chars[i] >= 0x30 && chars[i] <= 0x39 { i += 1 }
        guard i > start else { throw fail("expected a non-negative integer (tuples must hold shape dimensions) at offset \(i)" + foundText()) }
        let digits = String(decoding: chars[start..<i], as: UTF8.self)
        // Python 2 wrote long integers with an L suffix.
        if i < chars.count, chars[i] == 0x4C { i += 1 }
        guard let v = Int(digits) else {
            throw ConvError.sizeOverflow(what: "\(path): shape dimension \(digits)", limit: "exceeds \(Int.max)")
        }
        return v
    }

    mutating func parseValue() throws -> Value {
        guard let c = peek() else { throw fail("expected a value, found the end of the header") }
        switch c {
        case 0x27, 0x22:
            return .string(try parseString())
        case 0x28: // (
            i += 1
            var dims: [Int] = []
            if peek() == 0x29 { i += 1; return .tuple(dims) }
            while true {
                dims.append(try parseInt())
                guard let n = peek() else { throw fail("unterminated shape tuple") }
                if n == 0x29 { i += 1; break }
                try expect(0x2C)
                if peek() == 0x29 { i += 1; break }
            }
            return .tuple(dims)
        default:
            let start = i
            while i < chars.count, (chars[i] >= 0x41 && chars[i] <= 0x5A) || (chars[i] >= 0x61 && chars[i] <= 0x7A) {
                i += 1
            }
            let word = String(decoding: chars[start..<i], as: UTF8.self)
            if word == "True" { return .bool(true) }
            if word == "False" { return .bool(false) }
            i = start
            throw fail("unexpected value at offset \(i)" + foundText())
        }
    }

    mutating func parseHeader(_ text: String) throws -> Header {
        try expect(0x7B) // {
        var entries: [String: Value] = [:]
        while true {
            if peek() == 0x7D { i += 1; break }
            let key = try parseString()
            try expect(0x3A) // :
            let value = try parseValue()
            if entries[key] != nil { throw fail("duplicate key '\(key)'") }
            entries[key] = value
            guard let n = peek() else { throw fail("unterminated dictionary (missing '}')") }
            if n == 0x7D { i += 1; break }
            try expect(0x2C)
        }
        if peek() != nil { throw fail("unexpected text after the dictionary at offset \(i)" + foundText()) }
        let expected: Set<String> = ["descr", "fortran_order", "shape"]
        let keys = Set(entries.keys)
        if keys != expected {
            let missing = expected.subtracting(keys).sorted(), extra = keys.subtracting(expected).sorted()
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing " + missing.map { "'\($0)'" }.joined(separator: ", ")) }
            if !extra.isEmpty { parts.append("unexpected " + extra.map { "'\($0)'" }.joined(separator: ", ")) }
            throw fail("keys must be 'descr', 'fortran_order' and 'shape': " + parts.joined(separator: "; "))
        }
        guard case let .string(descr)? = entries["descr"] else {
            throw fail("'descr' must be a string (structured dtypes are not supported)")
        }
        guard case let .bool(fortran)? = entries["fortran_order"] else {
            throw fail("'fortran_order' must be True or False")
        }
        guard case let .tuple(shape)? = entries["shape"] else { throw fail("'shape' must be a tuple of integers") }
        return Header(descr: descr, fortranOrder: fortran, shape: shape)
    }
}
