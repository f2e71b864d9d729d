import ConvKit
import Foundation

/// A tensor of the ONNX graph during import.
enum ONNXValue {
    /// Computed from the model input at run time: the ConvKit tensor and the ONNX dimensions
    /// after the batch (`[C, H, W]` for a 4-D tensor, `[K]` for `[N, K]`).
    case activation(GraphBuilder.Value, dims: [Int])
    /// Known at import.
    case constant(ONNXConstant)
}

/// Converts one `ModelProto` to a `GraphModel`: the checks on the model as a whole, the node
/// order, and the bookkeeping the operator converters (``ONNXOperators``) share.
struct ONNXGraphConverter {
    let opset: Int
    let builder: GraphBuilder
    /// The batch size the input declares (nil: symbolic).
    let declaredBatch: Int?
    var values: [String: ONNXValue] = [:]
    /// The nodes (by index) that read each tensor; -1 stands for a graph output.
    var readers: [String: [Int]] = [:]
    let graphOutputs: Set<String>
    /// Nodes already converted as part of another (the Add after a MatMul).
    var absorbed: Set<Int> = []
    var usedLayerNames: Set<String> = [ModelSpec.inputName]
    let nodes: [Onnx_NodeProto]
    /// The folder external data is read from.
    let directory: String?
    /// The memory all constants of this import take (initializers and folded ones), kept under
    /// ``ONNXTensorData/byteLimit``.
    var constantBytes = 0

    // MARK: Model-level checks

    static func defaultOpset(_ proto: Onnx_ModelProto) -> Int? {
        proto.opsetImport.first { $0.domain.isEmpty || $0.domain == "ai.onnx" }.map { Int(clamping: $0.version) }
    }

    static func label(_ n: Onnx_NodeProto) -> String {
        if !n.name.isEmpty { return n.name }
        return n.output.first.map { "output '\($0)'" } ?? "(unnamed)"
    }

    static func unsupportedNodes(_ proto: Onnx_ModelProto) -> [ONNXUnsupportedNode] {
        let opsets = Dictionary(proto.opsetImport.map { ($0.domain == "ai.onnx" ? "" : $0.domain, Int(clamping: $0.version)) },
                                uniquingKeysWith: { a, _ in a })
        return proto.graph.node.compactMap { n in
            let domain = n.domain == "ai.onnx" ? "" : n.domain
            if domain.isEmpty && ONNXOperators.table[n.opType] != nil { return nil }
            return ONNXUnsupportedNode(node: label(n), op: n.opType, domain: domain, opset: opsets[domain] ?? 0)
        }
    }

