import Foundation

/// A model file's architecture: the input shape and the layers' configurations.
///
/// JSON form (a sequential model needs only `input` and `layers`):
/// ```json
/// {"input": [1, 24, 24],
///  "layers": [
///    {"type": "conv", "name": "c1", "filters": 8, "size": 5, "stride": 1, "pad": 2, "activation": "relu"},
///    {"type": "pool", "mode": "max", "size": 2, "stride": 2},
///    {"type": "relu"},
///    {"type": "fc", "name": "fc1", "units": 10},
///    {"type": "softmax"}]}
/// ```
/// - `input`: `[C, H, W]` of one sample (required). The batch comes at prepare or run time.
/// - `layers`: a non-empty array of objects with a `type` (see ``LayerRegistry`` for every
///   built-in type and its keys: `conv`, `pool`/`maxpool`/`avgpool`, `gap`/`globalavgpool`,
///   `relu`, `fc`, `softmax`, `flatten`, `dropout`, `batchnorm`) and an optional unique `name`.
///   An unnamed layer is called `<type><k>` for the k-th unnamed layer of that type (`conv1`,
///   `pool2`, ...).
/// - Optional keys beyond the minimum form: `conv` takes `groups`, `dilation`, `bias` (false
///   for none), `pad` as `[top, left, bottom, right]` or `[h, w]`, `size`/`stride` as `[h, w]`;
///   `pool` takes `pad`; `fc` takes `bias`; `dropout` takes `rate`; `batchnorm` takes `eps`.
/// - `name` (optional, top level): the model's name; `description` (optional): ignored.
///
/// Graphs: every layer object may name the tensors it reads in `inputs` (a string or an array
/// of strings): `"input"` is the model's input, any other name a layer's output. A layer without
/// `inputs` reads the layer before it (the first reads the input), so sequential files are
/// graphs as they are. `outputs` (optional, top level) names the model's outputs (default: the
/// last layer). Layers may come in any order that has no cycle. A residual block:
/// ```json
/// {"input": [16, 8, 8], "layers": [
///   {"type": "conv", "name": "c1", "filters": 16, "size": 3, "pad": 1, "inputs": "input"},
///   {"type": "relu", "name": "r1"},
///   {"type": "conv", "name": "c2", "filters": 16, "size": 3, "pad": 1},
///   {"type": "add", "name": "sum", "inputs": ["c2", "input"]},
///   {"type": "relu", "name": "out"}]}
/// ```
///
/// Weights: parameters are named `<layer>.weight`, `<layer>.bias` (BatchNorm also
/// `<layer>.running_mean`, `<layer>.running_var`) in PyTorch's layouts: conv `[K, C/groups, R, S]`,
/// fc `[out, in]` with `in` flattening C, H, W in that order. See ``SafeTensorsFile``.
public struct ModelSpec: Sendable {
    /// The model's name (the file name or the built-in name when the JSON has none).
    public var name: String
    /// `[C, H, W]` of one sample.
    public var input: [Int]
    /// The layers in order.
    public var layers: [LayerConfig]
    /// The model's outputs, or nil for the last layer.
    public var outputs: [String]?

    /// The name of the model's input tensor in `inputs` lists.
    public static let inputName = "input"

    /// A spec from parts; unnamed layers get `<type><k>` names.
    public init(name: String, input: [Int], layers: [[String: JSONValue]], outputs: [String]? = nil) throws {
        var top: [String: JSONValue] = ["input": .array(input.map { .number(Double($0)) }),
                                        "layers": .array(layers.map { .object($0) })]
        if let outputs { top["outputs"] = .array(outputs.map { .string($0) }) }
        try self.init(name: name, json: .object(top), path: name)
    }

