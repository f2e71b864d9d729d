/// A convolution prepared as an implicit GEMM per group (the `direct` backend's main path).
///
/// For image `n` and group `g`: `Y[M x P] = A[M x D] * B[D x P]` with `M = K/g` output
/// channels, `D = (C/g) * R * S` taps and `P = OH * OW` pixels. `A` is the weights, packed
/// once into 6-row micro-panels; `B` is im2col of the input, packed on the fly, one block of
/// `kc x nc` at a time, into 16-pixel micro-panels in per-worker scratch. The output is
/// NCHW, which is exactly row-major `Y`, so the micro-kernel stores straight into it.
final class DirectGEMMConvolution: BatchSlicingConvolution, @unchecked Sendable {
    let descriptor: Conv2DDescriptor
    let kernel: GEMMMicroKernel

    // GEMM sizes.
    let m: Int          // output channels per group
    let depth: Int      // (C/g) * R * S
    let pixels: Int     // OH * OW
    let mPanels: Int    // ceil(m / 6)
    let kc: Int         // depth block
    let nc: Int         // pixel block (multiple of 16)
    let nBlocks: Int

    /// Weights packed as [group][m panel][depth][6], zero rows in the last panel.
    private let packedWeights: AlignedBuffer
    /// Bias (K values, zeros when the descriptor has none).
    private let bias: AlignedBuffer
    /// For each depth index d: (input channel within the group, r * dilationH, s * dilationW).
    private let taps: [(c: Int, dy: Int, dx: Int)]
    private let pool = WorkspacePool()

    init(descriptor d: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>?,
         isa: KernelISA) throws {
        descriptor = d
        kernel = GEMMMicroKernel(isa: isa)
        let mr = GEMMMicroKernel.mr
        m = d.outputChannelsPerGroup
        depth = d.inputChannelsPerGroup * d.kernelHeight * d.kernelWidth
        pixels = d.outputHeight * d.outputWidth
        mPanels = (m + mr - 1) / mr
        (kc, nc) = Self.blocking(d)
        nBlocks = (pixels + nc - 1) / nc

        let panelStride = depth * mr
        let total = try checkedMul(try checkedMul(d.groups, mPanels, "packed weights"), panelStride, "packed weights")
        packedWeights = AlignedBuffer(count: total)
        let pw = packedWeights.base
        for g in 0..<d.groups {
            for k in 0..<m {
                let panel = pw + (g * mPanels + k / mr) * panelStride
                let src = weights.baseAddress! + (g * m + k) * depth
                for t in 0..<depth { panel[t * mr + k % mr] = src[t] }
            }
        }
        self.bias = AlignedBuffer(count: d.outputChannels)
        if let bias, d.hasBias { self.bias.base.update(from: bias.baseAddress!, count: d.outputChannels) }
        var taps: [(Int, Int, Int)] = []
        taps.reserveCapacity(depth)
        for c in 0..<d.inputChannelsPerGroup {
            for r in 0..<d.kernelHeight {
                for s in 0..<d.kernelWidth { taps.append((c, r * d.dilationHeight, s * d.dilationWidth)) }
            }
        }
        self.taps = taps
    }

    var backendName: String { "direct" }
    var implementation: String { Self.implementation(descriptor, isa: kernel.isa) }
    /// One packed B block per worker thread (for the default thread count), plus the
    /// deinterleaved input copy when the horizontal stride is above 1.
    var workspaceBytes: Int { Self.workspaceBytes(descriptor, threads: ConvKit.defaultThreadCount) }

    /// The depth block `kc` and pixel block `nc` of `d`: depth blocks of at most 256 taps,
    /// split evenly (A and B micro-panels stay in L1); pixel blocks keeping the packed B block
    /// (kc x nc floats) around 128 KiB (in L2), balanced, each rounded up to 16.
    static func blocking(_ d: Conv2DDescriptor) -> (kc: Int, nc: Int) {
        let nr = GEMMMicroKernel.nr
        let depth = d.inputChannelsPerGroup * d.kernelHeight * d.kernelWidth
        let pixels = d.outputHeight * d.outputWidth
        let maxKC = 256
        let kBlocks = (depth + maxKC - 1) / maxKC
        let kc = (depth + kBlocks - 1) / kBlocks
        let budget = Swift.max((128 * 1024 / 4) / kc / nr * nr, nr)
        let blocks = (pixels + budget - 1) / budget
        return (kc, ((pixels + blocks - 1) / blocks + nr - 1) / nr * nr)
    }

