import ConvKit
import Testing

/// Output sizes, fits, parameter and FLOP counts on the classic course examples.
@Suite("Geometry")
struct GeometryTests {
    /// 7x7 input, 3x3 filter: (7 - 3)/S + 1 gives 5 at stride 1, 3 at stride 2, and 2.33 at stride 3.
    @Test("7x7 input, 3x3 filter at strides 1, 2, 3", arguments: [(1, 5.0), (2, 3.0), (3, 7.0 / 3.0)])
    func classicStrides(stride: Int, exact: Double) throws {
        let d = Conv2DDescriptor(channels: 1, height: 7, width: 7, filters: 1, size: 3, stride: stride)
        #expect(abs(d.exactOutputHeight - exact) < 1e-12)
        #expect(abs(d.exactOutputWidth - exact) < 1e-12)
        #expect(d.outputHeight == Int(exact.rounded(.down)))
        #expect(d.outputWidth == Int(exact.rounded(.down)))
        #expect(d.fitsExactly == (exact == exact.rounded()))
        try d.validate()  // the default (floor) accepts all three
    }

    @Test("Stride 3 does not fit: floor gives 2, .exact throws naming 2.33")
    func strideThreeDoesNotFit() throws {
        var d = Conv2DDescriptor(channels: 3, height: 7, width: 7, filters: 2, size: 3, stride: 3)
        #expect(!d.fitsExactly)
        #expect(d.outputShape == [1, 2, 2, 2])
        d.rounding = .exact
        let error = #expect(throws: ConvError.self) { try d.validate() }
        #expect(error == .inexactFit(axis: "height", input: 7, effectiveKernel: 3, padding: 0, stride: 3))
        #expect(error?.description.contains("(7 - 3 + 0)/3 + 1 = 2.33") == true)
    }

    @Test("Padding 1 keeps a 7x7 input 7x7 with a 3x3 filter")
    func paddingKeepsSize() throws {
        let d = Conv2DDescriptor(channels: 1, height: 7, width: 7, filters: 1, size: 3, stride: 1, pad: 1)
        try d.validate()
        #expect(d.outputHeight == 7 && d.outputWidth == 7)
        #expect(d.fitsExactly)
    }

    @Test("32x32x3 with 10 5x5 filters, stride 1, pad 2: 32x32x10 and 760 parameters")
    func courseExample() throws {
        let d = Conv2DDescriptor(channels: 3, height: 32, width: 32, filters: 10, size: 5, stride: 1, pad: 2)
        try d.validate()
        #expect(d.outputShape == [1, 10, 32, 32])
        #expect(d.weightCount == 5 * 5 * 3 * 10)
        #expect(d.parameterCount == 5 * 5 * 3 * 10 + 10)
        #expect(d.parameterCount == 760)
        #expect(d.flops == 2 * 10 * 32 * 32 * 3 * 5 * 5)
    }

    @Test("1x1 convolution from 64 to 32 channels on 56x56")
    func pointwise() throws {
        let d = Conv2DDescriptor(channels: 64, height: 56, width: 56, filters: 32, size: 1)
        try d.validate()
        #expect(d.isPointwise)
        #expect(d.outputShape == [1, 32, 56, 56])
        #expect(d.parameterCount == 64 * 32 + 32)  // 2080
        #expect(d.parameterCount == 2080)
        // 2 FLOPs per multiply-add, one per (output value, input channel).
        #expect(d.flops == 2 * (32 * 56 * 56) * 64)
        #expect(d.flops == 12_845_056)
    }

    @Test("AlexNet conv1: 227x227x3, 96 11x11 filters, stride 4: 55x55x96, 34944 parameters")
    func alexNetConv1() throws {
        let d = Conv2DDescriptor(channels: 3, height: 227, width: 227, filters: 96, size: 11, stride: 4)
        try d.validate()
        #expect(d.fitsExactly)
        #expect(d.exactOutputHeight == 55)
        #expect(d.outputShape == [1, 96, 55, 55])
        #expect(d.parameterCount == 11 * 11 * 3 * 96 + 96)
        #expect(d.parameterCount == 34944)
    }

    @Test("Dilation enlarges the kernel to (F - 1) * D + 1")
    func dilation() throws {
        // 3x3 with dilation 2 covers 5x5: (7 - 5)/1 + 1 = 3; with pad 2, (7 - 5 + 4)/1 + 1 = 7.
        var d = Conv2DDescriptor(channels: 1, height: 7, width: 7, filters: 1, size: 3, dilation: 2)
        #expect(d.effectiveKernelHeight == 5 && d.effectiveKernelWidth == 5)
        #expect(d.outputHeight == 3 && d.outputWidth == 3)
        #expect(d.receptiveField.height == 5 && d.receptiveField.width == 5)
        d.padding = Padding(2)
        #expect(d.outputHeight == 7 && d.outputWidth == 7)
        // FLOPs and parameters count taps, not the dilated extent.
        #expect(d.flops == 2 * 7 * 7 * 9)
        #expect(d.weightCount == 9)
        try d.validate()
        // Rectangular dilation on a rectangular kernel.
        let r = Conv2DDescriptor(inputChannels: 1, inputHeight: 10, inputWidth: 10, outputChannels: 1,
                                 kernelHeight: 2, kernelWidth: 3, dilationHeight: 3, dilationWidth: 2)
        #expect(r.effectiveKernelHeight == 4 && r.effectiveKernelWidth == 5)
        #expect(r.outputHeight == 7 && r.outputWidth == 6)
    }

