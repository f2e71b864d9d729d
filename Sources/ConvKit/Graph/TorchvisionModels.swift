/// torchvision's classification architectures, built with ``GraphBuilder`` with torchvision's
/// module structure and `state_dict` names, so that
/// `safetensors.torch.save_file(torchvision.models.resnet50().state_dict(), "r50.safetensors")`
/// loads with ``GraphModel/loadWeights(path:)`` as it is (`num_batches_tracked` is ignored).
///
/// All take `3 x 224 x 224` samples by default (any size the network's strides allow works:
/// the final pooling is global, as torchvision's adaptive average pooling to 1x1) and return the
/// logits `[N, 1000, 1, 1]` (no softmax), as torchvision does.
///
/// - `resnet18`, `resnet34` (BasicBlock x [2,2,2,2] / [3,4,6,3]), `resnet50` (Bottleneck x
///   [3,4,6,3], stride on the 3x3 convolution: ResNet v1.5 as torchvision): `conv1`, `bn1`,
///   `layer<i>.<j>.conv1/bn1/...`, `layer<i>.0.downsample.0/1`, `fc`. Residual additions and the
///   ReLU after them are fused into the convolution before them.
/// - `mobilenet_v2` (width 1.0): `features.0` (conv 3x3 s2 + BN + ReLU6), `features.1-17`
///   inverted residuals (`features.<i>.conv.<k>`), `features.18` (1x1 to 1280), `classifier.1`.
/// - `squeezenet1_1`: `features.<i>` with Fire modules (`squeeze`, `expand1x1`, `expand3x3`,
///   concatenated in place), max pools with `ceil_mode`, and the classifier convolution
///   `classifier.1` followed by ReLU and global average pooling.
enum TorchvisionModels {
    static let names = ["resnet18", "resnet34", "resnet50", "mobilenet_v2", "squeezenet1_1"]

    static func model(named name: String, input: [Int] = [3, 224, 224]) throws -> GraphModel? {
        switch name {
        case "resnet18": return try resnet(name, blocks: [2, 2, 2, 2], bottleneck: false, input: input)
        case "resnet34": return try resnet(name, blocks: [3, 4, 6, 3], bottleneck: false, input: input)
        case "resnet50": return try resnet(name, blocks: [3, 4, 6, 3], bottleneck: true, input: input)
        case "mobilenet_v2": return try mobileNetV2(input: input)
        case "squeezenet1_1": return try squeezeNet11(input: input)
        default: return nil
        }
    }

    /// Conv (no bias) + BatchNorm, optionally + ReLU; names `<conv>` and `<bn>`.
    private static func convBN(_ g: GraphBuilder, _ x: GraphBuilder.Value, _ filters: Int, _ size: Int, stride: Int = 1,
                               pad: Int = 0, groups: Int = 1, conv: String, bn: String) throws -> GraphBuilder.Value {
        try g.batchNorm(g.conv(x, filters: filters, size: size, stride: stride, pad: pad, groups: groups, bias: false,
                               name: conv), name: bn)
    }

    static func resnet(_ name: String, blocks: [Int], bottleneck: Bool, input: [Int]) throws -> GraphModel {
        let g = try GraphBuilder(input: input)
        var x = try g.relu(convBN(g, g.input, 64, 7, stride: 2, pad: 3, conv: "conv1", bn: "bn1"), name: "relu")
        x = try g.maxPool(x, size: 3, stride: 2, pad: 1, name: "maxpool")
        let expansion = bottleneck ? 4 : 1
        var inplanes = 64
        for (stage, count) in blocks.enumerated() {
            let planes = 64 << stage
            for b in 0..<count {
                let stride = stage > 0 && b == 0 ? 2 : 1
                let p = "layer\(stage + 1).\(b)"
                let identity: GraphBuilder.Value
                var y: GraphBuilder.Value
                if bottleneck {
                    y = try g.relu(convBN(g, x, planes, 1, conv: "\(p).conv1", bn: "\(p).bn1"), name: "\(p).relu1")
                    y = try g.relu(convBN(g, y, planes, 3, stride: stride, pad: 1, conv: "\(p).conv2", bn: "\(p).bn2"),
                                   name: "\(p).relu2")
                    y = try convBN(g, y, planes * 4, 1, conv: "\(p).conv3", bn: "\(p).bn3")
                } else {
                    y = try g.relu(convBN(g, x, planes, 3, stride: stride, pad: 1, conv: "\(p).conv1", bn: "\(p).bn1"),
                                   name: "\(p).relu1")
                    y = try convBN(g, y, planes, 3, pad: 1, conv: "\(p).conv2", bn: "\(p).bn2")
                }
                if stride != 1 || inplanes != planes * expansion {
                    identity = try convBN(g, x, planes * expansion, 1, stride: stride, conv: "\(p).downsample.0",
                                          bn: "\(p).downsample.1")
                } else {
                    identity = x
                }
                x = try g.relu(g.add(y, identity, name: "\(p).add"), name: "\(p).relu")
                inplanes = planes * expansion
            }
        }
        let pooled = try g.flatten(g.globalAvgPool(x, name: "avgpool"), name: "flatten")
        return try g.build(output: g.linear(pooled, units: 1000, name: "fc"), name: name)
    }

