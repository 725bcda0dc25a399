#!/usr/bin/env bash
# Sets up the machine (scripts/setup.sh) and runs the whole test suite, then a short
# coverage-guided fuzzing run of every untrusted-input parser (scripts/fuzz.sh: 5 s per harness,
# about a minute, plus its AddressSanitizer build). CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
swift build --build-tests
swift test --skip-build
scripts/fuzz.sh 5
