/// A 3x3 stride-1 convolution prepared for Winograd F(m x m, 3 x 3).
///
/// Tiles: the output is covered by `ceil(OH/m) x ceil(OW/m)` tiles per image; tile `t` of the
/// whole batch is `(n, ty, tx)` in row-major order. Tiles are processed in blocks of `tb`
/// (a multiple of 16), each block by one task:
/// 1. input transform of the block's tiles for all channels into `V[p][panel][c][16]`;
/// 2. for each position `p < alpha^2`: `M_p[K x tb] = U_p[K x C] * V_p[C x tb]` with the 6x16
///    micro-kernel (12x16 over two panels on AVX-512F: the same sums), `U` (the transformed
///    weights) packed at prepare time into 6-row panels;
/// 3. output transform of `M` with bias and activation, stored into the NCHW output.
/// With at least two blocks per thread, each block is one task; otherwise the blocks run one
/// after another with each phase split over the threads (channels, positions x panels,
/// output channels), so no work is duplicated.
final class WinogradConvolution: BatchSlicingConvolution, @unchecked Sendable {
    let descriptor: Conv2DDescriptor
    let tile: WinogradTile
    let matrices: WinogradMatrices
    let kernel: GEMMMicroKernel
    /// Whether the products run the 12x16 kernel (``usesRowPairs(_:isa:)``).
    let runsRowPairs: Bool

    let alpha: Int
    let positions: Int          // alpha^2
    let tilesY: Int, tilesX: Int, tilesPerImage: Int, totalTiles: Int
    let tb: Int                 // tiles per block (multiple of 16)
    let mPanels: Int
    let kc: Int                 // channel (depth) block of the GEMMs
    /// Whether the transformed weights U exceed half the L3 (16 MiB), so that every pass over
    /// them streams from DRAM; such layers use the largest blocks (see `init` and `execute`).
    let weightsBound: Bool

    /// Height and width of the zero-padded input copy (every tile's patch inside it).
    let paddedHeight: Int, paddedWidth: Int
    /// Non-zero entries of B^T and A^T, for the transforms.
    let inputTerms: SparseMatrix, outputTerms: SparseMatrix

    /// B^T (alpha x alpha) and A^T (m x alpha), row-major, for the C transform kernels.
    let inputMatrix: AlignedBuffer, outputMatrix: AlignedBuffer

    /// U packed as [p][m panel][C][6].
    private let packedWeights: AlignedBuffer
    let bias: AlignedBuffer
    private let pool = WorkspacePool()

    init(descriptor d: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>?,
         tile: WinogradTile, isa: KernelISA) throws {
        descriptor = d
        self.tile = tile
        matrices = WinogradMatrices(tile)
        kernel = GEMMMicroKernel(isa: isa)
        runsRowPairs = Self.usesRowPairs(descriptor, isa: isa)
        let m = tile.outputTile
        alpha = tile.inputTile
        positions = alpha * alpha
        tilesY = (d.outputHeight + m - 1) / m
        tilesX = (d.outputWidth + m - 1) / m
        tilesPerImage = tilesY * tilesX
        paddedHeight = tilesY * m + 2
        paddedWidth = tilesX * m + 2
        inputTerms = SparseMatrix(matrices.BT, rows: alpha, columns: alpha)
        outputTerms = SparseMatrix(matrices.AT, rows: m, columns: alpha)
        inputMatrix = AlignedBuffer(count: alpha * alpha)
        inputMatrix.base.update(from: matrices.BT, count: alpha * alpha)
        outputMatrix = AlignedBuffer(count: m * alpha)
        outputMatrix.base.update(from: matrices.AT, count: m * alpha)
        totalTiles = try checkedMul(tilesPerImage, d.batch, "Winograd tiles")
        let C = d.inputChannels, K = d.outputChannels
        weightsBound = Self.isWeightsBound(d, tile: tile)
        tb = Self.tilesPerBlock(d, tile: tile)
        mPanels = (K + GEMMMicroKernel.mr - 1) / GEMMMicroKernel.mr
        // Whole channel blocks up to 512: the GEMMs have few tile columns, so each transformed
        // weight panel should stream once, not once per depth block.
        let kBlocks = (C + 511) / 512
        kc = (C + kBlocks - 1) / kBlocks

        // Kernel transform U = G g G^T, packed per position into 6-row panels.
        let mr = GEMMMicroKernel.mr
        let panelFloats = try checkedMul(C, mr, "Winograd weights")
        let total = try checkedMul(try checkedMul(positions, mPanels, "Winograd weights"), panelFloats,
                                   "Winograd weights")
        packedWeights = AlignedBuffer(count: total)
        let G = matrices.G
        let alpha = alpha
        var u = [Float](repeating: 0, count: positions)
        var tmp = [Double](repeating: 0, count: alpha * 3)
        for k in 0..<K {
            for c in 0..<C {
                let g = weights.baseAddress! + (k * C + c) * 9
                // tmp = G g (alpha x 3), then U = tmp G^T (alpha x alpha), in Double.
                for i in 0..<alpha {
                    for j in 0..<3 {
                        var s = 0.0
                        for a in 0..<3 { s += Double(G[i * 3 + a]) * Double(g[a * 3 + j]) }
                        tmp[i * 3 + j] = s
                    }
                }
                for i in 0..<alpha {
                    for j in 0..<alpha {
                        var s = 0.0
                        for b in 0..<3 { s += tmp[i * 3 + b] * Double(G[j * 3 + b]) }
                        u[i * alpha + j] = Float(s)
                    }
                }
                for p in 0..<positions {
                    packedWeights.base[((p * mPanels + k / mr) * C + c) * mr + k % mr] = u[p]
                }
            }
        }
        self.bias = AlignedBuffer(count: K)
        if let bias, d.hasBias { self.bias.base.update(from: bias.baseAddress!, count: K) }
        try checkWorkspace(workspaceBytesChecked(), backend: "winograd")
    }

