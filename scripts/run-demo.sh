#!/usr/bin/env bash
# One command to try it: installs what is needed, builds, and runs
# batch-server on its embedded SerpWow simulator (no key, no network).
# Extra arguments go to batch-server (e.g. --listen=127.0.0.1:50051).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
exec build/bin/batch-server --simulate "$@"
