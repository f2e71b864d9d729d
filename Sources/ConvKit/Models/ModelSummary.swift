/// A Keras-style summary of a model (``SequentialModel/summary(batch:backend:overrides:registry:)``).
///
/// One row per layer: name, type, output shape `[N, C, H, W]`, parameters, FLOPs (for the
/// summary's batch; multiply-add = 2), the cumulative receptive field `HxW` of one output value
/// on the model's input, and the backend: the backend running a convolution (with
/// `(fallback: reason)` when the requested one could not), `fused into <layer>` for a folded
/// BatchNorm or fused ReLU, `-` for layers ConvKit runs itself. Then totals.
public struct ModelSummary: Sendable {
    public var model: String
    public var inputShape: TensorShape
    public var backend: String
    public var layers: [LayerPlan]

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
        let header = ["Layer", "Type", "Output shape", "Params", "FLOPs", "RF", "Backend"]
        var rows: [[String]] = [["input", "input", shapeText(inputShape), "0", "0", "1x1", "-"]]
        for p in layers {
            rows.append([p.name, p.typeName, shapeText(p.outputShape), grouped(p.parameterCount), grouped(p.flops),
                         "\(p.receptiveField.height)x\(p.receptiveField.width)", Self.backendText(p)])
        }
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = Swift.max(widths[i], c.count) } }
        let rightAligned: Set<Int> = [3, 4]
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
        return out
    }

    private func shapeText(_ s: TensorShape) -> String { "[\(s.n), \(s.c), \(s.h), \(s.w)]" }

    private func gflopsText(_ f: Int) -> String {
        let v = (Double(f) / 1e9 * 1000).rounded() / 1000
        return "\(v)"
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
