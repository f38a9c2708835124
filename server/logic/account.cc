#include "server/logic/account.h"

#include <utility>

#include "nlohmann/json.hpp"
#include "server/logic/errors.h"
#include "server/logic/resource_mapping.h"

namespace serpwow::logic {
namespace {

constexpr ReplyRules kReadAccountRules{"reading the account", nullptr, nullptr};

}  // namespace

GetAccountOperation::GetAccountOperation(UpstreamCaller* caller, std::string name,
                                         absl::Time deadline)
    : ReadOperation(caller, deadline, kReadAccountRules, nullptr), name_(std::move(name)) {
  what_ = "the account";
}

absl::Status GetAccountOperation::Validate() {
  if (name_ == "account") return absl::OkStatus();
  const char* why = name_.empty() ? "it is empty; the account's name is \"account\""
                                  : "the account's name is exactly \"account\"";
  return ErrorBuilder(absl::StatusCode::kInvalidArgument, std::string("invalid name: ") + why,
                      reason::kInvalidName)
      .BadRequestField("name", why);
}

void GetAccountOperation::Begin() {
  upstream::UpstreamRequest request;
  request.endpoint = upstream::Endpoint::kGetAccount;
  SendRead(std::move(request));
}

absl::optional<absl::Status> GetAccountOperation::Take(const Envelope& env,
                                                       const upstream::HttpResult& result,
                                                       const ClassifyContext& context) {
  // SerpWow nests the figures in `account_info`; accept them at the top
  // level too.
  auto info = env.json.find("account_info");
  const nlohmann::json& object = info != env.json.end() ? *info : env.json;
  if (!MapAccount(object, &account_).ok()) {
    return BadResponse(context, result, "no account object");
  }
  if (info == env.json.end()) {
    // The envelope itself is not part of the account.
    account_.mutable_other_fields()->erase("request_info");
  }
  return absl::OkStatus();
}

}  // namespace serpwow::logic
