import ConvKit
import Foundation

/// One named convolution layer of a benchmark suite.
public struct BenchLayer: Hashable, Sendable, CustomStringConvertible {
    /// A short unique name (`alexnet-conv1`), used in every output format.
    public var name: String
    /// The convolution (always with bias and no activation in the built-in suite).
    public var descriptor: Conv2DDescriptor

    public init(name: String, descriptor: Conv2DDescriptor) {
        self.name = name
        self.descriptor = descriptor
    }

    /// A layer with square kernel, stride, padding and dilation, with bias, no activation.
    public init(_ name: String, n: Int = 1, c: Int, h: Int, w: Int, k: Int, r: Int, s: Int,
                stride: Int = 1, pad: Int = 0, dilation: Int = 1, groups: Int = 1) {
        self.name = name
        self.descriptor = Conv2DDescriptor(
            batch: n, inputChannels: c, inputHeight: h, inputWidth: w, outputChannels: k,
            kernelHeight: r, kernelWidth: s, strideHeight: stride, strideWidth: stride,
            padding: Padding(pad), dilationHeight: dilation, dilationWidth: dilation,
            groups: groups, hasBias: true, activation: .none)
    }

    public var description: String { "\(name) (\(descriptor))" }
}

/// An ordered list of benchmark layers: the built-in ``standard`` suite or one read from
/// a CSV file with ``parse(csv:path:)`` / ``load(path:)``.
///
/// Suite file format (CSV, UTF-8): the first line is exactly the header
/// `name,N,C,H,W,K,R,S,stride,pad,dilation,groups`; every following non-blank line is one
/// layer: a unique non-empty name and eleven integers (batch, input channels, input height,
/// input width, output channels, kernel height, kernel width, then one value each for
/// stride, padding and dilation, applied to both axes, and the group count). Layers have a
/// bias and no activation. Blank lines are ignored; quoting is not supported.
public struct LayerSuite: Hashable, Sendable {
    /// The layers in file (or definition) order.
    public var layers: [BenchLayer]

    /// A suite of `layers`; names should be unique.
    public init(layers: [BenchLayer]) { self.layers = layers }

    /// The exact header line of a suite file.
    public static let csvHeader = "name,N,C,H,W,K,R,S,stride,pad,dilation,groups"
    static let columns = csvHeader.split(separator: ",").map(String.init)

    /// The standard CNN layers: the 3x32x32 example with ten 5x5 filters, AlexNet conv1-5,
    /// the VGG-16 3x3 layers (second conv of each stage), ResNet-50's stem, 1x1, 3x3 and
    /// stride-2 layers, a first layer with 3 channels, a depthwise 3x3, odd channel counts,
    /// a batch-8 CIFAR-style layer and a dilated layer. All with bias, no activation.
    public static let standard = LayerSuite(layers: [
        BenchLayer("cs231n-3x32x32-k10-5x5", c: 3, h: 32, w: 32, k: 10, r: 5, s: 5, pad: 2),
        BenchLayer("alexnet-conv1", c: 3, h: 227, w: 227, k: 96, r: 11, s: 11, stride: 4),
        BenchLayer("alexnet-conv2", c: 96, h: 27, w: 27, k: 256, r: 5, s: 5, pad: 2),
        BenchLayer("alexnet-conv3", c: 256, h: 13, w: 13, k: 384, r: 3, s: 3, pad: 1),
        BenchLayer("alexnet-conv4", c: 384, h: 13, w: 13, k: 384, r: 3, s: 3, pad: 1),
        BenchLayer("alexnet-conv5", c: 384, h: 13, w: 13, k: 256, r: 3, s: 3, pad: 1),
        BenchLayer("vgg-conv1_2", c: 64, h: 224, w: 224, k: 64, r: 3, s: 3, pad: 1),
        BenchLayer("vgg-conv2_2", c: 128, h: 112, w: 112, k: 128, r: 3, s: 3, pad: 1),
        BenchLayer("vgg-conv3_2", c: 256, h: 56, w: 56, k: 256, r: 3, s: 3, pad: 1),
        BenchLayer("vgg-conv4_2", c: 512, h: 28, w: 28, k: 512, r: 3, s: 3, pad: 1),
        BenchLayer("vgg-conv5_2", c: 512, h: 14, w: 14, k: 512, r: 3, s: 3, pad: 1),
        BenchLayer("resnet-stem", c: 3, h: 224, w: 224, k: 64, r: 7, s: 7, stride: 2, pad: 3),
        BenchLayer("resnet-1x1-256-64", c: 256, h: 56, w: 56, k: 64, r: 1, s: 1),
        BenchLayer("resnet-3x3-64", c: 64, h: 56, w: 56, k: 64, r: 3, s: 3, pad: 1),
        BenchLayer("resnet-3x3-s2", c: 64, h: 56, w: 56, k: 128, r: 3, s: 3, stride: 2, pad: 1),
        BenchLayer("resnet-res4-3x3", c: 256, h: 14, w: 14, k: 256, r: 3, s: 3, pad: 1),
        BenchLayer("resnet-res5-3x3", c: 512, h: 7, w: 7, k: 512, r: 3, s: 3, pad: 1),
        BenchLayer("first-layer-3ch", c: 3, h: 224, w: 224, k: 32, r: 3, s: 3, stride: 2, pad: 1),
        BenchLayer("depthwise-3x3", c: 32, h: 112, w: 112, k: 32, r: 3, s: 3, pad: 1, groups: 32),
        BenchLayer("odd-13-24", c: 13, h: 29, w: 29, k: 24, r: 3, s: 3, pad: 1),
        BenchLayer("cifar-batch8", n: 8, c: 32, h: 16, w: 16, k: 64, r: 3, s: 3, pad: 1),
        BenchLayer("dilated-3x3", c: 64, h: 56, w: 56, k: 64, r: 3, s: 3, pad: 2, dilation: 2),
    ])

