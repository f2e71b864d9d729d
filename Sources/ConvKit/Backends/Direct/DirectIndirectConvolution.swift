
/// A convolution computed straight from the input, with the output channels as the vector
/// dimension (the `direct` backend's path on AVX2+FMA for non-depthwise layers).
///
/// For image `n` and group `g`, each output pixel is `y[k] = bias[k] + sum_d W[k][d] x[p + tap(d)]`
/// over the `D = (C/g) * R * S` taps `d = (r, c, s)`, or `(r, s, c)` on narrow padded outputs
/// (kernel row outermost; see ``skipsPaddingColumns(_:isa:)``). The kernel
/// `ck_f32_conv_tiles_6x16__avx2_fma` (on AVX-512F, `ck_f32_conv_tiles_6x32__avx512f` for two
/// panels at a time) computes 6 pixels by 16 output channels: each tap's
/// 16 weights are one packed row (two vectors), each pixel's input value is broadcast from the
/// input in place (`pixel base + tap offset`), so nothing is packed at execute time and any
/// stride or dilation costs the same. Zero padding comes from a padded copy of the input
/// (made per call only when the descriptor pads). Each output is written once, after its
/// whole sum (no depth blocking), so the split over threads cannot change any bit.
///
/// Weights are packed once, at prepare time, as `[group][16-channel panel][D][16]` (zero rows
/// for the channels past `K/g`).
final class DirectIndirectConvolution: BatchSlicingConvolution, @unchecked Sendable {
    let descriptor: Conv2DDescriptor

    /// Output pixels and output channels per micro-kernel call.
    static let pixelsPerTile = 6, channelsPerPanel = 16

    let kPerGroup: Int, cPerGroup: Int, depth: Int, kPanels: Int
    /// Input plane as read by the kernel: the padded copy's, or the input's when nothing is
    /// padded or the input is read in place.
    let planeHeight: Int, planeWidth: Int
    /// Whether each call makes a zero-padded copy of the input (the descriptor pads and the
    /// input is not read in place).
    var padded: Bool { Self.copiesInput(descriptor, isa: isa) }
    /// Whether the input is read in place with every padding tap skipped
    /// (``readsInPlace(_:isa:)``).
    let inPlace: Bool

    private let packedWeights: AlignedBuffer
    /// Bias per group, zero-extended to whole panels: `[group][kPanels * 16]`.
    private let bias: AlignedBuffer
    /// Offset of each tap (in the taps' order) from the pixel's first tap, in floats, then 16 copies of
    /// the last one (read by the kernel's prefetches).
    private let taps: [Int32]
    private let pool = WorkspacePool()

    /// Whether the taps are in (r, s, c) order, with the AVX-512F pair kernel leaving out, per
    /// pixel, the kernel columns that read left or right padding (``skipsPaddingColumns(_:isa:)``).
    let skipsColumns: Bool
    /// Narrow outputs (at most 17 columns) with left or right padding: there the padding columns
    /// are a large share of the taps (a 7x7 filter on a 7x7 image: 24%), and the (r, s, c) order
    /// ran the 6x16 kernel no slower. Measured (1 thread, Zen 4, the two builds alternated layer
    /// by layer, 5 rounds, medians): 1.07x geomean on 12 layers with 4-17 output columns
    /// (0.93-1.27x; 7 of them random layers), 0.98-1.01x on 28-column ones, which therefore keep
    /// the (r, c, s) order.
    static func skipsPaddingColumns(_ d: Conv2DDescriptor, isa: KernelISA) -> Bool {
        KernelTable.of(isa).convTile != nil && (d.padding.left > 0 || d.padding.right > 0)
            && (d.outputWidth <= 17 || readsInPlace(d, isa: isa))
    }

