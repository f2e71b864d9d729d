import ConvKit
import ConvKitTools
import Foundation
import Testing
@testable import convkit

/// Bad input through the command line and the suite CSV, filling the gaps of CLITests and
/// BenchCommandTests: corrupt `.npy` files, unwritable outputs, sizes that overflow, a
/// hostile suite file. Every failure: non-zero exit, exactly one `Error: ` line on stderr,
/// no output file left behind, an existing output file untouched.
@Suite("Reliability: bad input through the CLI and suite files")
struct ReliabilityCLITests {
    /// Writes x.npy, w.npy, b.npy for `d` into `dir`.
    private func writeGoodInputs(_ d: Conv2DDescriptor, in dir: URL) throws {
        try NumPyArray(shape: d.inputShape, values: testValues(d.inputCount, seed: 1))
            .write(path: dir.appendingPathComponent("x.npy").path)
        try NumPyArray(shape: d.weightShape, values: testValues(d.weightCount, seed: 2))
            .write(path: dir.appendingPathComponent("w.npy").path)
        try NumPyArray(shape: [d.outputChannels], values: testValues(d.outputChannels, seed: 3))
            .write(path: dir.appendingPathComponent("b.npy").path)
    }

    private static let d = Conv2DDescriptor(channels: 2, height: 6, width: 6, filters: 3, size: 3, pad: 1)

    /// Corruptions of x.npy (the input); each names the file in its one-line message.
    static let corruptInputs: [(String, @Sendable (Data) -> Data)] = [
        ("truncated data", { $0.prefix($0.count - 5) }),
        ("truncated header", { $0.prefix(20) }),
        ("empty file", { _ in Data() }),
        ("wrong dtype <f8", { replacing($0, "'<f4'", "'<f8'") }),
        ("huge header length", { data in
            var d = data
            d[8] = 0xFF
            d[9] = 0xFF
            return d
        }),
        ("huge shape", { replacing($0, "(1, 2, 6, 6)", "(1, 2, 6, 99999999999999999999)") }),
        ("overflowing shape", { replacing($0, "(1, 2, 6, 6)", "(4611686018427387904, 2, 6, 6)") }),
        ("not a .npy file", { _ in Data("name,N,C\n".utf8) }),
    ]

    @Test("conv: a corrupt input file exits 1 with one line naming it, writes nothing",
          arguments: corruptInputs.indices)
    func corruptInput(_ i: Int) throws {
        let (name, corrupt) = Self.corruptInputs[i]
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try writeGoodInputs(Self.d, in: dir)
        let x = dir.appendingPathComponent("x.npy")
        try corrupt(try Data(contentsOf: x)).write(to: x)
        let output = dir.appendingPathComponent("y.npy")
        let arguments = ["conv", "--input", x.path, "--weights", dir.appendingPathComponent("w.npy").path,
                         "--bias", dir.appendingPathComponent("b.npy").path, "--pad", "1", "--output", output.path]
        // No output file before: none after.
        var r = try runCLI(arguments)
        #expect(r.status == 1, "\(name): \(r.stderr)")
        #expect(r.stderrLines.count == 1 && r.stderr.hasPrefix("Error: "), "\(name): \(r.stderr)")
        #expect(r.stderr.contains("x.npy"), "\(name): \(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output.path), "\(name)")
        // An existing output file: untouched.
        try Data("previous".utf8).write(to: output)
        r = try runCLI(arguments)
        #expect(r.status == 1, "\(name)")
        #expect(try Data(contentsOf: output) == Data("previous".utf8), "\(name)")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(names == ["b.npy", "w.npy", "x.npy", "y.npy"], "\(name): leftovers \(names)")
    }

    @Test("conv: an unwritable output (missing directory, a directory) exits 1 with one line")
    func unwritableOutput() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try writeGoodInputs(Self.d, in: dir)
        for output in [dir.appendingPathComponent("missing/y.npy").path, dir.path] {
            let r = try runCLI(["conv", "--input", dir.appendingPathComponent("x.npy").path,
                                "--weights", dir.appendingPathComponent("w.npy").path,
                                "--bias", dir.appendingPathComponent("b.npy").path, "--pad", "1",
                                "--output", output])
            #expect(r.status == 1, "\(output): \(r.stderr)")
            #expect(r.stderrLines.count == 1 && r.stderr.hasPrefix("Error: "), "\(output): \(r.stderr)")
            #expect(r.stderr.contains(output), "\(output): \(r.stderr)")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(names == ["b.npy", "w.npy", "x.npy"], "leftovers \(names)")
    }

    @Test("shape: sizes that overflow exit 1 with 'too large'; numbers beyond Int exit 64", arguments: [
        (["--input", "3x4611686018427387904x4611686018427387904", "--filters", "1", "--size", "1"], Int32(1)),
        (["--input", "3x7x7", "--filters", "4611686018427387904", "--size", "3", "--batch", "4611686018427387904"],
         Int32(1)),
        (["--input", "3x7x7", "--filters", "1", "--size", "3", "--pad", "9223372036854775807"], Int32(1)),
        (["--input", "3x7x7", "--filters", "1", "--size", "3", "--dilation", "9223372036854775807"], Int32(1)),
        (["--input", "3x99999999999999999999x7", "--filters", "1", "--size", "3"], Int32(64)),
        (["--input", "3x7x7", "--filters", "1", "--size", "99999999999999999999"], Int32(64)),
    ])
    func shapeOverflow(arguments: [String], status: Int32) throws {
        let r = try runCLI(["shape"] + arguments)
        #expect(r.status == status, "\(arguments): \(r.stderr)")
        #expect(r.stderrLines.count == 1 && r.stderr.hasPrefix("Error: "), "\(arguments): \(r.stderr)")
        if status == 1 {
            #expect(r.stderr.contains("too large") || r.stderr.contains("larger than"), "\(r.stderr)")
        }
    }

