#!/usr/bin/env bash
# Configures and builds with the presets of CMakePresets.json (the same ones
# an IDE or `cmake --preset` by hand uses):
#   scripts/build.sh            -> build/      (preset release: RelWithDebInfo)
#   scripts/build.sh asan       -> build-asan/ (preset asan: Debug, ASan+UBSan)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
preset=${1:-release}
case "$preset" in
  release | asan) ;;
  *) echo "usage: $0 [release|asan]" >&2; exit 64 ;;
esac
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$jobs"
