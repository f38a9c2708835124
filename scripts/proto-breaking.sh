#!/usr/bin/env bash
# Proto breaking-change check: is the working tree's proto/ wire- and
# JSON-compatible with proto/ as it was at a git revision?
#
#   scripts/proto-breaking.sh [REV]     # REV: an argument, else $SERPWOW_PROTO_AGAINST, else HEAD~1
#
# Builds a descriptor image of each side (protoc --include_imports
# --include_source_info, so buf can name lines; google/api from
# golang-github-gogo-googleapis-dev, google/protobuf from protoc) and runs
# `buf breaking NEW --against OLD` with proto/buf.yaml (rules PACKAGE and
# WIRE_JSON). buf is the version pinned in tools/package-lock.json,
# installed into tools/node_modules with `npm ci` when missing (offline from
# the npm registry; the package carries its own Linux binary).
#
# Exit status: 0 no breaking change, or nothing to compare against (REV does
# not exist, e.g. on the first commit, or has no proto/*.proto: a message says
# it was skipped); 1 breaking changes (buf lists them); 2 the check could not
# run (a tool missing, a proto that does not compile).
set -euo pipefail
cd "$(dirname "$0")/.."

against=${1:-${SERPWOW_PROTO_AGAINST:-HEAD~1}}
googleapis=${GOOGLEAPIS_DIR:-/usr/share/gocode/src/github.com/gogo/googleapis}
fail() { echo "proto-breaking: $*" >&2; exit 2; }

command -v protoc >/dev/null || fail "protoc is needed (scripts/install-deps.sh installs it)"
[ -f "$googleapis/google/api/annotations.proto" ] ||
  fail "$googleapis/google/api/annotations.proto not found (apt-get install golang-github-gogo-googleapis-dev)"

if ! rev=$(git rev-parse --verify --quiet "$against^{commit}"); then
  echo "proto-breaking: skipped: there is no revision '$against' to compare against"
  exit 0
fi
short=$(git rev-parse --short "$rev")
if ! git ls-tree -r --name-only "$rev" -- proto/ | grep -q '\.proto$'; then
  echo "proto-breaking: skipped: $against ($short) has no proto/*.proto"
  exit 0
fi

# buf, pinned by tools/package-lock.json.
tools=tools
buf=$tools/node_modules/.bin/buf
if [ ! -x "$buf" ] || [ ! -f "$tools/node_modules/.package-lock.json" ] ||
   [ "$tools/package-lock.json" -nt "$tools/node_modules/.package-lock.json" ]; then
  command -v npm >/dev/null || fail "npm is needed to install buf (tools/package.json)"
  (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || fail "npm ci in $tools failed"
fi

tmp=$(mktemp -d /tmp/proto-breaking.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export BUF_CACHE_DIR="$tmp/buf-cache"

# image DIR OUT: every .proto under DIR (the import root), with its imports.
image() {
  local dir=$1 out=$2
  local files
  mapfile -t files < <(cd "$dir" && find . -name '*.proto' -printf '%P\n' | LC_ALL=C sort)
  (cd "$dir" && protoc -I . -I "$googleapis" --include_imports --include_source_info \
     --descriptor_set_out="$out" "${files[@]}") || fail "protoc failed on the protos in $dir"
}

mkdir -p "$tmp/old"
git archive "$rev" proto | tar -x -C "$tmp/old"
image "$PWD/proto" "$tmp/new.binpb"
image "$tmp/old/proto" "$tmp/old.binpb"

echo "proto-breaking: proto/ (working tree) against $against ($short), rules PACKAGE and WIRE_JSON"
set +e
"$buf" breaking "$tmp/new.binpb" --against "$tmp/old.binpb" --config proto/buf.yaml
rc=$?
set -e
case $rc in
  0) echo "proto-breaking: no breaking change" ;;
  100) echo "proto-breaking: BREAKING changes against $against ($short), listed above"; exit 1 ;;
  *) fail "buf breaking failed (exit $rc)" ;;
esac