    /// Whether a padded layer reads its input in place, with no zero-padded copy: where the
    /// table has a row kernel (`ck_f32_conv_rows_6x32__avx512f`, `ck_f32_conv_rows_6x16__avx2_fma`),
    /// every panel runs the 6x32 or 6x16 tiles (no few-channel panel), and a tile's taps inside
    /// the image form at most 64 blocks (kernels at most 16 wide and 64 taps per channel). Tiles
    /// then never cross an output row, so each pixel sums exactly its taps inside the image (the
    /// products with padding that the copy would supply are zero). Measured (1 thread, Zen 4,
    /// same run): the copy cost 8-14% on padded 3x3 layers from 7x7 to 56x56, which oneDNN does
    /// not pay. Layers with fewer than 8 input channels per group keep the copy: at 8-15 channels
    /// (after the tile's column blocks and the runner were shared) reading in place measured
    /// 0.98-1.24x the copy on 3x3 and 5x5 layers, 1.08-1.24x at stride 2; at 4 and 6 channels 0.99x.
    ///
    /// On AVX2 (two FMAs per cycle, so tiles of fewer than 6 pixels run out of load slots first)
    /// only strided layers with at least 32 channels per group and rows of at most 30 outputs read
    /// in place. Measured against the copy (1 thread, Zen 4, the two builds alternated, 2-4
    /// rounds): 1.06-1.15x on every such 3x3 stride-2 layer of 35 with 8-128 channels, 0.97-1.31x
    /// (geomean 1.09x) on 8 random strided layers with rows of 7-28; but 0.75-0.95x on most
    /// stride-1 layers (rows cut in tiles of 4 + 3 or 5 + 5 pixels where the copy's tiles of 6
    /// cross row ends), 0.83-0.91x at stride 2 with 8 or 16 channels, and 0.77x with rows of 56
    /// (where the copy's padding is a small share of the taps).
    static func readsInPlace(_ d: Conv2DDescriptor, isa: KernelISA) -> Bool {
        let table = KernelTable.of(isa)
        guard table.convRowsInPlace != nil && isPadded(d) && !fewChannels(d, isa: isa) && d.kernelWidth <= 16
            && d.kernelHeight * d.kernelWidth <= 64 && d.inputChannelsPerGroup >= 8 else { return false }
        return table.convTilePair != nil
            || (d.strideWidth >= 2 && d.inputChannelsPerGroup >= 32 && d.outputWidth <= 30)
    }
    static func copiesInput(_ d: Conv2DDescriptor, isa: KernelISA) -> Bool {
        isPadded(d) && !readsInPlace(d, isa: isa)
    }

    /// Output pixels per task unit: 7 where the table has the 6x32 pair kernel and the plane has
    /// 7n pixels (7x7, 14x14: whole 7-pixel tiles, where 6-pixel tiles leave 9 of 54 slots of
    /// a 7x7 plane's last tiles empty), else the 6 of the tile. Results do not depend on it:
    /// each output's sum is the same in any tile.
    let tileUnit: Int
    static func tileUnit(_ d: Conv2DDescriptor, isa: KernelISA) -> Int {
        KernelTable.of(isa).convTilePair != nil && d.outputChannelsPerGroup > channelsPerPanel
            && (d.outputHeight * d.outputWidth) % 7 == 0 ? 7 : pixelsPerTile
    }

    /// Whether this path should run `d`: not depthwise (it has its own kernel), tap offsets
    /// within 32 bits, and a padded plane at most 4 times the input plane (or 64 Ki floats):
    /// with padding far larger than the image, the implicit GEMM, which never materialises
    /// padding, is the better choice.
    static func supports(_ d: Conv2DDescriptor) -> Bool {
        let plane = Double(d.inputHeight + d.padding.top + d.padding.bottom) *
            Double(d.inputWidth + d.padding.left + d.padding.right)
        let inputPlane = Double(d.inputHeight) * Double(d.inputWidth)
        return !d.isDepthwise && Double(d.inputChannelsPerGroup) * plane < Double(Int32.max)
            && plane <= Swift.max(4 * inputPlane, 65536)
    }

    /// ``KernelISA/avx512f``: pairs of panels run the 6x32 AVX-512 kernel (the same sums).
    let isa: KernelISA
    /// The kernels of `isa`: the 6x16 tile, the few-channel kernel, and the 6x32 pair where the
    /// ISA has one.
    private let kernels: KernelTable
    private let tileKernel: ConvTileKernel
    private let fewChannelsKernel: FewChannelsKernel

