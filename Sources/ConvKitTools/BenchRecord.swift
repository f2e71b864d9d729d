import ConvKit

/// What happened to one (layer, backend, thread count) cell of a benchmark.
public enum BenchStatus: String, Codable, Sendable, CaseIterable {
    /// Measured, and its output matches the oracle within ``BenchConfiguration/errorTolerance``
    /// (or it is the oracle).
    case ok
    /// Measured, but its output differs from the oracle by more than the tolerance: the time
    /// is reported but left out of the geometric means.
    case inaccurate
    /// The backend's ``ConvBackend/support(for:)`` declined the layer.
    case unsupported
    /// The backend cannot run on this machine (for example a missing library).
    case unavailable
    /// Preparing or executing threw; `reason` holds the error.
    case failed
}

/// One row of benchmark results: one layer, one backend, one thread count.
///
/// The CSV and JSON formats write exactly these fields, under these names (columns in
/// this order; times in milliseconds; empty CSV cell / JSON `null` when not measured):
///
/// | column | meaning |
/// |---|---|
/// | `layer` | layer name from the suite |
/// | `backend` | backend name (`direct`, `winograd`, `onednn`, ...) |
/// | `threads` | worker threads passed to `execute` |
/// | `median_ms` | median over rounds of the per-run time, NCHW in and NCHW out |
/// | `gflops` | `flops / median_ms / 1e6`, with `flops = 2*N*K*OH*OW*(C/groups)*R*S` |
/// | `max_err` | `max abs(y - y_oracle) / max abs(y_oracle)` over the output (empty for the oracle itself) |
/// | `status` | `ok`, `inaccurate` (error above the tolerance), `unsupported`, `unavailable`, `failed` |
/// | `core_ms` | median per-run time of the core computation alone, without layout conversions (backends with a blocked internal layout, e.g. oneDNN's primitive; else empty) |
/// | `core_gflops` | GFLOP/s of `core_ms` |
/// | `min_ms`, `max_ms` | fastest and slowest round (spread of the rounds) |
/// | `reps` | runs timed per round (enough to fill the minimum time) |
/// | `rounds` | rounds measured |
/// | `prepare_ms` | one-time cost: `prepare` (weight packing, primitive creation), outside the timed region |
/// | `first_run_ms` | one-time cost: the first `execute` after `prepare` (lazy setup, cold caches) |
/// | `speedup_vs_onednn` | `onednn median_ms / this median_ms` for the same layer and threads (empty when onednn did not run) |
/// | `peak_pct` | `gflops` as a percentage of `min(threads, cores) * peak GFLOP/s per thread` (empty when the peak is unknown) |
/// | `checked_against` | the oracle backend for `max_err` (`reference`, else `direct`, else the first backend that ran) |
/// | `reason` | why a cell is not `ok` (or a note), empty otherwise |
/// | `implementation` | the prepared convolution's implementation string (kernel name, oneDNN `impl_info_str`) |
/// | `flops` | FLOPs of one run |
/// | `N`,`C`,`H`,`W`,`K`,`R`,`S`,`stride`,`pad`,`dilation`,`groups` | the layer's shape |
public struct BenchRecord: Codable, Equatable, Sendable {
    public var layer: String
    public var backend: String
    public var threads: Int
    public var medianMs: Double?
    public var gflops: Double?
    public var maxErr: Double?
    public var status: BenchStatus
    public var coreMs: Double?
    public var coreGflops: Double?
    public var minMs: Double?
    public var maxMs: Double?
    public var reps: Int?
    public var rounds: Int?
    public var prepareMs: Double?
    public var firstRunMs: Double?
    public var speedupVsOnednn: Double?
    public var peakPct: Double?
    public var checkedAgainst: String?
    public var reason: String?
    public var implementation: String?
    public var flops: Int
    public var n: Int, c: Int, h: Int, w: Int, k: Int, r: Int, s: Int
    public var stride: Int, pad: Int, dilation: Int, groups: Int

    /// An unmeasured record for `layer`: status and reason set, every measurement empty.
    public init(layer: BenchLayer, backend: String, threads: Int, status: BenchStatus, reason: String? = nil) {
        let d = layer.descriptor
        self.layer = layer.name
        self.backend = backend
        self.threads = threads
        self.status = status
        self.reason = reason
        self.flops = d.flops
        n = d.batch; c = d.inputChannels; h = d.inputHeight; w = d.inputWidth
        k = d.outputChannels; r = d.kernelHeight; s = d.kernelWidth
        stride = d.strideHeight; pad = d.padding.top; dilation = d.dilationHeight; groups = d.groups
    }

    /// The column names, in CSV order; also the JSON keys.
    public static let columns: [String] = CodingKeys.allCases.map(\.rawValue)

    enum CodingKeys: String, CodingKey, CaseIterable {
        case layer, backend, threads
        case medianMs = "median_ms", gflops, maxErr = "max_err", status
        case coreMs = "core_ms", coreGflops = "core_gflops", minMs = "min_ms", maxMs = "max_ms"
        case reps, rounds, prepareMs = "prepare_ms", firstRunMs = "first_run_ms"
        case speedupVsOnednn = "speedup_vs_onednn", peakPct = "peak_pct"
        case checkedAgainst = "checked_against", reason, implementation, flops
        case n = "N", c = "C", h = "H", w = "W", k = "K", r = "R", s = "S"
        case stride, pad, dilation, groups
    }

