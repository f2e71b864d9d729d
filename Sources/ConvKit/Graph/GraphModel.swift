import Foundation

/// One node of a ``GraphModel``: a layer and the names of the tensors it reads.
///
/// The node's output tensor is named by its layer's name. Input names refer to other nodes'
/// outputs or to the model's input (``GraphModel/inputName``).
public struct GraphNode {
    /// The layer (its `name` names the node and its output tensor).
    public var layer: any Layer
    /// The tensors it reads, in order.
    public var inputs: [String]
    /// The node's name (its layer's).
    public var name: String { layer.name }

    public init(_ layer: any Layer, inputs: [String]) {
        self.layer = layer
        self.inputs = inputs
    }
}

/// A CNN as a graph of named tensors: nodes with any number of inputs (residual additions,
/// concatenations, squeeze-and-excitation products), in a checked topological order.
///
/// A chain of layers (``init(name:input:layers:)``, a sequential model file) is the special case
/// where each node reads the one before it; ``SequentialModel`` is this type.
///
/// Building checks the graph and infers every shape for one sample: duplicate names, unknown
/// input names and cycles are errors naming the node, and so is a node whose inputs do not fit.
/// Nodes are kept in their given order where that order is topological; otherwise they are
/// sorted (stably) so that every node comes after its inputs.
///
/// Parameters start unset: load them (``loadWeights(from:)``, torchvision's state_dict names)
/// or initialise them (``initializeWeights(seed:)``), then
/// ``prepare(batch:backend:threads:overrides:registry:)`` once and run the returned
/// ``PreparedModel`` many times. ``plan(batch:backend:overrides:registry:)`` shows what preparing
/// will do (fusions, backends, memory) without packing anything.
///
/// Threading: the model (the description) is used from one thread at a time; the prepared
/// model runs concurrently.
public final class GraphModel {
    /// The model's name.
    public let name: String
    /// The name of the model's input tensor (`input`).
    public let inputName: String
    /// The shape of one input sample, `[1, C, H, W]`.
    public let inputShape: TensorShape
    /// The nodes in execution (topological) order.
    public let nodes: [GraphNode]
    /// The tensors the model returns; a run writes the first.
    public let outputNames: [String]
    /// Each node's output shape for one sample, in node order.
    public let outputShapes: [TensorShape]
    /// Each node's input shapes for one sample, in node order.
    public let inputShapes: [[TensorShape]]

    /// The layers in node order.
    public var layers: [any Layer] { nodes.map(\.layer) }

    /// A graph of `nodes` reading `input` (`input.n` is ignored) under `inputName`.
    /// - Parameter outputs: the output tensors (default: the last node's output).
    /// - Throws: ``ConvError/invalidArgument(_:)`` naming the node: an empty graph, a duplicate
    ///   name, an unknown input or output name, a cycle, or inputs that do not fit the layer.
    public init(name: String = "model", input: TensorShape, inputName: String = "input", nodes: [GraphNode],
                outputs: [String]? = nil) throws {
        let sample = TensorShape(n: 1, c: input.c, h: input.h, w: input.w)
        try sample.validate()
        if nodes.isEmpty { throw ConvError.invalidArgument("a model needs at least one node") }
        let order = try GraphOrder.sort(names: nodes.map(\.name), inputs: nodes.map(\.inputs), graphInput: inputName)
        let sorted = order.map { nodes[$0] }
        var shapes: [String: TensorShape] = [inputName: sample]
        var outs: [TensorShape] = [], ins: [[TensorShape]] = []
        for (i, node) in sorted.enumerated() {
            let inputShapes = node.inputs.map { shapes[$0]! }
            let out = try Self.inNode(i, node.layer) { () throws -> TensorShape in
                let s = try node.layer.outputShape(for: inputShapes)
                try s.validate()
                return s
            }
            shapes[node.name] = out
            outs.append(out)
            ins.append(inputShapes)
        }
        let outputNames = outputs ?? [sorted.last!.name]
        if outputNames.isEmpty { throw ConvError.invalidArgument("a model needs at least one output") }
        for o in outputNames where shapes[o] == nil {
            throw ConvError.invalidArgument("unknown output tensor '\(o)' (not a node of the model)")
        }
        self.name = name
        self.inputName = inputName
        self.inputShape = sample
        self.nodes = sorted
        self.outputNames = outputNames
        self.outputShapes = outs
        self.inputShapes = ins
    }

