// ListBatches, the service logic: validate the page size, token, skip,
// filter and order (nothing is sent for bad input); plan which SerpWow page
// to fetch (page_token.h's slicing rule); answer from the List cache, or
// share an identical call in flight, or take a token of the List bucket
// (list_pacer.h) and send `GET /batches` once (never retried by the
// gateway: every attempt costs one of SerpWow's 60 List calls a minute);
// map the page's batches and issue the next token. Composed from the
// upstream caller.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "serpwow/batches/v1/resources.pb.h"
#include "server/logic/list_filter.h"
#include "server/logic/list_pacer.h"
#include "server/logic/page_token.h"
#include "server/logic/upstream_caller.h"

namespace serpwow::logic {

inline constexpr char kListBatchesMethod[] = "serpwow.batches.v1.BatchService/ListBatches";
inline constexpr int32_t kListBatchesDefaultPageSize = 100;
inline constexpr int32_t kListBatchesMaxPageSize = 1000;  // SerpWow's maximum

// The caller's request, free of gRPC types.
struct ListBatchesParams {
  int32_t page_size = 0;
  std::string page_token;
  std::string filter;
  std::string order_by;
  int64_t skip = 0;
  // x-serpwow-cache: no-cache: neither the cache nor an identical call in
  // flight answers; the reply still refreshes the cache.
  bool bypass_cache = false;
};

struct ListBatchesResult {
  std::vector<serpwow::batches::v1::Batch> batches;
  std::string next_page_token;
  int64_t total_size = 0;
  // Set when the answer came from the cache: the cached reply's age.
  absl::optional<absl::Duration> cache_age;
  // How it was answered, for the log line: "hit", "miss", "coalesced", "bypass".
  const char* cache = "miss";
};

class ListBatchesOperation final : public Operation {
 public:
  // `pacer` must outlive the operation.
  ListBatchesOperation(UpstreamCaller* caller, ListPacer* pacer, ListBatchesParams params,
                       absl::Time deadline);
  const ListBatchesResult& result() const { return result_; }

 private:
  absl::Status Validate() override;
  void Begin() override;
  void OnFinished(const absl::Status& status) override;
  // Takes a token (or waits for one, or is refused) and sends.
  void Lead();
  void SendNow();
  void OnRead(PhaseOutcome outcome);
  // Ends the call with what `reply` says (classified, mapped, sliced).
  void Answer(const upstream::HttpResult& reply, bool deadline_binds);
  std::shared_ptr<ListBatchesOperation> Self();

  UpstreamCaller* const caller_;
  ListPacer* const pacer_;
  const ListBatchesParams params_;
  // Set by Validate().
  uint64_t fingerprint_ = 0;
  UpstreamPagePlan plan_;
  QueryParams query_;
  std::string key_;          // the cache and coalescing key: the exact upstream query
  uint64_t generation_ = 0;  // the cache generation when the request was sent
  std::atomic<bool> ended_{false};
  ListBatchesResult result_;
};

}  // namespace serpwow::logic
