import Foundation
import Testing
import ConvKit

/// Edge cases of the depthwise plane kernel, the pointwise kernel and the fully connected
/// kernel: planes narrower than a vector, partial tiles, odd feature counts, accumulation.
@Suite("Kernel edges: depthwise planes, pointwise tiles, fully connected tiles")
struct KernelEdgeTests {
    static func check(_ d: Conv2DDescriptor, seed: UInt64, tolerance: Double = 1e-5,
                      backend: DirectBackend = DirectBackend()) throws {
        var rng = TestRandom(seed: seed)
        let w = rng.uniform(d.weightCount), b = rng.uniform(d.outputChannels), x = rng.uniform(d.inputCount)
        let prior = rng.uniform(d.outputCount)
        var want = prior, got = prior
        try x.withUnsafeBufferPointer { xb in
            try want.withUnsafeMutableBufferPointer {
                try ReferenceBackend().prepare(d, weights: w, bias: b).execute(input: xb, output: $0, threads: 1)
            }
            for threads in [1, 3] {
                got = prior
                try got.withUnsafeMutableBufferPointer {
                    try backend.prepare(d, weights: w, bias: b).execute(input: xb, output: $0, threads: threads)
                }
                #expect(normalizedMaxError(got, want) < tolerance, "\(d), \(threads) threads")
            }
        }
    }

    /// Runs `d` on `isa`'s indirect path with NaN on both sides of the input (a tap read outside
    /// it would make an output NaN) and checks the result against the float64 reference.
    static func expectNoReadOutsideInput(_ d: Conv2DDescriptor, isa: KernelISA, seed: UInt64) throws {
        var rng = TestRandom(seed: seed)
        let guardFloats = 4096
        let x = rng.uniform(d.inputCount), wt = rng.uniform(d.weightCount), b = rng.uniform(d.outputChannels)
        let guarded = [Float](repeating: .nan, count: guardFloats) + x + [Float](repeating: .nan, count: guardFloats)
        var y = [Float](repeating: 0, count: d.outputCount)
        try guarded.withUnsafeBufferPointer { gb in
            try y.withUnsafeMutableBufferPointer {
                try DirectBackend(isa: isa, algorithm: .indirect).prepare(d, weights: wt, bias: b)
                    .execute(input: UnsafeBufferPointer(rebasing: gb[guardFloats..<(guardFloats + x.count)]),
                             output: $0, threads: 1)
            }
        }
        let anyNaN = y.contains { $0.isNaN }
        #expect(!anyNaN, "\(d) on \(isa): a tap outside the input was read")
        var want = [Float](repeating: 0, count: d.outputCount)
        try x.withUnsafeBufferPointer { xb in
            try want.withUnsafeMutableBufferPointer {
                try ReferenceBackend().prepare(d, weights: wt, bias: b).execute(input: xb, output: $0, threads: 1)
            }
        }
        // Within depth * u of the float64 reference (relative to the largest output).
        let depth = d.inputChannelsPerGroup * d.kernelHeight * d.kernelWidth
        #expect(normalizedMaxError(y, want) < Swift.max(1e-5, Double(depth) * 6e-8), "\(d) on \(isa)")
    }

    @Test("depthwise planes of every small size, stride 1 and 2, dilation, 5x5, clamp and accumulation")
    func depthwiseSmallPlanes() throws {
        var seed: UInt64 = 1
        for size in [1, 2, 3, 5, 7, 8, 9, 15, 17] {
            for (stride, k, dil) in [(1, 3, 1), (2, 3, 1), (1, 5, 1), (1, 3, 2), (2, 5, 1)] {
                let pad = (k - 1) * dil / 2
                for accumulate in [false, true] {
                    var d = Conv2DDescriptor(batch: 2, channels: 5, height: size, width: size + 1, filters: 5, size: k,
                                             stride: stride, pad: pad, dilation: dil, groups: 5, activation: .relu6)
                    d.accumulate = accumulate
                    try Self.check(d, seed: seed)
                    seed += 1
                }
            }
        }
    }

