// What the batch mutations (StartBatch, StopAllBatches, CreateBatch,
// DeleteBatch, UpdateBatch) share: their options (each documented limit is a
// flag, not a constant), reading a batch out of a reply, and the errors of
// the state rules. Free of gRPC types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "serpwow/batches/v1/resources.pb.h"
#include "server/logic/outcome.h"
#include "server/upstream/http_types.h"

namespace serpwow::logic {

struct MutationOptions {
  // The reads before a mutation (StartBatch's, DeleteBatch's) may take this
  // share of the caller's remaining time, and at most this long.
  double read_share = 0.5;
  absl::Duration read_timeout_cap = absl::Seconds(3);
  // StopAllBatches' listing before the stop; beyond it the stop goes ahead
  // without the report.
  absl::Duration stop_all_listing_budget = absl::Milliseconds(200);
  // CreateBatch's reconciliation looks for batches created since the
  // attempt began minus this (clock skew between the gateway and SerpWow).
  absl::Duration create_window_slack = absl::Seconds(2);
  // Local checks (design §2.10).
  size_t max_destination_ids = 50;
  size_t max_webhook_bytes = 2048;
  // The search calls' limits (design §2.10; SerpWow's documented numbers).
  size_t max_searches_per_call = 1000;  // AddSearches, BatchDeleteSearches
  int64_t max_searches_per_batch = 15000;
  int64_t max_searches_with_html = 100;  // when a new search uses include_html
  int32_t max_page_limit = 20;
  size_t max_search_value_bytes = 4096;  // q, location, custom_id, each param
  size_t max_search_params = 64;         // params per search
};

// The end of the read before a mutation: read_share of the time left
// before `deadline`, at most read_timeout_cap, at least `min_attempt`.
absl::Time PreReadDeadline(absl::Time now, absl::Time deadline, const MutationOptions& options,
                           absl::Duration min_attempt);

// The batch in a GET /batches/{id} (or mutation) reply that ClassifyReply
// accepted: `batch` mapped (MapBatch) and checked to be `context.batch_id`
// when that is set. INTERNAL UPSTREAM_BAD_RESPONSE otherwise.
absl::StatusOr<serpwow::batches::v1::Batch> BatchOfReply(const upstream::HttpResult& result,
                                                         const Envelope& env,
                                                         const ClassifyContext& context);

// ClassifyReply with kReadBatchRules, then BatchOfReply.
absl::StatusOr<serpwow::batches::v1::Batch> ReadBatch(const upstream::HttpResult& result,
                                                      const ClassifyContext& context);

// One number of a GET /account reply, read directly (the full Account
// mapping is GetAccount's): `key` under "account_info" or at the top level,
// as a JSON integer or a decimal string; nullopt when the reply is not a
// success or has no such number.
absl::optional<int64_t> AccountNumberOf(const upstream::HttpResult& result,
                                        const ClassifyContext& context, const char* key);

BatchStatus StatusOf(const serpwow::batches::v1::Batch& batch);
inline bool IsActive(BatchStatus s) {
  return s == BatchStatus::kQueued || s == BatchStatus::kRunning;
}

// FAILED_PRECONDITION BATCH_RUNNING ("cannot <what> while it is running"),
// PreconditionFailure BATCH_STATE on batches/{id}.
absl::Status BatchRunningError(const std::string& batch_id, const std::string& what);
// FAILED_PRECONDITION BATCH_ALREADY_ACTIVE (StartBatch on a queued or
// running batch).
absl::Status BatchAlreadyActiveError(const std::string& batch_id, BatchStatus status);
// DEADLINE_EXCEEDED: the deadline passed before or while `what` ("starting
// batch X"); `sent` says whether the effect request had gone out.
absl::Status MutationDeadlineError(const std::string& batch_id, const std::string& what, bool sent);
// The error for a mutation SerpWow refused and a read did not explain: for
// values the caller chose (create, update), INVALID_ARGUMENT
// UPSTREAM_INVALID_ARGUMENT with SerpWow's cleaned message; else INTERNAL
// UPSTREAM_REJECTED.
absl::Status MutationRefusedError(const ClassifyContext& context,
                                  const upstream::HttpResult& result, const std::string& doing,
                                  bool callers_values);

// The confirming read after a refusal (design §1.4): the batch's status when
// `read` (made at all: `read_made`) shows it queued or running, else nullopt
// (idle, or the read failed: the refusal stands as classified).
absl::optional<BatchStatus> ActiveAfterRefusal(bool read_made, const upstream::HttpResult& read,
                                               const ClassifyContext& context);

}  // namespace serpwow::logic