    @Test("Asymmetric padding and rectangular strides, per axis")
    func asymmetric() throws {
        let d = Conv2DDescriptor(
            inputChannels: 2, inputHeight: 5, inputWidth: 6, outputChannels: 4,
            kernelHeight: 3, kernelWidth: 2, strideHeight: 2, strideWidth: 1,
            padding: Padding(top: 1, left: 0, bottom: 0, right: 2))
        try d.validate()
        // Height: (5 + 1 + 0 - 3)/2 + 1 = 2.5 -> 2; width: (6 + 0 + 2 - 2)/1 + 1 = 7.
        #expect(d.exactOutputHeight == 2.5)
        #expect(d.outputHeight == 2)
        #expect(d.outputWidth == 7)
        #expect(!d.fitsExactly)
        #expect(d.outputShape == [1, 4, 2, 7])
        #expect(d.weightShape == [4, 2, 3, 2])
    }

    @Test("Padding.same gives ceil(input / stride) outputs, extra padding bottom/right")
    func samePadding() throws {
        #expect(Padding.same(inputHeight: 7, inputWidth: 7, kernelHeight: 3, kernelWidth: 3) == Padding(1))
        // Even kernel: total padding 3, split 1 before and 2 after.
        #expect(Padding.same(inputHeight: 8, inputWidth: 8, kernelHeight: 4, kernelWidth: 4)
                == Padding(top: 1, left: 1, bottom: 2, right: 2))
        // Stride 2 on 8: output 4, total (4 - 1) * 2 + 3 - 8 = 1, all of it after.
        #expect(Padding.same(inputHeight: 8, inputWidth: 8, kernelHeight: 3, kernelWidth: 3,
                             strideHeight: 2, strideWidth: 2) == Padding(top: 0, left: 0, bottom: 1, right: 1))
        // Whatever the size, kernel, stride and dilation, the output is ceil(input / stride).
        for input in 1...12 {
            for kernel in 1...5 {
                for stride in 1...3 {
                    for dilation in 1...2 {
                        let p = Padding.same(inputHeight: input, inputWidth: input + 1,
                                             kernelHeight: kernel, kernelWidth: kernel,
                                             strideHeight: stride, strideWidth: stride,
                                             dilationHeight: dilation, dilationWidth: dilation)
                        let d = Conv2DDescriptor(
                            inputChannels: 1, inputHeight: input, inputWidth: input + 1, outputChannels: 1,
                            kernelHeight: kernel, kernelWidth: kernel, strideHeight: stride, strideWidth: stride,
                            padding: p, dilationHeight: dilation, dilationWidth: dilation)
                        try d.validate()
                        #expect(d.outputHeight == (input + stride - 1) / stride)
                        #expect(d.outputWidth == (input + 1 + stride - 1) / stride)
                        #expect(p.bottom - p.top == 0 || p.bottom - p.top == 1)
                    }
                }
            }
        }
    }

    @Test("Groups divide the parameters and FLOPs; depthwise")
    func groups() throws {
        let depthwise = Conv2DDescriptor(channels: 32, height: 112, width: 112, filters: 32, size: 3, pad: 1,
                                         groups: 32)
        try depthwise.validate()
        #expect(depthwise.isDepthwise)
        #expect(depthwise.weightShape == [32, 1, 3, 3])
        #expect(depthwise.parameterCount == 32 * 9 + 32)
        #expect(depthwise.flops == 2 * 32 * 112 * 112 * 9)
        let grouped = Conv2DDescriptor(channels: 8, height: 4, width: 4, filters: 6, size: 1, groups: 2)
        #expect(!grouped.isDepthwise)
        #expect(grouped.inputChannelsPerGroup == 4 && grouped.outputChannelsPerGroup == 3)
        #expect(grouped.parameterCount == 8 * 6 / 2 + 6)
    }

    @Test("Batch scales FLOPs and element counts, not parameters")
    func batch() throws {
        let one = Conv2DDescriptor(batch: 1, channels: 3, height: 9, width: 9, filters: 4, size: 3)
        let eight = Conv2DDescriptor(batch: 8, channels: 3, height: 9, width: 9, filters: 4, size: 3)
        #expect(eight.flops == 8 * one.flops)
        #expect(eight.inputCount == 8 * one.inputCount)
        #expect(eight.outputCount == 8 * one.outputCount)
        #expect(eight.parameterCount == one.parameterCount)
        let noBias = Conv2DDescriptor(channels: 3, height: 9, width: 9, filters: 4, size: 3, hasBias: false)
        #expect(noBias.biasCount == 0 && noBias.parameterCount == noBias.weightCount)
    }
}
