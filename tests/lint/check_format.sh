#!/usr/bin/env bash
# Fails when a C file of the tree is not formatted as .clang-format says, naming each file and
# line (clang-format --dry-run --Werror). Usage: tests/lint/check_format.sh [SOURCE_DIR]
set -euo pipefail
cd "${1:-$(dirname "$0")/../..}"
command -v clang-format >/dev/null || { echo "check_format: clang-format is not installed (scripts/deps.sh installs it)" >&2; exit 1; }
mapfile -t files < <(git ls-files -- '*.c' '*.h' 2>/dev/null || find sidecar tests -name '*.[ch]')
((${#files[@]} > 0)) || { echo "check_format: no C files found" >&2; exit 1; }
clang-format --dry-run --Werror "${files[@]}"
echo "check_format: ${#files[@]} files formatted"
