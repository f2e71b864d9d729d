#!/usr/bin/env python3
"""Run the ONNX files that ship with the `onnx` package through `convkit run` and compare.

    .venv-peers/bin/python scripts/peers/onnx_conformance.py [--convkit .build/release/convkit] [--backends direct,auto]

Sources (all from site-packages/onnx/backend/test/data):
  * light/       model-zoo architectures (ResNet-50, SqueezeNet, VGG-19, DenseNet-121, Inception,
                 ShuffleNet, AlexNet, ZFNet; IR 3, opset 9) whose ConstantOfShape weights are
                 replaced by random initializers; expected output: onnxruntime on a seeded
                 random input.
  * pytorch-converted/, pytorch-operator/  single modules exported by torch.onnx, with their
                 recorded input and output (test_data_set_0/*.pb).

Prints one line per model: matched (normalized max error per backend), refused (ConvKit's
one-line error, e.g. an unsupported operator or a non-4-D input) or MISMATCH.
"""

import argparse
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

DATA = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")


def load_pb(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def randomized(m, rng):
    """The light models hold their weights as ConstantOfShape nodes (one value each), which
    makes every output class equal. Replace each by a random initializer of that shape: He-scaled
    normal for tensors of rank 2 and more, uniform in [0.5, 1.5] for vectors (BatchNorm scales
    and variances stay positive), so that the comparison means something."""
    inits = {i.name: i for i in m.graph.initializer}
    keep = []
    for n in m.graph.node:
        if n.op_type == "ConstantOfShape" and n.input and n.input[0] in inits:
            shape = [int(v) for v in numpy_helper.to_array(inits[n.input[0]]).reshape(-1)]
            if len(shape) >= 2:
                fan = int(np.prod(shape[1:])) or 1
                v = rng.normal(0, (2.0 / fan) ** 0.5, shape)
            else:
                v = rng.uniform(0.5, 1.5, shape)
            m.graph.initializer.append(numpy_helper.from_array(v.astype(np.float32), n.output[0]))
        else:
            keep.append(n)
    del m.graph.node[:]
    m.graph.node.extend(keep)
    return m


def cases():
    rng = np.random.default_rng(0)
    tmp = tempfile.mkdtemp()
    for path in sorted(glob.glob(os.path.join(DATA, "light", "*.onnx"))):
        m = randomized(onnx.load(path), rng)
        path = os.path.join(tmp, os.path.basename(path))
        onnx.save_model(m, path)
        inits = {i.name for i in m.graph.initializer}
        inp = [i for i in m.graph.input if i.name not in inits][0]
        shape = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]
        x = rng.normal(0, 1, shape).astype(np.float32)
        import onnxruntime as ort
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        y = sess.run(None, {inp.name: x})[0]
        yield os.path.basename(path)[:-5], path, x, y
    for group in ("pytorch-converted", "pytorch-operator"):
        for d in sorted(glob.glob(os.path.join(DATA, group, "*"))):
            ins = sorted(glob.glob(os.path.join(d, "test_data_set_0", "input_*.pb")))
            outs = sorted(glob.glob(os.path.join(d, "test_data_set_0", "output_*.pb")))
            if len(ins) != 1 or not outs:
                yield os.path.basename(d), None, f"{len(ins)} inputs", None
                continue
            yield os.path.basename(d), os.path.join(d, "model.onnx"), load_pb(ins[0]), load_pb(outs[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--convkit", default=".build/release/convkit")
    ap.add_argument("--backends", default="direct,auto")
    a = ap.parse_args()
    counts = {"matched": 0, "refused": 0, "MISMATCH": 0}
    tmp = tempfile.mkdtemp()
    for name, path, x, want in cases():
        if path is None:
            print(f"{name:48s} refused   (test has {x}; ConvKit models take one input)")
            counts["refused"] += 1
            continue
        xp, yp = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")
        if x.ndim != 4:
            print(f"{name:48s} refused   (input of rank {x.ndim}; ConvKit models take [N, C, H, W])")
            counts["refused"] += 1
            continue
        np.save(xp, x.astype(np.float32))
        errs, refused = [], None
        for b in a.backends.split(","):
            if os.path.exists(yp):
                os.remove(yp)
            r = subprocess.run([a.convkit, "run", "--model", path, "--input", xp, "--output", yp, "--backend", b],
                               capture_output=True, text=True)
            if r.returncode != 0:
                refused = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"
                break
            y = np.load(yp).astype(np.float64)
            w = want.astype(np.float64)
            if y.size != w.size:
                errs.append(f"{b}: {list(y.shape)} vs {list(w.shape)}")
                continue
            scale = max(np.abs(w).max(), 1e-30)
            errs.append(f"{b} {np.abs(y.reshape(-1) - w.reshape(-1)).max() / scale:.1e}"
                        + ("" if list(y.shape) == list(w.shape) else f" (shape {list(y.shape)} vs {list(w.shape)})"))
        if refused:
            print(f"{name:48s} refused   {refused[:150]}")
            counts["refused"] += 1
        else:
            bad = any(("vs" in e and "shape" not in e) or float(e.split()[1]) > 1e-4 for e in errs)
            status = "MISMATCH" if bad else "matched"
            counts[status] += 1
            print(f"{name:48s} {status:9s} {', '.join(errs)}")
    print(counts)
    return 1 if counts["MISMATCH"] else 0


if __name__ == "__main__":
    sys.exit(main())
