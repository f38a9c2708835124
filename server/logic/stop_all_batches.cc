#include "server/logic/stop_all_batches.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/logic/batch_mapping.h"
#include "server/logic/errors.h"

namespace serpwow::logic {

namespace v1 = serpwow::batches::v1;
using upstream::Endpoint;
using Json = nlohmann::json;

namespace {

constexpr ReplyRules kListRules{"listing batches", nullptr, nullptr};
constexpr ReplyRules kStopAllRules{"stopping every batch", "the stop of every batch", nullptr};
constexpr int kListPageSize = 1000;

// A non-negative count from a JSON integer, else nullopt.
absl::optional<int64_t> Count(const Json& object, const char* key) {
  const Json::object_t* fields = object.get_ptr<const Json::object_t*>();
  if (fields == nullptr) return absl::nullopt;
  auto it = fields->find(key);
  if (it == fields->end()) return absl::nullopt;
  if (const int64_t* i = it->second.get_ptr<const Json::number_integer_t*>()) {
    if (*i >= 0) return *i;
  }
  if (const uint64_t* u = it->second.get_ptr<const Json::number_unsigned_t*>()) {
    return static_cast<int64_t>(*u > INT32_MAX ? INT32_MAX : *u);
  }
  return absl::nullopt;
}

}  // namespace

upstream::UpstreamRequest ActiveBatchesListRequest(BatchStatus status) {
  upstream::UpstreamRequest request;
  request.endpoint = Endpoint::kListBatches;
  request.query = {{"status", BatchStatusName(status)},
                   {"page", "1"},
                   {"page_size", absl::StrCat(kListPageSize)}};
  return request;
}

StopAllBatchesOperation::StopAllBatchesOperation(UpstreamCaller* caller, ListPacer* pacer,
                                                 MutationOptions options, bool validate_only,
                                                 absl::Time deadline)
    : Operation(caller, deadline),
      pacer_(pacer),
      options_(options),
      validate_only_(validate_only) {}

void StopAllBatchesOperation::Begin() {
  listing_deadline_ = absl::Now() + options_.stop_all_listing_budget;
  result_.listing_complete = true;
  List(BatchStatus::kQueued);
}

void StopAllBatchesOperation::List(BatchStatus status) {
  listing_ = status;
  if (listing_deadline_ - absl::Now() < kMinAttemptTime ||
      (pacer_ != nullptr && !pacer_->TakeNow())) {
    // No time or no List token left for the report: the stop does not wait
    // for it.
    result_.listing_complete = false;
    Stop();
    return;
  }
  Send(status == BatchStatus::kQueued ? "list_queued" : "list_running",
       ActiveBatchesListRequest(status), listing_deadline_, options_.stop_all_listing_budget,
       Done(&StopAllBatchesOperation::OnListed), /*max_attempts=*/1);
}

bool StopAllBatchesOperation::TakeListing(const PhaseOutcome& outcome, BatchStatus status) {
  if (outcome.attempts == 0) return false;
  absl::StatusOr<Envelope> env = ClassifyReply(outcome.result, Context("", true), kListRules);
  if (!env.ok()) return false;
  const Json::object_t* root = env->json.get_ptr<const Json::object_t*>();
  if (root == nullptr) return false;
  auto batches = root->find("batches");
  const Json::array_t* list =
      batches == root->end() ? nullptr : batches->second.get_ptr<const Json::array_t*>();
  if (list == nullptr) return false;
  // More than one page: the report would be partial.
  if (Count(env->json, "total_count").value_or(0) > static_cast<int64_t>(list->size())) {
    return false;
  }
  for (const Json& item : *list) {
    v1::Batch batch;
    if (!MapBatch(item, &batch).ok()) return false;
    ListedBatch listed;
    listed.batch_id = batch.batch_id();
    listed.display_name = batch.display_name();
    listed.previous_status = status;
    listed.credits_required = batch.credits_required();
    listed.credits_refunded = status == BatchStatus::kQueued ? batch.credits_required() : 0;
    result_.batches.push_back(std::move(listed));
  }
  return true;
}

void StopAllBatchesOperation::OnListed(PhaseOutcome outcome) {
  if (pacer_ != nullptr && outcome.attempts > 0) pacer_->OnGatewayListReply(outcome.result);
  if (!TakeListing(outcome, listing_)) {
    result_.listing_complete = false;
    Stop();
    return;
  }
  if (listing_ == BatchStatus::kQueued) {
    List(BatchStatus::kRunning);
    return;
  }
  Stop();
}

void StopAllBatchesOperation::Stop() {
  if (!result_.listing_complete) result_.batches.clear();
  for (const ListedBatch& b : result_.batches)
    result_.credits_refunded_estimate += b.credits_refunded;
  if (validate_only_) {
    End(absl::OkStatus());
    return;
  }
  Send("stop", upstream::UpstreamRequest{Endpoint::kStopAllBatches, {}, {}, {}}, deadline(),
       upstream_options().timeout_cap, Done(&StopAllBatchesOperation::OnStop));
}

void StopAllBatchesOperation::OnStop(PhaseOutcome outcome) {
  if (outcome.attempts == 0 || outcome.out_of_time) {
    End(MutationDeadlineError("", "stopping every batch", outcome.attempts > 0));
    return;
  }
  const ClassifyContext context = Context("", outcome.deadline_binds);
  absl::StatusOr<Envelope> env = ClassifyReply(outcome.result, context, kStopAllRules);
  if (!env.ok()) {
    End(env.status());
    return;
  }
  result_.batches_stopped = Count(env->json, "batches_stopped").value_or(0);
  result_.batches_failed_to_stop = Count(env->json, "batches_failed_to_stop").value_or(0);
  result_.message = CleanText(env->message);
  result_.retried = outcome.attempts > 1;
  End(absl::OkStatus());
}

}  // namespace serpwow::logic
