
/// Window size, stride and padding of a pooling layer (``MaxPool2D``, ``AvgPool2D``).
///
/// Output size as PyTorch and ONNX:
/// `OH = (H + padTop + padBottom - kernelHeight) / strideHeight + 1`, rounded down, or with
/// ``ceilMode`` rounded up, dropping a last window that would start past the input and its top
/// (left) padding. Padding may be at most half the window along each axis (PyTorch's rule), so
/// every window holds at least one input value.
public struct PoolGeometry: Hashable, Sendable {
    public var kernelHeight: Int, kernelWidth: Int
    public var strideHeight: Int, strideWidth: Int
    public var padding: Padding
    /// Round the output size up instead of down (PyTorch's `ceil_mode`, ONNX's `ceil_mode`).
    public var ceilMode: Bool = false

    /// - Throws: ``ConvError`` for a non-positive size or stride, negative padding or padding
    ///   larger than half the window.
    public init(kernelHeight: Int, kernelWidth: Int, strideHeight: Int, strideWidth: Int,
                padding: Padding = .zero, ceilMode: Bool = false) throws {
        for (p, v) in [("pool height", kernelHeight), ("pool width", kernelWidth),
                       ("pool stride height", strideHeight), ("pool stride width", strideWidth)] where v < 1 {
            throw ConvError.nonPositive(parameter: p, value: v)
        }
        for (side, v) in [("top", padding.top), ("left", padding.left), ("bottom", padding.bottom),
                          ("right", padding.right)] {
            if v < 0 { throw ConvError.negativePadding(side: side, value: v) }
            let k = side == "top" || side == "bottom" ? kernelHeight : kernelWidth
            if v > k / 2 {
                throw ConvError.invalidArgument("pool padding \(side) \(v) is more than half the window \(k)")
            }
        }
        self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
        self.strideHeight = strideHeight; self.strideWidth = strideWidth
        self.padding = padding
        self.ceilMode = ceilMode
    }

    /// A square window of `size` with stride `stride` (default: `size`) and padding `pad`.
    public init(size: Int, stride: Int? = nil, pad: Int = 0, ceilMode: Bool = false) throws {
        try self.init(kernelHeight: size, kernelWidth: size, strideHeight: stride ?? size,
                      strideWidth: stride ?? size, padding: Padding(pad), ceilMode: ceilMode)
    }

    // MARK: Common windows (no validation needed, so no `try`)

    /// 2x2 windows, stride 2, no padding (LeNet, VGG: halves H and W).
    public static let window2x2Stride2 = PoolGeometry(valid: 2, 2, 0)
    /// 3x3 windows, stride 2, no padding (AlexNet, SqueezeNet).
    public static let window3x3Stride2 = PoolGeometry(valid: 3, 2, 0)
    /// 3x3 windows, stride 2, padding 1 (ResNet's stem max pooling).
    public static let window3x3Stride2Pad1 = PoolGeometry(valid: 3, 2, 1)
    /// 3x3 windows, stride 1, padding 1 (same size: Inception's pooling branches).
    public static let window3x3Stride1Pad1 = PoolGeometry(valid: 3, 1, 1)

    /// A square geometry known to be valid (positive size and stride, padding at most half).
    private init(valid size: Int, _ stride: Int, _ pad: Int) {
        kernelHeight = size; kernelWidth = size
        strideHeight = stride; strideWidth = stride
        padding = Padding(pad)
    }

    /// Output size along one axis (see the type's documentation).
    func outputSize(input: Int, kernel: Int, stride: Int, padBefore: Int, padAfter: Int) -> Int {
        let span = input + padBefore + padAfter - kernel
        if !ceilMode { return span / stride + 1 }
        var out = (span + stride - 1) / stride + 1
        if (out - 1) * stride >= input + padBefore { out -= 1 }
        return out
    }

    /// The output shape for `input`.
    /// - Throws: ``ConvError/kernelLargerThanInput(axis:effectiveKernel:paddedInput:)``.
    public func outputShape(for input: TensorShape) throws -> TensorShape {
        let ph = input.h + padding.top + padding.bottom, pw = input.w + padding.left + padding.right
        if kernelHeight > ph { throw ConvError.kernelLargerThanInput(axis: "height", effectiveKernel: kernelHeight, paddedInput: ph) }
        if kernelWidth > pw { throw ConvError.kernelLargerThanInput(axis: "width", effectiveKernel: kernelWidth, paddedInput: pw) }
        return TensorShape(n: input.n, c: input.c,
                           h: outputSize(input: input.h, kernel: kernelHeight, stride: strideHeight,
                                         padBefore: padding.top, padAfter: padding.bottom),
                           w: outputSize(input: input.w, kernel: kernelWidth, stride: strideWidth,
                                         padBefore: padding.left, padAfter: padding.right))
    }

    var receptiveField: LayerReceptiveField {
        LayerReceptiveField(height: .init(kernel: kernelHeight, stride: strideHeight),
                            width: .init(kernel: kernelWidth, stride: strideWidth))
    }

