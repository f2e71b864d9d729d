import ConvKit
@testable import ConvKitTools

/// Hand-made records for the formatter tests: two layers, three backends, two thread counts,
/// with an unsupported cell, a failed cell and a core-only time.
enum BenchFixtures {
    static let layers = [
        BenchLayer("tiny <&> \"layer\"", c: 3, h: 8, w: 8, k: 4, r: 3, s: 3, pad: 1),
        BenchLayer("wide,layer", n: 2, c: 8, h: 12, w: 12, k: 16, r: 1, s: 1),
    ]

    static var report: BenchReport {
        var records: [BenchRecord] = []
        for (li, layer) in layers.enumerated() {
            for backend in ["direct", "onednn", "winograd"] {
                for t in [1, 2] {
                    var r = BenchRecord(layer: layer, backend: backend, threads: t, status: .ok)
                    if backend == "winograd" && li == 1 {
                        r.status = .unsupported
                        r.reason = "only 3x3 kernels"
                    } else if backend == "winograd" && t == 2 {
                        r.status = .failed
                        r.reason = "backend 'winograd': x failed with y"
                    } else {
                        let ms = 0.001 * Double(li + 1) * (backend == "direct" ? 1.0 : 1.25) / Double(t)
                        r.medianMs = ms
                        r.minMs = ms * 0.9
                        r.maxMs = ms * 1.2
                        r.gflops = Double(r.flops) / (ms * 1e6)
                        r.maxErr = backend == "direct" ? nil : 1.5e-7
                        r.checkedAgainst = "direct"
                        r.reason = backend == "direct" ? "oracle for this layer" : nil
                        r.reps = 100
                        r.rounds = 3
                        r.prepareMs = 0.25
                        r.firstRunMs = 0.0625
                        r.implementation = "\(backend) kernel"
                        if backend == "onednn" {
                            r.coreMs = ms * 0.8
                            r.coreGflops = Double(r.flops) / (ms * 0.8 * 1e6)
                        }
                    }
                    records.append(r)
                }
            }
        }
        var report = BenchReport(records: records, peakGFLOPsPerThread: 101, rounds: 3, minTime: 0.25, cores: 2)
        BenchRunner.fillRelativeColumns(&report)
        return report
    }
}
