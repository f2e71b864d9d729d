/// How one node of a model runs (see ``GraphModel/plan(batch:backend:overrides:registry:)``).
public struct LayerPlan: @unchecked Sendable {
    /// Position in the model's node order.
    public var index: Int
    public var name: String
    public var typeName: String
    /// The tensors it reads.
    public var inputs: [String] = []
    /// Input (the first input's) and output shapes for the planned batch.
    public var inputShape: TensorShape
    public var outputShape: TensorShape
    public var parameterCount: Int
    /// FLOPs for the planned batch.
    public var flops: Int
    /// Receptive field (height, width) of one output value on the model's input: the largest
    /// over the paths from the input (``ReceptiveField/of(_:)`` along each path).
    public var receptiveField: (height: Int, width: Int)
    /// The node this one is folded or fused into (a BatchNorm, ReLU/clip or residual Add after a
    /// convolution; a ReLU after an fc layer or an Add), or nil.
    public var fusedInto: String? = nil
    /// The activation fused into this node from a following ReLU or clip.
    public var fusedActivation: Activation? = nil
    /// True when the following BatchNorm2D is folded into this convolution.
    public var foldsBatchNorm = false
    /// The residual Add fused into this convolution's output stage, and the tensor it adds.
    public var fusedAdd: String? = nil
    public var residual: String? = nil
    /// The Concat whose channel slice this node writes directly (no copy), or nil.
    public var writesIntoConcat: String? = nil
    /// The tensor this node's physical output is called by (the last node fused into it).
    public var outputTensor: String
    /// The backend asked for (convolutions only).
    public var requestedBackend: String? = nil
    /// The backend that runs it (convolutions only).
    public var backend: String? = nil
    /// Why the requested backend was replaced by `direct`, or nil.
    public var fallbackReason: String? = nil
    var resolvedBackend: (any ConvBackend)? = nil
    /// The BatchNorm2D node folded into this convolution.
    var foldedNode: Int? = nil

    /// What was fused into this node, as summary text (`bn1 folded, relu fused, + add1 (residual x)`).
    public var fusionText: String {
        var parts: [String] = []
        if foldsBatchNorm { parts.append("BN folded") }
        if let a = fusedAdd { parts.append("+ \(a) (residual \(residual ?? "?"))") }
        if let act = fusedActivation, act != .none { parts.append("\(act == .relu6 ? "relu6" : act.description) fused") }
        if let c = writesIntoConcat { parts.append("writes into \(c)") }
        return parts.joined(separator: ", ")
    }
}

/// Where each tensor of a prepared model lives: one arena of activation memory, reused by
/// tensors whose lifetimes do not overlap.
struct MemoryPlan {
    enum Base: Equatable {
        /// The caller's input buffer.
        case input
        /// The caller's output buffer.
        case output
        /// The arena, at this offset in floats.
        case arena(Int)
    }
    struct Placement {
        var base: Base
        /// Offset from the base in floats (a channel slice of a concat).
        var offset: Int
        /// Floats from one sample to the next.
        var sampleStride: Int
    }
    /// By tensor name.
    var placements: [String: Placement]
    /// Arena floats for the planned batch.
    var arenaCount: Int
    /// Whether the output must be copied from the arena at the end of a run.
    var outputCopy: (from: Placement, count: Int)?
}

extension GraphModel {
    /// Physical tensors: those a step writes (not folded away).
    struct Physical {
        var plans: [LayerPlan]
        /// Indices of nodes that run (not fused into another).
        var steps: [Int]
        /// Per node: whether the output aliases the (first) input's memory.
        var aliasesInput: [Bool]
    }

