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

    /// Runs `window` for every output position of every plane, planes split over threads.
    /// `window(plane, y0, y1, x0, x1, paddedArea)` gets the clipped input window rows `y0..<y1`,
    /// columns `x0..<x1` and the window's area clipped to the padded input (PyTorch's divisor with
    /// `count_include_pad`), and returns the output value.
    func forEachWindow(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, shape: TensorShape,
                       threads: Int, _ window: (UnsafePointer<Float>, Int, Int, Int, Int, Int) -> Float) throws {
        let out = try outputShape(for: shape)
        let planes = shape.n * shape.c
        let inPlane = shape.h * shape.w, outPlane = out.h * out.w
        let work = planes * outPlane * kernelHeight * kernelWidth
        let t = work < 1 << 15 ? 1 : threads
        let (h, w) = (shape.h, shape.w)
        ParallelFor.run(items: planes, threads: t) { _, range in
            for p in range {
                let src = input + p * inPlane
                let dst = output + p * outPlane
                for oy in 0..<out.h {
                    let ys = oy * strideHeight - padding.top
                    let y0 = Swift.max(ys, 0), y1 = Swift.min(ys + kernelHeight, h)
                    let ph = Swift.min(ys + kernelHeight, h + padding.bottom) - ys
                    for ox in 0..<out.w {
                        let xs = ox * strideWidth - padding.left
                        let x0 = Swift.max(xs, 0), x1 = Swift.min(xs + kernelWidth, w)
                        let pw = Swift.min(xs + kernelWidth, w + padding.right) - xs
                        dst[oy * out.w + ox] = window(src, y0, y1, x0, x1, ph * pw)
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
