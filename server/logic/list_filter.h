// ListBatches' `filter` (an AIP-160 subset) and `order_by` (one key), parsed
// into SerpWow's List query parameters. Pure; no I/O.
//
// Filter grammar (AIP-160 semantics, hand-written recursive descent):
//   filter      = [ term { "AND" term } ]          (at most kMaxFilterLength bytes)
//   term        = field op value | value            (a bare value: display_name contains)
//   op          = "=" | "<" | ">" | ":"
//   value       = "double-quoted" | 'single-quoted' | bare word
// Each predicate maps to exactly one SerpWow parameter:
//   status = QUEUED (IDLE, RUNNING; also BATCH_STATUS_QUEUED; any case)  status=queued
//   display_name = "x" | "x*" | "*x" | "*x*", or a bare value x search_term=x&search_type=
//                                                 exact | starts_with | ends_with | contains
//   create_time > "RFC 3339" / create_time < "..."                         created_after /
//   created_before last_run_time > "..." / last_run_time < "..." last_run_after / last_run_before
//   destination_ids:"ID"                                                   destination_id=ID
//   results_count > 0 / results_count = 0                                 only_with_results=true /
//                                                                          only_without_results=true
// `create_time > a AND create_time < b` is a range (two parameters). Refused
// with INVALID_ARGUMENT INVALID_FILTER, naming the 1-based byte position of
// the offending token (in the message, the BadRequest description and the
// ErrorInfo metadata "position"): OR, NOT, "-", parentheses, "<=", ">=",
// "!=", other fields, other values, a parameter given twice (display_name and
// a bare value both set search_term), a '*' inside a name pattern, and
// filters longer than kMaxFilterLength.
//
// order_by: one of display_name, create_time, last_run_time, priority,
// status, optionally followed by "asc" or "desc"; empty means create_time
// (the default: it keeps offsets stable while batches are added). Anything
// else is INVALID_ARGUMENT INVALID_ORDER_BY with a position.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace serpwow::logic {

inline constexpr size_t kMaxFilterLength = 1024;

using QueryParams = std::vector<std::pair<std::string, std::string>>;

struct BatchFilter {
  // SerpWow parameters, sorted by name (so equal filters give equal queries).
  QueryParams params;
  // The filter in one spelling: predicates sorted, values quoted, times in
  // UTC with milliseconds; what page tokens are bound to.
  std::string canonical;
};

struct BatchOrder {
  std::string sort_by;         // SerpWow's name: created_at, name, last_run, priority, status
  std::string sort_direction;  // ascending | descending
  std::string canonical;       // e.g. "create_time desc"
};

absl::StatusOr<BatchFilter> ParseBatchFilter(const std::string& filter);
absl::StatusOr<BatchOrder> ParseBatchOrderBy(const std::string& order_by);

}  // namespace serpwow::logic
