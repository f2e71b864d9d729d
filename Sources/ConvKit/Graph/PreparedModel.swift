import Foundation

/// A ``GraphModel`` prepared for batches of up to ``maxBatch`` samples.
///
/// A run reads the caller's NCHW input, runs every node that was not fused away in order, and
/// writes the first output into the caller's output buffer. Intermediate tensors live in one
/// arena planned by tensor lifetime (``activationBytes``): tensors whose lifetimes do not overlap
/// share memory, Flatten, Dropout and Identity alias their input, a fused residual addition
/// writes in place over its residual, and a node feeding a Concat writes straight into its
/// channel slice.
///
/// Batches: a run may have any batch from 1 to ``maxBatch``. A node writing a channel slice of a
/// concat (whose samples are not contiguous) runs sample by sample when the batch is above 1;
/// a convolution prepared for a larger batch runs a smaller one sample by sample on its batch-1
/// preparation (same backend). Re-prepare for a larger batch.
///
/// Allocation and threading: runs allocate nothing in the steady state. Each run takes an arena
/// from a small pool guarded by a lock and gives it back; the pool starts with one arena, so
/// concurrent runs (from several threads, on different buffers) are safe and a new arena is
/// allocated only the first time runs overlap. Each run uses ``threads`` worker threads (or its
/// own `threads` argument) inside each node. Results are bit-identical for any thread count
/// except on the `onednn` backend.
public final class PreparedModel: @unchecked Sendable {
    struct Step {
        let layer: any PreparedLayer
        let index: Int
        let name: String
        let typeName: String
        /// The first input's sample shape.
        let sampleInput: TensorShape
        let inputs: [MemoryPlan.Placement]
        let output: MemoryPlan.Placement
        /// Inputs or output not contiguous across samples: run sample by sample.
        let strided: Bool
        let flopsPerSample: Int
    }

    /// One arena and the pointer table of a run.
    final class Arena {
        let buffer: AlignedBuffer?
        let pointers: UnsafeMutablePointer<UnsafePointer<Float>>
        let capacity: Int
        init(count: Int, pointers: Int) {
            buffer = count > 0 ? AlignedBuffer(count: count) : nil
            capacity = Swift.max(pointers, 1)
            self.pointers = .allocate(capacity: capacity)
        }
        deinit { pointers.deallocate() }
    }

    /// The model's name.
    public let name: String
    /// The largest batch a run may have.
    public let maxBatch: Int
    /// Worker threads per run by default.
    public let threads: Int
    /// The shape of one input sample `[1, C, H, W]`.
    public let inputShape: TensorShape
    /// The shape of one output sample (`[1, classes, 1, 1]` for a classifier).
    public let outputShape: TensorShape
    /// How each node runs (backends, fusions), for ``maxBatch``.
    public let plans: [LayerPlan]
    let steps: [Step]
    private let memory: MemoryPlan
    private let pointerCount: Int
    private let lock = NSLock()
    private var freeArenas: [Arena]

    init(name: String, maxBatch: Int, threads: Int, inputShape: TensorShape, outputShape: TensorShape,
         plans: [LayerPlan], steps: [Step], memory: MemoryPlan) {
        self.name = name
        self.maxBatch = maxBatch
        self.threads = threads
        self.inputShape = inputShape
        self.outputShape = outputShape
        self.plans = plans
        self.steps = steps
        self.memory = memory
        pointerCount = steps.reduce(0) { $0 + 2 * $1.inputs.count }
        freeArenas = [Arena(count: memory.arenaCount, pointers: pointerCount)]
    }

    /// The backend running each convolution, by node name.
    public var backends: [String: String] {
        var r: [String: String] = [:]
        for p in plans { if let b = p.backend, p.fusedInto == nil { r[p.name] = b } }
        return r
    }

    /// Floats per input sample (`C*H*W`).
    public var inputSampleCount: Int { inputShape.count }
    /// Floats per output sample.
    public var outputSampleCount: Int { outputShape.count }
    /// Bytes of activation memory one run uses (its arena), for ``maxBatch``.
    public var activationBytes: Int { memory.arenaCount * MemoryLayout<Float>.stride }
    /// The number of nodes a run executes (after fusion).
    public var stepCount: Int { steps.count }

