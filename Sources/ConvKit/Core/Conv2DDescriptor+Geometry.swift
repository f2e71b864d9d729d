// Sizes, counts and validation derived from a descriptor.
//
// The derived properties never trap, even on an invalid descriptor: their arithmetic
// saturates at Int.min / Int.max (so an overflowing size reads as Int.max). Their values
// are meaningful only for a descriptor that passes validate().

extension Conv2DDescriptor {
    /// Kernel height including dilation: `(R - 1) * dilationH + 1`.
    public var effectiveKernelHeight: Int { satAdd(satMul(satSub(kernelHeight, 1), dilationHeight), 1) }
    /// Kernel width including dilation: `(S - 1) * dilationW + 1`.
    public var effectiveKernelWidth: Int { satAdd(satMul(satSub(kernelWidth, 1), dilationWidth), 1) }

    /// Output height `(H + padTop + padBottom - effectiveR) / strideH + 1`, rounded down.
    /// Meaningful only for a valid descriptor.
    public var outputHeight: Int {
        let span = satSub(satAdd(satAdd(inputHeight, padding.top), padding.bottom), effectiveKernelHeight)
        return strideHeight > 0 && span >= 0 ? satAdd(span / strideHeight, 1) : 0
    }

    /// Output width `(W + padLeft + padRight - effectiveS) / strideW + 1`, rounded down.
    public var outputWidth: Int {
        let span = satSub(satAdd(satAdd(inputWidth, padding.left), padding.right), effectiveKernelWidth)
        return strideWidth > 0 && span >= 0 ? satAdd(span / strideWidth, 1) : 0
    }

    /// The output size formula before rounding, along the height: `(H - F + 2P)/S + 1`.
    public var exactOutputHeight: Double {
        Double(satSub(satAdd(satAdd(inputHeight, padding.top), padding.bottom), effectiveKernelHeight))
            / Double(strideHeight) + 1
    }

    /// The output size formula before rounding, along the width.
    public var exactOutputWidth: Double {
        Double(satSub(satAdd(satAdd(inputWidth, padding.left), padding.right), effectiveKernelWidth))
            / Double(strideWidth) + 1
    }

    /// True when the filter tiles the padded input exactly along both axes (no leftover).
    /// False for a non-positive stride (an invalid descriptor).
    public var fitsExactly: Bool {
        guard strideHeight > 0 && strideWidth > 0 else { return false }
        return satSub(satAdd(satAdd(inputHeight, padding.top), padding.bottom), effectiveKernelHeight)
            % strideHeight == 0
            && satSub(satAdd(satAdd(inputWidth, padding.left), padding.right), effectiveKernelWidth) % strideWidth == 0
    }

    /// Input channels per group (`C / groups`; 0 for a non-positive group count).
    public var inputChannelsPerGroup: Int { groups > 0 ? inputChannels / groups : 0 }
    /// Output channels per group (`K / groups`; 0 for a non-positive group count).
    public var outputChannelsPerGroup: Int { groups > 0 ? outputChannels / groups : 0 }
    /// True for a depthwise convolution (`groups == C == K`).
    public var isDepthwise: Bool { groups > 1 && groups == inputChannels && groups == outputChannels }
    /// True for a 1x1 convolution.
    public var isPointwise: Bool { kernelHeight == 1 && kernelWidth == 1 }

    /// Input shape `[N, C, H, W]`.
    public var inputShape: [Int] { [batch, inputChannels, inputHeight, inputWidth] }
    /// Weight shape `[K, C / groups, R, S]`.
    public var weightShape: [Int] { [outputChannels, inputChannelsPerGroup, kernelHeight, kernelWidth] }
    /// Bias shape `[K]`.
    public var biasShape: [Int] { [outputChannels] }
    /// Output shape `[N, K, OH, OW]`.
    public var outputShape: [Int] { [batch, outputChannels, outputHeight, outputWidth] }

    /// Number of input elements `N * C * H * W`.
    public var inputCount: Int { satMul(satMul(satMul(batch, inputChannels), inputHeight), inputWidth) }
    /// Number of weights `K * (C / groups) * R * S` (`F * F * C * K` for a square F x F kernel and groups = 1).
    public var weightCount: Int {
        satMul(satMul(satMul(outputChannels, inputChannelsPerGroup), kernelHeight), kernelWidth)
    }
    /// Number of biases: K with a bias, else 0.
    public var biasCount: Int { hasBias ? outputChannels : 0 }
    /// Learnable parameters: weights plus biases.
    public var parameterCount: Int { satAdd(weightCount, biasCount) }
    /// Number of output elements `N * K * OH * OW`.
    public var outputCount: Int { satMul(satMul(satMul(batch, outputChannels), outputHeight), outputWidth) }

    /// Floating-point operations, counting a multiply-add as 2:
    /// `2 * N * K * OH * OW * (C / groups) * R * S` (bias and activation not counted).
    public var flops: Int {
        satMul(satMul(satMul(satMul(2, outputCount), inputChannelsPerGroup), kernelHeight), kernelWidth)
    }

    /// Receptive field of one output value on this layer's input: the dilated kernel extent
    /// `(effectiveR, effectiveS)`.
    public var receptiveField: (height: Int, width: Int) { (effectiveKernelHeight, effectiveKernelWidth) }

