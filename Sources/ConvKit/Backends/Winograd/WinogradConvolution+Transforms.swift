// Input and output transforms of the Winograd backend, 8 tiles at a time in SIMD8 lanes.
// On AVX2+FMA they run the C kernels (ck_f32_winograd_f4x3__avx2_fma.c for F(4x4),
// ck_f32_winograd_generic__avx2_fma.c for F(2x2) and F(6x6)); the portable ISA runs the Swift
// SIMD code below.


extension WinogradConvolution {
    typealias V8 = SIMD8<Float>

    /// Tile `t` of the batch as (image, first output row, first output column).
    @inline(__always)
    func tileOrigin(_ t: Int) -> (n: Int, oy: Int, ox: Int) {
        let n = t / tilesPerImage, r = t % tilesPerImage
        return (n, (r / tilesX) * tile.outputTile, (r % tilesX) * tile.outputTile)
    }

    /// Copies `images` images of the input into a zero-padded buffer `[images][C][paddedHeight][paddedWidth]` so that
    /// every tile's `alpha x alpha` patch lies inside it (no bounds checks in the transform).
    func padInput(x: UnsafePointer<Float>, images: Int, into padded: UnsafeMutablePointer<Float>, threads: Int) {
        let d = descriptor
        let H = d.inputHeight, W = d.inputWidth, Hp = paddedHeight, Wp = paddedWidth
        ParallelFor.run(items: images * d.inputChannels, threads: threads) { _, range in
            for plane in range {
                copyZeroPadded(x + plane * H * W, height: H, width: W, into: padded + plane * Hp * Wp, paddedHeight: Hp,
                               paddedWidth: Wp, top: d.padding.top, left: d.padding.left)
            }
        }
    }

