// The search calls (design §1.4, §2.2, §2.4): AddSearches, UpdateSearch,
// DeleteSearch, BatchDeleteSearches, PurgeSearches. Free of gRPC types.
//
// Every one of them validates its input first (nothing sent when that
// fails), then waits for its turn in the batch's search queue
// (search_queue.h: ABORTED BATCH_BUSY when full, DEADLINE_EXCEEDED while
// queued with nothing sent) and sends its requests while it holds the slot;
// all of them run on the queue's loop (UpstreamRequest::shard). A 429 on a
// search route is retried (upstream_caller.h) before RATE_LIMITED.
//
//   AddSearches          count   GET /batches/{id}: c0, status; running ->
//                                FAILED_PRECONDITION BATCH_RUNNING; c0 plus
//                                the new searches (max_page counted) over
//                                15,000 (100 when one uses include_html) ->
//                                RESOURCE_EXHAUSTED BATCH_SEARCH_LIMIT
//                                (QuotaFailure); nothing sent either way.
//                        add     PUT /batches/{id} {"searches":[...]}.
//                        then    OK -> the reply's batch (or a read);
//                                ambiguous -> re-read: c0+n -> OK
//                                (reconciled), c0 -> sent once more, else
//                                UNKNOWN OUTCOME_UNKNOWN; 400/409/422 ->
//                                a confirming read: queued or running ->
//                                BATCH_RUNNING, else
//                                UPSTREAM_INVALID_ARGUMENT.
//   BatchDeleteSearches  as AddSearches with DELETE /batches/{id}/searches
//                                (a JSON array of ids) and c0-n.
//   UpdateSearch         PUT /batches/{id}/{search_id} with the masked
//                                fields (idempotent, retried).
//   DeleteSearch         DELETE /batches/{id}/{search_id}; SEARCH_NOT_FOUND
//                                after an ambiguous attempt means OK.
//   PurgeSearches        force=false: one GET (outside the queue), the count
//                                only; force=true: count, then DELETE
//                                /batches/{id}/clear.
// AddSearches and BatchDeleteSearches take a request_id (deduped_operation.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "google/protobuf/field_mask.pb.h"
#include "serpwow/batches/v1/batch_service.pb.h"
#include "server/logic/batch_mutation.h"
#include "server/logic/deduped_operation.h"
#include "server/logic/search_queue.h"
#include "server/logic/upstream_caller.h"

namespace serpwow::logic {

// The part every queued search call shares: its place in the search queue.
// `Base` is Operation, ReadOperation or a DedupedOperation.
template <typename Base>
class SearchQueued : public Base {
 public:
  // The queue wait and position, for the call's log line (after the grant).
  SearchQueue::Grant grant() const {
    absl::MutexLock lock(&slot_mu_);
    return grant_;
  }
  bool queued() const {
    absl::MutexLock lock(&slot_mu_);
    return ticket_ != nullptr;
  }

 protected:
  template <typename... Args>
  explicit SearchQueued(SearchQueue* queue, Args&&... args)
      : Base(std::forward<Args>(args)...), queue_(queue) {}

  // Runs on the queue's loop thread once the call holds the slot.
  virtual void InQueue() = 0;

  // After Validate(): waits for the slot of batch_id_'s queue, then
  // InQueue(); or ends the call with the queue's refusal.
  void EnterQueue() {
    key_ = queue_->KeyFor(this->batch_id_);
    std::weak_ptr<Operation> weak = this->weak_from_this();
    SearchQueue::Ticket ticket =
        SearchQueue::MakeTicket(key_, this->batch_id_, this->deadline(),
                                [weak](absl::Status status, SearchQueue::Grant grant) {
                                  auto self = std::static_pointer_cast<SearchQueued>(weak.lock());
                                  if (self == nullptr) return;
                                  {
                                    absl::MutexLock lock(&self->slot_mu_);
                                    self->grant_ = grant;
                                  }
                                  if (!status.ok()) {
                                    self->End(std::move(status));
                                    return;
                                  }
                                  self->InQueue();
                                });
    {
      absl::MutexLock lock(&slot_mu_);
      if (left_) return;  // ended (cancelled) before it could queue
      ticket_ = ticket;
    }
    queue_->Enter(ticket);
  }

