
/// A convolution with few input channels computed as the pointwise GEMM over im2col rows (the
/// `direct` backend's path on AVX-512F for layers such as a 3-channel stem).
///
/// For a block of output pixels of one image, `ck_f32_im2col_rows__avx512f` writes the lowered
/// input, one row of the block's pixels per tap `(c, r, s)` (`D = C * R * S` rows, the zero
/// padding as masked-off lanes, never copied), into per-worker scratch; the pointwise tile
/// kernel then computes `Y[k][p] = b[k] + sum_d W[k][d] X̂[d][p]` with the pixels as the vector
/// (6 channels x 64 pixels per step) and stores whole vectors along its channel rows, where the
/// indirect kernel, with the output channels as the vector, transposes every tile it stores: a
/// large share of a sum only `C * R * S` (27 for a 3-channel 3x3 stem) deep.
///
/// Weights are packed once into `[6-channel panel][D][6]`. Each output is the same sum in the
/// same order whatever the pixel block (a lane of the vector), so results are bit-identical for
/// any thread count. Bias, clamp and accumulation into the output are fused into the store.
final class DirectIm2colConvolution: BatchSlicingConvolution, @unchecked Sendable {
    let descriptor: Conv2DDescriptor
    static let channelsPerPanel = 6
    /// The deepest lowered input this path takes (the pointwise tile's sum is not depth-blocked).
    static let maxDepth = 96

    let isa: KernelISA
    let depth: Int, kPanels: Int
    private let packedWeights: AlignedBuffer
    private let bias: AlignedBuffer
    private let lower: Im2colRowsKernel
    private let tileKernel: PointwiseTileKernel
    private let pool = WorkspacePool()

    /// Whether the automatic choice runs `d` on this path with `isa`'s table: one group, the
    /// same stride 1 or 2 along both axes, a lowered depth `C * R * S` of at most 32, and more
    /// output channels than one 16-channel panel of the indirect kernel (whose tile is full
    /// then, and which ran 16-channel layers 1.1-1.2x faster).
    ///
    /// Measured (1 thread, Zen 4, one interleaved bench run, indirect time / this path's time):
    /// 1.02x on MobileNetV2's stem (3->32, 3x3 stride 2, 224x224), 1.3-1.4x on 3->64 and 3->24
    /// 3x3 and 1->20 5x5 layers, and on 12 random layers with 1-4 input channels not used to set
    /// the rule, 1.05-2.06x on the 9 it selects (geomean 1.29x), 0.82x on a 16-channel one.
    static func supports(_ d: Conv2DDescriptor, isa: KernelISA) -> Bool {
        supportsShape(d, isa: isa) && d.inputChannels * d.kernelHeight * d.kernelWidth <= 32
            && d.outputChannels > DirectIndirectConvolution.channelsPerPanel
    }

    /// Whether the path can run `d` at all: the table has the im2col kernel, one group, the
    /// same stride 1 or 2 along both axes, a lowered depth of at most ``maxDepth``.
    static func supportsShape(_ d: Conv2DDescriptor, isa: KernelISA) -> Bool {
        KernelTable.of(isa).im2colRows != nil && KernelTable.of(isa).pointwiseTile != nil && d.groups == 1
            && d.strideHeight == d.strideWidth && (d.strideWidth == 1 || d.strideWidth == 2)
            && d.inputChannels * d.kernelHeight * d.kernelWidth <= maxDepth
    }

    init(descriptor d: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>?,
         isa: KernelISA) throws {
        let table = KernelTable.of(isa)
        guard let lower = table.im2colRows, let tile = table.pointwiseTile else {
            preconditionFailure("the im2col path needs the im2col and pointwise kernels (AVX-512F)")
        }
        descriptor = d
        self.isa = isa
        self.lower = lower
        tileKernel = tile
        depth = d.inputChannels * d.kernelHeight * d.kernelWidth
        kPanels = (d.outputChannels + Self.channelsPerPanel - 1) / Self.channelsPerPanel
        // [K][C][R][S] is [K][D] with the taps in (c, r, s) order, the order of the im2col rows.
        packedWeights = try ChannelPanels.packPointwiseWeights(weights, groups: 1, kPerGroup: d.outputChannels,
                                                               cPerGroup: depth, width: Self.channelsPerPanel)
        self.bias = ChannelPanels.packBias(bias, hasBias: d.hasBias, groups: 1, kPerGroup: d.outputChannels,
                                           width: Self.channelsPerPanel)
        try checkWorkspace(workspaceBytes, backend: "direct")
    }

