import Foundation

/// Built-in architectures by name, as ``ModelSpec`` values (the same path as model files).
///
/// - `lenet5`: LeNet-5 (LeCun et al. 1998) on 1x32x32, with ReLU instead of the scaled tanh
///   and average pooling as the subsampling: conv 6 5x5 relu, avgpool 2, conv 16 5x5 relu,
///   avgpool 2, fc 120 relu, fc 84 relu, fc 10, softmax (61,706 parameters).
/// - `convnetjs-mnist`: ConvNetJS's MNIST demo on 1x24x24: conv 8 5x5 s1 p2 relu, maxpool 2
///   s2, conv 16 5x5 s1 p2 relu, maxpool 3 s3, fc 10, softmax.
/// - `convnetjs-cifar10`: ConvNetJS's CIFAR-10 demo on 3x32x32: conv 16 5x5 p2 relu, maxpool 2,
///   conv 20 5x5 p2 relu, maxpool 2, conv 20 5x5 p2 relu, maxpool 2, fc 10, softmax.
/// - `alexnet`: torchvision's AlexNet on 3x224x224 (61,100,840 parameters): conv 64 11x11 s4
///   p2, maxpool 3 s2, conv 192 5x5 p2, maxpool 3 s2, conv 384/256/256 3x3 p1, maxpool 3 s2,
///   dropout, fc 4096, dropout, fc 4096, fc 1000, softmax (ReLU after every conv and hidden fc;
///   torchvision's adaptive average pool is the identity at 224x224 and is omitted).
/// - `vgg16`: VGG-16 (configuration D, torchvision's `vgg16`) on 3x224x224 (138,357,544
///   parameters): 13 conv 3x3 p1 relu in blocks of 2, 2, 3, 3, 3 with 64, 128, 256, 512, 512
///   filters, each block followed by maxpool 2; fc 4096 relu, dropout, fc 4096 relu, dropout,
///   fc 1000, softmax.
///
/// Layer names follow torchvision's where that helps loading converted weights:
/// AlexNet and VGG-16 name their layers `features.<i>` and `classifier.<i>` with torchvision's
/// indices, so `torchvision.models.vgg16().state_dict()` saved with safetensors loads as it is.
/// The softmax is appended (torchvision returns logits).
///
/// The torchvision graph architectures `resnet18`, `resnet34`, `resnet50`, `mobilenet_v2` and
/// `squeezenet1_1` are built in Swift (see ``model(named:input:)``); they return logits.
public enum BuiltInModels {
    /// The built-in names.
    public static let names = ["lenet5", "convnetjs-mnist", "convnetjs-cifar10", "alexnet", "vgg16"]
        + TorchvisionModels.names

    /// The built-in architecture called `name`, ready for weights.
    /// - Parameter input: `[C, H, W]` of one sample for the torchvision architectures (default
    ///   `[3, 224, 224]`; any size their strides allow); the sequential architectures have a fixed
    ///   input and refuse another.
    /// - Throws: ``ConvError/invalidArgument(_:)`` for an unknown name (listing the known ones)
    ///   or an input size the architecture cannot take.
    public static func model(named name: String, input: [Int]? = nil) throws -> GraphModel {
        if let m = try TorchvisionModels.model(named: name, input: input ?? [3, 224, 224]) { return m }
        let s = try spec(named: name)
        if let input, input != s.input {
            throw ConvError.invalidArgument("built-in model '\(name)' takes inputs of \(s.input), not \(input)")
        }
        return try GraphModel(spec: s)
    }

