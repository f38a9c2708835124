#!/usr/bin/env bash
# Runs every benchmark and regenerates the results: the table goes to
# docs/benchmarks-latest.txt, the latency samples to build/bench-latency.csv
# and the latency plot to docs/benchmark-latency.png (gnuplot, from Debian).
# Run it on a quiet machine: the figures are only as good as the idle CPUs.
#   bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
command -v gnuplot >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q gnuplot-nox
command -v openssl >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssl
scripts/build.sh release
bench/go_peer/build.sh  # the Go peer measured beside batch-server (section 6)

# A throwaway CA and server certificate for the https upstream (TLS mode of
# the simulator), to count TLS handshakes in steady state.
certs=$(mktemp -d)
trap 'rm -rf "$certs"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -keyout "$certs/ca.key" -out "$certs/ca.crt" -subj /CN=bench-ca 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$certs/server.key" -out "$certs/server.csr" -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$certs/ext"
openssl x509 -req -in "$certs/server.csr" -CA "$certs/ca.crt" -CAkey "$certs/ca.key" \
  -CAcreateserial -days 1 -extfile "$certs/ext" -out "$certs/server.crt" 2>/dev/null

out=docs/benchmarks-latest.txt
{
  echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  # --server as a path inside the repository: the table names the binary it
  # measured, and an absolute path would tie the committed results to one
  # machine's directories.
  build/bin/bench --server=build/bin/batch-server --samples_out=build/bench-latency.csv
  build/bin/bench --server=build/bin/batch-server --only=reuse --ca_file="$certs/ca.crt" \
    --upstream_tls_cert="$certs/server.crt" --upstream_tls_key="$certs/server.key"
  build/bin/bench --server=build/bin/batch-server --only=compare --peer=build/go-peer/go-peer \
    --compare_samples_out=build/bench-compare.csv
  # Where a call's time goes: context switches per call by thread, both gateways.
  build/bin/bench --server=build/bin/batch-server --only=switches --peer=build/go-peer/go-peer
} | tee "$out"

gnuplot <<'PLOT'
set datafile separator ","
# Count the samples first (stats honours ranges, so before setting any).
stats "build/bench-latency.csv" every ::1 using 1 nooutput
n1 = STATS_records
stats "build/bench-latency.csv" every ::1 using 2 nooutput
n2 = STATS_records
set terminal pngcairo size 900,520 font "DejaVu Sans,10"
set output "docs/benchmark-latency.png"
set title "StopBatch at concurrency 1: the two upstream calls made directly vs through the gateway"
set xlabel "latency (µs, log scale)"
set ylabel "share of calls at or below"
set key bottom right
set grid
set logscale x
set xrange [40:3000]
set yrange [0:1]
plot "build/bench-latency.csv" every ::1 using 1:(1.0/n1) smooth cumulative with lines lw 2 \
       title sprintf("direct libcurl, read + stop (%d calls)", n1), \
     "build/bench-latency.csv" every ::1 using 2:(1.0/n2) smooth cumulative with lines lw 2 \
       title sprintf("gRPC StopBatch through the gateway (%d calls)", n2)
PLOT
gnuplot <<'PLOT'
set datafile separator ","
stats "build/bench-compare.csv" every ::1 using 1 nooutput
n1 = STATS_records
stats "build/bench-compare.csv" every ::1 using 2 nooutput
n2 = STATS_records
set terminal pngcairo size 900,520 font "DejaVu Sans,10"
set output "docs/benchmark-compare.png"
set termoption noenhanced  # "go_peer" as written, not with a subscript
set title "StopBatch at concurrency 1, same run: batch-server and the Go peer (bench/go_peer)"
set xlabel "latency (µs, log scale)"
set ylabel "share of calls at or below"
set key bottom right
set grid
set logscale x
set xrange [100:5000]
set yrange [0:1]
plot "build/bench-compare.csv" every ::1 using 1:(1.0/n1) smooth cumulative with lines lw 2 \
       title sprintf("batch-server (%d calls)", n1), \
     "build/bench-compare.csv" every ::1 using 2:(1.0/n2) smooth cumulative with lines lw 2 \
       title sprintf("Go peer: grpc-go + net/http (%d calls)", n2)
PLOT
echo "bench/run.sh: wrote $out, docs/benchmark-latency.png and docs/benchmark-compare.png"