    /// Runs `batch` samples (default ``maxBatch``).
    /// - Parameters:
    ///   - input: at least `batch * inputSampleCount` floats, NCHW.
    ///   - output: at least `batch * outputSampleCount` floats; must not overlap `input`.
    ///   - threads: worker threads for this run (default ``threads``).
    /// - Throws: ``ConvError`` for a batch outside `1...maxBatch`, a buffer too small,
    ///   overlapping buffers or `threads < 1`, before anything is written; a node's failure
    ///   (naming the node).
    public func run(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
                    batch: Int? = nil, threads: Int? = nil) throws {
        try run(input: input, output: output, batch: batch, threads: threads, timings: nil)
    }

    func run(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
             batch: Int?, threads: Int?, timings: UnsafeMutablePointer<UInt64>?) throws {
        let n = batch ?? maxBatch
        if n < 1 { throw ConvError.nonPositive(parameter: "batch", value: n) }
        if n > maxBatch {
            throw ConvError.invalidArgument("batch \(n) is larger than the prepared batch \(maxBatch); prepare the model for it")
        }
        let t = threads ?? self.threads
        if t < 1 { throw ConvError.nonPositive(parameter: "threads", value: t) }
        let inCount = n * inputSampleCount, outCount = n * outputSampleCount
        if input.count < inCount { throw ConvError.bufferTooSmall(what: "input", required: inCount, actual: input.count) }
        if output.count < outCount { throw ConvError.bufferTooSmall(what: "output", required: outCount, actual: output.count) }
        guard let x = input.baseAddress, let y = output.baseAddress else { return }
        let a = UnsafeRawPointer(x), b = UnsafeRawPointer(y)
        if a < b + outCount * 4 && b < a + inCount * 4 { throw ConvError.overlappingBuffers }
        let arena = takeArena()
        defer { giveArena(arena) }
        let base = arena.buffer?.base
        func pointer(_ p: MemoryPlan.Placement) -> UnsafeMutablePointer<Float> {
            switch p.base {
            case .input: return UnsafeMutablePointer(mutating: x) + p.offset
            case .output: return y + p.offset
            case let .arena(o): return base! + o + p.offset
            }
        }
        // One fan-out for the whole run: every node's ParallelFor calls are phases of this team.
        try WorkerTeam.region(threads: t) { () throws -> Void in
            try runSteps(batch: n, threads: t, arena: arena, pointer: pointer, timings: timings)
        }
        if let (from, count) = memory.outputCopy {
            let src = pointer(from)
            for s in 0..<n { (y + s * count).update(from: src + s * from.sampleStride, count: count) }
        }
    }

    private func runSteps(batch n: Int, threads t: Int, arena: Arena,
                          pointer: (MemoryPlan.Placement) -> UnsafeMutablePointer<Float>,
                          timings: UnsafeMutablePointer<UInt64>?) throws {
        var slot = 0
        for step in steps {
            let inputs = arena.pointers + slot
            for (k, p) in step.inputs.enumerated() { inputs[k] = UnsafePointer(pointer(p)) }
            let out = pointer(step.output)
            let start = timings != nil ? DispatchTime.now().uptimeNanoseconds : 0
            do {
                if step.strided && n > 1 {
                    // Sample by sample: each input and the output at its own sample stride.
                    let sample = arena.pointers + slot + step.inputs.count
                    var shape = step.sampleInput
                    shape.n = 1
                    for s in 0..<n {
                        for k in 0..<step.inputs.count { sample[k] = inputs[k] + s * step.inputs[k].sampleStride }
                        try step.layer.forward(inputs: UnsafeBufferPointer(start: sample, count: step.inputs.count),
                                               output: out + s * step.output.sampleStride, shape: shape, threads: t)
                    }
                } else {
                    var shape = step.sampleInput
                    shape.n = n
                    try step.layer.forward(inputs: UnsafeBufferPointer(start: inputs, count: step.inputs.count),
                                           output: out, shape: shape, threads: t)
                }
            } catch let e as ConvError {
                throw ConvError.invalidArgument("node \(step.index) '\(step.name)' (\(step.typeName)): \(e)")
            }
            if let timings { timings[step.index] &+= DispatchTime.now().uptimeNanoseconds - start }
            slot += 2 * step.inputs.count
        }
    }