    /// A chain: each layer reads the one before it (the first reads the input).
    /// - Throws: as ``init(name:input:inputName:nodes:outputs:)``.
    public convenience init(name: String = "model", input: TensorShape, layers: [any Layer]) throws {
        var nodes: [GraphNode] = []
        var previous = "input"
        for layer in layers {
            nodes.append(GraphNode(layer, inputs: [previous]))
            previous = layer.name
        }
        try self.init(name: name, input: input, nodes: nodes)
    }

    /// A model from a parsed model file, building each node with `registry` (nodes in
    /// topological order, so that each factory sees its input shapes).
    /// - Throws: ``ConvError`` naming the node: an unknown type, a bad key or value, an unknown
    ///   input, a cycle, or a shape that does not fit.
    public convenience init(spec: ModelSpec, registry: LayerRegistry = .shared) throws {
        let input = TensorShape(n: 1, c: spec.input[0], h: spec.input[1], w: spec.input[2])
        let order = try GraphOrder.sort(names: spec.layers.map(\.name), inputs: spec.layers.map(\.inputs),
                                        graphInput: ModelSpec.inputName)
        var shapes: [String: TensorShape] = [ModelSpec.inputName: input]
        var nodes: [GraphNode] = []
        for k in order {
            let config = spec.layers[k]
            let inputShapes = config.inputs.map { shapes[$0]! }
            let layer = try registry.makeLayer(config, inputs: inputShapes)
            shapes[config.name] = try config.inNode { try layer.outputShape(for: inputShapes) }
            nodes.append(GraphNode(layer, inputs: config.inputs))
        }
        try self.init(name: spec.name, input: input, inputName: ModelSpec.inputName, nodes: nodes,
                      outputs: spec.outputs)
    }

    /// Loads a model file (see ``ModelSpec`` for the JSON form).
    public static func load(path: String, registry: LayerRegistry = .shared) throws -> GraphModel {
        try GraphModel(spec: ModelSpec.load(path: path), registry: registry)
    }

    /// The first output's dimensions per sample as the model's source states them (an ONNX
    /// graph output `[N, 1000]` gives `[1000]`), or nil: then a run's output is `[C]` per sample
    /// when `H = W = 1`, else `[C, H, W]` (see ``outputSampleDimensions``). The values are the
    /// same either way; only the shape written to a file differs.
    public var declaredOutputDimensions: [Int]?

    /// The first output's dimensions per sample: ``declaredOutputDimensions`` when set and
    /// holding the same number of values, else `[C]` for `H = W = 1` and `[C, H, W]` otherwise.
    public var outputSampleDimensions: [Int] {
        let o = outputShape
        if let d = declaredOutputDimensions, d.reduce(1, *) == o.count { return d }
        return o.h == 1 && o.w == 1 ? [o.c] : [o.c, o.h, o.w]
    }

    /// The shape of one sample of the first output.
    public var outputShape: TensorShape { shape(of: outputNames[0])! }
    /// Learnable parameters of all layers.
    public var parameterCount: Int { layers.reduce(0) { $0 + $1.parameterCount } }
    /// FLOPs of one sample.
    public var flops: Int { nodes.indices.reduce(0) { $0 + nodes[$1].layer.flops(for: inputShapes[$1]) } }

    /// The layer called `name`.
    public func layer(named name: String) -> (any Layer)? { nodes.first { $0.name == name }?.layer }

    /// The shape of one sample of tensor `name` (the input or a node's output).
    public func shape(of name: String) -> TensorShape? {
        if name == inputName { return inputShape }
        return nodes.firstIndex { $0.name == name }.map { outputShapes[$0] }
    }

    // MARK: Weights

    /// Initialises every layer's parameters deterministically (see ``WeightGenerator``: He
    /// initialisation, one SplitMix64 stream per layer derived from `seed` and its index).
    public func initializeWeights(seed: UInt64) {
        for (i, layer) in layers.enumerated() {
            var g = WeightGenerator.forLayer(seed: seed, index: i)
            layer.initializeParameters(using: &g)
        }
    }

