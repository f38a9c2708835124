#!/usr/bin/env bash
# One command to test it: installs what is needed, builds, and runs every
# test suite the project has, in order:
#   1. proto breaking-change check: proto/ against HEAD~1 (or
#      $SERPWOW_PROTO_AGAINST) with buf's PACKAGE and WIRE_JSON rules
#   2. unit, integration, process and soak tests (ctest), normal build
#   3. the same under AddressSanitizer + UBSan + LSan (build-asan/)
#   4. libFuzzer targets: replay of the corpus and regressions, then fuzzing
#   5. Kubernetes manifests: every overlay rendered and schema-checked, and
#      the validator's self-test
#   6. the container image: built with podman and called from the host
# Ends with "test.sh: N passed, M failed" (one per stage); exit 1 if any failed.
# Quicker local runs: SERPWOW_SKIP_ASAN=1, SERPWOW_SKIP_FUZZ=1,
# SERPWOW_SKIP_CONTAINER=1; SERPWOW_FUZZ_SECONDS (default 30 per target).
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh || exit 1
jobs=$(nproc 2>/dev/null || echo 2)

passed=0
failed=0
failures=()
stage() {
  local name=$1
  shift
  echo
  echo "=== test.sh: $name"
  local start=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    echo "=== test.sh: $name: passed ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "=== test.sh: $name: FAILED ($((SECONDS - start)) s)"
  fi
}

ctest_release() {
  scripts/build.sh release && (cd build && ctest --output-on-failure --timeout 300 -j "$jobs")
}
ctest_asan() {
  scripts/build.sh asan || return 1
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  (cd build-asan && ctest --output-on-failure --timeout 600 -j "$jobs")
}
manifests() { scripts/validate-manifests.sh && scripts/validate-manifests.sh --self-test; }

stage "proto breaking-change check" scripts/proto-breaking.sh
stage "tests (release build)" ctest_release
[ "${SERPWOW_SKIP_ASAN:-0}" = 1 ] || stage "tests (ASan+UBSan build)" ctest_asan
[ "${SERPWOW_SKIP_FUZZ:-0}" = 1 ] || stage "fuzzing" scripts/fuzz.sh "${SERPWOW_FUZZ_SECONDS:-30}"
stage "Kubernetes manifests" manifests
[ "${SERPWOW_SKIP_CONTAINER:-0}" = 1 ] || stage "container image" scripts/container-test.sh

echo
[ ${#failures[@]} -eq 0 ] || echo "test.sh: failed stages: ${failures[*]}"
echo "test.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
