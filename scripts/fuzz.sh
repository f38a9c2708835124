#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang) into build-fuzz/ and runs each:
# first every input in fuzz/regressions/<target>/ and fuzz/corpus/<target>/
# once, then fuzzing for SECONDS_PER_TARGET (default 30). New inputs go to a
# scratch corpus in build-fuzz/corpus/<target>/, crash inputs to
# build-fuzz/crashes/<target>/; the committed corpus is never written.
# Exits 1 if any target failed, and ends with "fuzz: N passed, M failed".
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
#   FUZZ_JOBS=1 nice -n 10 scripts/fuzz.sh 60    # gentler on a shared machine
#
# A crash input found here belongs in fuzz/regressions/<target>/ (kept after
# the fix; it is replayed on every run). Reproduce one with
#   build-fuzz/bin/<target> <file>
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-30}
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: $0 [SECONDS_PER_TARGET]   (a positive whole number, default 30)" >&2
  exit 64
fi
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
targets=(fuzz_classify_reply fuzz_parse_retry_after fuzz_batch_id fuzz_map_batch fuzz_list_filter
  fuzz_page_token fuzz_map_resources fuzz_batch_input fuzz_mutation_reply fuzz_search_filter)
build="build-fuzz"

# --- Tools -------------------------------------------------------------------
packages=(clang libclang-rt-14-dev cmake ninja-build libprotobuf-dev protobuf-compiler
          libabsl-dev libcurl4-openssl-dev nlohmann-json3-dev golang-github-gogo-googleapis-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "fuzz: installing ${missing[*]}"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "fuzz: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
    sudo_cmd=(sudo)
  fi
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
fi
echo "fuzz: $(clang++ --version | head -n 1)"

# --- Build -------------------------------------------------------------------
start=$(date +%s)
if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S fuzz -B "$build" -G Ninja >/dev/null
fi
mkdir -p "$build/logs"
if ! ninja -C "$build" -j "$jobs" "${targets[@]}" >"$build/logs/build.log" 2>&1; then
  tail -n 40 "$build/logs/build.log" >&2
  echo "fuzz: build failed (full log: $build/logs/build.log)" >&2
  exit 1
fi
echo "fuzz: build took $(($(date +%s) - start))s"

# UBSan aborts (the targets are built with -fno-sanitize-recover=all); leaks
# count as crashes.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

inputs_of() {  # every regular, non-hidden file in the given directories
  find "$@" -maxdepth 1 -type f ! -name '.*' 2>/dev/null | sort
}

passed=0
failed=0
failures=()
for t in "${targets[@]}"; do
  bin="$build/bin/$t"
  logs="$build/logs"
  crashes="$build/crashes/$t"
  scratch="$build/corpus/$t"
  mkdir -p "$logs" "$crashes" "$scratch"

  # 1. Replay: regressions and seeds, no fuzzing.
  mapfile -t files < <(inputs_of "fuzz/regressions/$t" "fuzz/corpus/$t")
  replay_ok=1
  t0=$(date +%s)
  replay_flags=(-timeout=5 -rss_limit_mb=2048)
  if [ ${#files[@]} -gt 0 ] && ! "$bin" "${replay_flags[@]}" "${files[@]}" >"$logs/$t.replay.log" 2>&1; then
    # One process stops at the first failure: find every failing file.
    replay_ok=0
    for f in "${files[@]}"; do
      if ! "$bin" "${replay_flags[@]}" "$f" >"$logs/$t.replay-one.log" 2>&1; then
        echo "fuzz: $t: FAILED on $f"
        grep -m 3 -E '^\*\*\* |ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' \
          "$logs/$t.replay-one.log" | sed 's/^/    /' || true
      fi
    done
  fi
  echo "fuzz: $t: replayed ${#files[@]} inputs in $(($(date +%s) - t0))s"
  if [ $replay_ok -eq 0 ]; then
    echo "fuzz: $t: not fuzzed: fix the failing inputs above first (reproduce: $bin FILE)"
    failed=$((failed + 1))
    failures+=("$t (replay)")
    continue
  fi

  # 2. Fuzz. The first directory receives new inputs; the others only seed it.
  extra=()
  case "$t" in
    # -max_len: the seeds hold 10-20 KB nestings (replayed in full above);
    # mutating inputs that size runs several times slower for no new coverage.
    fuzz_classify_reply) extra=(-dict=fuzz/dict/json.dict -max_len=4096) ;;
    fuzz_parse_retry_after) extra=(-dict=fuzz/dict/retry_after.dict) ;;
    # -max_len: as above; the deep_nesting seed is 6 KB.
    fuzz_map_batch) extra=(-dict=fuzz/dict/batch.dict -max_len=4096) ;;
    fuzz_list_filter) extra=(-dict=fuzz/dict/list_filter.dict -max_len=2048) ;;
    fuzz_search_filter) extra=(-dict=fuzz/dict/search_filter.dict -max_len=2048) ;;
    fuzz_page_token) extra=(-max_len=300) ;;
    fuzz_map_resources) extra=(-dict=fuzz/dict/json.dict -max_len=4096) ;;
  esac
  t0=$(date +%s)
  set +e
  timeout --kill-after=30 $((seconds + 120)) "$bin" -max_total_time="$seconds" -timeout=5 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$crashes/" "${extra[@]}" \
    "$scratch" "fuzz/corpus/$t" >"$logs/$t.fuzz.log" 2>&1
  rc=$?
  set -e
  elapsed=$(($(date +%s) - t0))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.fuzz.log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$t.fuzz.log" | tail -n 1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$logs/$t.fuzz.log" | tail -n 1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$logs/$t.fuzz.log" |
        tail -n 1 || true)
  stats="${runs:-?} runs in ${elapsed}s, ${rate:-?} exec/s, ${cov:-no coverage line}, peak RSS ${rss:-?} MB"
  if [ $rc -eq 0 ]; then
    echo "fuzz: $t: ok: $stats"
    passed=$((passed + 1))
  else
    echo "fuzz: $t: FAILED (exit $rc): $stats"
    grep -E '^\*\*\* |^SUMMARY: |ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' \
      "$logs/$t.fuzz.log" | head -n 8 | sed 's/^/    /' || true
    saved=$(sed -n 's/.*Test unit written to //p' "$logs/$t.fuzz.log" | tail -n 1)
    if [ -n "$saved" ]; then
      echo "fuzz: $t: crash input saved to $saved (reproduce: $bin $saved)"
    elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
      echo "fuzz: $t: did not stop by itself; killed after $((seconds + 120))s"
    fi
    echo "fuzz: $t: full log: $logs/$t.fuzz.log"
    failed=$((failed + 1))
    failures+=("$t")
  fi
done

if [ $failed -gt 0 ]; then
  echo "fuzz: failed: ${failures[*]}"
fi
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
