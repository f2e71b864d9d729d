// Input and output transforms of the Winograd backend, 8 tiles at a time in SIMD8 lanes.

extension WinogradConvolution {
    typealias V8 = SIMD8<Float>

    /// Tile `t` of the batch as (image, first output row, first output column).
    @inline(__always)
    func tileOrigin(_ t: Int) -> (n: Int, oy: Int, ox: Int) {
        let n = t / tilesPerImage, r = t % tilesPerImage
        return (n, (r / tilesX) * tile.outputTile, (r % tilesX) * tile.outputTile)
    }

    /// Transforms tiles `firstTile ..< firstTile + count` of every channel into
    /// `v[p][panel][c][16]` (lanes past `count` are zero).
    func transformInput(x: UnsafePointer<Float>, firstTile: Int, count: Int, into v: UnsafeMutablePointer<Float>) {
        let d = descriptor
        let C = d.inputChannels, H = d.inputHeight, W = d.inputWidth
        let alpha = alpha, positions = positions
        let panelsPerBlock = tb / GEMMMicroKernel.nr
        let groups = (count + 7) / 8
        matrices.BT.withUnsafeBufferPointer { bt in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: positions * 8 * 2) { scratch in
                let patch = scratch.baseAddress!                 // [alpha*alpha][8]
                let temp = patch + positions * 8                 // [alpha*alpha][8]
                for group in 0..<groups {
                    let local = group * 8
                    let lanes = Swift.min(8, count - local)
                    for c in 0..<C {
                        // Gather the alpha x alpha input patches of the 8 tiles.
                        patch.update(repeating: 0, count: positions * 8)
                        for lane in 0..<lanes {
                            let (n, oy, ox) = tileOrigin(firstTile + local + lane)
                            let iy0 = oy - d.padding.top, ix0 = ox - d.padding.left
                            let plane = x + (n * C + c) * H * W
                            if iy0 >= 0 && ix0 >= 0 && iy0 + alpha <= H && ix0 + alpha <= W {
                                for k in 0..<alpha {
                                    let row = plane + (iy0 + k) * W + ix0
                                    for l in 0..<alpha { patch[(k * alpha + l) * 8 + lane] = row[l] }
                                }
                            } else {
                                for k in 0..<alpha {
                                    let iy = iy0 + k
                                    if iy < 0 || iy >= H { continue }
                                    let row = plane + iy * W
                                    for l in 0..<alpha {
                                        let ix = ix0 + l
                                        if ix >= 0 && ix < W { patch[(k * alpha + l) * 8 + lane] = row[ix] }
                                    }
                                }
                            }
                        }
                        // temp = B^T d (rows), then V = temp B (columns).
                        let pv = UnsafeMutableRawPointer(patch), tv = UnsafeMutableRawPointer(temp)
                        for i in 0..<alpha {
                            for l in 0..<alpha {
                                var s = V8()
                                for k in 0..<alpha {
                                    let coef = bt[i * alpha + k]
                                    if coef == 0 { continue }
                                    s = V8(repeating: coef) * pv.loadUnaligned(fromByteOffset: (k * alpha + l) * 32, as: V8.self) + s
                                }
                                tv.storeBytes(of: s, toByteOffset: (i * alpha + l) * 32, as: V8.self)
                            }
                        }
                        let panel = local / 16, laneOffset = local % 16
                        for i in 0..<alpha {
                            for j in 0..<alpha {
                                var s = V8()
                                for l in 0..<alpha {
                                    let coef = bt[j * alpha + l]
                                    if coef == 0 { continue }
                                    s = V8(repeating: coef) * tv.loadUnaligned(fromByteOffset: (i * alpha + l) * 32, as: V8.self) + s
                                }
                                let p = i * alpha + j
                                let dst = v + ((p * panelsPerBlock + panel) * C + c) * 16 + laneOffset
                                UnsafeMutableRawPointer(dst).storeBytes(of: s, as: V8.self)
                            }
                        }
                    }
                }
                // Zero the lanes of the last 16-tile panel past `count` (odd group counts).
                if groups % 2 == 1 {
                    let local = groups * 8
                    let panel = local / 16
                    for p in 0..<positions {
                        for c in 0..<C {
                            let dst = v + ((p * panelsPerBlock + panel) * C + c) * 16 + 8
                            UnsafeMutableRawPointer(dst).storeBytes(of: V8(), as: V8.self)
                        }
                    }
                }
            }
        }
    }

    /// Transforms `M` back for output channels `channels` and tiles `firstTile ..< firstTile +
    /// count`, adds the bias, applies the activation and stores into the NCHW output.
    func transformOutput(m: UnsafeMutablePointer<Float>, firstTile: Int, count: Int, channels: Range<Int>,
                         into y: UnsafeMutablePointer<Float>) {
        let d = descriptor
        let K = d.outputChannels, OH = d.outputHeight, OW = d.outputWidth
        let alpha = alpha, mt = tile.outputTile
        let (lo, hi) = d.activation.bounds
        let clamp = d.activation != .none
        let groups = (count + 7) / 8
        matrices.AT.withUnsafeBufferPointer { at in
            withUnsafeTemporaryAllocation(of: V8.self, capacity: mt * alpha + mt * mt) { scratch in
                let temp = scratch.baseAddress!, result = temp + mt * alpha
                for k in channels {
                    let b = V8(repeating: bias.base[k])
                    for group in 0..<groups {
                        let local = group * 8
                        // temp = A^T M (m x alpha), result = temp A (m x m).
                        for i in 0..<mt {
                            for bcol in 0..<alpha {
                                var s = V8()
                                for a in 0..<alpha {
                                    let coef = at[i * alpha + a]
                                    if coef == 0 { continue }
                                    let src = m + ((a * alpha + bcol) * K + k) * tb + local
                                    s = V8(repeating: coef) * UnsafeRawPointer(src).loadUnaligned(as: V8.self) + s
                                }
                                temp[i * alpha + bcol] = s
                            }
                        }
                        for i in 0..<mt {
                            for j in 0..<mt {
                                var s = V8()
                                for bcol in 0..<alpha {
                                    let coef = at[j * alpha + bcol]
                                    if coef == 0 { continue }
                                    s = V8(repeating: coef) * temp[i * alpha + bcol] + s
                                }
                                s = s + b
                                if clamp {
                                    s = s.replacing(with: lo, where: s .< lo)
                                    s = s.replacing(with: hi, where: s .> hi)
                                }
                                result[i * mt + j] = s
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
