import Foundation
import Testing
import ConvKit

/// A safetensors file assembled by hand: header JSON text, then raw bytes.
func handMadeSafeTensors(header: String, data: [UInt8], lengthOverride: UInt64? = nil) -> Data {
    var d = Data()
    var n = (lengthOverride ?? UInt64(header.utf8.count)).littleEndian
    withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
    d.append(contentsOf: Array(header.utf8))
    d.append(contentsOf: data)
    return d
}

func floatBytes(_ v: [Float]) -> [UInt8] { v.withUnsafeBytes { Array($0) } }

/// The reason of an invalidFile error, or nil.
func invalidFileReason(_ body: () throws -> Void) -> String? {
    do { try body() } catch let ConvError.invalidFile(_, reason) { return reason } catch { return "other: \(error)" }
    return nil
}

@Suite("SafeTensors")
struct SafeTensorsTests {
    @Test("round trip with metadata, 8-byte aligned header")
    func roundTrip() throws {
        let tensors = [SafeTensor(name: "c1.weight", shape: [2, 1, 3, 3], values: (0..<18).map { Float($0) * 0.5 - 3 }),
                       SafeTensor(name: "c1.bias", shape: [2], values: [1.5, -2]),
                       SafeTensor(name: "scalar", shape: [], values: [7])]
        let data = try SafeTensorsWriter.encode(tensors, metadata: ["format": "pt"])
        let headerLength = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect(headerLength % 8 == 0)
        #expect(data.count == 8 + headerLength + 21 * 4)
        let file = try SafeTensorsFile(data: data)
        #expect(file.metadata == ["format": "pt"])
        #expect(file.names == ["c1.bias", "c1.weight", "scalar"])
        for t in tensors {
            let r = try file.floats(named: t.name)
            #expect(r.shape == t.shape)
            #expect(r.values == t.values)
        }
        // Through a file on disk too.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ck-st-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafeTensorsWriter.write(tensors, to: path)
        #expect(try SafeTensorsFile(path: path).floats(named: "c1.weight", expectedShape: [2, 1, 3, 3]) == tensors[0].values)
    }

    @Test("a hand-made file: any tensor order, gaps, trailing header spaces, other dtypes present")
    func handMade() throws {
        let header = #"{"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},"#
            + #""a":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},"#
            + #""n":{"dtype":"I64","shape":[],"data_offsets":[8,16]},"__metadata__":{"k":"v"}}   "#
        let bytes = floatBytes([1, 2]) + [UInt8](repeating: 0, count: 8) + floatBytes([3, 4])
        let file = try SafeTensorsFile(data: handMadeSafeTensors(header: header, data: bytes))
        #expect(try file.floats(named: "a").values == [1, 2])
        #expect(try file.floats(named: "b").values == [3, 4])
        #expect(invalidFileReason { _ = try file.floats(named: "n") } == "tensor 'n' has dtype I64; only F32, F16, BF16 and F64 can be read as floats")
    }

    @Test("missing and mis-shaped tensors are named")
    func missingAndMisShaped() throws {
        let file = try SafeTensorsFile(data: SafeTensorsWriter.encode([SafeTensor(name: "w", shape: [2, 3], values: .init(repeating: 0, count: 6))]),
                                       path: "m.safetensors")
        #expect(invalidFileReason { _ = try file.floats(named: "fc.bias", expectedShape: [4]) }
                == "missing tensor 'fc.bias' (expected shape [4])")
        #expect(throws: ConvError.shapeMismatch(what: "tensor 'w' in m.safetensors", expected: [3, 2], actual: [2, 3])) {
            _ = try file.floats(named: "w", expectedShape: [3, 2])
        }
    }

    @Test("truncated and malformed files", arguments: [
        ("short", "fewer than the 8-byte header length"),
        ("length past EOF", "runs past the end of the file"),
        ("bad JSON", "not valid JSON"),
        ("not an object", "not a JSON object"),
        ("offsets out of range", "out of range"),
        ("size mismatch", "data bytes for shape"),
        ("overlap", "overlap"),
        ("bad offsets", "'data_offsets' must be [begin, end]"),
        ("unknown dtype", "unknown dtype 'F33'"),
    ])
    func malformed(kind: String, expected: String) throws {
        let t = #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let data: Data
        switch kind {
        case "short": data = Data([1, 2, 3])
        case "length past EOF": data = handMadeSafeTensors(header: t, data: floatBytes([1, 2]), lengthOverride: 1000)
        case "bad JSON": data = handMadeSafeTensors(header: #"{"t": {"dtype": "#, data: [])
        case "not an object": data = handMadeSafeTensors(header: "[1, 2]", data: [])
        case "offsets out of range": data = handMadeSafeTensors(header: t, data: floatBytes([1]))
        case "size mismatch": data = handMadeSafeTensors(header: #"{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: floatBytes([1, 2]))
        case "overlap": data = handMadeSafeTensors(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: floatBytes([1, 2]))
        case "bad offsets": data = handMadeSafeTensors(header: #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0]}}"#, data: floatBytes([1, 2]))
        default: data = handMadeSafeTensors(header: #"{"t":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}"#, data: floatBytes([1, 2]))
        }
        let reason = invalidFileReason { _ = try SafeTensorsFile(data: data, path: "x.safetensors") }
        #expect(reason?.contains(expected) == true, "\(kind): \(reason ?? "no error")")
    }

    @Test("writer errors")
    func writerErrors() {
        #expect(throws: ConvError.shapeMismatch(what: "tensor 'a'", expected: [2, 2], actual: [3])) {
            _ = try SafeTensorsWriter.encode([SafeTensor(name: "a", shape: [2, 2], values: [1, 2, 3])])
        }
        #expect(throws: ConvError.invalidArgument("duplicate tensor name 'a'")) {
            _ = try SafeTensorsWriter.encode([SafeTensor(name: "a", shape: [1], values: [1]), SafeTensor(name: "a", shape: [1], values: [1])])
        }
        #expect(invalidFileReason { _ = try SafeTensorsFile(path: "/nonexistent/w.safetensors") }?.hasPrefix("cannot read") == true)
    }
}
