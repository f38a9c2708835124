// MemoryGuard: keeps the process under its memory limit when a client makes
// gRPC hold more than the settings can bound.
//
// gRPC 1.51's stream limit and memory quota bound what open streams cost,
// but not streams a client opens and resets at once (HEADERS then
// RST_STREAM, the CVE-2023-44487 "rapid reset" class): each reset stream
// still costs a call that gRPC creates and tears down later, and a client
// that sends them faster than they are torn down grows the server's memory
// without bound (docs/faults.md, "Memory"). No gRPC 1.51 setting limits it,
// and its streams never reach the service's code. The guard works below
// gRPC instead:
//   - every `period` it reads the process's RSS;
//   - above `shed_fraction` of the limit it finds the gRPC client
//     connections (sockets whose local port is the gRPC port), samples how
//     many bytes each received over one short interval, and shuts down the
//     sockets of those flooding (gRPC sees the connection close and frees
//     what it held for it);
//   - above `trim_fraction` of the limit, at most once a second, it hands
//     freed heap memory back to the OS (malloc_trim), so the RSS comes back
//     down after a burst instead of staying at its peak.
// Normal traffic stays far below both thresholds, so the guard then costs
// one small read per period.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace serpwow {

struct MemoryGuardOptions {
  int64_t limit_bytes = int64_t{256} << 20;
  double shed_fraction = 0.2;
  double trim_fraction = 0.2;
  absl::Duration period = absl::Milliseconds(10);
  // How long the bytes each connection receives are counted for, and how
  // many it must have sent in that time to be shed: a sustained flood (48 KiB
  // in 30 ms is 1.6 MB/s, thousands of calls a second on one connection).
  // A legitimate client cannot send that while the memory is high: its
  // calls are then waiting on the upstream, and with at most
  // max_concurrent_streams (100) of them in flight on its connection it has
  // sent one burst of at most ~25 KiB and must wait for answers.
  absl::Duration sample = absl::Milliseconds(30);
  uint64_t min_bytes_to_shed = 48 << 10;
  int grpc_port = 0;  // the gRPC server's bound port
};

// One gRPC client connection as sampled.
struct ConnectionSample {
  int fd = -1;
  ino_t inode = 0;              // the socket's identity, checked again before shutdown
  uint64_t bytes_received = 0;  // over the sample interval
  std::string peer;             // "IP:PORT", for the log
};

// What the guard remembers between ticks.
struct GuardState {
  absl::Time last_trim = absl::InfinitePast();
  // No scan for flooding connections before this (see NextScanAt).
  absl::Time next_scan = absl::InfinitePast();
};

// What the guard does on one tick (pure, so tests need no clock or memory).
// Shed: over shed_fraction, once state.next_scan has come (every flooding
// connection, each scan: an attacker that reconnects is shed again at once;
// connections that do not flood are never shed). Trim: over trim_fraction,
// at most once a second.
struct GuardDecision {
  bool shed = false;
  bool trim = false;
};
GuardDecision DecideGuard(int64_t rss, const MemoryGuardOptions& options, const GuardState& state,
                          absl::Time now);

// When the next scan may start, after one that ended at `end` and spent
// `cost` of its thread (its two passes over the process's fds, not the
// sample's wait): at most a fiftieth of a thread goes to scanning. A scan
// walks every fd of the process, so with thousands of upstream connections
// open (a burst of calls on a slow upstream, which also raises the RSS over
// the threshold) it is no longer cheap, and scanning back to back would
// take a core from the calls it protects. With few fds it costs well under
// a millisecond and scans follow each other as before.
absl::Time NextScanAt(absl::Time end, absl::Duration cost);

// The connections to shut down: those that received at least `min_bytes`
// (and more than nothing) over the sample, the most first.
std::vector<size_t> FloodingConnections(const std::vector<ConnectionSample>& samples,
                                        uint64_t min_bytes);

class MemoryGuard {
 public:
  // `on_shed` runs (on the guard's thread) for every connection shut down.
  static std::unique_ptr<MemoryGuard> Start(MemoryGuardOptions options,
                                            std::function<void(const ConnectionSample&)> on_shed);
  ~MemoryGuard();  // stops the thread

  MemoryGuard(const MemoryGuard&) = delete;
  MemoryGuard& operator=(const MemoryGuard&) = delete;

 private:
  MemoryGuard(MemoryGuardOptions options, std::function<void(const ConnectionSample&)> on_shed);
  void Run();
  // Samples the connections and shuts down those flooding; how many.
  // `*cost`: the time its passes over the fds took (the sample's wait
  // excluded).
  int Shed(absl::Duration* cost);

  const MemoryGuardOptions options_;
  const std::function<void(const ConnectionSample&)> on_shed_;
  absl::Notification stop_;
  std::thread thread_;
};

// The process's resident set size in bytes (0 if unknown).
int64_t ResidentBytes();

}  // namespace serpwow
