#!/usr/bin/env python3
"""Run an ONNX model once in ONNX Runtime (CPU) and save the output.

    run_ort.py --onnx f.onnx --input x.npy --output y.npy [--threads 1]

The input .npy is fed to the model's first input (cast to float32); the first
output (the logits) is written as float32 .npy.  Session options: CPU
execution provider, ORT_ENABLE_ALL graph optimizations, intra-op threads =
--threads, inter-op threads 1, sequential execution.
"""

import argparse
import sys

import numpy as np
import onnxruntime as ort


def make_session(model, threads: int = 1) -> ort.InferenceSession:
    """model: a path or serialized ModelProto bytes."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    return ort.InferenceSession(model, sess_options=so,
                                providers=["CPUExecutionProvider"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--input", required=True, help="input .npy")
    ap.add_argument("--output", required=True, help="output .npy (float32)")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    a = ap.parse_args()

    sess = make_session(a.onnx, a.threads)
    x = np.ascontiguousarray(np.load(a.input), dtype=np.float32)
    iname = sess.get_inputs()[0].name
    y = sess.run(None, {iname: x})[0]
    y = np.asarray(y, dtype=np.float32)
    np.save(a.output, y)
    print(f"{a.onnx}: input {list(x.shape)} -> output {list(y.shape)}, "
          f"finite={bool(np.isfinite(y).all())}, max|y|={float(np.abs(y).max()):.4g} "
          f"-> {a.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
