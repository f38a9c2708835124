// The rules for ids and resource names a caller gives, checked before any of
// them becomes part of an upstream URL.
//
// An id segment (a batch id, a search id) is 1 to 64 characters, each an
// ASCII letter, digit, '_' or '-', and is not a fixed word of SerpWow's own
// routes in any letter case (upstream::IsRouteWord: "stopall", "clear",
// "searches", "start", "stop", ...). SerpWow routes fixed words before ids,
// so `GET /batches/stopall` is Stop All, not a read of batch "stopall": such
// an id must never be sent.
//
// Messages never echo raw input (it may hold control characters or be huge);
// only a value already known to consist of safe characters is quoted.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/upstream/endpoints.h"

namespace serpwow::logic {

inline constexpr size_t kMaxBatchIdLength = upstream::kMaxIdSegmentLength;

// StopBatch's legacy `batch_id` field: OK when it is a valid id segment.
// Otherwise INVALID_ARGUMENT (reason INVALID_BATCH_ID, BadRequest on field
// "batch_id").
absl::Status ValidateBatchId(const std::string& batch_id);

// Any id segment, with the error's reason and BadRequest field chosen by the
// caller (e.g. INVALID_NAME on "name").
absl::Status ValidateIdSegment(const std::string& value, const std::string& field,
                               const std::string& reason);

// A batch resource name "batches/{id}" from field `field` (e.g. "name"):
// the id, or INVALID_ARGUMENT (reason INVALID_NAME, BadRequest on `field`).
// A bare id is refused with a message that shows the expected form.
absl::StatusOr<std::string> ParseBatchName(const std::string& name, const std::string& field);

// A result set resource name "batches/{id}/resultSets/{n}" from field
// `field`: the batch id and n (a positive int32 in canonical decimal: no
// sign, no leading zero; so "0", "01", "-1" and "2147483648" are refused),
// or INVALID_ARGUMENT (reason INVALID_NAME, BadRequest on `field`).
struct ResultSetName {
  std::string batch_id;
  std::string result_set_id;
};
absl::StatusOr<ResultSetName> ParseResultSetName(const std::string& name, const std::string& field);

// A search resource name "batches/{id}/searches/{search_id}" from field
// `field`: both ids (each a valid id segment), or INVALID_ARGUMENT (reason
// INVALID_NAME, BadRequest on `field`).
struct SearchName {
  std::string batch_id;
  std::string search_id;
};
absl::StatusOr<SearchName> ParseSearchName(const std::string& name, const std::string& field);

}  // namespace serpwow::logic