    /// How each node will run for `batch` and `backend`, without preparing anything: output
    /// shapes, parameters, FLOPs, receptive fields, fusions, the backend of each convolution.
    ///
    /// Fusions, in node order, for a convolution whose output has exactly one reader and is not a
    /// model output: a following BatchNorm2D is folded (when the convolution has no
    /// activation); then a following `add` of two tensors is fused into the convolution's output
    /// stage (when the other tensor, the residual, is written before the convolution runs, is
    /// read by nothing that runs later, and is neither the model's input nor a model output):
    /// the convolution writes in place over the residual, adding to it (see
    /// ``Conv2DDescriptor/accumulate``); then a following ReLU or clip becomes the
    /// convolution's activation. A ReLU or clip after an fc layer or an unfused `add` is fused
    /// too. A node whose only reader is a Concat (and that is not a model output) writes its
    /// channel slice of the concat's output directly.
    /// - Throws: ``ConvError`` naming the node for an unknown backend or override.
    public func plan(batch: Int = 1, backend: String = AutoBackend.autoName, overrides: [String: String] = [:],
                     registry: BackendRegistry = .shared) throws -> [LayerPlan] {
        try physicalPlan(batch: batch, backend: backend, overrides: overrides, registry: registry).plans
    }

    func physicalPlan(batch: Int, backend: String, overrides: [String: String], registry: BackendRegistry) throws -> Physical {
        if batch < 1 { throw ConvError.nonPositive(parameter: "batch", value: batch) }
        for name in overrides.keys.sorted() {
            guard let l = layer(named: name) else { throw ConvError.invalidArgument("override for unknown layer '\(name)'") }
            if !(l is Conv2D) { throw ConvError.invalidArgument("override for layer '\(name)', which is not a convolution") }
        }
        _ = try registry.backend(named: backend)
        let count = nodes.count
        var readers: [String: [Int]] = [:]
        for (i, n) in nodes.enumerated() { for t in n.inputs { readers[t, default: []].append(i) } }
        let outputs = Set(outputNames)
        func soleReader(_ t: String) -> Int? {
            guard !outputs.contains(t), let r = readers[t], r.count == 1 else { return nil }
            return r[0]
        }
        func withBatch(_ s: TensorShape) -> TensorShape { TensorShape(n: batch, c: s.c, h: s.h, w: s.w) }

        // Receptive fields per tensor: (size, jump) along each axis, the largest over inputs.
        var rf: [String: (h: (Int, Int), w: (Int, Int))] = [inputName: ((1, 1), (1, 1))]
        var plans: [LayerPlan] = []
        for (i, node) in nodes.enumerated() {
            let layer = node.layer
            var (h, w) = node.inputs.map { rf[$0]! }.max { $0.h.0 + $0.w.0 < $1.h.0 + $1.w.0 }!
            if let f = layer.receptiveField(for: inputShapes[i][0]) {
                h = (h.0 + (f.height.kernel - 1) * f.height.dilation * h.1, h.1 * f.height.stride)
                w = (w.0 + (f.width.kernel - 1) * f.width.dilation * w.1, w.1 * f.width.stride)
            }
            rf[node.name] = (h, w)
            plans.append(LayerPlan(index: i, name: node.name, typeName: layer.typeName, inputs: node.inputs,
                                   inputShape: withBatch(inputShapes[i][0]), outputShape: withBatch(outputShapes[i]),
                                   parameterCount: layer.parameterCount,
                                   flops: layer.flops(for: inputShapes[i].map(withBatch)),
                                   receptiveField: (h.0, w.0), outputTensor: node.name))
        }
        /// The node that physically writes each tensor (a fused chain's head).
        var writer: [String: Int] = [inputName: -1]
        for i in 0..<count { writer[nodes[i].name] = i }
        var aliases = nodes.map { $0.layer.outputAliasesInput }

        for i in 0..<count where plans[i].fusedInto == nil {
            let layer = nodes[i].layer
            if let conv = layer as? Conv2D {
                var cur = nodes[i].name
                var activation = conv.activation
                var d = conv.descriptor(for: plans[i].inputShape)
                if activation == .none, let j = soleReader(cur), nodes[j].layer is BatchNorm2D {
                    plans[j].fusedInto = conv.name
                    plans[i].foldsBatchNorm = true
                    plans[i].foldedNode = j
                    d.hasBias = true
                    cur = nodes[j].name
                }
                if activation == .none, let j = soleReader(cur), let add = nodes[j].layer as? Elementwise,
                   add.operation == .add, nodes[j].inputs.count == 2, plans[j].fusedInto == nil {
                    let other = nodes[j].inputs[0] == cur ? nodes[j].inputs[1] : nodes[j].inputs[0]
                    if other != cur, other != inputName, !outputs.contains(other), let p = writer[other], p >= 0, p < i,
                       !aliases[p], plans[p].writesIntoConcat == nil,
                       readers[other, default: []].allSatisfy({ $0 == j || ($0 < i && !aliases[$0]) }) {
                        plans[j].fusedInto = conv.name
                        plans[i].fusedAdd = nodes[j].name
                        plans[i].residual = other
                        cur = nodes[j].name
                        if add.activation != .none { activation = add.activation }
                    }
                }
                if activation == .none, let j = soleReader(cur), let act = Self.fusableActivation(nodes[j].layer) {
                    plans[j].fusedInto = conv.name
                    activation = act
                    cur = nodes[j].name
                }
                if activation != conv.activation { plans[i].fusedActivation = activation }
                d.activation = activation
                d.accumulate = plans[i].fusedAdd != nil
                plans[i].outputTensor = cur
                writer[cur] = i
                let requested = overrides[conv.name] ?? backend
                let (chosen, reason) = try Self.inNode(i, layer) { try Self.resolveBackend(requested, for: d, registry: registry) }
                plans[i].requestedBackend = requested
                plans[i].backend = chosen.name
                plans[i].fallbackReason = reason
                plans[i].resolvedBackend = chosen
            } else if (layer as? Linear)?.activation == Activation.none || (layer as? Elementwise)?.activation == Activation.none,
                      let j = soleReader(nodes[i].name), let act = Self.fusableActivation(nodes[j].layer) {
                // An fc layer or an unfused add applies a following ReLU or clip in its output.
                plans[j].fusedInto = layer.name
                plans[i].fusedActivation = act
                plans[i].outputTensor = nodes[j].name
                writer[nodes[j].name] = i
            }
        }
        // Physical readers: a fused chain's intermediate tensors have no readers left.
        let steps = (0..<count).filter { plans[$0].fusedInto == nil }
        // Concat slices: a producer whose output has the concat as its only reader.
        for k in steps where nodes[k].layer is Concat {
            for t in nodes[k].inputs {
                guard let p = writer[t], p >= 0, soleReader(t) == k, !aliases[p], plans[p].fusedAdd == nil,
                      plans[p].writesIntoConcat == nil,
                      // A tensor that is itself a residual written over in place stays where it is.
                      !plans.contains(where: { $0.residual == t }) else { continue }
                plans[p].writesIntoConcat = nodes[k].name
            }
        }
        for i in 0..<count where aliases[i] && plans[i].fusedInto != nil { aliases[i] = false }
        return Physical(plans: plans, steps: steps, aliasesInput: aliases)
    }

