#!/usr/bin/env python3
"""Write a torchvision-equivalent model as ONNX plus its weights as safetensors.

    make_model.py MODEL --onnx out.onnx --safetensors out.safetensors [--seed S] [--batch N]

MODEL is one of resnet18, resnet34, resnet50, mobilenet_v2, squeezenet1_1.
The safetensors file holds the same float32 tensors as the ONNX initializers,
under torchvision's state_dict names and shapes (no num_batches_tracked).
--batch 0 (the default) leaves the batch dimension symbolic ("N").
"""

import argparse
import os
import sys

import onnx
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", choices=sorted(models.MODELS))
    ap.add_argument("--onnx", help="output .onnx path")
    ap.add_argument("--safetensors", help="output .safetensors path")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=0,
                    help="fixed batch size; 0 = symbolic 'N' (default)")
    ap.add_argument("--no-check", action="store_true", help="skip onnx.checker")
    a = ap.parse_args()
    if not a.onnx and not a.safetensors:
        ap.error("give --onnx and/or --safetensors")

    m = models.build(a.model, seed=a.seed, batch=a.batch if a.batch > 0 else "N")
    if not a.no_check:
        onnx.checker.check_model(m, full_check=True)
    if a.onnx:
        onnx.save_model(m, a.onnx)
    if a.safetensors:
        sd = models.state_dict(m)
        save_file(dict(sd), a.safetensors,
                  metadata={"model": a.model, "seed": str(a.seed),
                            "source": "convkit scripts/peers/models.py"})
    print(f"{a.model}: seed {a.seed}, {models.num_params(m):,} params, "
          f"{len(m.graph.initializer)} tensors"
          + (f" -> {a.onnx}" if a.onnx else "")
          + (f" -> {a.safetensors}" if a.safetensors else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
