// batch-server: the SerpWow Batches gRPC gateway. Flags and the key in,
// a running Gateway out; SIGTERM/SIGINT shut it down gracefully.
#include <curl/curl.h>
#include <signal.h>
#include <unistd.h>  // environ

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/byte_size.h"
#include "common/file.h"
#include "common/flag_env.h"
#include "common/log.h"
#include "common/process.h"
#include "server/gateway.h"
#include "sim/simulator.h"

// Every flag --foo_bar can also be set by the environment variable
// BATCH_SERVER_FOO_BAR (the command line wins). The API key is the exception:
// it is never a flag value (it would show in ps); it comes from
// SERPWOW_API_KEY or the file named by --api_key_file.
ABSL_FLAG(std::string, listen, "0.0.0.0:50051",
          "gRPC listen address HOST:PORT, port 0 for any [env BATCH_SERVER_LISTEN]");
ABSL_FLAG(std::string, metrics_listen, "0.0.0.0:9090",
          "Prometheus /metrics listen address HOST:PORT; empty turns it off "
          "[env BATCH_SERVER_METRICS_LISTEN]");
ABSL_FLAG(std::string, health_listen, "",
          "HOST:PORT of an extra plaintext gRPC server that serves only grpc.health.v1.Health, "
          "for Kubernetes gRPC probes when --tls_cert_file is set (probes cannot use TLS); "
          "empty: health on --listen only [env BATCH_SERVER_HEALTH_LISTEN]");
ABSL_FLAG(std::string, upstream, "https://api.serpwow.com/live",
          "SerpWow Batches API base URL. Scale SERP: https://api.scaleserp.com, Value SERP: "
          "https://api.valueserp.com. Plain http only to a loopback host "
          "[env BATCH_SERVER_UPSTREAM]");
ABSL_FLAG(std::string, api_key_file, "",
          "file holding the SerpWow API key; without it the key comes from the SERPWOW_API_KEY "
          "environment variable [env BATCH_SERVER_API_KEY_FILE]");
ABSL_FLAG(bool, simulate, false,
          "start an embedded SerpWow simulator on a loopback port and use it as the upstream "
          "(no key, no network needed) [env BATCH_SERVER_SIMULATE]");
ABSL_FLAG(absl::Duration, upstream_timeout, absl::Seconds(10),
          "upper bound on one upstream request, whatever the caller's deadline "
          "[env BATCH_SERVER_UPSTREAM_TIMEOUT]");
ABSL_FLAG(absl::Duration, upstream_connect_timeout, absl::Seconds(3),
          "upper bound on connecting to the upstream [env BATCH_SERVER_UPSTREAM_CONNECT_TIMEOUT]");
ABSL_FLAG(int, upstream_threads, 0,
          "upstream loop threads, each with its own connection pool (a batch's calls always use "
          "the same one); 0: one per CPU core, at most 4 [env BATCH_SERVER_UPSTREAM_THREADS]");
ABSL_FLAG(int, upstream_attempts, 3,
          "attempts per upstream request of a call (a read, a stop), the first included; retries "
          "stay within the caller's deadline [env BATCH_SERVER_UPSTREAM_ATTEMPTS]");
ABSL_FLAG(double, retry_budget_ratio, 0.1,
          "retry budget: retries may be at most this share of the calls of the last 10 s, plus "
          "--retry_budget_min [env BATCH_SERVER_RETRY_BUDGET_RATIO]");
ABSL_FLAG(int, retry_budget_min, 10,
          "retry budget: retries always allowed per 10 s, so that a quiet gateway can still retry "
          "[env BATCH_SERVER_RETRY_BUDGET_MIN]");
ABSL_FLAG(int, max_in_flight, 0,
          "calls in flight at once; beyond, calls fail fast with UNAVAILABLE GATEWAY_OVERLOADED; "
          "0: one per 96 KiB of --memory_limit (2730 for 256Mi) [env BATCH_SERVER_MAX_IN_FLIGHT]");
ABSL_FLAG(absl::Duration, breaker_window, absl::Seconds(10),
          "circuit breaker: calls are counted over this sliding window "
          "[env BATCH_SERVER_BREAKER_WINDOW]");
ABSL_FLAG(int, breaker_min_calls, 20,
          "circuit breaker: it never opens on fewer calls than this in the window "
          "[env BATCH_SERVER_BREAKER_MIN_CALLS]");
