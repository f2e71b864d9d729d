import ArgumentParser
import ConvKit

struct ShapeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "shape", abstract: "(not implemented yet)")
    func run() throws { throw ValidationError("shape is not implemented yet") }
}