    static func convert(_ proto: inout Onnx_ModelProto, name: String, directory: String?,
                        options: ONNXImporter.Options) throws -> GraphModel {
        guard ONNXImporter.irVersions.contains(proto.irVersion) else {
            throw ONNXImportError.invalidModel("IR version \(proto.irVersion) is outside the versions ConvKit reads (\(ONNXImporter.irVersions.lowerBound) to \(ONNXImporter.irVersions.upperBound))")
        }
        guard let opset = defaultOpset(proto) else {
            throw ONNXImportError.invalidModel("the model imports no opset of the default domain")
        }
        guard ONNXImporter.opsets.contains(opset) else {
            throw ONNXImportError.invalidModel("opset \(opset) is outside the opsets ConvKit reads (\(ONNXImporter.opsets.lowerBound) to \(ONNXImporter.opsets.upperBound))")
        }
        let unsupported = unsupportedNodes(proto)
        if !unsupported.isEmpty { throw ONNXImportError.unsupportedOperators(unsupported) }

        // No copy of proto.graph is kept: it would hold every initializer alive.
        let initializerNames = Set(proto.graph.initializer.map(\.name))
        let graphInputs = proto.graph.input, graphOutputs = proto.graph.output
        let inputs = graphInputs.filter { !initializerNames.contains($0.name) }
        guard inputs.count == 1 else {
            throw ONNXImportError.invalidModel(inputs.isEmpty ? "the graph has no input"
                : "ConvKit models take one input; the graph has \(inputs.count): \(inputs.map(\.name).joined(separator: ", "))")
        }
        let input = inputs[0]
        let (sample, batch) = try inputShape(input, options: options)
        guard let output = graphOutputs.first else { throw ONNXImportError.invalidModel("the graph has no output") }

        var c = try ONNXGraphConverter(opset: opset, builder: GraphBuilder(input: sample), declaredBatch: batch,
                                       graphOutputs: Set(graphOutputs.map(\.name)), nodes: proto.graph.node,
                                       directory: directory)
        // Take the initializers out of the proto so that each is released once converted.
        var initializers = proto.graph.initializer
        proto.graph.initializer = []
        for i in initializers.indices {
            let t = initializers[i]
            initializers[i] = Onnx_TensorProto()
            if t.name.isEmpty { throw ONNXImportError.invalidModel("initializer \(i) has no name") }
            if c.values[t.name] != nil { throw ONNXImportError.invalidModel("two initializers are named '\(t.name)'") }
            let k = try ONNXTensorData.constant(t, name: t.name, directory: directory)
            try c.charge(k.bytes, or: .invalidTensor(name: t.name, reason: "the initializers need more than \(ONNXTensorData.byteLimit) bytes in all (half of memory)"))
            c.values[t.name] = .constant(k)
        }
        initializers = []
        c.values[input.name] = .activation(c.builder.input, dims: sample)
        let order = try c.order(defined: Set(c.values.keys))
        for (i, n) in c.nodes.enumerated() {
            for name in n.input where !name.isEmpty { c.readers[name, default: []].append(i) }
        }
        for o in graphOutputs { c.readers[o.name, default: []].append(-1) }

        for i in order where !c.absorbed.contains(i) {
            let n = c.nodes[i]
            try ONNXOperators.table[n.opType]!(&c, n, i)
        }

        guard let result = c.values[output.name] else {
            throw ONNXImportError.invalidModel("graph output '\(output.name)' is not computed by any node")
        }
        guard case let .activation(v, dims) = result else {
            throw ONNXImportError.invalidModel("graph output '\(output.name)' is a constant; ConvKit runs models whose output depends on the input")
        }
        if v.name == ModelSpec.inputName {
            throw ONNXImportError.invalidModel("graph output '\(output.name)' is the input itself; the model computes nothing")
        }
        if let declared = staticDims(output), declared.count == dims.count + 1, Array(declared.dropFirst()) != dims.map(Optional.some) {
            throw ONNXImportError.invalidModel("graph output '\(output.name)' declares shape \(describe(declared)) but the graph computes [N, \(dims.map(String.init).joined(separator: ", "))]")
        }
        let model: GraphModel
        do {
            model = try c.builder.build(output: v, name: name)
        } catch {
            throw ONNXImportError.invalidModel("\(error)")
        }
        model.declaredOutputDimensions = dims
        return model
    }

    /// The declared dims of a value (nil entries symbolic), or nil without a shape.
    static func staticDims(_ info: Onnx_ValueInfoProto) -> [Int?]? {
        guard info.hasType, case .tensorType(let t)? = info.type.value, t.hasShape else { return nil }
        return t.shape.dim.map { d in
            if case let .dimValue(v)? = d.value, v > 0 { return Int(clamping: v) }
            return nil
        }
    }

    static func describe(_ dims: [Int?]) -> String {
        "[" + dims.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + "]"
    }

    static func inputShape(_ input: Onnx_ValueInfoProto, options: ONNXImporter.Options) throws -> (sample: [Int], batch: Int?) {
        guard input.hasType, case .tensorType(let t)? = input.type.value else {
            throw ONNXImportError.invalidModel("input '\(input.name)' is not a tensor")
        }
        if t.elemType != Int32(Onnx_TensorProto.DataType.float.rawValue) {
            throw ONNXImportError.invalidModel("input '\(input.name)' is \(ONNXTensorData.typeName(t.elemType)); ConvKit models take float32")
        }
        var dims: [Int?] = t.hasShape ? staticDims(input)! : [nil, nil, nil, nil]
        if let given = options.inputShape {
            guard given.count == 3, given.allSatisfy({ $0 > 0 }) else {
                throw ONNXImportError.invalidModel("the input shape option must be three positive sizes [C, H, W], got \(given)")
            }
            if dims.count != 4 { throw ONNXImportError.invalidModel("input '\(input.name)' has \(dims.count) dimensions; ConvKit models take [N, C, H, W]") }
            for k in 0..<3 {
                if let d = dims[k + 1], d != given[k] {
                    throw ONNXImportError.invalidModel("input '\(input.name)' dimension \(k + 1) is \(d), the input shape option says \(given[k])")
                }
                dims[k + 1] = given[k]
            }
        }
        guard dims.count == 4 else {
            throw ONNXImportError.invalidModel("input '\(input.name)' has shape \(describe(dims)); ConvKit models take [N, C, H, W]")
        }
        var sample: [Int] = []
        for k in 1..<4 {
            guard let d = dims[k] else {
                throw ONNXImportError.invalidModel("input '\(input.name)' dimension \(k) of \(describe(dims)) is symbolic; give the input shape [C, H, W] (ConvKit plans for one image size)")
            }
            sample.append(d)
        }
        return (sample, dims[0])
    }