    init(descriptor d: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>?,
         isa: KernelISA = .avx2fma) throws {
        descriptor = d
        self.isa = isa
        kernels = KernelTable.of(isa)
        guard let tile = kernels.convTile, let few = kernels.fewChannels else {
            preconditionFailure("the indirect convolution has AVX2+FMA and AVX-512F kernels only")
        }
        tileKernel = tile
        fewChannelsKernel = few
        kPerGroup = d.outputChannelsPerGroup
        cPerGroup = d.inputChannelsPerGroup
        depth = cPerGroup * d.kernelHeight * d.kernelWidth
        let nr = Self.channelsPerPanel
        kPanels = (kPerGroup + nr - 1) / nr
        inPlace = Self.readsInPlace(d, isa: isa)
        planeHeight = inPlace ? d.inputHeight : d.inputHeight + d.padding.top + d.padding.bottom
        planeWidth = inPlace ? d.inputWidth : d.inputWidth + d.padding.left + d.padding.right

        let panelFloats = try checkedMul(depth, nr, "packed weights")
        packedWeights = AlignedBuffer(count: try checkedMul(try checkedMul(d.groups, kPanels, "packed weights"),
                                                            panelFloats, "packed weights"))
        // Taps with the kernel row outermost, so that the taps of the kernel rows that fall in the
        // top or bottom zero padding for a whole tile form a prefix or suffix the kernel can skip:
        // (r, c, s) order, or (r, s, c) where the pair kernel skips padding columns (the taps of
        // one kernel column are then a block of C/g taps).
        let pw = packedWeights.base
        let R = d.kernelHeight, S = d.kernelWidth, Cg = cPerGroup
        let columnsOuter = Self.skipsPaddingColumns(d, isa: isa)
        skipsColumns = columnsOuter
        tileUnit = inPlace ? d.outputWidth : Self.tileUnit(d, isa: isa)
        func tapIndex(_ r: Int, _ s: Int, _ c: Int) -> Int {
            columnsOuter ? (r * S + s) * Cg + c : (r * Cg + c) * S + s
        }
        for g in 0..<d.groups {
            for k in 0..<kPerGroup {
                let panel = pw + (g * kPanels + k / nr) * panelFloats + k % nr
                let src = weights.baseAddress! + (g * kPerGroup + k) * depth   // (c, r, s) order
                for r in 0..<R {
                    for s in 0..<S {
                        for c in 0..<Cg { panel[tapIndex(r, s, c) * nr] = src[(c * R + r) * S + s] }
                    }
                }
            }
        }
        self.bias = ChannelPanels.packBias(bias, hasBias: d.hasBias, groups: d.groups, kPerGroup: kPerGroup, width: nr)
        let plane = planeHeight * planeWidth
        var taps = [Int32](repeating: 0, count: depth)
        taps.reserveCapacity(depth + 16)
        for r in 0..<R {
            for s in 0..<S {
                for c in 0..<Cg {
                    taps[tapIndex(r, s, c)] = Int32(c * plane + r * d.dilationHeight * planeWidth + s * d.dilationWidth)
                }
            }
        }
        // 16 more entries (repeating the last tap): the kernel prefetches 16 taps ahead.
        taps.append(contentsOf: repeatElement(taps.last ?? 0, count: 16))
        self.taps = taps
        try checkWorkspace(workspaceBytes, backend: "direct")
    }