    /// Checks every hyperparameter and the sizes they imply.
    ///
    /// - Throws: ``ConvError`` naming the first offending value: a non-positive size,
    ///   stride, dilation or group count; negative padding; groups that do not divide
    ///   C or K; a dilated kernel larger than the padded input; an inexact fit when
    ///   ``rounding`` is ``OutputRounding/exact``; an invalid activation; or sizes
    ///   whose element counts or FLOPs overflow `Int`.
    public func validate() throws {
        let positive: [(String, Int)] = [
            ("batch", batch), ("input channels", inputChannels), ("input height", inputHeight),
            ("input width", inputWidth), ("output channels", outputChannels),
            ("kernel height", kernelHeight), ("kernel width", kernelWidth),
            ("stride height", strideHeight), ("stride width", strideWidth),
            ("dilation height", dilationHeight), ("dilation width", dilationWidth),
            ("groups", groups),
        ]
        for (name, value) in positive where value < 1 {
            throw ConvError.nonPositive(parameter: name, value: value)
        }
        for (side, value) in [("top", padding.top), ("left", padding.left),
                              ("bottom", padding.bottom), ("right", padding.right)] where value < 0 {
            throw ConvError.negativePadding(side: side, value: value)
        }
        if inputChannels % groups != 0 {
            throw ConvError.groupsDoNotDivide(groups: groups, parameter: "input channels", value: inputChannels)
        }
        if outputChannels % groups != 0 {
            throw ConvError.groupsDoNotDivide(groups: groups, parameter: "output channels", value: outputChannels)
        }
        try activation.validate()

        // Spatial extents, with overflow checks on every product.
        let effR = try checkedAdd(try checkedMul(kernelHeight - 1, dilationHeight, "dilated kernel height"), 1,
                                  "dilated kernel height")
        let effS = try checkedAdd(try checkedMul(kernelWidth - 1, dilationWidth, "dilated kernel width"), 1,
                                  "dilated kernel width")
        let paddedH = try checkedAdd(try checkedAdd(inputHeight, padding.top, "padded height"), padding.bottom,
                                     "padded height")
        let paddedW = try checkedAdd(try checkedAdd(inputWidth, padding.left, "padded width"), padding.right,
                                     "padded width")
        if effR > paddedH {
            throw ConvError.kernelLargerThanInput(axis: "height", effectiveKernel: effR, paddedInput: paddedH)
        }
        if effS > paddedW {
            throw ConvError.kernelLargerThanInput(axis: "width", effectiveKernel: effS, paddedInput: paddedW)
        }
        if rounding == .exact {
            if (paddedH - effR) % strideHeight != 0 {
                throw ConvError.inexactFit(axis: "height", input: inputHeight, effectiveKernel: effR,
                                           padding: padding.top + padding.bottom, stride: strideHeight)
            }
            if (paddedW - effS) % strideWidth != 0 {
                throw ConvError.inexactFit(axis: "width", input: inputWidth, effectiveKernel: effS,
                                           padding: padding.left + padding.right, stride: strideWidth)
            }
        }
        let oh = (paddedH - effR) / strideHeight + 1
        let ow = (paddedW - effS) / strideWidth + 1
        // Element counts of every buffer, and the FLOP count, must fit in Int.
        let plane = try checkedMul(inputHeight, inputWidth, "input plane")
        _ = try checkedMul(try checkedMul(batch, inputChannels, "input size"), plane, "input size")
        let outPlane = try checkedMul(oh, ow, "output plane")
        let out = try checkedMul(try checkedMul(batch, outputChannels, "output size"), outPlane, "output size")
        let taps = try checkedMul(try checkedMul(inputChannelsPerGroup, kernelHeight, "weights"), kernelWidth,
                                  "weights")
        _ = try checkedMul(outputChannels, taps, "weights")
        _ = try checkedMul(try checkedMul(out, taps, "FLOP count"), 2, "FLOP count")
        // Byte sizes must fit too (4 bytes per element).
        _ = try checkedMul(out, 4, "output bytes")
    }
}

@inline(__always)
func checkedMul(_ a: Int, _ b: Int, _ what: String) throws -> Int {
    let (r, o) = a.multipliedReportingOverflow(by: b)
    if o { throw ConvError.sizeOverflow(what: what, limit: "exceeds \(Int.max)") }
    return r
}

@inline(__always)
func checkedAdd(_ a: Int, _ b: Int, _ what: String) throws -> Int {
    let (r, o) = a.addingReportingOverflow(b)
    if o { throw ConvError.sizeOverflow(what: what, limit: "exceeds \(Int.max)") }
    return r
}

// Saturating arithmetic for the derived properties (never traps; clamps to Int.min / Int.max).
// Not variadic, so that the checks executions make (inputCount, outputCount) allocate nothing.

@inline(__always)
private func satAdd(_ a: Int, _ b: Int) -> Int {
    let (v, o) = a.addingReportingOverflow(b)
    return o ? (b > 0 ? Int.max : Int.min) : v
}

@inline(__always)
private func satSub(_ a: Int, _ b: Int) -> Int {
    let (v, o) = a.subtractingReportingOverflow(b)
    return o ? (b < 0 ? Int.max : Int.min) : v
}

@inline(__always)
private func satMul(_ a: Int, _ b: Int) -> Int {
    let (v, o) = a.multipliedReportingOverflow(by: b)
    return o ? ((a < 0) == (b < 0) ? Int.max : Int.min) : v
}
