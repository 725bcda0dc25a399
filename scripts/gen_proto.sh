#!/usr/bin/env bash
# Regenerates Sources/CONNX (protobuf-c's C code for proto/onnx.proto). The output is committed;
# run this only after changing proto/onnx.proto (which is ONNX's own file, copied unmodified from
# the `onnx` Python package: python -c "import onnx, os; print(os.path.dirname(onnx.__file__))").
# Needs protobuf-c-compiler (scripts/setup.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p Sources/CONNX/include
(cd proto && protoc-c --c_out=../Sources/CONNX onnx.proto)
mv Sources/CONNX/onnx.pb-c.h Sources/CONNX/include/onnx.pb-c.h
sed -i 's|#include "onnx.pb-c.h"|#include "include/onnx.pb-c.h"|' Sources/CONNX/onnx.pb-c.c
echo "regenerated Sources/CONNX from proto/onnx.proto with $(protoc-c --version | head -1)"
