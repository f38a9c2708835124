// ListSearches' filter: SerpWow's Find as an AIP-160 filter of one term.
// Pure; free of gRPC types.
//
//   filter  = ws* field ws* "=" ws* string ws*
//   field   = "q" | "custom_id"
//   string  = '"' chars '"' | "'" chars "'"   (AIP-160 string literals; the
//             escapes \" \' \\ \n \t \r; any other byte as it is)
// The term must not be empty, and the filter is at most kMaxSearchFilterBytes.
// Anything else is INVALID_ARGUMENT INVALID_FILTER naming the position (a
// 1-based byte offset) and what was expected; the filter's text is never
// echoed (it may hold anything, a key included).
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace serpwow::logic {

inline constexpr size_t kMaxSearchFilterBytes = 1024;

struct SearchFilter {
  enum class Field { kQ, kCustomId };
  Field field = Field::kQ;
  std::string term;  // unescaped
  // SerpWow's query parameter: "q" or "custom_id".
  const char* param() const { return field == Field::kQ ? "q" : "custom_id"; }
  // One spelling per filter (for page tokens): `q = "TERM"` with \" and \\.
  std::string Canonical() const;
};

absl::StatusOr<SearchFilter> ParseSearchFilter(const std::string& filter);

}  // namespace serpwow::logic
