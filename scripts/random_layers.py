#!/usr/bin/env python3
"""Writes a suite of random realistic convolution layers for `convkit bench --suite`.

Layers are drawn (deterministically from --seed) from: channels 3-512, filters 8-512, square
inputs 7-112, kernels 1/3/5/7 (same padding), strides 1/2, dilation 1/2, groups 1/2/4/depthwise,
batch 1-8; only layers of 2 MFLOP to 1.5 GFLOP are kept. Nothing in the suite is tuned for.

  python3 scripts/random_layers.py --seed 20261202 --count 16 > random.csv
  .build/release/convkit bench --suite random.csv --backends direct,winograd,onednn --threads 1,2
"""
import argparse, random

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=20261202)
    ap.add_argument("--count", type=int, default=16)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    print("name,N,C,H,W,K,R,S,stride,pad,dilation,groups")
    made = 0
    while made < a.count:
        c = rng.choice([3, 8, 13, 16, 24, 32, 48, 64, 96, 128, 160, 192, 256, 320, 384, 512])
        k = rng.choice([8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 256, 320, 384, 512])
        h = rng.choice([7, 14, 17, 28, 30, 56, 112])
        r = rng.choice([1, 3, 3, 3, 5, 7])
        s = rng.choice([1, 1, 2])
        d = rng.choice([1, 1, 1, 2]) if r > 1 else 1
        g = rng.choice([1, 1, 1, 2, 4, "dw"])
        n = rng.choice([1, 1, 1, 2, 4, 8])
        if g == "dw":
            g, k = c, c
        if c % g or k % g:
            continue
        pad = (r - 1) * d // 2
        oh = (h + 2 * pad - d * (r - 1) - 1) // s + 1
        if oh < 1:
            continue
        flops = 2 * n * k * oh * oh * (c // g) * r * r
        if not (2e6 <= flops <= 1.5e9):
            continue
        gname = "dw" if g == c and k == c and g > 1 else (f"g{g}" if g > 1 else "")
        name = f"n{n}_{c}x{h}_{k}_{r}x{r}" + (f"s{s}" if s > 1 else "") + (f"d{d}" if d > 1 else "") + gname
        print(f"{name},{n},{c},{h},{h},{k},{r},{r},{s},{pad},{d},{g}")
        made += 1

if __name__ == "__main__":
    main()
