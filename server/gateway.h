// Gateway: the assembled service (upstream loops, SerpWow client, the
// upstream caller, gRPC server with health and reflection, metrics endpoint)
// behind one Start(). batch-server's main and the service tests use it the same way.
//
// Health (grpc.health.v1.Health): "" (overall), "readiness" and
// "serpwow.batches.v1.BatchService" are SERVING while the gateway accepts
// calls and NOT_SERVING from the start of a shutdown; "liveness" stays
// SERVING until the process ends and never depends on the upstream.
#pragma once

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/server.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/logic/batch_mutation.h"
#include "server/logic/download_links.h"
#include "server/logic/list_pacer.h"
#include "server/logic/request_dedupe.h"
#include "server/logic/search_queue.h"
#include "server/logic/stop_batch.h"
#include "server/logic/upstream_caller.h"
#include "server/logic/watch_hub.h"
#include "server/memory_guard.h"
#include "server/metrics.h"
#include "server/metrics_server.h"
#include "server/rpc/batch_service.h"
#include "server/rpc/caller_auth.h"
#include "server/rpc/shutdown_gate.h"
#include "server/upstream/http_loop.h"
#include "server/upstream/loop_pool.h"
#include "server/upstream/serpwow_client.h"

namespace serpwow {

inline constexpr char kLivenessService[] = "liveness";
inline constexpr char kReadinessService[] = "readiness";

struct TlsOptions {
  // PEM files. cert+key turn TLS on; client_ca additionally requires and
  // verifies client certificates (mTLS).
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;
};

struct GatewayOptions {
  // HOST:PORT; port 0 picks a free port (see Gateway::port()).
  std::string listen = "0.0.0.0:50051";
  // HOST:PORT for GET /metrics; empty disables it.
  std::string metrics_listen;
  // HOST:PORT for a second, plaintext gRPC server that serves only
  // grpc.health.v1.Health (the same statuses), for Kubernetes' gRPC probes,
  // which cannot speak TLS. Empty: health is served on `listen` only.
  std::string health_listen;
  upstream::UpstreamOptions upstream;
  upstream::HttpLoopOptions loop;
  // Upstream loop threads (each with its own libcurl multi handle and
  // connection pool); a batch's calls always use the same one. 0: one per
  // CPU core, at most 4.
  int upstream_threads = 0;
  // The upstream caller's resilience (attempts, backoff, retry budget,
  // breaker, in-flight bound), shared by every RPC.
  logic::CallerOptions calls;
  // StopBatch's own (the pre-read's share of the deadline).
  logic::StopBatchOptions stop_batch;
  // SerpWow's List calls from this replica (logic/list_pacer.h): the token
  // bucket, the 429 pause, the cache. Per replica: with N replicas divide
  // rate_per_minute and burst by N.
  logic::ListPacerOptions list_pacing;
  // The batch mutations' limits and timings (logic/batch_mutation.h) and
  // the request_id table's bounds (logic/request_dedupe.h).
  logic::MutationOptions mutations;
  logic::DedupeOptions dedupe;
  // The search calls' queue (logic/search_queue.h): its bound and scope.
  logic::SearchQueueOptions search_queue;
  // The largest request message the server takes (AddSearches of 1000
  // searches with large params; gRPC's default is 4 MiB).
  size_t max_receive_message_bytes = 8 << 20;
  TlsOptions tls;
  // Bearer tokens file for callers; empty disables caller authentication.
  std::string auth_tokens_file;
  // Connection management (see README "Operating it").
  absl::Duration keepalive_time = absl::Seconds(60);
  absl::Duration keepalive_timeout = absl::Seconds(20);
  absl::Duration max_connection_age = absl::Minutes(5);
  absl::Duration max_connection_age_grace = absl::Seconds(30);
  // What one client can make the server hold (docs/faults.md, "Memory").
  // HTTP/2 streams one connection may have open (SETTINGS_MAX_CONCURRENT_
  // STREAMS; a client that opens more gets REFUSED_STREAM).
  int max_concurrent_streams = 100;
  // The memory the process may use (the container's limit); 0: no limit
  // (no quota, no guard). gRPC's memory quota, which bounds what its
  // transports and calls allocate, is a share of it (GrpcMemoryQuota): under
  // pressure gRPC shrinks its buffers and, at the quota, cancels calls on
  // the connections that hold most. And the memory guard
  // (server/memory_guard.h) sheds connections that flood it when the RSS
  // passes a share of it; not in sanitizer builds, whose RSS is mostly the
  // sanitizer's own.
  int64_t memory_limit_bytes = 0;
  // Metadata one call may carry (HTTP/2 accounting: name + value + 32 per
  // field). A larger call fails alone with RESOURCE_EXHAUSTED
  // METADATA_TOO_LARGE. gRPC's own limit, past which gRPC 1.51 fails every
  // call on the connection (docs/faults.md, "Metadata"), is set well above
  // it: GrpcMetadataLimit.
  size_t max_metadata_bytes = 8 << 10;
  // A client connection that has not completed its handshake (TLS, then the
  // HTTP/2 preface and SETTINGS) this long after it was accepted is closed,
  // on every port (main and health). Must be positive.
  absl::Duration handshake_timeout = absl::Seconds(5);
  // On shutdown, how long to keep serving (with health NOT_SERVING) before
  // refusing new calls, so that load balancers see the change first.
  absl::Duration drain_delay = absl::ZeroDuration();
  // Hosts a download link passed on may point at (logic/download_links.h,
  // MakeDownloadLinkPolicy); empty: results.<d> and searches.<d> of the
  // upstream's domain. The upstream's own origin is always accepted.
  std::vector<std::string> download_link_hosts;
  // WatchBatch: poll intervals, the poll budget, stream bounds
  // (logic/watch_hub.h).
  logic::WatchOptions watch;
};

// OK for "HOST:PORT", "[IPV6]:PORT" with 0 <= PORT <= 65535; the message names
// what is wrong.
absl::Status ValidateListenAddress(const std::string& address);

// gRPC's share of the memory limit; the rest is the process's own (code,
// the upstream loops and their connections, the log queue, the allocator's
// slack).
int64_t GrpcMemoryQuota(int64_t memory_limit_bytes);

// The default bound on calls in flight for a memory limit: one per 96 KiB
// (2730 for 256 MiB). A call in flight upstream costs about 34 KiB (gRPC's
// call, the operation, the libcurl transfer and its connection;
// memory_attack_test measures it), so a full bound takes under half the
// limit, which leaves room for what an attack makes gRPC hold before the
// memory guard sheds the attacker.
size_t InFlightBoundFor(int64_t memory_limit_bytes);

// gRPC's metadata limit (GRPC_ARG_MAX_METADATA_SIZE, also advertised as
// SETTINGS_MAX_HEADER_LIST_SIZE): 64 KiB, or twice the per-call limit if
// that is more.
size_t GrpcMetadataLimit(size_t max_metadata_bytes);

class Gateway {
 public:
  // Validates the options, starts the upstream loop, the gRPC server and the
  // metrics endpoint. Requires curl_global_init() to have run.
  static absl::StatusOr<std::unique_ptr<Gateway>> Start(GatewayOptions options);

