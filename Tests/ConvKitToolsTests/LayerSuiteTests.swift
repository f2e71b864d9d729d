import ConvKit
import ConvKitTools
import Testing

@Suite("Layer suites")
struct LayerSuiteTests {
    static let header = LayerSuite.csvHeader

    @Test func standardSuiteIsValidAndNamed() throws {
        let layers = LayerSuite.standard.layers
        #expect(layers.count == 22)
        #expect(Set(layers.map(\.name)).count == layers.count)
        for layer in layers { try layer.descriptor.validate() }
        let byName = Dictionary(uniqueKeysWithValues: layers.map { ($0.name, $0.descriptor) })
        let conv1 = try #require(byName["alexnet-conv1"])
        #expect(conv1.outputShape == [1, 96, 55, 55])
        let first = try #require(byName["first-layer-3ch"])
        #expect(first.outputShape == [1, 32, 112, 112])
        let dw = try #require(byName["depthwise-3x3"])
        #expect(dw.isDepthwise && dw.outputShape == [1, 32, 112, 112])
        let dilated = try #require(byName["dilated-3x3"])
        #expect(dilated.outputShape == [1, 64, 56, 56])
        #expect(byName["cifar-batch8"]?.batch == 8)
        #expect(layers.allSatisfy { $0.descriptor.hasBias && $0.descriptor.activation == .none })
    }

    @Test func quickIsASubsetOfStandard() {
        #expect(LayerSuite.quick.layers.map(\.name) == LayerSuite.quickNames)
    }

    @Test func parsesAGoodFile() throws {
        let text = "\u{FEFF}\(Self.header)\r\n"
            + "tiny,1,3,8,8,4,3,3,1,1,1,1\r\n"
            + "\n"
            + " grouped , 2, 4, 9, 7, 6, 3, 1, 2, 0, 1, 2 \n\n"
        let suite = try LayerSuite.parse(csv: text)
        #expect(suite.layers.map(\.name) == ["tiny", "grouped"])
        let g = suite.layers[1].descriptor
        #expect(g.batch == 2 && g.inputChannels == 4 && g.inputHeight == 9 && g.inputWidth == 7)
        #expect(g.outputChannels == 6 && g.kernelHeight == 3 && g.kernelWidth == 1)
        #expect(g.strideHeight == 2 && g.strideWidth == 2 && g.padding == .zero && g.groups == 2)
        // Round trip through the writer.
        #expect(try LayerSuite.parse(csv: suite.csvText()) == suite)
        #expect(try LayerSuite.parse(csv: LayerSuite.standard.csvText()) == LayerSuite.standard)
    }

    static let malformed: [(String, Int, SuiteFileError.Problem)] = [
        ("", 1, .emptyFile),
        ("name,N,C,H,W,K,R,S,stride,pad,groups\nx,1,1,1,1,1,1,1,1,1,1\n", 1,
         .wrongHeader(found: "name,N,C,H,W,K,R,S,stride,pad,groups")),
        ("\(header)\nx,1,3,8,8,4,3,3,1,1,1,1\ny,1,3,8,8,4,3,3,1,1,1\n", 3,
         .wrongColumnCount(expected: 12, found: 11)),
        ("\(header)\nx,1,3,8,8,four,3,3,1,1,1,1\n", 2, .notAnInteger(column: "K", value: "four")),
        ("\(header)\nx,1,3,8,8,4,3,3,1.5,1,1,1\n", 2, .notAnInteger(column: "stride", value: "1.5")),
        ("\(header)\nx,1,3,8,8,4,3,3,1,1,1,2\n", 2,
         .invalidDescriptor(.groupsDoNotDivide(groups: 2, parameter: "input channels", value: 3))),
        ("\(header)\nx,1,3,8,8,4,3,3,0,1,1,1\n", 2,
         .invalidDescriptor(.nonPositive(parameter: "stride height", value: 0))),
        ("\(header)\nx,1,3,4,4,4,7,7,1,1,1,1\n", 2,
         .invalidDescriptor(.kernelLargerThanInput(axis: "height", effectiveKernel: 7, paddedInput: 6))),
        ("\(header)\nx,1,3,8,8,4,3,3,1,1,1,1\n\nx,1,3,8,8,4,3,3,1,1,1,1\n", 4, .duplicateName("x", firstLine: 2)),
        ("\(header)\n,1,3,8,8,4,3,3,1,1,1,1\n", 2, .emptyName),
        ("\(header)\n\n", 3, .noLayers),
    ]

    @Test(arguments: 0..<malformed.count)
    func refusesMalformedFilesNamingTheLine(_ i: Int) {
        let (text, line, problem) = Self.malformed[i]
        #expect(throws: SuiteFileError(path: "s.csv", line: line, problem: problem)) {
            try LayerSuite.parse(csv: text, path: "s.csv")
        }
        let message = SuiteFileError(path: "s.csv", line: line, problem: problem).description
        #expect(message.hasPrefix("s.csv: line \(line): "))
    }

    @Test func missingFileIsATypedError() {
        #expect(throws: ConvError.self) { try LayerSuite.load(path: "/nonexistent/suite.csv") }
    }

    @Test func filterKeepsOrderAndRejectsUnknownNames() throws {
        let s = try LayerSuite.standard.filtered(names: ["odd-13-24", "alexnet-conv2"])
        #expect(s.layers.map(\.name) == ["alexnet-conv2", "odd-13-24"])
        #expect(throws: ConvError.self) { try LayerSuite.standard.filtered(names: ["nope"]) }
    }
}