    /// Whether the transformed weights of `d` exceed half the L3 (16 MiB).
    static func isWeightsBound(_ d: Conv2DDescriptor, tile: WinogradTile) -> Bool {
        let positions = Double(tile.inputTile * tile.inputTile)
        return positions * Double(d.inputChannels) * Double(d.outputChannels) * 4 > 16 * 1024 * 1024
    }

    /// Tiles per block (a multiple of 16). Normally V and M of one block (alpha^2 * (C + K) * tb
    /// floats) stay within about half of a 1 MiB L2, where the transforms write them and the
    /// GEMMs read them: measured on VGG and ResNet layers, 16-32 tiles beat 128 by 5-15%
    /// although each transformed weight panel is then read once per block (from L3, at GEMM
    /// speed). When the transformed weights do not fit in half the L3 (VGG conv4, 37 MiB for
    /// F(4x4)), each pass over them costs DRAM bandwidth, so the blocks are as large as possible
    /// (128). The tiles are then spread evenly over the blocks.
    static func tilesPerBlock(_ d: Conv2DDescriptor, tile: WinogradTile) -> Int {
        let m = tile.outputTile, positions = tile.inputTile * tile.inputTile
        let totalTiles = ((d.outputHeight + m - 1) / m) * ((d.outputWidth + m - 1) / m) * d.batch
        let perTile = Double(positions) * Double(d.inputChannels + d.outputChannels) * 4
        let budget = isWeightsBound(d, tile: tile) ? 128 : Int(Swift.max(512 * 1024 / perTile, 16))
        let maxTB = Swift.max(Swift.min(budget / 16 * 16, 128), 16)
        let neededBlocks = Swift.max((totalTiles + maxTB - 1) / maxTB, 1)
        return ((totalTiles + neededBlocks - 1) / neededBlocks + 15) / 16 * 16
    }

    /// The label of `d` run with `tile` on `isa` (``implementation``, known before preparing).
    /// Whether the products run the 12x16 kernel (two 6-row weight panels per call; AVX-512F):
    /// for layers with at most 128 x 128 channels. Measured (1 thread, Zen 4, the two kernels'
    /// builds alternated, 3 runs): 1.02-1.18x on 48-128-channel layers (7x7 to 56x56), but
    /// 0.84-0.94x on 256- and 512-channel ones, whose transformed weights stream from L2/L3
    /// (ResNet-18's layer3 and layer4), which keep the 6x16 kernel. Same sums either way.
    static func usesRowPairs(_ d: Conv2DDescriptor, isa: KernelISA) -> Bool {
        KernelTable.of(isa).gemmRowPair != nil && d.inputChannels * d.outputChannels <= 128 * 128
    }

    static func implementation(_ d: Conv2DDescriptor, tile: WinogradTile, isa: KernelISA) -> String {
        "Winograd \(tile), tiles/block \(tilesPerBlock(d, tile: tile)), GEMM "
            + (usesRowPairs(d, isa: isa) ? "ck_f32_gemm_ukernel_12x16 (avx512f)"
                : "ck_f32_gemm_ukernel_6x16 (\(isa.hasAVX2FMA ? "avx2+fma" : "portable"))")
    }

