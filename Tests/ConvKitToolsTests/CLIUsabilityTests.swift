import ConvKit
import Foundation
import Testing

/// What a new user runs into: negative numbers, bad environment values, silent fallbacks,
/// float64 inputs, layout mistakes, JSON syntax errors.
@Suite struct CLIUsabilityTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../ConvKitONNXTests/Fixtures").standardized.path

    @Test func negativeNumbersAreValuesAndRefusedByMeaning() throws {
        let r = try runCLI(["shape", "--input", "3x32x32", "--filters", "10", "--size", "5", "--pad", "-1"])
        #expect(r.status == 64)
        #expect(r.stderrLines.count == 1 && r.stderr.contains("padding cannot be negative"), "\(r.stderr)")
        let s = try runCLI(["shape", "--input", "3x32x32", "--filters", "10", "--size", "5", "--stride", "-2"])
        #expect(s.status == 64 && s.stderr.contains("'-2'") && !s.stderr.contains("Missing value"), "\(s.stderr)")
        let t = try runCLI(["run", "--model", "lenet5", "--input", "x.npy", "--output", "y.npy", "--threads", "-3"])
        #expect(t.status == 64 && t.stderr.contains("'-3'"), "\(t.stderr)")
    }

    @Test func malformedValuesExit64Everywhere() throws {
        #expect(try runCLI(["bench", "--threads", "0", "--quick"]).status == 64)
        #expect(try runCLI(["bench", "--rounds", "0", "--quick"]).status == 64)
        #expect(try runCLI(["summary", "--model", "lenet5", "--batch", "0"]).status == 64)
        #expect(try runCLI(["run", "--model", "lenet5", "--input", "x", "--output", "y", "--top", "0"]).status == 64)
    }

    @Test func badEnvironmentValuesAreReported() throws {
        for (k, v) in [("CONVKIT_NUM_THREADS", "abc"), ("CONVKIT_NUM_THREADS", "0"), ("CONVKIT_ISA", "bogus")] {
            let r = try runCLI(["summary", "--model", "lenet5"], environment: [k: v])
            #expect(r.status == 64, "\(k)=\(v)")
            #expect(r.stderrLines.count == 1 && r.stderr.contains("\(k)='\(v)'"), "\(r.stderr)")
        }
        #expect(try runCLI(["summary", "--model", "lenet5"], environment: ["CONVKIT_ISA": "portable"]).status == 0)
    }

    @Test func optionsThatDoNotApplyAreRefused() throws {
        let r = try runCLI(["conv", "--input", "x.npy", "--weights", "w.npy", "--output", "y.npy", "--backend", "direct",
                            "--winograd-tile", "4"])
        #expect(r.status == 64 && r.stderr.contains("--winograd-tile"), "\(r.stderr)")
        let b = try runCLI(["bench", "--quick", "--backends", "direct", "--winograd-tile", "4"])
        #expect(b.status == 64 && b.stderr.contains("--winograd-tile"), "\(b.stderr)")
    }

    @Test func benchListPrintsTheSuite() throws {
        let r = try runCLI(["bench", "--list", "--quick"])
        #expect(r.status == 0)
        for name in ["cs231n-3x32x32-k10-5x5", "resnet-res5-3x3", "resnet50", "squeezenet1_1"] {
            #expect(r.stdout.contains(name), "\(name)")
        }
    }

    @Test func runSaysWhatItDidAndNeverFallsBackSilently() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let x = dir.appendingPathComponent("x.npy").path, y = dir.appendingPathComponent("y.npy").path
        try NumPyArray(shape: [1, 1, 32, 32], values: [Float](repeating: 0.5, count: 1024)).write(path: x)
        // LeNet-5's 5x5 convolutions cannot run on Winograd (3x3 only): a note per node.
        let r = try runCLI(["run", "--model", "lenet5", "--input", x, "--output", y, "--backend", "winograd"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdoutLines.count == 1 && r.stdout.contains("[1, 10]"), "\(r.stdout)")
        #expect(r.stderrLines.filter { $0.hasPrefix("note: node ") && $0.contains("runs on direct") }.count >= 2, "\(r.stderr)")
        try FileManager.default.removeItem(atPath: y)
        let strict = try runCLI(["run", "--model", "lenet5", "--input", x, "--output", y, "--backend", "winograd", "--strict"])
        #expect(strict.status == 1 && strict.stderrLines.count == 1 && strict.stderr.contains("--strict"), "\(strict.stderr)")
        #expect(!FileManager.default.fileExists(atPath: y))
        #expect(try runCLI(["run", "--model", "lenet5", "--input", x, "--output", y, "--quiet"]).stdout.isEmpty)
    }

    @Test func float64InputsAreConvertedAndLayoutMistakesHinted() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let x = try NumPyArray.read(path: "\(Self.fixtures)/fire_concat.input.npy")   // [2, 7, 15, 15]
        // A float64 .npy as numpy writes it by default.
        var header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 7, 15, 15), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data(NumPyArray.magic + [1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)])
        data.append(Data(header.utf8))
        for v in x.values { withUnsafeBytes(of: Double(v).bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        let x64 = dir.appendingPathComponent("x64.npy").path, y = dir.appendingPathComponent("y.npy").path
        try data.write(to: URL(fileURLWithPath: x64))
        let r = try runCLI(["run", "--model", "\(Self.fixtures)/fire_concat.onnx", "--input", x64, "--output", y])
        #expect(r.status == 0 && r.stderr.contains("float64") && r.stderr.contains("converted"), "\(r.stderr)")
        // Channels last.
        var nhwc = [Float](repeating: 0, count: x.values.count)
        for n in 0..<2 { for c in 0..<7 { for i in 0..<225 { nhwc[(n * 225 + i) * 7 + c] = x.values[(n * 7 + c) * 225 + i] } } }
        let xl = dir.appendingPathComponent("nhwc.npy").path
        try NumPyArray(shape: [2, 15, 15, 7], values: nhwc).write(path: xl)
        let l = try runCLI(["run", "--model", "\(Self.fixtures)/fire_concat.onnx", "--input", xl, "--output", y + "2"])
        #expect(l.status == 1 && l.stderr.contains("NHWC"), "\(l.stderr)")
        // No batch dimension.
        let x3 = dir.appendingPathComponent("x3.npy").path
        try NumPyArray(shape: [7, 15, 15], values: Array(x.values.prefix(7 * 225))).write(path: x3)
        let b = try runCLI(["run", "--model", "\(Self.fixtures)/fire_concat.onnx", "--input", x3, "--output", y + "3"])
        #expect(b.status == 1 && b.stderr.contains("batch dimension is missing"), "\(b.stderr)")
        // HxWxC given to shape.
        let s = try runCLI(["shape", "--input", "32x32x3", "--filters", "8", "--size", "3"])
        #expect(s.stderr.contains("did you mean 3x32x32"), "\(s.stderr)")
    }

    @Test func jsonErrorsGiveLineAndColumn() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("m.json").path
        try Data("{\"input\": [3, 8, 8],\n \"layers\": [\n  {\"type\" \"relu\"}\n ]}".utf8).write(to: URL(fileURLWithPath: path))
        let r = try runCLI(["summary", "--model", path])
        #expect(r.status == 1 && r.stderr.contains("line 3, column 11"), "\(r.stderr)")
    }
}
