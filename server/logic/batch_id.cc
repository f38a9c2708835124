#include "server/logic/batch_id.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/logic/errors.h"
#include "server/upstream/endpoints.h"

namespace serpwow::logic {
namespace {

absl::Status Invalid(const std::string& field, const std::string& reason,
                     const std::string& description) {
  return ErrorBuilder(absl::StatusCode::kInvalidArgument,
                      absl::StrCat("invalid ", field, ": ", description), reason)
      .BadRequestField(field, description);
}

// Why `value` is not a safe id segment, or "" when it is one.
std::string SegmentProblem(const std::string& value) {
  if (value.empty()) return "it is empty; give the id of a SerpWow batch, e.g. 9E867FAA";
  if (value.size() > upstream::kMaxIdSegmentLength) {
    return absl::StrCat("it is ", value.size(), " bytes long; at most ",
                        upstream::kMaxIdSegmentLength, " are allowed");
  }
  for (size_t i = 0; i < value.size(); ++i) {
    if (!upstream::IsAllowedIdChar(value[i])) {
      return absl::StrCat("character ", i + 1,
                          " is not allowed; only A-Z, a-z, 0-9, '_' and '-' are");
    }
  }
  // Only safe characters from here on, so the value may be quoted.
  if (upstream::IsRouteWord(value)) {
    return absl::StrCat("\"", value,
                        "\" is a fixed word of SerpWow's own routes, not an id (sending it "
                        "would call another route, e.g. GET /batches/stopall stops every batch)");
  }
  return "";
}

}  // namespace

absl::Status ValidateIdSegment(const std::string& value, const std::string& field,
                               const std::string& reason) {
  std::string problem = SegmentProblem(value);
  if (problem.empty()) return absl::OkStatus();
  return Invalid(field, reason, problem);
}

absl::Status ValidateBatchId(const std::string& batch_id) {
  return ValidateIdSegment(batch_id, "batch_id", reason::kInvalidBatchId);
}

absl::StatusOr<std::string> ParseBatchName(const std::string& name, const std::string& field) {
  constexpr absl::string_view kPrefix = "batches/";
  if (!absl::StartsWith(name, kPrefix)) {
    return Invalid(field, reason::kInvalidName,
                   name.empty() ? "it is empty; give a batch name such as batches/9E867FAA"
                                : "it must have the form batches/ID, e.g. "
                                  "batches/9E867FAA");
  }
  std::string id = name.substr(kPrefix.size());
  std::string problem = SegmentProblem(id);
  if (!problem.empty()) {
    return Invalid(field, reason::kInvalidName,
                   absl::StrCat("the batch id after \"batches/\" is not valid: ", problem));
  }
  return id;
}

absl::StatusOr<ResultSetName> ParseResultSetName(const std::string& name,
                                                 const std::string& field) {
  const std::string kSets = "/resultSets/";
  const size_t sets = name.find(kSets);
  if (!absl::StartsWith(name, "batches/") || sets == std::string::npos) {
    return Invalid(field, reason::kInvalidName,
                   name.empty() ? "it is empty; give a result set name such as "
                                  "batches/9E867FAA/resultSets/1"
                                : "it must have the form batches/ID/resultSets/N, e.g. "
                                  "batches/9E867FAA/resultSets/1");
  }
  absl::StatusOr<std::string> batch = ParseBatchName(name.substr(0, sets), field);
  if (!batch.ok()) return batch.status();
  ResultSetName out;
  out.batch_id = std::move(*batch);
  out.result_set_id = name.substr(sets + kSets.size());
  if (!upstream::IsCanonicalPositiveInt(out.result_set_id)) {
    return Invalid(field, reason::kInvalidName,
                   "the result set id after \"resultSets/\" must be a whole number from 1 to "
                   "2147483647, without a sign or leading zeros");
  }
  return out;
}

absl::StatusOr<SearchName> ParseSearchName(const std::string& name, const std::string& field) {
  const std::string kSearches = "/searches/";
  const size_t at = name.find(kSearches);
  if (!absl::StartsWith(name, "batches/") || at == std::string::npos) {
    return Invalid(field, reason::kInvalidName,
                   name.empty() ? "it is empty; give a search name such as "
                                  "batches/9E867FAA/searches/ABCDEFGHIJKLMNOP"
                                : "it must have the form batches/ID/searches/SEARCH_ID, e.g. "
                                  "batches/9E867FAA/searches/ABCDEFGHIJKLMNOP");
  }
  absl::StatusOr<std::string> batch = ParseBatchName(name.substr(0, at), field);
  if (!batch.ok()) return batch.status();
  SearchName out;
  out.batch_id = std::move(*batch);
  out.search_id = name.substr(at + kSearches.size());
  if (std::string problem = SegmentProblem(out.search_id); !problem.empty()) {
    return Invalid(field, reason::kInvalidName,
                   absl::StrCat("the search id after \"searches/\" is not valid: ", problem));
  }
  return out;
}

}  // namespace serpwow::logic