    /// Sets every parameter from `file` (`<layer>.<parameter>`, PyTorch's names and shapes, as
    /// `safetensors.torch.save_file(model.state_dict(), path)` writes them). F16, BF16 and F64
    /// tensors are converted; PyTorch's `num_batches_tracked` counters are ignored. Nothing is
    /// changed when anything is wrong.
    /// - Throws: ``ConvError/invalidFile(path:reason:)`` listing every missing tensor (with its
    ///   expected shape) and every tensor the model does not use, or naming a tensor of an
    ///   unreadable dtype; ``ConvError/shapeMismatch(what:expected:actual:)`` for a mis-shaped one.
    public func loadWeights(from file: SafeTensorsFile) throws {
        var expected: [String: [Int]] = [:]
        var missing: [String] = []
        for layer in layers {
            for p in layer.parameters {
                let key = "\(layer.name).\(p.name)"
                expected[key] = p.shape
                if file.entries[key] == nil { missing.append("\(key) \(p.shape)") }
            }
        }
        let surplus = file.entries.keys.filter { expected[$0] == nil && !$0.hasSuffix(".num_batches_tracked") }.sorted()
        if !missing.isEmpty || !surplus.isEmpty {
            var parts: [String] = []
            if !missing.isEmpty { parts.append("\(missing.count) missing tensor\(missing.count == 1 ? "" : "s"): \(Self.list(missing))") }
            if !surplus.isEmpty {
                parts.append("\(surplus.count) tensor\(surplus.count == 1 ? "" : "s") the model does not use: \(Self.list(surplus))")
            }
            throw ConvError.invalidFile(path: file.path, reason: "weights do not match model '\(name)': " + parts.joined(separator: "; "))
        }
        var staged: [(any Layer, String, [Float])] = []
        for layer in layers {
            for p in layer.parameters {
                staged.append((layer, p.name, try file.floats(named: "\(layer.name).\(p.name)", expectedShape: p.shape)))
            }
        }
        for (layer, p, values) in staged { try layer.setParameter(named: p, values: values) }
    }

    private static func list(_ names: [String]) -> String {
        names.count <= 12 ? names.joined(separator: ", ") : names.prefix(12).joined(separator: ", ") + ", ... (\(names.count - 12) more)"
    }

    /// Loads the weights from the safetensors file at `path`.
    public func loadWeights(path: String) throws { try loadWeights(from: SafeTensorsFile(path: path)) }

    /// Every parameter as a named tensor, in node order.
    /// - Throws: ``ConvError/invalidArgument(_:)`` when a parameter was never set.
    public func weightTensors() throws -> [SafeTensor] {
        try layers.flatMap { layer in
            try layer.parameters.map { p in
                guard let v = layer.parameterValues(named: p.name) else {
                    throw ConvError.invalidArgument("parameter '\(layer.name).\(p.name)' is not set")
                }
                return SafeTensor(name: "\(layer.name).\(p.name)", shape: p.shape, values: v)
            }
        }
    }

    /// Writes every parameter to a safetensors file (atomically).
    public func saveWeights(path: String, metadata: [String: String] = [:]) throws {
        try SafeTensorsWriter.write(weightTensors(), metadata: metadata, to: path)
    }

    // MARK: Model files

    /// The model as a model file (``ModelSpec``): every node's configuration and inputs.
    /// - Throws: ``ConvError/invalidArgument(_:)`` naming a layer that cannot describe itself
    ///   (a custom layer without ``Layer/configuration``).
    public func spec() throws -> ModelSpec {
        var layers: [[String: JSONValue]] = []
        for node in nodes {
            guard var config = node.layer.configuration else {
                throw ConvError.invalidArgument("layer '\(node.name)' (\(node.layer.typeName)) cannot be written to a model file (it has no configuration)")
            }
            config["type"] = .string(node.layer.typeName)
            config["name"] = .string(node.name)
            config["inputs"] = .array(node.inputs.map { .string($0 == inputName ? ModelSpec.inputName : $0) })
            layers.append(config)
        }
        return try ModelSpec(name: name, input: [inputShape.c, inputShape.h, inputShape.w], layers: layers,
                             outputs: outputNames)
    }