    /// Channel panels of at most this many channels (a layer with few output channels per group,
    /// or the last panel of one with 16n + 1 to 16n + 12), with stride 1 along rows, run the
    /// few-channel kernel `ck_f32_conv_fewk_8px__avx2_fma` (8 pixels of a row as the vector,
    /// one accumulator per channel) instead of the 6x16 tile, which would leave most of its 16
    /// channel lanes empty.
    static let fewChannelsMax = 12
    /// Whether the few-channel kernel runs the last (or only) panel of `d` on `isa`: at most 12
    /// channels in it, stride 1 along rows, and its vectors of output pixels at least as full as
    /// the 6x16 tile's 16 channel lanes (`panelChannels / 16`). A row of `W` pixels fills
    /// `W / (v * ceil(W / v))` of the lanes of the table's `v`-pixel vectors (16 on AVX-512F, so
    /// a 17-pixel row fills 53%, a 7-pixel one 44%; 8 on AVX2). Measured (1 thread, Zen 4,
    /// AVX-512F, the two rules alternated, medians): 12 channels on 17-pixel rows 0.61-0.65x
    /// oneDNN on the few-channel kernel, 0.92-0.97x on the tile (read in place), on 9-pixel rows
    /// 0.55x -> 1.00x, 8 channels on 17-pixel rows (53% vs 50%) and 33-pixel rows (69% vs 75%)
    /// unchanged; AVX2, 12 channels on 17-pixel rows 0.62x -> 0.78-0.81x. Earlier, 7-pixel rows
    /// 0.39x vs 0.55x with the tile, 10-pixel rows (62%, 8 channels: 50%) 1.4x faster on the
    /// few-channel kernel.
    static func runsFewChannels(_ d: Conv2DDescriptor, isa: KernelISA, panelChannels: Int) -> Bool {
        guard panelChannels <= fewChannelsMax && d.strideWidth == 1 else { return false }
        let v = KernelTable.of(isa).fewChannelsVectorPixels, w = d.outputWidth
        // w / (v * ceil(w / v)) >= panelChannels / 16, in integers.
        return w * 16 >= panelChannels * v * ((w + v - 1) / v)
    }
    var fewChannels: Bool { Self.fewChannels(descriptor, isa: isa) }
    /// Whether `d`'s last (or only) panel runs the few-channel kernel. Where the table has the
    /// 6x32 pair kernel, tasks keep pairs of panels together, so a last panel that has a partner
    /// (an even number of panels: 17-32 channels per group, say) runs in the pair and never on
    /// the few-channel kernel; such a layer may then read its input in place.
    static func fewChannels(_ d: Conv2DDescriptor, isa: KernelISA) -> Bool {
        let panels = (d.outputChannelsPerGroup + channelsPerPanel - 1) / channelsPerPanel
        if KernelTable.of(isa).convTilePair != nil && panels % 2 == 0 { return false }
        return runsFewChannels(d, isa: isa, panelChannels: (d.outputChannelsPerGroup - 1) % channelsPerPanel + 1)
    }

    var backendName: String { "direct" }
    var implementation: String { Self.implementation(descriptor, isa: isa) }
    /// The zero-padded copy of one block of images, when the input is copied.
    var workspaceBytes: Int { Self.workspaceBytes(descriptor, isa: isa) }
    var imagesPerBlock: Int { Self.imagesPerBlock(descriptor, isa: isa) }

