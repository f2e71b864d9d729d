#!/usr/bin/env python3
"""Write the small ONNX fixtures of Tests/ConvKitONNXTests/Fixtures and ONNX Runtime's outputs.

    .venv-peers/bin/python scripts/peers/make_onnx_fixtures.py [--out DIR]

Each fixture NAME is NAME.onnx (some with NAME.data, external data), NAME.input.npy (a batch of
2, float32) and NAME.ort.npy: onnxruntime's output for that input, with graph optimizations
disabled, so that it computes the graph as written. The ConvKit tests import the .onnx file,
run it on every backend and compare with NAME.ort.npy: an oracle independent of ConvKit.

The graphs are the blocks of the CNNs ConvKit targets, each in a different exporter style:
BatchNorm kept or folded, Clip by attributes (opset 10) or by inputs, Flatten or the
Shape -> Gather -> Unsqueeze -> Concat -> Reshape chain of torch.onnx, GlobalAveragePool or
ReduceMean, auto_pad or explicit (asymmetric) pads, Gemm or MatMul + Add, float16/float64
initializers, external data. Weights are deterministic random values (seed 0).
"""

import argparse
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(0)


class G:
    """A tiny graph builder: nodes, initializers, unique names."""

    def __init__(self, opset):
        self.opset, self.nodes, self.inits, self.k = opset, [], [], 0

    def name(self, p):
        self.k += 1
        return f"{p}_{self.k}"

    def init(self, arr, p="w", dtype=np.float32):
        n = self.name(p)
        self.inits.append(numpy_helper.from_array(np.asarray(arr).astype(dtype), n))
        return n

    def op(self, op, inputs, n_out=1, **attrs):
        outs = [self.name(op.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=self.name(op), **attrs))
        return outs[0] if n_out == 1 else outs

    def conv(self, x, cin, cout, k, bias=True, group=1, **attrs):
        kh, kw = (k, k) if isinstance(k, int) else k
        fan = cin // group * kh * kw
        w = self.init(rng.normal(0, (2 / fan) ** 0.5, (cout, cin // group, kh, kw)))
        ins = [x, w] + ([self.init(rng.normal(0, 0.1, cout), "b")] if bias else [])
        return self.op("Conv", ins, group=group, **attrs)

    def bn(self, x, c):
        return self.op("BatchNormalization", [
            x, self.init(rng.uniform(0.5, 1.5, c), "gamma"), self.init(rng.normal(0, 0.1, c), "beta"),
            self.init(rng.normal(0, 0.1, c), "mean"), self.init(rng.uniform(0.5, 1.5, c), "var")], epsilon=1e-5)

    def gemm_head(self, x, k, m, trans_b=1, **attrs):
        w = rng.normal(0, (1 / k) ** 0.5, (m, k))
        b = self.init(rng.normal(0, 0.1, m), "fc_b")
        return self.op("Gemm", [x, self.init(w if trans_b else w.T, "fc_w"), b], transB=trans_b, **attrs)

    def model(self, x_shape, out, out_dims, ir=8):
        graph = helper.make_graph(
            self.nodes, "fixture",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N"] + list(x_shape))],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N"] + list(out_dims))],
            self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        m.ir_version = ir
        onnx.checker.check_model(m, full_check=True)
        return m


def resnet_basic_bn():
    """Two ResNet basic blocks (BatchNorm kept), the second with a strided 1x1 downsample;
    GlobalAveragePool, Flatten, Gemm (transB=1). Opset 13."""
    g = G(13)
    x = "input"
    y = g.op("Relu", [g.bn(g.conv(x, 8, 8, 3, bias=False, pads=[1, 1, 1, 1]), 8)])
    y = g.bn(g.conv(y, 8, 8, 3, bias=False, pads=[1, 1, 1, 1]), 8)
    x = g.op("Relu", [g.op("Add", [y, x])])
    y = g.op("Relu", [g.bn(g.conv(x, 8, 12, 3, bias=False, strides=[2, 2], pads=[1, 1, 1, 1]), 12)])
    y = g.bn(g.conv(y, 12, 12, 3, bias=False, pads=[1, 1, 1, 1]), 12)
    d = g.bn(g.conv(x, 8, 12, 1, bias=False, strides=[2, 2]), 12)
    x = g.op("Relu", [g.op("Add", [d, y])])
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    return g.model([8, 12, 12], g.gemm_head(x, 12, 10), [10]), [8, 12, 12]


def resnet_bottleneck_folded():
    """A bottleneck with BatchNorm folded into biased convs, SAME_UPPER padding on a stride-2
    3x3, ReduceMean with axes as an input (opset 18), torch's Shape/Gather/Unsqueeze/Concat/
    Reshape flatten, MatMul + Add, Softmax."""
    g = G(18)
    x = "input"
    y = g.op("Relu", [g.conv(x, 6, 5, 1)])
    y = g.op("Relu", [g.conv(y, 5, 5, 3, strides=[2, 2], auto_pad="SAME_UPPER")])
    y = g.conv(y, 5, 16, 1)
    d = g.conv(x, 6, 16, 1, strides=[2, 2])
    x = g.op("Relu", [g.op("Add", [y, d])])
    x = g.op("ReduceMean", [x, g.init([2, 3], "axes", np.int64)], keepdims=1)
    shape = g.op("Shape", [x])
    n = g.op("Gather", [shape, g.init(0, "idx", np.int64)], axis=0)
    n = g.op("Unsqueeze", [n, g.init([0], "ax", np.int64)])
    target = g.op("Concat", [n, g.init([-1], "minus1", np.int64)], axis=0)
    x = g.op("Reshape", [x, target])
    w = g.init(rng.normal(0, 0.25, (16, 7)), "mm_w")
    x = g.op("Add", [g.op("MatMul", [x, w]), g.init(rng.normal(0, 0.1, 7), "mm_b")])
    return g.model([6, 11, 13], g.op("Softmax", [x], axis=-1), [7], ir=9), [6, 11, 13]


def fire_concat():
    """A SqueezeNet Fire module (1x1 squeeze, 1x1 and 3x3 expands, Concat), MaxPool with
    ceil_mode, AveragePool with and without count_include_pad, GlobalMaxPool, Flatten.
    Opset 11."""
    g = G(11)
    x = g.op("MaxPool", ["input"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    s = g.op("Relu", [g.conv(x, 7, 4, 1)])
    e1 = g.op("Relu", [g.conv(s, 4, 6, 1)])
    e3 = g.op("Relu", [g.conv(s, 4, 5, 3, pads=[1, 1, 1, 1])])
    x = g.op("Concat", [e1, e3], axis=1)
    a = g.op("AveragePool", [x], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=0)
    b = g.op("AveragePool", [x], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=1)
    x = g.op("Concat", [a, b], axis=-3)
    x = g.op("Flatten", [g.op("GlobalMaxPool", [x])])
    return g.model([7, 15, 15], x, [22]), [7, 15, 15]


def mobilenet_clip_attrs():
    """A MobileNetV2 inverted residual, ReLU6 as Clip with attributes (opset 10), depthwise
    3x3; Gemm with transB=0, alpha and beta."""
    g = G(10)
    y = g.op("Clip", [g.bn(g.conv("input", 12, 36, 1, bias=False), 36)], min=0.0, max=6.0)
    y = g.op("Clip", [g.bn(g.conv(y, 36, 36, 3, bias=False, group=36, pads=[1, 1, 1, 1]), 36)], min=0.0, max=6.0)
    y = g.bn(g.conv(y, 36, 12, 1, bias=False), 12)
    x = g.op("Add", ["input", y])
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])])
    return g.model([12, 10, 10], g.gemm_head(x, 12, 5, trans_b=0, alpha=0.5, beta=2.0), [5], ir=5), [12, 10, 10]


