// fuzz_mutation_reply: what the batch mutations read out of SerpWow's replies
// (server/logic/batch_mutation.h, outcome.h): AccountNumberOf (GET /account),
// IsMutationRefusal and UpstreamMessageOf (a refusal and its message),
// ReadBatch (a batch reply). The first byte picks the HTTP status (200, 400,
// 402, 404, 409, 422, 500 or 503); the rest is the body.
//
// Invariants (abort when violated):
//  - AccountNumberOf answers only for a 2xx success reply, and only when the
//    key is spelled in the body;
//  - IsMutationRefusal only for 400, 409 and 422;
//  - UpstreamMessageOf is valid UTF-8 of at most 256 bytes without control
//    characters;
//  - ReadBatch is OK only for a 2xx reply, with a valid batch name; an error
//    has the contract's shape (fuzz_check.h).
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "fuzz/fuzz_check.h"
#include "server/logic/batch_mutation.h"
#include "server/logic/errors.h"

namespace serpwow::fuzz {
namespace {

constexpr long kStatuses[] = {200, 400, 402, 404, 409, 422, 500, 503};

void Run(long status, const std::string& body) {
  upstream::HttpResult result;
  result.http_status = status;
  result.body = body;
  logic::ClassifyContext context;
  context.timeout_is_callers_deadline = true;

  for (const char* key : {"credits_remaining", "batches_used", "batches_limit"}) {
    if (logic::AccountNumberOf(result, context, key).has_value()) {
      FUZZ_CHECK(status == 200 && absl::StrContains(body, key), key);
    }
  }
  if (logic::IsMutationRefusal(result)) {
    FUZZ_CHECK(status == 400 || status == 409 || status == 422, std::to_string(status));
  }
  const std::string message = logic::UpstreamMessageOf(result);
  FUZZ_CHECK(message.size() <= 256 && IsValidUtf8(message), message);
  for (char c : message) FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7F, message);

  context.batch_id = "B1";
  absl::StatusOr<serpwow::batches::v1::Batch> batch = logic::ReadBatch(result, context);
  if (batch.ok()) {
    FUZZ_CHECK(status == 200 && batch->name() == "batches/" + batch->batch_id(), batch->name());
  } else {
    CheckErrorShape(batch.status(), "");
  }
}

}  // namespace
}  // namespace serpwow::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const long status = serpwow::fuzz::kStatuses[data[0] % 8];
  serpwow::fuzz::Run(status, std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
  return 0;
}
