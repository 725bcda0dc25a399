#!/usr/bin/env bash
# Sets up the machine, builds denoise in release mode and runs the main job: the HTTP server on
# the shipped default model (models/fashion-mnist) at http://127.0.0.1:8080. Extra arguments go
# to `denoise` instead (e.g. `scripts/run.sh serve --port 9000`, `scripts/run.sh bench --kernels`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
swift build -c release --product denoise
if [ $# -eq 0 ]; then set -- serve; fi
exec .build/release/denoise "$@"