ABSL_FLAG(double, breaker_failure_ratio, 0.5,
          "circuit breaker: it opens when at least this share of the window's calls failed "
          "(transport errors, HTTP 500/502/503/504, upstream timeouts) "
          "[env BATCH_SERVER_BREAKER_FAILURE_RATIO]");
ABSL_FLAG(absl::Duration, breaker_open_for, absl::Seconds(5),
          "circuit breaker: calls fail fast with UNAVAILABLE CIRCUIT_OPEN this long before trial "
          "calls go through; 0 disables the breaker [env BATCH_SERVER_BREAKER_OPEN_FOR]");
ABSL_FLAG(int, breaker_half_open_trials, 3,
          "circuit breaker: trial calls let through after the open time; all must succeed to "
          "close it [env BATCH_SERVER_BREAKER_HALF_OPEN_TRIALS]");
ABSL_FLAG(int, upstream_max_idle_connections, 1024,
          "idle upstream connections kept for reuse, per connection pool (one per 64 transfers in "
          "flight on an upstream thread) "
          "[env BATCH_SERVER_UPSTREAM_MAX_IDLE_CONNECTIONS]");
ABSL_FLAG(std::string, upstream_proxy, "",
          "proxy for an https upstream, used as a CONNECT tunnel (it never sees a URL); empty: no "
          "proxy, whatever http_proxy/https_proxy say. Plain http never uses a proxy "
          "[env BATCH_SERVER_UPSTREAM_PROXY]");
ABSL_FLAG(std::string, upstream_ca_file, "",
          "CA bundle to verify the upstream's TLS certificate (default: the system store) "
          "[env BATCH_SERVER_UPSTREAM_CA_FILE]");
ABSL_FLAG(int, list_rate_per_minute, 55,
          "SerpWow List calls this replica sends per minute (SerpWow allows 60 per account); "
          "with N replicas use 55/N. Calls beyond wait up to 2s for a token or get "
          "RESOURCE_EXHAUSTED RATE_LIMITED [env BATCH_SERVER_LIST_RATE_PER_MINUTE]");
ABSL_FLAG(int, list_burst, 5,
          "List calls that may go at once after a quiet spell (over any minute at most "
          "burst + rate leave this replica); with N replicas use 5/N, at least 1 "
          "[env BATCH_SERVER_LIST_BURST]");
ABSL_FLAG(absl::Duration, list_cache_ttl, absl::Seconds(2),
          "how long a List reply is served from this replica's cache (0 turns it off; any "
          "mutation through this replica empties it) [env BATCH_SERVER_LIST_CACHE_TTL]");
ABSL_FLAG(absl::Duration, watch_interval_queued, absl::Seconds(10),
          "WatchBatch: how often a queued batch is read (jittered by 20%) "
          "[env BATCH_SERVER_WATCH_INTERVAL_QUEUED]");
ABSL_FLAG(
    absl::Duration, watch_interval_running, absl::Seconds(5),
    "WatchBatch: how often a running batch is read [env BATCH_SERVER_WATCH_INTERVAL_RUNNING]");
ABSL_FLAG(absl::Duration, watch_interval_idle, absl::Seconds(60),
          "WatchBatch: how often an idle batch is read [env BATCH_SERVER_WATCH_INTERVAL_IDLE]");
ABSL_FLAG(double, watch_poll_rate, 10,
          "WatchBatch: reads a second this replica's pollers may send over all watched batches "
          "(with B batches watched each is read at most every B/rate) "
          "[env BATCH_SERVER_WATCH_POLL_RATE]");
ABSL_FLAG(int64_t, watch_max_streams, 10000,
          "WatchBatch streams open at once; beyond, UNAVAILABLE GATEWAY_OVERLOADED "
          "[env BATCH_SERVER_WATCH_MAX_STREAMS]");
ABSL_FLAG(absl::Duration, watch_max_duration, absl::Hours(1),
          "a WatchBatch stream ends OK after this long (clients resume with since) "
          "[env BATCH_SERVER_WATCH_MAX_DURATION]");
ABSL_FLAG(absl::Duration, watch_failure_limit, absl::Minutes(2),
          "polls of a watched batch failing this long end its streams UNAVAILABLE "
          "UPSTREAM_UNAVAILABLE [env BATCH_SERVER_WATCH_FAILURE_LIMIT]");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "on SIGTERM/SIGINT, how long calls in flight may take to finish before they are ended "
          "with UNAVAILABLE [env BATCH_SERVER_SHUTDOWN_GRACE]");
