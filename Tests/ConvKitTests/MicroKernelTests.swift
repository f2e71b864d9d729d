import Testing
@testable import ConvKit

/// The micro-kernels alone, table-driven against scalar float64 references, for every
/// ``KernelTable`` this CPU can run: partial tiles, k = 1, overwrite and accumulate, bias or
/// none, clamp with NaN, unaligned pointers, and cells outside the tile left untouched.
@Suite("micro-kernels alone, every kernel table of this CPU")
struct MicroKernelTests {
    static let isas = [KernelISA.portable, .avx2fma, .avx512f].filter(KernelISA.isSupported)

    /// Uniform values in [-1, 1), deterministic.
    static func values(_ n: Int, seed: UInt64) -> [Float] {
        var rng = TestRandom(seed: seed)
        return rng.uniform(n)
    }

    static func clamp(_ v: Double, _ lo: Float, _ hi: Float) -> Double {
        v.isNaN ? v : Swift.min(Swift.max(v, Double(lo)), Double(hi))
    }

    /// `got` equals `want` within a float32 accumulation bound (relative to the sum of
    /// magnitudes), NaN where `want` is NaN.
    static func close(_ got: Float, _ want: Double, scale: Double) -> Bool {
        if want.isNaN { return got.isNaN }
        return abs(Double(got) - want) <= 1e-5 * Swift.max(scale, 1)
    }