    @Test("pointwise layers: partial pixel and channel tiles, groups, batch, clamp and accumulation")
    func pointwise() throws {
        var seed: UInt64 = 100
        // Pixel counts whose last AVX-512 step (64 pixels) has 1, 2, 3 or 4 vectors, whole or masked,
        // and whose last AVX2 step (16 pixels) is whole or masked.
        let isas = [KernelISA.avx2fma, .avx512f].filter(KernelISA.isSupported)
        for (c, k, h, w, g) in [(3, 7, 28, 29, 1), (16, 13, 31, 30, 1), (24, 6, 28, 28, 1), (64, 17, 33, 29, 1),
                                (12, 18, 28, 30, 3), (192, 5, 29, 28, 1), (8, 9, 5, 5, 1), (20, 8, 7, 9, 2),
                                (5, 3, 1, 1, 1), (7, 6, 4, 8, 1)] {
            for accumulate in [false, true] {
                var d = Conv2DDescriptor(batch: 2, channels: c, height: h, width: w, filters: k, size: 1, groups: g,
                                         activation: .clamp(min: -0.5, max: 0.7))
                d.accumulate = accumulate
                for isa in isas {
                    try Self.check(d, seed: seed, backend: DirectBackend(isa: isa, algorithm: .pointwise))
                }
                seed += 1
            }
        }
    }

    @Test("packed pointwise layers: 6-pixel tile edges, strides, depth blocks, partial channel panels, groups, batch")
    func packedPointwise() throws {
        var seed: UInt64 = 200
        // (C, K, H, W, stride, groups): planes of 1 to 14x14 pixels (P mod 6 from 0 to 5),
        // strides 1-3, depths below, at and above the 256-channel depth block (two and three
        // blocks), K not a multiple of 16.
        for (c, k, h, w, s, g) in [(3, 5, 1, 1, 1, 1), (8, 16, 7, 7, 1, 1), (17, 33, 5, 3, 1, 1), (256, 20, 4, 4, 1, 1),
                                   (257, 48, 7, 7, 1, 1), (520, 17, 3, 5, 1, 1), (784, 40, 14, 14, 1, 1),
                                   (24, 31, 13, 13, 2, 1), (12, 18, 11, 9, 3, 3), (40, 64, 15, 14, 2, 2)] {
            for accumulate in [false, true] {
                var d = Conv2DDescriptor(batch: 3, channels: c, height: h, width: w, filters: k, size: 1, stride: s,
                                         groups: g, activation: .clamp(min: -0.5, max: 0.7))
                d.accumulate = accumulate
                // As `direct` chooses (all but the 14x14 stride-1 one take the packed path) and forced. The
                // error is normalized by the largest (clamped, so at most 0.7) output: float32
                // sums of 784 products reach 1.3e-5 of it.
                let tolerance = c > 600 ? 3e-5 : 1e-5
                try Self.check(d, seed: seed, tolerance: tolerance)
                for isa in [KernelISA.avx2fma, .avx512f].filter(KernelISA.isSupported) {
                    try Self.check(d, seed: seed, tolerance: tolerance,
                                   backend: DirectBackend(isa: isa, algorithm: .packedPointwise))
                }
                seed += 1
            }
        }
    }

