import ConvKit
import Foundation
import Testing

/// The `.npy` reader and writer. Compatibility with NumPy is checked against bytes that
/// `numpy.save` (NumPy 2.4.6) wrote for `np.array([[1.5, -2, 0.25], [3, 1e-3, -0.0]], np.float32)`.
@Suite("NumPy .npy files")
struct NumPyFileTests {
    /// `np.save(f, a)`: format version 1.0.
    static let numpyVersion1: [UInt8] = [
        0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 0x01, 0x00, 0x76, 0x00, 0x7B, 0x27, 0x64, 0x65, 0x73, 0x63,
        0x72, 0x27, 0x3A, 0x20, 0x27, 0x3C, 0x66, 0x34, 0x27, 0x2C, 0x20, 0x27, 0x66, 0x6F, 0x72, 0x74,
        0x72, 0x61, 0x6E, 0x5F, 0x6F, 0x72, 0x64, 0x65, 0x72, 0x27, 0x3A, 0x20, 0x46, 0x61, 0x6C, 0x73,
        0x65, 0x2C, 0x20, 0x27, 0x73, 0x68, 0x61, 0x70, 0x65, 0x27, 0x3A, 0x20, 0x28, 0x32, 0x2C, 0x20,
        0x33, 0x29, 0x2C, 0x20, 0x7D, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
        0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
        0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
        0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x0A,
        0x00, 0x00, 0xC0, 0x3F, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x80, 0x3E, 0x00, 0x00, 0x40, 0x40,
        0x6F, 0x12, 0x83, 0x3A, 0x00, 0x00, 0x00, 0x80,
    ]

    /// `np.lib.format.write_array(f, a, version=(2, 0))`: 4-byte header length.
    static let numpyVersion2: [UInt8] = [
        0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 0x02, 0x00, 0x74, 0x00, 0x00, 0x00, 0x7B, 0x27, 0x64, 0x65,
        0x73, 0x63, 0x72, 0x27, 0x3A, 0x20, 0x27, 0x3C, 0x66, 0x34, 0x27, 0x2C, 0x20, 0x27, 0x66, 0x6F,
        0x72, 0x74, 0x72, 0x61, 0x6E, 0x5F, 0x6F, 0x72, 0x64, 0x65, 0x72, 0x27, 0x3A, 0x20, 0x46, 0x61,
        0x6C, 0x73, 0x65, 0x2C, 0x20, 0x27, 0x73, 0x68, 0x61, 0x70, 0x65, 0x27, 0x3A, 0x20, 0x28, 0x32,
        0x2C, 0x20, 0x33, 0x29, 0x2C, 0x20, 0x7D, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
        0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
        0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
        0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x0A,
        0x00, 0x00, 0xC0, 0x3F, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x80, 0x3E, 0x00, 0x00, 0x40, 0x40,
        0x6F, 0x12, 0x83, 0x3A, 0x00, 0x00, 0x00, 0x80,
    ]

    static let numpyValues: [Float] = [1.5, -2, 0.25, 3, 1e-3, -0.0]

    /// A `.npy` file with a hand-written header dict (padded to 64 bytes) and raw data bytes.
    static func npy(_ dict: String, version: UInt8 = 1, data: [UInt8] = []) -> Data {
        let preamble = version == 1 ? 10 : 12
        var header = dict
        while (preamble + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var bytes = NumPyArray.magic + [version, 0]
        let length = header.utf8.count
        bytes += version == 1 ? [UInt8(length & 0xFF), UInt8(length >> 8)]
                              : [UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF), 0, 0]
        return Data(bytes + Array(header.utf8) + data)
    }

    static func floatBytes(_ values: [Float]) -> [UInt8] {
        values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
    }