    /// `--threads` has no upper bound; the direct and winograd backends then overflow
    /// `4 * threads` / `2 * threads` and the process dies of a trap instead of running (or
    /// exiting 1). See RegressionTests.hugeThreadCount. The reference backend is fine.
    @Test("conv: a huge --threads value does not crash", arguments: ["reference", "direct", "winograd"])
    func hugeThreads(backend: String) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try writeGoodInputs(Self.d, in: dir)
        let r = try runCLI(["conv", "--input", dir.appendingPathComponent("x.npy").path,
                            "--weights", dir.appendingPathComponent("w.npy").path,
                            "--bias", dir.appendingPathComponent("b.npy").path, "--pad", "1", "--quiet",
                            "--backend", backend, "--threads", "9223372036854775807",
                            "--output", dir.appendingPathComponent("y.npy").path])
        let check = {
            #expect(r.status == 0 || (r.status == 1 && r.stderrLines.count == 1),
                    "\(backend): status \(r.status), stderr \(r.stderr.prefix(200))")
        }
        check()
    }

    @Test("bench: a bad suite file or output path exits 1 with one line and writes nothing", arguments: [
        ("malformed", "\(LayerSuite.csvHeader)\nt,1,2,5,5,3,3,3,1,1,1\n", "line 2"),
        ("overflowing", "\(LayerSuite.csvHeader)\nt,4611686018427387904,2,5,5,3,3,3,1,1,1,1\n", "too large"),
        ("integer beyond Int", "\(LayerSuite.csvHeader)\nt,1,2,5,99999999999999999999,3,3,3,1,1,1,1\n", "line 2"),
        ("binary", "\u{0}\u{1}\u{2}\u{FFFD}", "line 1"),
        ("missing directory for output", "\(LayerSuite.csvHeader)\nt,1,2,5,5,3,3,3,1,1,1,1\n", "missing"),
    ])
    func benchBadInput(name: String, csv: String, fragment: String) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let suite = dir.appendingPathComponent("suite.csv")
        try Data(csv.utf8).write(to: suite)
        let output = name.hasPrefix("missing") ? dir.appendingPathComponent("missing/out.csv")
            : dir.appendingPathComponent("out.csv")
        let r = try runCLI(["bench", "--suite", suite.path, "--backends", "reference", "--threads", "1",
                            "--rounds", "1", "--min-time", "0.001", "--format", "csv", "--quiet",
                            "--output", output.path])
        #expect(r.status == 1, "\(name): \(r.stderr)")
        #expect(r.stderrLines.count == 1, "\(name): \(r.stderr)")
        #expect(r.stderr.contains(fragment), "\(name): \(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["suite.csv"], "\(name)")
        // Every command prints `Error: <message>` (CLISupport.printErrorLine).
        #expect(r.stderr.hasPrefix("Error: "), "\(name): \(r.stderr)")
    }

    /// Random corruptions of a good suite file: parsing gives valid layers or a typed error.
    @Test("suite CSV fuzz: valid layers or a typed error, never a trap")
    func suiteFuzz() {
        let good = LayerSuite.standard.csvText()
        var state: UInt64 = 0x5EED
        func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
        let alphabet = Array(",\n\r\"' -0123456789x\u{0}\u{FEFF}é") + ["99999999999999999999", "-9223372036854775808"]
            .flatMap { [Character]($0) }
        var outcomes: [String: Int] = [:]
        var failures: [String] = []
        for i in 0..<2000 {
            var chars = Array(good)
            for _ in 0..<(1 + next(4)) {
                let at = next(chars.count)
                switch next(3) {
                case 0: chars[at] = alphabet[next(alphabet.count)]
                case 1: chars.remove(at: at)
                default: chars.insert(alphabet[next(alphabet.count)], at: at)
                }
            }
            do {
                let suite = try LayerSuite.parse(csv: String(chars), path: "f.csv")
                for layer in suite.layers {
                    do { try layer.descriptor.validate() } catch {
                        failures.append("mutation \(i): invalid layer \(layer.name) accepted: \(error)")
                    }
                }
                outcomes["parsed", default: 0] += 1
            } catch let error as SuiteFileError {
                if !error.description.hasPrefix("f.csv") { failures.append("mutation \(i): \(error)") }
                outcomes["SuiteFileError", default: 0] += 1
            } catch is ConvError {
                outcomes["ConvError", default: 0] += 1
            } catch {
                failures.append("mutation \(i): untyped error \(error)")
            }
        }
        #expect(failures.isEmpty, "\(failures.prefix(10).joined(separator: "\n"))")
        // The mutations reach more than one outcome (some still parse, others are refused).
        #expect(outcomes.count >= 2, "suite CSV fuzz, 2000 mutations: \(outcomes)")
    }
}

/// `data` with the first occurrence of `old` (ASCII) replaced by `new`.
private func replacing(_ data: Data, _ old: String, _ new: String) -> Data {
    let bytes = [UInt8](data), o = Array(old.utf8)
    guard let i = (0...(bytes.count - o.count)).first(where: { Array(bytes[$0..<$0 + o.count]) == o }) else {
        return data
    }
    return Data(bytes[..<i] + Array(new.utf8) + bytes[(i + o.count)...])
}