    /// The architecture called `name` as a model file.
    /// - Throws: ``ConvError/invalidArgument(_:)`` for an unknown name (listing the known ones).
    public static func spec(named name: String) throws -> ModelSpec {
        if let m = try TorchvisionModels.model(named: name) { return try m.spec() }
        switch name {
        case "lenet5":
            return try ModelSpec(name: name, input: [1, 32, 32], layers: [
                conv("conv1", 6, 5), ["type": "avgpool", "name": "pool1", "size": 2],
                conv("conv2", 16, 5), ["type": "avgpool", "name": "pool2", "size": 2],
                fc("fc1", 120, relu: true), fc("fc2", 84, relu: true), fc("fc3", 10), ["type": "softmax", "name": "softmax"],
            ])
        case "convnetjs-mnist":
            return try ModelSpec(name: name, input: [1, 24, 24], layers: [
                conv("conv1", 8, 5, pad: 2), pool("pool1", 2, 2),
                conv("conv2", 16, 5, pad: 2), pool("pool2", 3, 3),
                fc("fc1", 10), ["type": "softmax", "name": "softmax"],
            ])
        case "convnetjs-cifar10":
            return try ModelSpec(name: name, input: [3, 32, 32], layers: [
                conv("conv1", 16, 5, pad: 2), pool("pool1", 2, 2),
                conv("conv2", 20, 5, pad: 2), pool("pool2", 2, 2),
                conv("conv3", 20, 5, pad: 2), pool("pool3", 2, 2),
                fc("fc1", 10), ["type": "softmax", "name": "softmax"],
            ])
        case "alexnet":
            return try ModelSpec(name: name, input: [3, 224, 224], layers: [
                conv("features.0", 64, 11, stride: 4, pad: 2), pool("features.2", 3, 2),
                conv("features.3", 192, 5, pad: 2), pool("features.5", 3, 2),
                conv("features.6", 384, 3, pad: 1), conv("features.8", 256, 3, pad: 1),
                conv("features.10", 256, 3, pad: 1), pool("features.12", 3, 2),
                ["type": "flatten", "name": "flatten"],
                ["type": "dropout", "name": "classifier.0"], fc("classifier.1", 4096, relu: true),
                ["type": "dropout", "name": "classifier.3"], fc("classifier.4", 4096, relu: true),
                fc("classifier.6", 1000), ["type": "softmax", "name": "softmax"],
            ])
        case "vgg16":
            var layers: [[String: JSONValue]] = []
            var index = 0
            for (filters, count) in [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)] {
                for _ in 0..<count {
                    layers.append(conv("features.\(index)", filters, 3, pad: 1))
                    index += 2
                }
                layers.append(pool("features.\(index)", 2, 2))
                index += 1
            }
            layers += [
                ["type": "flatten", "name": "flatten"],
                fc("classifier.0", 4096, relu: true), ["type": "dropout", "name": "classifier.2"],
                fc("classifier.3", 4096, relu: true), ["type": "dropout", "name": "classifier.5"],
                fc("classifier.6", 1000), ["type": "softmax", "name": "softmax"],
            ]
            return try ModelSpec(name: name, input: [3, 224, 224], layers: layers)
        default:
            throw ConvError.invalidArgument("unknown built-in model '\(name)' (known: \(names.joined(separator: ", ")))")
        }
    }

    private static func conv(_ name: String, _ filters: Int, _ size: Int, stride: Int = 1, pad: Int = 0) -> [String: JSONValue] {
        ["type": "conv", "name": .string(name), "filters": .number(Double(filters)), "size": .number(Double(size)),
         "stride": .number(Double(stride)), "pad": .number(Double(pad)), "activation": "relu"]
    }

    private static func pool(_ name: String, _ size: Int, _ stride: Int) -> [String: JSONValue] {
        ["type": "pool", "name": .string(name), "mode": "max", "size": .number(Double(size)), "stride": .number(Double(stride))]
    }

    private static func fc(_ name: String, _ units: Int, relu: Bool = false) -> [String: JSONValue] {
        ["type": "fc", "name": .string(name), "units": .number(Double(units)), "activation": relu ? "relu" : "none"]
    }
}

extension GraphModel {
    /// A built-in architecture (see ``BuiltInModels``).
    public static func builtIn(named name: String) throws -> GraphModel { try BuiltInModels.model(named: name) }

    /// A built-in architecture when `nameOrPath` is one of ``BuiltInModels/names``, else the
    /// model file at that path.
    /// - Throws: ``ConvError/invalidFile(path:reason:)`` for a missing or bad file (the message
    ///   lists the built-in names when the file does not exist), and what loading throws.
    public static func named(_ nameOrPath: String, registry: LayerRegistry = .shared) throws -> GraphModel {
        if BuiltInModels.names.contains(nameOrPath) { return try builtIn(named: nameOrPath) }
        if !FileManager.default.fileExists(atPath: nameOrPath) {
            throw ConvError.invalidFile(path: nameOrPath, reason: "no such model file, and not a built-in model (built-in: \(BuiltInModels.names.joined(separator: ", ")))")
        }
        return try load(path: nameOrPath, registry: registry)
    }
}