  // A request of this call: on the queue's loop.
  upstream::UpstreamRequest QueuedRequest(upstream::Endpoint endpoint) const {
    upstream::UpstreamRequest request;
    request.endpoint = endpoint;
    request.args.batch = this->batch_id_;
    request.shard = key_;
    return request;
  }

  // After an ambiguous attempt of a count-reconciled call (AddSearches,
  // BatchDeleteSearches): reads the batch's count again inside the queue,
  // then `recount`; with no time left for that read, OUTCOME_UNKNOWN.
  void Recount(absl::Duration read_cap, Operation::PhaseDone recount) {
    this->MarkReconciled();
    if (this->deadline() - absl::Now() < Operation::kMinAttemptTime) {
      this->End(OutcomeUnknownError(this->batch_id_, this->EffectWords(),
                                    "SerpWow's reply was lost and no time was left to count the "
                                    "batch's searches"));
      return;
    }
    this->Send("reconcile", QueuedRequest(upstream::Endpoint::kGetBatch), this->deadline(),
               read_cap, recount);
  }

  void OnFinished(const absl::Status& status) override {
    Base::OnFinished(status);
    SearchQueue::Ticket ticket;
    {
      absl::MutexLock lock(&slot_mu_);
      left_ = true;
      ticket = ticket_;
    }
    queue_->Leave(ticket);  // the slot (or the place) is released exactly once
  }

  SearchQueue* const queue_;
  std::string key_;  // set by EnterQueue, before any request

 private:
  mutable absl::Mutex slot_mu_;
  SearchQueue::Ticket ticket_ ABSL_GUARDED_BY(slot_mu_);
  bool left_ ABSL_GUARDED_BY(slot_mu_) = false;
  SearchQueue::Grant grant_ ABSL_GUARDED_BY(slot_mu_);
};

// The local checks of one search an AddSearches call carries, on its paths
// ("searches[3].params[api_key]"): INVALID_FIELD with one BadRequest
// violation per problem. Exposed for the tests.
absl::Status ValidateNewSearches(
    const google::protobuf::RepeatedPtrField<serpwow::batches::v1::Search>& searches,
    const MutationOptions& options);

// A search as SerpWow's JSON takes it (the set fields, params as strings).
std::string SearchesRequestJson(
    const google::protobuf::RepeatedPtrField<serpwow::batches::v1::Search>& searches);

// What the batch's search count, read again after an ambiguous attempt,
// says of an AddSearches (delta +n) or BatchDeleteSearches (delta -n) whose
// count before was `before` (design §2.4): applied (now == before + delta),
// safe to send once more (now == before, not sent again yet, and the batch
// is not running, when a resend would only be refused), else unknown.
enum class CountVerdict { kApplied, kResend, kUnknown };
CountVerdict JudgeCount(int64_t before, int64_t now, int64_t delta, bool resent, bool running);

// UNKNOWN OUTCOME_UNKNOWN for a count that said neither (or, when `now` is
// an error, could not be read); `done` is "added" or "deleted".
absl::Status CountUnknownError(const std::string& batch_id, const std::string& what, int64_t before,
                               const absl::StatusOr<int64_t>& now, const char* done);

// True for SerpWow's "No Search with ID '...' was found in this Batch".
bool IsSearchNotFound(const upstream::HttpResult& result);

struct AddSearchesResult {
  serpwow::batches::v1::Batch batch;
  int32_t added_count = 0;
  bool reconciled = false;
};

class AddSearchesOperation final : public SearchQueued<DedupedOperation<AddSearchesResult>> {
 public:
  AddSearchesOperation(UpstreamCaller* caller, SearchQueue* queue, RequestDedupe* dedupe,
                       MutationOptions options, serpwow::batches::v1::AddSearchesRequest request,
                       absl::Time deadline);