    /// Reads `data`, expecting an `invalidFile` error whose reason contains every fragment.
    static func expectInvalid(_ data: Data, _ fragments: [String],
                              sourceLocation: SourceLocation = #_sourceLocation) {
        let error = #expect(throws: ConvError.self, sourceLocation: sourceLocation) {
            try NumPyArray.read(data: data, path: "t.npy")
        }
        guard case let .invalidFile(path, reason)? = error else {
            Issue.record("expected invalidFile, got \(String(describing: error))", sourceLocation: sourceLocation)
            return
        }
        #expect(path == "t.npy", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(reason.contains(fragment), "'\(reason)' lacks '\(fragment)'", sourceLocation: sourceLocation)
        }
    }

    @Test("Reads what numpy.save wrote (version 1.0, 2.0 and 3.0)")
    func readsNumPy() throws {
        var version3 = Self.numpyVersion2
        version3[6] = 3
        for bytes in [Self.numpyVersion1, Self.numpyVersion2, version3] {
            let a = try NumPyArray.read(data: Data(bytes))
            #expect(a.shape == [2, 3])
            #expect(a.values.map(\.bitPattern) == Self.numpyValues.map(\.bitPattern))
        }
        // A Data slice that does not start at index 0 (data at an odd address).
        let slice = Data([0xFF, 0xFF, 0xFF] + Self.numpyVersion1)[3...]
        #expect(try NumPyArray.read(data: slice).values == Self.numpyValues)
    }

    @Test("Writes byte for byte what numpy.save writes")
    func writesNumPy() throws {
        let a = try NumPyArray(shape: [2, 3], values: Self.numpyValues)
        #expect([UInt8](a.encode()) == Self.numpyVersion1)
    }

    @Test("Round trip keeps shapes and bit patterns", arguments: [
        [Int](), [5], [0, 3], [1, 3, 4, 5], [2, 1, 1, 1, 1, 2],
    ])
    func roundTrip(shape: [Int]) throws {
        let count = shape.reduce(1, *)
        var rng = SplitMix(seed: UInt64(count))
        var values = (0..<count).map { _ in rng.nextFloat() }
        if count >= 4 { values[0] = .nan; values[1] = -.infinity; values[2] = -0.0; values[3] = .leastNonzeroMagnitude }
        let a = try NumPyArray(shape: shape, values: values)
        let data = a.encode()
        // Data starts at a multiple of 64 bytes; the header ends with a newline.
        let headerLength = Int(data[8]) | Int(data[9]) << 8
        #expect((10 + headerLength) % 64 == 0)
        #expect(data[10 + headerLength - 1] == 0x0A)
        #expect(data.count == 10 + headerLength + 4 * count)
        let b = try NumPyArray.read(data: data)
        #expect(b.shape == shape)
        #expect(b.values.map(\.bitPattern) == values.map(\.bitPattern))
    }

    @Test("Shape tuples are written as Python writes them")
    func shapeTuples() throws {
        #expect(NumPyArray.shapeTuple([]) == "()")
        #expect(NumPyArray.shapeTuple([5]) == "(5,)")
        #expect(NumPyArray.shapeTuple([2, 3]) == "(2, 3)")
        let scalar = try NumPyArray(shape: [], values: [3.5])
        #expect(String(decoding: scalar.encode()[10..<74], as: UTF8.self).contains("'shape': (), }"))
        let vector = try NumPyArray(shape: [5], values: [1, 2, 3, 4, 5])
        #expect(String(decoding: vector.encode()[10..<74], as: UTF8.self).contains("'shape': (5,), }"))
    }

    @Test("Headers in other spellings are accepted: key order, spacing, no trailing comma, L suffix")
    func lenientHeaders() throws {
        let data = Self.floatBytes([1, 2, 3, 4])
        for dict in [
            "{'shape': (2, 2), 'fortran_order': False, 'descr': '<f4'}",
            "{ \"descr\" : \"<f4\" , 'fortran_order':False,'shape':(2,2,) }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 2L), }",
        ] {
            let a = try NumPyArray.read(data: Self.npy(dict, data: data))
            #expect(a.shape == [2, 2])
            #expect(a.values == [1, 2, 3, 4])
        }
    }

    @Test("A header longer than 65535 bytes is written as version 2.0")
    func version2Write() throws {
        let shape = [Int](repeating: 1, count: 25_000)  // "1, " per dimension: about 75 kB of header
        let a = try NumPyArray(shape: shape, values: [7])
        let data = a.encode()
        #expect(data[6] == 2 && data[7] == 0)
        let length = Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
        #expect(length > 65535)
        #expect((12 + length) % 64 == 0)
        let b = try NumPyArray.read(data: data)
        #expect(b.shape == shape && b.values == [7])
    }

    @Test("Bad magic, unknown version and short files")
    func badPreamble() {
        var bytes = Self.numpyVersion1
        bytes[1] = 0x41
        Self.expectInvalid(Data(bytes), ["bad magic", "93 41 55 4D 50 59"])
        bytes = Self.numpyVersion1
        bytes[6] = 4
        Self.expectInvalid(Data(bytes), ["version 4.0"])
        Self.expectInvalid(Data([0x93, 0x4E, 0x55]), ["3 bytes"])
        Self.expectInvalid(Data(Array(Self.numpyVersion2[0..<10])), ["truncated header"])
    }

    @Test("Truncated header and data say how much was expected")
    func truncated() {
        Self.expectInvalid(Data(Array(Self.numpyVersion1[0..<100])), ["truncated header", "118", "90"])
        Self.expectInvalid(Data(Array(Self.numpyVersion1[0..<148])), ["truncated data", "24 bytes", "got 20"])
        Self.expectInvalid(Data(Self.numpyVersion1 + [0, 0]), ["2 unexpected bytes"])
    }

    @Test("Other dtypes are refused by name", arguments: ["<f8", ">f4", "|u1", "<i4", "<f2", "|b1"])
    func dtypes(descr: String) {
        let data = Self.npy("{'descr': '\(descr)', 'fortran_order': False, 'shape': (1,), }", data: [0, 0, 0, 0])
        Self.expectInvalid(data, ["unsupported dtype '\(descr)'", "<f4"])
    }

    @Test("Fortran order is refused")
    func fortranOrder() {
        let data = Self.npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
                            data: Self.floatBytes([1, 2, 3, 4]))
        Self.expectInvalid(data, ["Fortran"])
    }

    @Test("Malformed header dictionaries", arguments: [
        ("'descr': '<f4', 'fortran_order': False, 'shape': (1,)", "expected '{'"),
        ("{'descr': '<f4', 'fortran_order': False}", "missing 'shape'"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", "unexpected value"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 'x'}", "unexpected 'extra'"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}", "non-negative integer"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2}", "expected ','"),
        ("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", "unexpected value"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': '1'}", "'shape' must be a tuple"),
        ("{'descr': ('<f4',), 'fortran_order': False, 'shape': (1,)}", "tuples must hold shape dimensions"),
        ("{'descr': (), 'fortran_order': False, 'shape': (1,)}", "'descr' must be a string"),
        ("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", "duplicate key 'descr'"),
        ("{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}", "expected ',' at offset 17, found 'f'"),
        ("{'descr' '<f4', 'fortran_order': False, 'shape': (1,)}", "expected ':'"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", "after the dictionary"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", "unterminated dictionary"),
    ])
    func malformed(dict: String, fragment: String) {
        Self.expectInvalid(Self.npy(dict, data: [0, 0, 0, 0]), ["malformed header", fragment])
    }

    @Test("Element and byte counts that overflow are refused, not trapped")
    func overflow() {
        for shape in ["(4611686018427387904, 4)", "(2305843009213693952,)", "(99999999999999999999,)"] {
            let data = Self.npy("{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }")
            let error = #expect(throws: ConvError.self) { try NumPyArray.read(data: data, path: "big.npy") }
            guard case let .sizeOverflow(what, _)? = error else {
                Issue.record("expected sizeOverflow for \(shape), got \(String(describing: error))")
                continue
            }
            #expect(what.contains("big.npy"))
        }
    }

    @Test("Array initialiser checks the value count; tensor conversion needs 4 dimensions")
    func initialisers() throws {
        let error = #expect(throws: ConvError.self) { try NumPyArray(shape: [2, 2], values: [1, 2, 3]) }
        #expect(error == .shapeMismatch(what: "array values", expected: [4], actual: [3]))
        #expect(throws: ConvError.self) { try NumPyArray(shape: [-1], values: []) }
        let t = try Tensor(shape: TensorShape(n: 1, c: 2, h: 1, w: 2), values: [1, 2, 3, 4])
        let a = NumPyArray(t)
        #expect(a.shape == [1, 2, 1, 2] && a.values == [1, 2, 3, 4])
        #expect(try a.tensor() == t)
        #expect(throws: ConvError.self) { try NumPyArray(shape: [4], values: [1, 2, 3, 4]).tensor() }
    }

    @Test("Files: write, read back, replace atomically, leave no temporary files, clear errors")
    func files() throws {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("convkit-npy-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("a.npy").path
        let a = try NumPyArray(shape: [2, 3], values: Self.numpyValues)
        try a.write(path: path)
        #expect(try NumPyArray.read(path: path) == a)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(Self.numpyVersion1))
        let b = try NumPyArray(shape: [1], values: [9])
        try b.write(path: path)
        #expect(try NumPyArray.read(path: path) == b)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["a.npy"])

        // Missing file, directory, missing directory for writing.
        let missing = dir.appendingPathComponent("missing.npy").path
        var error = #expect(throws: ConvError.self) { try NumPyArray.read(path: missing) }
        #expect(error?.description.contains(missing) == true)
        #expect(error?.description.contains("No such file") == true)
        error = #expect(throws: ConvError.self) { try NumPyArray.read(path: dir.path) }
        #expect(error?.description.contains("directory") == true)
        let nowhere = dir.appendingPathComponent("no/such/dir/b.npy").path
        error = #expect(throws: ConvError.self) { try b.write(path: nowhere) }
        #expect(error?.description.contains(nowhere) == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["a.npy"])
    }
}

/// The library's SplitMix64, for varied test values.
typealias SplitMix = SplitMix64

extension SplitMix64 {
    /// Any float bit pattern that is finite.
    mutating func nextFloat() -> Float {
        while true {
            let f = Float(bitPattern: UInt32(truncatingIfNeeded: next()))
            if f.isFinite { return f }
        }
    }
}
