#!/usr/bin/env bash
# Sets up the machine (scripts/setup.sh) and runs the whole test suite. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
swift build --build-tests
swift test --skip-build
