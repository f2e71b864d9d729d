import Foundation
import ConvKit

/// A float64 evaluation of a ``GraphModel``, node by node, written from the layers'
/// definitions (PyTorch/ONNX semantics) and sharing no code with ConvKit's kernels or its
/// graph runner (no fusion, no memory planning): the oracle of the graph tests.
struct GraphOracle {
    struct T {
        var shape: TensorShape
        var v: [Double]
    }

    /// Every tensor of `model` for the batch `x` (`[n, C, H, W]` flattened).
    static func evaluate(_ model: GraphModel, input x: [Float], batch n: Int) throws -> [String: T] {
        var env: [String: T] = [:]
        let s = model.inputShape
        env[model.inputName] = T(shape: TensorShape(n: n, c: s.c, h: s.h, w: s.w), v: x.map(Double.init))
        for node in model.nodes {
            let ins = node.inputs.map { env[$0]! }
            env[node.name] = try apply(node.layer, ins)
        }
        return env
    }

    static func act(_ a: Activation, _ x: Double) -> Double {
        switch a {
        case .none: return x
        case .relu: return x.isNaN ? x : Swift.max(x, 0)
        case let .clamp(lo, hi): return x.isNaN ? x : Swift.min(Swift.max(x, Double(lo)), Double(hi))
        }
    }

    static func params(_ l: any Layer, _ name: String) -> [Double] { l.parameterValues(named: name)!.map(Double.init) }