ABSL_FLAG(absl::Duration, drain_delay, absl::ZeroDuration(),
          "on SIGTERM/SIGINT, keep serving this long with health NOT_SERVING before refusing new "
          "calls (in Kubernetes a preStop pause does the same) [env BATCH_SERVER_DRAIN_DELAY]");
ABSL_FLAG(std::string, log_level, "info",
          "debug, info, warning or error [env BATCH_SERVER_LOG_LEVEL]");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain; with --tls_key_file, callers must use TLS "
          "[env BATCH_SERVER_TLS_CERT_FILE]");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key [env BATCH_SERVER_TLS_KEY_FILE]");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA bundle; when set, callers must present a client certificate it signed (mTLS) "
          "[env BATCH_SERVER_TLS_CLIENT_CA_FILE]");
ABSL_FLAG(std::string, auth_tokens_file, "",
          "file of caller bearer tokens, one per line; when set, every BatchService call needs "
          "'authorization: Bearer <token>' (health is exempt) [env BATCH_SERVER_AUTH_TOKENS_FILE]");
ABSL_FLAG(absl::Duration, keepalive_time, absl::Seconds(60),
          "ping idle client connections this often [env BATCH_SERVER_KEEPALIVE_TIME]");
ABSL_FLAG(absl::Duration, keepalive_timeout, absl::Seconds(20),
          "close a connection whose ping is not answered within this "
          "[env BATCH_SERVER_KEEPALIVE_TIMEOUT]");
ABSL_FLAG(absl::Duration, max_connection_age, absl::Minutes(5),
          "close client connections gracefully after this long, so clients spread over new "
          "pods; 0 turns it off [env BATCH_SERVER_MAX_CONNECTION_AGE]");
ABSL_FLAG(absl::Duration, max_connection_age_grace, absl::Seconds(30),
          "time calls on an aged connection get to finish "
          "[env BATCH_SERVER_MAX_CONNECTION_AGE_GRACE]");
ABSL_FLAG(std::string, memory_limit, "256Mi",
          "the memory the process may use (the container's limit: bytes, or a size with Ki, Mi, "
          "Gi); gRPC's memory quota is sized from it [env BATCH_SERVER_MEMORY_LIMIT]");
ABSL_FLAG(
    int, max_concurrent_streams, 100,
    "HTTP/2 streams (calls) one client connection may have open at once; more are "
    "refused with REFUSED_STREAM, which clients retry [env BATCH_SERVER_MAX_CONCURRENT_STREAMS]");
ABSL_FLAG(std::string, max_metadata_size, "8Ki",
          "metadata one call may carry (bytes, or with Ki/Mi); a larger call fails alone with "
          "RESOURCE_EXHAUSTED METADATA_TOO_LARGE [env BATCH_SERVER_MAX_METADATA_SIZE]");
ABSL_FLAG(std::vector<std::string>, download_link_hosts, {},
          "comma-separated hosts the download links the gateway passes on may point at (https "
          "only; \".example.com\" matches its subdomains); empty: results.<domain> and "
          "searches.<domain> of the upstream, e.g. results.serpwow.com. The upstream's own "
          "origin is always accepted (with --simulate: the simulator's plain-http origin) "
          "[env BATCH_SERVER_DOWNLOAD_LINK_HOSTS]");
ABSL_FLAG(int64_t, request_id_max_entries, 100000,
          "request_id de-duplication: answers kept per replica, oldest-used dropped beyond "
          "[env BATCH_SERVER_REQUEST_ID_MAX_ENTRIES]");
ABSL_FLAG(
    absl::Duration, request_id_ttl, absl::Hours(24),
    "request_id de-duplication: how long an answer is kept [env BATCH_SERVER_REQUEST_ID_TTL]");
ABSL_FLAG(int64_t, max_destination_ids, 50,
          "CreateBatch/UpdateBatch: destination ids per batch, checked before sending "
          "[env BATCH_SERVER_MAX_DESTINATION_IDS]");
ABSL_FLAG(int64_t, max_webhook_bytes, 2048,
          "CreateBatch/UpdateBatch: longest notification_webhook URL, checked before sending "
          "[env BATCH_SERVER_MAX_WEBHOOK_BYTES]");
ABSL_FLAG(absl::Duration, stop_all_listing_budget, absl::Milliseconds(200),
          "StopAllBatches: time the listing before the stop may take; beyond it the stop goes "
          "ahead without the report [env BATCH_SERVER_STOP_ALL_LISTING_BUDGET]");
