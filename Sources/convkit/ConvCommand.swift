import ArgumentParser
import ConvKit

struct ConvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "conv", abstract: "(not implemented yet)")
    func run() throws { throw ValidationError("conv is not implemented yet") }
}