    /// The kernels that run `d` on `isa` (``implementation``, known before preparing).
    static func implementation(_ d: Conv2DDescriptor, isa: KernelISA) -> String {
        let kPerGroup = d.outputChannelsPerGroup, table = KernelTable.of(isa)
        if readsInPlace(d, isa: isa) {
            if table.convTilePair == nil {
                return "indirect direct convolution, ck_f32_conv_rows_6x16 (avx2+fma): 6x16 tiles per output row, "
                    + "input read in place, padding taps skipped"
            }
            return "indirect direct convolution, ck_f32_conv_rows_6x32 (avx512f): 6x32 and 6x16 tiles per output row "
                + "(or of whole rows, up to 8 pixels, when rows are short), input read in place, padding taps skipped"
        }
        let tile = table.convTilePair != nil ? "ck_f32_conv_tiles_6x16 (avx512f)" : "ck_f32_conv_tiles_6x16 (avx2+fma)"
        return "indirect direct convolution, "
            + (kPerGroup <= channelsPerPanel && fewChannels(d, isa: isa) ? "few-channel kernel \(table.fewChannelsName)"
                : fewChannels(d, isa: isa) ? "\(tile) + \(table.fewChannelsName) (last panel)"
                : tile)
            + (table.convTilePair != nil && kPerGroup > channelsPerPanel
                ? ", pairs of panels ck_f32_conv_tiles_6x32 (avx512f)"
                    + (tileUnit(d, isa: isa) == 7 ? " in 7-pixel tiles" : "") : "")
            + (isPadded(d) ? ", zero-padded input copy" : "")
    }
    static func isPadded(_ d: Conv2DDescriptor) -> Bool { d.padding != .zero }
    /// Floats of one zero-padded image (all channels).
    static func paddedImageFloats(_ d: Conv2DDescriptor) -> Int {
        d.inputChannels * (d.inputHeight + d.padding.top + d.padding.bottom)
            * (d.inputWidth + d.padding.left + d.padding.right)
    }
    /// Images per zero-padded block: as many as fit in 16 MiB (at least one), so that the copy
    /// does not grow with the batch.
    static func imagesPerBlock(_ d: Conv2DDescriptor, isa: KernelISA) -> Int {
        guard copiesInput(d, isa: isa) else { return d.batch }
        return Swift.max(1, Swift.min(d.batch, (16 << 20) / 4 / Swift.max(paddedImageFloats(d), 1)))
    }
    /// The zero-padded copy of one block of images, when `d` pads and its input is not read in
    /// place on `isa` (any thread count).
    static func workspaceBytes(_ d: Conv2DDescriptor, isa: KernelISA) -> Int {
        copiesInput(d, isa: isa) ? imagesPerBlock(d, isa: isa) * paddedImageFloats(d) * 4 : 0
    }

    func execute(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
                 images: Int, threads: Int?) throws {
        let requested = try checkedExecutionArguments(input: input, output: output, images: images, threads: threads)
        let d = descriptor(images: images)
        let threads = ThreadPolicy.threads(requested: requested, flops: d.flops)
        let pixels = d.outputHeight * d.outputWidth
        let unit = tileUnit
        let tiles = (pixels + unit - 1) / unit
        let perBlock = imagesPerBlock
        let imageFloats = d.inputChannels * planeHeight * planeWidth
        // Padding and the convolution: one fan-out (two phases of one team).
        WorkerTeam.region(threads: padded ? threads : 1) {
            pool.withBuffer(count: padded ? perBlock * imageFloats : 1) { buffer in
                taps.withUnsafeBufferPointer { taps in
                    // Blocks of images: padded into the workspace (when the descriptor pads), then
                    // computed; without padding, the whole batch is one block read in place.
                    var first = 0
                    while first < d.batch {
                        let count = Swift.min(perBlock, d.batch - first)
                        let x: UnsafePointer<Float>
                        if padded {
                            zeroPad(input.baseAddress! + first * d.inputCount / d.batch, images: count, into: buffer,
                                    threads: threads)
                            x = UnsafePointer(buffer)
                        } else {
                            x = input.baseAddress!
                        }
                        let y = output.baseAddress! + first * (d.outputCount / d.batch)
                        let (chunks, panelBlocks) = split(tiles: tiles, images: count, threads: threads)
                        let tasks = count * d.groups * chunks * panelBlocks
                        ParallelFor.run(tasks: tasks, threads: threads) { _, task in
                            var rest = task
                            let block = rest % panelBlocks; rest /= panelBlocks
                            let chunk = rest % chunks; rest /= chunks
                            let g = rest % d.groups, n = rest / d.groups
                            let firstTile = tiles * chunk / chunks, endTile = tiles * (chunk + 1) / chunks
                            let panels = ChannelPanels.panelRange(block: block, of: panelBlocks, panels: kPanels,
                                                                  pairs: kernels.convTilePair != nil)
                            run(x: x, y: y, image: n, group: g, panels: panels, tiles: firstTile..<endTile, taps: taps)
                        }
                        first += count
                    }
                }
            }
        }
    }

