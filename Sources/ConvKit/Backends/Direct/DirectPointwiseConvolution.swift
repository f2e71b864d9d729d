
/// A pointwise convolution (1x1 kernel, stride 1, no padding) computed as a GEMM on the NCHW
/// planes in place: `Y[k][p] = b[k] + sum_c W[k][c] X[c][p]` per image and group, with the
/// pixels as the vector dimension (the `direct` backend's path on AVX2+FMA for such layers).
///
/// The kernel `ck_f32_conv1x1_tiles_6x16__avx2_fma` computes 6 output channels by 16
/// pixels: each step loads 16 consecutive pixels of one input channel and broadcasts the 6
/// weights of that channel, and the tile is stored as whole vectors along its 6 channel rows
/// (no transposes, unlike the indirect kernel, whose store costs as much as a shallow layer's
/// products). Weights are packed once into `[group][6-channel panel][C/g][6]`.
///
/// On ``KernelISA/avx512f`` the same loop runs `ck_f32_conv1x1_tiles_6x64__avx512f`: 6
/// channels by 64 pixels in 24 zmm accumulators, same packing, same order of additions per
/// output (so both ISAs give the same sums up to the FMA rounding, which is the same per lane).
///
/// Blocking: the pixels are cut into blocks whose input and output planes fit in about 256 KiB
/// of L2, and each task runs all its channel panels over its block, so the input streams from
/// memory once; layers deeper than 96 channels are cut into depth blocks of 64 (the later blocks
/// add to the output), so that a tile's working set stays in a 32 KiB L1 (Zen 3). Each output is written once, after its whole sum, so results are
/// bit-identical for any thread count. Bias, clamp and accumulation into the output are fused
/// into the store.
final class DirectPointwiseConvolution: BatchSlicingConvolution, @unchecked Sendable {
    let descriptor: Conv2DDescriptor
    static let channelsPerPanel = 6
    /// Input channels per depth block (a block of 96 or fewer channels is not split).
    static let depthBlock = 64

    let kPerGroup: Int, cPerGroup: Int, kPanels: Int
    private let packedWeights: AlignedBuffer
    /// Bias per group, zero-extended to whole panels: `[group][kPanels * 6]`.
    private let bias: AlignedBuffer

    /// Whether this path runs `d` (``DirectBackend/Algorithm/automatic``): a 1x1 kernel with
    /// stride 1 and no padding (dilation is then irrelevant), any groups, that the packed
    /// pointwise GEMM is meant for (``DirectPackedPointwiseConvolution/hasPackedShape(_:)``: planes
    /// of at most 64 pixels).
    ///
    /// Measured (1 thread, one interleaved bench run of 31 MobileNetV2, SqueezeNet and ResNet-50
    /// 1x1 layers from 7x7 to 112x112): 0.82x oneDNN geomean against 0.66x for the indirect
    /// kernel, which ran these layers below 28x28 pixels or above 192 channels before; the
    /// indirect kernel's transposing store costs as much as a shallow layer's products.
    ///
    /// On AVX-512F, deep layers (at least 256 input channels per group, and 128 output
    /// channels per group or 1024 pixels) run the indirect 6x32 kernel instead, whose weight
    /// panels hold the whole depth: measured in two interleaved bench runs of 20 ResNet-50,
    /// MobileNetV2 and SqueezeNet 1x1 layers (1 thread, Zen 4), the indirect kernel ran those
    /// 1.06-1.31x faster (512->128 at 28x28, 1024->256/512 at 14x14, 512->1000 at 13x13,
    /// 256->64 at 56x56), while this path stayed 1.0-1.1x faster on 384->64 at 13x13 and on
    /// every layer with fewer than 256 input channels.
    static func supports(_ d: Conv2DDescriptor, isa: KernelISA) -> Bool {
        guard supportsShape(d) && !DirectPackedPointwiseConvolution.hasPackedShape(d) else { return false }
        return !(KernelTable.of(isa).convTilePair != nil && prefersIndirectPairKernel(d))
    }

    /// Deep 1x1 layers that the indirect kernel runs faster where the table has its 6x32 pair
    /// kernel (AVX-512F; see
    /// ``supports(_:isa:)``).
    static func prefersIndirectPairKernel(_ d: Conv2DDescriptor) -> Bool {
        d.inputChannelsPerGroup >= 256
            && (d.outputChannelsPerGroup >= 128 || d.outputHeight * d.outputWidth >= 1024)
    }

    /// Whether the kernel can run `d` at all: a 1x1 kernel, stride 1, no padding.
    static func supportsShape(_ d: Conv2DDescriptor) -> Bool {
        d.kernelHeight == 1 && d.kernelWidth == 1 && d.strideHeight == 1 && d.strideWidth == 1 && d.padding == .zero
    }

    /// The pointwise tile kernel of the ISA in use (same contract for both).
    typealias TileKernel = PointwiseTileKernel
    private let tileKernel: TileKernel
    /// Pixels per kernel step (16 on AVX2+FMA, 64 on AVX-512F): whole steps per pixel block.
    private let pixelsPerStep: Int
    let isa: KernelISA

