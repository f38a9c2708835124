#!/usr/bin/env bash
# One command to test it: installs what is needed, builds, and runs every
# test twice: a normal build, then an AddressSanitizer+UBSan build.
# SERPWOW_SKIP_ASAN=1 skips the sanitizer pass (quicker local runs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)

scripts/build.sh release
(cd build && ctest --output-on-failure --timeout 300 -j "$jobs")

if [ "${SERPWOW_SKIP_ASAN:-0}" != 1 ]; then
  scripts/build.sh asan
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  (cd build-asan && ctest --output-on-failure --timeout 600 -j "$jobs")
fi
