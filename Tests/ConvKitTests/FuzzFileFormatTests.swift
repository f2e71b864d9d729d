import ConvKit
import Foundation
import Testing

/// Random corruptions of `.npy` files: reading never traps; it returns a consistent array or
/// throws a ``ConvError``. Seeded by `CONVKIT_FUZZ_SEED` like the differential fuzz.
@Suite("Fuzz: .npy files")
struct FuzzFileFormatTests {
    static let mutations = 3000

    @Test("corrupted .npy bytes: a consistent array or a ConvError, never a trap")
    func corruptedNumPy() throws {
        var values = TestRandom(seed: 1)
        let valid = try NumPyArray(shape: [2, 3, 4, 5], values: values.uniform(120)).encode()
        var rng = TestRandom(seed: FuzzDifferentialTests.seed ^ 0x4E50)
        var outcomes: [String: Int] = [:]
        var failures: [String] = []
        for i in 0..<Self.mutations {
            var bytes = [UInt8](valid)
            let kind = mutate(&bytes, using: &rng)
            do {
                let a = try NumPyArray.read(data: Data(bytes), path: "m\(i).npy")
                let product = a.shape.reduce(1) { $0 * $1 }
                if product != a.values.count { failures.append("mutation \(i) [\(kind)]: shape \(a.shape), \(a.count) values") }
                outcomes["read", default: 0] += 1
            } catch let error as ConvError {
                if !error.description.contains("m\(i).npy") && !error.description.contains("too large") {
                    failures.append("mutation \(i) [\(kind)]: message does not name the file: \(error)")
                }
                outcomes["ConvError", default: 0] += 1
            } catch {
                failures.append("mutation \(i) [\(kind)]: untyped error \(error)")
            }
        }
        #expect(failures.isEmpty, "\(failures.prefix(10).joined(separator: "\n"))")
        #expect(outcomes["ConvError", default: 0] > Self.mutations / 2,
                "\(Self.mutations) mutations (seed \(FuzzDifferentialTests.seed)): \(outcomes)")
    }

    @Test("hostile headers: huge length field, huge or negative shapes, deep nesting, non-text")
    func hostileHeaders() {
        func file(_ header: String, version: UInt8 = 1, lengthOverride: Int? = nil, data: Int = 0) -> Data {
            var out = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, version, 0])
            let length = lengthOverride ?? header.utf8.count
            for i in 0..<(version == 1 ? 2 : 4) { out.append(UInt8(truncatingIfNeeded: length >> (8 * i))) }
            out.append(contentsOf: Array(header.utf8))
            out.append(Data(count: data))
            return out
        }
        let cases: [(String, Data)] = [
            ("4 GB header length", file("{}", version: 2, lengthOverride: Int(UInt32.max))),
            ("header length past the end", file("{'descr': '<f4'}", lengthOverride: 60000)),
            ("shape with Int.max", file("{'descr': '<f4', 'fortran_order': False, 'shape': (\(Int.max), 2), }")),
            ("shape beyond Int", file("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }")),
            ("negative shape", file("{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }", data: 16)),
            ("shape product overflows", file("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }")),
            ("bytes overflow", file("{'descr': '<f4', 'fortran_order': False, 'shape': (\(Int.max / 2),), }")),
            ("deeply nested", file("{'descr': '<f4', 'fortran_order': False, 'shape': " + String(repeating: "(", count: 5000)
                                   + String(repeating: ")", count: 5000) + ", }")),
            ("NUL bytes", file("{'descr': '<f4'\u{0}\u{0}, 'fortran_order': False, 'shape': (1,), }", data: 4)),
            ("invalid UTF-8 in version 3", {
                var d = file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", version: 3, data: 4)
                d[14] = 0xFF
                return d
            }()),
            ("empty", Data()),
            ("magic only", Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59])),
        ]
        for (name, data) in cases {
            #expect(throws: ConvError.self, "\(name)") { try NumPyArray.read(data: data, path: "h.npy") }
        }
    }

    /// Special files: a directory and (where it exists) a character device that never ends.
    @Test("a directory or /dev/zero as a .npy path is a typed error")
    func specialFiles() throws {
        let dir = FileManager.default.temporaryDirectory.path
        let e = #expect(throws: ConvError.self) { try NumPyArray.read(path: dir) }
        #expect(e?.description.contains(dir) == true)
        if FileManager.default.fileExists(atPath: "/dev/zero") {
            let z = #expect(throws: ConvError.self) { try NumPyArray.read(path: "/dev/zero") }
            #expect(z?.description.contains("/dev/zero") == true)
        }
    }
}

/// Applies one random corruption to `bytes` and names it.
private func mutate(_ bytes: inout [UInt8], using rng: inout TestRandom) -> String {
    let headerEnd = min(bytes.count, 128)
    switch Int.random(in: 0..<8, using: &rng) {
    case 0:
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            bytes[Int.random(in: 0..<headerEnd, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
        }
        return "random header bytes"
    case 1:
        bytes.removeLast(Int.random(in: 1...bytes.count, using: &rng))
        return "truncated"
    case 2:
        bytes.append(contentsOf: (0..<Int.random(in: 1...9, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
        return "trailing bytes"
    case 3:
        bytes[8] = UInt8.random(in: 0...255, using: &rng)
        bytes[9] = UInt8.random(in: 0...255, using: &rng)
        return "header length"
    case 4:
        bytes[6] = UInt8.random(in: 0...4, using: &rng)
        return "version"
    case 5:
        // Replace a digit of the shape with a long number.
        let text = String(decoding: bytes[10..<headerEnd], as: UTF8.self)
        guard let r = text.range(of: "(2, 3") else { return "no shape" }
        let offset = 10 + text.utf8.distance(from: text.startIndex, to: r.lowerBound) + 1
        let digits = Array(String(UInt64.random(in: 0...UInt64.max, using: &rng)).utf8)
        bytes.replaceSubrange(offset..<offset + 1, with: digits)
        return "huge shape"
    case 6:
        let i = Int.random(in: 10..<headerEnd, using: &rng)
        bytes.insert(contentsOf: Array(",)('{}:".utf8).shuffled(using: &rng).prefix(3), at: i)
        return "inserted punctuation"
    default:
        let i = Int.random(in: 10..<headerEnd, using: &rng)
        bytes.remove(at: i)
        return "deleted header byte"
    }
}