def mobilenet_clip_inputs():
    """The inverted residual with stride 2 (no residual), Clip bounds as inputs (an initializer
    and a Constant node, opset 14), depthwise SAME_LOWER padding, HardSwish; Squeeze and
    Unsqueeze with axes as inputs; Dropout and Identity."""
    g = G(14)
    lo = g.init(np.float32(0), "lo")
    hi = g.op("Constant", [], value=numpy_helper.from_array(np.array(6, dtype=np.float32)))
    y = g.op("Clip", [g.conv("input", 8, 24, 1), lo, hi])
    y = g.op("Clip", [g.conv(y, 24, 24, 3, group=24, strides=[2, 2], auto_pad="SAME_LOWER"), lo, hi])
    y = g.op("HardSwish", [g.conv(y, 24, 10, 1)])
    y = g.op("GlobalAveragePool", [y])
    y = g.op("Squeeze", [y, g.init([2, 3], "axes", np.int64)])
    y = g.op("Unsqueeze", [y, g.init([2], "axes", np.int64)])
    y = g.op("Identity", [g.op("Dropout", [y])])
    y = g.op("Flatten", [y])
    return g.model([8, 9, 9], g.gemm_head(y, 10, 4), [4], ir=7), [8, 9, 9]


def se_dilated_grouped():
    """Squeeze-and-excitation (GlobalAveragePool, 1x1 convs, HardSigmoid, Mul broadcast over
    [N, C, 1, 1]), a dilated 3x3 with asymmetric pads, a grouped conv, LeakyRelu, Sigmoid,
    Tanh, Sum. Opset 14."""
    g = G(14)
    x = g.op("LeakyRelu", [g.conv("input", 6, 10, 3, dilations=[2, 2], pads=[1, 2, 3, 0])], alpha=0.1)
    s = g.op("GlobalAveragePool", [x])
    s = g.op("Relu", [g.conv(s, 10, 3, 1)])
    s = g.op("HardSigmoid", [g.conv(s, 3, 10, 1)], alpha=0.2, beta=0.5)
    x = g.op("Mul", [x, s])
    y = g.op("Sigmoid", [g.conv(x, 10, 10, 3, group=2, pads=[1, 1, 1, 1])])
    z = g.op("Tanh", [g.conv(x, 10, 10, (1, 3), pads=[0, 1, 0, 1])])
    x = g.op("Sum", [x, y, z])
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])])
    return g.model([6, 13, 11], g.gemm_head(x, 10, 6), [6]), [6, 13, 11]