    /// ``workspaceBytes`` of `d` with `tile` for `threads` threads: the zero-padded input copy
    /// plus, per worker, one tile block's V and M and the transforms' temporaries.
    static func workspaceBytes(_ d: Conv2DDescriptor, tile: WinogradTile, threads: Int) -> Int {
        let m = tile.outputTile, alpha = tile.inputTile, positions = alpha * alpha
        let tilesY = (d.outputHeight + m - 1) / m, tilesX = (d.outputWidth + m - 1) / m
        let padded = (d.batch * d.inputChannels * (tilesY * m + 2) * (tilesX * m + 2) + 15) / 16 * 16
        let tb = tilesPerBlock(d, tile: tile)
        let scratch = Swift.max(positions, m * (alpha + m)) * 8
        let block = positions * (tb * d.inputChannels + 16 + d.outputChannels * tb + 16) + scratch
        return (padded + 128 + block * threads + scratch * threads) * 4
    }

    var backendName: String { "winograd" }
    var implementation: String { Self.implementation(descriptor, tile: tile, isa: kernel.isa) }
    /// ``workspaceBytes`` with overflow checks.
    func workspaceBytesChecked() throws -> Int {
        let d = descriptor
        let planes = try checkedMul(d.batch, d.inputChannels, "Winograd workspace")
        let padded = try checkedMul(try checkedMul(planes, paddedHeight, "Winograd workspace"), paddedWidth,
                                    "Winograd workspace")
        let perBlock = try checkedAdd(try checkedMul(try checkedMul(positions, d.inputChannels + d.outputChannels,
                                                                    "Winograd workspace"), tb, "Winograd workspace"),
                                      positions * 32, "Winograd workspace")
        let workers = try checkedMul(perBlock + 2 * transformScratchFloats, ConvKit.defaultThreadCount,
                                     "Winograd workspace")
        let total = try checkedAdd(try checkedAdd(padded, 16 + 128, "Winograd workspace"), workers, "Winograd workspace")
        return try checkedMul(total, 4, "Winograd workspace")
    }

    /// The zero-padded input copy plus, per worker thread (one in total when the phases are
    /// split instead of the blocks), the transformed input and GEMM output of one tile block.
    var workspaceBytes: Int { Self.workspaceBytes(descriptor, tile: tile, threads: ConvKit.defaultThreadCount) }
    /// Floats from one transformed position to the next in V (`tb * C`, the position's GEMM
    /// operand) and in M (`K * tb`), plus 16: with power-of-two channel counts the plain
    /// strides are multiples of 4 KiB, so the 36 (F(4x4)) vectors a transform writes or reads
    /// for one channel would all fall in the same L1 cache set.
    func vStride(tb: Int) -> Int { tb * descriptor.inputChannels + 16 }
    func mStride(tb: Int) -> Int { descriptor.outputChannels * tb + 16 }

    /// V and M of one block, plus the transforms' temporaries (SIMD8 rows), per worker.
    private func blockFloats(tb: Int) -> Int {
        positions * (vStride(tb: tb) + mStride(tb: tb)) + transformScratchFloats
    }
    /// Floats of the transforms' temporaries: `alpha^2` SIMD8 values (input) or
    /// `m * alpha + m * m` (output), whichever is larger.
    var transformScratchFloats: Int { Swift.max(positions, tile.outputTile * (alpha + tile.outputTile)) * 8 }

