// GatewayMetrics: the service's Prometheus metrics, kept in fixed arrays of
// atomics (no lock, no allocation on the RPC path) and rendered in the
// Prometheus text format (version 0.0.4) on demand.
//
// Labels are bounded by construction: method (one per RPC), gRPC code (17),
// upstream endpoint (one per row of upstream/endpoints.h) and status class ("2xx".."5xx" or a
// transport error name). Never a key, a batch id or any other caller-chosen value.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/logic/list_pacer.h"
#include "server/logic/watch_hub.h"
#include "server/upstream/serpwow_client.h"

namespace serpwow {

// A cumulative histogram with fixed bucket bounds (seconds).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double seconds);
  // Appends the _bucket/_sum/_count lines; `labels` is `key="v",...` or "".
  void Render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket, +Inf last
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_nanos_{0};
};

enum class RpcMethod {
  kStopBatch,
  kGetBatch,
  kListBatches,
  // The read RPCs of the account, result sets and searches.
  kGetAccount,
  kListResultSets,
  kGetResultSet,
  kExportResultSet,
  kExportSearches,
  kListSearches,
  kStartBatch,
  kStopAllBatches,
  kCreateBatch,
  kDeleteBatch,
  kUpdateBatch,
  // The search mutations (through the per-batch search queue) and the watch.
  kAddSearches,
  kUpdateSearch,
  kDeleteSearch,
  kBatchDeleteSearches,
  kPurgeSearches,
  kWatchBatch,
  kCount
};
const char* RpcMethodName(RpcMethod method);  // "StopBatch", ...: the metric label and log value

class GatewayMetrics : public upstream::UpstreamObserver,
                       public logic::ListPacerObserver,
                       public logic::WatchObserver {
 public:
  GatewayMetrics();

  void RpcStarted() { rpcs_in_flight_.fetch_add(1, std::memory_order_relaxed); }
  void RpcFinished(RpcMethod method, absl::StatusCode code, absl::Duration elapsed);
  // Upstream side (called on the loop thread by SerpwowClient).
  void OnUpstreamResult(upstream::Endpoint endpoint, const upstream::HttpResult& result) override;

  // List pacing (logic/list_pacer.h): cache results ("hit", "miss",
  // "coalesced", "bypass") and the time calls waited for a token.
  void OnListCache(const char* result) override;
  void OnListWait(absl::Duration waited) override;
  // Where serpwow_gateway_list_tokens_available is read at each scrape
  // (unset: the gauge is not rendered). Set before the first Render.
  void SetListTokensSource(std::function<double()> source) { list_tokens_ = std::move(source); }
  // Where serpwow_gateway_search_queue_depth_max (the deepest search queue
  // now: calls waiting plus the one in flight, logic/search_queue.h) is read
  // at each scrape (unset: not rendered). Set before the first Render.
  void SetSearchQueueDepthSource(std::function<int64_t()> source) {
    search_queue_depth_ = std::move(source);
  }

  // A call answered after reconciling an ambiguous attempt (CallTrace::
  // reconciled): "confirmed" (OK), "unknown" (OUTCOME_UNKNOWN), "error".
  void Reconciled(RpcMethod method, absl::StatusCode code, bool outcome_unknown);
  // The request_id table's decision for a call (CallTrace::dedupe).
  void Deduplicated(RpcMethod method, const char* decision);

  // WatchBatch (logic/watch_hub.h): open streams, the reads pollers send by
  // reason ("first", "interval", "retry", "result_set"), events written by
  // type, and events conflated away for slow readers.
  void OnWatchStreams(int64_t open) override { watch_streams_.store(open); }
  void OnWatchPoll(const char* reason) override;
  void WatchEventSent(logic::WatchEventType type) {
    watch_events_[static_cast<int>(type)].fetch_add(1, std::memory_order_relaxed);
  }
  void WatchConflated(uint64_t n) { watch_conflated_.fetch_add(n, std::memory_order_relaxed); }

  // The memory guard shut a client connection down (server/memory_guard.h).
  void ConnectionShed() { connections_shed_.fetch_add(1, std::memory_order_relaxed); }

  // The whole exposition. `connections_opened` comes from the HttpLoop.
  std::string Render(int64_t connections_opened, int64_t upstream_in_flight) const;

 private:
  static constexpr int kMethods = static_cast<int>(RpcMethod::kCount);
  static constexpr int kCodes = 17;
  static constexpr int kEndpoints = static_cast<int>(upstream::kEndpointCount);
  static constexpr int kStatusClasses = 15;  // 1xx..5xx + transport errors + other

  std::array<std::array<std::atomic<uint64_t>, kCodes>, kMethods> rpcs_{};
  std::vector<std::unique_ptr<Histogram>> rpc_latency_;  // per method
  std::array<std::array<std::atomic<uint64_t>, kStatusClasses>, kEndpoints> upstream_{};
  std::vector<std::unique_ptr<Histogram>> upstream_latency_;  // per endpoint
  std::atomic<int64_t> rpcs_in_flight_{0};
  std::atomic<uint64_t> connections_shed_{0};
  static constexpr int kReconcileOutcomes = 3;  // confirmed, unknown, error
  static constexpr int kDedupeResults = 4;      // first, waited, stored, reused
  std::array<std::array<std::atomic<uint64_t>, kReconcileOutcomes>, kMethods> reconciled_{};
  std::array<std::array<std::atomic<uint64_t>, kDedupeResults>, kMethods> dedupe_{};
  static constexpr int kCacheResults = 4;  // hit, miss, coalesced, bypass
  std::array<std::atomic<uint64_t>, kCacheResults> list_cache_{};
  std::unique_ptr<Histogram> list_wait_;
  std::function<double()> list_tokens_;
  static constexpr int kWatchPollReasons = 4;  // first, interval, retry, result_set
  std::atomic<int64_t> watch_streams_{0};
  std::array<std::atomic<uint64_t>, kWatchPollReasons> watch_polls_{};
  std::array<std::atomic<uint64_t>, logic::kWatchEventTypes> watch_events_{};
  std::atomic<uint64_t> watch_conflated_{0};
  std::function<int64_t()> search_queue_depth_;
};

}  // namespace serpwow