    /// The kernel that runs `d` on `isa` (``implementation``, known before preparing).
    static func implementation(_ d: Conv2DDescriptor, isa: KernelISA) -> String {
        let (kc, nc) = blocking(d)
        let table = KernelTable.of(isa)
        return "implicit GEMM, ck_f32_gemm_ukernel_6x16 (\(table.gemm != nil ? "avx2+fma" : "portable"))"
            + (table.gemmPair != nil ? " + 6x32 (avx512f)" : "") + ", kc \(kc), nc \(nc)"
    }

    /// One packed B block per worker (`threads` of them), plus the deinterleaved input copy
    /// when the horizontal stride is above 1.
    static func workspaceBytes(_ d: Conv2DDescriptor, threads: Int) -> Int {
        let (kc, nc) = blocking(d)
        return (phasedFloats(d) + kc * nc * threads) * 4
    }

    func execute(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
                 images: Int, threads: Int?) throws {
        let requested = try checkedExecutionArguments(input: input, output: output, images: images, threads: threads)
        let d = descriptor(images: images)
        let threads = ThreadPolicy.threads(requested: requested, flops: d.flops)
        // Split each image's pixels into more, smaller blocks (at least 16 pixels) when there are
        // too few for the threads; then, if still short, split the output channels too. The
        // results do not depend on the split: every output column is computed the same way.
        let groupImages = d.batch * d.groups
        var blocksPerImage = nBlocks
        if threads > 1 && groupImages * blocksPerImage < 4 * threads {
            blocksPerImage = Swift.min((4 * threads + groupImages - 1) / groupImages, (pixels + 15) / 16)
        }
        let blockPixels = ((pixels + blocksPerImage - 1) / blocksPerImage + 15) / 16 * 16
        blocksPerImage = (pixels + blockPixels - 1) / blockPixels
        let base = groupImages * blocksPerImage
        let mSplit = threads == 1 || base >= 2 * threads ? 1 : Swift.min(mPanels, (2 * threads + base - 1) / base)
        let tasks = base * mSplit
        let workers = ParallelFor.workers(tasks: tasks, threads: threads)
        let blockFloats = kc * nc
        let y = output.baseAddress!
        let phasedCount = Self.phasedFloats(d)
        pool.withBuffer(count: phasedCount + blockFloats * workers) { buffer in
            let scratch = buffer + phasedCount
            // With a horizontal stride s > 1, deinterleave every input row into s phases once, so
            // that packing copies contiguous runs (see `phasedWidth`).
            let x: UnsafePointer<Float>
            if d.strideWidth > 1 {
                deinterleave(input.baseAddress!, images: images, into: buffer, threads: threads)
                x = UnsafePointer(buffer)
            } else {
                x = input.baseAddress!
            }
            taps.withUnsafeBufferPointer { taps in
                ParallelFor.run(tasks: tasks, threads: threads) { worker, task in
                    let packed = scratch + worker * blockFloats
                    do {
                        var rest = task
                        let split = rest % mSplit; rest /= mSplit
                        let block = rest % blocksPerImage; rest /= blocksPerImage
                        let g = rest % d.groups
                        let n = rest / d.groups
                        let p0 = block * blockPixels
                        let count = Swift.min(blockPixels, pixels - p0)
                        let panelLo = mPanels * split / mSplit, panelHi = mPanels * (split + 1) / mSplit
                        if panelLo == panelHi { return }
                        let image = x + (n * d.inputChannels + g * d.inputChannelsPerGroup) * d.inputHeight * rowStride
                        let out = y + (n * d.outputChannels + g * m) * pixels
                        run(image: image, out: out, group: g, p0: p0, count: count, panels: panelLo..<panelHi,
                            packed: packed, taps: taps)
                    }
                }
            }
        }
    }

