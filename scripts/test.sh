#!/usr/bin/env bash
# Runs the whole test suite: installs oneDNN when missing (so its backend is tested too),
# runs `swift test`, then re-runs the oneDNN tests with the library disabled to check the
# "unavailable" path.
set -eu
cd "$(dirname "$0")/.."
scripts/setup-onednn.sh
swift build --build-tests
swift test --skip-build
echo "== oneDNN-unavailable path (CONVKIT_DISABLE_ONEDNN=1) =="
CONVKIT_DISABLE_ONEDNN=1 swift test --skip-build --filter OneDNN
