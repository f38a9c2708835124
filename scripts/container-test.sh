#!/usr/bin/env bash
# Builds the batch-server container image (deploy/Containerfile) and tests it
# end to end, from a fresh Debian 12 machine with no registry and no Docker:
#
#   1. apt-get installs podman, buildah, runc, debootstrap and the Python gRPC
#      client (only what is missing);
#   2. makes the base image localhost/debian-local:bookworm with debootstrap,
#      unless it is already in storage (CONTAINER_TEST_REBUILD_BASE=1 forces it);
#   3. builds localhost/batch-server:dev from a clean export of the source tree;
#   4. runs it (locked down like the pod, with the dev overlay's ConfigMap as
#      its environment) on the embedded simulator and, from the host, checks:
#      image and process non-root; health "", "liveness", "readiness" SERVING;
#      StopBatch through build/bin/batchctl; GET /metrics; after SIGTERM,
#      readiness NOT_SERVING while liveness is SERVING, then exit status 0.
#
# Prints `container-test: N passed, M failed` last; exits 1 on any failure.
# Environment: CONTAINER_TEST_IMAGE (default localhost/batch-server:dev),
# CONTAINER_TEST_REF=<commit-ish> (build that commit, not the working tree),
# CONTAINER_TEST_REBUILD=1 (build even if the image matches the sources; layer
# cache still applies), CONTAINER_TEST_REBUILD_BASE=1 (new debootstrap),
# CONTAINER_TEST_KEEP_CONTEXT=1 (keep the temp dir, for debugging).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

image=${CONTAINER_TEST_IMAGE:-localhost/batch-server:dev}
base_image=localhost/debian-local:bookworm
# vfs + chroot isolation + runc + cgroupfs: what works without a container
# engine on these machines (no overlay storage; RUN steps need
# --isolation chroot, as crun's default OCI isolation fails with "cgroups in
# hybrid mode not supported"; runc with cgroupfs runs the containers).
podman=(podman --storage-driver vfs)
run_flags=(--runtime runc --cgroup-manager=cgroupfs)
py=/usr/bin/python3   # Debian's python: the one that sees python3-grpcio
container=batch-server-test-$$
work=$(mktemp -d /tmp/container-test.XXXXXX)

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
note() { echo "--- $*"; }
t0=$SECONDS
elapsed() { echo "$((SECONDS - t0))s"; }

