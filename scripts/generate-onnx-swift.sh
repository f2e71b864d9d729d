#!/usr/bin/env bash
# Regenerates Sources/ConvKitONNX/Generated/onnx.pb.swift from Protos/onnx.proto.
#
# The generated file is committed: the normal build never runs protoc or its Swift plugin.
# Run this only after updating Protos/onnx.proto (copy it from the `onnx` PyPI package,
# site-packages/onnx/onnx.proto, of the ONNX release you target; this one is onnx 1.23.2's).
#
# Needs: protoc (Debian `protobuf-compiler`) and protoc-gen-swift of the same swift-protobuf
# version as Package.swift resolves (1.39.0). Builds the plugin once (a few minutes) into
# .build-protoc-gen-swift/ unless PROTOC_GEN_SWIFT names one.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "error: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }
plugin="${PROTOC_GEN_SWIFT:-}"
if [[ -z "$plugin" ]]; then
    src=.build-protoc-gen-swift/swift-protobuf
    if [[ ! -d "$src" ]]; then
        git clone -q --depth 1 --branch 1.39.0 https://github.com/apple/swift-protobuf "$src"
    fi
    (cd "$src" && swift build -c release --product protoc-gen-swift >&2)
    plugin="$src/.build/release/protoc-gen-swift"
fi
out=Sources/ConvKitONNX/Generated
mkdir -p "$out"
protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Public --swift_out="$out" -I Protos Protos/onnx.proto
echo "wrote $out/onnx.pb.swift" >&2
