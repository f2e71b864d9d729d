import ArgumentParser
import ConvKit

struct BackendsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "backends", abstract: "(not implemented yet)")
    func run() throws { throw ValidationError("backends is not implemented yet") }
}