    // MARK: Node order

    /// The node indices in an order where every node comes after the tensors it reads: the
    /// file's order where it is valid (ONNX requires it), else a stable topological sort.
    func order(defined: Set<String>) throws -> [Int] {
        var producer: [String: Int] = [:]
        for (i, n) in nodes.enumerated() {
            for o in n.output where !o.isEmpty {
                if defined.contains(o) {
                    throw ONNXImportError.invalidNode(node: Self.label(n), op: n.opType, reason: "writes '\(o)', which is the graph input or an initializer")
                }
                if let j = producer[o] {
                    throw ONNXImportError.invalidNode(node: Self.label(n), op: n.opType, reason: "writes '\(o)', which node '\(Self.label(nodes[j]))' also writes")
                }
                producer[o] = i
            }
        }
        for n in nodes {
            for name in n.input where !name.isEmpty && !defined.contains(name) && producer[name] == nil {
                throw ONNXImportError.invalidNode(node: Self.label(n), op: n.opType, reason: "reads '\(name)', which no node, initializer or input defines")
            }
        }
        // Kahn's algorithm, always taking the lowest ready index (the file's order when valid).
        var pending = [Int](repeating: 0, count: nodes.count)
        var readers = [[Int]](repeating: [], count: nodes.count)
        for (j, n) in nodes.enumerated() {
            for i in Set(n.input.filter { !$0.isEmpty && !defined.contains($0) }.compactMap({ producer[$0] })) {
                pending[j] += 1
                readers[i].append(j)
            }
        }
        let (result, unordered) = StableTopologicalOrder.order(readers: readers, pending: pending)
        if !unordered.isEmpty {
            let stuck = unordered.prefix(8).map { "'\(Self.label(nodes[$0]))'" }
            throw ONNXImportError.invalidModel("the graph has a cycle through nodes \(stuck.joined(separator: ", "))")
        }
        return result
    }

    // MARK: Helpers for the operator converters

    func fail(_ n: Onnx_NodeProto, _ reason: String) -> ONNXImportError {
        .invalidNode(node: Self.label(n), op: n.opType, reason: reason)
    }

    /// Input `k` (nil when absent or empty).
    func input(_ n: Onnx_NodeProto, _ k: Int) -> String? {
        k < n.input.count && !n.input[k].isEmpty ? n.input[k] : nil
    }

    func value(_ n: Onnx_NodeProto, _ k: Int) throws -> ONNXValue {
        guard let name = input(n, k) else { throw fail(n, "input \(k) is missing") }
        guard let v = values[name] else { throw fail(n, "reads '\(name)', which is not defined") }
        return v
    }

    /// Input `k` as a tensor computed at run time.
    func activation(_ n: Onnx_NodeProto, _ k: Int = 0) throws -> (value: GraphBuilder.Value, dims: [Int]) {
        guard case let .activation(v, dims) = try value(n, k) else {
            throw fail(n, "input \(k) '\(n.input[k])' is a constant; ConvKit needs it computed from the model input")
        }
        return (v, dims)
    }

    /// Input `k` as a 4-D tensor `[N, C, H, W]`.
    func image(_ n: Onnx_NodeProto, _ k: Int = 0) throws -> GraphBuilder.Value {
        let (v, dims) = try activation(n, k)
        if dims.count != 3 {
            throw fail(n, "input '\(n.input[k])' has shape [N, \(dims.map(String.init).joined(separator: ", "))]; this operator needs [N, C, H, W]")
        }
        return v
    }

    func constant(_ n: Onnx_NodeProto, _ k: Int) throws -> ONNXConstant {
        guard case let .constant(c) = try value(n, k) else {
            throw fail(n, "input \(k) '\(n.input[k])' must be a constant (an initializer or Constant), not computed at run time")
        }
        return c
    }

    /// Input `k` as float constants.
    func floats(_ n: Onnx_NodeProto, _ k: Int) throws -> (dims: [Int], values: [Float]) {
        switch try constant(n, k) {
        case let .floats(d, v): return (d, v)
        case let .ints(d, v):
            let ints = try v.map { e -> Float in
                guard case let .value(i) = e else { throw fail(n, "input '\(n.input[k])' holds the batch size, not a number") }
                return Float(i)
            }
            return (d, ints)
        case let .unsupported(_, type): throw fail(n, "input '\(n.input[k])' is \(type); ConvKit reads float and integer tensors")
        }
    }