    static func mobileNetV2(input: [Int]) throws -> GraphModel {
        let g = try GraphBuilder(input: input)
        func convBNReLU6(_ x: GraphBuilder.Value, _ filters: Int, _ size: Int, stride: Int = 1, groups: Int = 1,
                         _ prefix: String) throws -> GraphBuilder.Value {
            try g.relu6(convBN(g, x, filters, size, stride: stride, pad: (size - 1) / 2, groups: groups,
                               conv: "\(prefix).0", bn: "\(prefix).1"), name: "\(prefix).2")
        }
        var x = try convBNReLU6(g.input, 32, 3, stride: 2, "features.0")
        var inp = 32, index = 1
        for (t, c, n, s) in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                             (6, 320, 1, 1)] {
            for i in 0..<n {
                let stride = i == 0 ? s : 1
                let hidden = inp * t
                let p = "features.\(index).conv"
                var y = x
                var k = 0
                if t != 1 {
                    y = try convBNReLU6(y, hidden, 1, "\(p).0")
                    k = 1
                }
                y = try convBNReLU6(y, hidden, 3, stride: stride, groups: hidden, "\(p).\(k)")
                y = try convBN(g, y, c, 1, conv: "\(p).\(k + 1)", bn: "\(p).\(k + 2)")
                x = stride == 1 && inp == c ? try g.add(y, x, name: "features.\(index).add") : y
                inp = c
                index += 1
            }
        }
        x = try convBNReLU6(x, 1280, 1, "features.18")
        let pooled = try g.flatten(g.globalAvgPool(x, name: "avgpool"), name: "flatten")
        let dropped = try g.dropout(pooled, rate: 0.2, name: "classifier.0")
        return try g.build(output: g.linear(dropped, units: 1000, name: "classifier.1"), name: "mobilenet_v2")
    }

    static func squeezeNet11(input: [Int]) throws -> GraphModel {
        let g = try GraphBuilder(input: input)
        func fire(_ x: GraphBuilder.Value, _ i: Int, _ squeeze: Int, _ e1: Int, _ e3: Int) throws -> GraphBuilder.Value {
            let p = "features.\(i)"
            let s = try g.relu(g.conv(x, filters: squeeze, size: 1, name: "\(p).squeeze"), name: "\(p).squeeze_activation")
            let a = try g.relu(g.conv(s, filters: e1, size: 1, name: "\(p).expand1x1"), name: "\(p).expand1x1_activation")
            let b = try g.relu(g.conv(s, filters: e3, size: 3, pad: 1, name: "\(p).expand3x3"),
                               name: "\(p).expand3x3_activation")
            return try g.concat([a, b], name: "\(p).cat")
        }
        var x = try g.relu(g.conv(g.input, filters: 64, size: 3, stride: 2, name: "features.0"), name: "features.1")
        x = try g.maxPool(x, size: 3, stride: 2, ceilMode: true, name: "features.2")
        x = try fire(x, 3, 16, 64, 64)
        x = try fire(x, 4, 16, 64, 64)
        x = try g.maxPool(x, size: 3, stride: 2, ceilMode: true, name: "features.5")
        x = try fire(x, 6, 32, 128, 128)
        x = try fire(x, 7, 32, 128, 128)
        x = try g.maxPool(x, size: 3, stride: 2, ceilMode: true, name: "features.8")
        x = try fire(x, 9, 48, 192, 192)
        x = try fire(x, 10, 48, 192, 192)
        x = try fire(x, 11, 64, 256, 256)
        x = try fire(x, 12, 64, 256, 256)
        x = try g.dropout(x, rate: 0.5, name: "classifier.0")
        x = try g.relu(g.conv(x, filters: 1000, size: 1, name: "classifier.1"), name: "classifier.2")
        let pooled = try g.flatten(g.globalAvgPool(x, name: "classifier.3"), name: "flatten")
        return try g.build(output: pooled, name: "squeezenet1_1")
    }
}