  // Shutdown(absl::ZeroDuration()) if not done yet.
  ~Gateway();

  // The bound gRPC port, and "HOST:PORT" with it; the metrics port (0 if off).
  int port() const { return port_; }
  std::string address() const { return address_; }
  int metrics_port() const { return metrics_server_ ? metrics_server_->port() : 0; }
  int health_port() const { return health_port_; }

  // Graceful shutdown: health goes NOT_SERVING (liveness excepted); after
  // the drain delay new calls are refused with UNAVAILABLE (reason
  // SHUTTING_DOWN) and the server sends GOAWAY; calls in flight get until
  // `grace` (counted from the end of the drain delay) to finish; those still
  // waiting then end with UNAVAILABLE (reason SHUTTING_DOWN). Returns when
  // every call has ended. Idempotent. See Shutdown in gateway.cc for how no
  // refused call hears CANCELLED.
  void Shutdown(absl::Duration grace);

  // Upstream transfers in flight, over all loops.
  int64_t upstream_in_flight() const;
  GatewayMetrics& metrics() { return *metrics_; }
  // The List pacer; every mutation through this replica calls its
  // Invalidate() (the List cache must not outlive a change made here).
  logic::ListPacer& list_pacer() { return *list_pacer_; }
  // WatchBatch's pollers and streams.
  logic::WatchHub& watch_hub() { return *watch_hub_; }
  // Calls (operations) in flight in the upstream caller, watch polls included.
  size_t calls_in_flight() const { return caller_ != nullptr ? caller_->in_flight() : 0; }
  // The search calls' queue (its size() is 0 once a shutdown is complete).
  const logic::SearchQueue& search_queue() const { return *search_queue_; }
  // The Prometheus exposition (what GET /metrics returns).
  std::string RenderMetrics() const;

 private:
  Gateway() = default;
  std::unique_ptr<GatewayMetrics> metrics_;
  std::vector<std::unique_ptr<upstream::HttpLoop>> loops_;
  std::unique_ptr<upstream::LoopPool> pool_;
  std::unique_ptr<upstream::SerpwowClient> client_;
  std::unique_ptr<logic::UpstreamCaller> caller_;
  std::unique_ptr<logic::ListPacer> list_pacer_;
  logic::DownloadLinkPolicy download_links_;
  std::unique_ptr<logic::RequestDedupe> dedupe_;
  std::unique_ptr<logic::WatchHub> watch_hub_;  // after caller_: it goes first
  std::unique_ptr<logic::SearchQueue> search_queue_;
  std::unique_ptr<rpc::CallerAuth> auth_;
  rpc::ShutdownGate gate_;  // the refusal window of Shutdown (rpc/shutdown_gate.h)
  std::unique_ptr<rpc::BatchServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  // Answers UNIMPLEMENTED for every method but health on the health server;
  // without any service of its own, gRPC would refuse to build that server
  // (it needs a polled queue). Declared first: it outlives the server.
  grpc::CallbackGenericService health_unimplemented_;
  std::unique_ptr<grpc::Server> health_server_;  // plaintext, health only
  int health_port_ = 0;
  // Sets `service`'s status on every server that serves health.
  void SetHealth(const std::string& service, bool serving);
  std::unique_ptr<MetricsServer> metrics_server_;
  std::unique_ptr<MemoryGuard> memory_guard_;
  int port_ = 0;
  std::string address_;
  absl::Duration drain_delay_;
  bool shut_down_ = false;
};

}  // namespace serpwow