ABSL_FLAG(int64_t, search_queue_max, 32,
          "search calls (AddSearches, UpdateSearch, DeleteSearch, BatchDeleteSearches, "
          "PurgeSearches, a filtered ListSearches) waiting per batch queue; beyond, ABORTED "
          "BATCH_BUSY [env BATCH_SERVER_SEARCH_QUEUE_MAX]");
ABSL_FLAG(std::string, search_mutation_scope, "batch",
          "batch: one search queue per batch; account: one for the whole account (SerpWow does "
          "not say which its 429 rule is) [env BATCH_SERVER_SEARCH_MUTATION_SCOPE]");
ABSL_FLAG(int64_t, max_searches_per_batch, 15000,
          "AddSearches: searches a batch may hold (max_page counted), checked before sending "
          "[env BATCH_SERVER_MAX_SEARCHES_PER_BATCH]");
ABSL_FLAG(int64_t, max_searches_with_html, 100,
          "AddSearches: searches a batch may hold when a new one uses include_html "
          "[env BATCH_SERVER_MAX_SEARCHES_WITH_HTML]");
ABSL_FLAG(
    int64_t, max_searches_per_call, 1000,
    "AddSearches/BatchDeleteSearches: searches per call [env BATCH_SERVER_MAX_SEARCHES_PER_CALL]");
ABSL_FLAG(int64_t, max_page_limit, 20,
          "AddSearches/UpdateSearch: the largest max_page [env BATCH_SERVER_MAX_PAGE_LIMIT]");
ABSL_FLAG(std::string, max_receive_message_size, "8Mi",
          "the largest gRPC request message (an AddSearches of 1000 searches) "
          "[env BATCH_SERVER_MAX_RECEIVE_MESSAGE_SIZE]");
ABSL_FLAG(absl::Duration, handshake_timeout, absl::Seconds(5),
          "close a client connection that has not finished its TLS handshake and HTTP/2 "
          "preface this long after it was accepted (every port) "
          "[env BATCH_SERVER_HANDSHAKE_TIMEOUT]");

namespace {

constexpr int kExitBadConfig = 2;
constexpr int kExitStartFailed = 1;

[[noreturn]] void Fail(int code, const std::string& message) {
  std::fprintf(stderr, "batch-server: %s\n", message.c_str());
  std::exit(code);
}

constexpr char kApiKeyVariable[] = "SERPWOW_API_KEY";

// Takes SERPWOW_API_KEY out of the environment and returns its value ("" when
// unset), so that the key is not left where other processes of the same user
// (or root) can read it: /proc/PID/environ, and the environment of any child.
// unsetenv alone only drops the pointer from `environ`; /proc/PID/environ
// shows the block the process started with, so every such entry's value is
// overwritten in place first (explicit_bzero: the write is never elided).
// Must run before any thread exists: getenv and unsetenv are not thread-safe.
std::string TakeApiKeyFromEnvironment() {
  const size_t name_len = std::strlen(kApiKeyVariable);
  std::string key;
  bool found = false;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (std::strncmp(*entry, kApiKeyVariable, name_len) != 0 || (*entry)[name_len] != '=') continue;
    char* value = *entry + name_len + 1;
    if (!found) key = value;  // the one getenv would return
    found = true;
    explicit_bzero(value, std::strlen(value));
  }
  if (found) unsetenv(kApiKeyVariable);
  return key;
}

// Reads the key from --api_key_file or, as taken from the environment,
// SERPWOW_API_KEY (`env_key`). Messages never contain the key.
std::string ReadApiKey(const std::string& env_key) {
  const std::string path = absl::GetFlag(FLAGS_api_key_file);
  if (!path.empty() && !env_key.empty()) {
    Fail(kExitBadConfig, "both --api_key_file and SERPWOW_API_KEY are set; set only one");
  }
  if (!path.empty()) {
    absl::StatusOr<std::string> content = serpwow::ReadFile(path);
    if (!content.ok()) {
      Fail(kExitBadConfig, absl::StrCat("--api_key_file: ", content.status().message()));
    }
    std::string key(absl::StripAsciiWhitespace(*content));
    if (key.empty()) Fail(kExitBadConfig, absl::StrCat("--api_key_file: ", path, " is empty"));
    return key;
  }
  if (!env_key.empty()) return std::string(absl::StripAsciiWhitespace(env_key));
  Fail(kExitBadConfig,
       "no SerpWow API key: set SERPWOW_API_KEY or --api_key_file=PATH (or use --simulate)");
}

std::string RandomKey() {
  std::random_device rd;
  std::string key = "sim-";
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 32; ++i) key.push_back(kHex[rd() % 16]);
  return key;
}

}  // namespace