    @Test("input read in place (AVX-512F row kernel): every tile size 1-7, tiles of several short rows, single and paired panels, asymmetric, wide and all-padding borders, strides, dilation, groups, accumulation; nothing outside the input is read",
          .enabled(if: KernelISA.isSupported(.avx512f), "CPU lacks AVX-512F"))
    func indirectInPlace() throws {
        var seed: UInt64 = 900
        // (C, K, H, W, R, S, stride, dilation, padding, groups)
        let cases: [(Int, Int, Int, Int, Int, Int, Int, Int, Padding, Int)] = [
            (16, 16, 9, 9, 3, 3, 1, 1, Padding(1), 1),          // rows of 9: tiles 5 + 4, one panel
            (20, 46, 13, 11, 3, 3, 1, 1, Padding(1), 1),        // a pair and a last panel of 14
            (16, 33, 12, 15, 5, 5, 2, 1, Padding(top: 0, left: 2, bottom: 2, right: 1), 1),
            (16, 30, 11, 14, 3, 3, 1, 2, Padding(2), 1),        // dilation 2, a pair of 16 + 14
            (16, 16, 5, 5, 3, 3, 1, 1, Padding(3), 1),          // border pixels see only padding
            (24, 48, 17, 17, 7, 7, 2, 1, Padding(3), 1),
            (16, 29, 6, 20, 1, 7, 1, 1, Padding(top: 0, left: 3, bottom: 0, right: 3), 1),
            (32, 60, 8, 8, 3, 3, 1, 1, Padding(1), 2),          // groups
            (16, 32, 4, 29, 3, 3, 1, 1, Padding(top: 2, left: 0, bottom: 1, right: 4), 1),
            (18, 35, 3, 1, 3, 3, 1, 1, Padding(1), 1),          // one-pixel rows
            (16, 64, 7, 7, 3, 3, 1, 1, Padding(top: 1, left: 1, bottom: 0, right: 0), 1),
            // Rows of at most 4 pixels with 160 or more channels: tiles of several whole rows.
            (160, 40, 7, 7, 3, 3, 2, 1, Padding(1), 1),         // 2 rows of 4, a pair and a last panel of 8
            (176, 20, 5, 6, 5, 5, 2, 1, Padding(top: 2, left: 1, bottom: 0, right: 3), 1),  // 2 rows of 3
            (160, 48, 3, 2, 3, 3, 1, 1, Padding(1), 1),         // rows of 2: one tile of 3 rows
            (320, 64, 4, 1, 3, 3, 1, 2, Padding(2), 2),         // rows of 1, dilation 2, groups
            (160, 16, 2, 4, 7, 7, 1, 1, Padding(3), 1),         // a 7x7 filter over a 2x4 input
            (160, 24, 6, 1, 3, 3, 1, 1, Padding(top: 3, left: 1, bottom: 3, right: 1), 1),  // rows of padding only
            (160, 20, 20, 3, 3, 3, 1, 1, Padding(top: 1, left: 0, bottom: 1, right: 0), 1),  // a tile of 8 rows inside
        ]
        for (c, k, h, w, r, s, stride, dil, padding, g) in cases {
            for (accumulate, activation) in [(false, Activation.none), (true, .clamp(min: -0.5, max: 0.7))] {
                var d = Conv2DDescriptor(batch: 2, inputChannels: c, inputHeight: h, inputWidth: w, outputChannels: k,
                                         kernelHeight: r, kernelWidth: s, strideHeight: stride, strideWidth: stride,
                                         padding: padding, dilationHeight: dil, dilationWidth: dil, groups: g,
                                         activation: activation)
                d.accumulate = accumulate
                let backend = DirectBackend(isa: .avx512f, algorithm: .indirect)
                let p = try backend.prepare(d, weights: Array(repeating: 0.5, count: d.weightCount),
                                           bias: Array(repeating: 0, count: d.outputChannels))
                #expect(p.implementation.contains("input read in place") && p.workspaceBytes == 0,
                        "\(d): \(p.implementation), \(p.workspaceBytes) bytes")
                // Sums of C/g * R * S float32 products in the kernel's order: within depth * u of
                // the float64 reference (relative to the largest output).
                try Self.check(d, seed: seed, tolerance: Swift.max(1e-5, Double(c / g * r * s) * 6e-8), backend: backend)
                seed += 1
            }
            let d = Conv2DDescriptor(inputChannels: c, inputHeight: h, inputWidth: w, outputChannels: k,
                                     kernelHeight: r, kernelWidth: s, strideHeight: stride, strideWidth: stride,
                                     padding: padding, dilationHeight: dil, dilationWidth: dil, groups: g)
            try Self.expectNoReadOutsideInput(d, isa: .avx512f, seed: seed)
        }
    }

    @Test("input read in place (AVX2 row kernel, strided layers): every tile size 1-6, partial panels, asymmetric, wide and all-padding borders, dilation, groups, accumulation; nothing outside the input is read; the AVX-512F row kernel's bits",
          .enabled(if: KernelISA.isSupported(.avx2fma), "CPU lacks AVX2"))
    func indirectInPlaceAVX2() throws {
        var seed: UInt64 = 950
        // (C, K, H, W, R, S, stride, dilation, padding, groups): output rows of 1 to 13 pixels.
        let cases: [(Int, Int, Int, Int, Int, Int, Int, Int, Padding, Int)] = [
            (32, 16, 9, 9, 3, 3, 2, 1, Padding(1), 1),          // rows of 5
            (40, 37, 13, 25, 3, 3, 2, 1, Padding(1), 1),        // rows of 13: 5 + 4 + 4; panels 16, 16, 5
            (32, 20, 12, 15, 5, 5, 2, 1, Padding(top: 0, left: 2, bottom: 2, right: 1), 1),
            (32, 30, 11, 14, 3, 3, 2, 2, Padding(2), 1),        // dilation 2
            (32, 16, 5, 5, 3, 3, 2, 1, Padding(3), 1),          // border pixels see only padding
            (48, 24, 17, 17, 7, 7, 2, 1, Padding(3), 1),        // rows of 9
            (32, 29, 6, 20, 1, 7, 2, 1, Padding(top: 0, left: 3, bottom: 0, right: 3), 1),
            (64, 40, 8, 8, 3, 3, 2, 1, Padding(1), 2),          // groups, rows of 4
            (32, 32, 4, 29, 3, 3, 3, 1, Padding(top: 2, left: 0, bottom: 1, right: 4), 1),  // stride 3, rows of 11
            (36, 35, 3, 1, 3, 3, 2, 1, Padding(1), 1),          // one-pixel rows
            (32, 17, 7, 7, 3, 3, 2, 1, Padding(top: 1, left: 1, bottom: 0, right: 0), 1),   // rows of 3
            (32, 24, 6, 12, 3, 3, 2, 1, Padding(top: 1, left: 1, bottom: 1, right: 1), 1),  // rows of 6
            (32, 24, 7, 4, 3, 3, 2, 1, Padding(1), 1),          // rows of 2
        ]
        let isas = [KernelISA.avx2fma, .avx512f].filter(KernelISA.isSupported)
        for (c, k, h, w, r, s, stride, dil, padding, g) in cases {
            for (accumulate, activation) in [(false, Activation.none), (true, .clamp(min: -0.5, max: 0.7))] {
                var d = Conv2DDescriptor(batch: 2, inputChannels: c, inputHeight: h, inputWidth: w, outputChannels: k,
                                         kernelHeight: r, kernelWidth: s, strideHeight: stride, strideWidth: stride,
                                         padding: padding, dilationHeight: dil, dilationWidth: dil, groups: g,
                                         activation: activation)
                d.accumulate = accumulate
                var rng = TestRandom(seed: seed)
                let wt = rng.uniform(d.weightCount), b = rng.uniform(d.outputChannels), x = rng.uniform(d.inputCount)
                let prior = rng.uniform(d.outputCount)
                // Sums of C/g * R * S float32 products in the kernel's order: within depth * u of
                // the float64 reference (relative to the largest output); the same bits on both ISAs.
                try Self.check(d, seed: seed, tolerance: Swift.max(1e-5, Double(c / g * r * s) * 6e-8),
                               backend: DirectBackend(isa: .avx2fma, algorithm: .indirect))
                var results: [[Float]] = []
                for isa in isas {
                    let p = try DirectBackend(isa: isa, algorithm: .indirect).prepare(d, weights: wt, bias: b)
                    #expect(p.implementation.contains("input read in place") && p.workspaceBytes == 0,
                            "\(d) on \(isa): \(p.implementation), \(p.workspaceBytes) bytes")
                    var y = prior
                    try x.withUnsafeBufferPointer { xb in
                        try y.withUnsafeMutableBufferPointer { try p.execute(input: xb, output: $0, threads: 2) }
                    }
                    results.append(y)
                }
                if results.count == 2 {
                    #expect(results[0].map(\.bitPattern) == results[1].map(\.bitPattern), "\(d): AVX2 and AVX-512F bits")
                }
                seed += 1
            }
            let d = Conv2DDescriptor(inputChannels: c, inputHeight: h, inputWidth: w, outputChannels: k,
                                     kernelHeight: r, kernelWidth: s, strideHeight: stride, strideWidth: stride,
                                     padding: padding, dilationHeight: dil, dilationWidth: dil, groups: g)
            try Self.expectNoReadOutsideInput(d, isa: .avx2fma, seed: seed)
            seed += 1
        }
    }

    @Test("few output channels (1-13 per group, or a last panel of 8 or 6): rows not a multiple of 8, padding, dilation, groups, row stride 2")
    func fewChannels() throws {
        var seed: UInt64 = 400
        var bitComparisons = 0
        for (c, k, h, w, r, pad, dil, g, sh) in [(3, 10, 32, 32, 5, 2, 1, 1, 1), (1, 1, 5, 3, 3, 1, 1, 1, 1),
                                                 (7, 5, 9, 13, 3, 0, 1, 1, 1), (16, 12, 11, 17, 3, 2, 2, 1, 1),
                                                 (8, 8, 6, 9, 1, 0, 1, 2, 1), (12, 9, 7, 7, 7, 3, 1, 3, 1),
                                                 (5, 13, 10, 10, 3, 1, 1, 1, 1), (6, 4, 13, 15, 3, 1, 1, 1, 2),
                                                 (9, 24, 9, 11, 3, 1, 1, 1, 1), (4, 44, 7, 10, 3, 1, 2, 2, 1),
                                                 (3, 7, 5, 50, 3, 1, 1, 1, 1), (2, 11, 4, 33, 5, 2, 1, 1, 1),
                                                 (5, 12, 3, 64, 3, 1, 1, 1, 1)] {
            for accumulate in [false, true] {
                var d = Conv2DDescriptor(batch: 2, inputChannels: c, inputHeight: h, inputWidth: w, outputChannels: k,
                                         kernelHeight: r, kernelWidth: r, strideHeight: sh, strideWidth: 1,
                                         padding: Padding(pad), dilationHeight: dil, dilationWidth: dil, groups: g,
                                         activation: .clamp(min: -0.5, max: 0.7))
                d.accumulate = accumulate
                let isas = [KernelISA.avx2fma, .avx512f].filter(KernelISA.isSupported)
                for isa in isas {
                    try Self.check(d, seed: seed, backend: DirectBackend(isa: isa))
                }
                // The AVX-512F few-channel kernel (32 pixels per step) gives the AVX2 kernel's bits
                // where both ISAs run it (rows whose 16-pixel vectors would be emptier than the
                // tile's channel lanes run the 6x16 tile on AVX-512F instead).
                if isas.count == 2 {
                    var rng = TestRandom(seed: seed)
                    let wt = rng.uniform(d.weightCount), b = rng.uniform(d.outputChannels), x = rng.uniform(d.inputCount)
                    let prior = rng.uniform(d.outputCount)
                    var outputs: [[UInt32]] = [], fewKernels = 0
                    for isa in isas {
                        var y = prior
                        let conv = try DirectBackend(isa: isa).prepare(d, weights: wt, bias: b)
                        if conv.implementation.contains("ck_f32_conv_fewk_") { fewKernels += 1 }
                        try x.withUnsafeBufferPointer { xb in
                            try y.withUnsafeMutableBufferPointer { try conv.execute(input: xb, output: $0, threads: 2) }
                        }
                        outputs.append(y.map(\.bitPattern))
                    }
                    if fewKernels == 2 {
                        bitComparisons += 1
                        #expect(outputs[0] == outputs[1], "\(d)")
                    }
                }
                seed += 1
            }
        }
        if [KernelISA.avx2fma, .avx512f].allSatisfy(KernelISA.isSupported) {
            #expect(bitComparisons >= 10, "few layers ran the few-channel kernel on both ISAs: \(bitComparisons)")
        }
    }

    @Test("depthwise 3x3, 5x5 and 7x7 AVX-512F kernel on the unpadded plane: every block shape (1-4 rows, 1-2 vectors, masked ends), strides 1 and 2, dilations 1 and 2, symmetric, asymmetric, zero and wide padding, the AVX2 kernel's bits on the padded copy",
          .enabled(if: KernelISA.isSupported(.avx512f), "CPU lacks AVX-512F"))
    func depthwiseAVX512Blocks() throws {
        var seed: UInt64 = 500
        for (k, dil) in [(3, 1), (5, 1), (7, 1), (3, 2), (5, 2), (7, 2)] {
            let extent = dil * (k - 1) + 1
            let paddings = [Padding(extent / 2), Padding(0), Padding(extent / 2 + 1),
                            Padding(top: 0, left: 1, bottom: 2, right: 0), Padding(top: 2, left: 0, bottom: 0, right: 3)]
            for (h, w) in [(1, 1), (2, 2), (3, 15), (4, 16), (5, 17), (2, 31), (3, 32), (1, 33), (6, 47), (7, 64), (3, 70),
                           (9, 7)] {
                for stride in [1, 2] {
                    for (padding, accumulate) in paddings.flatMap({ p in [(p, false), (p, true)] }) {
                        // Planes smaller than the filter with their padding have no output.
                        if h + padding.top + padding.bottom < extent || w + padding.left + padding.right < extent {
                            continue
                        }
                        var d = Conv2DDescriptor(batch: 2, inputChannels: 3, inputHeight: h, inputWidth: w,
                                                 outputChannels: 3, kernelHeight: k, kernelWidth: k,
                                                 strideHeight: stride, strideWidth: stride, padding: padding,
                                                 dilationHeight: dil, dilationWidth: dil, groups: 3, activation: .relu6)
                        d.accumulate = accumulate
                        let wide = DirectBackend(isa: .avx512f)
                        let kernel = try wide.prepare(d, weights: Array(repeating: 0.1, count: d.weightCount),
                                                      bias: Array(repeating: 0, count: d.outputChannels)).implementation
                        #expect(kernel.contains("ck_f32_dwconv_unpadded (avx512f)") || kernel.contains("ck_f32_dwconv_c16 (avx512f)"),
                                "\(d): \(kernel)")
                        try Self.check(d, seed: seed, backend: wide)
                        // The same bits as the AVX2 kernel, including the prior output added.
                        var rng = TestRandom(seed: seed)
                        let wt = rng.uniform(d.weightCount), b = rng.uniform(d.outputChannels), x = rng.uniform(d.inputCount)
                        var x2 = x
                        x2[x2.count / 2] = .nan
                        let prior = rng.uniform(d.outputCount)
                        for input in [x, x2] {
                            var y512 = prior, y2 = prior
                            try input.withUnsafeBufferPointer { xb in
                                try y512.withUnsafeMutableBufferPointer {
                                    try wide.prepare(d, weights: wt, bias: b).execute(input: xb, output: $0, threads: 1)
                                }
                                try y2.withUnsafeMutableBufferPointer {
                                    try DirectBackend(isa: .avx2fma).prepare(d, weights: wt, bias: b)
                                        .execute(input: xb, output: $0, threads: 1)
                                }
                            }
                            #expect(y512.map(\.bitPattern) == y2.map(\.bitPattern), "\(d)")
                        }
                        seed += 1
                    }
                }
            }
        }
    }

    @Test("im2col + pointwise GEMM (AVX-512F): strides 1 and 2, dilation, asymmetric and wide padding, partial rows per block, rows wider than 64 vectors, depths 1-96, K not a multiple of 6, batch, accumulation; automatic picks it for few-channel stems",
          .enabled(if: KernelISA.isSupported(.avx512f), "CPU lacks AVX-512F"))
    func im2colPointwise() throws {
        var seed: UInt64 = 600
        let forced = DirectBackend(isa: .avx512f, algorithm: .im2colPointwise)
        // (C, K, H, W, R, stride, dilation, padding, batch)
        let cases: [(Int, Int, Int, Int, Int, Int, Int, Padding, Int)] = [
            (3, 32, 29, 31, 3, 2, 1, Padding(1), 2), (1, 7, 5, 6, 3, 1, 1, Padding(1), 1),
            (3, 17, 40, 33, 3, 1, 2, Padding(2), 1), (2, 20, 9, 70, 5, 1, 1, Padding(top: 0, left: 2, bottom: 3, right: 1), 3),
            (4, 25, 15, 15, 3, 2, 1, Padding(0), 2), (10, 13, 12, 11, 3, 1, 1, Padding(top: 1, left: 0, bottom: 0, right: 2), 1),
            (3, 64, 3, 1100, 3, 1, 1, Padding(1), 1), (2, 12, 4, 2200, 3, 2, 1, Padding(1), 1),
            (1, 6, 1, 1, 1, 1, 1, Padding(0), 2), (3, 40, 80, 80, 5, 2, 1, Padding(2), 1)]
        for (c, k, h, w, r, stride, dil, padding, batch) in cases {
            for accumulate in [false, true] {
                var d = Conv2DDescriptor(batch: batch, inputChannels: c, inputHeight: h, inputWidth: w,
                                         outputChannels: k, kernelHeight: r, kernelWidth: r, strideHeight: stride,
                                         strideWidth: stride, padding: padding, dilationHeight: dil,
                                         dilationWidth: dil, activation: .clamp(min: -0.5, max: 0.7))
                d.accumulate = accumulate
                #expect(try forced.prepare(d, weights: Array(repeating: 0.1, count: d.weightCount),
                                           bias: Array(repeating: 0, count: k)).implementation.contains("im2col rows"), "\(d)")
                try Self.check(d, seed: seed, backend: forced)
                seed += 1
            }
        }
        let stem = Conv2DDescriptor(channels: 3, height: 224, width: 224, filters: 32, size: 3, stride: 2, pad: 1)
        let sixteen = Conv2DDescriptor(channels: 3, height: 64, width: 64, filters: 16, size: 3, pad: 1)
        let deep = Conv2DDescriptor(channels: 4, height: 64, width: 64, filters: 32, size: 3, pad: 1)
        for (d, path) in [(stem, "im2col rows"), (sixteen, "indirect"), (deep, "indirect")] {
            #expect(try DirectBackend(isa: .avx512f).prepare(d, weights: Array(repeating: 0.1, count: d.weightCount),
                                                             bias: Array(repeating: 0, count: d.outputChannels))
                .implementation.contains(path), "\(d)")
        }
    }

    @Test("AVX-512F indirect kernel in 7-pixel tiles (planes of 7n pixels): partial channel pairs, padding, stride, accumulation, 1-3 threads; the AVX2 kernel's bits",
          .enabled(if: KernelISA.isSupported(.avx512f), "CPU lacks AVX-512F"))
    func sevenPixelTiles() throws {
        var seed: UInt64 = 800
        // (C, K, H, W, R, stride, pad): outputs 7x7, 14x14, 1x7, 7x3, 21x7 (7n pixels) and one of 6n.
        for (c, k, h, w, r, stride, pad) in [(16, 32, 7, 7, 1, 1, 0), (9, 40, 7, 7, 3, 1, 1), (5, 33, 14, 14, 3, 1, 1),
                                               (7, 64, 1, 7, 1, 1, 0), (12, 48, 13, 5, 3, 2, 1), (8, 24, 21, 7, 1, 1, 0),
                                               (6, 36, 6, 6, 3, 1, 1)] {
            for accumulate in [false, true] {
                var d = Conv2DDescriptor(batch: 2, inputChannels: c, inputHeight: h, inputWidth: w, outputChannels: k,
                                         kernelHeight: r, kernelWidth: r, strideHeight: stride, strideWidth: stride,
                                         padding: Padding(pad), activation: .clamp(min: -0.5, max: 0.7))
                d.accumulate = accumulate
                let wide = DirectBackend(isa: .avx512f, algorithm: .indirect)
                try Self.check(d, seed: seed, backend: wide)
                var rng = TestRandom(seed: seed)
                let wt = rng.uniform(d.weightCount), b = rng.uniform(d.outputChannels), x = rng.uniform(d.inputCount)
                let prior = rng.uniform(d.outputCount)
                var outputs: [[UInt32]] = []
                for (backend, threads) in [(wide, 1), (wide, 3), (DirectBackend(isa: .avx2fma, algorithm: .indirect), 1)] {
                    var y = prior
                    try x.withUnsafeBufferPointer { xb in
                        try y.withUnsafeMutableBufferPointer {
                            try backend.prepare(d, weights: wt, bias: b).execute(input: xb, output: $0, threads: threads)
                        }
                    }
                    outputs.append(y.map(\.bitPattern))
                }
                #expect(outputs[0] == outputs[1] && outputs[0] == outputs[2], "\(d)")
                seed += 1
            }
        }
    }

    @Test("padding columns left out per pixel (AVX-512F pair kernel, outputs at most 17 wide): 3x3 to 7x7 filters, strides 1-2, dilation 2, asymmetric and wide padding, accumulation; the AVX2 kernel's bits")
    func paddingColumnsSkipped() throws {
        var seed: UInt64 = 900
        // (C, K, H, W, R, S, stride, dilation, padding)
        let cases: [(Int, Int, Int, Int, Int, Int, Int, Int, Padding)] = [
            (6, 40, 7, 7, 7, 7, 1, 1, Padding(3)), (5, 33, 9, 11, 3, 5, 2, 1, Padding(top: 1, left: 2, bottom: 0, right: 3)),
            (4, 48, 10, 10, 3, 3, 1, 2, Padding(2)), (3, 64, 4, 4, 5, 5, 1, 1, Padding(4)),
            (7, 17, 17, 17, 5, 5, 1, 1, Padding(2)), (8, 32, 6, 13, 3, 3, 2, 2, Padding(top: 0, left: 3, bottom: 2, right: 0))]
        for (c, k, h, w, r, s, stride, dil, padding) in cases {
            for accumulate in [false, true] {
                var d = Conv2DDescriptor(batch: 2, inputChannels: c, inputHeight: h, inputWidth: w, outputChannels: k,
                                         kernelHeight: r, kernelWidth: s, strideHeight: stride, strideWidth: stride,
                                         padding: padding, dilationHeight: dil, dilationWidth: dil,
                                         activation: .clamp(min: -0.5, max: 0.7))
                d.accumulate = accumulate
                let isas = [KernelISA.avx2fma, .avx512f].filter(KernelISA.isSupported)
                var outputs: [[UInt32]] = []
                var rng = TestRandom(seed: seed)
                let wt = rng.uniform(d.weightCount), b = rng.uniform(d.outputChannels), x = rng.uniform(d.inputCount)
                let prior = rng.uniform(d.outputCount)
                for isa in isas {
                    let backend = DirectBackend(isa: isa, algorithm: .indirect)
                    try Self.check(d, seed: seed, backend: backend)
                    var y = prior
                    try x.withUnsafeBufferPointer { xb in
                        try y.withUnsafeMutableBufferPointer {
                            try backend.prepare(d, weights: wt, bias: b).execute(input: xb, output: $0, threads: 2)
                        }
                    }
                    outputs.append(y.map(\.bitPattern))
                }
                #expect(Set(outputs).count == 1, "\(d)")
                seed += 1
            }
        }
    }

    @Test("depthwise 5x5 and 7x7 planes: every block shape (1-4 vectors wide, 1-4 rows), strides 1-3")
    func depthwiseBlocks() throws {
        var seed: UInt64 = 300
        for (h, w) in [(1, 1), (3, 9), (4, 17), (6, 25), (9, 33), (2, 41), (11, 7)] {
            for (k, stride, dil) in [(5, 1, 1), (7, 1, 1), (7, 2, 1), (5, 3, 1), (5, 1, 2)] {
                for accumulate in [false, true] {
                    var d = Conv2DDescriptor(batch: 2, channels: 3, height: h, width: w, filters: 3, size: k,
                                             stride: stride, pad: (k - 1) * dil / 2, dilation: dil, groups: 3,
                                             activation: .relu6)
                    d.accumulate = accumulate
                    try Self.check(d, seed: seed)
                    seed += 1
                }
            }
        }
    }

    @Test("fully connected: features not a multiple of 8, outputs not a multiple of 4, batches 1-7")
    func fullyConnected() throws {
        for (fin, fout) in [(1, 1), (7, 3), (9, 5), (33, 17), (256, 10)] {
            let fc = try Linear(name: "fc", inputFeatures: fin, outputFeatures: fout, activation: .relu)
            var g = WeightGenerator(seed: UInt64(fin * 31 + fout))
            fc.initializeParameters(using: &g)
            var rng = TestRandom(seed: UInt64(fin))
            try fc.setParameter(named: "bias", values: rng.uniform(fout))
            let model = try GraphModel(input: TensorShape(n: 1, c: fin, h: 1, w: 1), layers: [fc])
            for batch in [1, 2, 3, 4, 7] {
                let x = rng.uniform(batch * fin)
                let oracle = try GraphOracle.evaluate(model, input: x, batch: batch)["fc"]!.v
                let y = try runModel(model, x, batch: batch, backend: "direct", threads: 2)
                #expect(normalizedMaxError(y, oracle) < 1e-5, "fc \(fin)->\(fout), batch \(batch)")
                // The same sample gives the same bits whatever the batch it runs in.
                let alone = try runModel(model, Array(x[0..<fin]), batch: 1, backend: "direct", threads: 1)
                #expect(Array(y[0..<fout]) == alone)
            }
        }
    }
}
