import ConvKit
import Foundation
import Testing
@testable import convkit

/// The result of running the `convkit` binary.
struct CLIRun {
    var status: Int32
    var stdout: String
    var stderr: String
    var stderrLines: [Substring] { stderr.split(separator: "\n") }
    var stdoutLines: [Substring] { stdout.split(separator: "\n") }
}

/// Finds the built `convkit` executable: `$CONVKIT_BINARY`, else next to the test bundle
/// (the products directory), else `.build/debug/convkit` under the package root.
func convkitBinary() throws -> URL {
    let fm = FileManager.default
    var candidates: [URL] = []
    if let env = ProcessInfo.processInfo.environment["CONVKIT_BINARY"] {
        candidates.append(URL(fileURLWithPath: env))
    }
    var starts: [URL] = []
    if let exe = Bundle.main.executableURL { starts.append(exe) }
    starts.append(Bundle.main.bundleURL)
    starts.append(URL(fileURLWithPath: CommandLine.arguments[0]))
    for start in starts {
        // The test bundle (…/debug/convkitPackageTests.xctest, possibly a directory bundle on
        // Darwin) sits in the products directory; walk up a few levels.
        var dir = start.deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(dir.appendingPathComponent("convkit"))
            dir = dir.deletingLastPathComponent()
        }
    }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    candidates.append(root.appendingPathComponent(".build/debug/convkit"))
    for c in candidates {
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: c.path, isDirectory: &isDirectory), !isDirectory.boolValue,
           fm.isExecutableFile(atPath: c.path) {
            return c
        }
    }
    throw CLIError(message: "convkit binary not found; looked in " + candidates.map(\.path).joined(separator: ", "),
                   exitCode: 1)
}

/// Runs `convkit arguments...` and waits for it.
func runCLI(_ arguments: [String], environment: [String: String] = [:]) throws -> CLIRun {
    let process = Process()
    process.executableURL = try convkitBinary()
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    process.environment = env
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read both pipes to the end before waiting, so that a full pipe cannot block the child.
    let errData = UncheckedBox<Data>()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        errData.value = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return CLIRun(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                  stderr: String(decoding: errData.value ?? Data(), as: UTF8.self))
}

final class UncheckedBox<T>: @unchecked Sendable {
    var value: T?
}

/// A fresh temporary directory, removed by the caller.
func makeTemporaryDirectory() throws -> URL {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("convkit-cli-\(UInt32.random(in: 0...UInt32.max))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

/// Deterministic values in [-1, 1).
func testValues(_ count: Int, seed: UInt64) -> [Float] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int32(truncatingIfNeeded: state >> 32)) / Float(1 << 31)
    }
}

@Suite("convkit CLI")
struct CLITests {
    // MARK: shape

    @Test("shape: the course example prints 10x32x32 first, 760 parameters, exit 0")
    func shapeExample() throws {
        let r = try runCLI(["shape", "--input", "3x32x32", "--filters", "10", "--size", "5",
                            "--stride", "1", "--pad", "2"])
        #expect(r.status == 0)
        #expect(r.stdoutLines.first == "10x32x32")
        #expect(r.stdout.contains("parameters: 760 "))
        let flops: Int = 2 * 10 * 32 * 32 * 3 * 5 * 5
        #expect(r.stdout.contains("FLOPs: \(flops) "))
        #expect(r.stdout.contains("receptive field: 5x5"))
        #expect(r.stderr.isEmpty)
    }