    /// Names of the small layers ``quick`` keeps: a few milliseconds each, every kind of
    /// shape the fast paths care about (5x5 first layer, odd channels, batch, 3x3 deep).
    public static let quickNames = ["cs231n-3x32x32-k10-5x5", "resnet-res5-3x3", "odd-13-24", "cifar-batch8"]

    /// A small subset of ``standard`` for smoke tests and CI (see ``quickNames``).
    public static var quick: LayerSuite {
        LayerSuite(layers: standard.layers.filter { quickNames.contains($0.name) })
    }

    /// The layers whose names are in `names`, in suite order.
    /// - Throws: ``ConvError/invalidArgument(_:)`` naming the first unknown name and the known ones.
    public func filtered(names: [String]) throws -> LayerSuite {
        let known = Set(layers.map(\.name))
        if let unknown = names.first(where: { !known.contains($0) }) {
            throw ConvError.invalidArgument(
                "unknown layer '\(unknown)' (known: \(layers.map(\.name).joined(separator: ", ")))")
        }
        let wanted = Set(names)
        return LayerSuite(layers: layers.filter { wanted.contains($0.name) })
    }

    /// Reads a suite file.
    /// - Throws: ``ConvError/invalidFile(path:reason:)`` when the file cannot be read or is not
    ///   UTF-8; ``SuiteFileError`` (with the line number and the problem) when it is malformed.
    public static func load(path: String) throws -> LayerSuite {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConvError.invalidFile(path: path, reason: "cannot read the file (\(error.localizedDescription))")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConvError.invalidFile(path: path, reason: "not UTF-8 text")
        }
        return try parse(csv: text, path: path)
    }

    /// Parses the text of a suite file (format in the type's documentation).
    ///
    /// - Parameter path: the file name used in error messages (`nil` for in-memory text).
    /// - Throws: ``SuiteFileError`` naming the 1-based line and the problem: an empty file, a
    ///   wrong header, a wrong column count, an empty or duplicate name, a value that is not
    ///   an integer, a descriptor that ``Conv2DDescriptor/validate()`` rejects, or no layers.
    public static func parse(csv text: String, path: String? = nil) throws -> LayerSuite {
        // "\r\n" is one Character, so this splits on LF, CRLF and CR alike.
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        if let first = lines.first, first.hasPrefix("\u{FEFF}") { lines[0] = first.dropFirst() }
        func fail(_ line: Int, _ problem: SuiteFileError.Problem) -> SuiteFileError {
            SuiteFileError(path: path, line: line, problem: problem)
        }
        guard let headerLine = lines.first, !headerLine.allSatisfy(\.isWhitespace) else {
            throw fail(1, .emptyFile)
        }
        let header = headerLine.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard header == columns else { throw fail(1, .wrongHeader(found: String(headerLine))) }

        var layers: [BenchLayer] = []
        var firstLine: [String: Int] = [:]
        for (index, line) in lines.enumerated().dropFirst() {
            let number = index + 1
            if line.allSatisfy(\.isWhitespace) { continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count == columns.count else {
                throw fail(number, .wrongColumnCount(expected: columns.count, found: fields.count))
            }
            let name = fields[0]
            if name.isEmpty { throw fail(number, .emptyName) }
            if let previous = firstLine[name] { throw fail(number, .duplicateName(name, firstLine: previous)) }
            var values: [Int] = []
            for (column, field) in zip(columns.dropFirst(), fields.dropFirst()) {
                guard let v = Int(field) else { throw fail(number, .notAnInteger(column: column, value: field)) }
                values.append(v)
            }
            let layer = BenchLayer(name, n: values[0], c: values[1], h: values[2], w: values[3], k: values[4],
                                   r: values[5], s: values[6], stride: values[7], pad: values[8],
                                   dilation: values[9], groups: values[10])
            do {
                try layer.descriptor.validate()
            } catch let error as ConvError {
                throw fail(number, .invalidDescriptor(error))
            }
            firstLine[name] = number
            layers.append(layer)
        }
        if layers.isEmpty { throw fail(max(lines.count, 1), .noLayers) }
        return LayerSuite(layers: layers)
    }

    /// The suite as the text of a suite file (header plus one line per layer).
    /// Asymmetric padding or unequal strides/dilations cannot be written and are written
    /// as their top/height values.
    public func csvText() -> String {
        var out = Self.csvHeader + "\n"
        for l in layers {
            let d = l.descriptor
            let values = [d.batch, d.inputChannels, d.inputHeight, d.inputWidth, d.outputChannels,
                          d.kernelHeight, d.kernelWidth, d.strideHeight, d.padding.top, d.dilationHeight, d.groups]
            out += ([l.name] + values.map(String.init)).joined(separator: ",") + "\n"
        }
        return out
    }
}

