// fuzz_batch_id: ValidateBatchId (server/logic/batch_id.h) on any input,
// compared with an independent reading of the rule. The whole input is the id.
//
// Invariants: OK exactly when the id is 1..64 bytes of [A-Za-z0-9_-] and not
// one of SerpWow's fixed route words in any letter case (listed here on
// purpose, apart from the endpoint table: a new route word must be added to
// both); an
// error is INVALID_ARGUMENT with the contract's shape (fuzz_check.h), reason
// INVALID_BATCH_ID and a BadRequest violation on field "batch_id"; the message
// and the violation's description never contain the input (when longer than
// 1 byte and not made only of allowed characters, which are safe to quote)
// unless our own wording does: the same error for a stand-in id of the
// same length and shape ('A' for a valid byte, '\x01' for an invalid one)
// contains it too (so "d:" may appear in "invalid batch_id: ..."); message
// and description are printable ASCII, so no raw control or non-ASCII byte of
// the id gets out.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "fuzz/fuzz_check.h"
#include "server/logic/batch_id.h"
#include "server/logic/errors.h"

namespace serpwow::fuzz {
namespace {

bool Allowed(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool OnlyAllowed(const std::string& id) {
  for (char c : id) {
    if (!Allowed(c)) return false;
  }
  return true;
}

bool RouteWord(const std::string& id) {
  for (const char* word : {"batches", "stopall", "start", "stop", "searches", "clear", "json",
                           "csv", "results", "jsonlines", "resendwebhook", "account"}) {
    if (absl::EqualsIgnoreCase(id, word)) return true;
  }
  return false;
}

bool ReferenceValid(const std::string& id) {
  return !id.empty() && id.size() <= 64 && OnlyAllowed(id) && !RouteWord(id);
}

std::string StandIn(const std::string& id) {
  std::string out;
  for (char c : id) out.push_back(Allowed(c) ? 'A' : '\x01');
  return out;
}

std::string Description(const absl::Status& status) {
  auto bad = logic::GetDetail<google::rpc::BadRequest>(status);
  FUZZ_CHECK(bad.has_value(), absl::StrCat("no BadRequest: ", Describe(status)));
  FUZZ_CHECK(bad->field_violations_size() == 1 && bad->field_violations(0).field() == "batch_id",
             absl::StrCat("BadRequest is not one violation on batch_id: ", Describe(status)));
  return bad->field_violations(0).description();
}

}  // namespace
}  // namespace serpwow::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace serpwow::fuzz;
  const std::string id(reinterpret_cast<const char*>(data), size);
  const absl::Status status = serpwow::logic::ValidateBatchId(id);
  const bool want_ok = ReferenceValid(id);
  FUZZ_CHECK(status.ok() == want_ok,
             absl::StrCat("'", absl::CHexEscape(id), "' gave ", Describe(status), ", want ",
                          want_ok ? "OK" : "an error"));
  if (status.ok()) return 0;

  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument,
             absl::StrCat("not INVALID_ARGUMENT: ", Describe(status)));
  const google::rpc::ErrorInfo info = CheckErrorShape(status, "");
  FUZZ_CHECK(info.reason() == serpwow::logic::reason::kInvalidBatchId,
             absl::StrCat("reason is not INVALID_BATCH_ID: ", Describe(status)));
  const std::string description = Description(status);
  FUZZ_CHECK(IsPrintableAscii(description),
             absl::StrCat("description has bytes outside printable ASCII: ", Describe(status)));

  FUZZ_CHECK(IsPrintableAscii(std::string(status.message())),
             absl::StrCat("message has bytes outside printable ASCII: ", Describe(status)));
  if (id.size() > 1 && !OnlyAllowed(id)) {
    const absl::Status stand_in = serpwow::logic::ValidateBatchId(StandIn(id));
    const std::string message(status.message());
    FUZZ_CHECK(
        !absl::StrContains(message, id) || absl::StrContains(std::string(stand_in.message()), id),
        absl::StrCat("message echoes the id '", absl::CHexEscape(id), "': ", Describe(status)));
    FUZZ_CHECK(
        !absl::StrContains(description, id) || absl::StrContains(Description(stand_in), id),
        absl::StrCat("description echoes the id '", absl::CHexEscape(id), "': ", Describe(status)));
  }
  return 0;
}
