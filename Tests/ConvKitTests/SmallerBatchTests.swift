import Testing
import ConvKit

/// A convolution prepared once for the largest batch runs any smaller batch with the same
/// packed weights (``PreparedConvolution/execute(input:output:images:threads:)``), giving each
/// image the bits of the full-batch run; models prepared for a batch run fewer images on it.
@Suite("smaller batches on one preparation")
struct SmallerBatchTests {
    /// Layers that take every path of the native backends (on this CPU's best ISA, AVX2, and
    /// portable): depthwise (in place, channel blocks, padded copy), pointwise, packed pointwise,
    /// im2col rows, the indirect kernel (copy, in place, few channels), the implicit GEMM, and
    /// Winograd F(2x2) and F(4x4).
    static let layers: [(String, Conv2DDescriptor)] = {
        var residual = Conv2DDescriptor(batch: 3, channels: 16, height: 9, width: 9, filters: 32, size: 3, pad: 1,
                                        activation: .relu)
        residual.accumulate = true
        return [
            ("depthwise 3x3", Conv2DDescriptor(batch: 3, channels: 24, height: 14, width: 14, filters: 24, size: 3, pad: 1, groups: 24)),
            ("depthwise 7x7 on 17x17 (channel blocks)", Conv2DDescriptor(batch: 3, channels: 20, height: 17, width: 17, filters: 20, size: 7, pad: 3, groups: 20)),
            ("depthwise 3x3 stride 2, dilation 3", Conv2DDescriptor(batch: 3, channels: 5, height: 13, width: 11, filters: 5, size: 3, stride: 2, pad: 3, dilation: 3, groups: 5)),
            ("pointwise 28x28", Conv2DDescriptor(batch: 3, channels: 24, height: 28, width: 28, filters: 40, size: 1)),
            ("pointwise 7x7 (packed)", Conv2DDescriptor(batch: 3, channels: 64, height: 7, width: 7, filters: 48, size: 1)),
            ("pointwise stride 2", Conv2DDescriptor(batch: 3, channels: 32, height: 14, width: 14, filters: 20, size: 1, stride: 2)),
            ("3-channel stem", Conv2DDescriptor(batch: 3, channels: 3, height: 32, width: 32, filters: 24, size: 3, stride: 2, pad: 1)),
            ("3x3 padded", Conv2DDescriptor(batch: 3, channels: 32, height: 12, width: 12, filters: 48, size: 3, pad: 1)),
            ("5x5 stride 2 groups 2", Conv2DDescriptor(batch: 3, channels: 12, height: 15, width: 15, filters: 20, size: 5, stride: 2, pad: 2, groups: 2)),
            ("few output channels", Conv2DDescriptor(batch: 3, channels: 6, height: 10, width: 33, filters: 5, size: 3, pad: 1)),
            ("residual 3x3 + relu", residual),
        ]
    }()

    static func backends() -> [(String, any ConvBackend)] {
        var list: [(String, any ConvBackend)] = [("reference", ReferenceBackend()), ("direct", DirectBackend()),
                                                 ("direct portable", DirectBackend(isa: .portable)),
                                                 ("direct implicit GEMM", DirectBackend(algorithm: .implicitGEMM)),
                                                 ("winograd F2", WinogradBackend(tile: .f2x3)),
                                                 ("winograd F4", WinogradBackend(tile: .f4x3))]
        if KernelISA.isSupported(.avx2fma) && KernelISA.selected != .avx2fma {
            list.append(("direct avx2", DirectBackend(isa: .avx2fma)))
        }
        return list
    }

