#include "server/metrics.h"

#include <cstdio>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace serpwow {
namespace {

using upstream::TransportError;

const std::vector<double>& LatencyBounds() {
  static const std::vector<double> bounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return bounds;
}

constexpr const char* kClassNames[] = {"1xx",
                                       "2xx",
                                       "3xx",
                                       "4xx",
                                       "5xx",
                                       "resolve",
                                       "connect",
                                       "tls",
                                       "connection_lost",
                                       "timeout",
                                       "body_too_large",
                                       "bad_reply",
                                       "cancelled",
                                       "other",
                                       "headers_too_large"};

int StatusClass(const upstream::HttpResult& r) {
  switch (r.error) {
    case TransportError::kNone:
      if (r.http_status >= 100 && r.http_status < 600)
        return static_cast<int>(r.http_status / 100) - 1;
      return 13;
    case TransportError::kResolve:
      return 5;
    case TransportError::kConnect:
      return 6;
    case TransportError::kTls:
      return 7;
    case TransportError::kConnectionLost:
      return 8;
    case TransportError::kTimeout:
      return 9;
    case TransportError::kBodyTooLarge:
      return 10;
    case TransportError::kHeadersTooLarge:
      return 14;
    case TransportError::kBadReply:
      return 11;
    case TransportError::kCancelled:
      return 12;
    case TransportError::kOther:
      return 13;
  }
  return 13;
}

std::string FormatDouble(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::Observe(double seconds) {
  size_t i = 0;
  while (i < bounds_.size() && seconds > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  if (seconds > 0) {
    sum_nanos_.fetch_add(static_cast<uint64_t>(seconds * 1e9), std::memory_order_relaxed);
  }
}

void Histogram::Render(std::string& out, const std::string& name, const std::string& labels) const {
  const std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    std::string le = i < bounds_.size() ? FormatDouble(bounds_[i]) : "+Inf";
    absl::StrAppend(&out, name, "_bucket{", labels, sep, "le=\"", le, "\"} ", cumulative, "\n");
  }
  std::string braces = labels.empty() ? "" : absl::StrCat("{", labels, "}");
  absl::StrAppend(&out, name, "_sum", braces, " ",
                  FormatDouble(static_cast<double>(sum_nanos_.load()) / 1e9), "\n");
  absl::StrAppend(&out, name, "_count", braces, " ", count_.load(), "\n");
}

const char* RpcMethodName(RpcMethod method) {
  switch (method) {
    case RpcMethod::kStopBatch:
      return "StopBatch";
    case RpcMethod::kGetBatch:
      return "GetBatch";
    case RpcMethod::kListBatches:
      return "ListBatches";
    case RpcMethod::kGetAccount:
      return "GetAccount";
    case RpcMethod::kListResultSets:
      return "ListResultSets";
    case RpcMethod::kGetResultSet:
      return "GetResultSet";
    case RpcMethod::kExportResultSet:
      return "ExportResultSet";
    case RpcMethod::kExportSearches:
      return "ExportSearches";
    case RpcMethod::kListSearches:
      return "ListSearches";
    case RpcMethod::kStartBatch:
      return "StartBatch";
    case RpcMethod::kStopAllBatches:
      return "StopAllBatches";
    case RpcMethod::kCreateBatch:
      return "CreateBatch";
    case RpcMethod::kDeleteBatch:
      return "DeleteBatch";
    case RpcMethod::kUpdateBatch:
      return "UpdateBatch";
    case RpcMethod::kAddSearches:
      return "AddSearches";
    case RpcMethod::kUpdateSearch:
      return "UpdateSearch";
    case RpcMethod::kDeleteSearch:
      return "DeleteSearch";
    case RpcMethod::kBatchDeleteSearches:
      return "BatchDeleteSearches";
    case RpcMethod::kPurgeSearches:
      return "PurgeSearches";
    case RpcMethod::kWatchBatch:
      return "WatchBatch";
    case RpcMethod::kCount:
      break;
  }
  return "unknown";
}

constexpr const char* kCacheResultNames[] = {"hit", "miss", "coalesced", "bypass"};

GatewayMetrics::GatewayMetrics()
    : list_wait_(std::make_unique<Histogram>(
          std::vector<double>{0, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2})) {
  for (int m = 0; m < kMethods; ++m)
    rpc_latency_.push_back(std::make_unique<Histogram>(LatencyBounds()));
  for (int e = 0; e < kEndpoints; ++e)
    upstream_latency_.push_back(std::make_unique<Histogram>(LatencyBounds()));
}

namespace {
constexpr const char* kReconcileOutcomeNames[] = {"confirmed", "unknown", "error"};
constexpr const char* kDedupeResultNames[] = {"first", "waited", "stored", "reused"};
}  // namespace

void GatewayMetrics::Reconciled(RpcMethod method, absl::StatusCode code, bool outcome_unknown) {
  const int outcome = code == absl::StatusCode::kOk ? 0 : outcome_unknown ? 1 : 2;
  reconciled_[static_cast<int>(method)][outcome].fetch_add(1, std::memory_order_relaxed);
}

void GatewayMetrics::Deduplicated(RpcMethod method, const char* decision) {
  for (int i = 0; i < kDedupeResults; ++i) {
    if (std::string(decision) == kDedupeResultNames[i]) {
      dedupe_[static_cast<int>(method)][i].fetch_add(1, std::memory_order_relaxed);
    }
  }
}

namespace {
constexpr const char* kWatchPollReasonNames[] = {"first", "interval", "retry", "result_set"};
}  // namespace

void GatewayMetrics::OnWatchPoll(const char* reason) {
  for (size_t i = 0; i < watch_polls_.size(); ++i) {
    if (std::string(reason) == kWatchPollReasonNames[i]) {
      watch_polls_[i].fetch_add(1, std::memory_order_relaxed);
    }
  }
}

void GatewayMetrics::RpcFinished(RpcMethod method, absl::StatusCode code, absl::Duration elapsed) {
  int m = static_cast<int>(method);
  int c = static_cast<int>(code);
  if (c < 0 || c >= kCodes) c = 2;  // UNKNOWN
  rpcs_[m][c].fetch_add(1, std::memory_order_relaxed);
  rpc_latency_[m]->Observe(absl::ToDoubleSeconds(elapsed));
  rpcs_in_flight_.fetch_sub(1, std::memory_order_relaxed);
}

void GatewayMetrics::OnListCache(const char* result) {
  for (int i = 0; i < kCacheResults; ++i) {
    if (std::string_view(result) == kCacheResultNames[i]) {
      list_cache_[i].fetch_add(1, std::memory_order_relaxed);
    }
  }
}

void GatewayMetrics::OnListWait(absl::Duration waited) {
  list_wait_->Observe(absl::ToDoubleSeconds(waited));
}

void GatewayMetrics::OnUpstreamResult(upstream::Endpoint endpoint,
                                      const upstream::HttpResult& result) {
  int e = static_cast<int>(endpoint);
  upstream_[e][StatusClass(result)].fetch_add(1, std::memory_order_relaxed);
  upstream_latency_[e]->Observe(absl::ToDoubleSeconds(result.elapsed));
}

std::string GatewayMetrics::Render(int64_t connections_opened, int64_t upstream_in_flight) const {
  std::string out;
  out.reserve(8192);
  out +=
      "# HELP serpwow_gateway_rpcs_total RPCs finished, by method and gRPC status code.\n"
      "# TYPE serpwow_gateway_rpcs_total counter\n";
  for (int m = 0; m < kMethods; ++m) {
    for (int c = 0; c < kCodes; ++c) {
      absl::StrAppend(&out, "serpwow_gateway_rpcs_total{method=\"",
                      RpcMethodName(static_cast<RpcMethod>(m)), "\",code=\"",
                      absl::StatusCodeToString(static_cast<absl::StatusCode>(c)), "\"} ",
                      rpcs_[m][c].load(), "\n");
    }
  }
  out +=
      "# HELP serpwow_gateway_rpc_duration_seconds RPC latency in the gateway, by method.\n"
      "# TYPE serpwow_gateway_rpc_duration_seconds histogram\n";
  for (int m = 0; m < kMethods; ++m) {
    rpc_latency_[m]->Render(
        out, "serpwow_gateway_rpc_duration_seconds",
        absl::StrCat("method=\"", RpcMethodName(static_cast<RpcMethod>(m)), "\""));
  }
  out +=
      "# HELP serpwow_gateway_rpcs_in_flight RPCs started and not yet finished.\n"
      "# TYPE serpwow_gateway_rpcs_in_flight gauge\n";
  absl::StrAppend(&out, "serpwow_gateway_rpcs_in_flight ", rpcs_in_flight_.load(), "\n");
  out +=
      "# HELP serpwow_gateway_upstream_requests_total Upstream requests, by endpoint and "
      "HTTP status class or transport error.\n"
      "# TYPE serpwow_gateway_upstream_requests_total counter\n";
  // An endpoint's series appear once it has been called: the table has a
  // row for every SerpWow route, most of which a given workload never uses.
  std::array<bool, kEndpoints> used{};
  for (int e = 0; e < kEndpoints; ++e) {
    for (int s = 0; s < kStatusClasses; ++s) used[e] = used[e] || upstream_[e][s].load() > 0;
  }
  for (int e = 0; e < kEndpoints; ++e) {
    if (!used[e]) continue;
    const char* name = upstream::EndpointName(static_cast<upstream::Endpoint>(e));
    for (int s = 0; s < kStatusClasses; ++s) {
      absl::StrAppend(&out, "serpwow_gateway_upstream_requests_total{endpoint=\"", name,
                      "\",status_class=\"", kClassNames[s], "\"} ", upstream_[e][s].load(), "\n");
    }
  }
  out +=
      "# HELP serpwow_gateway_upstream_duration_seconds Upstream request latency, by "
      "endpoint.\n"
      "# TYPE serpwow_gateway_upstream_duration_seconds histogram\n";
  for (int e = 0; e < kEndpoints; ++e) {
    if (!used[e]) continue;
    upstream_latency_[e]->Render(
        out, "serpwow_gateway_upstream_duration_seconds",
        absl::StrCat("endpoint=\"", upstream::EndpointName(static_cast<upstream::Endpoint>(e)),
                     "\""));
  }
  out +=
      "# HELP serpwow_gateway_upstream_requests_in_flight Upstream requests in flight.\n"
      "# TYPE serpwow_gateway_upstream_requests_in_flight gauge\n";
  absl::StrAppend(&out, "serpwow_gateway_upstream_requests_in_flight ", upstream_in_flight, "\n");
  out +=
      "# HELP serpwow_gateway_upstream_connections_opened_total New upstream connections "
      "(TCP connects).\n"
      "# TYPE serpwow_gateway_upstream_connections_opened_total counter\n";
  absl::StrAppend(&out, "serpwow_gateway_upstream_connections_opened_total ", connections_opened,
                  "\n");
  out +=
      "# HELP serpwow_gateway_log_lines_dropped_total Log lines dropped because stderr was not "
      "read fast enough (logging never blocks the gateway).\n"
      "# TYPE serpwow_gateway_log_lines_dropped_total counter\n";
  absl::StrAppend(&out, "serpwow_gateway_log_lines_dropped_total ", LogLinesDropped(), "\n");
  out +=
      "# HELP serpwow_gateway_connections_shed_total Client connections shut down because the "
      "process neared its memory limit (those flooding it are shed).\n"
      "# TYPE serpwow_gateway_connections_shed_total counter\n";
  absl::StrAppend(&out, "serpwow_gateway_connections_shed_total ",
                  connections_shed_.load(std::memory_order_relaxed), "\n");
  out +=
      "# HELP serpwow_gateway_reconciliations_total Calls answered after the gateway read "
      "SerpWow's state to settle an attempt whose reply was lost, by outcome (confirmed: OK; "
      "unknown: OUTCOME_UNKNOWN; error: another error). Only methods that had one are listed.\n"
      "# TYPE serpwow_gateway_reconciliations_total counter\n";
  for (int m = 0; m < kMethods; ++m) {
    for (int i = 0; i < kReconcileOutcomes; ++i) {
      if (const uint64_t n = reconciled_[m][i].load(std::memory_order_relaxed); n != 0) {
        absl::StrAppend(&out, "serpwow_gateway_reconciliations_total{method=\"",
                        RpcMethodName(static_cast<RpcMethod>(m)), "\",outcome=\"",
                        kReconcileOutcomeNames[i], "\"} ", n, "\n");
      }
    }
  }
  out +=
      "# HELP serpwow_gateway_dedupe_total Calls with a request_id, by what this replica's "
      "table decided (first: sent; waited: the answer of the same call in flight; stored: "
      "the stored answer, nothing sent; reused: REQUEST_ID_REUSED). Only methods that had one "
      "are listed.\n"
      "# TYPE serpwow_gateway_dedupe_total counter\n";
  for (int m = 0; m < kMethods; ++m) {
    for (int i = 0; i < kDedupeResults; ++i) {
      if (const uint64_t n = dedupe_[m][i].load(std::memory_order_relaxed); n != 0) {
        absl::StrAppend(&out, "serpwow_gateway_dedupe_total{method=\"",
                        RpcMethodName(static_cast<RpcMethod>(m)), "\",result=\"",
                        kDedupeResultNames[i], "\"} ", n, "\n");
      }
    }
  }
  out +=
      "# HELP serpwow_gateway_cache_requests_total Lookups of the gateway's reply caches, by "
      "cache and result (hit; miss: sent upstream; coalesced: shared an identical call in "
      "flight; bypass: x-serpwow-cache: no-cache).\n"
      "# TYPE serpwow_gateway_cache_requests_total counter\n";
  for (int i = 0; i < kCacheResults; ++i) {
    absl::StrAppend(&out, "serpwow_gateway_cache_requests_total{cache=\"list\",result=\"",
                    kCacheResultNames[i], "\"} ", list_cache_[i].load(std::memory_order_relaxed),
                    "\n");
  }
  out +=
      "# HELP serpwow_gateway_list_wait_seconds Time List calls waited for a token of the "
      "gateway's List bucket (calls refused at once are not counted).\n"
      "# TYPE serpwow_gateway_list_wait_seconds histogram\n";
  list_wait_->Render(out, "serpwow_gateway_list_wait_seconds", "");
  if (list_tokens_) {
    out +=
        "# HELP serpwow_gateway_list_tokens_available Tokens in the gateway's List bucket "
        "(negative: reserved by calls waiting).\n"
        "# TYPE serpwow_gateway_list_tokens_available gauge\n";
    absl::StrAppend(&out, "serpwow_gateway_list_tokens_available ", FormatDouble(list_tokens_()),
                    "\n");
  }
  out +=
      "# HELP serpwow_gateway_watch_streams WatchBatch streams open on this replica.\n"
      "# TYPE serpwow_gateway_watch_streams gauge\n";
  absl::StrAppend(&out, "serpwow_gateway_watch_streams ", watch_streams_.load(), "\n");
  out +=
      "# HELP serpwow_gateway_watch_polls_total Reads of SerpWow made by watch pollers, by why.\n"
      "# TYPE serpwow_gateway_watch_polls_total counter\n";
  for (size_t i = 0; i < watch_polls_.size(); ++i) {
    absl::StrAppend(&out, "serpwow_gateway_watch_polls_total{reason=\"", kWatchPollReasonNames[i],
                    "\"} ", watch_polls_[i].load(), "\n");
  }
  out +=
      "# HELP serpwow_gateway_watch_events_total WatchBatch events written, by type.\n"
      "# TYPE serpwow_gateway_watch_events_total counter\n";
  for (int i = 0; i < logic::kWatchEventTypes; ++i) {
    absl::StrAppend(&out, "serpwow_gateway_watch_events_total{type=\"",
                    logic::WatchEventTypeName(static_cast<logic::WatchEventType>(i)), "\"} ",
                    watch_events_[i].load(), "\n");
  }
  out +=
      "# HELP serpwow_gateway_watch_events_conflated_total WatchBatch events replaced by a "
      "newer state before a slow reader took them.\n"
      "# TYPE serpwow_gateway_watch_events_conflated_total counter\n";
  absl::StrAppend(&out, "serpwow_gateway_watch_events_conflated_total ", watch_conflated_.load(),
                  "\n");
  if (search_queue_depth_) {
    out +=
        "# HELP serpwow_gateway_search_queue_depth_max The deepest search queue now (calls "
        "waiting plus the one in flight, over every batch's queue).\n"
        "# TYPE serpwow_gateway_search_queue_depth_max gauge\n";
    absl::StrAppend(&out, "serpwow_gateway_search_queue_depth_max ", search_queue_depth_(), "\n");
  }
  return out;
}

}  // namespace serpwow
