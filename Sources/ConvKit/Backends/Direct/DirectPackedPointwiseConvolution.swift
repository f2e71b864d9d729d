
/// A 1x1 convolution (any stride, no padding) computed as a GEMM with the output channels as
/// the vector dimension and the input packed into 6-pixel panels: the `direct` backend's path
/// on AVX2+FMA for 1x1 layers on small planes (see ``supports(_:)``).
///
/// For image `n` and group `g`: `Y[K/g x P] = W[K/g x C/g] * X[C/g x P]` with `P = OH * OW`.
/// Each execute first packs the input of every image and group into panels of 6 output
/// pixels, `[tile][C/g][6]` (the pixel's input values of consecutive channels side by side;
/// a stride is applied by the packing), so the micro-kernel reads its 6 broadcasts from one
/// contiguous run instead of gathering across channel planes. The micro-kernel is the indirect
/// kernel's `ck_f32_conv_tiles_6x16__avx2_fma` (6 pixels x 16 output channels, 12 ymm
/// accumulators) with the trivial tap table `6 * c`; its tile is stored transposed into the
/// NCHW output rows.
///
/// Blocking: the channels are cut into depth blocks of at most 256 (balanced), so that a
/// 16-channel weight panel's slice (at most 16 KiB) stays in L1 while all the tiles of a task go
/// by, and each panel runs all its depth blocks before the next (its output rows stay cached,
/// which matters when the whole output exceeds L2, as SqueezeNet's 1000-channel classifier's
/// does); the first depth block starts from the bias (or from the prior output, for a fused
/// residual addition), later blocks add to the output, and the last one clamps. Pixels and
/// output-channel panels are cut into tasks; the depth blocks of an output are always summed in
/// the same order, so results are bit-identical for any thread count.
///
/// Why it exists: on 7x7 to 14x14 planes the pixel-vector pointwise kernel wastes most of its
/// last 16-pixel tile (49 pixels are 4 tiles of 16 but 9 tiles of 6), and the indirect kernel
/// without depth blocking streams every weight panel from L2 for each tile.
final class DirectPackedPointwiseConvolution: BatchSlicingConvolution, @unchecked Sendable {
    let descriptor: Conv2DDescriptor
    static let pixelsPerTile = 6, channelsPerPanel = 16
    /// The largest depth block (channels summed per micro-kernel call).
    static let maxDepthBlock = 256

    let kPerGroup: Int, cPerGroup: Int, kPanels: Int
    /// Output pixels per image and their 6-pixel tiles.
    let pixels: Int, tiles: Int
    /// Channels per depth block (the last block may be shorter).
    let depthBlock: Int
    /// Weights packed as `[group][16-channel panel][C/g][16]` (zero columns past `K/g`).
    private let packedWeights: AlignedBuffer
    /// Bias per group, zero-extended to whole panels: `[group][kPanels * 16]`.
    private let bias: AlignedBuffer
    /// The trivial tap table of a packed panel: `6 * c`, then 16 copies of the last entry (the
    /// kernel prefetches 16 taps ahead).
    private let taps: [Int32]
    private let pool = WorkspacePool()

    /// Whether the kernel can run `d`: a 1x1 kernel without padding, not depthwise, with the
    /// packed input of one image (`6 * ceil(P / 6) * C` floats) below 2^31 floats.
    static func supportsShape(_ d: Conv2DDescriptor) -> Bool {
        d.kernelHeight == 1 && d.kernelWidth == 1 && d.padding == .zero && !d.isDepthwise
            && Double(d.inputChannels) * Double(d.outputHeight * d.outputWidth + 6) < Double(Int32.max)
    }