 private:
  absl::Status Validate() override;
  void BeginFirst() override { EnterQueue(); }
  void InQueue() override;
  std::string EffectWords() const override;
  void OnCount(PhaseOutcome outcome);
  void SendAdd();
  void OnAdd(PhaseOutcome outcome);
  void OnRead(PhaseOutcome outcome);
  void OnReconcile(PhaseOutcome outcome);
  void OnConfirm(PhaseOutcome outcome);

  const MutationOptions options_;
  const serpwow::batches::v1::AddSearchesRequest request_;
  std::string body_;
  // Loop-thread state.
  int64_t c0_ = 0;
  bool resent_ = false;
  absl::Status refusal_;
};

class BatchDeleteSearchesOperation final : public SearchQueued<DedupedOperation<int32_t>> {
 public:
  BatchDeleteSearchesOperation(UpstreamCaller* caller, SearchQueue* queue, RequestDedupe* dedupe,
                               MutationOptions options,
                               serpwow::batches::v1::BatchDeleteSearchesRequest request,
                               absl::Time deadline);

 private:
  absl::Status Validate() override;
  void BeginFirst() override { EnterQueue(); }
  void InQueue() override;
  std::string EffectWords() const override;
  void OnCount(PhaseOutcome outcome);
  void SendDelete();
  void OnDelete(PhaseOutcome outcome);
  void OnReconcile(PhaseOutcome outcome);
  void OnConfirm(PhaseOutcome outcome);

  const MutationOptions options_;
  const serpwow::batches::v1::BatchDeleteSearchesRequest request_;
  std::string body_;
  int64_t c0_ = 0;
  bool resent_ = false;
  absl::Status refusal_;
};

class UpdateSearchOperation final : public SearchQueued<Operation> {
 public:
  UpdateSearchOperation(UpstreamCaller* caller, SearchQueue* queue, MutationOptions options,
                        serpwow::batches::v1::UpdateSearchRequest request, absl::Time deadline);
  const serpwow::batches::v1::Search& result() const { return result_; }
  const std::string& search_id() const { return search_id_; }

 private:
  absl::Status Validate() override;
  void Begin() override { EnterQueue(); }
  void InQueue() override;
  void OnUpdate(PhaseOutcome outcome);
  void OnConfirm(PhaseOutcome outcome);

  const MutationOptions options_;
  const serpwow::batches::v1::UpdateSearchRequest request_;
  std::string search_id_;
  std::string body_;
  absl::Status refusal_;
  serpwow::batches::v1::Search result_;
};

class DeleteSearchOperation final : public SearchQueued<Operation> {
 public:
  DeleteSearchOperation(UpstreamCaller* caller, SearchQueue* queue, MutationOptions options,
                        std::string name, absl::Time deadline);
  const std::string& search_id() const { return search_id_; }

 private:
  absl::Status Validate() override;
  void Begin() override { EnterQueue(); }
  void InQueue() override;
  void OnDelete(PhaseOutcome outcome);
  void OnConfirm(PhaseOutcome outcome);

  const MutationOptions options_;
  const std::string name_;
  std::string search_id_;
  absl::Status refusal_;
};

class PurgeSearchesOperation final : public SearchQueued<Operation> {
 public:
  PurgeSearchesOperation(UpstreamCaller* caller, SearchQueue* queue, MutationOptions options,
                         serpwow::batches::v1::PurgeSearchesRequest request, absl::Time deadline);
  int32_t purge_count() const { return purge_count_; }
  bool force() const { return request_.force(); }

 private:
  absl::Status Validate() override;
  void Begin() override;
  void InQueue() override;
  void OnCount(PhaseOutcome outcome);
  void OnClear(PhaseOutcome outcome);
  void OnConfirm(PhaseOutcome outcome);

  const MutationOptions options_;
  const serpwow::batches::v1::PurgeSearchesRequest request_;
  int32_t purge_count_ = 0;
  absl::Status refusal_;
};

}  // namespace serpwow::logic
