#!/usr/bin/env python3
"""Times ConvKit (`convkit run --time-runs`) and ONNX Runtime on the same models, interleaved.

For each round, for each model and thread count: ORT runs N times (median taken), then
`convkit run --model NAME --backend B --threads T --time-runs N` runs in a fresh process (its
stderr line "median X ms" is parsed). The table shows, per model and thread count, the median
over rounds of each side's per-round median, and the ratio ORT / ConvKit (> 1: ConvKit faster).

Both sides run the torchvision architecture with random weights on a fixed random input; the
ONNX graph comes from models.py (BatchNormalization kept; ORT folds it at load time).

  .venv-peers/bin/python scripts/peers/vs_convkit.py --convkit .build/release/convkit \
      --models resnet18,resnet50,mobilenet_v2,squeezenet1_1 --threads 1,2 --rounds 5 [--onnx]

With --onnx, ConvKit imports the same ONNX file ORT runs (`convkit run --model file.onnx`).
"""
import argparse, os, re, statistics, subprocess, sys, tempfile, time
import numpy as np
import onnxruntime as ort
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models


def ort_median(sess, x, runs):
    name = sess.get_inputs()[0].name
    for _ in range(3):
        sess.run(None, {name: x})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, {name: x})
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def convkit_median(binary, model, threads, runs, backend, xpath):
    out = tempfile.mktemp(suffix=".npy")
    p = subprocess.run([binary, "run", "--model", model, "--input", xpath, "--output", out, "--threads", str(threads),
                        "--backend", backend, "--time-runs", str(runs)], capture_output=True, text=True)
    if os.path.exists(out):
        os.remove(out)
    m = re.search(r"median ([0-9.]+) ms", p.stderr)
    if p.returncode != 0 or not m:
        raise SystemExit(f"convkit failed on {model}: {p.stderr.strip()}")
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--convkit", default=".build/release/convkit")
    ap.add_argument("--models", default="resnet18,resnet50,mobilenet_v2,squeezenet1_1")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=20, help="runs per round and side")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--onnx", action="store_true",
                    help="ConvKit runs the very ONNX file ORT runs (through its importer) instead of its built-in model")
    args = ap.parse_args()
    x = np.random.default_rng(1234).random((1, 3, 224, 224), dtype=np.float32)
    xpath = tempfile.mktemp(suffix=".npy")
    np.save(xpath, x)
    threads = [int(t) for t in args.threads.split(",")]
    names = args.models.split(",")
    sessions = {}
    files = {}
    for n in names:
        proto = models.build(n, batch=1).SerializeToString()
        if args.onnx:
            files[n] = tempfile.mktemp(suffix=f".{n}.onnx")
            with open(files[n], "wb") as f:
                f.write(proto)
        for t in threads:
            so = ort.SessionOptions()
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            so.intra_op_num_threads = t
            so.inter_op_num_threads = 1
            so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            sessions[(n, t)] = ort.InferenceSession(proto, so, providers=["CPUExecutionProvider"])
    res = {k: ([], []) for k in sessions}
    for r in range(args.rounds):
        for n in names:
            for t in threads:
                res[(n, t)][0].append(ort_median(sessions[(n, t)], x, args.runs))
                res[(n, t)][1].append(convkit_median(args.convkit, files.get(n, n), t, args.runs, args.backend, xpath))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    print(f"| model | threads | ONNX Runtime ms | ConvKit {args.backend} ms | ORT / ConvKit | rounds (ORT; ConvKit) |")
    print("|---|---|---|---|---|---|")
    for (n, t), (o, c) in res.items():
        mo, mc = statistics.median(o), statistics.median(c)
        print(f"| {n} | {t} | {mo:.2f} | {mc:.2f} | {mo / mc:.2f}x | "
              f"{' '.join(f'{v:.1f}' for v in o)}; {' '.join(f'{v:.1f}' for v in c)} |")
    os.remove(xpath)
    for f in files.values():
        os.remove(f)


if __name__ == "__main__":
    main()
