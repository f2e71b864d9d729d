import ConvKit

/// A convolution layer from a real network, under a short stable name.
///
/// The name is part of every benchmark name, and benchmark names are the keys that
/// baselines are compared by: renaming a layer orphans its history.
struct Layer: Sendable {
    /// Short stable name (`vgg-conv3_2`).
    let name: String
    /// The layer's shape, with bias and no activation, as in the `convkit bench` suite.
    let descriptor: Conv2DDescriptor
}

/// The representative layers: one per kind of kernel path (large 3x3, 1x1, small-spatial
/// 3x3, depthwise, first layer with 3 input channels, batched), taken from the default
/// suite of `convkit bench` so the numbers can be compared with its table and the oneDNN
/// anchors in the notes.
enum Layers {
    /// VGG-16 conv3_2: 1 256 56x56 -> 256, 3x3 s1 p1 (3.7 GFLOP, the heavy one).
    static let vggConv3_2 = Layer(
        name: "vgg-conv3_2",
        descriptor: Conv2DDescriptor(channels: 256, height: 56, width: 56, filters: 256, size: 3, pad: 1))

    /// ResNet-50 bottleneck 1x1: 1 256 56x56 -> 64, 1x1 (pointwise).
    static let resnet1x1 = Layer(
        name: "resnet-1x1",
        descriptor: Conv2DDescriptor(channels: 256, height: 56, width: 56, filters: 64, size: 1))

    /// ResNet-50 res4 3x3: 1 256 14x14 -> 256, 3x3 s1 p1 (small spatial size).
    static let resnetRes4 = Layer(
        name: "resnet-res4",
        descriptor: Conv2DDescriptor(channels: 256, height: 14, width: 14, filters: 256, size: 3, pad: 1))

    /// MobileNet-style depthwise 3x3: 1 32 112x112, groups 32, s1 p1.
    static let depthwise = Layer(
        name: "depthwise-3x3",
        descriptor: Conv2DDescriptor(channels: 32, height: 112, width: 112, filters: 32, size: 3, pad: 1,
                                     groups: 32))

    /// The classic course's first layer: 1 3 32x32 -> 10, 5x5 s1 p2 (tiny; overhead-bound).
    static let cs231nFirst = Layer(
        name: "cs231n-first",
        descriptor: Conv2DDescriptor(channels: 3, height: 32, width: 32, filters: 10, size: 5, pad: 2))

    /// A CIFAR-style layer at batch 8: 8 32 16x16 -> 64, 3x3 s1 p1.
    static let cifarBatch8 = Layer(
        name: "cifar-batch8",
        descriptor: Conv2DDescriptor(batch: 8, channels: 32, height: 16, width: 16, filters: 64, size: 3,
                                     pad: 1))

    /// Every layer, benchmarked at one thread on each backend that supports it.
    static let all: [Layer] = [vggConv3_2, resnet1x1, resnetRes4, depthwise, cs231nFirst, cifarBatch8]
}