    @Test("every native path: 1 and 2 images of a batch-3 preparation give the full run's bits, 1-3 threads")
    func nativePaths() throws {
        var seed: UInt64 = 40
        var ran = 0
        var kernels = Set<String>()
        for (name, d) in Self.layers {
            for (label, backend) in Self.backends() where backend.support(for: d).isSupported {
                let c = ConvCase(d, seed: seed)
                let p = try c.weights.withUnsafeBufferPointer { w in
                    try (c.bias ?? []).withUnsafeBufferPointer { b in
                        try backend.prepareAccumulating(d, weights: w, bias: d.hasBias ? b : nil)
                    }
                }
                #expect(p.runsSmallerBatches, "\(label) \(name): \(p.implementation)")
                kernels.insert(p.implementation)
                var rng = TestRandom(seed: seed + 1)
                let prior = rng.uniform(d.outputCount)
                var full = prior
                try c.input.withUnsafeBufferPointer { x in
                    try full.withUnsafeMutableBufferPointer { try p.execute(input: x, output: $0, threads: 2) }
                }
                let inImage = d.inputCount / d.batch, outImage = d.outputCount / d.batch
                for images in [1, 2] {
                    for threads in [1, 3] {
                        var part = Array(prior[0..<(images * outImage)])
                        // The buffers hold exactly `images` images: nothing past them is read or written.
                        let x = Array(c.input[0..<(images * inImage)])
                        try x.withUnsafeBufferPointer { xb in
                            try part.withUnsafeMutableBufferPointer {
                                try p.execute(input: xb, output: $0, images: images, threads: threads)
                            }
                        }
                        #expect(part.map(\.bitPattern) == full[0..<(images * outImage)].map(\.bitPattern),
                                "\(label) \(name): \(images) images, \(threads) threads (\(p.implementation))")
                        ran += 1
                    }
                }
                seed += 2
            }
        }
        #expect(ran >= 4 * 40, "only \(ran) smaller-batch runs")
        // The layers reach every path of this CPU's best table.
        var paths = ["depthwise", "pointwise GEMM on NCHW", "implicit", "F(2x2,3x3)", "F(4x4,3x3)", "separate residual pass"]
        if KernelISA.isSupported(.avx512f) {
            paths += ["ck_f32_dwconv_unpadded", "ck_f32_dwconv_c16", "im2col rows", "ck_f32_conv_rows_6x32", "ck_f32_conv_fewk",
                      "packed 6-pixel"]
        }
        for path in paths {
            #expect(kernels.contains { $0.contains(path) }, "no layer ran \(path): \(kernels.sorted())")
        }
    }

    @Test("bad image counts are refused before anything is written; oneDNN runs only its batch")
    func badImageCounts() throws {
        let d = Conv2DDescriptor(batch: 2, channels: 8, height: 6, width: 6, filters: 16, size: 3, pad: 1)
        let c = ConvCase(d, seed: 7)
        var backends: [any ConvBackend] = [DirectBackend(), WinogradBackend(), ReferenceBackend()]
        let onednn = OneDNNBackend()
        if onednn.availability.isAvailable { backends.append(onednn) }
        for backend in backends {
            let p = try backend.prepare(d, weights: c.weights, bias: c.bias)
            var y = [Float](repeating: 5, count: d.outputCount)
            for images in [0, -1, 3] {
                #expect(throws: ConvError.self, "\(backend.name) images \(images)") {
                    try c.input.withUnsafeBufferPointer { x in
                        try y.withUnsafeMutableBufferPointer { try p.execute(input: x, output: $0, images: images, threads: 1) }
                    }
                }
            }
            // A buffer for one image when two are asked for.
            #expect(throws: ConvError.self, "\(backend.name) short buffer") {
                try c.input.withUnsafeBufferPointer { x in
                    try y.withUnsafeMutableBufferPointer {
                        try p.execute(input: x, output: UnsafeMutableBufferPointer(rebasing: $0[0..<(d.outputCount / 2)]),
                                      images: 2, threads: 1)
                    }
                }
            }
            #expect(y.allSatisfy { $0 == 5 }, "\(backend.name): output written by a refused call")
            if backend.name == "onednn" {
                #expect(!p.runsSmallerBatches)
                #expect(throws: ConvError.self) {
                    try c.input.withUnsafeBufferPointer { x in
                        try y.withUnsafeMutableBufferPointer { try p.execute(input: x, output: $0, images: 1, threads: 1) }
                    }
                }
                // Its whole batch runs through the same entry point.
                try c.input.withUnsafeBufferPointer { x in
                    try y.withUnsafeMutableBufferPointer { try p.execute(input: x, output: $0, images: 2, threads: 1) }
                }
                let want = try c.run(ReferenceBackend())
                #expect(normalizedMaxError(y, want) < 1e-5)
            }
        }
    }
}