    /// Input `k` as integer constants (the batch size as a symbol).
    func ints(_ n: Onnx_NodeProto, _ k: Int) throws -> (dims: [Int], values: [ONNXConstant.Dimension]) {
        switch try constant(n, k) {
        case let .ints(d, v): return (d, v)
        case .floats: throw fail(n, "input '\(n.input[k])' must be an integer tensor")
        case let .unsupported(_, type): throw fail(n, "input '\(n.input[k])' is \(type); expected an integer tensor")
        }
    }

    /// Input `k` as plain integers (no batch symbol).
    func plainInts(_ n: Onnx_NodeProto, _ k: Int) throws -> [Int] {
        try ints(n, k).values.map {
            guard case let .value(v) = $0 else { throw fail(n, "input '\(n.input[k])' holds the batch size where a number is needed") }
            return v
        }
    }

    /// A unique ConvKit node name for `n`: its name, else its first output's name.
    mutating func layerName(_ n: Onnx_NodeProto) -> String {
        for candidate in [n.name, n.output.first ?? ""] where !candidate.isEmpty && !usedLayerNames.contains(candidate) {
            usedLayerNames.insert(candidate)
            return candidate
        }
        var k = 1
        while usedLayerNames.contains("\(n.opType)_\(k)") { k += 1 }
        usedLayerNames.insert("\(n.opType)_\(k)")
        return "\(n.opType)_\(k)"
    }

    /// Builds a layer for `n` with `make`, adds it reading `inputs`, and defines output 0.
    @discardableResult
    mutating func addLayer(_ n: Onnx_NodeProto, inputs: [GraphBuilder.Value], dims: [Int]? = nil,
                           _ make: (String) throws -> any Layer) throws -> GraphBuilder.Value {
        let name = layerName(n)
        do {
            let layer = try make(name)
            let v = try builder.add(layer, inputs: inputs)
            try define(n, .activation(v, dims: dims ?? [v.shape.c, v.shape.h, v.shape.w]))
            return v
        } catch let e as ONNXImportError {
            throw e
        } catch let e as ConvError {
            throw fail(n, "\(e)")
        }
    }

    /// Counts `bytes` more of constants, refusing the import past the budget with `error`.
    mutating func charge(_ bytes: Int, or error: @autoclosure () -> ONNXImportError) throws {
        let (total, o) = constantBytes.addingReportingOverflow(bytes)
        if o || total > ONNXTensorData.byteLimit { throw error() }
        constantBytes = total
    }

    /// Counts `bytes` more of constants computed by node `n`.
    mutating func charge(_ bytes: Int, _ n: Onnx_NodeProto) throws {
        try charge(bytes, or: .invalidNode(node: Self.label(n), op: n.opType,
                                           reason: "the model's constants would need more than \(ONNXTensorData.byteLimit) bytes (half of memory)"))
    }

    /// Defines `n`'s output 0 (and checks that no other output is read). A constant computed
    /// at import is charged to the budget.
    mutating func define(_ n: Onnx_NodeProto, _ v: ONNXValue, outputs: Int = 1, charged: Bool = false) throws {
        guard let out = n.output.first, !out.isEmpty else { throw fail(n, "has no output") }
        if !charged, case let .constant(k) = v { try charge(k.bytes, n) }
        for o in n.output.dropFirst(outputs) where !o.isEmpty && readers[o] != nil {
            throw fail(n, "its output '\(o)' is read, but ConvKit computes only output 0 of \(n.opType)")
        }
        values[out] = v
    }

    /// The ConvKit sample shape `[C, H, W]` for ONNX dims after the batch.
    static func sampleShape(_ dims: [Int]) -> [Int] {
        switch dims.count {
        case 0: return [1, 1, 1]
        case 1: return [dims[0], 1, 1]
        case 2: return [dims[0], dims[1], 1]
        default: return [dims[0], dims[1], dims[2...].reduce(1, *)]
        }
    }

    /// Gives activation `x` the ONNX dims `dims` (same count): an alias when the ConvKit sample
    /// shape stays, else a Flatten or Reshape node.
    mutating func relabel(_ n: Onnx_NodeProto, _ x: GraphBuilder.Value, dims: [Int]) throws {
        let target = Self.sampleShape(dims)
        if target == [x.shape.c, x.shape.h, x.shape.w] {
            try define(n, .activation(x, dims: dims))
        } else if target[1] == 1 && target[2] == 1 {
            try addLayer(n, inputs: [x], dims: dims) { Flatten(name: $0) }
        } else {
            try addLayer(n, inputs: [x], dims: dims) { try Reshape(name: $0, sampleShape: target) }
        }
    }
}
