#include "server/logic/batch_mutation.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/logic/batch_mapping.h"
#include "server/logic/errors.h"

namespace serpwow::logic {

namespace v1 = serpwow::batches::v1;

absl::Time PreReadDeadline(absl::Time now, absl::Time deadline, const MutationOptions& options,
                           absl::Duration min_attempt) {
  const absl::Duration remaining = deadline - now;
  return now +
         std::max(std::min(remaining * options.read_share, options.read_timeout_cap), min_attempt);
}

absl::StatusOr<v1::Batch> BatchOfReply(const upstream::HttpResult& result, const Envelope& env,
                                       const ClassifyContext& context) {
  auto batch = env.json.find("batch");
  if (batch == env.json.end() || !batch->is_object()) {
    return BadResponse(context, result, "no batch object");
  }
  v1::Batch out;
  if (!MapBatch(*batch, &out).ok()) {
    return BadResponse(context, result, "a batch without a valid id");
  }
  if (!context.batch_id.empty() && !absl::EqualsIgnoreCase(out.batch_id(), context.batch_id)) {
    // Never hand the caller another batch than the one it asked for.
    return BadResponse(context, result, "another batch than the one asked for");
  }
  return out;
}

absl::StatusOr<v1::Batch> ReadBatch(const upstream::HttpResult& result,
                                    const ClassifyContext& context) {
  absl::StatusOr<Envelope> env = ClassifyReply(result, context, kReadBatchRules);
  if (!env.ok()) return env.status();
  return BatchOfReply(result, *env, context);
}

absl::optional<int64_t> AccountNumberOf(const upstream::HttpResult& result,
                                        const ClassifyContext& context, const char* key) {
  static constexpr ReplyRules kAccountRules{"reading the account", nullptr, nullptr};
  absl::StatusOr<Envelope> env = ClassifyReply(result, context, kAccountRules);
  if (!env.ok() || !env->json.is_object()) return absl::nullopt;
  // Pointers into the containers, not nlohmann's iterators (GCC's
  // -Wnull-dereference, as in batch_mapping.cc).
  using Json = nlohmann::json;
  auto number = [key](const Json& value) -> absl::optional<int64_t> {
    const Json::object_t* object = value.get_ptr<const Json::object_t*>();
    if (object == nullptr) return absl::nullopt;
    auto it = object->find(key);
    if (it == object->end()) return absl::nullopt;
    if (const int64_t* i = it->second.get_ptr<const Json::number_integer_t*>()) return *i;
    if (const uint64_t* u = it->second.get_ptr<const Json::number_unsigned_t*>()) {
      return static_cast<int64_t>(std::min<uint64_t>(*u, INT64_MAX));
    }
    int64_t n = 0;
    const std::string* text = it->second.get_ptr<const Json::string_t*>();
    if (text != nullptr && absl::SimpleAtoi(*text, &n)) return n;
    return absl::nullopt;
  };
  if (auto top = number(env->json)) return top;
  const Json::object_t* root = env->json.get_ptr<const Json::object_t*>();
  if (root == nullptr) return absl::nullopt;
  auto info = root->find("account_info");
  if (info != root->end()) return number(info->second);
  return absl::nullopt;
}

BatchStatus StatusOf(const v1::Batch& batch) {
  switch (batch.status()) {
    case v1::BATCH_STATUS_IDLE:
      return BatchStatus::kIdle;
    case v1::BATCH_STATUS_QUEUED:
      return BatchStatus::kQueued;
    case v1::BATCH_STATUS_RUNNING:
      return BatchStatus::kRunning;
    default:
      return BatchStatus::kUnknown;
  }
}

absl::Status BatchRunningError(const std::string& batch_id, const std::string& what) {
  return ErrorBuilder(absl::StatusCode::kFailedPrecondition,
                      absl::StrCat("batch ", batch_id, " is running, so SerpWow does not let ",
                                   what, "; stop it first or wait for the run to end"),
                      reason::kBatchRunning)
      .Metadata("batch_id", batch_id)
      .Precondition("BATCH_STATE", absl::StrCat("batches/", batch_id),
                    "the batch must not be running");
}

absl::Status BatchAlreadyActiveError(const std::string& batch_id, BatchStatus status) {
  return ErrorBuilder(absl::StatusCode::kFailedPrecondition,
                      absl::StrCat("batch ", batch_id, " is already ", BatchStatusName(status),
                                   "; it cannot be started again until its run ends"),
                      reason::kBatchAlreadyActive)
      .Metadata("batch_id", batch_id)
      .Metadata("status", BatchStatusName(status))
      .Precondition("BATCH_STATE", absl::StrCat("batches/", batch_id),
                    "only an idle batch can be started");
}

absl::Status MutationDeadlineError(const std::string& batch_id, const std::string& what,
                                   bool sent) {
  return ErrorBuilder(absl::StatusCode::kDeadlineExceeded,
                      sent ? absl::StrCat("the call's deadline passed while ", what,
                                          "; it may or may not have happened")
                           : absl::StrCat("the call's deadline passed before ", what,
                                          "; nothing was changed"),
                      reason::kDeadlineExceeded)
      .Metadata("batch_id", batch_id);
}

absl::Status MutationRefusedError(const ClassifyContext& context,
                                  const upstream::HttpResult& result, const std::string& doing,
                                  bool callers_values) {
  const std::string message = UpstreamMessageOf(result);
  const std::string said = message.empty() ? "" : absl::StrCat(": ", message);
  return ErrorBuilder(
             callers_values ? absl::StatusCode::kInvalidArgument : absl::StatusCode::kInternal,
             absl::StrCat("SerpWow refused ", doing, " (HTTP ", result.http_status, ")", said),
             callers_values ? reason::kUpstreamInvalidArgument : reason::kUpstreamRejected)
      .Metadata("batch_id", context.batch_id)
      .Metadata("http_status", absl::StrCat(result.http_status));
}

absl::optional<BatchStatus> ActiveAfterRefusal(bool read_made, const upstream::HttpResult& read,
                                               const ClassifyContext& context) {
  if (!read_made) return absl::nullopt;
  absl::StatusOr<v1::Batch> now = ReadBatch(read, context);
  if (!now.ok() || !IsActive(StatusOf(*now))) return absl::nullopt;
  return StatusOf(*now);
}

}  // namespace serpwow::logic