def external_f16():
    """A conv whose weights are float16 and bias float64 (each through Cast to float), a 5x5
    stride-2 conv, VALID padding; all initializers in external data (external_f16.data)."""
    g = G(13)
    w = g.init(rng.normal(0, 0.2, (9, 5, 5, 5)), "w16", np.float16)
    b = g.init(rng.normal(0, 0.1, 9), "b64", np.float64)
    x = g.op("Conv", ["input", g.op("Cast", [w], to=TensorProto.FLOAT), g.op("Cast", [b], to=TensorProto.FLOAT)],
             strides=[2, 2], auto_pad="VALID")
    x = g.op("Relu", [x])
    return g.model([5, 17, 17], g.conv(x, 9, 4, 3, pads=[1, 1, 1, 1]), [4, 7, 7]), [5, 17, 17]


def alexnet_lrn():
    """AlexNet-style local response normalisation (LRN with sizes 5 and 3 (ONNX Runtime takes odd sizes
    only; ConvKit also runs even ones), bias and alpha away from their defaults) between strided convs and max pooling; opset 9, IR 4, as
    the model zoo's AlexNet, ZFNet and GoogLeNet files."""
    g = G(9)
    x = g.op("Relu", [g.conv("input", 3, 8, 5, strides=[2, 2], pads=[2, 2, 2, 2])])
    x = g.op("LRN", [x], size=5, alpha=0.05, beta=0.75, bias=2.0)
    x = g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2])
    x = g.op("Relu", [g.conv(x, 8, 12, 3, pads=[1, 1, 1, 1])])
    x = g.op("LRN", [x], size=3, alpha=0.1, beta=0.6)
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])])
    return g.model([3, 23, 23], g.gemm_head(x, 12, 6), [6], ir=4), [3, 23, 23]


FIXTURES = [resnet_basic_bn, resnet_bottleneck_folded, fire_concat, mobilenet_clip_attrs,
            mobilenet_clip_inputs, se_dilated_grouped, external_f16, alexnet_lrn]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "..", "Tests", "ConvKitONNXTests", "Fixtures"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for make in FIXTURES:
        name = make.__name__
        model, shape = make()
        path = os.path.join(a.out, name + ".onnx")
        if name == "external_f16":
            # onnx appends to an existing data file: start from none.
            if os.path.exists(os.path.join(a.out, name + ".data")):
                os.remove(os.path.join(a.out, name + ".data"))
            onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                            location=name + ".data", size_threshold=0)
        else:
            onnx.save_model(model, path)
        x = rng.normal(0, 1, [2] + shape).astype(np.float32)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        y = sess.run(None, {"input": x})[0]
        np.save(os.path.join(a.out, name + ".input.npy"), x)
        np.save(os.path.join(a.out, name + ".ort.npy"), y.astype(np.float32))
        print(f"{name}: opset {model.opset_import[0].version}, IR {model.ir_version}, input {list(x.shape)} -> {list(y.shape)}, "
              f"{os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