    /// Writes the model file (JSON) to `path`; with ``saveWeights(path:metadata:)`` the model can
    /// be loaded back with ``load(path:registry:)`` and ``loadWeights(path:)``.
    public func save(path: String) throws {
        let data = try spec().json.jsonData()
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw ConvError.invalidFile(path: path, reason: "cannot write the model file (\((error as NSError).localizedDescription))")
        }
    }

    /// Runs `body`, turning a ConvError into one that names node `index`.
    static func inNode<T>(_ index: Int, _ layer: any Layer, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let e as ConvError {
            if case let .invalidArgument(m) = e, m.hasPrefix("layer \(index) ") || m.hasPrefix("node ") { throw e }
            throw ConvError.invalidArgument("layer \(index) '\(layer.name)' (\(layer.typeName)): \(e)")
        }
    }
}

/// A chain of layers is a graph whose nodes each read the one before.
public typealias SequentialModel = GraphModel

/// Topological ordering of named nodes.
enum GraphOrder {
    /// The node indices in an order where every node comes after the nodes it reads: the given
    /// order where possible (Kahn's algorithm, always taking the lowest ready index).
    /// - Throws: ``ConvError/invalidArgument(_:)`` for a duplicate name, a name equal to the
    ///   graph input, an unknown input, a node without inputs, or a cycle (naming its nodes).
    static func sort(names: [String], inputs: [[String]], graphInput: String) throws -> [Int] {
        var index: [String: Int] = [:]
        for (i, n) in names.enumerated() {
            if n == graphInput { throw ConvError.invalidArgument("node \(i) is named '\(n)', the name of the model's input") }
            if let j = index[n] { throw ConvError.invalidArgument("duplicate node name '\(n)' (nodes \(j) and \(i))") }
            index[n] = i
        }
        var pending = [Int](repeating: 0, count: names.count)
        var readers = [[Int]](repeating: [], count: names.count)
        for (i, ins) in inputs.enumerated() {
            if ins.isEmpty { throw ConvError.invalidArgument("node \(i) '\(names[i])' has no inputs") }
            for t in ins where t != graphInput {
                guard let j = index[t] else {
                    throw ConvError.invalidArgument("node \(i) '\(names[i])' reads '\(t)', which is neither the model's input '\(graphInput)' nor a node")
                }
                if j == i { throw ConvError.invalidArgument("node \(i) '\(names[i])' reads its own output (a cycle)") }
                pending[i] += 1
                readers[j].append(i)
            }
        }
        let (order, _) = StableTopologicalOrder.order(readers: readers, pending: pending)
        if order.count < names.count {
            let stuck = pending.indices.filter { pending[$0] > 0 }.map { "'\(names[$0])'" }
            throw ConvError.invalidArgument("the model's graph has a cycle through node\(stuck.count == 1 ? "" : "s") \(stuck.prefix(8).joined(separator: ", "))\(stuck.count > 8 ? ", ..." : "")")
        }
        return order
    }
}

/// Kahn's algorithm that always takes the lowest ready index, so that an order that is already
/// topological is kept as it is. Shared by ``GraphModel`` and the ONNX importer.
package enum StableTopologicalOrder {
    /// The order of `pending.count` nodes, where node `i` waits for `pending[i]` of its
    /// predecessors and `readers[j]` lists the nodes waiting for node `j` (once per edge), and
    /// the nodes left unordered (those on or after a cycle; empty when the graph is acyclic).
    package static func order(readers: [[Int]], pending: [Int]) -> (order: [Int], unordered: [Int]) {
        var pending = pending
        var ready = MinHeap(pending.indices.filter { pending[$0] == 0 })
        var order: [Int] = []
        order.reserveCapacity(pending.count)
        while let i = ready.popMin() {
            order.append(i)
            for r in readers[i] {
                pending[r] -= 1
                if pending[r] == 0 { ready.insert(r) }
            }
        }
        return (order, pending.indices.filter { pending[$0] > 0 })
    }
}

/// A binary min-heap of integers.
struct MinHeap {
    private var items: [Int] = []
    init(_ values: [Int]) { for v in values { insert(v) } }
    mutating func insert(_ v: Int) {
        items.append(v)
        var k = items.count - 1
        while k > 0 && items[(k - 1) / 2] > items[k] { items.swapAt(k, (k - 1) / 2); k = (k - 1) / 2 }
    }
    mutating func popMin() -> Int? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var k = 0
            while true {
                let l = 2 * k + 1, r = l + 1
                var m = k
                if l < items.count && items[l] < items[m] { m = l }
                if r < items.count && items[r] < items[m] { m = r }
                if m == k { break }
                items.swapAt(k, m)
                k = m
            }
        }
        return top
    }
}
