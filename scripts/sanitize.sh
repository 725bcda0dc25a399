#!/usr/bin/env bash
# Runs the whole test suite under AddressSanitizer and/or ThreadSanitizer, each in its own build
# folder (.build-asan, .build-tsan), and fails on any report or failed test.
#
#   scripts/sanitize.sh [address|thread|both] [TEST_FILTER]
#   SANITIZE_CONFIG=release scripts/sanitize.sh address   # optimized (-enable-testing), where object
#                                                           # lifetimes are shortest; in .build-asan-release
#
# The test binary runs directly (swift test's own --dump-tests-json step crashed under TSan):
# `swift build --build-tests --sanitize=KIND` then `denoisePackageTests.xctest --testing-library
# swift-testing`. CKernels is built without ThreadSanitizer (Package.swift: its target_clones
# ifunc resolvers run before the sanitizer's runtime); the worker pool (CPool) is instrumented.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
kinds=${1:-both}
filter=${2:-}
config=${SANITIZE_CONFIG:-debug}
[ "$kinds" = both ] && kinds="address thread"
status=0
for kind in $kinds; do
    case "$kind" in address) dir=.build-asan ;; thread) dir=.build-tsan ;; *) echo "sanitize.sh: address, thread or both, got '$kind'" >&2; exit 2 ;; esac
    case "$config" in
        debug) flags=() ;;
        release) flags=(-c release -Xswiftc -enable-testing); dir=$dir-release ;;
        *) echo "sanitize.sh: SANITIZE_CONFIG must be debug or release, got '$config'" >&2; exit 2 ;;
    esac
    echo "== $kind sanitizer ($config): building in $dir" >&2
    swift build --build-tests --sanitize="$kind" --build-path "$dir" "${flags[@]}"
    binary=$(find "$dir" -name denoisePackageTests.xctest -type f -path "*$config*" | head -1)
    log=$(mktemp)
    echo "== $kind sanitizer: running $binary" >&2
    set +e
    # halt_on_error: the first report fails the run; detect_leaks=0: Swift's runtime keeps
    # metadata caches for the process lifetime, which LeakSanitizer reports as leaks.
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:halt_on_error=1} TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1} \
        "$binary" --testing-library swift-testing ${filter:+--filter "$filter"} 2>&1 | tee "$log"
    code=${PIPESTATUS[0]}
    set -e
    reports=$(grep -c -E "^(==[0-9]+==ERROR: AddressSanitizer|WARNING: ThreadSanitizer)" "$log" || true)
    summary=$(grep -E "Test run with .* (passed|failed)" "$log" | tail -1 || true)
    echo "== $kind sanitizer: exit $code, $reports reports; $summary" >&2
    if [ "$code" -ne 0 ] || [ "$reports" -ne 0 ]; then status=1; fi
    rm -f "$log"
done
exit $status