    /// Runs `input` (`[N, C, H, W]` with `N <= maxBatch`) and returns the output `[N, ...]`.
    /// - Throws: ``ConvError/shapeMismatch(what:expected:actual:)`` for a wrong sample shape,
    ///   and what ``run(input:output:batch:threads:)`` throws.
    public func run(_ input: Tensor, threads: Int? = nil) throws -> Tensor {
        let s = input.shape
        if s.c != inputShape.c || s.h != inputShape.h || s.w != inputShape.w {
            throw ConvError.shapeMismatch(what: "model input", expected: [s.n, inputShape.c, inputShape.h, inputShape.w],
                                          actual: s.dims)
        }
        var out = try Tensor(shape: TensorShape(n: s.n, c: outputShape.c, h: outputShape.h, w: outputShape.w))
        try input.withUnsafeBufferPointer { x in
            try out.withUnsafeMutableBufferPointer { y in try run(input: x, output: y, batch: s.n, threads: threads) }
        }
        return out
    }

    /// One node's share of a profiled run.
    public struct NodeTiming: Sendable {
        public var index: Int
        public var name: String
        public var typeName: String
        /// The backend and kernel (convolutions), or the node's own implementation.
        public var backend: String?
        public var implementation: String?
        /// What was fused into it.
        public var fusion: String
        /// Median seconds per run.
        public var seconds: Double
        /// FLOPs per run.
        public var flops: Int
    }

    /// Runs `runs` times and returns each executed node's median time (allocates; not for the
    /// steady state). Timing adds a clock read per node.
    public func profile(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
                        batch: Int? = nil, threads: Int? = nil, runs: Int = 10) throws -> [NodeTiming] {
        let n = batch ?? maxBatch
        var samples = [[UInt64]](repeating: [], count: plans.count)
        let timings = UnsafeMutablePointer<UInt64>.allocate(capacity: plans.count)
        defer { timings.deallocate() }
        for _ in 0..<Swift.max(runs, 1) {
            timings.initialize(repeating: 0, count: plans.count)
            try run(input: input, output: output, batch: n, threads: threads, timings: timings)
            for s in steps { samples[s.index].append(timings[s.index]) }
        }
        return steps.map { s in
            let sorted = samples[s.index].sorted()
            let p = plans[s.index]
            return NodeTiming(index: s.index, name: s.name, typeName: s.typeName, backend: p.backend,
                              implementation: s.layer.implementation, fusion: p.fusionText,
                              seconds: Double(sorted[sorted.count / 2]) / 1e9, flops: s.flopsPerSample * n)
        }
    }

    private func takeArena() -> Arena {
        lock.lock()
        let a = freeArenas.popLast()
        lock.unlock()
        return a ?? Arena(count: memory.arenaCount, pointers: pointerCount)
    }

    private func giveArena(_ a: Arena) {
        lock.lock()
        freeArenas.append(a)
        lock.unlock()
    }
}

