import ConvKit
import Foundation

// Minimal `.npy` I/O for `convkit run`: little-endian float32, C order, NPY format versions
// 1.0 to 3.0. A stand-in until the shared `NumPyFile` reader/writer lands in ConvKit; the
// lead swaps these two functions for it when merging.

/// Reads a float32 `.npy` file.
/// - Throws: ``ConvError/invalidFile(path:reason:)`` for an unreadable file, a bad magic or
///   header, a dtype other than `<f4`, Fortran order, or data shorter than the shape.
func readNPY(_ path: String) throws -> (shape: [Int], values: [Float]) {
    func fail(_ reason: String) -> ConvError { ConvError.invalidFile(path: path, reason: reason) }
    let data: Data
    do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
        throw fail("cannot read (\((error as NSError).localizedDescription))")
    }
    let bytes = [UInt8](data)
    guard bytes.count >= 10, bytes[0..<6].elementsEqual([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]) else {
        throw fail("not a .npy file (bad magic)")
    }
    let major = bytes[6]
    var headerLength: Int, start: Int
    switch major {
    case 1:
        headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        start = 10
    case 2, 3:
        guard bytes.count >= 12 else { throw fail("truncated header") }
        headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        start = 12
    default:
        throw fail("unsupported .npy version \(major)")
    }
    guard start + headerLength <= bytes.count else { throw fail("truncated header") }
    let header = String(decoding: bytes[start..<start + headerLength], as: UTF8.self)
    func value(of key: String) -> Substring? {
        guard let r = header.range(of: "'\(key)':") else { return nil }
        return header[r.upperBound...].drop(while: { $0 == " " })
    }
    guard let descr = value(of: "descr") else { throw fail("header has no 'descr'") }
    guard descr.hasPrefix("'<f4'") || descr.hasPrefix("'=f4'") else {
        throw fail("dtype \(descr.prefix(while: { $0 != "," })) is not supported; only little-endian float32 ('<f4')")
    }
    guard let fortran = value(of: "fortran_order"), fortran.hasPrefix("False") else {
        throw fail("Fortran-ordered arrays are not supported")
    }
    guard let shapeText = value(of: "shape"), shapeText.first == "(", let close = shapeText.firstIndex(of: ")") else {
        throw fail("header has no 'shape' tuple")
    }
    let inner = shapeText[shapeText.index(after: shapeText.startIndex)..<close]
    var shape: [Int] = []
    for part in inner.split(separator: ",") {
        let t = part.trimmingCharacters(in: .whitespaces)
        if t.isEmpty { continue }
        guard let d = Int(t), d >= 0 else { throw fail("bad shape dimension '\(t)'") }
        shape.append(d)
    }
    var count = 1
    for d in shape {
        let (r, o) = count.multipliedReportingOverflow(by: d)
        if o { throw fail("shape \(shape) is too large") }
        count = r
    }
    let dataStart = start + headerLength
    guard bytes.count - dataStart >= count * 4 else {
        throw fail("truncated data: shape \(shape) needs \(count * 4) bytes, the file has \(bytes.count - dataStart)")
    }
    var values = [Float](repeating: 0, count: count)
    values.withUnsafeMutableBytes { dst in
        bytes.withUnsafeBytes { src in
            dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[dataStart..<dataStart + count * 4]))
        }
    }
    return (shape, values)
}

/// Writes `values` as a float32 `.npy` file of `shape` (version 1.0), atomically.
/// - Throws: ``ConvError/shapeMismatch(what:expected:actual:)`` when the counts differ,
///   ``ConvError/invalidFile(path:reason:)`` when the file cannot be written.
func writeNPY(_ path: String, shape: [Int], values: [Float]) throws {
    guard shape.reduce(1, *) == values.count else {
        throw ConvError.shapeMismatch(what: "npy values", expected: shape, actual: [values.count])
    }
    let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
    var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(dims)), }"
    let total = 10 + header.utf8.count + 1
    header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
    var data = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
    let length = header.utf8.count
    data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
    data.append(contentsOf: Array(header.utf8))
    values.withUnsafeBytes { data.append(contentsOf: $0) }
    do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
        throw ConvError.invalidFile(path: path, reason: "cannot write (\((error as NSError).localizedDescription))")
    }
}
