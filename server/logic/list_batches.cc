#include "server/logic/list_batches.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/logic/batch_mapping.h"
#include "server/logic/errors.h"
#include "server/logic/outcome.h"

namespace serpwow::logic {
namespace {

constexpr ReplyRules kListRules{"listing batches", nullptr, nullptr};

// The key of an upstream query: every parameter, length-delimited.
std::string KeyOf(const QueryParams& query) {
  std::string key;
  for (const auto& [name, value] : query) {
    absl::StrAppend(&key, name.size(), ":", name, "=", value.size(), ":", value, ";");
  }
  return key;
}

}  // namespace

ListBatchesOperation::ListBatchesOperation(UpstreamCaller* caller, ListPacer* pacer,
                                           ListBatchesParams params, absl::Time deadline)
    : Operation(caller, deadline), caller_(caller), pacer_(pacer), params_(std::move(params)) {}

std::shared_ptr<ListBatchesOperation> ListBatchesOperation::Self() {
  return std::static_pointer_cast<ListBatchesOperation>(shared_from_this());
}

absl::Status ListBatchesOperation::Validate() {
  absl::StatusOr<int32_t> size =
      NormalizePageSize(params_.page_size, kListBatchesDefaultPageSize, kListBatchesMaxPageSize);
  if (!size.ok()) return size.status();
  absl::StatusOr<BatchFilter> filter = ParseBatchFilter(params_.filter);
  if (!filter.ok()) return filter.status();
  absl::StatusOr<BatchOrder> order = ParseBatchOrderBy(params_.order_by);
  if (!order.ok()) return order.status();
  fingerprint_ = ListFingerprint(kListBatchesMethod, "", filter->canonical, order->canonical);
  absl::StatusOr<int64_t> offset = StartOffset(params_.page_token, params_.skip, fingerprint_);
  if (!offset.ok()) return offset.status();
  plan_ = PlanUpstreamPage(*offset, *size, *size);
  query_ = std::move(filter->params);
  query_.emplace_back("sort_by", order->sort_by);
  query_.emplace_back("sort_direction", order->sort_direction);
  query_.emplace_back("page", absl::StrCat(plan_.page));
  query_.emplace_back("page_size", absl::StrCat(plan_.upstream_page_size));
  key_ = KeyOf(query_);
  return absl::OkStatus();
}

void ListBatchesOperation::Begin() {
  if (pacer_ == nullptr) {  // no pacing configured (a bare caller in a test)
    SendNow();
    return;
  }
  if (params_.bypass_cache) {
    result_.cache = "bypass";
    pacer_->NoteBypass();
    Lead();
    return;
  }
  if (absl::optional<ListPacer::Cached> hit = pacer_->Lookup(key_)) {
    result_.cache = "hit";
    result_.cache_age = hit->age;
    Answer(hit->result, false);
    return;
  }
  auto self = Self();
  const bool follows = pacer_->JoinOrLead(key_, this, [self](const upstream::HttpResult* reply) {
    if (self->ended_.load()) return;
    if (reply == nullptr) {
      self->Begin();  // the leader went away: start over
      return;
    }
    self->result_.cache = "coalesced";
    self->Answer(*reply, false);
  });
  if (follows) return;
  // Leading now; a cancel that raced this registration must not leave a
  // flight without a leader (OnEnded abandons only what it sees).
  if (ended_.load()) {
    pacer_->Abandon(key_, this);
    return;
  }
  Lead();
}

void ListBatchesOperation::OnFinished(const absl::Status& /*status*/) {
  ended_.store(true);
  if (pacer_ != nullptr) pacer_->Abandon(key_, this);  // no-op once completed
}

void ListBatchesOperation::Lead() {
  TokenBucket::Grant grant = pacer_->Acquire(deadline());
  if (!grant.granted) {
    const absl::Duration pause = pacer_->PauseLeft();
    End(GatewayListRateLimited(pacer_->options(), grant.retry_after, pause > absl::ZeroDuration()));
    return;
  }
  if (grant.wait <= absl::ZeroDuration()) {
    SendNow();
    return;
  }
  // Waits on the loop's timer, not on a thread.
  caller_->client().RunAfter("account", grant.wait, [self = Self()] { self->SendNow(); });
}

void ListBatchesOperation::SendNow() {
  if (ended_.load()) return;
  if (pacer_ != nullptr) {
    // A 429 seen while this call waited for its token holds it too.
    if (const absl::Duration pause = pacer_->PauseLeft(); pause > absl::ZeroDuration()) {
      End(GatewayListRateLimited(pacer_->options(), pause, true));
      return;
    }
    generation_ = pacer_->generation();
  }
  upstream::UpstreamRequest request;
  request.endpoint = upstream::Endpoint::kListBatches;
  request.query = query_;
  Send("list", std::move(request), deadline(), upstream_options().timeout_cap,
       Done(&ListBatchesOperation::OnRead), /*max_attempts=*/1);
}

void ListBatchesOperation::OnRead(PhaseOutcome outcome) {
  if (outcome.attempts == 0 || outcome.out_of_time) {
    End(ErrorBuilder(absl::StatusCode::kDeadlineExceeded,
                     "the call's deadline passed before the batches could be listed",
                     reason::kDeadlineExceeded));
    return;
  }
  const upstream::HttpResult& reply = outcome.result;
  if (pacer_ != nullptr) {
    if (reply.error == upstream::TransportError::kNone && reply.http_status == 429) {
      pacer_->OnRateLimited(RetryHintOf(reply));
    } else if (reply.http_status != 0) {
      pacer_->OnReply(reply.elapsed);
    }
    // Followers get the reply before the leader ends (its End abandons
    // nothing then).
    pacer_->Complete(key_, this, reply, generation_);
  }
  Answer(reply, outcome.deadline_binds);
}

void ListBatchesOperation::Answer(const upstream::HttpResult& reply, bool deadline_binds) {
  const ClassifyContext context = Context("", deadline_binds);
  absl::StatusOr<Envelope> env = ClassifyReply(reply, context, kListRules);
  if (!env.ok()) {
    End(env.status());
    return;
  }
  const nlohmann::json& json = env->json;
  auto total = json.find("total_count");
  auto batches = json.find("batches");
  if (total == json.end() || !total->is_number_integer() || total->get<int64_t>() < 0 ||
      batches == json.end() || !batches->is_array()) {
    End(BadResponse(context, reply, "no batches array or total_count"));
    return;
  }
  const int64_t total_count = total->get<int64_t>();
  const PageSlice slice = SliceUpstreamPage(plan_, batches->size(), total_count);
  std::vector<serpwow::batches::v1::Batch> page;
  page.reserve(slice.end - slice.begin);
  for (size_t i = slice.begin; i < slice.end; ++i) {
    serpwow::batches::v1::Batch batch;
    if (!(*batches)[i].is_object() || !MapBatch((*batches)[i], &batch).ok()) {
      End(BadResponse(context, reply, "a batch without a valid id"));
      return;
    }
    page.push_back(std::move(batch));
  }
  result_.batches = std::move(page);
  result_.next_page_token = slice.has_next ? EncodePageToken(fingerprint_, slice.next_offset) : "";
  result_.total_size = std::min<int64_t>(total_count, std::numeric_limits<int32_t>::max());
  End(absl::OkStatus());
}

}  // namespace serpwow::logic
