import ConvKit
import Testing

@Suite("Receptive field")
struct ReceptiveFieldTests {
    @Test("L stride-1 KxK layers see 1 + L * (K - 1)")
    func stackOfStrideOne() {
        // Three 3x3 layers see 7x7, like one 7x7 layer.
        #expect(ReceptiveField.ofStack(layers: 3, kernel: 3) == 7)
        #expect(ReceptiveField.ofStack(layers: 2, kernel: 3) == 5)
        for layers in 1...6 {
            for kernel in [1, 3, 5, 7] {
                #expect(ReceptiveField.ofStack(layers: layers, kernel: kernel) == 1 + layers * (kernel - 1))
            }
        }
    }

    @Test("An empty stack sees one pixel; one layer sees its dilated kernel")
    func trivial() {
        #expect(ReceptiveField.of([]) == 1)
        #expect(ReceptiveField.of([.init(kernel: 5)]) == 5)
        #expect(ReceptiveField.of([.init(kernel: 3, stride: 4, dilation: 2)]) == 5)
        #expect(ReceptiveField.Layer(kernel: 3, dilation: 3).effectiveKernel == 7)
    }

    @Test("Strides multiply the growth of later layers")
    func strided() {
        // 1 + (3-1)*1 + (3-1)*1 + (3-1)*2: the third layer's steps are 2 input pixels apart.
        #expect(ReceptiveField.of([.init(kernel: 3), .init(kernel: 3, stride: 2), .init(kernel: 3)]) == 9)
        // AlexNet conv1 (11, s4), pool1 (3, s2), conv2 (5): 1 + 10 + 2*4 + 4*8 = 51.
        #expect(ReceptiveField.of([.init(kernel: 11, stride: 4), .init(kernel: 3, stride: 2), .init(kernel: 5)])
                == 51)
        // The last layer's stride does not matter.
        #expect(ReceptiveField.of([.init(kernel: 3), .init(kernel: 3, stride: 7)]) == 5)
    }

    @Test("Dilated 3x3 layers with dilations 1, 2, 4 see 15x15")
    func dilatedStack() {
        let field = ReceptiveField.of([.init(kernel: 3, dilation: 1), .init(kernel: 3, dilation: 2),
                                       .init(kernel: 3, dilation: 4)])
        #expect(field == 1 + 2 + 4 + 8)
    }

    @Test("A descriptor's receptive field is its dilated kernel extent")
    func descriptor() {
        let d = Conv2DDescriptor(inputChannels: 1, inputHeight: 20, inputWidth: 20, outputChannels: 1,
                                 kernelHeight: 3, kernelWidth: 5, dilationHeight: 2, dilationWidth: 1)
        #expect(d.receptiveField.height == 5)
        #expect(d.receptiveField.width == 5)
    }
}
