import Foundation

/// A Keras-style summary of a model (``GraphModel/summary(batch:backend:overrides:registry:)``).
///
/// One row per node: name, type, its inputs (for graphs that are not a chain), output shape
/// `[N, C, H, W]`, parameters, FLOPs (for the summary's batch; multiply-add = 2), the receptive
/// field `HxW` of one output value on the model's input, the backend (the backend running a
/// convolution, with `(fallback: reason)` when the requested one could not; `fused into <node>`
/// for a folded BatchNorm or a fused ReLU, clip or residual add; `-` for nodes ConvKit runs
/// itself) and what was fused into it. Then totals and the peak activation memory.
public struct ModelSummary: Sendable {
    public var model: String
    public var inputShape: TensorShape
    public var backend: String
    public var layers: [LayerPlan]
    /// Bytes of activation memory a run uses (the planned arena).
    public var activationBytes: Int
    /// Whether every node reads the one before it (then the inputs column is left out).
    public var isChain: Bool

    public init(model: String, inputShape: TensorShape, backend: String, layers: [LayerPlan], activationBytes: Int,
                isChain: Bool) {
        self.model = model; self.inputShape = inputShape; self.backend = backend; self.layers = layers
        self.activationBytes = activationBytes; self.isChain = isChain
    }

    /// Total parameters.
    public var parameterCount: Int { layers.reduce(0) { $0 + $1.parameterCount } }
    /// Total FLOPs for the batch.
    public var flops: Int { layers.reduce(0) { $0 + $1.flops } }

    /// The backend column of one layer.
    public static func backendText(_ p: LayerPlan) -> String {
        if let f = p.fusedInto { return "fused into \(f)" }
        guard let b = p.backend else { return "-" }
        if let r = p.fallbackReason { return "\(b) (fallback: \(r))" }
        return b
    }

    /// The summary as a text table.
    public func render() -> String {
        var header = ["Layer", "Type", "Inputs", "Output shape", "Params", "FLOPs", "RF", "Backend", "Fused"]
        var rows: [[String]] = [["input", "input", "-", shapeText(inputShape), "0", "0", "1x1", "-", ""]]
        for p in layers {
            rows.append([p.name, p.typeName, p.inputs.joined(separator: ", "), shapeText(p.outputShape),
                         grouped(p.parameterCount), readableFLOPs(p.flops),
                         "\(p.receptiveField.height)x\(p.receptiveField.width)", Self.backendText(p), p.fusionText])
        }
        if isChain {
            header.remove(at: 2)
            for i in rows.indices { rows[i].remove(at: 2) }
        }
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = Swift.max(widths[i], c.count) } }
        let rightAligned: Set<Int> = isChain ? [3, 4] : [4, 5]
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                let pad = String(repeating: " ", count: widths[i] - c.count)
                return rightAligned.contains(i) ? pad + c : c + pad
            }.joined(separator: "  ").trimmingTrailingSpaces()
        }
        let rule = String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1))
        var out = "Model: \(model)   (batch \(inputShape.n), backend \(backend))\n"
        out += line(header) + "\n" + rule + "\n"
        for r in rows { out += line(r) + "\n" }
        out += rule + "\n"
        out += "Total params: \(grouped(parameterCount))\n"
        out += "Total FLOPs: \(grouped(flops)) (\(gflopsText(flops)) GFLOP)\n"
        out += "Parameter memory: \(mib(parameterCount * 4)) MiB (float32)\n"
        out += "Activation memory: \(mib(activationBytes)) MiB peak (planned by tensor lifetime; input and output not included)\n"
        return out
    }

    private func shapeText(_ s: TensorShape) -> String { "[\(s.n), \(s.c), \(s.h), \(s.w)]" }

    private func gflopsText(_ f: Int) -> String {
        let v = (Double(f) / 1e9 * 1000).rounded() / 1000
        return "\(v)"
    }

    private func readableFLOPs(_ f: Int) -> String {
        let v = Double(f)
        if v >= 1e9 { return String(format: "%.2fG", v / 1e9) }
        if v >= 1e6 { return String(format: "%.2fM", v / 1e6) }
        if v >= 1e3 { return String(format: "%.1fK", v / 1e3) }
        return "\(f)"
    }

    private func mib(_ bytes: Int) -> String {
        let v = (Double(bytes) / 1_048_576 * 100).rounded() / 100
        return "\(v)"
    }
}

/// `1234567` as `1,234,567`.
func grouped(_ n: Int) -> String {
    let s = String(n.magnitude)
    var out = ""
    for (i, ch) in s.enumerated() {
        if i > 0 && (s.count - i) % 3 == 0 { out += "," }
        out.append(ch)
    }
    return n < 0 ? "-" + out : out
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