    @Test("shape: AlexNet conv1, rectangular and 'same' options")
    func shapeMore() throws {
        var r = try runCLI(["shape", "--input", "3x227x227", "--filters", "96", "--size", "11", "--stride", "4"])
        #expect(r.status == 0)
        #expect(r.stdoutLines.first == "96x55x55")
        #expect(r.stdout.contains("parameters: 34944 "))
        r = try runCLI(["shape", "--input", "4x10x12", "--filters", "8", "--size", "3x5", "--stride", "2,1",
                        "--pad", "same", "--dilation", "1,2", "--groups", "2", "--batch", "3", "--layers", "3"])
        #expect(r.status == 0)
        #expect(r.stdoutLines.first == "8x5x12")
        #expect(r.stdout.contains("receptive field: 3x9"))
        // Height: 1 + 2 * (1 + 2 + 4) with stride 2; width: dilated extent 9, stride 1: 1 + 3 * 8.
        #expect(r.stdout.contains("receptive field of 3 stacked layers: 15x25"))
        let flops: Int = 2 * 3 * 8 * 5 * 12 * 2 * 3 * 5  // 2 N K OH OW (C/groups) R S
        #expect(r.stdout.contains("FLOPs: \(flops) "))
    }

    @Test("shape: 7x7 with a 3x3 filter at stride 3 rounds down as the library does; --exact says it does not fit, exits 1")
    func shapeDoesNotFit() throws {
        let args = ["shape", "--input", "3x7x7", "--filters", "1", "--size", "3", "--stride", "3", "--pad", "0"]
        let floored = try runCLI(args)
        #expect(floored.status == 0)
        #expect(floored.stdoutLines.first == "1x2x2")
        #expect(floored.stdout.contains("(W - F + 2P)/S + 1 = (7 - 3 + 0)/3 + 1 = 2.33"))
        #expect(floored.stdout.contains("rounded down"))
        #expect(try runCLI(args + ["--floor"]).stdoutLines.first == "1x2x2")
        let r = try runCLI(args + ["--exact"])
        #expect(r.status == 1)
        #expect(r.stdout.contains("(W - F + 2P)/S + 1 = (7 - 3 + 0)/3 + 1 = 2.33"))
        #expect(r.stdout.contains("does not fit"))
        #expect(r.stdoutLines.first != "1x2x2")
        #expect(try runCLI(args + ["--exact", "--floor"]).status == 64)
    }

    @Test("shape: malformed values exit 64 with one line naming the value", arguments: [
        (["--input", "3x7", "--filters", "1", "--size", "3"], "3x7"),
        (["--input", "3x7x7", "--filters", "zero", "--size", "3"], "zero"),
        (["--input", "3x7x7", "--filters", "1", "--size", "3x"], "3x"),
        (["--input", "3x7x7", "--filters", "1", "--size", "3", "--stride", "1,2,3"], "1,2,3"),
        (["--input", "3x7x7", "--filters", "1", "--size", "3", "--pad", "1,1,1"], "1,1,1"),
        (["--input", "3x7x7", "--filters", "1", "--size", "3", "--stride", "0"], "0"),
    ])
    func shapeMalformed(arguments: [String], value: String) throws {
        let r = try runCLI(["shape"] + arguments)
        #expect(r.status == 64)
        #expect(r.stderrLines.count == 1)
        #expect(r.stderr.hasPrefix("Error: invalid value '\(value)'"))
        #expect(r.stdout.isEmpty)
    }

    @Test("shape: an invalid configuration exits 1 with one line")
    func shapeInvalid() throws {
        var r = try runCLI(["shape", "--input", "3x7x7", "--filters", "4", "--size", "3", "--groups", "2"])
        #expect(r.status == 1)
        #expect(r.stderrLines == ["Error: groups 2 must divide input channels 3"])
        r = try runCLI(["shape", "--input", "3x7x7", "--filters", "4", "--size", "9"])
        #expect(r.status == 1)
        #expect(r.stderrLines.count == 1)
        #expect(r.stderr.contains("larger than the padded input"))
    }

    // MARK: backends

