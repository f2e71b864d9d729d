@_spi(Testing) import ConvKit
import Foundation
import Testing

/// Issue 8 for models: one prepared model run from 8 threads at once gives exactly the serial
/// results, and repeated prepare/run/release keeps memory flat.
@Suite("Reliability: models under concurrency and repetition")
struct ReliabilityModelTests {
    @Test("one prepared model, 8 threads at once, different inputs: bitwise the serial results",
          arguments: ["direct", "winograd", "auto"])
    func eightThreads(backend: String) throws {
        let model = try SequentialModel.builtIn(named: "convnetjs-cifar10")
        model.initializeWeights(seed: 11)
        let prepared = try model.prepare(batch: 2, backend: backend, threads: 1)
        var rng = TestRandom(seed: 17)
        let inputs = try (0..<8).map { _ in
            try Tensor(shape: TensorShape(n: 2, c: 3, h: 32, w: 32), values: rng.uniform(2 * 3 * 32 * 32))
        }
        let serial = try inputs.map { try prepared.run($0, threads: 1).scalars }
        let results = LockedBox([[Float]](repeating: [], count: 8))
        let box = UncheckedSendableBox((prepared, inputs))
        runOnSeparateThreads(8) { i in
            let y = (try? box.value.0.run(box.value.1[i], threads: 1 + i % 2).scalars) ?? []
            results.withValue { $0[i] = y }
        }
        let concurrent = results.withValue { $0 }
        for i in 0..<8 { #expect(concurrent[i] == serial[i], "\(backend): thread \(i) differs from the serial run") }
    }

    @Test("a graph model (residual adds in place, concat slices, SE product), 8 threads at once: bitwise the serial results",
          arguments: ["direct", "auto"])
    func eightThreadsGraph(backend: String) throws {
        let model = try zooGraph()
        try randomizeWeights(model, seed: 12)
        let prepared = try model.prepare(batch: 2, backend: backend, threads: 1)
        var rng = TestRandom(seed: 18)
        let s = model.inputShape
        let inputs = try (0..<8).map { _ in try Tensor(shape: TensorShape(n: 2, c: s.c, h: s.h, w: s.w), values: rng.uniform(2 * s.count)) }
        let serial = try inputs.map { try prepared.run($0, threads: 1).scalars }
        let results = LockedBox([[Float]](repeating: [], count: 8))
        let box = UncheckedSendableBox((prepared, inputs))
        runOnSeparateThreads(8) { i in
            let y = (try? box.value.0.run(box.value.1[i], threads: 1 + i % 2).scalars) ?? []
            results.withValue { $0[i] = y }
        }
        let concurrent = results.withValue { $0 }
        for i in 0..<8 { #expect(concurrent[i] == serial[i], "\(backend): thread \(i) differs from the serial run") }
    }

    @Test("2,000 prepare/run/release cycles of a model keep resident memory flat")
    func noLeaks() throws {
        let iterations = activeSanitizer == nil ? 2_000 : 200
        let model = try SequentialModel.builtIn(named: "convnetjs-mnist")
        model.initializeWeights(seed: 3)
        var rng = TestRandom(seed: 4)
        let x = try Tensor(shape: TensorShape(n: 1, c: 1, h: 24, w: 24), values: rng.uniform(24 * 24))
        var curve: [Int] = []
        let buffersBefore = ConvKitDiagnostics.liveBuffers
        for i in 1...iterations {
            let prepared = try model.prepare(batch: 1, backend: i % 2 == 0 ? "direct" : "auto", threads: 1)
            let y = try prepared.run(x, threads: 1)
            if y.scalars.contains(where: \.isNaN) { Issue.record("cycle \(i): NaN output") }
            if i % 200 == 0, let rss = residentBytes() { curve.append(rss) }
        }
        if leakCheckRunsAlone {
            print("model leak test: RSS every 200 cycles (MB): "
              + curve.map { String(format: "%.1f", Double($0) / 1_048_576) }.joined(separator: ", "))
        }
        // Asserted only when run alone (see `leakCheckRunsAlone`). A prepared model owns tens of
        // KB (weights, packed weights, activation buffers): leaking one per cycle would grow RSS
        // by tens of MB over these cycles.
        guard activeSanitizer == nil, leakCheckRunsAlone, let first = curve.first, let peak = curve.max() else { return }
        #expect(ConvKitDiagnostics.liveBuffers == buffersBefore,
                "\(ConvKitDiagnostics.liveBuffers - buffersBefore) ConvKit buffers leaked")
        #expect(peak - first < 48 * 1_048_576, "RSS grew by \(peak - first) bytes")
    }
}
