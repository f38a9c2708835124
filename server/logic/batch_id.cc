#include "server/logic/batch_id.h"

#include "absl/strings/str_cat.h"
#include "server/logic/errors.h"

namespace serpwow::logic {
namespace {

bool AllowedChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

absl::Status Invalid(const std::string& description) {
  return ErrorBuilder(absl::StatusCode::kInvalidArgument,
                      absl::StrCat("invalid batch_id: ", description), reason::kInvalidBatchId)
      .BadRequestField("batch_id", description);
}

}  // namespace

absl::Status ValidateBatchId(const std::string& batch_id) {
  if (batch_id.empty())
    return Invalid("it is empty; give the id of a SerpWow batch, e.g. 9E867FAA");
  if (batch_id.size() > kMaxBatchIdLength) {
    return Invalid(absl::StrCat("it is ", batch_id.size(), " bytes long; at most ",
                                kMaxBatchIdLength, " are allowed"));
  }
  for (size_t i = 0; i < batch_id.size(); ++i) {
    if (!AllowedChar(batch_id[i])) {
      return Invalid(absl::StrCat("character ", i + 1,
                                  " is not allowed; only A-Z, a-z, 0-9, '_' and '-' are"));
    }
  }
  return absl::OkStatus();
}

}  // namespace serpwow::logic
