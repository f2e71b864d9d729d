import ConvKit
import Testing

@Suite("direct backend against the float64 reference")
struct DirectBackendTests {
    /// Every kernel path: the indirect kernel, the implicit GEMM, the pointwise GEMM (for every
    /// 1x1 stride-1 unpadded case) and the packed pointwise GEMM (every unpadded 1x1 case, any
    /// stride) on AVX2+FMA, the same three with their AVX-512F kernels where the CPU has them, the
    /// implicit GEMM on the portable ISA.
    static let variants: [DirectBackend] = (KernelISA.best.hasAVX2FMA
        ? [DirectBackend(isa: .avx2fma, algorithm: .indirect), DirectBackend(isa: .avx2fma, algorithm: .implicitGEMM),
           DirectBackend(isa: .avx2fma, algorithm: .pointwise), DirectBackend(isa: .avx2fma, algorithm: .packedPointwise)]
        : []) + (KernelISA.isSupported(.avx512f)
            ? [DirectBackend(isa: .avx512f, algorithm: .indirect), DirectBackend(isa: .avx512f, algorithm: .implicitGEMM),
               DirectBackend(isa: .avx512f, algorithm: .pointwise),
               DirectBackend(isa: .avx512f, algorithm: .packedPointwise),
               DirectBackend(isa: .avx512f, algorithm: .im2colPointwise),
               DirectBackend(isa: .avx512f, algorithm: .automatic)] : [])
        + [DirectBackend(isa: .portable)]

    @Test("named edge cases", arguments: EdgeCases.all.map(\.0))
    func edgeCase(_ name: String) throws {
        let d = try #require(EdgeCases.all.first { $0.0 == name }?.1)
        let c = ConvCase(d, seed: 7)
        let ref = try c.reference()
        for b in Self.variants {
            let y = try c.run(b, threads: 2)
            let err = normalizedMaxError(y, ref)
            #expect(err <= 1e-5, "\(name) [\(b.isa) \(b.algorithm)]: normalized max error \(err)")
        }
    }

    @Test("random descriptors (seeded)")
    func randomDescriptors() throws {
        var rng = TestRandom(seed: 20261125)
        for i in 0..<300 {
            let d = randomDescriptor(using: &rng)
            let c = ConvCase(d, seed: UInt64(i))
            let ref = try c.reference()
            for b in Self.variants {
                let y = try c.run(b, threads: 1 + i % 3)
                let err = normalizedMaxError(y, ref)
                #expect(err <= 1e-5, "case \(i) \(d) [\(b.isa) \(b.algorithm)]: error \(err)")
            }
        }
    }

    @Test("threads 1, 2 and 5 give identical bits")
    func threadCountsBitIdentical() throws {
        ConvKit.minimumFLOPsPerThread = 0   // use every thread even on these small layers
        let descriptors: [Conv2DDescriptor] = [
            .init(batch: 2, channels: 24, height: 30, width: 30, filters: 40, size: 3, pad: 1),
            .init(channels: 64, height: 7, width: 7, filters: 50, size: 3, pad: 1),
            .init(channels: 12, height: 33, width: 33, filters: 12, size: 3, pad: 1, groups: 12),
        ]
        for d in descriptors {
            let c = ConvCase(d, seed: 3)
            for b in Self.variants {
                let one = try c.run(b, threads: 1)
                for t in [2, 5] {
                    let other = try c.run(b, threads: t)
                    #expect(one == other, "\(d) [\(b.isa) \(b.algorithm)] threads \(t) differs from 1 thread")
                }
            }
        }
    }

    @Test("portable and AVX2 paths agree", .enabled(if: KernelISA.best.hasAVX2FMA, "CPU lacks AVX2+FMA"))
    func portableMatchesAVX2() throws {
        let c = ConvCase(.init(batch: 2, channels: 13, height: 29, width: 29, filters: 24, size: 3, pad: 1), seed: 5)
        let p = try c.run(DirectBackend(isa: .portable))
        for algorithm in DirectBackend.Algorithm.allCases {
            let a = try c.run(DirectBackend(isa: .avx2fma, algorithm: algorithm))
            #expect(normalizedMaxError(p, a) <= 1e-6, "\(algorithm)")
        }
    }

