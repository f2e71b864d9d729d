import ArgumentParser
import ConvKit
import ConvKitTools
import Foundation
import Testing
@testable import convkit

@Suite("convkit bench command")
struct BenchCommandTests {
    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("convkit-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func optionsBecomeAConfiguration() throws {
        let registry = BackendRegistry(backends: [ReferenceBackend()])
        let cmd = try BenchCommand.parse(["--quick", "--threads", "1,3", "--peak-gflops", "50"])
        let config = try cmd.makeConfiguration(registry: registry)
        #expect(config.layers.map(\.name) == LayerSuite.quickNames)
        #expect(config.threadCounts == [1, 3] && config.rounds == 1 && config.minTime == 0.02)
        #expect(config.peakGFLOPsPerThread == 50)
        // Only the reference is registered, so it is the default backend.
        #expect(config.backends.map(\.name) == ["reference"])

        let full = try BenchCommand.parse(["--layers", "alexnet-conv1,vgg-conv1_2", "--rounds", "3"])
            .makeConfiguration(registry: registry)
        #expect(full.layers.map(\.name) == ["alexnet-conv1", "vgg-conv1_2"] && full.rounds == 3 && full.minTime == 0.25)
    }

    @Test func directAlgorithmVariantsAreBackendsOfTheirOwn() throws {
        let config = try BenchCommand.parse(["--backends", "direct:pointwise,direct:packed-pointwise,reference"])
            .makeConfiguration(registry: BackendRegistry(backends: [ReferenceBackend()]))
        #expect(config.backends.map(\.name) == ["direct:pointwise", "direct:packed-pointwise", "reference"])
    }

    @Test func badOptionsAreTypedErrors() throws {
        let registry = BackendRegistry(backends: [ReferenceBackend()])
        #expect(throws: ConvError.unknownBackend(name: "nope", known: ["reference", "auto"])) {
            try BenchCommand.parse(["--backends", "reference,nope"]).makeConfiguration(registry: registry)
        }
        // Malformed values are usage errors (exit 64), naming the option and the value.
        for (args, fragment) in [(["--threads", "1,0"], "'0' for --threads"), (["--threads", "two"], "'two' for --threads"),
                                 (["--layers", "alexnet-conv1,"], "--layers"), (["--rounds", "0"], "'0' for --rounds"),
                                 (["--backends", "direct:fastest"], "'direct:fastest' for --backends")] {
            do {
                _ = try BenchCommand.parse(args).makeConfiguration(registry: registry)
                Issue.record("\(args) was accepted")
            } catch let e as CLIError {
                #expect(e.exitCode == CLIError.usageExitCode && e.message.contains(fragment), "\(e.message)")
            }
        }
        #expect(throws: (any Error).self) { try BenchCommand.parse(["--format", "xml"]) }
    }

    @Test func runWritesOutputAndPlotFiles() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let suite = dir.appendingPathComponent("suite.csv")
        try "\(LayerSuite.csvHeader)\nt,1,2,5,5,3,3,3,1,1,1,1\n".write(to: suite, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out.csv"), plot = dir.appendingPathComponent("p.svg")
        try BenchCommand.parse(["--suite", suite.path, "--backends", "reference", "--threads", "1",
                                "--rounds", "1", "--min-time", "0.001", "--format", "csv",
                                "--output", out.path, "--plot", plot.path, "--quiet"]).run()
        let csv = try String(contentsOf: out, encoding: .utf8)
        #expect(csv.hasPrefix(BenchCSV.header + "\nt,reference,1,"))
        #expect(try String(contentsOf: plot, encoding: .utf8).contains("<rect"))
        // Only the two outputs: no temporary files left behind.
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(names == ["out.csv", "p.svg", "suite.csv"])
    }

    @Test func aMalformedSuiteFailsWithoutWritingAnything() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let suite = dir.appendingPathComponent("bad.csv")
        try "\(LayerSuite.csvHeader)\nt,1,2,5,5,3,3,3,1,1,1\n".write(to: suite, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out.json")
        #expect(throws: ExitCode.failure) {
            try BenchCommand.parse(["--suite", suite.path, "--output", out.path, "--quiet"]).run()
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["bad.csv"])
    }

    @Test func atomicWriteReplacesAndReportsMissingDirectories() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("f.txt").path
        try BenchOutputFile.write("one", to: file)
        try BenchOutputFile.write("two", to: file)
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "two")
        #expect(throws: ConvError.self) { try BenchOutputFile.write("x", to: dir.path + "/missing/f.txt") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["f.txt"])
    }
}