    /// Transforms tiles `firstTile ..< firstTile + count` of input channels `channels` of the
    /// padded input into `v[p][panel][c][16]` (positions `vStride(tb:)` floats apart); lanes past
    /// `count` repeat the last tile or, for runs of consecutive F(4x4) tiles, read the padded
    /// input next to it (their results are never stored).
    func transformInput(padded: UnsafePointer<Float>, firstTile: Int, count: Int, tb: Int, channels: Range<Int>,
                        into v: UnsafeMutablePointer<Float>, temp: UnsafeMutablePointer<Float>) {
        let C = descriptor.inputChannels
        let Wp = paddedWidth, planeSize = paddedHeight * paddedWidth
        let alpha = alpha
        let groups = (count + 7) / 8
        let bt = inputTerms
        let isF4 = tile == .f4x3
        // The C kernel's scattered gather takes 32-bit offsets (the tiles of one block lie in
        // at most a few images; fall back to Swift when an offset would not fit).
        let kernels = kernel.kernels
        let useC = (totalTiles / tilesPerImage + 1) * C * planeSize < Int(Int32.max)
        do {
            // `temp` (transformScratchFloats, 32-byte aligned) holds alpha^2 SIMD8 rows.
            let t = UnsafeMutableRawPointer(temp).bindMemory(to: V8.self, capacity: positions)
            for group in 0..<groups {
                let local = group * 8
                // Offsets of the 8 tiles' top-left corners in the padded input.
                var o = SIMD8<Int>()
                for lane in 0..<8 {
                    let (n, oy, ox) = tileOrigin(firstTile + Swift.min(local + lane, count - 1))
                    o[lane] = n * C * planeSize + oy * Wp + ox
                }
                // F(4x4) fast gather: the group's tiles in one tile row (rowA: corner of the first
                // tile), or two consecutive rows (rowB: corner of the second row's tile 0, shifted
                // left by the lanes that stay in the first row; lanes >= inRow come from it).
                var rowA: Int? = nil, rowB: Int? = nil
                var fromB = SIMDMask<SIMD8<Int32>>(repeating: false), bFromLane = 8
                if isF4 && tilesX >= 8 {
                    let first = firstTile + local
                    let (n0, oy0, ox0) = tileOrigin(first)
                    let inRow = tilesX - ox0 / 4
                    rowA = n0 * C * planeSize + oy0 * Wp + ox0
                    let valid = Swift.min(8, count - local)
                    if inRow < valid {
                        let (n1, oy1, _) = tileOrigin(first + inRow)
                        rowB = n1 * C * planeSize + oy1 * Wp - 4 * inRow
                        fromB = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) .>= Int32(inRow)
                        bFromLane = inRow
                    }
                }
                let panel = local / 16, laneOffset = local % 16
                if !isF4 && useC, let genericInput = kernels.winogradInput {
                    // Generic AVX2+FMA kernel (F(2x2), F(6x6)): all the channels of the group.
                    withUnsafeTemporaryAllocation(of: Int32.self, capacity: 8) { offsets in
                        for lane in 0..<8 { offsets[lane] = Int32(o[lane]) }
                        genericInput(
                            alpha, inputMatrix.base, channels.count, padded + channels.lowerBound * planeSize, planeSize,
                            Wp, offsets.baseAddress, v + (panel * C + channels.lowerBound) * 16 + laneOffset, 16,
                            vStride(tb: tb))
                    }
                    continue
                }
                if isF4 && useC, let f4Input = kernels.winogradF4Input {
                    // The AVX2+FMA kernel gathers and transforms all the channels of the group.
                    let column = v + (panel * C + channels.lowerBound) * 16 + laneOffset
                    let positionStride = vStride(tb: tb)
                    if let rowA {
                        f4Input(
                            channels.count, padded + channels.lowerBound * planeSize, planeSize, Wp, rowA, rowB ?? 0,
                            UInt32(bFromLane), nil, column, 16, positionStride)
                    } else {
                        withUnsafeTemporaryAllocation(of: Int32.self, capacity: 8) { offsets in
                            for lane in 0..<8 { offsets[lane] = Int32(o[lane]) }
                            f4Input(
                                channels.count, padded + channels.lowerBound * planeSize, planeSize, Wp, 0, 0, 8,
                                offsets.baseAddress, column, 16, positionStride)
                        }
                    }
                    continue
                }
                for c in channels {
                    let base = padded + c * planeSize
                    if isF4 {
                        if let rowA {
                            // The 8 tiles are consecutive in one tile row (or two): contiguous loads
                            // and shuffles instead of 8 scalar loads per vector.
                            for k in 0..<6 {
                                var r = Self.gatherF4(base + rowA + k * Wp)
                                if let rowB {
                                    let b = Self.gatherF4(base + rowB + k * Wp)
                                    r.0.replace(with: b.0, where: fromB); r.1.replace(with: b.1, where: fromB)
                                    r.2.replace(with: b.2, where: fromB); r.3.replace(with: b.3, where: fromB)
                                    r.4.replace(with: b.4, where: fromB); r.5.replace(with: b.5, where: fromB)
                                }
                                t[k * 6] = r.0; t[k * 6 + 1] = r.1; t[k * 6 + 2] = r.2
                                t[k * 6 + 3] = r.3; t[k * 6 + 4] = r.4; t[k * 6 + 5] = r.5
                            }
                        } else {
                            for k in 0..<6 {
                                let row = base + k * Wp
                                for l in 0..<6 {
                                    t[k * 6 + l] = V8(row[o[0] + l], row[o[1] + l], row[o[2] + l], row[o[3] + l],
                                                      row[o[4] + l], row[o[5] + l], row[o[6] + l], row[o[7] + l])
                                }
                            }
                        }
                        let column = v + (panel * C + c) * 16 + laneOffset
                        let positionStride = vStride(tb: tb)
                        Self.transformInputF4(t) { p, value in
                            UnsafeMutableRawPointer(column + p * positionStride).storeBytes(of: value, as: V8.self)
                        }
                        continue
                    }
                    // t = B^T d: each input row k is loaded once and added to the rows i it feeds.
                    t.update(repeating: V8(), count: positions)
                    for k in 0..<alpha {
                        let row = base + k * Wp
                        for l in 0..<alpha {
                            let dv = V8(row[o[0] + l], row[o[1] + l], row[o[2] + l], row[o[3] + l],
                                        row[o[4] + l], row[o[5] + l], row[o[6] + l], row[o[7] + l])
                            bt.accumulate(column: k, dv, into: t, stride: alpha, offset: l)
                        }
                    }
                    // V = t B: V[i][j] = sum_l t[i][l] * BT[j][l].
                    for i in 0..<alpha {
                        for j in 0..<alpha {
                            let s = bt.dot(row: j, t, base: i * alpha)
                            let dst = v + (i * alpha + j) * vStride(tb: tb) + (panel * C + c) * 16 + laneOffset
                            UnsafeMutableRawPointer(dst).storeBytes(of: s, as: V8.self)
                        }
                    }
                }
            }
        }
    }

    /// Patch row of 8 horizontally consecutive F(4x4) tiles: `p` points at the first tile's
    /// first column; returns columns `l = 0 ..< 6` with lane `t` = `p[4 t + l]`. Reads `p[0 ..< 36]`.
    @inline(__always)
    static func gatherF4(_ p: UnsafePointer<Float>) -> (V8, V8, V8, V8, V8, V8) {
        let raw = UnsafeRawPointer(p)
        func load(_ i: Int) -> V8 { raw.loadUnaligned(fromByteOffset: 4 * i, as: V8.self) }
        // Stride-4 deinterleave of x[0 ..< 32] (l = 0...3) and of x[4 ..< 36] (l = 4, 5).
        let q0 = load(0), q1 = load(8), q2 = load(16), q3 = load(24)
        let e0 = V8(lowHalf: q0.evenHalf, highHalf: q1.evenHalf), e1 = V8(lowHalf: q2.evenHalf, highHalf: q3.evenHalf)
        let o0 = V8(lowHalf: q0.oddHalf, highHalf: q1.oddHalf), o1 = V8(lowHalf: q2.oddHalf, highHalf: q3.oddHalf)
        let r0 = load(4), r1 = load(12), r2 = load(20), r3 = load(28)
        let f0 = V8(lowHalf: r0.evenHalf, highHalf: r1.evenHalf), f1 = V8(lowHalf: r2.evenHalf, highHalf: r3.evenHalf)
        let g0 = V8(lowHalf: r0.oddHalf, highHalf: r1.oddHalf), g1 = V8(lowHalf: r2.oddHalf, highHalf: r3.oddHalf)
        return (V8(lowHalf: e0.evenHalf, highHalf: e1.evenHalf),
                V8(lowHalf: o0.evenHalf, highHalf: o1.evenHalf),
                V8(lowHalf: e0.oddHalf, highHalf: e1.oddHalf),
                V8(lowHalf: o0.oddHalf, highHalf: o1.oddHalf),
                V8(lowHalf: f0.evenHalf, highHalf: f1.evenHalf),
                V8(lowHalf: g0.evenHalf, highHalf: g1.evenHalf))
    }

    /// Stores 8 tiles' output row (columns `a`, `b`, `c`, `d`, lane `t` = tile `t`) as 32
    /// contiguous floats `a0 b0 c0 d0 a1 b1 c1 d1 ...`.
    @inline(__always)
    static func storeInterleavedF4(_ a: V8, _ b: V8, _ c: V8, _ d: V8, to p: UnsafeMutablePointer<Float>) {
        let raw = UnsafeMutableRawPointer(p)
        for h in 0..<4 {
            let i = 2 * h
            let v = V8(a[i], b[i], c[i], d[i], a[i + 1], b[i + 1], c[i + 1], d[i + 1])
            raw.storeBytes(of: v, toByteOffset: 32 * h, as: V8.self)
        }
    }

    /// Applies the fused activation (clamp to `[lo, hi]`, NaN preserved) to one output vector.
    @inline(__always)
    static func finish(_ v: V8, clamp: Bool, lo: Float, hi: Float) -> V8 {
        if !clamp { return v }
        return v.replacing(with: lo, where: v .< lo).replacing(with: hi, where: v .> hi)
    }

    /// Transforms `M` back for output channels `channels` and tiles `firstTile ..< firstTile +
    /// count`, adds the bias, applies the activation and stores into the NCHW output.
    func transformOutput(m: UnsafeMutablePointer<Float>, firstTile: Int, count: Int, tb: Int, channels: Range<Int>,
                         into y: UnsafeMutablePointer<Float>, temp scratchFloats: UnsafeMutablePointer<Float>) {
        let d = descriptor
        let K = d.outputChannels, OH = d.outputHeight, OW = d.outputWidth
        let alpha = alpha, mt = tile.outputTile
        let (lo, hi) = d.activation.bounds
        let clamp = d.activation != .none
        let groups = (count + 7) / 8
        let at = outputTerms
        let isF4 = tile == .f4x3
        if let f4Output = kernel.kernels.winogradF4Output, let genericOutput = kernel.kernels.winogradOutput {
            // AVX2+FMA kernels (specialised F(4x4), generic F(2x2) and F(6x6)): all channels of a
            // group of 8 tiles in one call, each tile stored (clipped to the output) at its own
            // place, or, for 8 whole F(4x4) tiles side by side, as 4 rows of 32 contiguous floats.
            let flags: UInt32 = clamp ? KernelFlags.clamp : 0
            let mStride = mStride(tb: tb), yBase = y + channels.lowerBound * OH * OW
            withUnsafeTemporaryAllocation(of: Int.self, capacity: 8) { offsets in
                withUnsafeTemporaryAllocation(of: Int32.self, capacity: 8) { extents in
                    for group in 0..<groups {
                        let local = group * 8
                        let lanes = Swift.min(8, count - local)
                        let mBase = m + channels.lowerBound * tb + local
                        if isF4 && lanes == 8 {
                            let (n, oy, ox) = tileOrigin(firstTile + local)
                            if ox + 32 <= OW && oy + 4 <= OH {
                                let corner = y + ((n * K + channels.lowerBound) * OH + oy) * OW + ox
                                f4Output(
                                    channels.count, mBase, tb, mStride, bias.base + channels.lowerBound, flags, lo, hi,
                                    corner, OH * OW, OW, nil, nil)
                                continue
                            }
                        }
                        for lane in 0..<8 {
                            offsets[lane] = -1
                            extents[lane] = 0
                            guard lane < lanes else { continue }
                            let (n, oy, ox) = tileOrigin(firstTile + local + lane)
                            offsets[lane] = (n * K * OH + oy) * OW + ox
                            extents[lane] = Int32(Swift.min(mt, OH - oy) * 16 + Swift.min(mt, OW - ox))
                        }
                        if isF4 {
                            f4Output(
                                channels.count, mBase, tb, mStride, bias.base + channels.lowerBound, flags, lo, hi,
                                yBase, OH * OW, OW, offsets.baseAddress, extents.baseAddress)
                        } else {
                            genericOutput(
                                alpha, outputMatrix.base, channels.count, mBase, tb, mStride,
                                bias.base + channels.lowerBound, flags, lo, hi, yBase, OH * OW, OW,
                                offsets.baseAddress, extents.baseAddress)
                        }
                    }
                }
            }
            return
        }
        do {
            do {
                let temp = UnsafeMutableRawPointer(scratchFloats).bindMemory(to: V8.self, capacity: mt * alpha + mt * mt)
                let result = temp + mt * alpha
                for k in channels {
                    let b = V8(repeating: bias.base[k])
                    for group in 0..<groups {
                        let local = group * 8
                        if isF4 {
                            Self.transformOutputF4({ p in
                                UnsafeRawPointer(m + p * mStride(tb: tb) + k * tb + local).loadUnaligned(as: V8.self)
                            }, temp, result)
                            for i in 0..<16 {
                                result[i] = Self.finish(result[i] + b, clamp: clamp, lo: lo, hi: hi)
                            }
                        } else {
                        // temp = A^T M (m x alpha), result = temp A (m x m).
                        temp.update(repeating: V8(), count: mt * alpha)
                        for a in 0..<alpha {
                            for bcol in 0..<alpha {
                                let src = m + (a * alpha + bcol) * mStride(tb: tb) + k * tb + local
                                let mv = UnsafeRawPointer(src).loadUnaligned(as: V8.self)
                                at.accumulate(column: a, mv, into: temp, stride: alpha, offset: bcol)
                            }
                        }
                        for i in 0..<mt {
                            for j in 0..<mt {
                                let s = at.dot(row: j, temp, base: i * alpha)
                                result[i * mt + j] = Self.finish(s + b, clamp: clamp, lo: lo, hi: hi)
                            }
                        }
                        }
                        let lanes = Swift.min(8, count - local)
                        if isF4 && lanes == 8 {
                            // 8 whole tiles side by side in one tile row: 4 output rows of 32
                            // contiguous floats, interleaved from the 4 column vectors.
                            let (n, oy, ox) = tileOrigin(firstTile + local)
                            if ox + 32 <= OW && oy + 4 <= OH {
                                let corner = y + ((n * K + k) * OH + oy) * OW + ox
                                for i in 0..<4 {
                                    Self.storeInterleavedF4(result[4 * i], result[4 * i + 1], result[4 * i + 2],
                                                            result[4 * i + 3], to: corner + i * OW)
                                }
                                continue
                            }
                        }
                        for lane in 0..<lanes {
                            let (n, oy, ox) = tileOrigin(firstTile + local + lane)
                            let plane = y + (n * K + k) * OH * OW
                            let rows = Swift.min(mt, OH - oy), cols = Swift.min(mt, OW - ox)
                            for i in 0..<rows {
                                let row = plane + (oy + i) * OW + ox
                                for j in 0..<cols { row[j] = result[i * mt + j][lane] }
                            }
                        }
                    }
                }
            }
        }
    }
}
