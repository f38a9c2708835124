// ListSearches and ExportSearches, the service logic. Each validates the
// caller's parent (and page or format) first, nothing being sent when that
// fails; then reads SerpWow (a read, retried as reads are).
//
// ListSearches walks SerpWow's fixed pages of 1000 with the slicing rule of
// page_token.h: the upstream page holding the token's offset is fetched and
// sliced to page_size. On the first page (no token) a read of the batch
// comes first, for total_size (the batch's searches_total_count); later
// pages leave total_size 0. With a filter (search_filter.h) it is SerpWow's
// Find (the same page route with ?q= or ?custom_id=), a search call: it
// waits for its turn in the batch's search queue (search_queue.h) and has
// no total (total_size 0).
#pragma once

#include <cstdint>
#include <string>

#include "serpwow/batches/v1/batch_service.pb.h"
#include "server/logic/page_token.h"
#include "server/logic/read_operation.h"
#include "server/logic/search_filter.h"
#include "server/logic/search_mutations.h"

namespace serpwow::logic {

inline constexpr int32_t kSearchesPerUpstreamPage = 1000;
// A page of 1000 searches with arbitrary parameters can be large (design
// §2.12).
inline constexpr size_t kMaxSearchPageBytes = 16 << 20;

class ListSearchesOperation final : public SearchQueued<ReadOperation> {
 public:
  // `queue` serves filtered calls only.
  ListSearchesOperation(UpstreamCaller* caller, SearchQueue* queue,
                        const serpwow::batches::v1::ListSearchesRequest& request,
                        absl::Time deadline);
  const serpwow::batches::v1::ListSearchesResponse& result() const { return response_; }

 private:
  absl::Status Validate() override;
  void Begin() override;
  absl::optional<absl::Status> Take(const Envelope& env, const upstream::HttpResult& result,
                                    const ClassifyContext& context) override;
  void InQueue() override { SendPage(); }
  void SendPage();

  const serpwow::batches::v1::ListSearchesRequest request_;
  absl::optional<SearchFilter> filter_;
  uint64_t fingerprint_ = 0;
  UpstreamPagePlan plan_;
  bool reading_batch_ = false;
  serpwow::batches::v1::ListSearchesResponse response_;
};

class ExportSearchesOperation final : public ReadOperation {
 public:
  ExportSearchesOperation(UpstreamCaller* caller,
                          const serpwow::batches::v1::ExportSearchesRequest& request,
                          absl::Time deadline, const DownloadLinkPolicy* links);
  const serpwow::batches::v1::ExportSearchesResponse& result() const { return response_; }

 private:
  absl::Status Validate() override;
  void Begin() override;
  absl::optional<absl::Status> Take(const Envelope& env, const upstream::HttpResult& result,
                                    const ClassifyContext& context) override;

  const serpwow::batches::v1::ExportSearchesRequest request_;
  serpwow::batches::v1::ExportSearchesResponse response_;
};

}  // namespace serpwow::logic
