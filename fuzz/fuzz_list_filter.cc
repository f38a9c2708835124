// fuzz_list_filter: ParseBatchFilter and ParseBatchOrderBy
// (server/logic/list_filter.h) on any input. The whole input is the filter,
// and also the order_by.
//
// Invariants: an error is INVALID_ARGUMENT with the contract's shape
// (fuzz_check.h), reason INVALID_FILTER (INVALID_ORDER_BY), one BadRequest
// violation on "filter" ("order_by"), ErrorInfo metadata "position" a
// decimal from 1 to the input's length + 1 that the message and the
// description both name; messages are printable ASCII (no byte of the input
// outside it gets out). On OK: every parameter is one of SerpWow's List
// parameters, each at most once, with a known value where the set is closed;
// the parameters are sorted; the canonical text (when within the length
// limit) parses again to the same canonical text and the same parameters (one query, one
// fingerprint).
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "fuzz/fuzz_check.h"
#include "server/logic/errors.h"
#include "server/logic/list_filter.h"

namespace serpwow::fuzz {
namespace {

void CheckRefusal(const absl::Status& status, const char* reason, const char* field,
                  size_t input_size) {
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument,
             absl::StrCat("not INVALID_ARGUMENT: ", Describe(status)));
  const google::rpc::ErrorInfo info = CheckErrorShape(status, "");
  FUZZ_CHECK(info.reason() == reason,
             absl::StrCat("reason is not ", reason, ": ", Describe(status)));
  auto bad = logic::GetDetail<google::rpc::BadRequest>(status);
  FUZZ_CHECK(bad.has_value() && bad->field_violations_size() == 1 &&
                 bad->field_violations(0).field() == field,
             absl::StrCat("BadRequest is not one violation on ", field, ": ", Describe(status)));
  auto position = info.metadata().find("position");
  size_t at = 0;
  FUZZ_CHECK(position != info.metadata().end() && absl::SimpleAtoi(position->second, &at) &&
                 at >= 1 && at <= input_size + 1,
             absl::StrCat("no position within the input: ", Describe(status)));
  const std::string where = absl::StrCat("position ", at);
  FUZZ_CHECK(absl::StrContains(status.message(), where) &&
                 absl::StrContains(bad->field_violations(0).description(), where),
             absl::StrCat("the position is not named: ", Describe(status)));
  FUZZ_CHECK(IsPrintableAscii(std::string(status.message())) &&
                 IsPrintableAscii(bad->field_violations(0).description()),
             absl::StrCat("bytes outside printable ASCII: ", Describe(status)));
}

void CheckFilter(const std::string& input) {
  absl::StatusOr<logic::BatchFilter> got = logic::ParseBatchFilter(input);
  if (!got.ok()) {
    const size_t size =
        input.size() > logic::kMaxFilterLength ? logic::kMaxFilterLength : input.size();
    CheckRefusal(got.status(), logic::reason::kInvalidFilter, "filter", size);
    return;
  }
  static const std::set<std::string> kNames = {"status",
                                               "search_term",
                                               "search_type",
                                               "created_after",
                                               "created_before",
                                               "last_run_after",
                                               "last_run_before",
                                               "destination_id",
                                               "only_with_results",
                                               "only_without_results"};
  std::set<std::string> seen;
  for (const auto& [name, value] : got->params) {
    FUZZ_CHECK(kNames.count(name) == 1, absl::StrCat("unknown parameter ", name));
    FUZZ_CHECK(seen.insert(name).second, absl::StrCat("parameter twice: ", name));
    if (name == "status") {
      FUZZ_CHECK(value == "idle" || value == "queued" || value == "running", value);
    } else if (name == "search_type") {
      FUZZ_CHECK(
          value == "exact" || value == "starts_with" || value == "ends_with" || value == "contains",
          value);
    } else if (name == "search_term") {
      FUZZ_CHECK(!value.empty() && !absl::StrContains(value, "*"), absl::CHexEscape(value));
    } else if (absl::StartsWith(name, "only_")) {
      FUZZ_CHECK(value == "true", value);
    }
  }
  FUZZ_CHECK(seen.count("search_term") == seen.count("search_type"), "term without type");
  FUZZ_CHECK(std::is_sorted(got->params.begin(), got->params.end()), "parameters not sorted");
  // (Quoting may make the canonical text longer than a caller may send.)
  if (got->canonical.size() > logic::kMaxFilterLength) return;
  absl::StatusOr<logic::BatchFilter> again = logic::ParseBatchFilter(got->canonical);
  FUZZ_CHECK(again.ok() && again->canonical == got->canonical && again->params == got->params,
             absl::StrCat("canonical form '", absl::CHexEscape(got->canonical),
                          "' does not parse back to itself"));
}

void CheckOrder(const std::string& input) {
  absl::StatusOr<logic::BatchOrder> got = logic::ParseBatchOrderBy(input);
  if (!got.ok()) {
    CheckRefusal(got.status(), logic::reason::kInvalidOrderBy, "order_by",
                 input.size() > 64 ? 64 : input.size());
    return;
  }
  static const std::set<std::string> kSortBy = {"created_at", "name", "last_run", "priority",
                                                "status"};
  FUZZ_CHECK(kSortBy.count(got->sort_by) == 1, got->sort_by);
  FUZZ_CHECK(got->sort_direction == "ascending" || got->sort_direction == "descending",
             got->sort_direction);
  absl::StatusOr<logic::BatchOrder> again = logic::ParseBatchOrderBy(got->canonical);
  FUZZ_CHECK(again.ok() && again->canonical == got->canonical && again->sort_by == got->sort_by &&
                 again->sort_direction == got->sort_direction,
             absl::StrCat("canonical order '", got->canonical, "' does not parse back"));
}

}  // namespace
}  // namespace serpwow::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  serpwow::fuzz::CheckFilter(input);
  serpwow::fuzz::CheckOrder(input);
  return 0;
}
