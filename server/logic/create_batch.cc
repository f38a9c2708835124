#include "server/logic/create_batch.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/logic/batch_mapping.h"
#include "server/logic/errors.h"

namespace serpwow::logic {

namespace v1 = serpwow::batches::v1;
using upstream::Endpoint;
using Json = nlohmann::json;

namespace {

constexpr ReplyRules kCreateRules{"creating a batch", "the creation of the batch", nullptr};
constexpr ReplyRules kListRules{"listing batches", nullptr, nullptr};

}  // namespace

upstream::UpstreamRequest CreatedBatchesListRequest(const std::string& display_name,
                                                    absl::Time after) {
  upstream::UpstreamRequest request;
  request.endpoint = Endpoint::kListBatches;
  request.query = {
      {"search_term", display_name},
      {"search_type", "exact"},
      {"created_after", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", after, absl::UTCTimeZone())},
      {"page_size", "1000"}};
  return request;
}

CreateBatchOperation::CreateBatchOperation(UpstreamCaller* caller, ListPacer* pacer,
                                           RequestDedupe* dedupe, MutationOptions options,
                                           v1::Batch batch, std::string request_id,
                                           absl::Time deadline)
    : DedupedOperation(caller, deadline, dedupe, std::move(request_id),
                       RequestFingerprint("CreateBatch", batch.SerializeAsString())),
      pacer_(pacer),
      options_(options),
      batch_(std::move(batch)) {}

absl::Status CreateBatchOperation::Validate() {
  absl::StatusOr<BatchFields> fields = FieldsToCreate(batch_);
  if (!fields.ok()) return fields.status();
  fields_ = std::move(*fields);
  if (absl::Status s = ValidateBatchInput(batch_, fields_, /*create=*/true, options_); !s.ok()) {
    return s;
  }
  return ValidateRequestIdField();
}

std::string CreateBatchOperation::EffectWords() const {
  return absl::StrCat("the creation of batch \"", batch_.display_name(), "\"");
}

void CreateBatchOperation::BeginFirst() {
  attempt_start_ = absl::Now();
  upstream::UpstreamRequest request;
  request.endpoint = Endpoint::kCreateBatch;
  request.body = BatchRequestJson(batch_, fields_);
  Send("create", std::move(request), deadline(), upstream_options().timeout_cap,
       Done(&CreateBatchOperation::OnCreate));
}

void CreateBatchOperation::OnCreate(PhaseOutcome outcome) {
  if (outcome.attempts == 0) {
    End(MutationDeadlineError("", "creating the batch", false));
    return;
  }
  const ClassifyContext context = Context("", outcome.deadline_binds);
  absl::StatusOr<Envelope> env = ClassifyReply(outcome.result, context, kCreateRules);
  if (env.ok()) {
    absl::StatusOr<v1::Batch> batch = BatchOfReply(outcome.result, *env, context);
    if (!batch.ok()) {
      Reconcile();  // created, but the reply does not say which batch: find it
      return;
    }
    result_ = std::move(*batch);
    End(absl::OkStatus());
    return;
  }
  if (outcome.any_ambiguous && outcome.verdict.retryable && outcome.verdict.maybe_applied) {
    if (deadline() - absl::Now() < kMinAttemptTime) {
      End(outcome.result.error == upstream::TransportError::kTimeout && outcome.deadline_binds
              ? MutationDeadlineError("", "creating the batch", true)
              : OutcomeUnknownError("", EffectWords(),
                                    "SerpWow's reply was lost and no time was left to look for "
                                    "the batch"));
      return;
    }
    Reconcile();
    return;
  }
  if (IsMutationRefusal(outcome.result)) {
    refused_ = std::move(outcome.result);
    upstream::UpstreamRequest account;
    account.endpoint = Endpoint::kGetAccount;
    Send("account", std::move(account), deadline(), options_.read_timeout_cap,
         Done(&CreateBatchOperation::OnAccount), /*max_attempts=*/1);
    return;
  }
  End(env.status());
}

void CreateBatchOperation::Reconcile() {
  MarkReconciled();
  if (pacer_ != nullptr && !pacer_->TakeNow()) {
    End(OutcomeUnknownError("", EffectWords(),
                            "the gateway's List budget (SerpWow allows 60 a minute) had no call "
                            "left to look the batch up"));
    return;
  }
  Send("reconcile",
       CreatedBatchesListRequest(batch_.display_name(),
                                 attempt_start_ - options_.create_window_slack),
       deadline(), options_.read_timeout_cap, Done(&CreateBatchOperation::OnReconcile));
}

void CreateBatchOperation::OnAccount(PhaseOutcome outcome) {
  const ClassifyContext context = Context("", true);
  if (outcome.attempts > 0) {
    const absl::optional<int64_t> used = AccountNumberOf(outcome.result, context, "batches_used");
    const absl::optional<int64_t> limit = AccountNumberOf(outcome.result, context, "batches_limit");
    const absl::optional<int64_t> available =
        AccountNumberOf(outcome.result, context, "batches_available");
    const bool full = (available.has_value() && *available <= 0) ||
                      (used.has_value() && limit.has_value() && *used >= *limit);
    if (full) {
      const std::string of = limit.has_value() ? absl::StrCat(" of ", *limit) : "";
      End(ErrorBuilder(absl::StatusCode::kResourceExhausted,
                       absl::StrCat("the SerpWow account has reached its limit", of,
                                    " batches; delete batches before creating more"),
                       reason::kBatchLimitReached)
              .Metadata("batches_used", used ? absl::StrCat(*used) : "")
              .Metadata("batches_limit", limit ? absl::StrCat(*limit) : "")
              .Metadata("http_status", absl::StrCat(refused_.http_status))
              .Quota("account", absl::StrCat("batches per account", of)));
      return;
    }
  }
  End(MutationRefusedError(context, refused_, "the new batch's values", /*callers_values=*/true));
}

void CreateBatchOperation::OnReconcile(PhaseOutcome outcome) {
  if (pacer_ != nullptr && outcome.attempts > 0) pacer_->OnGatewayListReply(outcome.result);
  absl::StatusOr<Envelope> env =
      outcome.attempts > 0 ? ClassifyReply(outcome.result, Context("", true), kListRules)
                           : absl::StatusOr<Envelope>(absl::DeadlineExceededError("no time"));
  const Json::array_t* list = nullptr;
  if (env.ok()) {
    const Json::object_t* root = env->json.get_ptr<const Json::object_t*>();
    auto it = root == nullptr ? Json::object_t::const_iterator() : root->find("batches");
    if (root != nullptr && it != root->end()) list = it->second.get_ptr<const Json::array_t*>();
  }
  if (list == nullptr) {
    End(OutcomeUnknownError("", EffectWords(),
                            "SerpWow's reply was lost and the batches could not be listed "
                            "afterwards"));
    return;
  }
  if (list->size() != 1) {
    End(OutcomeUnknownError("", EffectWords(),
                            absl::StrCat("SerpWow's reply was lost and ", list->size(),
                                         " batches of that name were created since")));
    return;
  }
  v1::Batch batch;
  if (!MapBatch(list->front(), &batch).ok()) {
    End(BadResponse(Context("", true), outcome.result, "a listed batch without a valid id"));
    return;
  }
  result_ = std::move(batch);
  End(absl::OkStatus());
}

}  // namespace serpwow::logic
