// Regression benchmarks of ConvKit's backends on representative CNN layers.
//
// Each benchmark times one `execute` of a convolution prepared on one backend, at a fixed
// thread count, on caller-owned NCHW buffers. Preparing (weight packing, Winograd kernel
// transforms, oneDNN primitive creation), input generation, the first call and the
// correctness checks all happen in setup and teardown, outside the measured region.
// See ../../README.md for how to run, baseline and compare. Nothing here asserts a time.

import Benchmark
import ConvKit

extension BenchmarkMetric {
    /// GFLOP/s of the measured call, in MFLOP/s (metrics are integers):
    /// `2*N*K*OH*OW*(C/groups)*R*S / time`, as `convkit bench` and the notes count it.
    static let mflops = BenchmarkMetric.custom("MFLOP/s", polarity: .prefersLarger, useScalingFactor: false)
}

let benchmarks: @Sendable () -> Void = {
    // Short runs, so that the whole suite takes about a minute on 2 cores: each benchmark
    // stops after 1 s or 500 iterations, whichever comes first, after 2 warm-up calls.
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .mflops],
        units: [.mflops: .count],
        warmupIterations: 2,
        maxDuration: .seconds(1),
        maxIterations: 500
    )

    // ConvKit's fast backends and oneDNN: every layer each supports, at 1 thread, plus VGG
    // conv3_2 at 2 threads. A backend that is not available here (oneDNN without
    // libdnnl, say) registers nothing; one that does not support a layer (Winograd off
    // 3x3 stride 1) skips that layer. `swift package benchmark list` shows what is left.
    for name in ["direct", "winograd", "onednn"] {
        guard let backend = try? BackendRegistry.shared.backend(named: name),
              backend.availability.isAvailable
        else { continue }
        for layer in Layers.all where backend.support(for: layer.descriptor).isSupported {
            register(Workload(backend: backend, layer: layer, threads: 1))
        }
        if backend.support(for: Layers.vggConv3_2.descriptor).isSupported {
            register(Workload(backend: backend, layer: Layers.vggConv3_2, threads: 2))
        }
    }

    // The reference backend (the test oracle, naive loops in Double) on the tiny layer
    // only: it tracks the oracle's own cost, which bounds how large the unit tests can go.
    register(Workload(backend: ReferenceBackend(), layer: Layers.cs231nFirst, threads: 1))

    // The fan-out itself: a concurrentPerform call per fan-out vs a phase of one region.
    registerFanOutBenchmarks()
}

/// The tolerances `baseline compare` and `baseline check` apply to `workload`: the median
/// time (and the throughputs) may move by 15% at 1 thread and 25% at 2 threads, the run-to-run
/// noise of this kind of shared 2-core VM (see the notes); the median malloc count of one
/// execute may not grow at all.
private func thresholds(for workload: Workload) -> [BenchmarkMetric: BenchmarkThresholds] {
    let timing = BenchmarkThresholds(relative: [.p50: workload.threads == 1 ? 15 : 25])
    return [
        .wallClock: timing,
        .throughput: timing,
        .mflops: timing,
        .mallocCountTotal: BenchmarkThresholds(absolute: [.p50: 0]),
    ]
}

/// Registers `workload` as a benchmark named `backend layer tN`.
private func register(_ workload: Workload) {
    let flops = Double(workload.flops)
    var configuration = Benchmark.defaultConfiguration
    configuration.thresholds = thresholds(for: workload)
    Benchmark(workload.benchmarkName, configuration: configuration) { benchmark in
        let start = ContinuousClock.now
        try workload.run()
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        if seconds > 0 {
            benchmark.measurement(.mflops, Int((flops / seconds / 1e6).rounded()))
        }
    } setup: {
        try workload.setUp()
    } teardown: {
        try workload.tearDown()
    }
}
