// fuzz_search_filter: ParseSearchFilter (server/logic/search_filter.h, the
// filter of ListSearches) on any input. The whole input is the filter; it is
// also parsed with a marker put before and after it, and inside a quoted
// term, so that an echo of the caller's text would show.
//
// Invariants: an error is INVALID_ARGUMENT with the contract's shape
// (fuzz_check.h: one ErrorInfo, printable ASCII, never "api_key" nor a URL),
// reason INVALID_FILTER, one BadRequest violation on "filter" whose
// description names "position N" as the message does, N from 1 to the
// input's length + 1 (the length limit + 1 past it); neither the message nor
// any payload holds the marker. On OK: the field is q or custom_id, the term
// is not empty, and the canonical text (when within the length limit) parses
// back to the same field and term and to itself (one query, one page token).
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "fuzz/fuzz_check.h"
#include "server/logic/errors.h"
#include "server/logic/search_filter.h"

namespace serpwow::fuzz {
namespace {

// Stands for a secret a caller put into a filter (an api_key, say).
constexpr char kMarker[] = "Zq7MarkerOfTheCallersText7qZ";

void Check(const std::string& input, const std::string& marker) {
  absl::StatusOr<logic::SearchFilter> got = logic::ParseSearchFilter(input);
  if (!got.ok()) {
    const absl::Status& status = got.status();
    FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument,
               absl::StrCat("not INVALID_ARGUMENT: ", Describe(status)));
    const google::rpc::ErrorInfo info = CheckErrorShape(status, marker);
    FUZZ_CHECK(info.reason() == logic::reason::kInvalidFilter,
               absl::StrCat("reason is not INVALID_FILTER: ", Describe(status)));
    auto bad = logic::GetDetail<google::rpc::BadRequest>(status);
    FUZZ_CHECK(bad.has_value() && bad->field_violations_size() == 1 &&
                   bad->field_violations(0).field() == "filter",
               absl::StrCat("BadRequest is not one violation on filter: ", Describe(status)));
    const std::string& description = bad->field_violations(0).description();
    FUZZ_CHECK(IsPrintableAscii(description),
               absl::StrCat("description outside printable ASCII: ", Describe(status)));
    FUZZ_CHECK(marker.empty() || !absl::StrContains(description, marker),
               absl::StrCat("the description echoes the filter: ", Describe(status)));
    // "position N" in both, N within the input (or the limit + 1).
    const size_t limit = input.size() > logic::kMaxSearchFilterBytes
                             ? logic::kMaxSearchFilterBytes + 1
                             : input.size() + 1;
    const absl::string_view message = status.message();
    const size_t at = message.find("position ");
    FUZZ_CHECK(at != absl::string_view::npos, absl::StrCat("no position: ", Describe(status)));
    size_t end = at + 9;
    while (end < message.size() && message[end] >= '0' && message[end] <= '9') ++end;
    size_t position = 0;
    FUZZ_CHECK(absl::SimpleAtoi(message.substr(at + 9, end - at - 9), &position) && position >= 1 &&
                   position <= limit,
               absl::StrCat("position outside the input: ", Describe(status)));
    FUZZ_CHECK(absl::StartsWith(description, absl::StrCat("position ", position, ":")),
               absl::StrCat("the description names another position: ", Describe(status)));
    return;
  }
  FUZZ_CHECK(input.size() <= logic::kMaxSearchFilterBytes, "accepted past the length limit");
  FUZZ_CHECK(!got->term.empty(), "an empty term accepted");
  const std::string param = got->param();
  FUZZ_CHECK(param == "q" || param == "custom_id", param);
  const std::string canonical = got->Canonical();
  // (Escaping may make the canonical text longer than a caller may send.)
  if (canonical.size() > logic::kMaxSearchFilterBytes) return;
  absl::StatusOr<logic::SearchFilter> again = logic::ParseSearchFilter(canonical);
  FUZZ_CHECK(again.ok() && again->field == got->field && again->term == got->term &&
                 again->Canonical() == canonical,
             absl::StrCat("canonical form '", absl::CHexEscape(canonical),
                          "' does not parse back to the same term"));
}

}  // namespace
}  // namespace serpwow::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using serpwow::fuzz::kMarker;
  const std::string input(reinterpret_cast<const char*>(data), size);
  // The input as it is (it may hold a marker of its own making: no check).
  serpwow::fuzz::Check(input, "");
  if (absl::StrContains(input, kMarker)) return 0;
  serpwow::fuzz::Check(absl::StrCat(kMarker, input), kMarker);
  serpwow::fuzz::Check(absl::StrCat(input, kMarker), kMarker);
  serpwow::fuzz::Check(absl::StrCat("q = \"", kMarker, input), kMarker);
  serpwow::fuzz::Check(absl::StrCat(input, " q = \"", kMarker, "\""), kMarker);
  return 0;
}