cleanup() {
  "${podman[@]}" rm -f --time 0 "$container" >/dev/null 2>&1 || true
  [ "${CONTAINER_TEST_KEEP_CONTEXT:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

summary() {
  echo "container-test: $passed passed, $failed failed ($(elapsed))"
  [ "$failed" -eq 0 ]
}

# --- 1. packages --------------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
  # vfs storage, chroot isolation and debootstrap as set up here need root.
  echo "container-test: run as root" >&2
  exit 1
fi
# runc named explicitly: podman alone pulls in crun, which cannot run
# containers on these machines (cgroups hybrid mode, setrlimit).
packages=(podman buildah runc debootstrap git ca-certificates
          python3 python3-grpcio python3-protobuf python3-yaml
          protobuf-compiler protobuf-compiler-grpc grpc-proto)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  note "installing: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# --- 2. base image --------------------------------------------------------------
# Debian's mirror as this machine's apt uses it.
mirror_of_host() {
  local m=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    m=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
  elif [ -f /etc/apt/sources.list ]; then
    m=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ { print $2; exit }' /etc/apt/sources.list)
  fi
  echo "${m:-http://deb.debian.org/debian}"
}

if [ "${CONTAINER_TEST_REBUILD_BASE:-0}" = 1 ] || ! "${podman[@]}" image exists "$base_image"; then
  mirror=$(mirror_of_host)
  note "creating $base_image with debootstrap from $mirror ($(elapsed))"
  rootfs=$work/rootfs
  nice -n 10 debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log"; echo "container-test: debootstrap failed" >&2; exit 1; }
  # The host's apt sources (bookworm-updates and -security included, which
  # debootstrap leaves out); no host name, resolver or .debs baked in.
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/debian.sources"
    rm -f "$rootfs/etc/apt/sources.list"
  fi
  rm -f "$rootfs/etc/hostname" "$rootfs/var/cache/apt/archives/"*.deb
  rm -rf "$rootfs/var/lib/apt/lists/"*
  : >"$rootfs/etc/resolv.conf"
  tar -C "$rootfs" -c . | "${podman[@]}" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' - "$base_image" >/dev/null
  rm -rf "$rootfs"
  note "base image ready ($(elapsed))"
else
  note "base image $base_image already in storage"
fi

# --- 3. image -------------------------------------------------------------------
# The build context is a clean export of the source tree, never the repository
# itself: by default the working tree as git sees it (every tracked file, with
# uncommitted edits, plus untracked files .gitignore does not exclude), so
# build*/ dirs, node_modules and editor files never enter the context, the
# ignore rules have one home (.gitignore), and work in progress is what gets
# tested. CONTAINER_TEST_REF=<commit-ish> builds that commit instead
# (git archive), e.g. HEAD while the working tree is mid-edit.
context=$work/context
mkdir -p "$context"
if [ -n "${CONTAINER_TEST_REF:-}" ]; then
  note "build context: git archive ${CONTAINER_TEST_REF}"
  git -C "$repo" archive --format=tar "$CONTAINER_TEST_REF" | tar -C "$context" -x
else
  git -C "$repo" ls-files -z --cached --others --exclude-standard \
    | (cd "$repo" && "$py" -c '
import os, sys
names = [n for n in sys.stdin.buffer.read().split(b"\0") if n and os.path.lexists(n)]
sys.stdout.buffer.write(b"\0".join(names))') \
    | tar -C "$repo" --null -T - -c | tar -C "$context" -x
fi
# The recipe comes with the sources; a commit from before it existed is built
# with the working tree's.
containerfile=$context/deploy/Containerfile
[ -f "$containerfile" ] || containerfile=$repo/deploy/Containerfile
# Skip the build when the image was built from exactly this context, recipe
# and base image: even fully cached, a vfs build spends ~50 s copying layers.
digest=$( { tar -C "$context" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -c . \
            | sha256sum; sha256sum <"$containerfile";
            "${podman[@]}" image inspect --format '{{.Id}}' "$base_image"; } | sha256sum | cut -c1-64)
digest_label=io.serpwow.batch-server.context-digest
old_id=$("${podman[@]}" image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
old_digest=$("${podman[@]}" image inspect --format "{{index .Labels \"$digest_label\"}}" "$image" 2>/dev/null || true)
if [ -n "$old_id" ] && [ "$old_digest" = "$digest" ] && [ "${CONTAINER_TEST_REBUILD:-0}" != 1 ]; then
  note "image $image is up to date with the sources (context digest ${digest:0:12})"
else
  note "building $image ($(elapsed))"
  if ! nice -n 10 "${podman[@]}" build --isolation chroot --layers --label "$digest_label=$digest" \
        -f "$containerfile" -t "$image" "$context" >"$work/build.log" 2>&1; then
    tail -40 "$work/build.log"
    fail "image build (log above)"
    summary
    exit 1
  fi
  # vfs stores every layer as a full copy (the build stage's are ~800 MB), so
  # drop what earlier builds left: untagged images built on our base image
  # that this build's chain (every layer id in its log) does not use.
  chain=$(grep -oE '^--> (Using cache )?[0-9a-f]{11,64}' "$work/build.log" | awk '{ print $NF }')
  base_layer=$("${podman[@]}" image inspect --format '{{index .RootFS.Layers 0}}' "$base_image")
  stale=()
  while read -r img img_repo; do
    [ "$img_repo" = "<none>" ] || continue
    in_chain=no
    for c in $chain; do [[ "$img" == "$c"* ]] && in_chain=yes && break; done
    [ "$in_chain" = no ] || continue
    [ "$("${podman[@]}" image inspect --format '{{index .RootFS.Layers 0}}' "$img" 2>/dev/null)" = "$base_layer" ] \
      && stale+=("$img")
  done < <("${podman[@]}" images -a --no-trunc --format '{{.ID}} {{.Repository}}' | sed 's/^sha256://')
  for _ in 1 2 3 4 5; do  # children first: repeat until nothing more goes
    [ ${#stale[@]} -gt 0 ] || break
    left=()
    for img in "${stale[@]}"; do
      "${podman[@]}" rmi "$img" >/dev/null 2>&1 || left+=("$img")
    done
    [ ${#left[@]} -lt ${#stale[@]} ] || break
    stale=("${left[@]+"${left[@]}"}")
  done
fi
size=$("${podman[@]}" image inspect --format '{{.Size}}' "$image")
note "image: $("${podman[@]}" image inspect --format '{{.Id}}' "$image" | cut -c1-12), $((size / 1000000)) MB ($(elapsed))"

user=$("${podman[@]}" image inspect --format '{{.Config.User}}' "$image")
uid=${user%%:*}
if [[ "$uid" =~ ^[0-9]+$ ]] && [ "$uid" -ne 0 ]; then
  pass "image runs as non-root numeric user '$user'"
else
  fail "image User is '$user', want a non-root numeric uid"
fi

# --- 4. run and call it from the host -------------------------------------------
# The host's batchctl: build/bin/batchctl (scripts/build.sh) when it is there;
# else only the batchctl target is built, in a directory of this script's own
# (never build/, which a developer may be building in at the same time).
batchctl=$repo/build/bin/batchctl
if [ ! -x "$batchctl" ]; then
  batchctl=$repo/build-container-test/bin/batchctl
  note "build/bin/batchctl missing: building batchctl in build-container-test/ ($(elapsed))"
  scripts/install-deps.sh
  cmake -S . -B build-container-test -G Ninja -DSERPWOW_BUILD_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  nice -n 10 ninja -C build-container-test batchctl >"$work/batchctl-build.log" 2>&1 \
    || { tail -30 "$work/batchctl-build.log"; fail "building batchctl"; summary; exit 1; }
fi

# Health stubs, generated flat (a generated grpc/ package would shadow grpcio).
health_proto_dir=/usr/share/grpc-proto/grpc/health/v1
mkdir -p "$work/py"
protoc -I "$health_proto_dir" --python_out="$work/py" --grpc_python_out="$work/py" \
  --plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin "$health_proto_dir/health.proto"
cat >"$work/py/health_check.py" <<'EOF'
"""health_check.py TARGET SERVICE WAIT_SECONDS
     prints SERVICE's status ("" is the server as a whole); exits 0 if SERVING.
     Retries while the server is not up yet (UNAVAILABLE), up to WAIT_SECONDS.
   health_check.py --drain TARGET WAIT_SECONDS
     waits until "readiness" is NOT_SERVING (a shutdown has started) and checks
     that "liveness" is still SERVING then; exits 0 if so."""
import sys
import time

import grpc
import health_pb2
import health_pb2_grpc


def status(stub, service):
    try:
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    except grpc.RpcError as e:
        return e.code().name


drain = sys.argv[1] == "--drain"
args = sys.argv[2:] if drain else sys.argv[1:]
target, wait = args[0], float(args[-1])
give_up = time.monotonic() + wait
with grpc.insecure_channel(target) as channel:
    stub = health_pb2_grpc.HealthStub(channel)
    if drain:
        while (s := status(stub, "readiness")) == "SERVING" and time.monotonic() < give_up:
            time.sleep(0.05)
        live = status(stub, "liveness")
        print(f"readiness {s}, liveness {live}")
        sys.exit(0 if s == "NOT_SERVING" and live == "SERVING" else 1)
    while (s := status(stub, args[1])) == "UNAVAILABLE" and time.monotonic() < give_up:
        time.sleep(0.2)
    print(s)
    sys.exit(0 if s == "SERVING" else 1)
EOF
health() { PYTHONPATH=$work/py "$py" "$work/py/health_check.py" "$@"; }

free_port() {
  "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The settings the dev overlay gives the pod (its ConfigMap, rendered by
# kustomize) go in as the environment, as in Kubernetes; the flags below
# override the listen addresses (the command line wins over BATCH_SERVER_*).
env_args=()
if command -v kubectl >/dev/null; then
  kubectl kustomize deploy/overlays/dev | "$py" -c '
import sys, yaml
for doc in yaml.safe_load_all(sys.stdin):
    if doc and doc.get("kind") == "ConfigMap":
        for k, v in sorted(doc.get("data", {}).items()):
            print(f"{k}={v}")' >"$work/dev.env"
  env_args=(--env-file "$work/dev.env")
  note "environment from the dev overlay's ConfigMap: $(cut -d= -f1 "$work/dev.env" | tr '\n' ' ')"
else
  note "kubectl not found: running without the dev overlay's environment"
fi

# Starts the container with the given server flags; returns 1 if it is not
# running a moment later. Locked down like the pod (deploy/base/deployment.yaml):
# read-only root, no capabilities, no privilege escalation, tmpfs /tmp.
start_container() {
  "${podman[@]}" rm -f --time 0 "$container" >/dev/null 2>&1 || true
  "${podman[@]}" "${run_flags[@]}" run -d --name "$container" --network host \
    --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
    --read-only --tmpfs /tmp:rw,size=16m --cap-drop=all --security-opt=no-new-privileges \
    "${env_args[@]}" "$image" "$@" >/dev/null
  local _
  for _ in $(seq 1 20); do
    if [ "$("${podman[@]}" inspect --format '{{.State.Running}}' "$container")" != true ]; then
      return 1
    fi
    if grep -q 'batch-server listening on' <<<"$("${podman[@]}" logs "$container" 2>&1)"; then
      return 0
    fi
    sleep 0.5
  done
  return 0  # still running; the health check below decides
}

port=$(free_port)
metrics_port=$(free_port)
while [ "$metrics_port" = "$port" ]; do metrics_port=$(free_port); done
target=127.0.0.1:$port
# --drain_delay: after SIGTERM the server keeps serving for 3s with readiness
# NOT_SERVING, long enough to watch it from here (in Kubernetes the preStop
# pause plays this part).
flags=(--simulate --listen="$target" --metrics_listen="127.0.0.1:$metrics_port" --drain_delay=3s)
note "starting the container: ${flags[*]} ($(elapsed))"
if ! start_container "${flags[@]}" \
   || [ "$("${podman[@]}" inspect --format '{{.State.Running}}' "$container" 2>/dev/null)" != true ]; then
  "${podman[@]}" logs "$container" 2>&1 | tail -20
  fail "container is not running (logs above)"
  summary
  exit 1
fi
note "container running ($(elapsed))"

pid=$("${podman[@]}" inspect --format '{{.State.Pid}}' "$container")
proc_uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo "?")
if [ "$proc_uid" = "$uid" ]; then
  pass "batch-server process runs as uid $proc_uid"
else
  fail "batch-server process runs as uid '$proc_uid', want $uid"
fi

# "" first (it waits for the server to come up), then the names the
# Kubernetes probes use (deploy/base/deployment.yaml).
for svc in "" liveness readiness; do
  if status=$(health "$target" "$svc" 30); then
    pass "health \"$svc\": $status"
  else
    fail "health \"$svc\": $status, want SERVING"
  fi
done

rc=0
out=$(timeout 30 "$batchctl" stop 9E867FAA --target="$target" 2>&1) || rc=$?
want="stopped batch 9E867FAA (was queued): credits refunded"
if [ "$rc" -eq 0 ] && [ "$out" = "$want" ]; then
  pass "batchctl stop 9E867FAA: $out"
else
  fail "batchctl stop 9E867FAA: exit $rc, output '$out', want exit 0 and '$want'"
fi

body=$("$py" - "$metrics_port" 2>&1 <<'EOF'
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5) as r:
    print(r.status)
    print(r.read().decode("utf-8", "replace"))
EOF
) || true
# A here-string, not `echo | grep -q`: grep -q exits at the first match and,
# under pipefail, echo's SIGPIPE on a long body would fail the test.
if [ "$(head -1 <<<"$body")" = 200 ] && grep -q '^# TYPE ' <<<"$body"; then
  pass "GET /metrics on :$metrics_port: 200, Prometheus text"
else
  fail "GET /metrics on :$metrics_port: $(echo "$body" | head -3 | tr '\n' ' ')"
fi

# podman stop sends SIGTERM (the image's StopSignal), then SIGKILL after
# --time. While it waits, watch the drain from here.
stop_start=$SECONDS
"${podman[@]}" stop --time 30 "$container" >"$work/stop.log" 2>&1 &
stopper=$!
if status=$(health --drain "$target" 10); then
  pass "draining after SIGTERM: $status"
else
  fail "draining after SIGTERM: $status, want readiness NOT_SERVING and liveness SERVING"
fi
wait "$stopper" || true
exit_code=$("${podman[@]}" inspect --format '{{.State.ExitCode}}' "$container")
if [ "$exit_code" = 0 ]; then
  pass "SIGTERM: exit status 0 after $((SECONDS - stop_start))s"
else
  "${podman[@]}" logs "$container" 2>&1 | tail -10
  fail "SIGTERM: exit status $exit_code after $((SECONDS - stop_start))s, want 0"
fi

summary