    init(descriptor d: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>?,
         isa: KernelISA = .avx2fma) throws {
        guard let tile = KernelTable.of(isa).pointwiseTile else {
            preconditionFailure("the pointwise GEMM has AVX2+FMA and AVX-512F kernels only")
        }
        descriptor = d
        self.isa = isa
        tileKernel = tile
        pixelsPerStep = KernelTable.of(isa).pointwisePixelsPerStep
        kPerGroup = d.outputChannelsPerGroup
        cPerGroup = d.inputChannelsPerGroup
        let mr = Self.channelsPerPanel
        kPanels = (kPerGroup + mr - 1) / mr
        packedWeights = try ChannelPanels.packPointwiseWeights(weights, groups: d.groups, kPerGroup: kPerGroup,
                                                               cPerGroup: cPerGroup, width: mr)
        self.bias = ChannelPanels.packBias(bias, hasBias: d.hasBias, groups: d.groups, kPerGroup: kPerGroup, width: mr)
    }

    var backendName: String { "direct" }
    var implementation: String {
        Self.implementation(isa: isa)
    }
    var workspaceBytes: Int { 0 }

    /// The kernel on `isa` (``implementation``, known before preparing); the path needs no
    /// workspace.
    static func implementation(isa: KernelISA) -> String {
        let table = KernelTable.of(isa)
        return "pointwise GEMM on NCHW, ck_f32_conv1x1_tiles_6x\(table.pointwisePixelsPerStep) (\(table.isaLabel))"
    }

    func execute(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
                 images: Int, threads: Int?) throws {
        let requested = try checkedExecutionArguments(input: input, output: output, images: images, threads: threads)
        let d = descriptor(images: images)
        let threads = ThreadPolicy.threads(requested: requested, flops: d.flops)
        let pixels = d.inputHeight * d.inputWidth
        // Pixel blocks (multiples of 16) whose C/g input planes and K/g output planes fit in about
        // 256 KiB of L2 (the outputs are revisited once per depth block), whole 64-pixel steps on
        // AVX-512F where the block holds at least one.
        let unit = pixelsPerStep > 16 && 256 * 1024 / 4 / Swift.max(cPerGroup + kPerGroup, 1) >= pixelsPerStep
            ? pixelsPerStep : 16
        var block = Swift.max(16, (256 * 1024 / 4 / Swift.max(cPerGroup + kPerGroup, 1)) / unit * unit)
        var panelBlocks = 1
        let groupImages = d.batch * d.groups
        while threads > 1 && groupImages * ((pixels + block - 1) / block) * panelBlocks < 4 * threads {
            if block > 64 { block = Swift.max(16, block / 2 / 16 * 16) } else if panelBlocks < kPanels { panelBlocks *= 2 } else { break }
        }
        panelBlocks = Swift.min(panelBlocks, kPanels)
        let blocks = (pixels + block - 1) / block
        let x = input.baseAddress!, y = output.baseAddress!
        let (lo, hi) = d.activation.bounds
        let flags = KernelFlags.store(for: d)
        let mr = Self.channelsPerPanel
        let panelFloats = cPerGroup * mr
        let w = packedWeights.base, b = bias.base, tileKernel = tileKernel
        let (kPerGroup, cPerGroup, kPanels, hasBias) = (kPerGroup, cPerGroup, kPanels, d.hasBias)
        ParallelFor.run(tasks: groupImages * blocks * panelBlocks, threads: threads) { _, task in
            var rest = task
            let pb = rest % panelBlocks; rest /= panelBlocks
            let blk = rest % blocks; rest /= blocks
            let g = rest % d.groups, n = rest / d.groups
            let first = blk * block, count = Swift.min(block, pixels - first)
            let xImage = x + (n * d.inputChannels + g * cPerGroup) * pixels + first
            let yImage = y + (n * d.outputChannels + g * kPerGroup) * pixels + first
            // Depth blocks of at most 64 channels keep a tile's working set (64 input lines and
            // the block's weights) in L1; the first block starts from the bias (or the prior
            // output when accumulating), later ones add to the output, the last one clamps.
            var c0 = 0
            while c0 < cPerGroup {
                let depth = cPerGroup <= 96 ? cPerGroup : Swift.min(Self.depthBlock, cPerGroup - c0)
                let last = c0 + depth == cPerGroup
                var f = c0 == 0 ? flags & KernelFlags.convAccumulate : KernelFlags.convAccumulate
                if last { f |= flags & KernelFlags.clamp }
                for panel in (kPanels * pb / panelBlocks)..<(kPanels * (pb + 1) / panelBlocks) {
                    let rows = Swift.min(mr, kPerGroup - panel * mr)
                    tileKernel(depth, w + (g * kPanels + panel) * panelFloats + c0 * mr,
                                                        xImage + c0 * pixels, pixels, count,
                                                        yImage + panel * mr * pixels, pixels, rows,
                                                        hasBias && c0 == 0 ? UnsafePointer(b + (g * kPanels + panel) * mr) : nil,
                                                        f, lo, hi)
                }
                c0 += depth
            }
        }
    }
}