    /// How the pixels (`tiles` tiles per image) and the channel panels are cut into tasks:
    /// `chunks` pixel chunks per image times `panelBlocks` blocks of channel panels.
    ///
    /// Each task runs its panels one after another over its pixels, so a task re-reads its
    /// input once per panel and the weights of its panels once per chunk. When a group's packed
    /// weights fit in L2 (512 KiB), the pixels are cut into chunks whose input rows fit in about
    /// 256 KiB and every task runs all panels: the input streams from memory once. Otherwise
    /// each task runs one panel over all pixels: the weights stream once and the input once per
    /// panel (it is the smaller of the two then). Either way the pieces are then cut finer until
    /// there are at least 4 tasks per thread. On AVX-512F the panels are split in pairs.
    func split(tiles: Int, images: Int, threads: Int) -> (chunks: Int, panelBlocks: Int) {
        let d = descriptor
        let weightBytes = kPanels * depth * Self.channelsPerPanel * 4
        // Panels go in pairs on AVX-512F (one 6x32 pass): the split never separates a pair.
        let units = ChannelPanels.panelUnits(panels: kPanels, pairs: kernels.convTilePair != nil)
        var chunks = 1, panelBlocks = units
        if weightBytes <= 512 * 1024 {
            panelBlocks = 1
            let rowBytes = Swift.max(cPerGroup * planeWidth * 4, 1)
            let inputRows = Swift.max(256 * 1024 / rowBytes, 1)
            let outputRows = Swift.max((inputRows - (d.kernelHeight - 1) * d.dilationHeight) / d.strideHeight, 1)
            let tilesPerChunk = Swift.max(outputRows * d.outputWidth / tileUnit, 1)
            chunks = (tiles + tilesPerChunk - 1) / tilesPerChunk
        }
        return ChannelPanels.refine(chunks: chunks, panelBlocks: panelBlocks, pieces: images * d.groups, tiles: tiles,
                                    panels: units, threads: threads)
    }