    /// `p[i * stride]` for lanes i = 0..<8: one load (stride 1), the even half of a 16-float load
    /// (stride 2), else lane by lane.
    @inline(__always)
    static func lanes(_ p: UnsafePointer<Float>, _ stride: Int) -> SIMD8<Float> {
        if stride == 1 { return UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }
        if stride == 2 { return UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self).evenHalf }
        var v = SIMD8<Float>()
        for i in 0..<8 { v[i] = p[i * stride] }
        return v
    }

    /// Pools every plane of `input` (planes split over threads): for each output row, the rows
    /// of its window (clipped to the input) are first combined column by column into a row
    /// buffer (SIMD), then each output combines its window's columns. Max pooling propagates NaN;
    /// average pooling divides by the window's area clipped to the padded input
    /// (`countIncludePad`) or by its number of input values.
    func pool(max isMax: Bool, countIncludePad: Bool, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
              shape: TensorShape, threads: Int) throws {
        let out = try outputShape(for: shape)
        let planes = shape.n * shape.c
        let (h, w) = (shape.h, shape.w)
        let inPlane = h * w, outPlane = out.h * out.w
        let work = planes * outPlane * kernelHeight * kernelWidth
        let t = ThreadPolicy.threads(requested: threads, elements: work + planes * inPlane)
        let g = self
        let planeKernel = KernelTable.selected.poolPlane
        ParallelFor.run(items: planes, threads: t) { _, range in
            // Room past the row for the 16-float loads of stride-2 windows (their extra lanes are
            // never used).
            withUnsafeTemporaryAllocation(of: Float.self, capacity: w + 32) { rowBuffer in
                let row = rowBuffer.baseAddress!
                for p in range {
                    let src = input + p * inPlane
                    let dst = output + p * outPlane
                    if let planeKernel {
                        planeKernel(isMax ? 1 : 0, countIncludePad ? 1 : 0, src, h, w, out.h, out.w, g.kernelHeight,
                                    g.kernelWidth, g.strideHeight, g.strideWidth, g.padding.top, g.padding.left,
                                    g.padding.bottom, g.padding.right, row, dst)
                        continue
                    }
                    for oy in 0..<out.h {
                        let ys = oy * g.strideHeight - g.padding.top
                        let y0 = Swift.max(ys, 0), y1 = Swift.min(ys + g.kernelHeight, h)
                        let ph = Swift.min(ys + g.kernelHeight, h + g.padding.bottom) - ys
                        // Combine rows y0..<y1 column by column.
                        row.update(from: src + y0 * w, count: w)
                        if y1 - y0 > 1 {
                            for y in (y0 + 1)..<y1 {
                                let r = src + y * w
                                var x = 0
                                while x + 8 <= w {
                                    let a = UnsafeRawPointer(r + x).loadUnaligned(as: SIMD8<Float>.self)
                                    var m = UnsafeRawPointer(row + x).loadUnaligned(as: SIMD8<Float>.self)
                                    if isMax { m.replace(with: a, where: (a .> m) .| (a .!= a)) } else { m = m + a }
                                    UnsafeMutableRawPointer(row + x).storeBytes(of: m, as: SIMD8<Float>.self)
                                    x += 8
                                }
                                while x < w {
                                    let a = r[x]
                                    if isMax { if a > row[x] || a.isNaN { row[x] = a } } else { row[x] += a }
                                    x += 1
                                }
                            }
                        }
                        let o = dst + oy * out.w
                        let sw = g.strideWidth, kw = g.kernelWidth, pl = g.padding.left
                        var ox = 0
                        while ox < out.w {
                            let xs = ox * sw - pl
                            // Eight outputs whose windows are inside the row: lanes gathered per
                            // window column, combined branch-free.
                            if xs >= 0 && ox + 8 <= out.w && (ox + 7) * sw - pl + kw <= w {
                                var m = Self.lanes(row + xs, sw)
                                if kw > 1 {
                                    for j in 1..<kw {
                                        let a = Self.lanes(row + xs + j, sw)
                                        if isMax { m.replace(with: a, where: (a .> m) .| (a .!= a)) } else { m = m + a }
                                    }
                                }
                                if !isMax {
                                    // Interior windows: the area is the kernel's (clipped rows only).
                                    m = m / SIMD8(repeating: Float(countIncludePad ? ph * kw : (y1 - y0) * kw))
                                }
                                UnsafeMutableRawPointer(o + ox).storeBytes(of: m, as: SIMD8<Float>.self)
                                ox += 8
                                continue
                            }
                            let x0 = Swift.max(xs, 0), x1 = Swift.min(xs + kw, w)
                            var m = row[x0]
                            if x1 - x0 > 1 {
                                for x in (x0 + 1)..<x1 {
                                    let a = row[x]
                                    if isMax { if a > m || a.isNaN { m = a } } else { m += a }
                                }
                            }
                            if !isMax {
                                let pw = Swift.min(xs + kw, w + g.padding.right) - xs
                                m /= Float(countIncludePad ? ph * pw : (y1 - y0) * (x1 - x0))
                            }
                            o[ox] = m
                            ox += 1
                        }
                    }
                }
            }
        }
    }
}

/// A pooling layer: its shape, FLOPs (one operation per window element) and receptive field
/// all follow from its ``PoolGeometry``.
public protocol PoolingLayer: Layer {
    var geometry: PoolGeometry { get }
}

extension PoolingLayer {
    public func outputShape(for input: TensorShape) throws -> TensorShape { try geometry.outputShape(for: input) }
    public func flops(for input: TensorShape) -> Int {
        ((try? geometry.outputShape(for: input).count) ?? 0) * geometry.kernelHeight * geometry.kernelWidth
    }
    public func receptiveField(for input: TensorShape) -> LayerReceptiveField? { geometry.receptiveField }
}
