#include "server/upstream/endpoints.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"

namespace serpwow::upstream {
namespace {

using E = Endpoint;
using M = HttpMethod;
using C = EffectClass;

// SerpWow's Batches API as documented (Batches, Searches, Result Sets) plus
// the free account read. Method and path exactly as SerpWow spells them:
// stop, stopall, start and resendwebhook are GETs that change state.
constexpr EndpointInfo kEndpoints[] = {
    {E::kListBatches, "list_batches", M::kGet, "/batches", C::kRead, false, 60},
    {E::kCreateBatch, "create_batch", M::kPost, "/batches", C::kNotIdempotent, false, 0},
    {E::kGetBatch, "get_batch", M::kGet, "/batches/{batch}", C::kRead, false, 0},
    {E::kUpdateBatch, "update_batch", M::kPut, "/batches/{batch}", C::kIdempotent, false, 0},
    {E::kDeleteBatch, "delete_batch", M::kDelete, "/batches/{batch}", C::kIdempotent, false, 0},
    {E::kStartBatch, "start_batch", M::kGet, "/batches/{batch}/start", C::kNotIdempotent, false, 0},
    {E::kStopBatch, "stop_batch", M::kGet, "/batches/{batch}/stop", C::kStop, false, 0},
    {E::kStopAllBatches, "stop_all_batches", M::kGet, "/batches/stopall", C::kIdempotent, false, 0},
    // The same PUT as UpdateBatch, with a body of {"searches": [...]}.
    {E::kAddSearches, "add_searches", M::kPut, "/batches/{batch}", C::kNotIdempotent, true, 0},
    {E::kUpdateSearch, "update_search", M::kPut, "/batches/{batch}/{search}", C::kIdempotent, true,
     0},
    {E::kDeleteSearch, "delete_search", M::kDelete, "/batches/{batch}/{search}", C::kIdempotent,
     true, 0},
    {E::kDeleteSearches, "delete_searches", M::kDelete, "/batches/{batch}/searches",
     C::kNotIdempotent, true, 0},
    {E::kClearSearches, "clear_searches", M::kDelete, "/batches/{batch}/clear", C::kIdempotent,
     true, 0},
    {E::kListSearches, "list_searches", M::kGet, "/batches/{batch}/searches/{page}", C::kRead,
     false, 0},
    // Find is the list route with ?q=...; SerpWow wants it sent one at a time.
    {E::kFindSearches, "find_searches", M::kGet, "/batches/{batch}/searches/{page}", C::kRead, true,
     0},
    {E::kExportSearchesJson, "export_searches_json", M::kGet, "/batches/{batch}/searches/json",
     C::kRead, false, 0},
    {E::kExportSearchesCsv, "export_searches_csv", M::kGet, "/batches/{batch}/searches/csv",
     C::kRead, false, 0},
    {E::kListResultSets, "list_result_sets", M::kGet, "/batches/{batch}/results", C::kRead, false,
     0},
    {E::kGetResultSet, "get_result_set", M::kGet, "/batches/{batch}/results/{result_set}", C::kRead,
     false, 0},
    {E::kGetResultSetJsonLines, "get_result_set_jsonlines", M::kGet,
     "/batches/{batch}/results/{result_set}/jsonlines", C::kRead, false, 0},
    {E::kGetResultSetCsv, "get_result_set_csv", M::kGet,
     "/batches/{batch}/results/{result_set}/csv", C::kRead, false, 0},
    {E::kResendResultSetWebhook, "resend_result_set_webhook", M::kGet,
     "/batches/{batch}/results/{result_set}/resendwebhook", C::kNotIdempotent, false, 0},
    {E::kGetAccount, "get_account", M::kGet, "/account", C::kRead, false, 0},
};
static_assert(sizeof(kEndpoints) / sizeof(kEndpoints[0]) == kEndpointCount, "one row per Endpoint");

constexpr bool RowsInOrder() {
  for (size_t i = 0; i < kEndpointCount; ++i) {
    if (static_cast<size_t>(kEndpoints[i].endpoint) != i) return false;
  }
  return true;
}
static_assert(RowsInOrder(), "rows must be in Endpoint order");

bool IsPlaceholder(absl::string_view segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

std::vector<std::string> BuildRouteWords() {
  std::vector<std::string> words;
  for (const EndpointInfo& row : kEndpoints) {
    for (absl::string_view segment : absl::StrSplit(row.path, '/', absl::SkipEmpty())) {
      if (IsPlaceholder(segment)) continue;
      std::string word = absl::AsciiStrToLower(segment);
      if (std::find(words.begin(), words.end(), word) == words.end()) words.push_back(word);
    }
  }
  return words;
}

}  // namespace

const char* EffectClassName(EffectClass effect) {
  switch (effect) {
    case EffectClass::kRead:
      return "read";
    case EffectClass::kIdempotent:
      return "idempotent";
    case EffectClass::kStop:
      return "stop";
    case EffectClass::kNotIdempotent:
      return "not_idempotent";
  }
  return "read";
}

absl::Span<const EndpointInfo> AllEndpoints() { return absl::MakeConstSpan(kEndpoints); }

const EndpointInfo& InfoOf(Endpoint endpoint) {
  const auto i = static_cast<size_t>(endpoint);
  return kEndpoints[i < kEndpointCount ? i : 0];
}

const std::vector<std::string>& RouteWords() {
  static const std::vector<std::string>* words = new std::vector<std::string>(BuildRouteWords());
  return *words;
}

bool IsRouteWord(const std::string& segment) {
  const std::vector<std::string>& words = RouteWords();
  for (const std::string& word : words) {
    if (absl::EqualsIgnoreCase(segment, word)) return true;
  }
  return false;
}

bool IsSafeIdSegment(const std::string& segment) {
  if (segment.empty() || segment.size() > kMaxIdSegmentLength) return false;
  for (char c : segment) {
    if (!IsAllowedIdChar(c)) return false;
  }
  return !IsRouteWord(segment);
}

bool IsCanonicalPositiveInt(const std::string& segment) {
  if (segment.empty() || segment.size() > 10 || segment[0] == '0') return false;
  int64_t value = 0;
  for (char c : segment) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  return value <= INT32_MAX;
}

std::vector<std::string> PlaceholdersOf(Endpoint endpoint) {
  std::vector<std::string> out;
  for (absl::string_view segment : absl::StrSplit(InfoOf(endpoint).path, '/', absl::SkipEmpty())) {
    if (IsPlaceholder(segment)) out.emplace_back(segment.substr(1, segment.size() - 2));
  }
  return out;
}

}  // namespace serpwow::upstream