    /// Floats per (phased) input row: `W` for stride 1, `s * ceil(W / s)` for stride `s > 1`,
    /// where phase `q` of a row holds input columns `q, q + s, q + 2s, ...` at `q * phasedWidth`.
    var rowStride: Int { descriptor.strideWidth == 1 ? descriptor.inputWidth : phases * phasedWidth }
    /// Phases stored per row: `min(strideWidth, W)` (phases `q >= W` hold no input column).
    var phases: Int { Self.phases(descriptor) }
    static func phases(_ d: Conv2DDescriptor) -> Int { Swift.min(d.strideWidth, d.inputWidth) }
    /// `ceil(W / s)`: the length of one phase of a deinterleaved row.
    var phasedWidth: Int { Self.phasedWidth(descriptor) }
    static func phasedWidth(_ d: Conv2DDescriptor) -> Int { (d.inputWidth + d.strideWidth - 1) / d.strideWidth }
    /// Size of the deinterleaved input copy (0 for stride 1), rounded to keep alignment.
    var phasedFloats: Int { Self.phasedFloats(descriptor) }
    static func phasedFloats(_ d: Conv2DDescriptor) -> Int {
        guard d.strideWidth != 1 else { return 0 }
        return (d.batch * d.inputChannels * d.inputHeight * phases(d) * phasedWidth(d) + 15) / 16 * 16
    }

    /// Deinterleaves every input row into `strideWidth` phases (see ``rowStride``).
    private func deinterleave(_ x: UnsafePointer<Float>, images: Int, into phased: UnsafeMutablePointer<Float>,
                              threads: Int) {
        let d = descriptor
        let W = d.inputWidth, s = d.strideWidth, wq = phasedWidth, stride = rowStride, phases = phases
        let rows = images * d.inputChannels * d.inputHeight
        ParallelFor.run(items: rows, threads: threads) { _, range in
            for row in range {
                let src = x + row * W, dst = phased + row * stride
                for q in 0..<phases {
                    let out = dst + q * wq
                    var j = 0, iw = q
                    while iw < W { out[j] = src[iw]; j += 1; iw += s }
                    while j < wq { out[j] = 0; j += 1 }
                }
            }
        }
    }

    /// Computes output pixels `p0 ..< p0 + count` of channel panels `panels` of one image and group.
    @inline(__always)
    private func run(image: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, group g: Int, p0: Int,
                     count: Int, panels: Range<Int>, packed: UnsafeMutablePointer<Float>,
                     taps: UnsafeBufferPointer<(c: Int, dy: Int, dx: Int)>) {
        let mr = GEMMMicroKernel.mr, nr = GEMMMicroKernel.nr
        let (lo, hi) = descriptor.activation.bounds
        let clamp = descriptor.activation != .none
        let nPanels = (count + nr - 1) / nr
        var k0 = 0
        while k0 < depth {
            let kcb = Swift.min(kc, depth - k0)
            packInput(image: image, taps: taps, k0: k0, kc: kcb, p0: p0, count: count, into: packed)
            var flags: GEMMMicroKernel.Flags = k0 == 0 ? [] : .accumulate
            if clamp && k0 + kcb == depth { flags.insert(.clamp) }
            for panel in panels {
                let row = panel * mr
                let rows = Swift.min(mr, m - row)
                let a = packedWeights.base + ((g * mPanels + panel) * depth + k0) * mr
                let biasPtr = k0 == 0 ? UnsafePointer(bias.base + g * m + row) : nil
                var j = 0
                if kernel.hasPairKernel {
                    // Two pixel panels per call (6 x 32 on AVX-512F).
                    while j + 1 < nPanels {
                        kernel.pair(kc: kcb, a: a, b: packed + j * kcb * nr, bPanelStride: kcb * nr,
                                    c: out + row * pixels + p0 + j * nr, ldc: pixels, mr: rows,
                                    nr: Swift.min(2 * nr, count - j * nr), flags: flags, bias: biasPtr, lo: lo, hi: hi)
                        j += 2
                    }
                }
                while j < nPanels {
                    let cols = Swift.min(nr, count - j * nr)
                    kernel(kc: kcb, a: a, b: packed + j * kcb * nr, c: out + row * pixels + p0 + j * nr,
                           ldc: pixels, mr: rows, nr: cols, flags: flags, bias: biasPtr, lo: lo, hi: hi)
                    j += 1
                }
            }
            k0 += kcb
        }
    }