    /// Whether `direct` runs `d` on this path (``DirectBackend/Algorithm/automatic``): a strided
    /// 1x1 layer without padding, or a stride-1 one whose output plane has at most 64 pixels,
    /// on AVX2+FMA.
    ///
    /// Measured (1 thread, interleaved bench rounds over 31 MobileNetV2, SqueezeNet and
    /// ResNet-50 1x1 layers) against the pixel-vector pointwise kernel and the indirect kernel:
    /// faster on 7x7 planes (49 pixels are 4 tiles of 16 but 9 of 6) and on strided layers
    /// (1.2-1.4x the indirect kernel, which ran them before); slower on larger planes with few
    /// channels, and even (within this VM's noise) on ResNet-50's deep 14x14 layers.
    ///
    /// On AVX-512F these layers run the indirect 6x32 kernel instead (when it takes them): in
    /// one interleaved bench run of 12 MobileNetV2 7x7 and ResNet strided 1x1 layers (1 thread,
    /// Zen 4) it ran 11 of them 1.04-1.18x faster than this path's 6x32 kernel over packed
    /// panels and the twelfth (160->960 at 7x7) at 0.98x.
    static func supports(_ d: Conv2DDescriptor, isa: KernelISA) -> Bool {
        guard hasPackedShape(d) else { return false }
        return !(KernelTable.of(isa).convTilePair != nil && DirectIndirectConvolution.supports(d))
    }

    /// The layers this path is meant for, whatever the ISA: a strided unpadded 1x1 layer, or a
    /// stride-1 one whose output plane has at most 64 pixels.
    static func hasPackedShape(_ d: Conv2DDescriptor) -> Bool {
        guard supportsShape(d) else { return false }
        return d.strideHeight > 1 || d.strideWidth > 1 || d.outputHeight * d.outputWidth <= 64
    }

    /// ``KernelISA/avx512f``: pairs of panels run the 6x32 AVX-512 kernel (the same sums).
    let isa: KernelISA
    /// The kernels of `isa`: the 6x16 indirect tile, and the 6x32 pair where the ISA has one.
    private let kernels: KernelTable
    private let tileKernel: ConvTileKernel

    init(descriptor d: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>?,
         isa: KernelISA = .avx2fma) throws {
        descriptor = d
        self.isa = isa
        kernels = KernelTable.of(isa)
        guard let tile = kernels.convTile else {
            preconditionFailure("the packed pointwise GEMM has AVX2+FMA and AVX-512F kernels only")
        }
        tileKernel = tile
        kPerGroup = d.outputChannelsPerGroup
        cPerGroup = d.inputChannelsPerGroup
        let nr = Self.channelsPerPanel
        kPanels = (kPerGroup + nr - 1) / nr
        pixels = d.outputHeight * d.outputWidth
        tiles = (pixels + Self.pixelsPerTile - 1) / Self.pixelsPerTile
        depthBlock = Self.depthBlock(cPerGroup: cPerGroup)
        packedWeights = try ChannelPanels.packPointwiseWeights(weights, groups: d.groups, kPerGroup: kPerGroup,
                                                               cPerGroup: cPerGroup, width: nr)
        self.bias = ChannelPanels.packBias(bias, hasBias: d.hasBias, groups: d.groups, kPerGroup: kPerGroup, width: nr)
        var taps = (0..<cPerGroup).map { Int32($0 * Self.pixelsPerTile) }
        taps.append(contentsOf: repeatElement(taps.last ?? 0, count: 16))
        self.taps = taps
        try checkWorkspace(workspaceBytes, backend: "direct")
    }

    var backendName: String { "direct" }
    var implementation: String { Self.implementation(descriptor, isa: isa) }
    /// The packed input of one block of images.
    var workspaceBytes: Int { Self.workspaceBytes(descriptor) }

    /// Channels per depth block for `C/g` input channels: blocks of at most 256, split evenly.
    static func depthBlock(cPerGroup: Int) -> Int {
        let blocks = (cPerGroup + maxDepthBlock - 1) / maxDepthBlock
        return (cPerGroup + blocks - 1) / Swift.max(blocks, 1)
    }

    /// The kernel that runs `d` on `isa` (``implementation``, known before preparing).
    static func implementation(_ d: Conv2DDescriptor, isa: KernelISA) -> String {
        "pointwise GEMM on packed 6-pixel panels, "
            + (KernelTable.of(isa).convTilePair != nil && d.outputChannelsPerGroup > channelsPerPanel
                ? "ck_f32_conv_tiles_6x32 (avx512f)" : "ck_f32_conv_tiles_6x16 (avx2+fma)")
            + ", depth blocks of \(depthBlock(cPerGroup: d.inputChannelsPerGroup))"
    }