    @Test("indirect path: images padded block by block; huge padding takes the implicit GEMM",
          .enabled(if: KernelISA.best.hasAVX2FMA, "CPU lacks AVX2+FMA"))
    func indirectBlocksAndFallback() throws {
        // 8 x 514 x 514 floats (8.5 MB) per padded image: one image per 16 MiB block, 3 blocks.
        let big = Conv2DDescriptor(batch: 3, channels: 8, height: 512, width: 512, filters: 2, size: 3, pad: 1,
                                   activation: .relu)
        let c = ConvCase(big, seed: 21)
        let b = DirectBackend(isa: .avx2fma, algorithm: .indirect)
        let p = try b.prepare(big, weights: c.weights, bias: c.bias)
        #expect(p.implementation.contains("indirect"), "\(p.implementation)")
        #expect(p.workspaceBytes == 8 * 514 * 514 * 4, "one padded image: \(p.workspaceBytes) bytes")
        #expect(normalizedMaxError(try c.run(b, threads: 2), try c.reference()) <= 1e-5)
        // Padding 300 around a 3x3 image: the padded plane would be 603x603 for 9 input values.
        let padded = Conv2DDescriptor(channels: 3, height: 3, width: 3, filters: 4, size: 3, pad: 300)
        let q = ConvCase(padded, seed: 22)
        let prepared = try b.prepare(padded, weights: q.weights, bias: q.bias)
        #expect(prepared.implementation.contains("implicit GEMM"), "\(prepared.implementation)")
        #expect(normalizedMaxError(try q.run(b), try q.reference()) <= 1e-5)
    }


    @Test("automatic 1x1 choice: deep, 7x7 and strided layers run the indirect kernel on AVX-512F",
          .enabled(if: KernelISA.isSupported(.avx512f), "CPU lacks AVX-512F"))
    func automaticPointwiseChoice() throws {
        let deep = Conv2DDescriptor(channels: 512, height: 13, width: 13, filters: 129, size: 1, pad: 0)
        let shallow = Conv2DDescriptor(channels: 192, height: 28, width: 28, filters: 32, size: 1, pad: 0)
        let small = Conv2DDescriptor(channels: 96, height: 7, width: 7, filters: 40, size: 1, pad: 0)
        let strided = Conv2DDescriptor(channels: 64, height: 15, width: 15, filters: 24, size: 1, stride: 2, pad: 0)
        for (d, avx512Path, avx2Path) in [(deep, "indirect", "on NCHW"), (shallow, "on NCHW", "on NCHW"),
                                          (small, "indirect", "packed 6-pixel"), (strided, "indirect", "packed 6-pixel")] {
            let c = ConvCase(d, seed: 23)
            for (isa, path) in [(KernelISA.avx512f, avx512Path), (.avx2fma, avx2Path)] {
                let b = DirectBackend(isa: isa, algorithm: .automatic)
                let p = try b.prepare(d, weights: c.weights, bias: c.bias)
                #expect(p.implementation.contains(path), "\(d) on \(isa): \(p.implementation)")
                #expect(normalizedMaxError(try c.run(b, threads: 2), try c.reference()) <= 1e-5)
            }
        }
    }
    @Test("NaN and infinity propagate")
    func nonFinitePropagates() throws {
        let d = Conv2DDescriptor(channels: 2, height: 6, width: 6, filters: 3, size: 3, pad: 1, activation: .relu)
        var c = ConvCase(d, seed: 9)
        var x = c.input
        x[7] = .nan
        x[30] = .infinity
        c = ConvCase(descriptor: d, input: x, weights: c.weights, bias: c.bias)
        let ref = try c.reference()
        for b in Self.variants {
            let y = try c.run(b)
            #expect(y.indices.allSatisfy { y[$0].isNaN == ref[$0].isNaN }, "NaN pattern differs [\(b.isa) \(b.algorithm)]")
            #expect(normalizedMaxError(y, ref) <= 1e-5)
        }
    }
}

extension ConvCase {
    init(descriptor: Conv2DDescriptor, input: [Float], weights: [Float], bias: [Float]?) {
        self.descriptor = descriptor
        self.input = input
        self.weights = weights
        self.bias = bias
    }
}

@Suite("plans: what prepare will run, known before packing")
struct ConvPlanTests {
    /// Every direct variant on the named edge cases and 150 random descriptors: the plan names
    /// the kernel and workspace the prepared convolution then reports, and the algorithm its
    /// kernel belongs to.
    @Test("direct plans match the prepared convolutions (kernel, workspace, algorithm)")
    func directPlansMatchPrepared() throws {
        var rng = TestRandom(seed: 20261202)
        let descriptors = EdgeCases.all.map(\.1) + (0..<150).map { _ in randomDescriptor(using: &rng) }
        var marks = ["depthwise": "depthwise", "packed-pointwise": "packed 6-pixel", "pointwise": "on NCHW",
                     "indirect": "indirect", "implicit-gemm": "implicit GEMM"]
        // The im2col path exists where the table has its kernel (AVX-512F).
        if KernelISA.isSupported(.avx512f) { marks["im2col-pointwise"] = "im2col rows" }
        var algorithms = Set<String>()
        for d in descriptors {
            let c = ConvCase(d, seed: 3)
            for b in DirectBackendTests.variants {
                let plan = try #require(try b.plan(for: d))
                let p = try b.prepare(d, weights: c.weights, bias: c.bias)
                #expect(plan.backend == "direct")
                #expect(plan.kernel == p.implementation, "\(d) [\(b.isa) \(b.algorithm)]")
                #expect(plan.workspaceBytes == p.workspaceBytes, "\(d) [\(b.isa) \(b.algorithm)]: \(plan)")
                #expect(plan.threads == ConvKit.defaultThreadCount)
                #expect(plan.runsSmallerBatches && p.runsSmallerBatches, "\(d) [\(b.isa) \(b.algorithm)]")
                let mark = try #require(marks[plan.algorithm], "unknown algorithm \(plan.algorithm)")
                #expect(plan.kernel.contains(mark), "\(plan)")
                algorithms.insert(plan.algorithm)
            }
        }
        #expect(algorithms == Set(marks.keys), "paths reached: \(algorithms.sorted())")
    }

