import ArgumentParser
import ConvKit

@main
struct ConvKitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convkit",
        abstract: "Multithreaded SIMD convolutions for CNN inference on CPUs.",
        version: ConvKit.version,
        subcommands: [BenchCommand.self, BackendsCommand.self, ShapeCommand.self, ConvCommand.self, RunCommand.self, SummaryCommand.self]
    )
}