extension GraphModel {
    /// Prepares the model to run batches of up to `batch` samples.
    ///
    /// Plans the fusions (``plan(batch:backend:overrides:registry:)``), prepares every node that
    /// runs (convolutions on their backend: `backend`, or `overrides[nodeName]`; `auto` picks
    /// per layer; a backend that cannot run a layer falls back to `direct`, see ``LayerPlan``),
    /// and plans the activation memory by tensor lifetime.
    ///
    /// - Parameters:
    ///   - batch: the largest batch a run may have (runs of fewer samples are allowed).
    ///   - backend: a name from `registry` (`direct`, `winograd`, `onednn`, `reference`, `auto`).
    ///   - threads: worker threads per run (nil: ``ConvKit/defaultThreadCount``).
    ///   - overrides: backend names for individual convolution nodes, by name.
    /// - Throws: ``ConvError`` naming the node: a shape that does not fit, unset weights, an
    ///   unknown backend, a preparation failure.
    public func prepare(batch: Int = 1, backend: String = AutoBackend.autoName, threads: Int? = nil,
                        overrides: [String: String] = [:], registry: BackendRegistry = .shared) throws -> PreparedModel {
        let t = threads ?? ConvKit.defaultThreadCount
        if t < 1 { throw ConvError.nonPositive(parameter: "threads", value: t) }
        var physical = try physicalPlan(batch: batch, backend: backend, overrides: overrides, registry: registry)
        // Refuse activations that cannot fit before packing anything: every tensor is checked
        // for overflow and must fit in half of physical memory, and so must the planned arena.
        let limit = ProcessInfo.processInfo.physicalMemory / 2
        func refuse(_ what: String) -> ConvError {
            ConvError.sizeOverflow(what: what, limit: "more than half of the \(ProcessInfo.processInfo.physicalMemory) bytes of memory")
        }
        for (i, p) in physical.plans.enumerated() {
            let s = TensorShape(n: batch, c: p.outputShape.c, h: p.outputShape.h, w: p.outputShape.w)
            try Self.inNode(i, nodes[i].layer) { try s.validate() }
            if UInt64(s.count) > limit / 4 { throw refuse("layer \(i) '\(p.name)': output \(s) of \(s.count * 4) bytes") }
        }
        // Layers other than convolutions (a plugin layer that runs its own convolutions, say)
        // get the backend the model was prepared with.
        let modelBackend = try registry.backend(named: backend)
        let memory = memoryPlan(physical, batch: batch)
        if UInt64(memory.arenaCount) > limit / 4 {
            throw refuse("activation memory of \(memory.arenaCount * 4) bytes for batch \(batch)")
        }
        var prepared: [Int: any PreparedLayer] = [:]
        for i in physical.steps {
            let p = physical.plans[i]
            let node = nodes[i]
            var context = LayerPreparationContext(
                backend: p.resolvedBackend ?? modelBackend,
                foldedBatchNorm: p.foldedNode.flatMap { nodes[$0].layer as? BatchNorm2D },
                fusedActivation: p.fusedActivation,
                accumulatesIntoOutput: p.fusedAdd != nil)
            if node.layer is Concat {
                context.inputsInPlace = node.inputs.map { t in physical.plans.contains { $0.outputTensor == t && $0.writesIntoConcat == node.name } }
            }
            let shapes = inputShapes[i].map { TensorShape(n: batch, c: $0.c, h: $0.h, w: $0.w) }
            let layer = try Self.inNode(i, node.layer) { try node.layer.prepare(for: shapes, context: context) }
            if let b = layer.backendName { physical.plans[i].backend = b }
            prepared[i] = layer
        }
        var steps: [PreparedModel.Step] = []
        for i in physical.steps where !physical.aliasesInput[i] {
            let p = physical.plans[i]
            let inputs = p.inputs.map { memory.placements[$0]! }
            let counts = inputShapes[i].map(\.count)
            let out = memory.placements[p.outputTensor]!
            let outCount = outputShapes[i].count
            let strided = out.sampleStride != outCount || zip(inputs, counts).contains { $0.sampleStride != $1 }
            steps.append(.init(layer: prepared[i]!, index: i, name: p.name, typeName: p.typeName,
                               sampleInput: inputShapes[i][0], inputs: inputs,
                               output: out, strided: strided,
                               flopsPerSample: p.flops / batch))
        }
        return PreparedModel(name: name, maxBatch: batch, threads: t, inputShape: inputShape, outputShape: outputShape,
                             plans: physical.plans, steps: steps, memory: memory)
    }

    /// A Keras-style summary for `batch` (see ``ModelSummary``).
    public func summary(batch: Int = 1, backend: String = AutoBackend.autoName, overrides: [String: String] = [:],
                        registry: BackendRegistry = .shared) throws -> ModelSummary {
        let physical = try physicalPlan(batch: batch, backend: backend, overrides: overrides, registry: registry)
        return ModelSummary(model: name, inputShape: TensorShape(n: batch, c: inputShape.c, h: inputShape.h, w: inputShape.w),
                            backend: backend, layers: physical.plans,
                            activationBytes: memoryPlan(physical, batch: batch).arenaCount * 4,
                            isChain: nodes.enumerated().allSatisfy { i, n in n.inputs == [i == 0 ? inputName : nodes[i - 1].name] })
    }
}