    /// Floats of one image's packed input, all groups: `[group][tile][C/g][6]`.
    static func packedImageFloats(_ d: Conv2DDescriptor) -> Int {
        let tiles = (d.outputHeight * d.outputWidth + pixelsPerTile - 1) / pixelsPerTile
        return d.groups * tiles * pixelsPerTile * d.inputChannelsPerGroup
    }
    /// Images packed at a time: as many as fit in 8 MiB (at least one).
    static func imagesPerBlock(_ d: Conv2DDescriptor) -> Int {
        Swift.max(1, Swift.min(d.batch, (8 << 20) / 4 / Swift.max(packedImageFloats(d), 1)))
    }
    /// The packed input of one block of images (any thread count).
    static func workspaceBytes(_ d: Conv2DDescriptor) -> Int { imagesPerBlock(d) * packedImageFloats(d) * 4 }
    var packedImageFloats: Int { Self.packedImageFloats(descriptor) }
    var imagesPerBlock: Int { Self.imagesPerBlock(descriptor) }

    func execute(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
                 images: Int, threads: Int?) throws {
        let requested = try checkedExecutionArguments(input: input, output: output, images: images, threads: threads)
        let d = descriptor(images: images)
        let threads = ThreadPolicy.threads(requested: requested, flops: d.flops)
        let perBlock = imagesPerBlock, imageFloats = packedImageFloats
        let inImage = d.inputChannels * d.inputHeight * d.inputWidth, outImage = d.outputChannels * pixels
        // Packing and the products: one fan-out (two phases of one team) per block of images.
        WorkerTeam.region(threads: threads) {
            pool.withBuffer(count: perBlock * imageFloats) { packed in
                taps.withUnsafeBufferPointer { taps in
                    var first = 0
                    while first < d.batch {
                        let count = Swift.min(perBlock, d.batch - first)
                        let x = input.baseAddress! + first * inImage
                        let y = output.baseAddress! + first * outImage
                        pack(x, images: count, into: packed, threads: threads)
                        let (chunks, panelBlocks) = split(images: count, threads: threads)
                        ParallelFor.run(tasks: count * d.groups * chunks * panelBlocks, threads: threads) { _, task in
                            var rest = task
                            let block = rest % panelBlocks; rest /= panelBlocks
                            let chunk = rest % chunks; rest /= chunks
                            let image = rest   // image * groups + group
                            let g = image % d.groups, n = image / d.groups
                            run(a: packed + image * tiles * Self.pixelsPerTile * cPerGroup,
                                y: y + (n * d.outputChannels + g * kPerGroup) * pixels, group: g,
                                panels: ChannelPanels.panelRange(block: block, of: panelBlocks, panels: kPanels,
                                                                 pairs: kernels.convTilePair != nil),
                                tiles: (tiles * chunk / chunks)..<(tiles * (chunk + 1) / chunks), taps: taps)
                        }
                        first += count
                    }
                }
            }
        }
    }

    /// Pixel chunks per image and blocks of channel panels: one chunk and one block when there
    /// is enough other parallelism, else panels first (each task packs nothing, so splitting
    /// the channels costs no extra traffic), then pixels, until there are 4 tasks per thread.
    func split(images: Int, threads: Int) -> (chunks: Int, panelBlocks: Int) {
        ChannelPanels.refine(chunks: 1, panelBlocks: 1, pieces: images * descriptor.groups, tiles: tiles,
                             panels: ChannelPanels.panelUnits(panels: kPanels, pairs: kernels.convTilePair != nil), threads: threads)
    }

