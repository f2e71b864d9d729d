
/// A depthwise convolution (`groups == C == K`) prepared by the `direct` backend.
///
/// Each channel is convolved with its own `R x S` filter. Each input plane is first copied
/// into a zero-padded plane (per-worker scratch), then convolved whole by
/// `ck_f32_dwconv_plane_ukernel__avx2_fma` (8 outputs of a row per step, stride 2 by
/// de-interleaving, bias, clamp and accumulation fused into the store), or on the portable
/// ISA row by row in Swift. On AVX-512F, square 3x3, 5x5 and 7x7 filters with dilation 1 or 2
/// and stride 1 or 2 (the same along both axes) run `ck_f32_dwconv_unpadded_ukernel__avx512f` on the input plane in place,
/// with no copy (2 rows x 32 outputs per step, each input row loaded once, the border as
/// masked-off lanes; the same bits as the AVX2 kernel on the padded copy). Work is split over
/// `(image, channel)` planes.
///
/// Planes whose output rows fill those 16-output vectors poorly (rows of 7, 13 or 17 with 5x5 and
/// 7x7 filters, 7-pixel outputs at stride 2; see ``runsChannelBlocks(_:table:)``) run
/// `ck_f32_dwconv_c16_ukernel__avx512f` instead: 16 channels at a time as the vector, over a
/// zero-padded pixel-major copy of their planes (per-worker scratch, transposed in and out),
/// with the same bits. Work is then split over `(image, block of 16 channels)`. On AVX2+FMA,
/// whose plane kernel is load-bound on large filters, every layer but 3x3 stride-1 ones on rows
/// of at least 13 pixels runs the 8-channel form, `ck_f32_dwconv_c8_ukernel__avx2_fma`.
final class DepthwiseConvolution: BatchSlicingConvolution, @unchecked Sendable {
    let descriptor: Conv2DDescriptor
    let isa: KernelISA
    /// The kernels of `isa` (the plane and row kernels; none on the portable ISA).
    private let kernels: KernelTable
    private let weights: AlignedBuffer   // K x R x S (empty where the channel blocks run)
    private let bias: AlignedBuffer      // K
    /// The table's in-place kernel where it runs the descriptor (no padded copy then).
    private let inPlaceKernel: DepthwiseUnpaddedKernel?
    /// The table's channel-block kernel and its packing, where ``runsChannelBlocks(_:table:)``.
    private let channelBlocks: ChannelBlocks?
    /// Weights as `[block of w channels][R * S][w]` and bias as `[block][w]` (zeros past `K`),
    /// `w` the table's `depthwiseChannelBlockWidth`.
    private struct ChannelBlocks {
        let kernel: DepthwiseChannelBlockKernel
        let weights: AlignedBuffer, bias: AlignedBuffer
    }
    /// The kernels' store flags (clamp, accumulate).
    private let flags: UInt32
    private let pool = WorkspacePool()

    init(descriptor: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>?,
         isa: KernelISA) {
        self.descriptor = descriptor
        self.isa = isa
        kernels = KernelTable.of(isa)
        let blockKernel = Self.runsChannelBlocks(descriptor, table: kernels) ? kernels.depthwiseChannelBlock : nil
        inPlaceKernel = blockKernel == nil && Self.readsInputInPlace(descriptor, table: kernels)
            ? kernels.depthwiseUnpadded : nil
        flags = KernelFlags.store(for: descriptor)
        // The weights are kept in one layout only: the channel blocks', or K x R x S.
        self.weights = blockKernel == nil ? AlignedBuffer(copying: weights) : AlignedBuffer(count: 0)
        self.bias = AlignedBuffer(count: descriptor.outputChannels)
        if let bias, descriptor.hasBias { self.bias.base.update(from: bias.baseAddress!, count: descriptor.outputChannels) }
        if let blockKernel {
            let K = descriptor.outputChannels, taps = descriptor.kernelHeight * descriptor.kernelWidth
            let width = kernels.depthwiseChannelBlockWidth
            let blocks = (K + width - 1) / width
            let w = AlignedBuffer(count: blocks * taps * width), b = AlignedBuffer(count: blocks * width)
            for k in 0..<K {
                let (block, lane) = k.quotientAndRemainder(dividingBy: width)
                for t in 0..<taps { w.base[(block * taps + t) * width + lane] = weights[k * taps + t] }
                b.base[k] = self.bias.base[k]
            }
            channelBlocks = ChannelBlocks(kernel: blockKernel, weights: w, bias: b)
        } else {
            channelBlocks = nil
        }
    }

