#!/usr/bin/env bash
# Configures and builds into a build directory.
#   scripts/build.sh            -> build/      (RelWithDebInfo)
#   scripts/build.sh asan       -> build-asan/ (Debug, ASan+UBSan)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
case "${1:-release}" in
  release) dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  asan)    dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DSERPWOW_SANITIZE=ON) ;;
  *) echo "usage: $0 [release|asan]" >&2; exit 64 ;;
esac
cmake -S . -B "$dir" -G Ninja "${flags[@]}" >/dev/null
ninja -C "$dir" -j "$jobs"
