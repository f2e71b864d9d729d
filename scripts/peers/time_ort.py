#!/usr/bin/env python3
"""Time ONNX Runtime (and optionally OpenVINO) on the peer models.

    time_ort.py [--models resnet18,resnet50,mobilenet_v2,squeezenet1_1]
                [--threads 1,2] [--rounds 5] [--target-sec 1.0]
                [--seed 0] [--csv FILE] [--openvino]

Each model is built in memory (models.py, batch fixed at 1, random weights
from --seed) and run on a fixed random 1x3x224x224 float32 input.  Per
(model, runtime, threads): warm up (>= 3 runs and >= --warmup-sec), size a
round so it takes about --target-sec, then run --rounds rounds, timing every
session.run with time.perf_counter.

Reported per row, in milliseconds per inference:
  median  median over rounds of the round's mean run time
  min     smallest round mean
  best    fastest single run seen in any round
ORT session: CPUExecutionProvider, ORT_ENABLE_ALL, intra_op_num_threads =
threads, inter_op 1, sequential.  OpenVINO (--openvino, if importable): CPU
device, PERFORMANCE_HINT=LATENCY, INFERENCE_NUM_THREADS=threads,
INFERENCE_PRECISION_HINT=f32, one synchronous infer request.
"""

import argparse
import csv
import math
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402
from run_ort import make_session  # noqa: E402


def bench(fn, rounds: int, target_sec: float, warmup_sec: float):
    # warm-up: at least 3 runs and at least warmup_sec
    t0 = time.perf_counter()
    n = 0
    while n < 3 or time.perf_counter() - t0 < warmup_sec:
        fn()
        n += 1
    # per-run estimate from a few timed runs after warm-up
    est = []
    for _ in range(3):
        s = time.perf_counter()
        fn()
        est.append(time.perf_counter() - s)
    per_run = min(est)
    runs = max(1, int(math.ceil(target_sec / max(per_run, 1e-6))))
    means, best = [], float("inf")
    for _ in range(rounds):
        total = 0.0
        for _ in range(runs):
            s = time.perf_counter()
            fn()
            d = time.perf_counter() - s
            total += d
            best = min(best, d)
        means.append(total / runs)
    return {
        "median_ms": statistics.median(means) * 1e3,
        "min_ms": min(means) * 1e3,
        "best_ms": best * 1e3,
        "runs_per_round": runs,
        "rounds": rounds,
    }


def ort_runner(model_bytes: bytes, threads: int, x: np.ndarray):
    sess = make_session(model_bytes, threads)
    iname = sess.get_inputs()[0].name
    feed = {iname: x}
    out = sess.run(None, feed)[0]
    assert out.shape == (1, models.NUM_CLASSES) and np.isfinite(out).all(), out.shape
    return lambda: sess.run(None, feed)


def openvino_runner(onnx_path: str, threads: int, x: np.ndarray):
    import openvino as ov
    core = ov.Core()
    m = core.read_model(onnx_path)
    cfg = {
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_NUM_THREADS": str(threads),
        "INFERENCE_PRECISION_HINT": "f32",
    }
    cm = core.compile_model(m, "CPU", cfg)
    req = cm.create_infer_request()
    req.infer({0: x})
    out = req.get_output_tensor(0).data
    assert tuple(out.shape) == (1, models.NUM_CLASSES) and np.isfinite(out).all()
    return lambda: req.infer({0: x})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="resnet18,resnet50,mobilenet_v2,squeezenet1_1")
    ap.add_argument("--threads", default="1,2", help="comma list of thread counts")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--target-sec", type=float, default=1.0,
                    help="approximate duration of one round (default 1.0)")
    ap.add_argument("--warmup-sec", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0, help="weight seed")
    ap.add_argument("--input-seed", type=int, default=1234)
    ap.add_argument("--csv", help="also write results as CSV")
    ap.add_argument("--openvino", action="store_true",
                    help="also time OpenVINO (skipped with a note if not importable)")
    a = ap.parse_args()

    names = [s.strip() for s in a.models.split(",") if s.strip()]
    threads = [int(t) for t in a.threads.split(",") if t.strip()]
    for n in names:
        if n not in models.MODELS:
            ap.error(f"unknown model {n}; choose from {', '.join(models.MODELS)}")

    have_ov = False
    ov_version = None
    if a.openvino:
        try:
            import openvino as ov
            ov_version = ov.get_version()
            have_ov = True
        except Exception as e:  # noqa: BLE001
            print(f"note: OpenVINO not available ({e}); skipping it", file=sys.stderr)

    x = np.random.default_rng(a.input_seed).standard_normal(
        (1, 3, 224, 224)).astype(np.float32)

    print(f"onnxruntime {ort.__version__}"
          + (f", openvino {ov_version}" if have_ov else "")
          + f", numpy {np.__version__}, python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, rounds {a.rounds} x ~{a.target_sec:g}s",
          file=sys.stderr)

    rows = []
    tmpdir = tempfile.mkdtemp(prefix="peers-") if have_ov else None
    for name in names:
        m = models.build(name, seed=a.seed, batch=1)
        mb = m.SerializeToString()
        onnx_path = None
        if have_ov:
            onnx_path = os.path.join(tmpdir, f"{name}.onnx")
            with open(onnx_path, "wb") as f:
                f.write(mb)
        for t in threads:
            runtimes = [("ort", lambda t=t: ort_runner(mb, t, x))]
            if have_ov:
                runtimes.append(("openvino",
                                 lambda t=t, p=onnx_path: openvino_runner(p, t, x)))
            for rt, make in runtimes:
                try:
                    fn = make()
                    r = bench(fn, a.rounds, a.target_sec, a.warmup_sec)
                    del fn
                except Exception as e:  # noqa: BLE001
                    print(f"note: {rt} {name} threads={t} failed: {e}", file=sys.stderr)
                    continue
                r.update(model=name, runtime=rt, threads=t)
                rows.append(r)
                print(f"  {name:14s} {rt:8s} t={t}: median {r['median_ms']:.2f} ms, "
                      f"min {r['min_ms']:.2f} ms", file=sys.stderr)
        if onnx_path:
            os.unlink(onnx_path)
    if tmpdir:
        os.rmdir(tmpdir)

    print()
    print("| model | runtime | threads | median ms | min ms | best run ms | runs/round x rounds |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['runtime']} | {r['threads']} | {r['median_ms']:.2f} | "
              f"{r['min_ms']:.2f} | {r['best_ms']:.2f} | {r['runs_per_round']} x {r['rounds']} |")

    if a.csv:
        cols = ["model", "runtime", "threads", "median_ms", "min_ms", "best_ms",
                "runs_per_round", "rounds"]
        with open(a.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            for r in rows:
                w.writerow({c: (f"{r[c]:.4f}" if isinstance(r[c], float) else r[c])
                            for c in cols})
        print(f"\nwrote {a.csv}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