    var backendName: String { "direct" }
    var implementation: String { Self.implementation(descriptor, isa: isa) }
    /// One zero-padded input plane per worker thread (default thread count); none where the
    /// kernel reads the input in place.
    var workspaceBytes: Int { Self.workspaceBytes(descriptor, isa: isa, threads: ConvKit.defaultThreadCount) }

    /// The kernel that runs `d` on `isa` (``implementation``, known before preparing).
    static func implementation(_ d: Conv2DDescriptor, isa: KernelISA) -> String {
        let table = KernelTable.of(isa)
        guard table.depthwisePlane != nil else { return "depthwise row kernel (portable)" }
        if runsChannelBlocks(d, table: table) {
            let width = table.depthwiseChannelBlockWidth
            return "depthwise kernel ck_f32_dwconv_c\(width) (\(table.isaLabel)), \(width) channels as the vector"
        }
        if readsInputInPlace(d, table: table) {
            return "depthwise kernel ck_f32_dwconv_unpadded (\(table.isaLabel)), input read in place"
        }
        return "depthwise plane kernel ck_f32_dwconv_plane (avx2+fma)"
    }

    /// One zero-padded plane per worker: `threads` planes (``workspaceBytes`` for the default
    /// thread count); none where the kernel reads the input in place.
    static func workspaceBytes(_ d: Conv2DDescriptor, isa: KernelISA, threads: Int) -> Int {
        let table = KernelTable.of(isa)
        if runsChannelBlocks(d, table: table) { return blockScratchFloats(d, table: table) * 4 * threads }
        return readsInputInPlace(d, table: table) ? 0 : planeFloats(d) * 4 * threads
    }

    /// Whether `table`'s channel-block kernel runs `d`: the same stride (1 or 2) and dilation
    /// along both axes, one filter per channel, a copy of at most 1 Mi floats per worker, and:
    ///
    /// On AVX2+FMA (8 channels), every layer except 3x3 stride-1 undilated ones with output rows
    /// of at least 13 pixels. Measured (1 thread, Zen 4, `CONVKIT_ISA=avx2`, the two kernels
    /// alternated, 2 runs, 35 depthwise layers): 1.4-3.1x faster than the plane kernel on 5x5,
    /// 7x7 and dilated filters, 1.0-1.8x on 3x3 at stride 2 or on rows of 7-12, 0.4-0.9x on 3x3
    /// stride 1 with rows of 13 to 56 (17: 1.0-1.4x); against oneDNN limited to AVX2 the geomean
    /// went 0.83x -> 0.98x.
    ///
    /// On AVX-512F (16 channels), output rows that waste enough of the in-place kernel's
    /// 16-output vectors. With `u` the share
    /// of their lanes a row fills (7 of 16 for rows of 7, 17 of 32 for rows of 17) and `T = R * S`
    /// taps, the wasted lanes cost `T * (1/u - 1)` taps per output, against the channel-block
    /// kernel's transposes in and out: it runs where that is at least 12 at stride 1, 8 at stride
    /// 2 (where the plane kernel also de-interleaves). Measured (1 thread, Zen 4, the two kernels
    /// alternated, 2-3 rounds, on 35 depthwise layers, 20 of them random): 1.5-1.7x faster on 7x7
    /// filters over 17x17 and 7x7 planes (0.67x oneDNN -> 1.13x, 0.56x -> 0.87x), 5x5 over 7x7 and
    /// dilated 5x5 over 17x17 (0.63x -> 0.82x, 0.70x -> 0.92x), 1.2-1.4x on 3x3 stride 2 to 7x7
    /// outputs; 0.85-0.93x at scores of 3-11 (7x7 over 15x15 planes, dilated 7x7 over 13x13), which
    /// keep the plane kernel, as do 3x3 filters on rows of 9 to 33.
    static func runsChannelBlocks(_ d: Conv2DDescriptor, table: KernelTable) -> Bool {
        guard table.depthwiseChannelBlock != nil, d.strideHeight == d.strideWidth,
              d.strideWidth == 1 || d.strideWidth == 2, d.dilationHeight == d.dilationWidth,
              d.inputChannels == d.outputChannels, blockScratchFloats(d, table: table) <= 1 << 20 else { return false }
        if table.depthwiseUnpadded == nil {
            // AVX2+FMA: the alternative is the plane kernel, which loads each tap (it is
            // load-bound): every layer but a 3x3 stride-1 undilated one with rows of 13+ pixels.
            return !(d.kernelHeight == 3 && d.kernelWidth == 3 && d.strideWidth == 1 && d.dilationWidth == 1
                && d.outputWidth >= 13)
        }
        let vectors = (d.outputWidth + 15) / 16
        let wasted = Double(16 * vectors - d.outputWidth) / Double(d.outputWidth)   // 1/u - 1
        return Double(d.kernelHeight * d.kernelWidth) * wasted >= (d.strideWidth == 1 ? 12 : 8)
    }