    /// The activation a layer is, when it can be fused into the output stage before it.
    static func fusableActivation(_ layer: any Layer) -> Activation? {
        if layer is ReLU { return .relu }
        if let p = layer as? Pointwise { return p.activation }
        return nil
    }

    /// The backend that runs `d` when `requested` is asked for: `auto` picks per descriptor; a
    /// backend that is unavailable or cannot run `d` falls back to `direct` (with the reason).
    static func resolveBackend(_ requested: String, for d: Conv2DDescriptor, registry: BackendRegistry) throws
        -> (any ConvBackend, String?)
    {
        let b = try registry.backend(named: requested)
        var plain = d
        plain.accumulate = false
        if let auto = b as? AutoBackend { return (try auto.choose(for: plain), nil) }
        var reason: String? = nil
        if case let .unavailable(r) = b.availability { reason = "\(requested) unavailable: \(r)" }
        else if case let .unsupported(r) = b.support(for: plain) { reason = "\(requested): \(r)" }
        guard let reason else { return (b, nil) }
        let direct = try registry.backend(named: "direct")
        return (direct, reason)
    }

    /// Places every physical tensor of `physical` for `batch` samples.
    func memoryPlan(_ physical: Physical, batch: Int) -> MemoryPlan {
        let plans = physical.plans
        var sampleCount: [String: Int] = [:]
        for i in physical.steps {
            let o = plans[i].outputShape
            sampleCount[plans[i].outputTensor] = o.c * o.h * o.w
        }
        // Storage roots: a tensor is its own root, or an alias of its input (pass-through), of
        // its residual (in-place accumulation) or of a concat's output (a channel slice).
        var root: [String: (String, Int, Int?)] = [:]  // tensor -> (root tensor, offset, sample stride override)
        func resolve(_ t: String) -> (String, Int, Int?) {
            guard let r = root[t] else { return (t, 0, nil) }
            let (base, off, stride) = resolve(r.0)
            return (base, off + r.1, r.2 ?? stride)
        }
        for i in physical.steps {
            let p = plans[i], t = p.outputTensor
            if physical.aliasesInput[i] { root[t] = (p.inputs[0], 0, nil) }
            else if let r = p.residual { root[t] = (r, 0, nil) }
        }
        for k in physical.steps where nodes[k].layer is Concat {
            var offset = 0
            let out = plans[k].outputShape, total = out.c * out.h * out.w
            for (j, t) in nodes[k].inputs.enumerated() {
                let c = inputShapes[k][j].c
                if let w = plans.first(where: { $0.outputTensor == t && $0.writesIntoConcat == nodes[k].name }), w.fusedInto == nil {
                    root[t] = (plans[k].outputTensor, offset, total)
                }
                offset += c * out.h * out.w
            }
        }
        // Lifetimes of the roots, in step positions.
        var first: [String: Int] = [:], last: [String: Int] = [:]
        func touch(_ t: String, _ s: Int) {
            let r = resolve(t).0
            first[r] = Swift.min(first[r] ?? s, s)
            last[r] = Swift.max(last[r] ?? s, s)
        }
        for (s, i) in physical.steps.enumerated() {
            touch(plans[i].outputTensor, s)
            for t in plans[i].inputs { touch(t, s) }
            if let r = plans[i].residual { touch(r, s) }
        }
        let outputRoot = resolve(outputNames[0]).0
        let outputIsSlice = resolve(outputNames[0]).2 != nil || resolve(outputNames[0]).1 != 0
        // Greedy placement, largest first, at the lowest offset free for the whole lifetime.
        var placed: [(root: String, offset: Int, size: Int)] = []
        let roots = Set(first.keys).subtracting([inputName]).filter { outputIsSlice || $0 != outputRoot }
        let sorted = roots.sorted { (sampleCount[$0] ?? 0, $1) > (sampleCount[$1] ?? 0, $0) }
        var arena = 0
        for r in sorted {
            let size = ((sampleCount[r] ?? 0) * batch + 15) / 16 * 16
            var offset = 0
            let conflicts = placed.filter { p in first[p.root]! <= last[r]! && first[r]! <= last[p.root]! }
                .sorted { $0.offset < $1.offset }
            for c in conflicts where offset + size > c.offset && c.offset + c.size > offset {
                offset = c.offset + c.size
            }
            placed.append((r, offset, size))
            arena = Swift.max(arena, offset + size)
        }
        var rootBase: [String: MemoryPlan.Base] = [inputName: .input]
        for p in placed { rootBase[p.root] = .arena(p.offset) }
        if !outputIsSlice && outputRoot != inputName { rootBase[outputRoot] = .output }
        var placements: [String: MemoryPlan.Placement] = [:]
        for t in Array(sampleCount.keys) + [inputName] {
            let (r, off, stride) = resolve(t)
            let base = rootBase[r] ?? .arena(0)
            let own = t == inputName ? inputShape.count : sampleCount[t]!
            placements[t] = .init(base: base, offset: off, sampleStride: stride ?? (r == inputName ? inputShape.count : (sampleCount[r] ?? own)))
        }
        var copy: (MemoryPlan.Placement, Int)? = nil
        if outputIsSlice || outputRoot == inputName {
            copy = (placements[outputNames[0]]!, outputShape.count)
        }
        return MemoryPlan(placements: placements, arenaCount: arena, outputCopy: copy.map { (from: $0.0, count: $0.1) })
    }

    /// Peak activation memory in bytes of a run of `batch` samples (the arena; input and output
    /// buffers are the caller's).
    public func activationBytes(batch: Int = 1, backend: String = AutoBackend.autoName,
                                registry: BackendRegistry = .shared) throws -> Int {
        let physical = try physicalPlan(batch: batch, backend: backend, overrides: [:], registry: registry)
        return memoryPlan(physical, batch: batch).arenaCount * 4
    }
}
