#!/usr/bin/env bash
# Installs what is missing, builds, and runs every unit and integration test (CTest): first on
# the normal build (build/), then again on an AddressSanitizer + UndefinedBehaviorSanitizer build
# (build-sanitize/), where any memory error, leak or undefined behaviour fails the
# run; then every target is built with clang (build-clang/, -Werror: clang warns where gcc does
# not); finally the libFuzzer targets (build-fuzz/, clang) replay their seed corpora. Tests start
# their own redis-server, backends and sidecars on free loopback ports and stop them by PID. Usage: scripts/test.sh [extra ctest arguments, e.g. -R unit]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
jobs=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIDECAR_WERROR=ON
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure --timeout 900 "$@")

cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DSIDECAR_SANITIZE=ON -DSIDECAR_WERROR=ON
cmake --build build-sanitize -j"$jobs"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# unit tests free everything they allocate: leaks fail them
(cd build-sanitize && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure --timeout 900 -L unit "$@")
# the daemon frees everything when it stops: a leak report at its exit fails the test that
# stopped it (harness.py; tests/CMakeLists.txt points LeakSanitizer at tests/lsan.supp)
(cd build-sanitize && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure --timeout 900 -L integration "$@")

# every target built with clang too (-Werror): its warnings are not gcc's
cmake -S . -B build-clang -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIDECAR_WERROR=ON
cmake --build build-clang -j"$jobs"

# the fuzz targets (clang, libFuzzer + ASan + UBSan) replay their seed corpora: seconds
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DSIDECAR_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIDECAR_WERROR=ON
cmake --build build-fuzz -j"$jobs" --target fuzz_targets
(cd build-fuzz && ctest --output-on-failure --timeout 900 -L fuzz)