    @Test("backends lists reference and auto, the CPU features, the ISA and the thread count")
    func backends() throws {
        let r = try runCLI(["backends"], environment: ["CONVKIT_NUM_THREADS": "3"])
        #expect(r.status == 0)
        #expect(r.stdoutLines.first == "backends:")
        #expect(r.stdoutLines.contains { $0.hasPrefix("  reference") && $0.contains(" available ") })
        #expect(r.stdoutLines.contains { $0.hasPrefix("  auto") })
        #expect(r.stdout.contains("cpu features: \(CPUFeatures.current)"))
        #expect(r.stdout.contains("kernel isa: \(KernelISA.selected.rawValue)"))
        #expect(r.stdout.contains("default threads: 3 (from CONVKIT_NUM_THREADS)"))
        let portable = try runCLI(["backends"], environment: ["CONVKIT_ISA": "portable"])
        #expect(portable.stdout.contains("kernel isa: portable"))
    }

    @Test("backends reports an unavailable backend with its reason")
    func backendsUnavailable() {
        let registry = BackendRegistry(backends: [ReferenceBackend(), FakeBackend(unavailable: "libfake.so not found")])
        let text = BackendsCommand.report(registry: registry)
        #expect(text.contains("fake"))
        #expect(text.contains("unavailable"))
        #expect(text.contains("why: libfake.so not found"))
    }

    // MARK: conv

    /// Writes x, w, b for `d` into `dir`; returns the arrays.
    func writeInputs(_ d: Conv2DDescriptor, in dir: URL, seed: UInt64) throws -> (x: [Float], w: [Float], b: [Float]) {
        let x = testValues(d.inputCount, seed: seed)
        let w = testValues(d.weightCount, seed: seed + 1)
        let b = testValues(d.outputChannels, seed: seed + 2)
        try NumPyArray(shape: d.inputShape, values: x).write(path: dir.appendingPathComponent("x.npy").path)
        try NumPyArray(shape: d.weightShape, values: w).write(path: dir.appendingPathComponent("w.npy").path)
        try NumPyArray(shape: [d.outputChannels], values: b).write(path: dir.appendingPathComponent("b.npy").path)
        return (x, w, b)
    }

