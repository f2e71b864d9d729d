// Input and output transforms of the Winograd backend, 8 tiles at a time in SIMD8 lanes.

extension WinogradConvolution {
    typealias V8 = SIMD8<Float>

    /// Tile `t` of the batch as (image, first output row, first output column).
    @inline(__always)
    func tileOrigin(_ t: Int) -> (n: Int, oy: Int, ox: Int) {
        let n = t / tilesPerImage, r = t % tilesPerImage
        return (n, (r / tilesX) * tile.outputTile, (r % tilesX) * tile.outputTile)
    }

    /// Copies the input into a zero-padded buffer `[N][C][paddedHeight][paddedWidth]` so that
    /// every tile's `alpha x alpha` patch lies inside it (no bounds checks in the transform).
    func padInput(x: UnsafePointer<Float>, into padded: UnsafeMutablePointer<Float>, threads: Int) {
        let d = descriptor
        let H = d.inputHeight, W = d.inputWidth, Hp = paddedHeight, Wp = paddedWidth
        let top = d.padding.top, left = d.padding.left
        ParallelFor.run(items: d.batch * d.inputChannels, threads: threads) { _, range in
            for plane in range {
                let dst = padded + plane * Hp * Wp, src = x + plane * H * W
                for row in 0..<Hp {
                    let out = dst + row * Wp
                    let iy = row - top
                    if iy < 0 || iy >= H {
                        out.update(repeating: 0, count: Wp)
                        continue
                    }
                    let copy = Swift.max(Swift.min(W, Wp - left), 0)
                    out.update(repeating: 0, count: Swift.min(left, Wp))
                    (out + left).update(from: src + iy * W, count: copy)
                    if left + copy < Wp { (out + left + copy).update(repeating: 0, count: Wp - left - copy) }
                }
            }
        }
    }

    /// Transforms tiles `firstTile ..< firstTile + count` of input channels `channels` of the
    /// padded input into `v[p][panel][c][16]`; lanes past `count` repeat the last tile (their
    /// results are never stored).
    func transformInput(padded: UnsafePointer<Float>, firstTile: Int, count: Int, tb: Int, channels: Range<Int>,
                        into v: UnsafeMutablePointer<Float>, temp: UnsafeMutablePointer<Float>) {
        let C = descriptor.inputChannels
        let Wp = paddedWidth, planeSize = paddedHeight * paddedWidth
        let alpha = alpha
        let panelsPerBlock = tb / GEMMMicroKernel.nr
        let groups = (count + 7) / 8
        let bt = inputTerms
        let isF4 = tile == .f4x3
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
                let panel = local / 16, laneOffset = local % 16
                for c in channels {
                    let base = padded + c * planeSize
                    if isF4 {
                        for k in 0..<6 {
                            let row = base + k * Wp
                            for l in 0..<6 {
                                t[k * 6 + l] = V8(row[o[0] + l], row[o[1] + l], row[o[2] + l], row[o[3] + l],
                                                  row[o[4] + l], row[o[5] + l], row[o[6] + l], row[o[7] + l])
                            }
                        }
                        let column = v + (panel * C + c) * 16 + laneOffset
                        let positionStride = panelsPerBlock * C * 16
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
                            for e in bt.columnStart[k]..<bt.columnStart[k + 1] {
                                let term = bt.columnTerms[e]
                                t[term.row * alpha + l] = V8(repeating: term.coef) * dv + t[term.row * alpha + l]
                            }
                        }
                    }
                    // V = t B: V[i][j] = sum_l t[i][l] * BT[j][l].
                    for i in 0..<alpha {
                        for j in 0..<alpha {
                            var s = V8()
                            for e in bt.rowStart[j]..<bt.rowStart[j + 1] {
                                let term = bt.rowTerms[e]
                                s = V8(repeating: term.coef) * t[i * alpha + term.col] + s
                            }
                            let dst = v + (((i * alpha + j) * panelsPerBlock + panel) * C + c) * 16 + laneOffset
                            UnsafeMutableRawPointer(dst).storeBytes(of: s, as: V8.self)
                        }
                    }
                }
            }
        }
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
                                UnsafeRawPointer(m + (p * K + k) * tb + local).loadUnaligned(as: V8.self)
                            }, temp, result)
                            for i in 0..<16 {
                                var s = result[i] + b
                                if clamp {
                                    s = s.replacing(with: lo, where: s .< lo)
                                    s = s.replacing(with: hi, where: s .> hi)
                                }
                                result[i] = s
                            }
                        } else {
                        // temp = A^T M (m x alpha), result = temp A (m x m).
                        temp.update(repeating: V8(), count: mt * alpha)
                        for a in 0..<alpha {
                            for bcol in 0..<alpha {
                                let src = m + ((a * alpha + bcol) * K + k) * tb + local
                                let mv = UnsafeRawPointer(src).loadUnaligned(as: V8.self)
                                for e in at.columnStart[a]..<at.columnStart[a + 1] {
                                    let term = at.columnTerms[e]
                                    temp[term.row * alpha + bcol] = V8(repeating: term.coef) * mv + temp[term.row * alpha + bcol]
                                }
                            }
                        }
                        for i in 0..<mt {
                            for j in 0..<mt {
                                var s = V8()
                                for e in at.rowStart[j]..<at.rowStart[j + 1] {
                                    let term = at.rowTerms[e]
                                    s = V8(repeating: term.coef) * temp[i * alpha + term.col] + s
                                }
                                s = s + b
                                if clamp {
                                    s = s.replacing(with: lo, where: s .< lo)
                                    s = s.replacing(with: hi, where: s .> hi)
                                }
                                result[i * mt + j] = s
                            }
                        }
                        }
                        let lanes = Swift.min(8, count - local)
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
