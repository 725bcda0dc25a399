#!/usr/bin/env bash
# fuzz.sh [SECONDS] [TARGET ...]: coverage-guided fuzzing of denoise's untrusted inputs with
# libFuzzer. Builds `denoise-fuzz` (release, -DFUZZING, AddressSanitizer + libFuzzer, in
# .build-fuzz), then runs each harness (default: all; see Sources/FuzzTargets) for SECONDS
# (default 5: about a minute for all of them) on a scratch copy of fuzz/corpus/<target> plus
# fuzz/regressions/<target>, so the committed corpus never grows. Prints per harness the inputs
# executed and any crash (the input is saved under fuzz/artifacts/); exits 1 when one crashed.
#
#   scripts/fuzz.sh                    # CI-sized: every harness for 5 s
#   scripts/fuzz.sh 600 onnx torch     # longer, two harnesses
#   FUZZ_FLAGS="-runs=100000" scripts/fuzz.sh 100000    # a fixed number of inputs each
#   FUZZ_KEEP=1 scripts/fuzz.sh 60     # keep the grown scratch corpora (their path is printed)
#
# Limits per input: 10 s (a hang), 256 MB in one allocation, 2 GB resident. Replay a saved crash
# without libFuzzer: `swift build --product denoise-fuzz && .build/debug/denoise-fuzz TARGET FILE`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

seconds=${1:-5}
shift || true
all=(onnx safetensors model-json npy torch png idx query json form)
targets=("${@:-${all[@]}}")

# Swift's -sanitize=fuzzer adds no coverage instrumentation under whole-module optimization
# (measured with Swift 6.3: a release build fuzzed blind), so the coverage kinds are named.
swift build -c release --build-path .build-fuzz --product denoise-fuzz --sanitize=fuzzer --sanitize=address \
    -Xswiftc -DFUZZING -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table 2>&1 \
    | grep -E "error|warning: |complete" | grep -v "Cannot export local symbol" || true
binary=.build-fuzz/release/denoise-fuzz
[ -x "$binary" ] || { echo "fuzz.sh: the build failed (no $binary)" >&2; exit 2; }

scratch=$(mktemp -d "${TMPDIR:-/tmp}/denoise-fuzz.XXXXXX")
[ -n "${FUZZ_KEEP:-}" ] || trap 'rm -rf "$scratch"' EXIT
mkdir -p fuzz/artifacts
# No leak checks: LeakSanitizer reports the int64 constants of the request harnesses' served
# models (loaded once per process) as leaked at exit, yet loading a model 1000 times does not
# grow the resident size (measured), so its reports would be noise.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
# A Swift trap is reported by libFuzzer (deadly signal, symbolized stack); Swift's own backtracer
# would read memory ASan then reports as a second, bogus error.
export SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-enable=no}"

crashed=0
printf '%-12s %12s  %s\n' target executions result
for target in "${targets[@]}"; do
    [ -d "fuzz/corpus/$target" ] || { echo "fuzz.sh: unknown target '$target' (known: ${all[*]})" >&2; exit 2; }
    mkdir -p "$scratch/$target"
    cp -r "fuzz/corpus/$target/." "$scratch/$target/"
    seeds=("$scratch/$target")
    [ -d "fuzz/regressions/$target" ] && seeds+=("fuzz/regressions/$target")
    log="$scratch/$target.log"
    status=0
    # shellcheck disable=SC2086
    DENOISE_FUZZ_TARGET=$target "$binary" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
        -malloc_limit_mb=256 -rss_limit_mb=2048 -artifact_prefix="fuzz/artifacts/$target-" ${FUZZ_FLAGS:-} \
        "${seeds[@]}" > "$log" 2>&1 || status=$?
    executions=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    if [ "$status" -eq 0 ]; then
        result=ok
    else
        crashed=1
        artifact=$(grep -o "Test unit written to [^ ]*" "$log" | tail -1 | sed 's/Test unit written to //')
        reason=$(grep -m1 -E "ERROR: (AddressSanitizer|libFuzzer)|Fatal error|SUMMARY" "$log" || true)
        result="CRASH ${artifact:-(no artifact)}: ${reason:-exit status $status, see $log}"
        cp "$log" "fuzz/artifacts/$target.log"
    fi
    printf '%-12s %12s  %s\n' "$target" "${executions:-?}" "$result"
done
[ -z "${FUZZ_KEEP:-}" ] || echo "scratch corpora and logs kept in $scratch"
exit "$crashed"
