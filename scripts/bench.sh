#!/usr/bin/env bash
# The main job: benchmark every available backend (direct, winograd, onednn, ...) on the
# standard CNN layers and print the comparison table, then time the built-in model zoo
# (ResNet-18, ResNet-50, MobileNetV2, SqueezeNet 1.1 with random weights; no files needed) per
# backend. Extra arguments go to the layer bench (for example: scripts/bench.sh --threads 1
# --rounds 3 --plot bench.svg); --threads, --rounds, --format, --quick and --quiet also go to the
# model bench. CONVKIT_BENCH_MODELS=none skips the models (default: zoo).
set -eu
cd "$(dirname "$0")/.."
scripts/setup-onednn.sh
swift build -c release --product convkit >&2
.build/release/convkit bench "$@"
models=${CONVKIT_BENCH_MODELS:-zoo}
[ "$models" = none ] && exit 0
model_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --threads|--rounds|--format) model_args+=("$1" "$2"); shift 2 ;;
    --threads=*|--rounds=*|--format=*|--quick|--quiet) model_args+=("$1"); shift ;;
    *) shift ;;
  esac
done
echo
exec .build/release/convkit bench --models "$models" ${model_args[@]+"${model_args[@]}"}
