import ConvKit
import Foundation

/// The benchmark's output formats: pure functions from records to text.
public enum BenchFormat: String, CaseIterable, Sendable {
    /// The human-readable table (``BenchTableFormatter``).
    case table
    /// One CSV row per record (``BenchCSV``).
    case csv
    /// A JSON array of records (``BenchJSON``).
    case json

    /// Renders `report` in this format.
    public func render(_ report: BenchReport) throws -> String {
        switch self {
        case .table: return BenchTableFormatter.render(report)
        case .csv: return BenchCSV.render(report.records)
        case .json: return try BenchJSON.render(report.records)
        }
    }
}

/// CSV output: the header row ``BenchRecord/columns`` (starting
/// `layer,backend,threads,median_ms,gflops,max_err,status`), then one row per record.
/// Numbers are plain decimals with full precision, missing values are empty cells, fields
/// containing a comma, quote or line break are quoted (RFC 4180). Lines end with `\n`.
public enum BenchCSV {
    public static var header: String { BenchRecord.columns.joined(separator: ",") }

    public static func render(_ records: [BenchRecord]) -> String {
        var out = header + "\n"
        for r in records { out += r.csvFields.map(escape).joined(separator: ",") + "\n" }
        return out
    }

    static func escape(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// JSON output: an array of records with the CSV column names as keys (sorted), `null`
/// for missing values; decodes back into `[BenchRecord]` with `JSONDecoder`.
public enum BenchJSON {
    public static func render(_ records: [BenchRecord]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let data = try encoder.encode(records)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}

/// The table format: per layer, one row per thread count and backend with median ms,
/// GFLOP/s, speed-up vs oneDNN (when it ran), % of peak (when the peak is known) and the
/// normalized max error vs the oracle; an extra "(primitive only)"/"(core only)" row for
/// backends that report their core time; then geometric means per backend and thread
/// count, and the one-time costs (prepare and first run) per layer and backend.
public enum BenchTableFormatter {
    public static func render(_ report: BenchReport) -> String {
        let records = report.records
        let layers = unique(records.map(\.layer))
        let backends = unique(records.map(\.backend))
        let threads = unique(records.map(\.threads))
        let hasOnednn = records.contains { $0.speedupVsOnednn != nil }
        let hasPeak = report.peakGFLOPsPerThread != nil
        var out = ""

        out += "convkit bench: \(layers.count) layer\(layers.count == 1 ? "" : "s"), backends "
            + backends.joined(separator: ", ") + ", threads " + threads.map(String.init).joined(separator: ", ")
            + "; median of \(report.rounds) round\(report.rounds == 1 ? "" : "s"), at least "
            + fixed(report.minTime, 3) + " s per cell and round\n"
        if let p = report.peakGFLOPsPerThread {
            out += "peak: " + fixed(p, 1) + " GFLOP/s per thread, \(report.cores) cores"
                + " (% peak = GFLOP/s / (min(threads, cores) x peak))\n"
        }
        out += "GFLOP/s = 2*N*K*OH*OW*(C/groups)*R*S / time; max err = max|y - y_oracle| / max|y_oracle|\n"
        if hasOnednn { out += "vs onednn = onednn time / this time (above 1: faster than oneDNN, NCHW in and out)\n" }

        let hasSpread = report.rounds > 1
        var noisy: [String] = []
        var header = ["backend", "threads", "median ms"] + (hasSpread ? ["spread"] : []) + ["GFLOP/s"]
        if hasOnednn { header.append("vs onednn") }
        if hasPeak { header.append("% peak") }
        header.append("max err")

        for layer in layers {
            let rows = records.filter { $0.layer == layer }
            guard let first = rows.first else { continue }
            let flops = Double(first.flops) * 1e-9
            let oracle = rows.compactMap(\.checkedAgainst).first
            out += "\n\(layer)  \(shape(first))  " + significant(flops) + " GFLOP"
                + (oracle.map { "  (errors vs \($0))" } ?? "") + "\n"
            var table = TextTable(header: header, rightAligned: Set(1..<header.count))
            for (ti, t) in threads.enumerated() {
                for r in rows where r.threads == t {
                    switch r.status {
                    case .unsupported, .unavailable:
                        // The same for every thread count: say it once.
                        if ti == 0 { table.message(["  " + r.backend, "all"], "\(r.status.rawValue): \(r.reason ?? "")") }
                    case .failed:
                        table.message(["  " + r.backend, "\(t)"], "failed: \(r.reason ?? "")")
                    case .ok, .inaccurate:
                        guard let ms = r.medianMs, let g = r.gflops else {
                            table.message(["  " + r.backend, "\(t)"], "not measured")
                            continue
                        }
                        var cells = ["  " + r.backend, "\(t)", milliseconds(ms)]
                        if hasSpread {
                            let spread = BenchRecord.spread(r)
                            cells.append(spread.map { fixed(100 * $0, 0) + "%" } ?? "-")
                            if let spread, spread > BenchRecord.noisySpread { noisy.append("\(layer) \(r.backend) \(t)T (\(fixed(100 * spread, 0))%)") }
                        }
                        cells.append(fixed(g, 1))
                        if hasOnednn { cells.append(r.speedupVsOnednn.map { fixed($0, 2) + "x" } ?? "-") }
                        if hasPeak { cells.append(r.peakPct.map { fixed($0, 1) + "%" } ?? "-") }
                        var err = r.maxErr.map(scientific) ?? (r.reason == "oracle for this layer" ? "oracle" : "-")
                        if r.status == .inaccurate { err += " INACCURATE" }
                        cells.append(err)
                        table.row(cells)
                        if let core = r.coreMs, let cg = r.coreGflops {
                            let label = r.backend == "onednn" ? "primitive only" : "core only"
                            var c = ["  \(r.backend) (\(label))", "\(t)", milliseconds(core)] + (hasSpread ? [""] : []) + [fixed(cg, 1)]
                            if hasOnednn {
                                let base = rows.first { $0.backend == "onednn" && $0.threads == t && $0.status == .ok }?.medianMs
                                c.append(base.map { fixed($0 / core, 2) + "x" } ?? "-")
                            }
                            if hasPeak {
                                c.append(report.peak(threads: t).map { fixed(100 * cg / $0, 1) + "%" } ?? "-")
                            }
                            c.append("")
                            table.row(c)
                        }
                    }
                }
            }
            out += table.render()
        }

        // Geometric means.
        out += "\ngeometric mean over the layers each backend ran (status ok)\n"
        var gm = TextTable(header: ["backend", "threads", "GFLOP/s"] + (hasOnednn ? ["vs onednn"] : []) + ["layers"],
                           rightAligned: Set(1..<(hasOnednn ? 5 : 4)))
        for t in threads {
            for b in backends {
                let ok = records.filter { $0.backend == b && $0.threads == t && $0.status == .ok && $0.gflops != nil }
                if ok.isEmpty { continue }
                var cells = ["  " + b, "\(t)", fixed(geometricMean(ok.compactMap(\.gflops)) ?? 0, 1)]
                if hasOnednn {
                    let s = ok.compactMap(\.speedupVsOnednn)
                    cells.append(geometricMean(s).map { fixed($0, 2) + "x (\(s.count))" } ?? "-")
                }
                cells.append("\(ok.count)/\(layers.count)")
                gm.row(cells)
            }
        }
        out += gm.render()

        // One-time costs.
        out += "\none-time costs: prepare ms / first run ms (outside the timed region)\n"
        var costs = TextTable(header: ["layer"] + backends, rightAligned: Set(1...backends.count))
        for layer in layers {
            var cells = ["  " + layer]
            for b in backends {
                let r = records.first { $0.layer == layer && $0.backend == b }
                if let p = r?.prepareMs {
                    cells.append(milliseconds(p) + " / " + (r?.firstRunMs.map(milliseconds) ?? "-"))
                } else {
                    cells.append(r?.status.rawValue ?? "-")
                }
            }
            costs.row(cells)
        }
        out += costs.render()
        if !noisy.isEmpty {
            out += "\nwarning: rounds differ by more than \(fixed(100 * BenchRecord.noisySpread, 0))% (noisy machine?): "
                + noisy.joined(separator: ", ") + "\n"
        }
        return out
    }

    // MARK: Helpers

    static func shape(_ r: BenchRecord) -> String {
        var s = "N\(r.n) C\(r.c) \(r.h)x\(r.w) -> K\(r.k) \(r.r)x\(r.s) s\(r.stride) p\(r.pad)"
        if r.dilation != 1 { s += " d\(r.dilation)" }
        if r.groups != 1 { s += " g\(r.groups)" }
        return s
    }

    /// Geometric mean of positive values; nil when empty.
    public static func geometricMean(_ values: [Double]) -> Double? {
        let v = values.filter { $0 > 0 }
        if v.isEmpty { return nil }
        return exp(v.map { log($0) }.reduce(0, +) / Double(v.count))
    }

    static func fixed(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }
    static func scientific(_ v: Double) -> String { v == 0 ? "0" : String(format: "%.1e", v) }
    static func significant(_ v: Double) -> String { String(format: "%.3g", v) }
    static func milliseconds(_ ms: Double) -> String {
        ms >= 100 ? fixed(ms, 1) : ms >= 1 ? fixed(ms, 3) : fixed(ms, 4)
    }

    static func unique<T: Hashable>(_ values: [T]) -> [T] {
        var seen = Set<T>()
        return values.filter { seen.insert($0).inserted }
    }
}

/// A plain-text table with padded columns; message rows hold a few leading cells and
/// then free text that does not take part in the column widths.
struct TextTable {
    private enum Row { case cells([String]), message([String], String) }
    let header: [String]
    let rightAligned: Set<Int>
    private var rows: [Row] = []

    init(header: [String], rightAligned: Set<Int>) {
        self.header = ["  " + (header.first ?? "")] + header.dropFirst()
        self.rightAligned = rightAligned
    }

    mutating func row(_ cells: [String]) { rows.append(.cells(cells)) }
    mutating func message(_ lead: [String], _ text: String) { rows.append(.message(lead, text)) }

    func render() -> String {
        var widths = header.map(\.count)
        for case let .cells(c) in rows { for (i, s) in c.enumerated() where i < widths.count { widths[i] = max(widths[i], s.count) } }
        for case let .message(lead, _) in rows { for (i, s) in lead.enumerated() where i < widths.count { widths[i] = max(widths[i], s.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, s in
                let pad = String(repeating: " ", count: max(0, (i < widths.count ? widths[i] : s.count) - s.count))
                return rightAligned.contains(i) ? pad + s : s + pad
            }.joined(separator: "  ")
        }
        var out = trimmed(line(header)) + "\n"
        for row in rows {
            switch row {
            case let .cells(c): out += trimmed(line(c)) + "\n"
            case let .message(lead, text): out += line(lead) + "  " + text + "\n"
            }
        }
        return out
    }

    private func trimmed(_ s: String) -> String {
        var s = s
        while s.hasSuffix(" ") { s.removeLast() }
        return s
    }
}
