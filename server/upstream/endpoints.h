// The one table of SerpWow Batches API routes the gateway knows (SerpWow's
// documented Batches, Searches, Result Sets and Account routes). Everything
// that differs per route comes from here: the method and path template used
// to build a URL, the metric label and log name, the retry class, whether
// calls on one batch must be sent one at a time, and the documented rate
// limit. A new route is a new row; nothing else keeps a list of routes.
//
// Path templates are relative to the base URL and use `{batch}`, `{search}`,
// `{result_set}` and `{page}` for the values filled in per call. Every other
// segment is a fixed word of SerpWow's routes. SerpWow puts fixed words and
// ids in the same path positions (`GET /batches/stopall` beside
// `GET /batches/{id}`, `DELETE /batches/{id}/clear` beside
// `DELETE /batches/{id}/{search_id}`), so a caller-given value equal to a
// fixed word would reach another route: IsRouteWord() is how the gateway
// refuses such values before anything is sent.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "server/upstream/http_types.h"

namespace serpwow::upstream {

enum class Endpoint {
  kListBatches,
  kCreateBatch,
  kGetBatch,
  kUpdateBatch,
  kDeleteBatch,
  kStartBatch,
  kStopBatch,
  kStopAllBatches,
  kAddSearches,
  kUpdateSearch,
  kDeleteSearch,
  kDeleteSearches,
  kClearSearches,
  kListSearches,
  kFindSearches,
  kExportSearchesJson,
  kExportSearchesCsv,
  kListResultSets,
  kGetResultSet,
  kGetResultSetJsonLines,
  kGetResultSetCsv,
  kResendResultSetWebhook,
  kGetAccount,
  kCount,  // not an endpoint: the number of rows
};
inline constexpr size_t kEndpointCount = static_cast<size_t>(Endpoint::kCount);

// What sending a request again may do (the retry classes of the gateway's
// fault model, README "Faults and retries"):
//   kRead:          nothing; retried on any unavailable-class failure and 429.
//   kIdempotent:    the same effect again; retried like a read.
//   kStop:          StopBatch's own rules (a stop after a stop is refused as
//                   "not stoppable", which the stop flow reconciles).
//   kNotIdempotent: a second effect; retried only when nothing was sent.
enum class EffectClass { kRead, kIdempotent, kStop, kNotIdempotent };
const char* EffectClassName(EffectClass effect);  // "read", ...

// Which of a call's values a path template uses.
struct PathArgs {
  std::string batch;
  std::string search;
  std::string result_set;
  std::string page;
};

struct EndpointInfo {
  Endpoint endpoint;
  // Stable snake_case name: the metric label and the log field value.
  const char* name;
  HttpMethod method;
  // Relative to the base URL, e.g. "/batches/{batch}/stop".
  const char* path;
  EffectClass effect;
  // SerpWow answers 429 to concurrent calls of these on one batch.
  bool one_at_a_time_per_batch;
  // Documented requests per minute for the account; 0: none documented.
  int rate_limit_per_minute;
};

// Every row, in Endpoint order.
absl::Span<const EndpointInfo> AllEndpoints();
const EndpointInfo& InfoOf(Endpoint endpoint);
inline const char* EndpointName(Endpoint endpoint) { return InfoOf(endpoint).name; }

// The fixed words of every route, lower case, each once (e.g. "batches",
// "stopall", "clear", "searches", "start", "stop", "results", "account").
const std::vector<std::string>& RouteWords();

// True when `segment` equals a fixed route word in any letter case.
bool IsRouteWord(const std::string& segment);

// An id a path may carry ({batch}, {search}): 1 to 64 of [A-Za-z0-9_-] and
// not a route word. The logic layer checks callers' ids against the same
// rule first (with messages); the client refuses anything else anyway.
inline constexpr size_t kMaxIdSegmentLength = 64;
inline bool IsAllowedIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}
bool IsSafeIdSegment(const std::string& segment);
// {result_set}, {page}: a positive int32 in canonical decimal (no sign, no
// leading zero).
bool IsCanonicalPositiveInt(const std::string& segment);

// The placeholders ("batch", "search", ...) `endpoint`'s template uses.
std::vector<std::string> PlaceholdersOf(Endpoint endpoint);

}  // namespace serpwow::upstream
