#include "server/gateway.h"

#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/file.h"
#include "common/host_port.h"
#include "common/log.h"
#include "server/logic/errors.h"

namespace serpwow {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& flag, const std::string& path) {
  absl::StatusOr<std::string> content = ReadFile(path);
  if (!content.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", content.status().message()));
  }
  if (content->find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " is not a PEM file"));
  }
  return content;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const TlsOptions& tls) {
  if (tls.cert_file.empty() && tls.key_file.empty()) {
    if (!tls.client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls_client_ca_file needs --tls_cert_file and --tls_key_file");
    }
    return grpc::InsecureServerCredentials();
  }
  if (tls.cert_file.empty() || tls.key_file.empty()) {
    return absl::InvalidArgumentError("--tls_cert_file and --tls_key_file go together");
  }
  auto cert = ReadPem("--tls_cert_file", tls.cert_file);
  if (!cert.ok()) return cert.status();
  auto key = ReadPem("--tls_key_file", tls.key_file);
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  if (!tls.client_ca_file.empty()) {
    auto ca = ReadPem("--tls_client_ca_file", tls.client_ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

// Under ASan the RSS is mostly shadow memory and quarantine: a guard
// reading it would shed connections that cost nothing.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kRssIsMemory = false;
#else
constexpr bool kRssIsMemory = true;
#endif
// Server reflection on exactly the builders that ask for it. Linking
// libgrpc++_reflection registers its plugin for every ServerBuilder in the
// process (a static initializer calls InitProtoReflectionServerBuilderPlugin),
// which would put reflection on the plaintext health-only server too. This
// option removes that plugin from the builder it is set on and, when `serve`,
// adds one back: one reflection service or none, whether or not the library
// registered itself.
class ReflectionOption : public grpc::ServerBuilderOption {
 public:
  explicit ReflectionOption(bool serve) : serve_(serve) {}
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    auto reflection = std::make_unique<grpc::reflection::ProtoServerReflectionPlugin>();
    const std::string name = reflection->name();
    plugins->erase(std::remove_if(plugins->begin(), plugins->end(),
                                  [&name](const std::unique_ptr<grpc::ServerBuilderPlugin>& p) {
                                    return p->name() == name;
                                  }),
                   plugins->end());
    if (serve_) plugins->push_back(std::move(reflection));
  }

 private:
  const bool serve_;
};

int Millis(absl::Duration d) {
  int64_t ms = absl::ToInt64Milliseconds(d);
  return ms > INT32_MAX ? INT32_MAX : static_cast<int>(ms);
}

}  // namespace

absl::Status ValidateListenAddress(const std::string& address) {
  return ParseHostPort(address, {"--listen", "0.0.0.0:50051", "[::]:50051"}).status();
}

int64_t GrpcMemoryQuota(int64_t memory_limit_bytes) { return memory_limit_bytes / 2; }

size_t InFlightBoundFor(int64_t memory_limit_bytes) {
  return static_cast<size_t>(std::max<int64_t>(1, memory_limit_bytes / (96 << 10)));
}

size_t GrpcMetadataLimit(size_t max_metadata_bytes) {
  return std::max<size_t>(64 << 10, 2 * max_metadata_bytes);
}

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(GatewayOptions options) {
  if (absl::Status s = ValidateListenAddress(options.listen); !s.ok()) return s;
  if (options.handshake_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--handshake_timeout must be positive");
  }
  auto credentials = Credentials(options.tls);
  if (!credentials.ok()) return credentials.status();
  if (!options.loop.proxy.empty()) {
    if (!absl::StartsWith(options.upstream.base_url, "https://")) {
      return absl::InvalidArgumentError(
          "--upstream_proxy is for an https upstream only: plain http never goes through a "
          "proxy (it would see the URL, and so the API key)");
    }
    if (!absl::StartsWith(options.loop.proxy, "http://") &&
        !absl::StartsWith(options.loop.proxy, "https://")) {
      return absl::InvalidArgumentError(
          "--upstream_proxy must be an http:// or https:// proxy URL, e.g. http://proxy:3128");
    }
  }
  std::unique_ptr<Gateway> gw(new Gateway());
  if (!options.auth_tokens_file.empty()) {
    auto auth = rpc::CallerAuth::FromFile(options.auth_tokens_file);
    if (!auth.ok()) return auth.status();
    gw->auth_ = std::move(*auth);
  }
  gw->metrics_ = std::make_unique<GatewayMetrics>();
  int threads = options.upstream_threads;
  if (threads <= 0) {
    threads = static_cast<int>(std::min(4u, std::max(1u, std::thread::hardware_concurrency())));
  }
  std::vector<upstream::HttpLoop*> loops;
  for (int i = 0; i < threads; ++i) {
    upstream::HttpLoopOptions loop_options = options.loop;
    loop_options.id_shard = static_cast<uint32_t>(i);
    loop_options.id_shards = static_cast<uint32_t>(threads);
    absl::StatusOr<std::unique_ptr<upstream::HttpLoop>> loop =
        upstream::HttpLoop::Create(std::move(loop_options));
    if (!loop.ok()) return loop.status();
    loops.push_back(loop->get());
    gw->loops_.push_back(std::move(*loop));
  }
  gw->pool_ = std::make_unique<upstream::LoopPool>(std::move(loops));
  absl::StatusOr<std::unique_ptr<upstream::SerpwowClient>> client =
      upstream::SerpwowClient::Create(options.upstream, gw->pool_.get(), gw->metrics_.get());
  if (!client.ok()) return client.status();
  gw->client_ = std::move(*client);
  gw->caller_ = std::make_unique<logic::UpstreamCaller>(gw->client_.get(), options.calls);
  gw->list_pacer_ = std::make_unique<logic::ListPacer>(
      options.list_pacing, [] { return absl::Now(); }, gw->metrics_.get());
  gw->metrics_->SetListTokensSource(
      [pacer = gw->list_pacer_.get()] { return pacer->TokensAvailable(); });
  rpc::RpcDeps deps;
  deps.caller = gw->caller_.get();
  deps.stop_batch = options.stop_batch;
  gw->dedupe_ = std::make_unique<logic::RequestDedupe>(options.dedupe);
  deps.mutations = options.mutations;
  deps.dedupe = gw->dedupe_.get();
  deps.metrics = gw->metrics_.get();
  deps.auth = gw->auth_.get();
  deps.max_metadata_bytes = options.max_metadata_bytes;
  deps.gate = &gw->gate_;
  deps.list_pacer = gw->list_pacer_.get();
  // The search calls' queue lives on the loops (logic/search_queue.h).
  gw->search_queue_ = std::make_unique<logic::SearchQueue>(
      options.search_queue,
      [client = gw->client_.get()](const std::string& key, absl::Duration delay,
                                   std::function<void()> fn) {
        client->RunAfter(key, delay, std::move(fn));
      });
  deps.search_queue = gw->search_queue_.get();
  gw->metrics_->SetSearchQueueDepthSource(
      [queue = gw->search_queue_.get()] { return queue->depth_max(); });
  // Any mutation through this replica empties the List cache (read your
  // writes on one replica).
  gw->caller_->SetMutationListener([pacer = gw->list_pacer_.get()] { pacer->Invalidate(); });
  gw->download_links_ =
      logic::MakeDownloadLinkPolicy(options.upstream.base_url, options.download_link_hosts);
  deps.download_links = &gw->download_links_;
  // WatchBatch's pollers (logic/watch_hub.h), on the same caller and loops.
  gw->watch_hub_ = std::make_unique<logic::WatchHub>(gw->caller_.get(), &gw->download_links_,
                                                     options.watch, gw->metrics_.get());
  deps.watch = gw->watch_hub_.get();
  gw->service_ = std::make_unique<rpc::BatchServiceImpl>(deps);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.SetOption(std::make_unique<ReflectionOption>(true));
  builder.AddListeningPort(options.listen, *credentials, &gw->port_);
  builder.RegisterService(gw->service_.get());
  // Keepalive: find dead client connections; accept client pings no more
  // often than every 10 s. Max connection age: long-lived client connections
  // are closed gracefully so clients re-resolve and spread over new pods.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, Millis(options.keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, Millis(options.keepalive_timeout));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  // A connection that has not finished its handshake (TLS, then the client's
  // HTTP/2 preface and SETTINGS) by then is closed; gRPC's default is 120 s.
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             Millis(options.handshake_timeout));
  if (options.max_connection_age > absl::ZeroDuration()) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, Millis(options.max_connection_age));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               Millis(options.max_connection_age_grace));
  }
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  // An AddSearches of 1000 searches with large params exceeds gRPC's 4 MiB
  // default (design §2.12).
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<size_t>(INT32_MAX, options.max_receive_message_bytes)));
  builder.AddChannelArgument(
      GRPC_ARG_MAX_METADATA_SIZE,
      static_cast<int>(std::min<size_t>(INT32_MAX, GrpcMetadataLimit(options.max_metadata_bytes))));
  if (options.memory_limit_bytes > 0) {
    grpc::ResourceQuota quota("batch-server");
    quota.Resize(static_cast<size_t>(GrpcMemoryQuota(options.memory_limit_bytes)));
    builder.SetResourceQuota(quota);
  }
  gw->server_ = builder.BuildAndStart();
  if (gw->server_ == nullptr || gw->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("--listen: could not listen on ", options.listen,
                                               " (address in use or not local?)"));
  }
  gw->drain_delay_ = options.drain_delay;
  gw->address_ = absl::StrCat(options.listen.substr(0, options.listen.rfind(':')), ":", gw->port_);
  if (!options.health_listen.empty()) {
    if (absl::Status s =
            ParseHostPort(options.health_listen, {"--health_listen", "0.0.0.0:50052", "[::]:50052"})
                .status();
        !s.ok()) {
      return s;
    }
    grpc::ServerBuilder health_builder;
    health_builder.SetOption(std::make_unique<ReflectionOption>(false));  // health only
    health_builder.RegisterCallbackGenericService(&gw->health_unimplemented_);
    health_builder.AddListeningPort(options.health_listen, grpc::InsecureServerCredentials(),
                                    &gw->health_port_);
    health_builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                                      Millis(options.handshake_timeout));
    gw->health_server_ = health_builder.BuildAndStart();
    if (gw->health_server_ == nullptr || gw->health_port_ == 0) {
      return absl::UnavailableError(
          absl::StrCat("--health_listen: could not listen on ", options.health_listen));
    }
  }
  for (const char* service : {"", kLivenessService, kReadinessService}) {
    gw->SetHealth(service, true);
  }
  gw->SetHealth(serpwow::batches::v1::BatchService::service_full_name(), true);

  if (options.memory_limit_bytes > 0 && kRssIsMemory) {
    MemoryGuardOptions guard;
    guard.limit_bytes = options.memory_limit_bytes;
    guard.grpc_port = gw->port_;
    GatewayMetrics* metrics = gw->metrics_.get();
    const std::string sample = absl::FormatDuration(guard.sample);
    gw->memory_guard_ = MemoryGuard::Start(guard, [metrics, sample](const ConnectionSample& shed) {
      metrics->ConnectionShed();
      SERPWOW_LOG(kWarning, "memory near the limit (", ResidentBytes() >> 20,
                  " MiB resident): shut down the client connection from ", shed.peer,
                  ", which was flooding it (", shed.bytes_received, " bytes in ", sample, ")");
    });
  }
  if (!options.metrics_listen.empty()) {
    Gateway* self = gw.get();
    auto metrics_server =
        MetricsServer::Start(options.metrics_listen, [self] { return self->RenderMetrics(); });
    if (!metrics_server.ok()) return metrics_server.status();
    gw->metrics_server_ = std::move(*metrics_server);
  }
  return gw;
}