    /// Floats of the channel-block kernel's zero-padded pixel-major copy of 16 planes: the rows
    /// and columns the outputs read, times 16.
    static func blockScratchFloats(_ d: Conv2DDescriptor, table: KernelTable) -> Int {
        let hp = d.strideHeight * (d.outputHeight - 1) + d.dilationHeight * (d.kernelHeight - 1) + 1
        let wp = d.strideWidth * (d.outputWidth - 1) + d.dilationWidth * (d.kernelWidth - 1) + 1
        let (n, o) = hp.multipliedReportingOverflow(by: wp * table.depthwiseChannelBlockWidth)
        return o ? Int.max : n
    }

    /// Whether `table`'s in-place kernel runs `d` (a square 3x3, 5x5 or 7x7 filter, the same
    /// dilation 1 or 2 and the same stride 1 or 2 along both axes), with no padded copy; otherwise the plane kernel
    /// runs on a padded copy.
    private static func readsInputInPlace(_ d: Conv2DDescriptor, table: KernelTable) -> Bool {
        table.depthwiseUnpadded != nil && d.kernelHeight == d.kernelWidth && [3, 5, 7].contains(d.kernelWidth)
            && d.strideHeight == d.strideWidth && (d.strideWidth == 1 || d.strideWidth == 2)
            && d.dilationHeight == d.dilationWidth && (d.dilationWidth == 1 || d.dilationWidth == 2)
    }

    /// Floats of the zero-padded copy of one plane of `d` (`Int.max` when that overflows).
    static func paddedPlaneFloats(_ d: Conv2DDescriptor) -> Int {
        let (h, o1) = d.inputHeight.addingReportingOverflow(d.padding.top + d.padding.bottom)
        let (w, o2) = d.inputWidth.addingReportingOverflow(d.padding.left + d.padding.right)
        let (n, o3) = h.multipliedReportingOverflow(by: w)
        return o1 || o2 || o3 ? Int.max : n
    }

    /// Height and width of the zero-padded copy of one input plane.
    var paddedHeight: Int { Self.paddedSize(descriptor).height }
    var paddedWidth: Int { Self.paddedSize(descriptor).width }
    private static func paddedSize(_ d: Conv2DDescriptor) -> (height: Int, width: Int) {
        (d.inputHeight + d.padding.top + d.padding.bottom, d.inputWidth + d.padding.left + d.padding.right)
    }
    /// Floats of one worker's padded plane, rounded to keep alignment, plus the 64 floats the
    /// plane kernel may read past a row's last tap.
    private var planeFloats: Int { Self.planeFloats(descriptor) }
    private static func planeFloats(_ d: Conv2DDescriptor) -> Int {
        let (h, w) = paddedSize(d)
        return (h * w + 15) / 16 * 16 + 64
    }