    func execute(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
                 images: Int, threads: Int?) throws {
        let requested = try checkedExecutionArguments(input: input, output: output, images: images, threads: threads)
        let d = descriptor(images: images)
        let threads = ThreadPolicy.threads(requested: requested, flops: d.flops / 2)  // about a third of the direct work
        // The tiles of these images, in blocks sized for them (at most the prepared batch's).
        let totalTiles = tilesPerImage * images
        // With several threads and few blocks, use smaller blocks (at least 16 tiles) so that
        // every thread gets whole blocks. Many blocks: one task per block, each worker with its
        // own V and M. Still too few: the blocks one after another, each of the three phases
        // split over all workers. Results do not depend on the block size.
        // Transformed weights beyond half the L3 stream from DRAM once per block: with several
        // threads those layers keep their blocks and split each phase instead, so the weights
        // are read once per block in total, not once per thread's block (measured on VGG
        // conv4_2: 4 blocks of 16 tiles per run read 150 MB; one block split by phases, 38 MB).
        var tb = Swift.min(self.tb, Self.tilesPerBlock(d, tile: tile))  // the prepared workspace's at most
        if threads > 1 && (totalTiles + tb - 1) / tb < 2 * threads && !weightsBound {
            tb = Swift.max(16, ((totalTiles + 2 * threads - 1) / (2 * threads) + 15) / 16 * 16)
        }
        let blocks = (totalTiles + tb - 1) / tb
        let perBlock = threads == 1 || (blocks >= 2 * threads && !weightsBound)
        let workers = perBlock ? ParallelFor.workers(tasks: blocks, threads: threads) : 1
        // Blocks per thread must be whole for the threads to finish together: the last
        // `blocks % workers` blocks run phase-split (measured: VGG conv3_2, 13 blocks on 2
        // threads, was capped at 1.86x by its 7 + 6 blocks).
        let splitFrom = perBlock ? blocks - (workers > 1 ? blocks % workers : 0) : 0
        let floats = blockFloats(tb: tb)
        let extra = transformScratchFloats * threads
        let x = input.baseAddress!, y = output.baseAddress!
        let C = descriptor.inputChannels, K = descriptor.outputChannels
        let paddedCount = (images * C * paddedHeight * paddedWidth + 15) / 16 * 16
        // 64 floats of slack before and after the padded input: the F(4x4) gather reads whole
        // vectors past the last tile of a row and before the first one.
        // One fan-out for the whole execute: padding and the phases are phases of one team.
        WorkerTeam.region(threads: threads) {
            pool.withBuffer(count: paddedCount + 128 + floats * workers + extra) { buffer in
                let padded = buffer + 64, scratch = buffer + paddedCount + 128
                padInput(x: x, images: images, into: padded, threads: threads)
                if splitFrom > 0 {
                    ParallelFor.run(tasks: splitFrom, threads: threads) { worker, block in
                        let v = scratch + worker * floats
                        let m = v + positions * vStride(tb: tb)
                        let temp = m + positions * mStride(tb: tb)
                        let t0 = block * tb
                        let count = Swift.min(tb, totalTiles - t0)
                        transformInput(padded: padded, firstTile: t0, count: count, tb: tb, channels: 0..<C, into: v, temp: temp)
                        multiply(v: v, m: m, count: count, tb: tb, positions: 0..<positions, panels: 0..<mPanels)
                        transformOutput(m: m, firstTile: t0, count: count, tb: tb, channels: 0..<K, into: y, temp: temp)
                    }
                }
                let v = scratch, m = scratch + positions * vStride(tb: tb)
                // Phase-split blocks: one temporary area per worker after the shared V and M.
                let temps = scratch + floats, tempFloats = transformScratchFloats
                let panelChunks = Swift.max(1, Swift.min(mPanels, 4 * threads / Swift.max(positions, 1)))
                for block in splitFrom..<blocks {
                    let t0 = block * tb
                    let count = Swift.min(tb, totalTiles - t0)
                    ParallelFor.run(items: C, threads: threads) { worker, channels in
                        transformInput(padded: padded, firstTile: t0, count: count, tb: tb, channels: channels, into: v,
                                       temp: temps + worker * tempFloats)
                    }
                    ParallelFor.run(tasks: positions * panelChunks, threads: threads) { _, task in
                        let p = task / panelChunks, chunk = task % panelChunks
                        multiply(v: v, m: m, count: count, tb: tb, positions: p..<(p + 1),
                                 panels: (mPanels * chunk / panelChunks)..<(mPanels * (chunk + 1) / panelChunks))
                    }
                    ParallelFor.run(items: K, threads: threads) { worker, channels in
                        transformOutput(m: m, firstTile: t0, count: count, tb: tb, channels: channels, into: y,
                                        temp: temps + worker * tempFloats)
                    }
                }
            }
        }
    }

