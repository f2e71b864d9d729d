import Foundation

/// The `--plot` chart: grouped bars of GFLOP/s per layer (groups) and backend (bars), one
/// panel per thread count, with a y axis, grid, rotated layer labels, a legend and a
/// dashed peak line (`min(threads, cores) x peak per thread`) when the peak is known.
///
/// Every record with a GFLOP/s value gives exactly one `<rect class="bar">` (tooltip: layer,
/// backend, threads, GFLOP/s, ms); cells that were not measured get a grey "n/a" mark.
public enum BenchPlot {
    /// Bar colours, one per backend in order of appearance (Tableau 10).
    static let palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                          "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]

    public static func svg(_ report: BenchReport, title: String = "convkit bench: GFLOP/s per layer (higher is better)") -> String {
        let records = report.records
        let layers = BenchTableFormatter.unique(records.map(\.layer))
        let backends = BenchTableFormatter.unique(records.map(\.backend))
        let threads = BenchTableFormatter.unique(records.map(\.threads))

        // Layer labels are rotated by 45 degrees: about 6.2 px per character at 11 px, so a
        // label reaches 4.4 px per character left of and below its anchor.
        let longestLabel = Double(layers.map(\.count).max() ?? 0)
        let labelReach = 4.4 * longestLabel + 16
        let right = 30.0, top = 70.0
        let plotHeight = 260.0, labelHeight = max(60, labelReach), panelGap = 40.0
        let naturalGroup = Double(max(backends.count, 1)) * 12 + 14
        let plotWidth = max(Double(layers.count) * naturalGroup, 480)
        let groupWidth = plotWidth / Double(max(layers.count, 1))
        let groupPad = min(14, groupWidth * 0.25)
        let barWidth = min(28, (groupWidth - groupPad) / Double(max(backends.count, 1)))
        let left = max(70, labelReach - groupWidth / 2 + 10)
        let panelHeight = plotHeight + labelHeight + panelGap
        let titleWidth = Double(title.count) * 8.5 + 20
        let width = max(left + plotWidth + right, left + titleWidth)
        let height = top + Double(threads.count) * panelHeight
        var svg = SVGWriter(width: width, height: height)
        svg.rect(x: 0, y: 0, width: width, height: height, fill: "#ffffff")
        svg.text(title, x: left, y: 24, size: 16, weight: "bold")

        // Legend.
        svg.beginGroup(cssClass: "legend")
        var lx = left
        for (i, b) in backends.enumerated() {
            svg.rect(x: lx, y: 38, width: 12, height: 12, fill: palette[i % palette.count], cssClass: "legend-swatch")
            svg.text(b, x: lx + 16, y: 48.5, size: 12)
            lx += 16 + Double(b.count) * 7 + 18
        }
        if report.peakGFLOPsPerThread != nil {
            svg.line(x1: lx, y1: 44, x2: lx + 24, y2: 44, stroke: "#000", width: 1.5, dash: "6 4")
            svg.text("peak", x: lx + 28, y: 48.5, size: 12)
        }
        svg.endGroup()

        for (pi, t) in threads.enumerated() {
            let y0 = top + Double(pi) * panelHeight + 20 // top of the plot area
            let base = y0 + plotHeight                    // y of 0 GFLOP/s
            let rows = records.filter { $0.threads == t }
            let peak = report.peak(threads: t)
            let maxValue = max(rows.compactMap(\.gflops).max() ?? 0, peak ?? 0, 1)
            let (step, axisTop) = niceScale(maxValue)
            func y(_ v: Double) -> Double { base - v / axisTop * plotHeight }

            svg.beginGroup(id: "threads-\(t)", cssClass: "panel")
            svg.text("\(t) thread\(t == 1 ? "" : "s")", x: left, y: y0 - 6, size: 13, weight: "bold")
            // Grid and y axis.
            var v = 0.0
            while v <= axisTop + step / 2 {
                svg.line(x1: left, y1: y(v), x2: left + plotWidth, y2: y(v), stroke: v == 0 ? "#000" : "#e0e0e0")
                svg.text(SVGWriter.number(v), x: left - 6, y: y(v) + 4, size: 11, anchor: "end")
                v += step
            }
            svg.line(x1: left, y1: y0, x2: left, y2: base, stroke: "#000")
            svg.text("GFLOP/s", x: 18, y: y0 + plotHeight / 2, size: 12, anchor: "middle", rotate: -90)

            // Bars.
            for (li, layer) in layers.enumerated() {
                let gx = left + Double(li) * groupWidth + (groupWidth - barWidth * Double(backends.count)) / 2
                for (bi, b) in backends.enumerated() {
                    guard let r = rows.first(where: { $0.layer == layer && $0.backend == b }) else { continue }
                    let bx = gx + Double(bi) * barWidth
                    if let g = r.gflops {
                        let tip = "\(layer), \(b), \(t) thread\(t == 1 ? "" : "s"): "
                            + String(format: "%.1f GFLOP/s, %.4g ms", g, r.medianMs ?? 0)
                            + (r.status == .ok ? "" : " (\(r.status.rawValue))")
                        svg.rect(x: bx + 1, y: y(g), width: barWidth - 2, height: base - y(g),
                                 fill: palette[bi % palette.count], cssClass: "bar", tooltip: tip)
                    } else {
                        svg.text("n/a", x: bx + barWidth / 2 + 3, y: base - 4, size: 8, anchor: "start",
                                 rotate: -90, fill: "#999", cssClass: "missing")
                    }
                }
                svg.text(layer, x: left + (Double(li) + 0.5) * groupWidth + 4, y: base + 12, size: 11, anchor: "end",
                         rotate: -45)
            }

            if let peak {
                svg.line(x1: left, y1: y(peak), x2: left + plotWidth, y2: y(peak), stroke: "#000", width: 1.5,
                         dash: "6 4", cssClass: "peak")
                svg.text("peak " + SVGWriter.number(peak) + " GFLOP/s", x: left + plotWidth - 4, y: y(peak) - 5,
                         size: 11, anchor: "end", halo: true)
            }
            svg.endGroup()
        }
        return svg.render()
    }

    /// A tick step of 1, 2 or 5 times a power of ten giving 4 to 10 ticks, and the axis top
    /// (a multiple of the step at or above `maxValue`).
    static func niceScale(_ maxValue: Double) -> (step: Double, top: Double) {
        let raw = maxValue / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2.0, 5.0, 10.0].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        return (step, (maxValue / step).rounded(.up) * step)
    }
}
