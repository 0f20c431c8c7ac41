#!/usr/bin/env bash
# Fuzzes every libFuzzer target for SECONDS each, one after the other, growing a scratch copy of
# its corpus (tests/fuzz/corpus/NAME is only read: minimise new finds into it by hand). Prints
# the executions and crashes of each target; exits 1 if any target crashed.
#
# Usage: tests/fuzz/run.sh SECONDS [NAME...]
#   BUILD_DIR=build-fuzz   where the targets are built (configured here when missing)
#   CPU=1                  pin each run to this CPU with taskset (unset: no pinning)
#   MAX_RUNS=N             stop a target after N executions as well
#
# A new target: add tests/fuzz/fuzz_NAME.c (LLVMFuzzerTestOneInput) and seeds in
# tests/fuzz/corpus/NAME/; CMake and this script pick it up by name, and CI replays its corpus
# (ctest -L fuzz). For example a Redis record target: fuzz_record.c + corpus/record/.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:?usage: tests/fuzz/run.sh SECONDS [NAME...]}
shift
build=${BUILD_DIR:-build-fuzz}
if [[ ! -f $build/CMakeCache.txt ]]; then
    cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DSIDECAR_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$build" -j2 --target fuzz_targets

names=("$@")
if ((${#names[@]} == 0)); then
    for src in tests/fuzz/fuzz_*.c; do
        n=$(basename "$src" .c)
        names+=("${n#fuzz_}")
    done
fi

pin=()
[[ -n ${CPU:-} ]] && pin=(taskset -c "$CPU")
runs=()
[[ -n ${MAX_RUNS:-} ]] && runs=(-runs="$MAX_RUNS")
out=$(mktemp -d /tmp/sidecar-fuzz.XXXXXX)
failed=0
for name in "${names[@]}"; do
    work=$out/$name
    mkdir -p "$work/corpus" "$work/artifacts"
    cp tests/fuzz/corpus/"$name"/* "$work/corpus/"
    start=$(date +%s)
    status=0
    "${pin[@]}" "$build/tests/fuzz/fuzz_$name" -max_total_time="$seconds" "${runs[@]}" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus" </dev/null >"$work/log" 2>&1 || status=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" | grep -o '[0-9]*$' || echo "?")
    crashes=$(find "$work/artifacts" -type f | wc -l)
    echo "fuzz_$name: $execs executions in $(($(date +%s) - start)) s, exit $status, $crashes crash file(s) (log: $work/log)"
    ((status == 0 && crashes == 0)) || failed=1
done
exit $failed
