import ConvKit
import Foundation
import Testing

/// `convkit run`, `summary` and `bench` on ONNX files (the fixtures of ConvKitONNXTests).
@Suite struct ONNXCLITests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../ConvKitONNXTests/Fixtures").standardized.path

    @Test func runWritesTheONNXOutputShape() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("y.npy").path
        let r = try runCLI(["run", "--model", "\(Self.fixtures)/resnet_basic_bn.onnx",
                            "--input", "\(Self.fixtures)/resnet_basic_bn.input.npy", "--output", out, "--backend", "direct"])
        #expect(r.status == 0, "\(r.stderr)")
        let y = try NumPyArray.read(path: out)
        let want = try NumPyArray.read(path: "\(Self.fixtures)/resnet_basic_bn.ort.npy")
        #expect(y.shape == [2, 10])
        let err = zip(y.values, want.values).map { abs(Double($0) - Double($1)) }.max()! / want.values.map { abs(Double($0)) }.max()!
        #expect(err < 1e-5)
        // A 4-D output keeps its shape; the model is recognised by content under another name.
        let renamed = dir.appendingPathComponent("model.bin").path
        try FileManager.default.copyItem(atPath: "\(Self.fixtures)/mobilenet_clip_attrs.onnx", toPath: renamed)
        let r2 = try runCLI(["run", "--model", renamed, "--input", "\(Self.fixtures)/mobilenet_clip_attrs.input.npy", "--output", out])
        #expect(r2.status == 0, "\(r2.stderr)")
        #expect(try NumPyArray.read(path: out).shape == [2, 5])
    }

    @Test func badONNXFilesFailWithOneLineAndNoOutput() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let valid = try Data(contentsOf: URL(fileURLWithPath: "\(Self.fixtures)/fire_concat.onnx"))
        let cases: [(String, Data)] = [
            ("empty.onnx", Data()),
            ("truncated.onnx", valid.prefix(valid.count / 2)),
            ("random.onnx", Data((0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 7) })),
            ("json.onnx", Data(#"{"input": [7, 15, 15], "layers": [{"type": "bogus"}]}"#.utf8)),
        ]
        let out = dir.appendingPathComponent("y.npy").path
        for (name, data) in cases {
            let path = dir.appendingPathComponent(name).path
            try data.write(to: URL(fileURLWithPath: path))
            let r = try runCLI(["run", "--model", path, "--input", "\(Self.fixtures)/fire_concat.input.npy", "--output", out])
            #expect(r.status == 1, "\(name): status \(r.status)")
            #expect(r.stderrLines.count == 1 && r.stderr.hasPrefix("Error: "), "\(name): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out), "\(name) left an output file")
        }
        // --weights does not apply to an ONNX model.
        let w = try runCLI(["run", "--model", "\(Self.fixtures)/fire_concat.onnx", "--input", "\(Self.fixtures)/fire_concat.input.npy",
                            "--output", out, "--weights", "x.safetensors"])
        #expect(w.status == 1 && w.stderr.contains("carries its own weights"), "\(w.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func summaryAndBenchReadONNX() throws {
        let s = try runCLI(["summary", "--model", "\(Self.fixtures)/resnet_basic_bn.onnx"])
        #expect(s.status == 0, "\(s.stderr)")
        #expect(s.stdout.contains("BN folded") && s.stdout.contains("Total params"))
        let b = try runCLI(["bench", "--model", "\(Self.fixtures)/fire_concat.onnx", "--backends", "direct", "--threads", "1",
                            "--quick", "--format", "csv"])
        #expect(b.status == 0, "\(b.stderr)")
        #expect(b.stdout.contains("fire_concat.onnx"))
    }
}