    // Explicit encoding so that missing values are written as `null` (stable keys).
    public func encode(to encoder: Encoder) throws {
        var e = encoder.container(keyedBy: CodingKeys.self)
        try e.encode(layer, forKey: .layer)
        try e.encode(backend, forKey: .backend)
        try e.encode(threads, forKey: .threads)
        try e.encode(medianMs, forKey: .medianMs)
        try e.encode(gflops, forKey: .gflops)
        try e.encode(maxErr, forKey: .maxErr)
        try e.encode(status, forKey: .status)
        try e.encode(coreMs, forKey: .coreMs)
        try e.encode(coreGflops, forKey: .coreGflops)
        try e.encode(minMs, forKey: .minMs)
        try e.encode(maxMs, forKey: .maxMs)
        try e.encode(reps, forKey: .reps)
        try e.encode(rounds, forKey: .rounds)
        try e.encode(prepareMs, forKey: .prepareMs)
        try e.encode(firstRunMs, forKey: .firstRunMs)
        try e.encode(speedupVsOnednn, forKey: .speedupVsOnednn)
        try e.encode(peakPct, forKey: .peakPct)
        try e.encode(checkedAgainst, forKey: .checkedAgainst)
        try e.encode(reason, forKey: .reason)
        try e.encode(implementation, forKey: .implementation)
        try e.encode(flops, forKey: .flops)
        try e.encode(n, forKey: .n); try e.encode(c, forKey: .c); try e.encode(h, forKey: .h)
        try e.encode(w, forKey: .w); try e.encode(k, forKey: .k); try e.encode(r, forKey: .r)
        try e.encode(s, forKey: .s); try e.encode(stride, forKey: .stride); try e.encode(pad, forKey: .pad)
        try e.encode(dilation, forKey: .dilation); try e.encode(groups, forKey: .groups)
    }

    /// The CSV cells of this record, in ``columns`` order (unformatted numbers).
    /// How much a cell's rounds disagree: `(max - min) / median` of its per-round times, or
    /// nil with fewer than two rounds.
    public static func spread(_ r: BenchRecord) -> Double? {
        guard (r.rounds ?? 0) > 1, let lo = r.minMs, let hi = r.maxMs, let m = r.medianMs, m > 0 else { return nil }
        return (hi - lo) / m
    }

    /// The spread above which the table warns that the machine was noisy.
    public static let noisySpread = 0.10

    public var csvFields: [String] {
        func d(_ v: Double?) -> String { v.map(BenchNumber.plain) ?? "" }
        func i(_ v: Int?) -> String { v.map(String.init) ?? "" }
        return [layer, backend, String(threads), d(medianMs), d(gflops), d(maxErr), status.rawValue,
                d(coreMs), d(coreGflops), d(minMs), d(maxMs), i(reps), i(rounds), d(prepareMs), d(firstRunMs),
                d(speedupVsOnednn), d(peakPct), checkedAgainst ?? "", reason ?? "", implementation ?? "", String(flops),
                String(n), String(c), String(h), String(w), String(k), String(r), String(s),
                String(stride), String(pad), String(dilation), String(groups)]
    }
}

/// Number spelling shared by the machine-readable formats.
enum BenchNumber {
    /// A plain decimal (no exponent, no grouping), shortest round-trip digits where possible:
    /// `0.000123`, `12.5`, `3`.
    static func plain(_ v: Double) -> String {
        if !v.isFinite { return v.isNaN ? "nan" : (v > 0 ? "inf" : "-inf") }
        let s = "\(v)" // shortest round-trip, may use an exponent
        guard s.contains("e") else { return s.hasSuffix(".0") ? String(s.dropLast(2)) : s }
        // Expand the exponent by hand to keep the shortest digits.
        let parts = s.split(separator: "e")
        let exp = Int(parts[1])!
        var mantissa = String(parts[0])
        let negative = mantissa.hasPrefix("-")
        if negative { mantissa.removeFirst() }
        let dot = mantissa.firstIndex(of: ".")
        let intPart = dot.map { String(mantissa[..<$0]) } ?? mantissa
        let fracPart = dot.map { String(mantissa[mantissa.index(after: $0)...]) } ?? ""
        var digits = intPart + fracPart
        var point = intPart.count + exp
        if point <= 0 {
            digits = String(repeating: "0", count: -point + 1) + digits
            point = 1
        } else if point > digits.count {
            digits += String(repeating: "0", count: point - digits.count)
        }
        var whole = String(digits.prefix(point))
        var frac = String(digits.dropFirst(point))
        while frac.hasSuffix("0") { frac.removeLast() }
        if whole.isEmpty { whole = "0" }
        return (negative ? "-" : "") + whole + (frac.isEmpty ? "" : "." + frac)
    }
}