    var backendName: String { "direct" }
    var implementation: String { Self.implementation(isa: isa) }
    var workspaceBytes: Int { Self.workspaceBytes(descriptor, threads: ConvKit.defaultThreadCount) }

    /// The kernels on `isa` (``implementation``, known before preparing).
    static func implementation(isa: KernelISA) -> String {
        let table = KernelTable.of(isa)
        return "im2col rows ck_f32_im2col_rows (\(table.isaLabel)) + pointwise GEMM ck_f32_conv1x1_tiles_6x\(table.pointwisePixelsPerStep) (\(table.isaLabel))"
    }

    /// Output pixels per block: whole output rows (or whole 64-pixel steps of one row, for rows
    /// wider than that) whose lowered input fits in about 24 KiB of L1, written and then read
    /// by every channel panel there (a block sized for L2 ran the lowering 2-3x slower).
    static func blockPixels(_ d: Conv2DDescriptor) -> Int {
        let depth = d.inputChannels * d.kernelHeight * d.kernelWidth
        let fit = Swift.max(64, 24 * 1024 / 4 / Swift.max(depth, 1))
        let width = d.outputWidth, pixels = d.outputHeight * d.outputWidth
        let block = width <= fit ? fit / width * width : fit / 64 * 64
        return Swift.min(block, pixels)
    }

    /// One block of lowered input per worker: `threads` blocks (``workspaceBytes`` for the
    /// default thread count).
    static func workspaceBytes(_ d: Conv2DDescriptor, threads: Int) -> Int {
        d.inputChannels * d.kernelHeight * d.kernelWidth * blockPixels(d) * 4 * threads
    }

    func execute(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
                 images: Int, threads: Int?) throws {
        let requested = try checkedExecutionArguments(input: input, output: output, images: images, threads: threads)
        let d = descriptor(images: images)
        let threads = ThreadPolicy.threads(requested: requested, flops: d.flops)
        let pixels = d.outputHeight * d.outputWidth
        var block = Self.blockPixels(d)
        // At least 4 tasks per thread, blocks of at least one row or 64 pixels.
        let smallest = Swift.min(Swift.max(64, d.outputWidth), block)
        while threads > 1 && d.batch * ((pixels + block - 1) / block) < 4 * threads && block > smallest {
            block = Swift.max(smallest, block / 2)
        }
        let blocks = (pixels + block - 1) / block
        let tasks = d.batch * blocks
        let workers = ParallelFor.workers(tasks: tasks, threads: threads)
        let scratchFloats = depth * Self.blockPixels(d)
        let (lo, hi) = d.activation.bounds
        let flags = KernelFlags.store(for: d)
        let x = input.baseAddress!, y = output.baseAddress!
        let w = packedWeights.base, b = bias.base, lower = lower, tileKernel = tileKernel
        let (depth, kPanels, mr, K) = (depth, kPanels, Self.channelsPerPanel, d.outputChannels)
        pool.withBuffer(count: scratchFloats * workers) { scratch in
            ParallelFor.run(tasks: tasks, threads: threads) { worker, task in
                let n = task / blocks, first = (task % blocks) * block, count = Swift.min(block, pixels - first)
                let lowered = scratch + worker * scratchFloats
                lower(x + n * (d.inputCount / d.batch), d.inputChannels, d.inputHeight, d.inputWidth,
                      d.kernelHeight, d.kernelWidth, d.strideHeight, d.strideWidth, d.dilationHeight,
                      d.dilationWidth, d.padding.top, d.padding.left, d.outputWidth, first, count, lowered, count)
                let out = y + n * K * pixels + first
                for panel in 0..<kPanels {
                    tileKernel(depth, w + panel * depth * mr, lowered, count, count, out + panel * mr * pixels, pixels,
                               Swift.min(mr, K - panel * mr), d.hasBias ? UnsafePointer(b + panel * mr) : nil,
                               flags, lo, hi)
                }
            }
        }
    }
}
