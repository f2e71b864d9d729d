#!/usr/bin/env bash
# The main job: benchmark every available backend (direct, winograd, onednn, ...) on the
# standard CNN layers and print the comparison table. Extra arguments go to `convkit bench`
# (for example: scripts/bench.sh --threads 1 --rounds 3 --plot bench.svg).
set -eu
cd "$(dirname "$0")/.."
scripts/setup-onednn.sh
swift build -c release --product convkit >&2
exec .build/release/convkit bench "$@"
