import ConvKit
import Foundation

/// The per-node profile of `convkit run --profile`.
enum ProfileTable {
    static func render(_ timings: [PreparedModel.NodeTiming], model: String, batch: Int) -> String {
        let total = timings.reduce(0) { $0 + $1.seconds }
        var rows: [[String]] = [["node", "type", "backend", "kernel", "fused", "ms", "share", "GFLOP/s"]]
        for t in timings {
            rows.append([t.name, t.typeName, t.backend ?? "-", t.implementation ?? "-", t.fusion,
                         String(format: "%.3f", t.seconds * 1e3), String(format: "%.1f%%", 100 * t.seconds / Swift.max(total, 1e-12)),
                         t.flops > 0 && t.seconds > 0 ? String(format: "%.1f", Double(t.flops) / t.seconds / 1e9) : "-"])
        }
        var widths = rows[0].map { _ in 0 }
        for r in rows { for (i, c) in r.enumerated() { widths[i] = Swift.max(widths[i], c.count) } }
        var out = "profile of \(model), batch \(batch): \(timings.count) nodes, \(String(format: "%.3f", total * 1e3)) ms in nodes (median per node)\n"
        for r in rows {
            out += r.enumerated().map { i, c in
                let pad = String(repeating: " ", count: widths[i] - c.count)
                return i >= 5 ? pad + c : c + pad
            }.joined(separator: "  ") + "\n"
        }
        // Time per type, largest first.
        var byType: [String: Double] = [:]
        for t in timings { byType[t.typeName + (t.backend.map { "/" + $0 } ?? ""), default: 0] += t.seconds }
        out += "by type: " + byType.sorted { $0.value > $1.value }.map {
            "\($0.key) \(String(format: "%.2f", $0.value * 1e3)) ms (\(String(format: "%.0f", 100 * $0.value / Swift.max(total, 1e-12)))%)"
        }.joined(separator: ", ") + "\n"
        return out
    }
}
