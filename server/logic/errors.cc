#include "server/logic/errors.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace serpwow::logic {
namespace {

template <typename Message>
void Attach(absl::Status& status, const Message& message) {
  status.SetPayload(TypeUrlOf(Message::descriptor()->full_name()),
                    absl::Cord(message.SerializeAsString()));
}

}  // namespace

std::string TypeUrlOf(const std::string& full_name) {
  return absl::StrCat(kTypeUrlPrefix, full_name);
}

ErrorBuilder::ErrorBuilder(absl::StatusCode code, std::string message, std::string reason)
    : code_(code), message_(std::move(message)) {
  info_.set_domain(kErrorDomain);
  info_.set_reason(std::move(reason));
}

ErrorBuilder& ErrorBuilder::Metadata(const std::string& key, const std::string& value) {
  if (value.empty()) return *this;  // e.g. batch_id of an account-wide call
  (*info_.mutable_metadata())[key] = value;
  return *this;
}

ErrorBuilder& ErrorBuilder::BadRequestField(const std::string& field,
                                            const std::string& description) {
  if (!bad_request_) bad_request_.emplace();
  auto* v = bad_request_->add_field_violations();
  v->set_field(field);
  v->set_description(description);
  return *this;
}

ErrorBuilder& ErrorBuilder::Precondition(const std::string& type, const std::string& subject,
                                         const std::string& description) {
  if (!precondition_) precondition_.emplace();
  auto* v = precondition_->add_violations();
  v->set_type(type);
  v->set_subject(subject);
  v->set_description(description);
  return *this;
}

ErrorBuilder& ErrorBuilder::Resource(const std::string& type, const std::string& name,
                                     const std::string& description) {
  resource_.emplace();
  resource_->set_resource_type(type);
  resource_->set_resource_name(name);
  resource_->set_description(description);
  return *this;
}

ErrorBuilder& ErrorBuilder::Quota(const std::string& subject, const std::string& description) {
  if (!quota_) quota_.emplace();
  auto* v = quota_->add_violations();
  v->set_subject(subject);
  v->set_description(description);
  return *this;
}

ErrorBuilder& ErrorBuilder::RetryAfter(absl::Duration delay) {
  if (delay < absl::ZeroDuration()) delay = absl::ZeroDuration();
  retry_.emplace();
  int64_t seconds = absl::IDivDuration(delay, absl::Seconds(1), &delay);
  retry_->mutable_retry_delay()->set_seconds(seconds);
  retry_->mutable_retry_delay()->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(delay)));
  return *this;
}

absl::Status ErrorBuilder::Build() const {
  absl::Status status(code_, message_);
  if (status.ok()) return status;
  Attach(status, info_);
  if (bad_request_) Attach(status, *bad_request_);
  if (precondition_) Attach(status, *precondition_);
  if (resource_) Attach(status, *resource_);
  if (quota_) Attach(status, *quota_);
  if (retry_) Attach(status, *retry_);
  return status;
}

std::string ReasonOf(const absl::Status& status) {
  absl::optional<google::rpc::ErrorInfo> info = GetDetail<google::rpc::ErrorInfo>(status);
  return info ? info->reason() : "";
}

}  // namespace serpwow::logic