    @Test("winograd plans match the prepared convolutions (tile, kernel, workspace) for every tile and thread count; unsupported layers throw")
    func winogradPlansMatchPrepared() throws {
        var rng = TestRandom(seed: 20261206)
        var descriptors: [Conv2DDescriptor] = [
            Conv2DDescriptor(channels: 64, height: 56, width: 56, filters: 64, size: 3, pad: 1),
            Conv2DDescriptor(channels: 512, height: 7, width: 7, filters: 512, size: 3, pad: 1),
            Conv2DDescriptor(batch: 3, channels: 5, height: 9, width: 13, filters: 7, size: 3, pad: 0),
            Conv2DDescriptor(channels: 512, height: 28, width: 28, filters: 512, size: 3, pad: 1)]  // weights-bound
        for _ in 0..<40 {
            let c = Int.random(in: 1...40, using: &rng), k = Int.random(in: 1...40, using: &rng)
            let h = Int.random(in: 3...30, using: &rng), w = Int.random(in: 3...30, using: &rng)
            descriptors.append(Conv2DDescriptor(batch: Int.random(in: 1...3, using: &rng), inputChannels: c,
                                                inputHeight: h, inputWidth: w, outputChannels: k, kernelHeight: 3,
                                                kernelWidth: 3, padding: Padding(top: Int.random(in: 0...2, using: &rng),
                                                                                 left: Int.random(in: 0...2, using: &rng),
                                                                                 bottom: Int.random(in: 0...2, using: &rng),
                                                                                 right: Int.random(in: 0...2, using: &rng))))
        }
        for d in descriptors {
            let weights = [Float](repeating: 0.01, count: d.weightCount), bias = [Float](repeating: 0, count: d.outputChannels)
            for tile in [nil] + WinogradTile.allCases.map(Optional.some) {
                let b = WinogradBackend(tile: tile)
                let p = try b.prepare(d, weights: weights, bias: bias)
                let plan = try #require(try b.plan(for: d))
                #expect(plan.backend == "winograd" && plan.kernel == p.implementation, "\(d) \(String(describing: tile))")
                #expect(plan.algorithm == (tile ?? WinogradBackend.automaticTile(for: d)).description)
                #expect(plan.workspaceBytes == p.workspaceBytes, "\(d) \(String(describing: tile)): \(plan)")
                #expect(plan.runsSmallerBatches && p.runsSmallerBatches)
                // Each extra worker owns one tile block's V and M: the workspace grows with the threads.
                let one = try #require(try b.plan(for: d, threads: 1)), three = try #require(try b.plan(for: d, threads: 3))
                #expect(three.workspaceBytes > one.workspaceBytes)
            }
        }
        let strided = Conv2DDescriptor(channels: 8, height: 9, width: 9, filters: 8, size: 3, stride: 2, pad: 1)
        #expect(throws: ConvError.unsupported(backend: "winograd", reason: "Winograd needs stride 1, got 2,2")) {
            try WinogradBackend().plan(for: strided)
        }
        #expect(throws: ConvError.nonPositive(parameter: "threads", value: 0)) {
            try WinogradBackend().plan(for: descriptors[0], threads: 0)
        }
    }

    @Test("plan workspace scales with the thread count where workers own scratch; bad input throws")
    func planThreadsAndErrors() throws {
        let gemm = Conv2DDescriptor(channels: 8, height: 20, width: 20, filters: 8, size: 3, pad: 1)
        let b = DirectBackend(isa: .portable)
        let one = try #require(try b.plan(for: gemm, threads: 1))
        let four = try #require(try b.plan(for: gemm, threads: 4))
        #expect(one.algorithm == "implicit-gemm")
        #expect(four.workspaceBytes > one.workspaceBytes, "\(one) / \(four)")
        #expect(four.threads == 4)
        #expect(throws: ConvError.self) { try b.plan(for: gemm, threads: 0) }
        var bad = gemm
        bad.groups = 3
        #expect(throws: ConvError.self) { try DirectBackend().plan(for: bad) }
        // A backend that cannot tell without preparing says so.
        #expect(try ReferenceBackend().plan(for: gemm) == nil)
    }
}