    /// Output pixels of tiles `tiles` (6 pixels each, in row-major order) for one image, group
    /// and the 16-channel panels `panels`: panel by panel (its weights stay in L1/L2 while the
    /// tiles go by; measured faster than all panels per tile, which cycles them through L1).
    @inline(__always)
    private func run(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, image n: Int, group g: Int,
                     panels: Range<Int>, tiles: Range<Int>, taps: UnsafeBufferPointer<Int32>) {
        let d = descriptor
        let OH = d.outputHeight, OW = d.outputWidth, pixels = OH * OW
        let mr = tileUnit, nr = Self.channelsPerPanel
        let plane = planeHeight * planeWidth
        let rowStep = d.strideHeight * planeWidth, colStep = d.strideWidth
        let image = x + (n * d.inputChannels + g * cPerGroup) * plane
        let out = y + (n * d.outputChannels + g * kPerGroup) * pixels
        let (lo, hi) = d.activation.bounds
        var flags = KernelFlags.store(for: d)
        // Inputs far larger than L2 (1 MiB per image): prefetch the taps in the kernel.
        if cPerGroup * plane * 4 > 1 << 20 { flags |= KernelFlags.prefetchInput }
        let first = tiles.lowerBound * mr, count = Swift.min(tiles.upperBound * mr, pixels) - first
        // Kernel rows that read only the top or bottom zero padding for all of a tile's pixels
        // are skipped (when the descriptor pads vertically).
        var rows = KernelBindings.convTapRows(kernelRows: d.kernelHeight, tapsPerRow: cPerGroup * d.kernelWidth,
                                              inputHeight: d.inputHeight, padTop: d.padding.top,
                                              stride: d.strideHeight, dilation: d.dilationHeight,
                                              skip: inPlace || d.padding.top > 0 || d.padding.bottom > 0,
                                              kernelColumns: d.kernelWidth, channels: cPerGroup,
                                              inputWidth: d.inputWidth, padLeft: d.padding.left,
                                              columnStride: d.strideWidth, columnDilation: d.dilationWidth,
                                              skipColumns: skipsColumns)
        if inPlace, let rowsKernel = kernels.convRowsInPlace {
            // Whole output rows `tiles` (the task unit is a row here), the input in place.
            var kPanel = panels.lowerBound
            while kPanel < panels.upperBound {
                // Pairs of panels where the table has the 6x32 pair kernel (AVX-512F), else one.
                let count = kernels.convTilePair != nil && kPanel + 1 < panels.upperBound ? 2 : 1
                let w = packedWeights.base + (g * kPanels + kPanel) * depth * nr
                let biasPtr: UnsafePointer<Float>? = d.hasBias ? UnsafePointer(bias.base + (g * kPanels + kPanel) * nr) : nil
                rowsKernel(depth, w, depth * nr, count, taps.baseAddress, image, rowStep, colStep, OW,
                           tiles.lowerBound, tiles.count, out + kPanel * nr * pixels, pixels,
                           Swift.min(count * nr, kPerGroup - kPanel * nr), biasPtr, flags, lo, hi, &rows)
                kPanel += count
            }
            return
        }
        var kPanel = panels.lowerBound
        while kPanel < panels.upperBound {
            defer { kPanel += 1 }
            let w = packedWeights.base + (g * kPanels + kPanel) * depth * nr
            let biasPtr: UnsafePointer<Float>? = d.hasBias ? UnsafePointer(bias.base + (g * kPanels + kPanel) * nr) : nil
            if let pairKernel = kernels.convTilePair, kPanel + 1 < panels.upperBound {
                // AVX-512: this panel and the next in one pass (6 pixels x 32 channels).
                pairKernel(depth, w, depth * nr, taps.baseAddress, image, rowStep, colStep, OW, first, count,
                           out + kPanel * nr * pixels, pixels, Swift.min(2 * nr, kPerGroup - kPanel * nr), biasPtr,
                           mr == 7 ? flags | KernelFlags.convTile7 : flags, lo, hi, &rows)
                kPanel += 1
                continue
            }
            let nk = Swift.min(nr, kPerGroup - kPanel * nr)
            if Self.runsFewChannels(d, isa: isa, panelChannels: nk) {
                // A panel of at most 12 channels (a layer's only or last one), stride 1 along
                // rows: 8 pixels of a row as the vector, one accumulator per output channel.
                fewChannelsKernel(depth, w, taps.baseAddress, image, rowStep, OW, first, count,
                                  out + kPanel * nr * pixels, pixels, nk, biasPtr, flags, lo, hi)
                continue
            }
            if let pairKernel = kernels.convTilePair {
                // AVX-512: an unpaired panel on the 6x16 zmm tile (nk <= 16: one panel read).
                pairKernel(depth, w, depth * nr, taps.baseAddress, image, rowStep, colStep, OW, first, count,
                           out + kPanel * nr * pixels, pixels, nk, biasPtr,
                           mr == 7 ? flags | KernelFlags.convTile7 : flags, lo, hi, &rows)
                continue
            }
            tileKernel(depth, w, taps.baseAddress, image, rowStep, colStep, OW, first, count,
                       out + kPanel * nr * pixels, pixels, nk, biasPtr, flags, lo, hi, &rows)
        }
    }

    /// Copies `images` images into `[images][C][planeHeight][planeWidth]` with the descriptor's zero padding.
    private func zeroPad(_ x: UnsafePointer<Float>, images: Int, into dst: UnsafeMutablePointer<Float>, threads: Int) {
        let d = descriptor
        let H = d.inputHeight, W = d.inputWidth, Hp = planeHeight, Wp = planeWidth
        // A small copy is not worth a fan-out: the thread policy counts the floats it moves.
        let copyThreads = ThreadPolicy.threads(requested: threads, elements: images * d.inputChannels * (H * W + Hp * Wp))
        ParallelFor.run(items: images * d.inputChannels, threads: copyThreads) { _, planes in
            for plane in planes {
                copyZeroPadded(x + plane * H * W, height: H, width: W, into: dst + plane * Hp * Wp, paddedHeight: Hp,
                               paddedWidth: Wp, top: d.padding.top, left: d.padding.left)
            }
        }
    }
}