int main(int argc, char** argv) {
  // First, while the process has one thread: the key leaves the environment
  // whatever the flags say (with --simulate it is not used, and goes too).
  const std::string env_api_key = TakeApiKeyFromEnvironment();
  serpwow::SetUpHelp(
      argc, argv, "server/main.cc",
      "serves serpwow.batches.v1.BatchService in front of the SerpWow Batches API.\n"
      "  batch-server --simulate                 # try it, no key needed\n"
      "  SERPWOW_API_KEY=... batch-server        # production\n"
      "Every flag --foo_bar may instead be set by the environment variable BATCH_SERVER_FOO_BAR\n"
      "(shown as [env ...]); the command line wins. The SerpWow API key is never a flag: it\n"
      "comes from SERPWOW_API_KEY or from the file named by --api_key_file.");
  if (absl::Status env = serpwow::ApplyFlagsFromEnvironment("BATCH_SERVER_", "server/main.cc");
      !env.ok()) {
    Fail(kExitBadConfig, std::string(env.message()));
  }
  absl::ParseCommandLine(argc, argv);
  serpwow::LogLevel level;
  if (!serpwow::ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    Fail(kExitBadConfig, "--log_level must be debug, info, warning or error");
  }
  serpwow::SetMinLogLevel(level);
  // Debian's Abseil records every Mutex acquisition order to detect deadlocks:
  // a debugging aid that costs CPU on every lock. The tests keep it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // Before any thread exists: SIGINT/SIGTERM are taken by
  // WaitForShutdownSignal below, SIGPIPE is ignored, the fd limit is raised
  // (each upstream request in flight holds a socket) and libcurl's global
  // state is set up once.
  serpwow::ProcessSetupOptions process;
  process.init_curl = true;
  if (absl::Status s = serpwow::SetUpProcess(process); !s.ok()) {
    Fail(kExitStartFailed, std::string(s.message()));
  }

  serpwow::GatewayOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.upstream.timeout_cap = absl::GetFlag(FLAGS_upstream_timeout);
  options.upstream.connect_timeout = absl::GetFlag(FLAGS_upstream_connect_timeout);
  options.loop.max_idle_connections = absl::GetFlag(FLAGS_upstream_max_idle_connections);
  options.loop.ca_file = absl::GetFlag(FLAGS_upstream_ca_file);
  options.loop.proxy = absl::GetFlag(FLAGS_upstream_proxy);
  options.upstream_threads = absl::GetFlag(FLAGS_upstream_threads);
  if (options.upstream_threads < 0 || options.upstream_threads > 64) {
    Fail(kExitBadConfig, "--upstream_threads must be between 0 (one per core) and 64");
  }
  if (options.upstream.timeout_cap <= absl::ZeroDuration()) {
    Fail(kExitBadConfig, "--upstream_timeout must be positive");
  }
  if (options.upstream.connect_timeout <= absl::ZeroDuration()) {
    Fail(kExitBadConfig, "--upstream_connect_timeout must be positive");
  }
  if (options.loop.max_idle_connections < 1) {
    Fail(kExitBadConfig, "--upstream_max_idle_connections must be at least 1");
  }
  {
    absl::StatusOr<int64_t> limit =
        serpwow::ParseByteSize(absl::GetFlag(FLAGS_memory_limit), "--memory_limit");
    if (!limit.ok()) Fail(kExitBadConfig, std::string(limit.status().message()));
    if (*limit < (int64_t{32} << 20)) Fail(kExitBadConfig, "--memory_limit must be at least 32Mi");
    options.memory_limit_bytes = *limit;
    absl::StatusOr<int64_t> metadata =
        serpwow::ParseByteSize(absl::GetFlag(FLAGS_max_metadata_size), "--max_metadata_size");
    if (!metadata.ok()) Fail(kExitBadConfig, std::string(metadata.status().message()));
    if (*metadata < 1024 || *metadata > (int64_t{1} << 20)) {
      Fail(kExitBadConfig, "--max_metadata_size must be between 1Ki and 1Mi");
    }
    options.max_metadata_bytes = static_cast<size_t>(*metadata);
    options.max_concurrent_streams = absl::GetFlag(FLAGS_max_concurrent_streams);
    if (options.max_concurrent_streams < 1) {
      Fail(kExitBadConfig, "--max_concurrent_streams must be at least 1");
    }
  }

  {  // batch mutations
    const int64_t entries = absl::GetFlag(FLAGS_request_id_max_entries);
    const absl::Duration ttl = absl::GetFlag(FLAGS_request_id_ttl);
    if (entries < 1 || ttl <= absl::ZeroDuration()) {
      Fail(kExitBadConfig, "--request_id_max_entries and --request_id_ttl must be positive");
    }
    options.dedupe.max_entries = static_cast<size_t>(entries);
    options.dedupe.ttl = ttl;
    const int64_t destinations = absl::GetFlag(FLAGS_max_destination_ids);
    const int64_t webhook = absl::GetFlag(FLAGS_max_webhook_bytes);
    if (destinations < 0 || webhook < 1) {
      Fail(kExitBadConfig,
           "--max_destination_ids must not be negative, --max_webhook_bytes "
           "must be positive");
    }
    options.mutations.max_destination_ids = static_cast<size_t>(destinations);
    options.mutations.max_webhook_bytes = static_cast<size_t>(webhook);
    options.mutations.stop_all_listing_budget = absl::GetFlag(FLAGS_stop_all_listing_budget);
    if (options.mutations.stop_all_listing_budget < absl::ZeroDuration()) {
      Fail(kExitBadConfig, "--stop_all_listing_budget must not be negative");
    }
  }

  {  // search calls
    const int64_t queue_max = absl::GetFlag(FLAGS_search_queue_max);
    const std::string scope = absl::GetFlag(FLAGS_search_mutation_scope);
    if (queue_max < 0) Fail(kExitBadConfig, "--search_queue_max must not be negative");
    if (scope != "batch" && scope != "account") {
      Fail(kExitBadConfig, "--search_mutation_scope must be batch or account");
    }
    options.search_queue.max_waiting = static_cast<size_t>(queue_max);
    options.search_queue.account_scope = scope == "account";
    serpwow::logic::MutationOptions& m = options.mutations;
    const int64_t per_batch = absl::GetFlag(FLAGS_max_searches_per_batch);
    const int64_t with_html = absl::GetFlag(FLAGS_max_searches_with_html);
    const int64_t per_call = absl::GetFlag(FLAGS_max_searches_per_call);
    const int64_t max_page = absl::GetFlag(FLAGS_max_page_limit);
    if (per_batch < 1 || with_html < 1 || per_call < 1 || max_page < 1 || max_page > INT32_MAX) {
      Fail(kExitBadConfig,
           "--max_searches_per_batch, --max_searches_with_html, --max_searches_per_call and "
           "--max_page_limit must be positive");
    }
    m.max_searches_per_batch = per_batch;
    m.max_searches_with_html = with_html;
    m.max_searches_per_call = static_cast<size_t>(per_call);
    m.max_page_limit = static_cast<int32_t>(max_page);
    absl::StatusOr<int64_t> receive = serpwow::ParseByteSize(
        absl::GetFlag(FLAGS_max_receive_message_size), "--max_receive_message_size");
    if (!receive.ok()) Fail(kExitBadConfig, std::string(receive.status().message()));
    if (*receive < (4 << 20) || *receive > (1 << 30)) {
      Fail(kExitBadConfig, "--max_receive_message_size must be between 4Mi and 1Gi");
    }
    options.max_receive_message_bytes = static_cast<size_t>(*receive);
  }

  {  // resilience
    serpwow::logic::CallerOptions& o = options.calls;
    o.max_attempts = absl::GetFlag(FLAGS_upstream_attempts);
    o.retry_budget_ratio = absl::GetFlag(FLAGS_retry_budget_ratio);
    o.retry_budget_min = absl::GetFlag(FLAGS_retry_budget_min);
    const int max_in_flight = absl::GetFlag(FLAGS_max_in_flight);
    o.breaker.window = absl::GetFlag(FLAGS_breaker_window);
    o.breaker.min_calls = absl::GetFlag(FLAGS_breaker_min_calls);
    o.breaker.failure_ratio = absl::GetFlag(FLAGS_breaker_failure_ratio);
    o.breaker.open_for = absl::GetFlag(FLAGS_breaker_open_for);
    o.breaker.half_open_trials = absl::GetFlag(FLAGS_breaker_half_open_trials);
    if (o.max_attempts < 1 || o.max_attempts > 10) {
      Fail(kExitBadConfig, "--upstream_attempts must be between 1 and 10");
    }
    if (!(o.retry_budget_ratio >= 0 && o.retry_budget_ratio <= 1) || o.retry_budget_min < 0) {
      Fail(kExitBadConfig,
           "--retry_budget_ratio must be between 0 and 1 and --retry_budget_min not negative");
    }
    if (max_in_flight < 0) Fail(kExitBadConfig, "--max_in_flight must not be negative");
    o.max_in_flight = max_in_flight > 0 ? static_cast<size_t>(max_in_flight)
                                        : serpwow::InFlightBoundFor(options.memory_limit_bytes);
    if (o.breaker.window < absl::Seconds(1) || o.breaker.min_calls < 1 ||
        !(o.breaker.failure_ratio > 0 && o.breaker.failure_ratio <= 1) ||
        o.breaker.open_for < absl::ZeroDuration() || o.breaker.half_open_trials < 1) {
      Fail(kExitBadConfig,
           "circuit breaker: --breaker_window must be at least 1s, --breaker_min_calls and "
           "--breaker_half_open_trials at least 1, --breaker_failure_ratio in (0, 1], "
           "--breaker_open_for not negative (0 disables the breaker)");
    }
  }
  {  // List pacing
    serpwow::logic::ListPacerOptions& o = options.list_pacing;
    o.rate_per_minute = absl::GetFlag(FLAGS_list_rate_per_minute);
    o.burst = absl::GetFlag(FLAGS_list_burst);
    o.cache_ttl = absl::GetFlag(FLAGS_list_cache_ttl);
    if (o.rate_per_minute < 1 || o.rate_per_minute > 100000 || o.burst < 1 || o.burst > 100000) {
      Fail(kExitBadConfig, "--list_rate_per_minute and --list_burst must be between 1 and 100000");
    }
    if (o.cache_ttl < absl::ZeroDuration() || o.cache_ttl > absl::Minutes(10)) {
      Fail(kExitBadConfig, "--list_cache_ttl must be between 0 and 10m");
    }
  }
  {  // WatchBatch
    serpwow::logic::WatchOptions& o = options.watch;
    o.intervals.queued = absl::GetFlag(FLAGS_watch_interval_queued);
    o.intervals.running = absl::GetFlag(FLAGS_watch_interval_running);
    o.intervals.idle = absl::GetFlag(FLAGS_watch_interval_idle);
    o.intervals.poll_rate = absl::GetFlag(FLAGS_watch_poll_rate);
    o.max_duration = absl::GetFlag(FLAGS_watch_max_duration);
    o.failure_limit = absl::GetFlag(FLAGS_watch_failure_limit);
    const int64_t max_streams = absl::GetFlag(FLAGS_watch_max_streams);
    if (o.intervals.queued < absl::Milliseconds(10) ||
        o.intervals.running < absl::Milliseconds(10) || o.intervals.idle < absl::Milliseconds(10)) {
      Fail(kExitBadConfig, "--watch_interval_queued, _running and _idle must be at least 10ms");
    }
    if (!(o.intervals.poll_rate > 0 && o.intervals.poll_rate <= 10000)) {
      Fail(kExitBadConfig, "--watch_poll_rate must be in (0, 10000]");
    }
    if (max_streams < 0 || max_streams > 1000000) {
      Fail(kExitBadConfig, "--watch_max_streams must be between 0 and 1000000");
    }
    o.max_streams = static_cast<size_t>(max_streams);
    if (o.max_duration < absl::ZeroDuration() || o.failure_limit < absl::ZeroDuration()) {
      Fail(kExitBadConfig, "--watch_max_duration and --watch_failure_limit must not be negative");
    }
  }
  if (absl::GetFlag(FLAGS_shutdown_grace) < absl::ZeroDuration()) {
    Fail(kExitBadConfig, "--shutdown_grace must not be negative");
  }
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.health_listen = absl::GetFlag(FLAGS_health_listen);
  options.drain_delay = absl::GetFlag(FLAGS_drain_delay);
  if (options.drain_delay < absl::ZeroDuration()) {
    Fail(kExitBadConfig, "--drain_delay must not be negative");
  }
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key_file);
  options.tls.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  options.auth_tokens_file = absl::GetFlag(FLAGS_auth_tokens_file);
  options.keepalive_time = absl::GetFlag(FLAGS_keepalive_time);
  options.keepalive_timeout = absl::GetFlag(FLAGS_keepalive_timeout);
  options.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  options.max_connection_age_grace = absl::GetFlag(FLAGS_max_connection_age_grace);
  options.handshake_timeout = absl::GetFlag(FLAGS_handshake_timeout);
  for (const std::string& host : absl::GetFlag(FLAGS_download_link_hosts)) {
    bool ok = !host.empty() && host.size() <= 253;
    for (char c : host) ok = ok && (absl::ascii_isalnum(c) || c == '-' || c == '.');
    if (!ok) {
      Fail(kExitBadConfig,
           "--download_link_hosts: each entry is a host name (letters, digits, '-' and '.')");
    }
    options.download_link_hosts.push_back(host);
  }
  if (options.handshake_timeout <= absl::ZeroDuration()) {
    Fail(kExitBadConfig, "--handshake_timeout must be positive");
  }
  if (options.keepalive_time <= absl::ZeroDuration() ||
      options.keepalive_timeout <= absl::ZeroDuration()) {
    Fail(kExitBadConfig, "--keepalive_time and --keepalive_timeout must be positive");
  }
  if (options.max_connection_age < absl::ZeroDuration() ||
      options.max_connection_age_grace < absl::ZeroDuration()) {
    Fail(kExitBadConfig,
         "--max_connection_age and --max_connection_age_grace must not be negative");
  }

  std::unique_ptr<serpwow::sim::Simulator> simulator;
  std::string upstream_label;
  if (absl::GetFlag(FLAGS_simulate)) {
    if (absl::GetFlag(FLAGS_upstream) != "https://api.serpwow.com/live") {
      Fail(kExitBadConfig, "--simulate and --upstream exclude each other");
    }
    serpwow::sim::SimulatorOptions sim_options;
    sim_options.api_key = RandomKey();
    sim_options.live_prefix = true;  // behave like SerpWow itself
    sim_options.list_rate_per_minute = 60;
    absl::StatusOr<std::unique_ptr<serpwow::sim::Simulator>> sim =
        serpwow::sim::Simulator::Start(sim_options);
    if (!sim.ok()) {
      Fail(kExitStartFailed, absl::StrCat("--simulate: ", sim.status().message()));
    }
    simulator = std::move(*sim);
    simulator->SeedDemo();
    options.upstream.base_url = simulator->base_url();
    options.upstream.api_key = sim_options.api_key;
    upstream_label = absl::StrCat("embedded simulator at ", simulator->base_url());
  } else {
    options.upstream.base_url = absl::GetFlag(FLAGS_upstream);
    if (absl::Status s = serpwow::upstream::ValidateBaseUrl(options.upstream.base_url); !s.ok()) {
      Fail(kExitBadConfig, std::string(s.message()));
    }
    options.upstream.api_key = ReadApiKey(env_api_key);
    if (absl::Status s = serpwow::upstream::ValidateApiKey(options.upstream.api_key); !s.ok()) {
      Fail(kExitBadConfig, std::string(s.message()));
    }
    upstream_label = options.upstream.base_url;
  }

  absl::StatusOr<std::unique_ptr<serpwow::Gateway>> gateway =
      serpwow::Gateway::Start(std::move(options));
  if (!gateway.ok()) {
    Fail(gateway.status().code() == absl::StatusCode::kInvalidArgument ? kExitBadConfig
                                                                       : kExitStartFailed,
         std::string(gateway.status().message()));
  }
  serpwow::LogRecord(serpwow::LogLevel::kInfo,
                     absl::StrCat("batch-server listening on ", (*gateway)->address()))
      .Str("address", (*gateway)->address())
      .Int("metrics_port", (*gateway)->metrics_port())
      .Int("health_port", (*gateway)->health_port())
      .Str("upstream", upstream_label)
      .Bool("tls", !absl::GetFlag(FLAGS_tls_cert_file).empty())
      .Bool("mtls", !absl::GetFlag(FLAGS_tls_client_ca_file).empty())
      .Bool("caller_auth", !absl::GetFlag(FLAGS_auth_tokens_file).empty())
      .Emit();
  if (simulator != nullptr) {
    // For the person trying the demo: plain text on stdout, not a log line.
    std::printf("Simulated SerpWow account. %s",
                serpwow::sim::Simulator::SeedDemoDescription().c_str());
    std::fflush(stdout);
  }

  const int signal_number = serpwow::WaitForShutdownSignal();
  SERPWOW_LOG(kInfo, "received ", signal_number == SIGTERM ? "SIGTERM" : "SIGINT",
              "; shutting down (grace ", absl::FormatDuration(absl::GetFlag(FLAGS_shutdown_grace)),
              ")");
  (*gateway)->Shutdown(absl::GetFlag(FLAGS_shutdown_grace));
  gateway->reset();
  simulator.reset();
  curl_global_cleanup();
  SERPWOW_LOG(kInfo, "batch-server stopped");
  return 0;
}
