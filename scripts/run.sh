#!/usr/bin/env bash
# Sets up the machine, builds denoise in release mode and runs the main job. Until the server
# lands (issue 5) the main job is the kernel benchmark. Extra arguments go to `denoise`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
swift build -c release --product denoise
if [ $# -eq 0 ]; then set -- bench --kernels; fi
exec .build/release/denoise "$@"
