import ArgumentParser
import ConvKit
import Foundation

/// `convkit backends`: what can run here.
struct BackendsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backends",
        abstract: "List the registered backends, their availability, the CPU features and the thread count.",
        discussion: """
            Output (stdout): a 'backends:' section with one line per backend, in 'auto''s order of \
            preference: name, 'available' or 'unavailable', summary; an unavailable backend is \
            followed by an indented 'why:' line. Then 'auto', and 'key: value' lines: cpu \
            features, kernel isa, default threads.
            """)

    func run() throws {
        try runReportingErrors {
            print(BackendsCommand.report(registry: .shared), terminator: "")
        }
    }

    /// The text `backends` prints for `registry`.
    static func report(registry: BackendRegistry) -> String {
        let backends = registry.all
        let auto = try? registry.backend(named: AutoBackend.autoName)
        let rows: [(name: String, status: String, summary: String, why: String?)] =
            backends.map { b in
                switch b.availability {
                case .available: return (b.name, "available", b.summary, nil)
                case let .unavailable(reason): return (b.name, "unavailable", b.summary, reason)
                }
            } + (auto.map { a in
                [(a.name, a.availability.isAvailable ? "available" : "unavailable",
                  a.summary + ": the first backend above that is available, supports the layer and recommends "
                  + "itself (winograd: 3x3 stride 1, >= 16 input and output channels, N x OH x OW >= 49), "
                  + "else the first that supports it", nil)]
            } ?? [])
        let nameWidth = rows.map(\.name.count).max() ?? 0
        let statusWidth = rows.map(\.status.count).max() ?? 0
        var out = "backends:\n"
        for row in rows {
            out += "  " + pad(row.name, nameWidth) + "  " + pad(row.status, statusWidth) + "  " + row.summary + "\n"
            if let why = row.why { out += "  " + String(repeating: " ", count: nameWidth) + "  why: " + why + "\n" }
        }
        let features = CPUFeatures.current
        out += "cpu features: \(features)\n"
        var isa = "kernel isa: \(KernelISA.selected.rawValue)"
        if KernelISA.selected != KernelISA.best {
            isa += " (forced by CONVKIT_ISA; best on this CPU: \(KernelISA.best.rawValue))"
        } else if KernelISA.selected == .portable {
            isa += " (this CPU lacks AVX2+FMA)"
        }
        out += isa + "\n"
        if let peak = CPUFeatures.measureFMAPeakGFLOPs(seconds: 0.05) {
            let vectors = KernelISA.selected == .avx512f ? "AVX-512F FMA" : "AVX2 FMA"
            out += "fma peak: \(Int(peak.rounded())) GFLOP/s per thread (\(vectors), measured now; meaningful in release builds)\n"
        }
        let fromEnvironment = ProcessInfo.processInfo.environment["CONVKIT_NUM_THREADS"]
            .flatMap { Int($0) }.map { $0 > 0 } ?? false
        out += "default threads: \(ConvKit.defaultThreadCount)"
            + (fromEnvironment ? " (from CONVKIT_NUM_THREADS)"
                               : " (active cores; set CONVKIT_NUM_THREADS to change)")
            + "\n"
        return out
    }

    private static func pad(_ s: String, _ width: Int) -> String {
        s + String(repeating: " ", count: max(width - s.count, 0))
    }
}
