import ConvKit
import Testing

@Suite("Conv2DDescriptor")
struct DescriptorTests {
    @Test("The square initialiser spells out the same descriptor as the full one")
    func squareInit() {
        let square = Conv2DDescriptor(batch: 2, channels: 3, height: 32, width: 30, filters: 10, size: 5,
                                      stride: 2, pad: 1, dilation: 2, groups: 1, hasBias: false,
                                      activation: .relu)
        let full = Conv2DDescriptor(
            batch: 2, inputChannels: 3, inputHeight: 32, inputWidth: 30, outputChannels: 10,
            kernelHeight: 5, kernelWidth: 5, strideHeight: 2, strideWidth: 2,
            padding: Padding(top: 1, left: 1, bottom: 1, right: 1),
            dilationHeight: 2, dilationWidth: 2, groups: 1, hasBias: false, activation: .relu)
        #expect(square == full)
        #expect(square.hashValue == full.hashValue)
        #expect(square.rounding == .floor)
    }

    @Test("Defaults: batch 1, stride 1, no padding, no dilation, one group, bias, no activation")
    func defaults() {
        let d = Conv2DDescriptor(inputChannels: 3, inputHeight: 8, inputWidth: 8, outputChannels: 4,
                                 kernelHeight: 3, kernelWidth: 3)
        #expect(d.batch == 1)
        #expect(d.strideHeight == 1 && d.strideWidth == 1)
        #expect(d.padding == .zero)
        #expect(d.dilationHeight == 1 && d.dilationWidth == 1)
        #expect(d.groups == 1)
        #expect(d.hasBias)
        #expect(d.activation == .none)
    }

    @Test("Layouts: NCHW input, KCRS weights, K bias, NKHW output")
    func shapes() {
        let d = Conv2DDescriptor(batch: 2, inputChannels: 6, inputHeight: 9, inputWidth: 7, outputChannels: 4,
                                 kernelHeight: 3, kernelWidth: 2, groups: 2)
        #expect(d.inputShape == [2, 6, 9, 7])
        #expect(d.weightShape == [4, 3, 3, 2])
        #expect(d.biasShape == [4])
        #expect(d.outputShape == [2, 4, 7, 6])
        #expect(d.inputCount == 2 * 6 * 9 * 7)
        #expect(d.weightCount == 4 * 3 * 3 * 2)
        #expect(d.biasCount == 4)
        #expect(d.outputCount == 2 * 4 * 7 * 6)
    }

    @Test("The description names every hyperparameter that differs from the default")
    func description() {
        let plain = Conv2DDescriptor(channels: 3, height: 32, width: 32, filters: 10, size: 5, pad: 2)
        #expect(plain.description == "N1 C3 32x32 -> K10 5x5 s1 p2")
        let everything = Conv2DDescriptor(
            batch: 2, inputChannels: 4, inputHeight: 9, inputWidth: 8, outputChannels: 6,
            kernelHeight: 3, kernelWidth: 3, strideHeight: 2, strideWidth: 1,
            padding: Padding(top: 1, left: 0, bottom: 2, right: 1), dilationHeight: 1, dilationWidth: 2,
            groups: 2, hasBias: false, activation: .relu6)
        #expect(everything.description == "N2 C4 9x8 -> K6 3x3 s2,1 p1,0,2,1 d1,2 g2 nobias clamp(0.0,6.0)")
    }

    @Test("Padding initialisers and description")
    func padding() {
        #expect(Padding(3) == Padding(top: 3, left: 3, bottom: 3, right: 3))
        #expect(Padding(height: 1, width: 2) == Padding(top: 1, left: 2, bottom: 1, right: 2))
        #expect(Padding(height: 1, width: 2).isSymmetric)
        #expect(!Padding(top: 1, left: 0, bottom: 0, right: 0).isSymmetric)
        #expect(Padding(2).description == "2")
        #expect(Padding(height: 1, width: 2).description == "1,2,1,2")
    }

    @Test("Activation: relu, relu6 and clamp apply element-wise and keep NaN")
    func activation() throws {
        #expect(Activation.relu.apply(-1) == 0)
        #expect(Activation.relu.apply(2.5) == 2.5)
        #expect(Activation.relu6.apply(7) == 6)
        #expect(Activation.relu6.apply(-3) == 0)
        #expect(Activation.clamp(min: -1, max: 1).apply(-0.5) == -0.5)
        #expect(Activation.none.apply(-7) == -7)
        #expect(Activation.relu.apply(.nan).isNaN)
        #expect(Activation.relu6.apply(.nan).isNaN)
        #expect(Activation.relu.bounds.lower == 0 && Activation.relu.bounds.upper == .infinity)
        try Activation.clamp(min: 1, max: 1).validate()
    }

    @Test("Depthwise and pointwise predicates")
    func predicates() {
        #expect(Conv2DDescriptor(channels: 8, height: 4, width: 4, filters: 8, size: 3, groups: 8).isDepthwise)
        #expect(!Conv2DDescriptor(channels: 8, height: 4, width: 4, filters: 16, size: 3, groups: 8).isDepthwise)
        #expect(!Conv2DDescriptor(channels: 1, height: 4, width: 4, filters: 1, size: 3, groups: 1).isDepthwise)
        #expect(Conv2DDescriptor(channels: 8, height: 4, width: 4, filters: 16, size: 1).isPointwise)
        #expect(!Conv2DDescriptor(channels: 8, height: 4, width: 4, filters: 16, size: 3).isPointwise)
    }
}