    /// Tiles `tiles` of one image and group, channel panels `panels`: panel by panel, depth
    /// block by depth block (the panel's weight slice stays in L1 while the tiles go by, and the
    /// panel's output rows stay in L1/L2 across its depth blocks), tile by tile.
    @inline(__always)
    private func run(a: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, group g: Int,
                     panels: Range<Int>, tiles: Range<Int>, taps: UnsafeBufferPointer<Int32>) {
        let d = descriptor
        let mr = Self.pixelsPerTile, nr = Self.channelsPerPanel
        let (lo, hi) = d.activation.bounds
        let clamp: UInt32 = d.activation != .none ? KernelFlags.clamp : 0
        let residual: UInt32 = d.accumulate ? KernelFlags.convAccumulate : 0
        var kPanel = panels.lowerBound
        while kPanel < panels.upperBound {
            // A pair kernel (AVX-512F): this panel and the next in one pass (6 pixels x 32 channels).
            let pairKernel = kPanel + 1 < panels.upperBound ? kernels.convTilePair : nil
            let pair = pairKernel != nil
            defer { kPanel += pair ? 2 : 1 }
            let nk = Swift.min(pair ? 2 * nr : nr, kPerGroup - kPanel * nr)
            let out = y + kPanel * nr * pixels
            let panelWeights = packedWeights.base + (g * kPanels + kPanel) * cPerGroup * nr
            var c0 = 0
            while c0 < cPerGroup {
                let depth = Swift.min(depthBlock, cPerGroup - c0)
                let last = c0 + depth == cPerGroup
                // The first depth block starts from the bias (or adds to the prior output: a
                // fused residual), later ones add to the output, the last one clamps.
                let flags = (c0 == 0 ? residual : KernelFlags.convAccumulate) | (last ? clamp : 0)
                let w = panelWeights + c0 * nr
                let biasPtr: UnsafePointer<Float>? = d.hasBias && c0 == 0
                    ? UnsafePointer(bias.base + (g * kPanels + kPanel) * nr) : nil
                // The kernel walks the tiles itself: pixel p's panel row starts at
                // a + (p / 6) * (C/g) * 6 + p % 6 (a "row" of 6 pixels per tile, rowStep C/g * 6).
                let first = tiles.lowerBound * mr, count = Swift.min(tiles.upperBound * mr, pixels) - first
                if let pairKernel {
                    pairKernel(depth, w, cPerGroup * nr, taps.baseAddress, a + c0 * mr, cPerGroup * mr, 1, mr, first,
                               count, out, pixels, nk, biasPtr, flags, lo, hi, nil)
                } else {
                    tileKernel(depth, w, taps.baseAddress, a + c0 * mr, cPerGroup * mr, 1, mr, first, count, out,
                               pixels, nk, biasPtr, flags, lo, hi, nil)
                }
                c0 += depth
            }
        }
    }

    /// Packs `images` images into `[image][group][tile][C/g][6]`: element `(c, p)` of a group
    /// (input pixel `(oh * sh, ow * sw)` of channel `c`) at `[p / 6][c][p % 6]`; the pixels past
    /// `P` in the last tile are zero.
    private func pack(_ x: UnsafePointer<Float>, images: Int, into dst: UnsafeMutablePointer<Float>, threads: Int) {
        let d = descriptor
        let H = d.inputHeight, W = d.inputWidth, OW = d.outputWidth
        let sh = d.strideHeight, sw = d.strideWidth
        let mr = Self.pixelsPerTile, Cg = cPerGroup, pixels = pixels, tiles = tiles
        let items = images * d.groups * tiles
        let copyThreads = ThreadPolicy.threads(requested: threads, elements: 2 * items * mr * Cg)
        ParallelFor.run(items: items, threads: copyThreads) { _, range in
            for item in range {
                let t = item % tiles, image = item / tiles   // image * groups + group
                let src = x + image * Cg * H * W
                let panel = dst + (image * tiles + t) * Cg * mr
                let first = t * mr, np = Swift.min(mr, pixels - first)
                var offsets: (Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0)
                withUnsafeMutableBytes(of: &offsets) { raw in
                    let o = raw.bindMemory(to: Int.self)
                    for j in 0..<mr {
                        let p = first + Swift.min(j, np - 1)
                        o[j] = (p / OW) * sh * W + (p % OW) * sw
                    }
                }
                if np == mr && sw == 1 && offsets.5 - offsets.0 == 5 {
                    // Six consecutive input pixels: one run per channel.
                    var s = UnsafeRawPointer(src + offsets.0), o = UnsafeMutableRawPointer(panel)
                    let plane = H * W * 4
                    for _ in 0..<Cg {
                        o.storeBytes(of: s.loadUnaligned(as: SIMD4<Float>.self), as: SIMD4<Float>.self)
                        o.storeBytes(of: s.loadUnaligned(fromByteOffset: 16, as: SIMD2<Float>.self), toByteOffset: 16,
                                     as: SIMD2<Float>.self)
                        s += plane
                        o += 24
                    }
                } else {
                    withUnsafeBytes(of: offsets) { raw in
                        let off = raw.bindMemory(to: Int.self)
                        for c in 0..<Cg {
                            let s = src + c * H * W, o = panel + c * mr
                            for j in 0..<mr { o[j] = j < np ? s[off[j]] : 0 }
                        }
                    }
                }
            }
        }
    }
}