    /// `M_p = U_p * V_p` for positions `positions`, output-channel panels `panels`, `count` tiles.
    private func multiply(v: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>, count: Int, tb: Int,
                          positions: Range<Int>, panels: Range<Int>) {
        let mr = GEMMMicroKernel.mr, nr = GEMMMicroKernel.nr
        let C = descriptor.inputChannels, K = descriptor.outputChannels
        let tilePanels = (count + nr - 1) / nr
        for p in positions {
            let vp = v + p * vStride(tb: tb)
            let mp = m + p * mStride(tb: tb)
            var c0 = 0
            while c0 < C {
                let kcb = Swift.min(kc, C - c0)
                let flags: GEMMMicroKernel.Flags = c0 == 0 ? [] : .accumulate
                var panel = panels.lowerBound
                while panel < panels.upperBound {
                    let row = panel * mr
                    let a = packedWeights.base + ((p * mPanels + panel) * C + c0) * mr
                    if runsRowPairs && panel + 1 < panels.upperBound {
                        // AVX-512: this panel and the next (12 output channels) per call.
                        let rows = Swift.min(2 * mr, K - row)
                        for j in 0..<tilePanels {
                            let cols = Swift.min(nr, count - j * nr)
                            kernel.rowPair(kc: kcb, a: a, aPanelStride: C * mr, b: vp + (j * C + c0) * nr,
                                           c: mp + row * tb + j * nr, ldc: tb, mr: rows, nr: cols, flags: flags,
                                           bias: nil, lo: 0, hi: 0)
                        }
                        panel += 2
                        continue
                    }
                    let rows = Swift.min(mr, K - row)
                    for j in 0..<tilePanels {
                        let cols = Swift.min(nr, count - j * nr)
                        kernel(kc: kcb, a: a, b: vp + (j * C + c0) * nr, c: mp + row * tb + j * nr, ldc: tb,
                               mr: rows, nr: cols, flags: flags, bias: nil, lo: 0, hi: 0)
                    }
                    panel += 1
                }
                c0 += kcb
            }
        }
    }
}

/// The non-zero entries of a small dense matrix, grouped by row and by column, in flat
/// storage that the transforms read through pointers (no array traffic in the hot loops).
final class SparseMatrix: @unchecked Sendable {
    struct Term { let row: Int; let col: Int; let coef: Float }
    /// Terms of row `i`: `rowTerms[rowStart[i] ..< rowStart[i + 1]]`.
    let rowTerms: UnsafeMutablePointer<Term>
    let rowStart: UnsafeMutablePointer<Int>
    /// Terms of column `j`: `columnTerms[columnStart[j] ..< columnStart[j + 1]]`.
    let columnTerms: UnsafeMutablePointer<Term>
    let columnStart: UnsafeMutablePointer<Int>
    let count: Int

    init(_ dense: [Float], rows: Int, columns: Int) {
        var byRow: [Term] = [], byColumn: [Term] = []
        var rowStart = [0], columnStart = [0]
        for i in 0..<rows {
            for j in 0..<columns where dense[i * columns + j] != 0 {
                byRow.append(Term(row: i, col: j, coef: dense[i * columns + j]))
            }
            rowStart.append(byRow.count)
        }
        for j in 0..<columns {
            for i in 0..<rows where dense[i * columns + j] != 0 {
                byColumn.append(Term(row: i, col: j, coef: dense[i * columns + j]))
            }
            columnStart.append(byColumn.count)
        }
        count = byRow.count
        self.rowTerms = .allocate(capacity: Swift.max(count, 1))
        self.rowTerms.initialize(from: byRow, count: count)
        self.columnTerms = .allocate(capacity: Swift.max(count, 1))
        self.columnTerms.initialize(from: byColumn, count: count)
        self.rowStart = .allocate(capacity: rows + 1)
        self.rowStart.initialize(from: rowStart, count: rows + 1)
        self.columnStart = .allocate(capacity: columns + 1)
        self.columnStart.initialize(from: columnStart, count: columns + 1)
    }

    deinit {
        rowTerms.deallocate(); columnTerms.deallocate(); rowStart.deallocate(); columnStart.deallocate()
    }

    /// `out[i * stride + offset] += M[i][column] * value` for every non-zero `M[i][column]`:
    /// one input vector scattered into the rows it feeds (the first half of `M x`).
    @inline(__always)
    func accumulate(column: Int, _ value: SIMD8<Float>, into out: UnsafeMutablePointer<SIMD8<Float>>,
                    stride: Int, offset: Int) {
        for e in columnStart[column]..<columnStart[column + 1] {
            let term = columnTerms[e]
            let i = term.row * stride + offset
            out[i] = SIMD8(repeating: term.coef) * value + out[i]
        }
    }

    /// `sum_l M[row][l] * x[base + l]` over the non-zero entries of one row (`x M^T`).
    @inline(__always)
    func dot(row: Int, _ x: UnsafePointer<SIMD8<Float>>, base: Int) -> SIMD8<Float> {
        var s = SIMD8<Float>()
        for e in rowStart[row]..<rowStart[row + 1] {
            let term = rowTerms[e]
            s = SIMD8(repeating: term.coef) * x[base + term.col] + s
        }
        return s
    }
}