    static func apply(_ layer: any Layer, _ ins: [T]) throws -> T {
        let x = ins[0], s = x.shape
        switch layer {
        case let c as Conv2D:
            let d = c.descriptor(for: s)
            let w = params(c, "weight"), b = c.hasBias ? params(c, "bias") : [Double](repeating: 0, count: c.filters)
            let (OH, OW, K) = (d.outputHeight, d.outputWidth, c.filters)
            let cg = s.c / c.groups, kg = K / c.groups
            var y = [Double](repeating: 0, count: s.n * K * OH * OW)
            for n in 0..<s.n { for k in 0..<K { for oh in 0..<OH { for ow in 0..<OW {
                var acc = b[k]
                for ci in 0..<cg { for r in 0..<c.kernelHeight { for q in 0..<c.kernelWidth {
                    let ih = oh * c.strideHeight - c.padding.top + r * c.dilationHeight
                    let iw = ow * c.strideWidth - c.padding.left + q * c.dilationWidth
                    if ih < 0 || ih >= s.h || iw < 0 || iw >= s.w { continue }
                    let cin = (k / kg) * cg + ci
                    acc += x.v[((n * s.c + cin) * s.h + ih) * s.w + iw] * w[((k * cg + ci) * c.kernelHeight + r) * c.kernelWidth + q]
                } } }
                y[((n * K + k) * OH + oh) * OW + ow] = act(c.activation, acc)
            } } } }
            return T(shape: TensorShape(n: s.n, c: K, h: OH, w: OW), v: y)
        case let bn as BatchNorm2D:
            let g = params(bn, "weight"), b = params(bn, "bias"), m = params(bn, "running_mean"), v = params(bn, "running_var")
            let plane = s.h * s.w
            var y = x.v
            for i in y.indices {
                let c = (i / plane) % s.c
                y[i] = (y[i] - m[c]) / (v[c] + Double(bn.epsilon)).squareRoot() * g[c] + b[c]
            }
            return T(shape: s, v: y)
        case is ReLU:
            return T(shape: s, v: x.v.map { act(.relu, $0) })
        case let p as Pointwise:
            return T(shape: s, v: x.v.map { v in
                switch p.function {
                case let .clip(lo, hi): return act(.clamp(min: lo, max: hi), v)
                case let .leakyReLU(a): return v < 0 ? Double(a) * v : v
                case .sigmoid: return 1 / (1 + exp(-v))
                case .tanh: return tanh(v)
                case let .hardSigmoid(a, b): return Swift.max(0, Swift.min(1, Double(a) * v + Double(b)))
                case .hardSwish: return v * Swift.max(0, Swift.min(1, v / 6 + 0.5))
                case .identity: return v
                }
            })
        case let e as Elementwise:
            let full = ins.first { $0.shape.h != 1 || $0.shape.w != 1 }?.shape ?? s
            let plane = full.h * full.w
            var y = [Double](repeating: e.operation == .mul ? 1 : 0, count: full.count)
            for t in ins {
                for i in y.indices {
                    let v = t.shape == full ? t.v[i] : t.v[i / plane]
                    y[i] = e.operation == .mul ? y[i] * v : y[i] + v
                }
            }
            return T(shape: full, v: y.map { act(e.activation, $0) })
        case is Concat:
            let c = ins.reduce(0) { $0 + $1.shape.c }, plane = s.h * s.w
            var y: [Double] = []
            for n in 0..<s.n { for t in ins { y += t.v[(n * t.shape.c * plane)..<((n + 1) * t.shape.c * plane)] } }
            return T(shape: TensorShape(n: s.n, c: c, h: s.h, w: s.w), v: y)
        case let p as PoolingLayer:
            let g = p.geometry
            let o = try g.outputShape(for: s)
            let isMax = p is MaxPool2D
            let includePad = (p as? AvgPool2D)?.countIncludePad ?? true
            var y = [Double](repeating: 0, count: o.count)
            for pl in 0..<(s.n * s.c) { for oy in 0..<o.h { for ox in 0..<o.w {
                let ys = oy * g.strideHeight - g.padding.top, xs = ox * g.strideWidth - g.padding.left
                let ye = Swift.min(ys + g.kernelHeight, s.h + g.padding.bottom), xe = Swift.min(xs + g.kernelWidth, s.w + g.padding.right)
                var acc = isMax ? -Double.infinity : 0, count = 0
                for yy in Swift.max(ys, 0)..<Swift.min(ye, s.h) { for xx in Swift.max(xs, 0)..<Swift.min(xe, s.w) {
                    let v = x.v[(pl * s.h + yy) * s.w + xx]
                    if isMax { acc = (v > acc || v.isNaN) ? v : acc } else { acc += v }
                    count += 1
                } }
                y[(pl * o.h + oy) * o.w + ox] = isMax ? acc : acc / Double(includePad ? (ye - ys) * (xe - xs) : count)
            } } }
            return T(shape: o, v: y)
        case is GlobalAvgPool, is GlobalMaxPool:
            let plane = s.h * s.w
            let y = (0..<(s.n * s.c)).map { p -> Double in
                let row = x.v[(p * plane)..<((p + 1) * plane)]
                return layer is GlobalAvgPool ? row.reduce(0, +) / Double(plane) : row.max()!
            }
            return T(shape: TensorShape(n: s.n, c: s.c, h: 1, w: 1), v: y)
        case is Flatten:
            return T(shape: TensorShape(n: s.n, c: s.c * s.h * s.w, h: 1, w: 1), v: x.v)
        case is Dropout:
            return x
        case let fc as Linear:
            let w = params(fc, "weight"), b = fc.hasBias ? params(fc, "bias") : [Double](repeating: 0, count: fc.outputFeatures)
            let inF = fc.inputFeatures
            var y = [Double](repeating: 0, count: s.n * fc.outputFeatures)
            for n in 0..<s.n { for o in 0..<fc.outputFeatures {
                var acc = b[o]
                for i in 0..<inF { acc += w[o * inF + i] * x.v[n * inF + i] }
                y[n * fc.outputFeatures + o] = act(fc.activation, acc)
            } }
            return T(shape: TensorShape(n: s.n, c: fc.outputFeatures, h: 1, w: 1), v: y)
        case is Softmax:
            let size = s.c * s.h * s.w
            var y = x.v
            for n in 0..<s.n {
                let row = x.v[(n * size)..<((n + 1) * size)]
                let m = row.max()!
                let sum = row.reduce(0) { $0 + exp($1 - m) }
                for i in 0..<size { y[n * size + i] = exp(x.v[n * size + i] - m) / sum }
            }
            return T(shape: s, v: y)
        default:
            throw ConvError.invalidArgument("the test oracle has no rule for layer type '\(layer.typeName)'")
        }
    }
}

/// Normalized max error of `y` against a float64 oracle.
func normalizedMaxError(_ y: [Float], _ ref: [Double]) -> Double {
    var num = 0.0, den = 0.0
    for (a, b) in zip(y, ref) {
        if Double(a).isNaN != b.isNaN { return .infinity }
        if b.isNaN { continue }
        num = Swift.max(num, abs(Double(a) - b))
        den = Swift.max(den, abs(b))
    }
    return den == 0 ? num : num / den
}
