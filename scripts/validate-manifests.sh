#!/usr/bin/env bash
# Renders the Kubernetes manifests (deploy/base and every deploy/overlays/*)
# with `kubectl kustomize` and validates every object offline: Kubernetes
# schemas (npm kubernetes-models), unknown fields, and this service's policy
# (deploy/validate/validate.js says which). No cluster needed.
#
#   scripts/validate-manifests.sh              -> ends with "manifests: N passed, M failed"
#   scripts/validate-manifests.sh --self-test  -> breaks objects on purpose and
#                                                 checks each break is caught
# Needs kubectl (for kustomize) and Node >= 18 with npm; installs the
# validator's locked npm dependencies into deploy/validate/node_modules once.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=validate
case "${1:-}" in
  "") ;;
  --self-test) mode=self-test ;;
  *) echo "usage: $0 [--self-test]" >&2; exit 64 ;;
esac

for tool in kubectl node npm; do
  command -v "$tool" >/dev/null || { echo "validate-manifests: $tool is needed and not installed" >&2; exit 1; }
done

validator=deploy/validate
if [ ! -f "$validator/node_modules/.package-lock.json" ] \
   || [ "$validator/package-lock.json" -nt "$validator/node_modules/.package-lock.json" ]; then
  (cd "$validator" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

out=$(mktemp -d /tmp/validate-manifests.XXXXXX)
trap 'rm -rf "$out"' EXIT

targets=()
for dir in deploy/base deploy/overlays/*/; do
  dir=${dir%/}
  name=${dir#deploy/}
  if ! kubectl kustomize "$dir" >"$out/${name//\//_}.yaml" 2>"$out/err"; then
    echo "FAIL $name: kubectl kustomize failed:"
    sed 's/^/       /' "$out/err"
    echo "manifests: 0 passed, 1 failed"
    exit 1
  fi
  targets+=("$name=$out/${name//\//_}.yaml")
done

if [ "$mode" = self-test ]; then
  # prod exercises the most: TLS, tokens, spread, pinned image.
  exec node "$validator/validate.js" --self-test "overlays/prod=$out/overlays_prod.yaml"
fi
exec node "$validator/validate.js" "${targets[@]}"