    /// Packs rows `k0 ..< k0 + kc` of im2col, pixels `p0 ..< p0 + count`, as 16-pixel panels:
    /// element (t, p) goes to `dst[(p / 16) * kc * 16 + t * 16 + p % 16]`. Pixels past `count`
    /// in the last panel are zero.
    ///
    /// Each output-row segment of a tap row is three runs: zeros left of the input, a contiguous
    /// copy (from the deinterleaved rows when the stride is above 1) and zeros right of it; no
    /// per-element bounds checks.
    @inline(__always)
    private func packInput(image: UnsafePointer<Float>, taps: UnsafeBufferPointer<(c: Int, dy: Int, dx: Int)>,
                           k0: Int, kc: Int, p0: Int, count: Int, into dst: UnsafeMutablePointer<Float>) {
        let d = descriptor
        let H = d.inputHeight, W = d.inputWidth, OW = d.outputWidth
        let sh = d.strideHeight, sw = d.strideWidth
        let stride = rowStride, wq = phasedWidth
        let end = p0 + count
        for t in 0..<kc {
            let tap = taps[k0 + t]
            let plane = image + tap.c * H * stride
            let colOffset = tap.dx - d.padding.left
            // Input column ow * sw + colOffset = (ow + j0) * sw + q: phase q, index ow + j0 in it.
            let q = ((colOffset % sw) + sw) % sw
            let j0 = (colOffset - q) / sw
            // Phase q holds columns q, q + sw, ...: none when q >= W (such phases are not stored).
            let phaseLength = sw == 1 ? W : (q >= W ? 0 : (W - q + sw - 1) / sw)
            // Output columns whose input column lies in [0, W): 0 <= ow + j0 < phaseLength.
            let validLo = Swift.max(-j0, 0)
            let validHi = Swift.max(phaseLength - j0, 0)
            let phaseStart = sw == 1 || q >= W ? 0 : q * wq
            var cursor = PanelCursor(panel: dst + t * GEMMMicroKernel.nr, panelStride: kc * GEMMMicroKernel.nr)
            var p = p0
            var oh = p0 / OW, ow = p0 % OW
            while p < end {
                let segmentEnd = Swift.min(OW, ow + end - p)
                let ih = oh * sh - d.padding.top + tap.dy
                if ih < 0 || ih >= H {
                    cursor.zeros(segmentEnd - ow)
                } else {
                    let lo = Swift.min(Swift.max(validLo, ow), segmentEnd)
                    let hi = Swift.max(Swift.min(validHi, segmentEnd), lo)
                    cursor.zeros(lo - ow)
                    cursor.copy(plane + ih * stride + phaseStart + lo + j0, hi - lo)
                    cursor.zeros(segmentEnd - hi)
                }
                p += segmentEnd - ow
                ow = 0
                oh += 1
            }
            cursor.finishPanel()
        }
    }
}

/// Writes a sequence of values into 16-lane panels (`panelStride` floats apart).
struct PanelCursor {
    var panel: UnsafeMutablePointer<Float>
    let panelStride: Int
    var lane = 0

    init(panel: UnsafeMutablePointer<Float>, panelStride: Int) {
        self.panel = panel
        self.panelStride = panelStride
    }

    @inline(__always)
    private mutating func advance(_ n: Int) {
        lane += n
        if lane == GEMMMicroKernel.nr { lane = 0; panel += panelStride }
    }

    @inline(__always)
    mutating func zeros(_ count: Int) {
        var left = count
        while left > 0 {
            let n = Swift.min(left, GEMMMicroKernel.nr - lane)
            (panel + lane).update(repeating: 0, count: n)
            advance(n)
            left -= n
        }
    }

    @inline(__always)
    mutating func copy(_ source: UnsafePointer<Float>, _ count: Int) {
        typealias V = SIMD8<Float>
        var src = source, left = count
        while left > 0 {
            let n = Swift.min(left, GEMMMicroKernel.nr - lane)
            let out = panel + lane
            var i = 0
            while i + 8 <= n {
                UnsafeMutableRawPointer(out + i).storeBytes(of: UnsafeRawPointer(src + i).loadUnaligned(as: V.self), as: V.self)
                i += 8
            }
            while i < n { out[i] = src[i]; i += 1 }
            src += n
            advance(n)
            left -= n
        }
    }

    /// Zeroes the rest of a partly filled panel.
    @inline(__always)
    mutating func finishPanel() {
        if lane != 0 { zeros(GEMMMicroKernel.nr - lane) }
    }
}
