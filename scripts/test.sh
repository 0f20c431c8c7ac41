#!/usr/bin/env bash
# Installs what is missing, builds from scratch in build/, and runs every unit and integration
# test (CTest). Tests start their own redis-server and backends on free loopback ports and stop
# them by PID. Usage: scripts/test.sh [extra ctest arguments, e.g. -R unit]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"
cd build
ctest --output-on-failure --timeout 900 "$@"