    func execute(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
                 images: Int, threads: Int?) throws {
        let requested = try checkedExecutionArguments(input: input, output: output, images: images, threads: threads)
        let d = descriptor(images: images)
        let threads = ThreadPolicy.threads(requested: requested, flops: d.flops * 4)  // memory-bound: its work as 4x its FLOPs
        let x = input.baseAddress!, y = output.baseAddress!
        let planes = d.batch * d.outputChannels
        if let blocks = channelBlocks {
            let kernel = blocks.kernel, bw = blocks.weights, bb = blocks.bias
            let (lo, hi) = d.activation.bounds
            let flags = flags
            let (H, W, OH, OW, K) = (d.inputHeight, d.inputWidth, d.outputHeight, d.outputWidth, d.outputChannels)
            let (top, left, R, S) = (d.padding.top, d.padding.left, d.kernelHeight, d.kernelWidth)
            let (stride, dilation) = (d.strideWidth, d.dilationWidth)
            let width = kernels.depthwiseChannelBlockWidth
            let blockCount = (K + width - 1) / width, taps = R * S
            let floats = Self.blockScratchFloats(d, table: kernels)
            let workers = ParallelFor.workers(tasks: d.batch * blockCount, threads: threads)
            pool.withBuffer(count: floats * workers) { scratch in
                ParallelFor.run(items: d.batch * blockCount, threads: threads) { worker, range in
                    for task in range {
                        let (n, block) = task.quotientAndRemainder(dividingBy: blockCount)
                        let first = n * K + block * width
                        kernel(x + first * H * W, H, W, top, left, OH, OW, R, S, stride, dilation, Swift.min(width, K - block * width),
                               bw.base + block * taps * width, bb.base + block * width, flags, lo, hi,
                               scratch + worker * floats, y + first * OH * OW)
                    }
                }
            }
            return
        }
        if let kernel = inPlaceKernel {
            let (lo, hi) = d.activation.bounds
            let w = weights.base, b = bias.base, flags = flags
            let (H, W, OH, OW, K) = (d.inputHeight, d.inputWidth, d.outputHeight, d.outputWidth, d.outputChannels)
            let (top, left, stride, size) = (d.padding.top, d.padding.left, d.strideWidth, d.kernelWidth)
            let dilation = d.dilationWidth
            ParallelFor.run(items: planes, threads: threads) { _, range in
                for plane in range {
                    let k = plane % K
                    kernel(x + plane * H * W, H, W, top, left, OH, OW, size, stride, dilation, w + k * size * size, b[k], flags,
                           lo, hi, y + plane * OH * OW)
                }
            }
            return
        }
        let workers = ParallelFor.workers(tasks: planes, threads: threads)
        let floats = planeFloats
        pool.withBuffer(count: floats * workers) { scratch in
            ParallelFor.run(items: planes, threads: threads) { worker, range in
                let padded = scratch + worker * floats
                // The zero border is the same for every plane: written once per chunk, then only
                // the interior rows are copied.
                padded.update(repeating: 0, count: floats)
                for plane in range {
                    let k = plane % d.outputChannels
                    copyInterior(x + plane * d.inputHeight * d.inputWidth, into: padded)
                    convolvePlane(x: padded, y: y + plane * d.outputHeight * d.outputWidth,
                                  w: weights.base + k * d.kernelHeight * d.kernelWidth, bias: bias.base[k])
                }
            }
        }
    }

