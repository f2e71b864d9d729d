"""Torchvision-equivalent CNN graphs built directly as ONNX, without torch.

Each builder returns an ``onnx.ModelProto`` whose topology follows the
torchvision model code (resnet.py, mobilenetv2.py, squeezenet.py) in eval
mode, and whose initializers carry torchvision's ``state_dict`` names and
shapes exactly (without ``num_batches_tracked``).  Weights are deterministic
random values drawn from a seed (see ``WeightGen``); they are *not*
pretrained, so outputs are only meaningful for runtime-vs-runtime comparison.

Graph conventions:
  * input  "input"  float32 [N, 3, 224, 224]  (N symbolic "N" or a fixed int)
  * output "logits" float32 [N, 1000]
  * BatchNorm2d  -> BatchNormalization (epsilon 1e-5, running stats)
  * ReLU6        -> Clip with min 0 / max 6 given as (Constant) inputs
  * AdaptiveAvgPool2d((1,1)) -> GlobalAveragePool
  * torch.flatten(x, 1) -> Flatten(axis=1); nn.Linear -> Gemm(transB=1)
  * Dropout is omitted (identity in eval mode)

Only the initializers are named after torchvision parameters; intermediate
values and Constant nodes use private names.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Union

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
# IR version 8 is the one that goes with opset 17; every onnxruntime >= 1.11
# loads it.
IR_VERSION = 8
BN_EPS = 1e-5
NUM_CLASSES = 1000

Batch = Union[int, str, None]


class WeightGen:
    """Deterministic random parameters, drawn in state_dict order.

    * conv / linear weights: He-uniform, U(-b, b), b = sqrt(6 / fan_in),
      fan_in = (in_channels / groups) * kh * kw  (or in_features)
    * conv / linear biases: U(-0.1, 0.1)
    * BN weight U(0.5, 1.5), bias U(-0.1, 0.1),
      running_mean U(-0.1, 0.1), running_var U(0.5, 1.5)
    """

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def _u(self, lo: float, hi: float, shape) -> np.ndarray:
        return self.rng.uniform(lo, hi, size=shape).astype(np.float32)

    def he(self, shape) -> np.ndarray:
        fan_in = int(np.prod(shape[1:]))
        b = float(np.sqrt(6.0 / fan_in))
        return self._u(-b, b, shape)

    def bias(self, n: int) -> np.ndarray:
        return self._u(-0.1, 0.1, (n,))

    def bn(self, n: int):
        w = self._u(0.5, 1.5, (n,))
        b = self._u(-0.1, 0.1, (n,))
        m = self._u(-0.1, 0.1, (n,))
        v = self._u(0.5, 1.5, (n,))
        return w, b, m, v


class GraphBuilder:
    def __init__(self, name: str, seed: int = 0, batch: Batch = "N"):
        self.name = name
        self.gen = WeightGen(seed)
        self.batch = "N" if batch is None else batch
        self.nodes: List[onnx.NodeProto] = []
        self.params: "OrderedDict[str, np.ndarray]" = OrderedDict()
        self._n = 0
        self._clip_consts: Optional[tuple] = None

    # -- naming ---------------------------------------------------------
    def tmp(self, hint: str) -> str:
        self._n += 1
        return f"/{hint}_{self._n}"

    def add_param(self, name: str, arr: np.ndarray) -> str:
        if name in self.params:
            raise ValueError(f"duplicate parameter {name}")
        self.params[name] = np.ascontiguousarray(arr, dtype=np.float32)
        return name

    def node(self, op: str, inputs, hint: Optional[str] = None, **attrs) -> str:
        out = self.tmp(hint or op.lower())
        self.nodes.append(helper.make_node(op, list(inputs), [out],
                                           name=out + "/" + op, **attrs))
        return out

    # -- layers (torch semantics) ---------------------------------------
    def conv(self, x: str, prefix: str, cin: int, cout: int, k: int,
             stride: int = 1, pad: int = 0, groups: int = 1,
             bias: bool = False) -> str:
        w = self.add_param(f"{prefix}.weight",
                           self.gen.he((cout, cin // groups, k, k)))
        inputs = [x, w]
        if bias:
            inputs.append(self.add_param(f"{prefix}.bias", self.gen.bias(cout)))
        return self.node("Conv", inputs, hint=prefix + ".conv",
                         kernel_shape=[k, k], strides=[stride, stride],
                         pads=[pad, pad, pad, pad], dilations=[1, 1],
                         group=groups)

    def bn(self, x: str, prefix: str, c: int) -> str:
        w, b, m, v = self.gen.bn(c)
        names = [self.add_param(f"{prefix}.weight", w),
                 self.add_param(f"{prefix}.bias", b),
                 self.add_param(f"{prefix}.running_mean", m),
                 self.add_param(f"{prefix}.running_var", v)]
        return self.node("BatchNormalization", [x] + names, hint=prefix + ".bn",
                         epsilon=BN_EPS, momentum=0.9)

    def relu(self, x: str) -> str:
        return self.node("Relu", [x])

    def relu6(self, x: str) -> str:
        if self._clip_consts is None:
            lo, hi = "/clip_min", "/clip_max"
            self.nodes.append(helper.make_node(
                "Constant", [], [lo], name=lo + "/Constant",
                value=numpy_helper.from_array(np.array(0.0, np.float32), lo)))
            self.nodes.append(helper.make_node(
                "Constant", [], [hi], name=hi + "/Constant",
                value=numpy_helper.from_array(np.array(6.0, np.float32), hi)))
            self._clip_consts = (lo, hi)
        lo, hi = self._clip_consts
        return self.node("Clip", [x, lo, hi], hint="relu6")

    def add(self, a: str, b: str) -> str:
        return self.node("Add", [a, b])

    def maxpool(self, x: str, k: int, stride: int, pad: int = 0,
                ceil: bool = False) -> str:
        return self.node("MaxPool", [x], kernel_shape=[k, k],
                         strides=[stride, stride], pads=[pad, pad, pad, pad],
                         ceil_mode=1 if ceil else 0)

    def gap(self, x: str) -> str:
        return self.node("GlobalAveragePool", [x])

    def flatten(self, x: str) -> str:
        return self.node("Flatten", [x], axis=1)

    def linear(self, x: str, prefix: str, fin: int, fout: int) -> str:
        w = self.add_param(f"{prefix}.weight", self.gen.he((fout, fin)))
        b = self.add_param(f"{prefix}.bias", self.gen.bias(fout))
        return self.node("Gemm", [x, w, b], hint=prefix + ".gemm",
                         alpha=1.0, beta=1.0, transA=0, transB=1)

    # -- finish -----------------------------------------------------------
    def finish(self, out: str) -> onnx.ModelProto:
        # rename the last value to "logits"
        last = self.nodes[-1]
        assert last.output[0] == out
        last.output[0] = "logits"
        inp = helper.make_tensor_value_info(
            "input", TensorProto.FLOAT, [self.batch, 3, 224, 224])
        outp = helper.make_tensor_value_info(
            "logits", TensorProto.FLOAT, [self.batch, NUM_CLASSES])
        inits = [numpy_helper.from_array(a, n) for n, a in self.params.items()]
        graph = helper.make_graph(self.nodes, self.name, [inp], [outp],
                                  initializer=inits)
        model = helper.make_model(
            graph, producer_name="convkit-peers", producer_version="1",
            opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = IR_VERSION
        model.doc_string = (f"torchvision {self.name} topology, random weights "
                            "(not pretrained), built by scripts/peers/models.py")
        return model


# ---------------------------------------------------------------------------
# ResNet (torchvision resnet.py; ResNet-50 is v1.5: stride on the 3x3)
# ---------------------------------------------------------------------------

def _basic_block(g: GraphBuilder, x: str, p: str, inplanes: int, planes: int,
                 stride: int, downsample: bool) -> str:
    out = g.conv(x, f"{p}.conv1", inplanes, planes, 3, stride, 1)
    out = g.relu(g.bn(out, f"{p}.bn1", planes))
    out = g.conv(out, f"{p}.conv2", planes, planes, 3, 1, 1)
    out = g.bn(out, f"{p}.bn2", planes)
    identity = x
    if downsample:
        identity = g.conv(x, f"{p}.downsample.0", inplanes, planes, 1, stride, 0)
        identity = g.bn(identity, f"{p}.downsample.1", planes)
    return g.relu(g.add(out, identity))


def _bottleneck(g: GraphBuilder, x: str, p: str, inplanes: int, planes: int,
                stride: int, downsample: bool) -> str:
    width = planes
    outc = planes * 4
    out = g.conv(x, f"{p}.conv1", inplanes, width, 1, 1, 0)
    out = g.relu(g.bn(out, f"{p}.bn1", width))
    out = g.conv(out, f"{p}.conv2", width, width, 3, stride, 1)
    out = g.relu(g.bn(out, f"{p}.bn2", width))
    out = g.conv(out, f"{p}.conv3", width, outc, 1, 1, 0)
    out = g.bn(out, f"{p}.bn3", outc)
    identity = x
    if downsample:
        identity = g.conv(x, f"{p}.downsample.0", inplanes, outc, 1, stride, 0)
        identity = g.bn(identity, f"{p}.downsample.1", outc)
    return g.relu(g.add(out, identity))


def _resnet(name: str, bottleneck: bool, layers: List[int], seed: int,
            batch: Batch) -> onnx.ModelProto:
    g = GraphBuilder(name, seed, batch)
    block = _bottleneck if bottleneck else _basic_block
    expansion = 4 if bottleneck else 1
    x = g.conv("input", "conv1", 3, 64, 7, 2, 3)
    x = g.relu(g.bn(x, "bn1", 64))
    x = g.maxpool(x, 3, 2, 1)
    inplanes = 64
    for li, (planes, n, stride) in enumerate(
            zip([64, 128, 256, 512], layers, [1, 2, 2, 2]), start=1):
        for bi in range(n):
            s = stride if bi == 0 else 1
            ds = bi == 0 and (s != 1 or inplanes != planes * expansion)
            x = block(g, x, f"layer{li}.{bi}", inplanes, planes, s, ds)
            inplanes = planes * expansion
    x = g.flatten(g.gap(x))
    x = g.linear(x, "fc", 512 * expansion, NUM_CLASSES)
    return g.finish(x)


def resnet18(seed: int = 0, batch: Batch = "N") -> onnx.ModelProto:
    return _resnet("resnet18", False, [2, 2, 2, 2], seed, batch)


def resnet34(seed: int = 0, batch: Batch = "N") -> onnx.ModelProto:
    return _resnet("resnet34", False, [3, 4, 6, 3], seed, batch)


def resnet50(seed: int = 0, batch: Batch = "N") -> onnx.ModelProto:
    return _resnet("resnet50", True, [3, 4, 6, 3], seed, batch)


# ---------------------------------------------------------------------------
# MobileNetV2 (torchvision mobilenetv2.py, width_mult 1.0, round_nearest 8)
# ---------------------------------------------------------------------------

def _make_divisible(v: float, divisor: int, min_value: Optional[int] = None) -> int:
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _conv_bn_relu6(g: GraphBuilder, x: str, p: str, cin: int, cout: int,
                   k: int = 3, stride: int = 1, groups: int = 1) -> str:
    # torchvision ConvNormActivation: Conv(bias=False) -> BN -> ReLU6,
    # padding (k - 1) // 2; submodules named p.0 (conv) and p.1 (bn)
    x = g.conv(x, f"{p}.0", cin, cout, k, stride, (k - 1) // 2, groups)
    x = g.bn(x, f"{p}.1", cout)
    return g.relu6(x)


def _inverted_residual(g: GraphBuilder, x: str, p: str, inp: int, oup: int,
                       stride: int, t: int) -> str:
    hidden = int(round(inp * t))
    use_res = stride == 1 and inp == oup
    y = x
    i = 0
    if t != 1:
        y = _conv_bn_relu6(g, y, f"{p}.conv.{i}", inp, hidden, k=1)
        i += 1
    y = _conv_bn_relu6(g, y, f"{p}.conv.{i}", hidden, hidden, k=3,
                       stride=stride, groups=hidden)
    i += 1
    y = g.conv(y, f"{p}.conv.{i}", hidden, oup, 1, 1, 0)
    i += 1
    y = g.bn(y, f"{p}.conv.{i}", oup)
    return g.add(x, y) if use_res else y


def mobilenet_v2(seed: int = 0, batch: Batch = "N") -> onnx.ModelProto:
    g = GraphBuilder("mobilenet_v2", seed, batch)
    width_mult, round_nearest = 1.0, 8
    setting = [
        # t, c, n, s
        [1, 16, 1, 1],
        [6, 24, 2, 2],
        [6, 32, 3, 2],
        [6, 64, 4, 2],
        [6, 96, 3, 1],
        [6, 160, 3, 2],
        [6, 320, 1, 1],
    ]
    input_channel = _make_divisible(32 * width_mult, round_nearest)
    last_channel = _make_divisible(1280 * max(1.0, width_mult), round_nearest)
    x = _conv_bn_relu6(g, "input", "features.0", 3, input_channel, k=3, stride=2)
    idx = 1
    for t, c, n, s in setting:
        oc = _make_divisible(c * width_mult, round_nearest)
        for i in range(n):
            x = _inverted_residual(g, x, f"features.{idx}", input_channel, oc,
                                   s if i == 0 else 1, t)
            input_channel = oc
            idx += 1
    x = _conv_bn_relu6(g, x, f"features.{idx}", input_channel, last_channel, k=1)
    x = g.flatten(g.gap(x))
    # classifier.0 is Dropout(0.2): identity in eval
    x = g.linear(x, "classifier.1", last_channel, NUM_CLASSES)
    return g.finish(x)


# ---------------------------------------------------------------------------
# SqueezeNet 1.1 (torchvision squeezenet.py)
# ---------------------------------------------------------------------------

def _fire(g: GraphBuilder, x: str, p: str, inplanes: int, sq: int,
          e1: int, e3: int) -> str:
    s = g.relu(g.conv(x, f"{p}.squeeze", inplanes, sq, 1, bias=True))
    a = g.relu(g.conv(s, f"{p}.expand1x1", sq, e1, 1, bias=True))
    b = g.relu(g.conv(s, f"{p}.expand3x3", sq, e3, 3, pad=1, bias=True))
    return g.node("Concat", [a, b], axis=1)


def squeezenet1_1(seed: int = 0, batch: Batch = "N") -> onnx.ModelProto:
    g = GraphBuilder("squeezenet1_1", seed, batch)
    x = g.relu(g.conv("input", "features.0", 3, 64, 3, stride=2, bias=True))  # 0, 1
    x = g.maxpool(x, 3, 2, ceil=True)                                        # 2
    x = _fire(g, x, "features.3", 64, 16, 64, 64)
    x = _fire(g, x, "features.4", 128, 16, 64, 64)
    x = g.maxpool(x, 3, 2, ceil=True)                                        # 5
    x = _fire(g, x, "features.6", 128, 32, 128, 128)
    x = _fire(g, x, "features.7", 256, 32, 128, 128)
    x = g.maxpool(x, 3, 2, ceil=True)                                        # 8
    x = _fire(g, x, "features.9", 256, 48, 192, 192)
    x = _fire(g, x, "features.10", 384, 48, 192, 192)
    x = _fire(g, x, "features.11", 384, 64, 256, 256)
    x = _fire(g, x, "features.12", 512, 64, 256, 256)
    # classifier: Dropout (identity), final 1x1 conv, ReLU, AdaptiveAvgPool
    x = g.relu(g.conv(x, "classifier.1", 512, NUM_CLASSES, 1, bias=True))
    x = g.flatten(g.gap(x))
    return g.finish(x)


MODELS: Dict[str, Callable[..., onnx.ModelProto]] = {
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "mobilenet_v2": mobilenet_v2,
    "squeezenet1_1": squeezenet1_1,
}

# torchvision's published parameter counts (weights + biases only)
TORCHVISION_NUM_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "mobilenet_v2": 3_504_872,
    "squeezenet1_1": 1_235_496,
}


def build(name: str, seed: int = 0, batch: Batch = "N") -> onnx.ModelProto:
    try:
        fn = MODELS[name]
    except KeyError:
        raise SystemExit(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    return fn(seed=seed, batch=batch)


def state_dict(model: onnx.ModelProto) -> "OrderedDict[str, np.ndarray]":
    """The initializers as an ordered name -> float32 array mapping."""
    return OrderedDict((t.name, numpy_helper.to_array(t))
                       for t in model.graph.initializer)


def num_params(model: onnx.ModelProto) -> int:
    """Count of weight/bias elements (BN running stats excluded), as
    torchvision's sum(p.numel() for p in model.parameters())."""
    n = 0
    for t in model.graph.initializer:
        if t.name.endswith(".weight") or t.name.endswith(".bias"):
            n += int(np.prod(t.dims))
    return n
