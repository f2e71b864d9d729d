import ArgumentParser
import ConvKit

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmark the backends on standard CNN layers (not implemented yet).")
    func run() throws {
        throw ValidationError("bench is not implemented yet")
    }
}
