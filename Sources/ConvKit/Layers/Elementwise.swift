/// Element-wise arithmetic of several tensors (type names `add`, `sum`, `mul`), with an
/// optional fused activation.
///
/// Shapes: every input has the output shape `[N, C, H, W]`, or is a per-channel vector
/// `[N, C, 1, 1]` broadcast over the plane (squeeze-and-excitation's scale); at least one input
/// has the full shape. `add` and `mul` take two inputs, `sum` two or more.
///
/// In a model, an `add` of a convolution's output (that has no other reader) is fused into that
/// convolution's output stage (see ``GraphModel``); otherwise it runs here. A ReLU or clamp that
/// follows is fused into ``activation``. Each output is `act(x0 + x1 + ...)` (or the product)
/// computed in input order, so results do not depend on the thread count. NaN propagates.
/// FLOPs: one per output element and extra input.
public final class Elementwise: Layer {
    /// The operation.
    public enum Operation: String, Sendable {
        case add, sum, mul
    }

    public let name: String
    public let operation: Operation
    public var typeName: String { operation.rawValue }
    /// The activation applied to the result.
    public let activation: Activation

    public init(name: String, operation: Operation, activation: Activation = .none) {
        self.name = name
        self.operation = operation
        self.activation = activation
    }

    public var inputArity: ClosedRange<Int> { operation == .sum ? 2...Int.max : 2...2 }

    public func outputShape(for input: TensorShape) throws -> TensorShape {
        try checkInputCount(1)
        return input
    }

    public func outputShape(for inputs: [TensorShape]) throws -> TensorShape {
        try checkInputCount(inputs.count)
        guard let full = inputs.first(where: { $0.h != 1 || $0.w != 1 }) ?? inputs.first else { return inputs[0] }
        for (i, s) in inputs.enumerated() {
            let perChannel = s.n == full.n && s.c == full.c && s.h == 1 && s.w == 1
            if s != full && !perChannel {
                throw ConvError.shapeMismatch(what: "input \(i) of \(operation.rawValue) '\(name)' (expected the shape of the other input or [N, C, 1, 1])",
                                              expected: full.dims, actual: s.dims)
            }
        }
        return full
    }

    public func flops(for inputs: [TensorShape]) -> Int {
        guard let out = try? outputShape(for: inputs) else { return 0 }
        return out.count * (inputs.count - 1)
    }

    public func prepare(for input: TensorShape, context: LayerPreparationContext) throws -> any PreparedLayer {
        try prepare(for: [input], context: context)
    }

    public func prepare(for inputs: [TensorShape], context: LayerPreparationContext) throws -> any PreparedLayer {
        let out = try outputShape(for: inputs)
        var act = activation
        if let fused = context.fusedActivation { act = fused }
        return PreparedElementwise(operation: operation, activation: act, output: out,
                                   broadcast: inputs.map { $0.h == 1 && $0.w == 1 && (out.h != 1 || out.w != 1) })
    }
}

final class PreparedElementwise: MultiInputPreparedLayer {
    let operation: Elementwise.Operation
    let activation: Activation
    let output: TensorShape
    /// Per input: a per-channel vector broadcast over the plane.
    let broadcast: [Bool]

    init(operation: Elementwise.Operation, activation: Activation, output: TensorShape, broadcast: [Bool]) {
        self.operation = operation; self.activation = activation; self.output = output; self.broadcast = broadcast
    }

    var implementation: String? { "\(operation.rawValue)\(activation == .none ? "" : " + \(activation)")" }

    func forward(inputs: UnsafeBufferPointer<UnsafePointer<Float>>, output y: UnsafeMutablePointer<Float>,
                 shape: TensorShape, threads: Int) throws {
        let plane = output.h * output.w, planes = shape.n * output.c
        let mul = operation == .mul
        let act = activation
        let t = ThreadPolicy.threads(requested: threads, elements: planes * plane * (inputs.count + 1))
        broadcast.withUnsafeBufferPointer { bc in
            ParallelFor.run(items: planes, threads: t) { _, range in
                for p in range {
                    let dst = y + p * plane
                    // First input: copy (or broadcast) into the output, then combine the others.
                    if bc[0] { dst.update(repeating: inputs[0][p], count: plane) }
                    else { dst.update(from: inputs[0] + p * plane, count: plane) }
                    for i in 1..<inputs.count {
                        if bc[i] {
                            let v = inputs[i][p]
                            if mul { for j in 0..<plane { dst[j] *= v } } else { for j in 0..<plane { dst[j] += v } }
                        } else {
                            let src = inputs[i] + p * plane
                            if mul { for j in 0..<plane { dst[j] *= src[j] } } else { for j in 0..<plane { dst[j] += src[j] } }
                        }
                    }
                    if act != .none { for j in 0..<plane { dst[j] = act.apply(dst[j]) } }
                }
            }
        }
    }
}

/// Concatenation along channels (type name `concat`): inputs `[N, C_i, H, W]` give
/// `[N, sum C_i, H, W]`, in input order.
///
/// In a model, an input whose producer has no other reader is written by that producer
/// straight into its channel slice of the output (no copy; `summary` lists them); the others
/// are copied here. FLOPs: 0.
public final class Concat: Layer {
    public let name: String
    public var typeName: String { "concat" }

    public init(name: String) { self.name = name }

    public var inputArity: ClosedRange<Int> { 1...Int.max }

    public func outputShape(for input: TensorShape) throws -> TensorShape { input }

    public func outputShape(for inputs: [TensorShape]) throws -> TensorShape {
        try checkInputCount(inputs.count)
        let first = inputs[0]
        var c = 0
        for (i, s) in inputs.enumerated() {
            if s.n != first.n || s.h != first.h || s.w != first.w {
                throw ConvError.shapeMismatch(what: "input \(i) of concat '\(name)' (N, H, W must match input 0)",
                                              expected: [first.n, s.c, first.h, first.w], actual: s.dims)
            }
            c += s.c
        }
        return TensorShape(n: first.n, c: c, h: first.h, w: first.w)
    }

    public func prepare(for input: TensorShape, context: LayerPreparationContext) throws -> any PreparedLayer {
        try prepare(for: [input], context: context)
    }

    public func prepare(for inputs: [TensorShape], context: LayerPreparationContext) throws -> any PreparedLayer {
        let out = try outputShape(for: inputs)
        let inPlace = context.inputsInPlace.count == inputs.count ? context.inputsInPlace : Array(repeating: false, count: inputs.count)
        return PreparedConcat(channels: inputs.map(\.c), plane: out.h * out.w, inPlace: inPlace)
    }
}

final class PreparedConcat: MultiInputPreparedLayer {
    let channels: [Int]
    let plane: Int
    let inPlace: [Bool]
    init(channels: [Int], plane: Int, inPlace: [Bool]) { self.channels = channels; self.plane = plane; self.inPlace = inPlace }

    var implementation: String? {
        let n = inPlace.filter { $0 }.count
        return n == inPlace.count ? "in place (no copy)" : "copy \(inPlace.count - n) of \(inPlace.count) inputs"
    }

    func forward(inputs: UnsafeBufferPointer<UnsafePointer<Float>>, output: UnsafeMutablePointer<Float>,
                 shape: TensorShape, threads: Int) throws {
        let total = channels.reduce(0, +) * plane
        var offset = 0
        for (i, c) in channels.enumerated() {
            let size = c * plane
            if !inPlace[i] {
                for n in 0..<shape.n { (output + n * total + offset).update(from: inputs[i] + n * size, count: size) }
            }
            offset += size
        }
    }
}