    @Test("conv --backend winograd --winograd-tile N runs that tile; a bad tile exits 64", arguments: ["2", "4", "6", "x"])
    func convWinogradTile(tile: String) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let d = Conv2DDescriptor(channels: 4, height: 13, width: 11, filters: 5, size: 3, pad: 1)
        let (x, w, b) = try writeInputs(d, in: dir, seed: 31)
        let output = dir.appendingPathComponent("y.npy").path
        let r = try runCLI(["conv", "--input", dir.appendingPathComponent("x.npy").path,
                            "--weights", dir.appendingPathComponent("w.npy").path,
                            "--bias", dir.appendingPathComponent("b.npy").path, "--pad", "1",
                            "--backend", "winograd", "--winograd-tile", tile, "--quiet", "--output", output])
        if tile == "x" {
            #expect(r.status == 64 && r.stderr.contains("--winograd-tile"), "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: output))
            return
        }
        #expect(r.status == 0, "\(r.stderr)")
        let expected = try ReferenceBackend().prepare(d, weights: w, bias: b)
            .execute(try Tensor(shape: TensorShape(d.inputShape), values: x)).scalars
        let y = try NumPyArray.read(path: output).values
        let scale = expected.map(abs).max() ?? 1
        let diff = zip(y, expected).map { abs($0 - $1) }.max() ?? 0
        #expect(diff <= 1e-3 * scale, "tile \(tile): max difference \(diff)")
    }

    @Test("conv --backend reference matches the reference backend run directly")
    func convReference() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let d = Conv2DDescriptor(
            batch: 2, inputChannels: 4, inputHeight: 9, inputWidth: 8, outputChannels: 6,
            kernelHeight: 3, kernelWidth: 3, strideHeight: 2, strideWidth: 1,
            padding: Padding(top: 1, left: 0, bottom: 2, right: 1), dilationHeight: 1, dilationWidth: 2,
            groups: 2, activation: .clamp(min: -0.5, max: 0.75))
        let (x, w, b) = try writeInputs(d, in: dir, seed: 11)
        let output = dir.appendingPathComponent("y.npy").path
        let r = try runCLI([
            "conv", "--input", dir.appendingPathComponent("x.npy").path,
            "--weights", dir.appendingPathComponent("w.npy").path,
            "--bias", dir.appendingPathComponent("b.npy").path,
            "--stride", "2,1", "--pad", "1,0,2,1", "--dilation", "1,2", "--groups", "2",
            "--activation", "clamp:-0.5,0.75", "--backend", "reference", "--threads", "2", "--output", output,
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdoutLines.count == 1)
        #expect(r.stdout.hasPrefix("reference: \(output) 2x6x5x5 in "))
        let y = try NumPyArray.read(path: output)
        let expected = try ReferenceBackend().prepare(d, weights: w, bias: b)
            .execute(try Tensor(shape: TensorShape(d.inputShape), values: x), threads: 1)
        #expect(y.shape == d.outputShape)
        #expect(y.values.map(\.bitPattern) == expected.scalars.map(\.bitPattern))
        #expect(y.values.contains(0.75) && y.values.contains(-0.5))
    }

    @Test("conv: no bias, 'same' padding, relu, --quiet, auto")
    func convSame() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var d = Conv2DDescriptor(channels: 3, height: 7, width: 6, filters: 5, size: 3, pad: 1, hasBias: false,
                                 activation: .relu)
        let (x, w, _) = try writeInputs(d, in: dir, seed: 5)
        let output = dir.appendingPathComponent("y.npy").path
        let r = try runCLI(["conv", "--input", dir.appendingPathComponent("x.npy").path,
                            "--weights", dir.appendingPathComponent("w.npy").path, "--pad", "same",
                            "--activation", "relu", "--quiet", "--output", output])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.isEmpty && r.stderr.isEmpty)
        d.hasBias = false
        let expected = try ReferenceBackend().prepare(d, weights: w, bias: nil)
            .execute(try Tensor(shape: TensorShape(d.inputShape), values: x))
        let y = try NumPyArray.read(path: output)
        #expect(y.shape == [1, 5, 7, 6])
        // `auto` runs a native backend (float32 accumulation): compare within its tolerance.
        let scale = expected.scalars.map(abs).max() ?? 1
        let diff = zip(y.values, expected.scalars).map { abs($0 - $1) }.max() ?? 0
        #expect(diff <= 1e-5 * scale, "max difference \(diff)")
        #expect(y.values.allSatisfy { $0 >= 0 }, "relu output must be non-negative")
    }

    @Test("conv failures exit 1 with one line and leave no output file", arguments: [
        ("unknown backend", ["--backend", "fastest"], ["unknown backend 'fastest'", "reference", "auto"]),
        ("mis-shaped weights", ["--weights", "w_bad.npy"], ["weights", "[6, 2, 3, 3]"]),
        ("mis-shaped bias", ["--bias", "w.npy"], ["bias", "[6]"]),
        ("missing input", ["--input", "nope.npy"], ["nope.npy", "No such file"]),
        ("bad groups", ["--groups", "3"], ["groups 3 must divide input channels 4"]),
        ("kernel too large", ["--dilation", "9"], ["larger than the padded input"]),
        ("inexact with --exact", ["--stride", "2", "--exact"], ["does not fit along width", "(8 - 3 + 0)/2 + 1 = 3.50"]),
        ("input not 4-D", ["--input", "b.npy"], ["input must have 4 dimensions", "(6,)"]),
    ])
    func convFailures(name: String, overrides: [String], fragments: [String]) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let d = Conv2DDescriptor(channels: 4, height: 9, width: 8, filters: 6, size: 3, groups: 2)
        _ = try writeInputs(d, in: dir, seed: 3)
        try NumPyArray(shape: [6, 4, 3, 3], values: testValues(6 * 4 * 9, seed: 9))
            .write(path: dir.appendingPathComponent("w_bad.npy").path)
        var options: [String: String] = ["--input": "x.npy", "--weights": "w.npy", "--bias": "b.npy",
                                         "--groups": "2", "--backend": "reference", "--output": "y.npy"]
        var flags: [String] = []
        var i = 0
        while i < overrides.count {
            if i + 1 < overrides.count, !overrides[i + 1].hasPrefix("--") {
                options[overrides[i]] = overrides[i + 1]
                i += 2
            } else {
                flags.append(overrides[i])
                i += 1
            }
        }
        var arguments = ["conv"]
        for (key, value) in options.sorted(by: { $0.key < $1.key }) {
            let pathOptions: Set = ["--input", "--weights", "--bias", "--output"]
            arguments += [key, pathOptions.contains(key) ? dir.appendingPathComponent(value).path : value]
        }
        arguments += flags
        let r = try runCLI(arguments)
        #expect(r.status == 1, "\(name): \(r.stderr)")
        #expect(r.stderrLines.count == 1, "\(name): \(r.stderr)")
        #expect(r.stderr.hasPrefix("Error: "))
        for fragment in fragments {
            #expect(r.stderr.contains(fragment), "\(name): '\(r.stderr)' lacks '\(fragment)'")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("y.npy").path))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains("tmp") }
        #expect(leftovers.isEmpty)
    }

    @Test("conv: a failed run leaves an existing output file untouched")
    func convKeepsExistingOutput() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let d = Conv2DDescriptor(channels: 2, height: 5, width: 5, filters: 3, size: 3)
        _ = try writeInputs(d, in: dir, seed: 1)
        let output = dir.appendingPathComponent("y.npy").path
        try Data("previous".utf8).write(to: URL(fileURLWithPath: output))
        let r = try runCLI(["conv", "--input", dir.appendingPathComponent("x.npy").path,
                            "--weights", dir.appendingPathComponent("w.npy").path,
                            "--bias", dir.appendingPathComponent("x.npy").path, "--output", output])
        #expect(r.status == 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == Data("previous".utf8))
    }

    @Test("conv: malformed option values exit 64 with one line", arguments: [
        ["--stride", "a"], ["--pad", "-1"], ["--activation", "tanh"], ["--activation", "clamp:2,1"],
        ["--threads", "0"], ["--dilation", "1,0"],
    ])
    func convMalformed(option: [String]) throws {
        let r = try runCLI(["conv", "--input", "x.npy", "--weights", "w.npy", "--output", "/nonexistent/y.npy"]
                           + ["\(option[0])=\(option[1])"])
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderrLines.count == 1)
        #expect(r.stderr.contains("invalid value '\(option[1])' for \(option[0])"))
    }

    // MARK: in-process: unsupported and unavailable backends

    @Test("conv: an unsupported backend says 'unsupported' and why; an unavailable one 'unavailable' and why")
    func unsupportedAndUnavailable() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let d = Conv2DDescriptor(channels: 2, height: 5, width: 5, filters: 3, size: 3)
        _ = try writeInputs(d, in: dir, seed: 2)
        let registry = BackendRegistry(backends: [
            ReferenceBackend(), FakeBackend(unsupported: "only 1x1 kernels"),
            FakeBackend(name: "gone", unavailable: "libgone.so.1 not found"),
        ])
        var options = ConvCommand.Options(
            input: dir.appendingPathComponent("x.npy").path, weights: dir.appendingPathComponent("w.npy").path,
            bias: dir.appendingPathComponent("b.npy").path, stride: (1, 1), padding: .zero, dilation: (1, 1),
            groups: 1, activation: .none, backend: "fake", threads: 1, exact: false)
        var error = #expect(throws: ConvError.self) { try ConvCommand.convolve(options, registry: registry) }
        #expect(error == .unsupported(backend: "fake", reason: "only 1x1 kernels"))
        #expect(error?.description.contains("unsupported") == true)
        options.backend = "gone"
        error = #expect(throws: ConvError.self) { try ConvCommand.convolve(options, registry: registry) }
        #expect(error == .unavailable(backend: "gone", reason: "libgone.so.1 not found"))
        options.backend = "auto"
        let result = try ConvCommand.convolve(options, registry: registry)
        #expect(result.backend == "reference")
        #expect(result.output.shape == [1, 3, 3, 3])
    }

    // MARK: in-process: value parsing

    @Test("Value parsing: pairs, padding, volumes, kernel sizes, activations")
    func parsing() throws {
        #expect(try CLIParse.pair("3", option: "--stride") == (3, 3))
        #expect(try CLIParse.pair("2, 1", option: "--stride") == (2, 1))
        #expect(try CLIParse.padding("2", option: "--pad") == Padding(2))
        #expect(try CLIParse.padding("1,2", option: "--pad") == Padding(height: 1, width: 2))
        #expect(try CLIParse.padding("1,2,3,4", option: "--pad") == Padding(top: 1, left: 2, bottom: 3, right: 4))
        #expect(try CLIParse.padding("SAME", option: "--pad") == nil)
        #expect(try CLIParse.volume("3x32x32", option: "--input") == (3, 32, 32))
        #expect(try CLIParse.kernelSize("5", option: "--size") == (5, 5))
        #expect(try CLIParse.kernelSize("3X5", option: "--size") == (3, 5))
        #expect(try CLIParse.activation("relu6", option: "--activation") == .relu6)
        #expect(try CLIParse.activation("clamp:-1,1.5", option: "--activation") == .clamp(min: -1, max: 1.5))
        for (text, option) in [("", "--stride"), ("0", "--stride"), ("1,", "--stride"), ("-1", "--pad"),
                               ("1,2,3", "--pad"), ("3x3", "--input"), ("0x3x3", "--input"), ("3x3x3x3", "--input"),
                               ("clamp:1", "--activation"), ("clamp:nan,1", "--activation")] {
            let error = #expect(throws: CLIError.self) {
                switch option {
                case "--stride": _ = try CLIParse.pair(text, option: option)
                case "--pad": _ = try CLIParse.padding(text, option: option)
                case "--input": _ = try CLIParse.volume(text, option: option)
                default: _ = try CLIParse.activation(text, option: option)
                }
            }
            #expect(error?.exitCode == 64)
            #expect(error?.message.hasPrefix("invalid value '\(text)' for \(option)") == true)
        }
        #expect(formatFormulaValue(7.0 / 3.0) == "2.33")
        #expect(formatFormulaValue(4.5) == "4.50")
        #expect(formatFormulaValue(55) == "55")
    }

    @Test("shape report: the formula and the fit, in-process")
    func shapeReport() throws {
        let d = Conv2DDescriptor(channels: 3, height: 7, width: 7, filters: 1, size: 3, stride: 3)
        let report = try ShapeCommand.report(for: d, layers: 1, acceptInexact: false)
        #expect(!report.fits)
        #expect(report.text.contains("width: (W - F + 2P)/S + 1 = (7 - 3 + 0)/3 + 1 = 2.33"))
        #expect(ShapeCommand.formula("H", input: 227, kernel: 11, padding: 0, stride: 4)
                == "(H - F + 2P)/S + 1 = (227 - 11 + 0)/4 + 1 = 55")
    }
}

/// A backend that is unavailable, or supports nothing, for the CLI's error paths.
struct FakeBackend: ConvBackend {
    var name = "fake"
    var unavailable: String?
    var unsupported: String?
    init(name: String = "fake", unavailable: String? = nil, unsupported: String? = nil) {
        self.name = name
        self.unavailable = unavailable
        self.unsupported = unsupported
    }
    var summary: String { "a test double" }
    var availability: BackendAvailability { unavailable.map { .unavailable(reason: $0) } ?? .available }
    func support(for descriptor: Conv2DDescriptor) -> BackendSupport {
        unsupported.map { .unsupported(reason: $0) } ?? .supported
    }
    func prepare(_ descriptor: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>,
                 bias: UnsafeBufferPointer<Float>?) throws -> any PreparedConvolution {
        throw ConvError.unsupported(backend: name, reason: unsupported ?? "fake")
    }
}
