// DedupedOperation: the request_id part of a not-idempotent RPC (CreateBatch,
// StartBatch), written once. A subclass validates request_id with
// ValidateRequestIdField() in its Validate(), does its upstream work in
// BeginFirst() and sets result_ before End(OK). The table (request_dedupe.h)
// decides per call:
//   no request_id, or no table:  BeginFirst();
//   first with this id:          BeginFirst(), and its final answer is stored
//                                (see Keep below) or forgotten;
//   the same call in flight:     waits without a thread (a continuation) and
//                                ends with the first call's answer, or claims
//                                again when the first one was forgotten;
//   the same call finished:      the stored answer, nothing sent;
//   the same id, other payload:  INVALID_ARGUMENT REQUEST_ID_REUSED.
// What is stored: OK and every answer given after the effect request was
// handed to the loop, except UNAVAILABLE (which promises nothing was
// applied) and RESOURCE_EXHAUSTED RATE_LIMITED (a 429: SerpWow refused it,
// nothing was applied); CANCELLED and DEADLINE_EXCEEDED after the effect request are
// stored (and passed to waiters) as UNKNOWN OUTCOME_UNKNOWN, since they were
// that caller's own ending. Everything else (nothing was sent) is forgotten,
// so a retry with the same id runs again.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/logic/errors.h"
#include "server/logic/request_dedupe.h"
#include "server/logic/upstream_caller.h"

namespace serpwow::logic {

template <typename Result>
class DedupedOperation : public Operation {
 public:
  const Result& result() const { return result_; }

 protected:
  // `table` may be null (no de-duplication); `fingerprint` covers the
  // method and the payload without the request_id.
  DedupedOperation(UpstreamCaller* caller, absl::Time deadline, RequestDedupe* table,
                   std::string request_id, uint64_t fingerprint)
      : Operation(caller, deadline),
        table_(table),
        request_id_(std::move(request_id)),
        fingerprint_(fingerprint) {}

  absl::Status ValidateRequestIdField() const {
    if (request_id_.empty()) return absl::OkStatus();
    return ValidateRequestId(request_id_, "request_id");
  }

  virtual void BeginFirst() = 0;

  // Stores or forgets this call's answer when it held the table's entry.
  // A subclass that overrides it must call it.
  void OnFinished(const absl::Status& status) override {
    if (!first_.exchange(false)) return;
    StoredAnswer answer;
    answer.status = status;
    const bool sent = effect_submitted();
    const bool refused = ReasonOf(status) == reason::kRateLimited;
    bool keep =
        status.ok() || (sent && status.code() != absl::StatusCode::kUnavailable && !refused);
    if (sent && (status.code() == absl::StatusCode::kCancelled ||
                 status.code() == absl::StatusCode::kDeadlineExceeded)) {
      answer.status = OutcomeUnknownError(
          batch_id_, EffectWords(),
          "the first call with this request_id ended (cancelled or out of time) before "
          "SerpWow's reply came");
    }
    if (status.ok()) answer.result = std::make_shared<const Result>(result_);
    table_->Finish(request_id_, answer, keep);
  }

  Result result_;

 private:
  void Begin() final {
    if (table_ == nullptr || request_id_.empty()) {
      BeginFirst();
      return;
    }
    std::weak_ptr<Operation> weak = weak_from_this();
    RequestDedupe::Claim claim =
        table_->Begin(request_id_, fingerprint_, [weak](const StoredAnswer* answer) {
          auto self = std::static_pointer_cast<DedupedOperation>(weak.lock());
          if (self == nullptr) return;
          if (answer == nullptr) {
            self->Begin();  // the first call changed nothing: run as the first
          } else {
            self->Adopt(*answer);
          }
        });
    switch (claim.kind) {
      case RequestDedupe::Kind::kFirst:
        NoteDedupe("first");
        first_ = true;
        BeginFirst();
        return;
      case RequestDedupe::Kind::kStored:
        NoteDedupe("stored");
        Adopt(claim.answer);
        return;
      case RequestDedupe::Kind::kWaiting:
        NoteDedupe("waited");
        // Its answer is the first call's, which may have reached SerpWow: at
        // shutdown this call must not say SHUTTING_DOWN either.
        MarkEffectSubmitted();
        return;
      case RequestDedupe::Kind::kReused:
        NoteDedupe("reused");
        End(ErrorBuilder(absl::StatusCode::kInvalidArgument,
                         absl::StrCat("request_id ", request_id_,
                                      " was already used for a different request; use a new "
                                      "UUID for each distinct request"),
                         reason::kRequestIdReused)
                .BadRequestField("request_id", "already used with another payload")
                .Metadata("batch_id", batch_id_));
        return;
    }
  }

  void Adopt(const StoredAnswer& answer) {
    if (answer.status.ok() && answer.result != nullptr) {
      result_ = *std::static_pointer_cast<const Result>(answer.result);
    }
    End(answer.status);
  }

  RequestDedupe* const table_;
  const std::string request_id_;
  const uint64_t fingerprint_;
  std::atomic<bool> first_{false};  // this call holds the table's entry for request_id_
};

}  // namespace serpwow::logic