    /// Parses a model file's JSON value; `path` names the source in errors.
    /// - Throws: ``ConvError/invalidFile(path:reason:)`` for a missing or malformed `input` or
    ///   `layers`, a layer without a string `type`, or a duplicate layer name.
    public init(name: String, json: JSONValue, path: String) throws {
        func fail(_ reason: String) -> ConvError { ConvError.invalidFile(path: path, reason: reason) }
        guard case let .object(top) = json else { throw fail("the model must be a JSON object with 'input' and 'layers'") }
        let allowedTop: Set<String> = ["input", "layers", "name", "description", "outputs"]
        if let bad = top.keys.sorted().first(where: { !allowedTop.contains($0) }) {
            throw fail("unknown top-level key '\(bad)' (allowed: description, input, layers, name, outputs)")
        }
        guard let inputValue = top["input"] else { throw fail("missing 'input' ([C, H, W])") }
        guard case let .array(dims) = inputValue, dims.count == 3,
              let c = dims[0].intValue, let h = dims[1].intValue, let w = dims[2].intValue else {
            throw fail("'input' must be [C, H, W], got \(inputValue)")
        }
        if c < 1 || h < 1 || w < 1 { throw fail("'input' dimensions must be at least 1, got [\(c), \(h), \(w)]") }
        guard let layersValue = top["layers"] else { throw fail("missing 'layers'") }
        guard case let .array(items) = layersValue, !items.isEmpty else {
            throw fail("'layers' must be a non-empty array of layer objects")
        }
        var configs: [LayerConfig] = []
        var counts: [String: Int] = [:]
        var seen: Set<String> = []
        for (i, item) in items.enumerated() {
            guard case let .object(obj) = item else { throw fail("layer \(i) must be an object, got \(item)") }
            guard let typeValue = obj["type"] else { throw fail("layer \(i) has no 'type'") }
            guard case let .string(type) = typeValue else { throw fail("layer \(i): 'type' must be a string, got \(typeValue)") }
            let layerName: String
            if let n = obj["name"] {
                guard case let .string(s) = n, !s.isEmpty else { throw fail("layer \(i): 'name' must be a non-empty string, got \(n)") }
                layerName = s
            } else {
                counts[type, default: 0] += 1
                var candidate = "\(type)\(counts[type]!)"
                while seen.contains(candidate) || items.contains(where: { $0.nameValue == candidate }) {
                    counts[type, default: 0] += 1
                    candidate = "\(type)\(counts[type]!)"
                }
                layerName = candidate
            }
            if layerName == Self.inputName { throw fail("layer \(i) is named '\(layerName)', the name of the model's input") }
            if !seen.insert(layerName).inserted { throw fail("duplicate layer name '\(layerName)' (layer \(i))") }
            var inputs = [configs.last?.name ?? Self.inputName]
            if let v = obj["inputs"] {
                switch v {
                case let .string(s): inputs = [s]
                case let .array(a) where !a.isEmpty && a.allSatisfy({ if case .string = $0 { return true } else { return false } }):
                    inputs = a.map { if case let .string(s) = $0 { return s } else { return "" } }
                default: throw fail("layer \(i) '\(layerName)': 'inputs' must be a tensor name or a non-empty array of names, got \(v)")
                }
            }
            configs.append(LayerConfig(index: i, type: type, name: layerName, values: obj, inputs: inputs))
        }
        if let v = top["outputs"] {
            guard case let .array(a) = v, !a.isEmpty else { throw fail("'outputs' must be a non-empty array of tensor names, got \(v)") }
            var names: [String] = []
            for item in a {
                guard case let .string(s) = item else { throw fail("'outputs' must hold tensor names, got \(item)") }
                names.append(s)
            }
            self.outputs = names
        } else {
            self.outputs = nil
        }
        if case let .string(n)? = top["name"] { self.name = n } else { self.name = name }
        self.input = [c, h, w]
        self.layers = configs
    }

    /// Reads and parses a model file.
    /// - Throws: ``ConvError/invalidFile(path:reason:)`` when the file cannot be read or parsed.
    public static func load(path: String) throws -> ModelSpec {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ConvError.invalidFile(path: path, reason: "cannot read the model file (\((error as NSError).localizedDescription))")
        }
        let base = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        return try ModelSpec(name: base, json: JSONValue.parse(data, path: path), path: path)
    }

    /// The JSON form (layers in order, keys sorted).
    public var json: JSONValue {
        var top: [String: JSONValue] = ["name": .string(name), "input": .array(input.map { .number(Double($0)) }),
                                        "layers": .array(layers.map { .object($0.values) })]
        if let outputs { top["outputs"] = .array(outputs.map { .string($0) }) }
        return .object(top)
    }
}

extension JSONValue {
    fileprivate var nameValue: String? {
        if case let .object(o) = self, case let .string(s)? = o["name"] { return s }
        return nil
    }
}