    @Test("6x16 GEMM: partial tiles, k = 1, bias, accumulate, clamp with NaN, unaligned pointers", arguments: isas)
    func gemm(_ isa: KernelISA) throws {
        let kernel = GEMMMicroKernel(isa: isa)
        let MR = GEMMMicroKernel.mr, NR = GEMMMicroKernel.nr, ldc = 21
        var seed: UInt64 = 1
        var checked = 0
        for kc in [1, 2, 7, 64] {
            for (mr, nr) in [(6, 16), (1, 1), (5, 16), (6, 9), (3, 8), (2, 15), (4, 7)] {
                for flags in [GEMMMicroKernel.Flags(), .accumulate, .clamp, [.accumulate, .clamp]] {
                    for (withBias, shift) in [(false, 0), (true, 1)] {
                        seed += 1
                        // One float of offset makes every pointer unaligned.
                        var a = Self.values(kc * MR + shift, seed: seed)
                        let b = Self.values(kc * NR + shift, seed: seed + 100)
                        let bias = Self.values(MR, seed: seed + 200)
                        let c0 = Self.values(MR * ldc + shift, seed: seed + 300)
                        if flags.contains(.clamp) { a[shift] = .nan }  // row 0 becomes NaN
                        var c = c0
                        a.withUnsafeBufferPointer { ap in
                            b.withUnsafeBufferPointer { bp in
                                bias.withUnsafeBufferPointer { biasp in
                                    c.withUnsafeMutableBufferPointer { cp in
                                        kernel(kc: kc, a: ap.baseAddress! + shift, b: bp.baseAddress! + shift,
                                               c: cp.baseAddress! + shift, ldc: ldc, mr: mr, nr: nr, flags: flags,
                                               bias: withBias ? biasp.baseAddress! : nil, lo: -0.5, hi: 0.5)
                                    }
                                }
                            }
                        }
                        for i in 0..<MR {
                            for j in 0..<ldc {
                                let at = shift + i * ldc + j
                                guard i < mr && j < nr else {
                                    #expect(c[at].bitPattern == c0[at].bitPattern, "\(isa) kc \(kc) \(mr)x\(nr): (\(i), \(j)) written")
                                    continue
                                }
                                var sum = 0.0, scale = 0.0
                                for k in 0..<kc {
                                    let p = Double(a[shift + k * MR + i]) * Double(b[shift + k * NR + j])
                                    sum += p
                                    scale += abs(p)
                                }
                                let start = flags.contains(.accumulate) ? Double(c0[at]) : withBias ? Double(bias[i]) : 0
                                var want = start + sum
                                if flags.contains(.clamp) { want = Self.clamp(want, -0.5, 0.5) }
                                #expect(Self.close(c[at], want, scale: scale + abs(start)),
                                        "\(isa) kc \(kc) \(mr)x\(nr) \(flags.rawValue) (\(i), \(j)): \(c[at]) vs \(want)")
                                checked += 1
                            }
                        }
                    }
                }
            }
        }
        #expect(checked > 10_000)
    }

    @Test("6x32 GEMM pair: the same bits as two 6x16 calls, every column count", arguments: isas)
    func gemmPair(_ isa: KernelISA) throws {
        let kernel = GEMMMicroKernel(isa: isa)
        let MR = GEMMMicroKernel.mr, NR = GEMMMicroKernel.nr, ldc = 40
        for kc in [1, 5, 33] {
            let a = Self.values(kc * MR, seed: UInt64(kc))
            let stride = kc * NR + 3   // the second B panel, not adjacent
            let b = Self.values(stride + kc * NR, seed: UInt64(kc) + 7)
            let bias = Self.values(MR, seed: 9)
            for nr in 1...32 {
                for flags in [GEMMMicroKernel.Flags(), .clamp] {
                    var paired = [Float](repeating: 7, count: MR * ldc), single = paired
                    a.withUnsafeBufferPointer { ap in
                        b.withUnsafeBufferPointer { bp in
                            bias.withUnsafeBufferPointer { biasp in
                                paired.withUnsafeMutableBufferPointer { cp in
                                    kernel.pair(kc: kc, a: ap.baseAddress!, b: bp.baseAddress!, bPanelStride: stride,
                                                c: cp.baseAddress!, ldc: ldc, mr: MR, nr: nr, flags: flags,
                                                bias: biasp.baseAddress!, lo: -0.3, hi: 0.3)
                                }
                                single.withUnsafeMutableBufferPointer { cp in
                                    kernel(kc: kc, a: ap.baseAddress!, b: bp.baseAddress!, c: cp.baseAddress!, ldc: ldc,
                                           mr: MR, nr: Swift.min(nr, NR), flags: flags, bias: biasp.baseAddress!,
                                           lo: -0.3, hi: 0.3)
                                    if nr > NR {
                                        kernel(kc: kc, a: ap.baseAddress!, b: bp.baseAddress! + stride,
                                               c: cp.baseAddress! + NR, ldc: ldc, mr: MR, nr: nr - NR, flags: flags,
                                               bias: biasp.baseAddress!, lo: -0.3, hi: 0.3)
                                    }
                                }
                            }
                        }
                    }
                    #expect(paired.map(\.bitPattern) == single.map(\.bitPattern), "\(isa) kc \(kc) nr \(nr)")
                }
            }
        }
    }

    @Test("12x16 GEMM row pair: the same bits as two 6x16 calls, every row and column count, overwrite, bias, accumulate, clamp", arguments: isas)
    func gemmRowPair(_ isa: KernelISA) throws {
        let kernel = GEMMMicroKernel(isa: isa)
        let MR = GEMMMicroKernel.mr, ldc = 21
        for kc in [1, 4, 37] {
            let stride = kc * MR + 5   // the second A panel, not adjacent
            let a = Self.values(stride + kc * MR, seed: UInt64(kc) + 50)
            let b = Self.values(kc * GEMMMicroKernel.nr, seed: UInt64(kc) + 60)
            let bias = Self.values(2 * MR, seed: 70)
            let prior = Self.values(2 * MR * ldc, seed: 71)
            for mr in 1...(2 * MR) {
                for nr in [1, 7, 15, 16] {
                    for flags in [GEMMMicroKernel.Flags(), .clamp, .accumulate, [.accumulate, .clamp]] {
                        var paired = prior, single = prior
                        a.withUnsafeBufferPointer { ap in
                            b.withUnsafeBufferPointer { bp in
                                bias.withUnsafeBufferPointer { biasp in
                                    paired.withUnsafeMutableBufferPointer { cp in
                                        kernel.rowPair(kc: kc, a: ap.baseAddress!, aPanelStride: stride,
                                                       b: bp.baseAddress!, c: cp.baseAddress!, ldc: ldc, mr: mr, nr: nr,
                                                       flags: flags, bias: biasp.baseAddress!, lo: -0.3, hi: 0.3)
                                    }
                                    single.withUnsafeMutableBufferPointer { cp in
                                        kernel(kc: kc, a: ap.baseAddress!, b: bp.baseAddress!, c: cp.baseAddress!,
                                               ldc: ldc, mr: Swift.min(mr, MR), nr: nr, flags: flags,
                                               bias: biasp.baseAddress!, lo: -0.3, hi: 0.3)
                                        if mr > MR {
                                            kernel(kc: kc, a: ap.baseAddress! + stride, b: bp.baseAddress!,
                                                   c: cp.baseAddress! + MR * ldc, ldc: ldc, mr: mr - MR, nr: nr,
                                                   flags: flags, bias: biasp.baseAddress! + MR, lo: -0.3, hi: 0.3)
                                        }
                                    }
                                }
                            }
                        }
                        #expect(paired.map(\.bitPattern) == single.map(\.bitPattern),
                                "\(isa) kc \(kc) mr \(mr) nr \(nr) flags \(flags.rawValue)")
                    }
                }
            }
        }
    }

    @Test("pointwise tile: 1-6 channels, pixel counts around the step, bias, accumulate, clamp with NaN, unaligned",
          arguments: isas)
    func pointwiseTile(_ isa: KernelISA) throws {
        guard let tile = KernelTable.of(isa).pointwiseTile else { return }  // portable: no C kernel
        let step = KernelTable.of(isa).pointwisePixelsPerStep
        var seed: UInt64 = 500
        for channels in [1, 3, 64] {
            for pixels in [1, 7, step - 1, step, step + 1, 2 * step + 5] {
                for mr in [1, 4, 6] {
                    for flags in [UInt32(0), KernelFlags.convAccumulate, KernelFlags.clamp] {
                        seed += 1
                        let shift = Int(seed % 2), xStride = pixels + 3, yStride = pixels + 2
                        let w = Self.values(channels * 6, seed: seed)
                        var x = Self.values(channels * xStride + shift, seed: seed + 1)
                        if flags == KernelFlags.clamp { x[shift] = .nan }  // pixel 0 of every channel
                        let bias = Self.values(6, seed: seed + 2)
                        let y0 = Self.values(6 * yStride + shift, seed: seed + 3)
                        var y = y0
                        w.withUnsafeBufferPointer { wp in
                            x.withUnsafeBufferPointer { xp in
                                bias.withUnsafeBufferPointer { bp in
                                    y.withUnsafeMutableBufferPointer { yp in
                                        tile(channels, wp.baseAddress, xp.baseAddress! + shift, xStride, pixels,
                                             yp.baseAddress! + shift, yStride, mr, bp.baseAddress, flags, -0.4, 0.4)
                                    }
                                }
                            }
                        }
                        for i in 0..<6 {
                            for p in 0..<yStride {
                                let at = shift + i * yStride + p
                                guard i < mr && p < pixels else {
                                    #expect(y[at].bitPattern == y0[at].bitPattern, "\(isa) (\(i), \(p)) written")
                                    continue
                                }
                                var sum = Double(bias[i]), scale = abs(Double(bias[i]))
                                for c in 0..<channels {
                                    let v = Double(w[c * 6 + i]) * Double(x[shift + c * xStride + p])
                                    sum += v
                                    scale += abs(v)
                                }
                                if flags == KernelFlags.convAccumulate { sum += Double(y0[at]) }
                                if flags == KernelFlags.clamp { sum = Self.clamp(sum, -0.4, 0.4) }
                                #expect(Self.close(y[at], sum, scale: scale + 1),
                                        "\(isa) C \(channels) P \(pixels) mr \(mr) flags \(flags) (\(i), \(p))")
                            }
                        }
                    }
                }
            }
        }
    }

    @Test("im2col rows: strides 1-3, dilation, asymmetric padding, blocks starting and ending mid-row, rows wider than the fast loop, nothing written outside the rows", arguments: isas)
    func im2colRows(_ isa: KernelISA) throws {
        guard let lower = KernelTable.of(isa).im2colRows else { return }  // AVX-512F only
        var seed: UInt64 = 700
        // (C, H, W, R, S, stride, dilation, top, left, bottom, right)
        for (c, h, w, r, s, stride, dil, top, left, bottom, right) in [
            (3, 9, 11, 3, 3, 1, 1, 1, 1, 1, 1), (2, 8, 40, 3, 3, 2, 1, 1, 1, 1, 1), (1, 5, 5, 5, 5, 1, 1, 2, 2, 2, 2),
            (2, 7, 9, 3, 3, 1, 2, 0, 2, 2, 0), (1, 6, 13, 3, 2, 3, 1, 1, 0, 1, 1), (1, 3, 1100, 3, 3, 1, 1, 1, 1, 1, 1),
            (1, 3, 2100, 3, 3, 2, 1, 0, 1, 0, 1), (4, 4, 17, 1, 1, 1, 1, 0, 0, 0, 0), (1, 2, 3, 3, 3, 1, 1, 3, 3, 3, 3)] {
            let oh = (h + top + bottom - dil * (r - 1) - 1) / stride + 1
            let ow = (w + left + right - dil * (s - 1) - 1) / stride + 1
            let x = Self.values(c * h * w, seed: seed)
            seed += 1
            let pixels = oh * ow
            // Whole plane, a block starting and ending mid-row, a single pixel.
            for (first, count) in [(0, pixels), (ow / 2, Swift.min(pixels - ow / 2, ow + 3)), (pixels - 1, 1)] {
                let rows = c * r * s, stride0 = count + 5  // a row stride past the block: 5 guard floats
                var dst = [Float](repeating: 7, count: rows * stride0)
                x.withUnsafeBufferPointer { xb in
                    dst.withUnsafeMutableBufferPointer {
                        lower(xb.baseAddress, c, h, w, r, s, stride, stride, dil, dil, top, left, ow, first, count,
                              $0.baseAddress, stride0)
                    }
                }
                var wrong = 0
                for ci in 0..<c {
                    for ri in 0..<r {
                        for si in 0..<s {
                            let row = (ci * r + ri) * s + si
                            for j in 0..<stride0 {
                                let got = dst[row * stride0 + j]
                                var want: Float = 7  // guard floats stay untouched
                                if j < count {
                                    let p = first + j, oy = p / ow, ox = p % ow
                                    let iy = oy * stride + ri * dil - top, ix = ox * stride + si * dil - left
                                    want = iy >= 0 && iy < h && ix >= 0 && ix < w ? x[(ci * h + iy) * w + ix] : 0
                                }
                                if got.bitPattern != want.bitPattern { wrong += 1 }
                            }
                        }
                    }
                }
                #expect(wrong == 0, "C\(c) \(h)x\(w) \(r)x\(s) stride \(stride) dilation \(dil) block \(first)+\(count)")
            }
        }
    }

    @Test("depthwise channel-block kernels (16 channels on AVX-512F, 8 on AVX2): 1 to 16 channels, every tile width 1-16 and rows of 17-40, strides 1 and 2, dilation 1-3, non-square and asymmetric padding, clamp with NaN, accumulate; the AVX2 plane kernel's bits; nothing read or written outside the planes",
          arguments: [KernelISA.avx2fma, .avx512f].filter(KernelISA.isSupported))
    func depthwiseChannelBlocks(_ isa: KernelISA) throws {
        let table = KernelTable.of(isa)
        guard let kernel = table.depthwiseChannelBlock, let plane = KernelTable.avx2fma.depthwisePlane else { return }
        let width = table.depthwiseChannelBlockWidth
        var seed: UInt64 = 1300
        // (channels, H, W, R, S, stride, dilation, top, left, bottom, right)
        // Every tile width 1-16 (3x3 rows of 1 to 16 pixels), then odd shapes.
        let cases: [(Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int)] = (1...16).map { (($0 * 5) % 16 + 1, 3, $0, 3, 3, 1, 1, 1, 1, 1, 1) } + [
            (16, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1), (5, 17, 17, 7, 7, 1, 1, 3, 3, 3, 3), (1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1),
            (16, 9, 16, 5, 5, 1, 1, 2, 2, 2, 2), (13, 6, 33, 3, 3, 1, 1, 1, 1, 1, 1), (3, 12, 30, 3, 3, 2, 1, 1, 1, 1, 1),
            (8, 11, 23, 5, 5, 2, 2, 4, 4, 4, 4), (16, 10, 12, 3, 5, 1, 3, 0, 2, 3, 6), (2, 5, 4, 1, 3, 1, 1, 0, 0, 0, 0),
            (15, 8, 2, 7, 7, 1, 1, 3, 3, 3, 3), (7, 13, 9, 3, 3, 2, 1, 0, 1, 2, 0), (16, 3, 40, 5, 5, 1, 2, 4, 4, 4, 4),
        ]
        for (c0, h, w, r, s, stride, dil, top, left, bottom, right) in cases {
            let c = Swift.min(c0, width)
            let oh = (h + top + bottom - dil * (r - 1) - 1) / stride + 1
            let ow = (w + left + right - dil * (s - 1) - 1) / stride + 1
            let hp = stride * (oh - 1) + dil * (r - 1) + 1, wp = stride * (ow - 1) + dil * (s - 1) + 1
            var x = Self.values(c * h * w, seed: seed)
            x[x.count / 2] = .nan  // propagates to the outputs that read it, and only to them
            let wt = Self.values(c * r * s, seed: seed + 1)
            let bias = Self.values(16, seed: seed + 2), prior = Self.values(c * oh * ow, seed: seed + 3)
            seed += 4
            // Weights as 16-channel rows per tap (channels past c: NaN, which must not reach an output).
            var packed = [Float](repeating: .nan, count: r * s * width)
            for ch in 0..<c { for t in 0..<(r * s) { packed[t * width + ch] = wt[ch * r * s + t] } }
            let guardFloats = 64
            let guarded = [Float](repeating: .nan, count: guardFloats) + x + [Float](repeating: .nan, count: guardFloats)
            for (flags, lo, hi) in [(UInt32(0), -Float.infinity, Float.infinity), (KernelFlags.clamp | KernelFlags.convAccumulate, -0.5, 0.7)] {
                let accumulate = flags & KernelFlags.convAccumulate != 0
                let sentinel: Float = 9
                var y = [Float](repeating: sentinel, count: guardFloats) + (accumulate ? prior : [Float](repeating: sentinel, count: prior.count))
                    + [Float](repeating: sentinel, count: guardFloats)
                var scratch = [Float](repeating: .nan, count: hp * wp * width)
                guarded.withUnsafeBufferPointer { gb in
                    y.withUnsafeMutableBufferPointer { yb in
                        scratch.withUnsafeMutableBufferPointer { sb in
                            kernel(gb.baseAddress! + guardFloats, h, w, top, left, oh, ow, r, s, stride, dil, c, packed,
                                   bias, flags, lo, hi, sb.baseAddress, yb.baseAddress! + guardFloats)
                        }
                    }
                }
                let label = "\(isa) C\(c) \(h)x\(w) \(r)x\(s) stride \(stride) dilation \(dil) flags \(flags)"
                let outside = y[..<guardFloats].filter { $0 != sentinel }.count + y[(guardFloats + prior.count)...].filter { $0 != sentinel }.count
                #expect(outside == 0, "\(label): \(outside) floats written outside the output planes")
                // The AVX2 plane kernel over each explicitly zero-padded plane (plus the floats it may read past a row).
                var wrongBits = 0, wrongValues = 0
                for ch in 0..<c {
                    var padded = [Float](repeating: 0, count: hp * wp + 64)
                    for iy in 0..<h where iy + top < hp {
                        for ix in 0..<w where ix + left < wp { padded[(iy + top) * wp + ix + left] = x[(ch * h + iy) * w + ix] }
                    }
                    var want = accumulate ? Array(prior[(ch * oh * ow)..<((ch + 1) * oh * ow)]) : [Float](repeating: 0, count: oh * ow)
                    Array(wt[(ch * r * s)..<((ch + 1) * r * s)]).withUnsafeBufferPointer { wb in
                        want.withUnsafeMutableBufferPointer {
                            plane(padded, wp, oh, ow, r, s, stride, dil, wb.baseAddress, bias[ch], flags, lo, hi, $0.baseAddress)
                        }
                    }
                    for i in 0..<(oh * ow) {
                        let got = y[guardFloats + ch * oh * ow + i]
                        if got.bitPattern != want[i].bitPattern { wrongBits += 1 }
                        // And against float64.
                        let oy = i / ow, ox = i % ow
                        var sum = Double(bias[ch]), scale = abs(Double(bias[ch]))
                        for ri in 0..<r {
                            for si in 0..<s {
                                let iy = oy * stride + ri * dil - top, ix = ox * stride + si * dil - left
                                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                                let term = Double(wt[(ch * r + ri) * s + si]) * Double(x[(ch * h + iy) * w + ix])
                                sum += term
                                scale += abs(term)
                            }
                        }
                        if accumulate { sum += Double(prior[ch * oh * ow + i]); scale += abs(Double(prior[ch * oh * ow + i])) }
                        if !Self.close(got, Self.clamp(sum, lo, hi), scale: scale) { wrongValues += 1 }
                    }
                }
                #expect(wrongBits == 0 && wrongValues == 0, "\(label): \(wrongBits) outputs differ from the AVX2 kernel, \(wrongValues) from float64")
            }
        }
    }

    @Test("fully connected: the 4x3 tile against float64, the batch-1 GEMV with the tile's bits", arguments: isas)
    func fullyConnected(_ isa: KernelISA) throws {
        let table = KernelTable.of(isa)
        guard let tile = table.fullyConnectedTile, let gemv = table.fullyConnectedRow else { return }
        for k in [1, 7, 8, 9, 100] {
            for nw in 1...8 {
                let w = Self.values(nw * (k + 1), seed: UInt64(k * 10 + nw))
                let x = Self.values(k, seed: UInt64(k))
                let bias = Self.values(8, seed: 3)
                var fromGEMV = [Float](repeating: 9, count: 10), fromTile = fromGEMV
                w.withUnsafeBufferPointer { wp in
                    x.withUnsafeBufferPointer { xp in
                        bias.withUnsafeBufferPointer { bp in
                            fromGEMV.withUnsafeMutableBufferPointer { yp in
                                gemv(k, wp.baseAddress, k + 1, nw, xp.baseAddress, yp.baseAddress, bp.baseAddress,
                                     KernelFlags.clamp, -0.6, 0.6)
                            }
                            fromTile.withUnsafeMutableBufferPointer { yp in
                                for o in stride(from: 0, to: nw, by: 4) {
                                    tile(k, wp.baseAddress! + o * (k + 1), k + 1, Swift.min(4, nw - o), xp.baseAddress,
                                         k, 1, yp.baseAddress! + o, 1, bp.baseAddress! + o, KernelFlags.clamp, -0.6, 0.6)
                                }
                            }
                        }
                    }
                }
                #expect(fromGEMV.map(\.bitPattern) == fromTile.map(\.bitPattern), "\(isa) k \(k) nw \(nw)")
                for o in 0..<10 {
                    guard o < nw else {
                        #expect(fromGEMV[o] == 9, "output \(o) written")
                        continue
                    }
                    var sum = Double(bias[o]), scale = 1.0
                    for i in 0..<k {
                        sum += Double(w[o * (k + 1) + i]) * Double(x[i])
                        scale += abs(Double(w[o * (k + 1) + i]) * Double(x[i]))
                    }
                    #expect(Self.close(fromGEMV[o], Self.clamp(sum, -0.6, 0.6), scale: scale), "\(isa) k \(k) o \(o)")
                }
            }
        }
    }

    /// The Winograd transform kernels against their explicit matrices, for every table with C
    /// transforms: V = B^T d B for 8 tiles at scattered corners, and Y = A^T M A + bias with the
    /// clamp, clipped tiles and a skipped tile (negative offset) left untouched.
    @Test("Winograd transforms: input and output kernels against B^T d B and A^T M A", arguments: isas)
    func winogradTransforms(_ isa: KernelISA) throws {
        let table = KernelTable.of(isa)
        guard let f4Input = table.winogradF4Input, let f4Output = table.winogradF4Output,
              let genericInput = table.winogradInput, let genericOutput = table.winogradOutput else { return }
        for tile in [WinogradTile.f2x3, .f4x3, .f6x3] {
            let mats = WinogradMatrices(tile)
            let alpha = mats.alpha, m = mats.m, positions = alpha * alpha
            let channels = 3, rowStride = 40, planeSize = 40 * 30
            let x = Self.values(channels * planeSize + 64, seed: UInt64(alpha))
            let corners: [Int32] = [0, 5, 13, 41, 87, 120, 203, 333]   // tile t's top-left in each plane
            // Input: V[c][p][t] at c * vcs + p * vps + t.
            let vps = 8 + 3, vcs = positions * vps + 5
            var v = [Float](repeating: .nan, count: channels * vcs)
            x.withUnsafeBufferPointer { xp in
                corners.withUnsafeBufferPointer { op in
                    v.withUnsafeMutableBufferPointer { vp in
                        if tile == .f4x3 {
                            f4Input(channels, xp.baseAddress, planeSize, rowStride, 0, 0, 8, op.baseAddress,
                                    vp.baseAddress, vcs, vps)
                        } else {
                            mats.BT.withUnsafeBufferPointer { bt in
                                genericInput(alpha, bt.baseAddress, channels, xp.baseAddress, planeSize, rowStride,
                                             op.baseAddress, vp.baseAddress, vcs, vps)
                            }
                        }
                    }
                }
            }
            for c in 0..<channels {
                for t in 0..<8 {
                    let base = c * planeSize + Int(corners[t])
                    for i in 0..<alpha {
                        for j in 0..<alpha {
                            var want = 0.0, scale = 0.0
                            for a in 0..<alpha {
                                for b in 0..<alpha {
                                    let term = Double(mats.BT[i * alpha + a]) * Double(x[base + a * rowStride + b])
                                        * Double(mats.BT[j * alpha + b])
                                    want += term
                                    scale += abs(term)
                                }
                            }
                            let got = v[c * vcs + (i * alpha + j) * vps + t]
                            #expect(Self.close(got, want, scale: scale), "\(isa) \(tile) input c \(c) t \(t) (\(i), \(j))")
                        }
                    }
                }
            }
            // Output: M[k][p][t] at k * mcs + p * mps + t; tile t stored at offsets[t] (rows 50
            // apart), its top-left (extent >> 4) x (extent & 15) outputs; tile 6 skipped.
            let mps = 8 + 1, mcs = positions * mps + 7, ycs = 50 * 20, yrs = 50
            let mv = Self.values(channels * mcs, seed: UInt64(alpha) + 50)
            let bias = Self.values(channels, seed: 77)
            let offsets: [Int] = [0, 7, 14, 21, 300, 307, -1, 700]   // no two tiles overlap, even 6x6 ones
            let extents: [Int32] = (0..<8).map { t in t == 7 ? Int32((m - 1) * 16 + Swift.max(m - 2, 1)) : Int32(m * 16 + m) }
            let sentinel: Float = 1234.5
            var y = [Float](repeating: sentinel, count: channels * ycs)
            let (lo, hi): (Float, Float) = (-3, 3)
            mv.withUnsafeBufferPointer { mp in
                bias.withUnsafeBufferPointer { bp in
                    offsets.withUnsafeBufferPointer { op in
                        extents.withUnsafeBufferPointer { ep in
                            y.withUnsafeMutableBufferPointer { yp in
                                if tile == .f4x3 {
                                    f4Output(channels, mp.baseAddress, mcs, mps, bp.baseAddress, KernelFlags.clamp, lo, hi,
                                             yp.baseAddress, ycs, yrs, op.baseAddress, ep.baseAddress)
                                } else {
                                    mats.AT.withUnsafeBufferPointer { at in
                                        genericOutput(alpha, at.baseAddress, channels, mp.baseAddress, mcs, mps,
                                                      bp.baseAddress, KernelFlags.clamp, lo, hi, yp.baseAddress, ycs, yrs,
                                                      op.baseAddress, ep.baseAddress)
                                    }
                                }
                            }
                        }
                    }
                }
            }
            var written = Set<Int>()
            for k in 0..<channels {
                for t in 0..<8 where offsets[t] >= 0 {
                    let rows = Int(extents[t]) >> 4, cols = Int(extents[t]) & 15
                    for i in 0..<rows {
                        for j in 0..<cols {
                            var want = Double(bias[k]), scale = abs(Double(bias[k]))
                            for a in 0..<alpha {
                                for b in 0..<alpha {
                                    let term = Double(mats.AT[i * alpha + a]) * Double(mv[k * mcs + (a * alpha + b) * mps + t])
                                        * Double(mats.AT[j * alpha + b])
                                    want += term
                                    scale += abs(term)
                                }
                            }
                            let at = k * ycs + offsets[t] + i * yrs + j
                            written.insert(at)
                            #expect(Self.close(y[at], Self.clamp(want, lo, hi), scale: scale),
                                    "\(isa) \(tile) output k \(k) t \(t) (\(i), \(j)): \(y[at]) vs \(want)")
                        }
                    }
                }
            }
            let stray = y.indices.filter { !written.contains($0) && y[$0] != sentinel }
            #expect(stray.isEmpty, "\(isa) \(tile): \(stray.count) outputs written outside the stored tiles")
        }
    }

    @Test("the FMA peak probe: one per vector ISA, none for the portable ISA or one the CPU lacks")
    func peakProbes() {
        #expect(CPUFeatures.measureFMAPeakGFLOPs(seconds: 0.001, isa: .portable) == nil)
        for isa in [KernelISA.avx2fma, .avx512f] {
            let peak = CPUFeatures.measureFMAPeakGFLOPs(seconds: 0.001, isa: isa)
            if KernelISA.isSupported(isa) {
                #expect((peak ?? 0) > 0, "\(isa)")
            } else {
                #expect(peak == nil, "\(isa)")
            }
        }
    }

    @Test("the tables: entries present exactly where the ISA has C kernels")
    func tables() {
        #expect(KernelTable.portable.gemm == nil && KernelTable.portable.convTile == nil
            && KernelTable.portable.pointwiseTile == nil && KernelTable.portable.depthwisePlane == nil)
        for table in [KernelTable.avx2fma, .avx512f] {
            #expect(table.gemm != nil && table.convTile != nil && table.fewChannels != nil && table.pointwiseTile != nil
                && table.depthwisePlane != nil && table.depthwiseRow != nil && table.fullyConnectedTile != nil
                && table.fullyConnectedRow != nil && table.poolPlane != nil && table.winogradF4Input != nil
                && table.winogradF4Output != nil && table.winogradInput != nil && table.winogradOutput != nil)
        }
        #expect(KernelTable.avx2fma.gemmPair == nil && KernelTable.avx2fma.convTilePair == nil)
        #expect(KernelTable.avx512f.gemmPair != nil && KernelTable.avx512f.convTilePair != nil)
        #expect(KernelTable.avx2fma.gemmRowPair == nil && KernelTable.portable.convRowsInPlace == nil)
        #expect(KernelTable.avx512f.gemmRowPair != nil && KernelTable.avx512f.convRowsInPlace != nil
            && KernelTable.avx2fma.convRowsInPlace != nil)
        #expect(KernelTable.portable.depthwiseUnpadded == nil && KernelTable.avx2fma.depthwiseUnpadded == nil
            && KernelTable.avx512f.depthwiseUnpadded != nil)
        #expect(KernelTable.portable.depthwiseChannelBlock == nil && KernelTable.avx2fma.depthwiseChannelBlock != nil
            && KernelTable.avx512f.depthwiseChannelBlock != nil)
        #expect(KernelTable.avx2fma.depthwiseChannelBlockWidth == 8 && KernelTable.avx512f.depthwiseChannelBlockWidth == 16)
        #expect(KernelTable.avx2fma.pointwisePixelsPerStep == 16 && KernelTable.avx512f.pointwisePixelsPerStep == 64)
        #expect(KernelTable.selected.isa == KernelISA.selected)
    }
}
