#!/usr/bin/env python3
"""Compare two output arrays (e.g. ConvKit logits vs ORT logits).

    compare.py A.npy B.npy [--tol T]

Prints max|A-B|, max|B|, the normalized max error max|A-B| / max|B|, and
the argmax agreement over the last axis (per row for [N, C] logits).
With --tol, exits 1 if the normalized error exceeds T or any argmax differs.
"""

import argparse
import sys

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b", help="reference")
    ap.add_argument("--tol", type=float, default=None,
                    help="fail (exit 1) if normalized max error > TOL or argmax differs")
    args = ap.parse_args()

    a = np.load(args.a).astype(np.float64)
    b = np.load(args.b).astype(np.float64)
    if a.shape != b.shape:
        if a.size == b.size:
            print(f"note: shapes {list(a.shape)} vs {list(b.shape)} differ; comparing flattened")
            a = a.reshape(b.shape)
        else:
            print(f"shape mismatch: {list(a.shape)} vs {list(b.shape)}")
            return 2
    fin_a, fin_b = bool(np.isfinite(a).all()), bool(np.isfinite(b).all())
    diff = np.abs(a - b)
    max_abs = float(diff.max()) if diff.size else 0.0
    ref = float(np.abs(b).max()) if b.size else 0.0
    norm = max_abs / ref if ref > 0 else (0.0 if max_abs == 0 else float("inf"))

    if a.ndim >= 2:
        a2 = a.reshape(-1, a.shape[-1])
        b2 = b.reshape(-1, b.shape[-1])
    else:
        a2, b2 = a.reshape(1, -1), b.reshape(1, -1)
    am, bm = a2.argmax(axis=1), b2.argmax(axis=1)
    agree = int((am == bm).sum())
    rows = am.shape[0]

    print(f"shape          {list(b.shape)}")
    print(f"finite         A={fin_a} B={fin_b}")
    print(f"max|A-B|       {max_abs:.6g}")
    print(f"max|B|         {ref:.6g}")
    print(f"normalized err {norm:.3e}")
    print(f"argmax agree   {agree}/{rows}" + ("" if agree == rows else
          f"  (first mismatch row {int(np.argmax(am != bm))}: "
          f"A={int(am[am != bm][0])} B={int(bm[am != bm][0])})"))
    if args.tol is not None:
        ok = fin_a and fin_b and norm <= args.tol and agree == rows
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
