import CKernels

/// A depthwise convolution (`groups == C == K`) prepared by the `direct` backend.
///
/// Each channel is convolved with its own `R x S` filter. Per output row, the columns whose
/// taps all lie inside the input run through a row kernel vectorised along the output width
/// (AVX2+FMA in C, or portable Swift); border columns and rows skip the padded taps.
/// Work is split over `(image, channel)` planes.
final class DepthwiseConvolution: PreparedConvolution, @unchecked Sendable {
    let descriptor: Conv2DDescriptor
    let isa: KernelISA
    private let weights: AlignedBuffer   // K x R x S
    private let bias: AlignedBuffer      // K

    init(descriptor: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>?,
         isa: KernelISA) {
        self.descriptor = descriptor
        self.isa = isa
        self.weights = AlignedBuffer(copying: weights)
        self.bias = AlignedBuffer(count: descriptor.outputChannels)
        if let bias, descriptor.hasBias { self.bias.base.update(from: bias.baseAddress!, count: descriptor.outputChannels) }
    }

    var backendName: String { "direct" }
    var implementation: String { "depthwise row kernel (\(isa.rawValue))" }
    var workspaceBytes: Int { 0 }

    func execute(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
                 threads: Int?) throws {
        let threads = try checkedExecutionArguments(input: input, output: output, threads: threads)
        let d = descriptor
        let x = input.baseAddress!, y = output.baseAddress!
        let planes = d.batch * d.outputChannels
        ParallelFor.run(tasks: planes, threads: threads) { _, range in
            for plane in range {
                let k = plane % d.outputChannels
                convolvePlane(x: x + plane * d.inputHeight * d.inputWidth,
                              y: y + plane * d.outputHeight * d.outputWidth,
                              w: weights.base + k * d.kernelHeight * d.kernelWidth, bias: bias.base[k])
            }
        }
    }

    @inline(__always)
    private func convolvePlane(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, w: UnsafePointer<Float>,
                               bias: Float) {
        let d = descriptor
        let H = d.inputHeight, W = d.inputWidth, OH = d.outputHeight, OW = d.outputWidth
        let R = d.kernelHeight, S = d.kernelWidth
        let sh = d.strideHeight, sw = d.strideWidth, dh = d.dilationHeight, dw = d.dilationWidth
        let pt = d.padding.top, pl = d.padding.left
        // Output columns [interiorLo, interiorHi) have every horizontal tap inside the input.
        let interiorLo = Swift.min((pl + sw - 1) / sw, OW)
        let lastTap = (S - 1) * dw
        let hiNumerator = W - 1 + pl - lastTap
        let interiorHi = hiNumerator < 0 ? interiorLo : Swift.max(Swift.min(hiNumerator / sw + 1, OW), interiorLo)
        for oh in 0..<OH {
            let row = y + oh * OW
            row.update(repeating: bias, count: OW)
            let top = oh * sh - pt
            // Valid kernel rows r: 0 <= top + r * dh < H.
            let rLo = top >= 0 ? 0 : (-top + dh - 1) / dh
            let rHi = Swift.min(R, top >= H ? 0 : (H - 1 - top) / dh + 1)
            if rLo >= rHi { applyActivation(row, OW); continue }
            // Border columns, scalar with bounds checks.
            for ow in 0..<OW where ow < interiorLo || ow >= interiorHi {
                var acc = row[ow]
                for r in rLo..<rHi {
                    let xr = x + (top + r * dh) * W
                    for s in 0..<S {
                        let iw = ow * sw - pl + s * dw
                        if iw >= 0 && iw < W { acc = w[r * S + s] * xr[iw] + acc }
                    }
                }
                row[ow] = acc
            }
            if interiorLo < interiorHi {
                let xStart = x + (top + rLo * dh) * W + interiorLo * sw - pl
                let count = interiorHi - interiorLo
                switch isa {
                case .avx2fma:
                    ck_f32_dwconv_row_ukernel__avx2_fma(count, rHi - rLo, S, xStart, dh * W, sw, dw, w + rLo * S,
                                                        row + interiorLo)
                case .portable:
                    portableDepthwiseRow(count: count, kh: rHi - rLo, kw: S, x: xStart, xRowStride: dh * W,
                                         stride: sw, dilation: dw, w: w + rLo * S, y: row + interiorLo)
                }
            }
            applyActivation(row, OW)
        }
    }

    @inline(__always)
    private func applyActivation(_ row: UnsafeMutablePointer<Float>, _ count: Int) {
        let act = descriptor.activation
        if act == .none { return }
        for i in 0..<count { row[i] = act.apply(row[i]) }
    }
}

/// Portable version of `ck_f32_dwconv_row_ukernel__avx2_fma` (multiply then add).
func portableDepthwiseRow(count: Int, kh: Int, kw: Int, x: UnsafePointer<Float>, xRowStride: Int, stride: Int,
                          dilation: Int, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    typealias V = SIMD8<Float>
    var j = 0
    if stride == 1 {
        while j + 8 <= count {
            var acc = UnsafeRawPointer(y + j).loadUnaligned(as: V.self)
            for r in 0..<kh {
                let xr = x + r * xRowStride + j
                for s in 0..<kw {
                    let xv = UnsafeRawPointer(xr + s * dilation).loadUnaligned(as: V.self)
                    acc = V(repeating: w[r * kw + s]) * xv + acc
                }
            }
            UnsafeMutableRawPointer(y + j).storeBytes(of: acc, as: V.self)
            j += 8
        }
    }
    while j < count {
        var acc = y[j]
        for r in 0..<kh {
            let xr = x + r * xRowStride + j * stride
            for s in 0..<kw { acc = w[r * kw + s] * xr[s * dilation] + acc }
        }
        y[j] = acc
        j += 1
    }
}