    @inline(__always) static func move8(_ s: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(d).storeBytes(of: UnsafeRawPointer(s).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
    }
    @inline(__always) static func move4(_ s: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(d).storeBytes(of: UnsafeRawPointer(s).loadUnaligned(as: SIMD4<Float>.self), as: SIMD4<Float>.self)
    }

    /// Copies one input plane into the interior of the zero-padded plane (whose border is
    /// already zero), row by row with inline SIMD copies (rows are short: a library call per
    /// row cost more than the convolution on 7x7 planes).
    @inline(__always)
    private func copyInterior(_ x: UnsafePointer<Float>, into padded: UnsafeMutablePointer<Float>) {
        let d = descriptor
        let W = d.inputWidth, Wp = paddedWidth
        for row in 0..<d.inputHeight {
            let src = x + row * W, dst = padded + (row + d.padding.top) * Wp + d.padding.left
            if W >= 8 {
                // Whole vectors, then one last vector ending at the row's end (overlapping).
                var i = 0
                while i + 8 <= W { Self.move8(src + i, dst + i); i += 8 }
                if i < W { Self.move8(src + W - 8, dst + W - 8) }
            } else if W >= 4 {
                Self.move4(src, dst)
                Self.move4(src + W - 4, dst + W - 4)
            } else {
                for i in 0..<W { dst[i] = src[i] }
            }
        }
    }

    /// Convolves one zero-padded plane: every output row is one row-kernel call.
    @inline(__always)
    private func convolvePlane(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, w: UnsafePointer<Float>,
                               bias: Float) {
        let d = descriptor
        let Wp = paddedWidth, OH = d.outputHeight, OW = d.outputWidth
        let R = d.kernelHeight, S = d.kernelWidth
        let sh = d.strideHeight, sw = d.strideWidth, dh = d.dilationHeight, dw = d.dilationWidth
        if let plane = kernels.depthwisePlane, sh == sw, dh == dw {
            let (lo, hi) = d.activation.bounds
            plane(x, Wp, OH, OW, R, S, sw, dw, w, bias, flags, lo, hi, y)
            return
        }
        precondition(!d.accumulate, "accumulation needs the AVX2 plane kernel (DirectBackend.canAccumulate)")
        for oh in 0..<OH {
            let row = y + oh * OW
            row.update(repeating: bias, count: OW)
            let src = x + oh * sh * Wp
            if let rowKernel = kernels.depthwiseRow {
                rowKernel(OW, R, S, src, dh * Wp, sw, dw, w, row)
            } else {
                portableDepthwiseRow(count: OW, kh: R, kw: S, x: src, xRowStride: dh * Wp, stride: sw,
                                     dilation: dw, w: w, y: row)
            }
            applyActivation(row, OW)
        }
    }

    @inline(__always)
    private func applyActivation(_ row: UnsafeMutablePointer<Float>, _ count: Int) {
        let act = descriptor.activation
        if act == .none { return }
        for i in 0..<count { row[i] = act.apply(row[i]) }
    }
}

/// Portable version of `ck_f32_dwconv_row_ukernel__avx2_fma` (multiply then add).
func portableDepthwiseRow(count: Int, kh: Int, kw: Int, x: UnsafePointer<Float>, xRowStride: Int, stride: Int,
                          dilation: Int, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    typealias V = SIMD8<Float>
    var j = 0
    if stride == 1 {
        while j + 8 <= count {
            var acc = UnsafeRawPointer(y + j).loadUnaligned(as: V.self)
            for r in 0..<kh {
                let xr = x + r * xRowStride + j
                for s in 0..<kw {
                    let xv = UnsafeRawPointer(xr + s * dilation).loadUnaligned(as: V.self)
                    acc = V(repeating: w[r * kw + s]) * xv + acc
                }
            }
            UnsafeMutableRawPointer(y + j).storeBytes(of: acc, as: V.self)
            j += 8
        }
    }
    while j < count {
        var acc = y[j]
        for r in 0..<kh {
            let xr = x + r * xRowStride + j * stride
            for s in 0..<kw { acc = w[r * kw + s] * xr[s * dilation] + acc }
        }
        y[j] = acc
        j += 1
    }
}