/// A malformed suite file: the 1-based line and what is wrong with it.
public struct SuiteFileError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What is wrong with a line.
    public enum Problem: Equatable, Sendable, CustomStringConvertible {
        /// The file has no content.
        case emptyFile
        /// The first line is not exactly ``LayerSuite/csvHeader``.
        case wrongHeader(found: String)
        /// A layer line does not have 12 comma-separated fields.
        case wrongColumnCount(expected: Int, found: Int)
        /// The name field is empty.
        case emptyName
        /// The name was already used on `firstLine`.
        case duplicateName(String, firstLine: Int)
        /// A numeric field is not a decimal integer.
        case notAnInteger(column: String, value: String)
        /// The values do not describe a valid convolution.
        case invalidDescriptor(ConvError)
        /// The header is not followed by any layer.
        case noLayers

        public var description: String {
            switch self {
            case .emptyFile:
                return "the file is empty; expected the header '\(LayerSuite.csvHeader)'"
            case let .wrongHeader(found):
                return "wrong header '\(found)'; expected exactly '\(LayerSuite.csvHeader)'"
            case let .wrongColumnCount(expected, found):
                return "expected \(expected) comma-separated values, found \(found)"
            case .emptyName:
                return "the layer name is empty"
            case let .duplicateName(name, firstLine):
                return "layer name '\(name)' already used on line \(firstLine)"
            case let .notAnInteger(column, value):
                return "column \(column): '\(value)' is not an integer"
            case let .invalidDescriptor(error):
                return "invalid convolution: \(error)"
            case .noLayers:
                return "no layers after the header"
            }
        }
    }

    /// The file name, when parsing a file.
    public var path: String?
    /// The 1-based line number.
    public var line: Int
    /// What is wrong.
    public var problem: Problem

    public init(path: String?, line: Int, problem: Problem) {
        self.path = path
        self.line = line
        self.problem = problem
    }

    public var description: String {
        "\(path.map { "\($0): " } ?? "")line \(line): \(problem)"
    }
}