Gateway::~Gateway() { Shutdown(absl::ZeroDuration()); }

std::string Gateway::RenderMetrics() const {
  return metrics_->Render(pool_->connections_opened(), pool_->in_flight());
}

void Gateway::SetHealth(const std::string& service, bool serving) {
  for (grpc::Server* server : {server_.get(), health_server_.get()}) {
    if (server != nullptr) server->GetHealthCheckService()->SetServingStatus(service, serving);
  }
}

void Gateway::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  if (server_ != nullptr) {
    // By name: the no-name overload would also take "liveness" down.
    SetHealth("", false);
    SetHealth(kReadinessService, false);
    SetHealth(serpwow::batches::v1::BatchService::service_full_name(), false);
    if (drain_delay_ > absl::ZeroDuration()) absl::SleepFor(drain_delay_);
    const absl::Time began = absl::Now();
    const absl::Time grace_end = began + grace;
    // gRPC 1.51 drops a call that reaches grpc::Server once its shutdown has
    // begun (the caller hears CANCELLED, no details, and does not retry):
    // the calls clients send before they read the GOAWAY. So the gateway
    // refuses calls itself first, UNAVAILABLE SHUTTING_DOWN, and holds every
    // answer (rpc/shutdown_gate.h), until the calls clients sent just before
    // have arrived and been refused; a client that waits for its answer then
    // has nothing in the air.
    gate_.Hold();
    // Watch streams never end by themselves: all of them end now, UNAVAILABLE
    // SHUTTING_DOWN (the client resumes elsewhere with `since`), and no poll
    // is left in flight.
    watch_hub_->Shutdown(logic::ShuttingDownError(""));
    while (absl::Now() < rpc::RefusalWindowEnd(began, gate_.last_refused(), gate_.held(), grace)) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    // GOAWAY on every connection, the listener closed: the core call queues
    // the GOAWAYs before it returns (grpc::Server::Shutdown also waits for the
    // calls, so it runs below, in a thread; a second shutdown call only adds
    // its tag, and both are notified when the last call has ended).
    grpc_completion_queue* shutdown_cq = grpc_completion_queue_create_for_pluck(nullptr);
    int shutdown_tag = 0;
    grpc_server_shutdown_and_notify(server_->c_server(), shutdown_cq, &shutdown_tag);
    // The held answers now follow the GOAWAY on their connection: the client
    // reads it first and sends its next call, or its retry, elsewhere.
    gate_.Release();
    // grpc::Server::Shutdown waits for the calls in flight; its own deadline
    // (which would end them as CANCELLED) is set past ours, so that we end
    // the stragglers with UNAVAILABLE.
    std::thread shutdown(
        [this, grace_end] { server_->Shutdown(absl::ToChronoTime(grace_end + absl::Seconds(5))); });
    while (caller_->in_flight() > 0 && absl::Now() < grace_end) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    if (size_t left = caller_->in_flight(); left > 0) {
      SERPWOW_LOG(kWarning, "shutdown grace over; ending ", left, " call(s) with UNAVAILABLE");
      caller_->CancelAll(logic::ErrorBuilder(absl::StatusCode::kUnavailable,
                                             "the server is shutting down; retry the call",
                                             logic::reason::kShuttingDown));
    }
    shutdown.join();
    server_->Wait();
    // The shutdown is complete, so our tag has been posted.
    const grpc_event event = grpc_completion_queue_pluck(
        shutdown_cq, &shutdown_tag,
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_seconds(5, GPR_TIMESPAN)),
        nullptr);
    grpc_completion_queue_shutdown(shutdown_cq);
    if (event.type == GRPC_OP_COMPLETE) {
      grpc_completion_queue_destroy(shutdown_cq);
    } else {
      // Destroying a queue with an event still to come is not allowed.
      SERPWOW_LOG(kError, "the server's shutdown notice did not arrive; its queue is left");
    }
  }
  // Last: probes keep getting answers (readiness NOT_SERVING) while draining.
  if (health_server_ != nullptr) {
    health_server_->Shutdown(absl::ToChronoTime(absl::Now()));
    health_server_->Wait();
  }
  metrics_server_.reset();
  memory_guard_.reset();
  // Every RPC has ended; now the loops can go (they cancel what is left).
  loops_.clear();
  pool_.reset();
}

int64_t Gateway::upstream_in_flight() const { return pool_ != nullptr ? pool_->in_flight() : 0; }

}  // namespace serpwow
