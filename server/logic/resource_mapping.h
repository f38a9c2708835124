// SerpWow's account, result set and search JSON objects -> the v1 resources
// (Account, ResultSet, Search). Pure: no I/O, no clock, no global state; safe
// to call from any thread. Never throws and never aborts, whatever the input.
//
// Values are read with the lenient readers of json_values.h (booleans,
// integers as numbers or decimal strings, RFC 3339 times with an offset);
// `null` counts as absent. A key a mapper does not know, or a known key whose
// value it cannot read, goes to other_fields (Search: params) as compact JSON
// text within the caps of json_values.h. A key named `api_key` is dropped
// everywhere: no object's copy of a key is ever passed on.
//
// Download links are mapped as given; the caller checks them
// (download_links.h) before passing them on.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "nlohmann/json_fwd.hpp"
#include "serpwow/batches/v1/resources.pb.h"

namespace serpwow::logic {

// Delivery logs beyond this many entries are dropped.
inline constexpr int kMaxDeliveryLogEntries = 100;
// Pages of download links beyond this many are dropped (a result set has at
// most 15 pages of 1000 searches; a hostile reply is not copied whole).
inline constexpr int kMaxDownloadPages = 1000;

// `object` is SerpWow's `account_info` (GET /account). Always OK for an
// object; INTERNAL UPSTREAM_BAD_RESPONSE ("the account in SerpWow's reply is
// not an object") otherwise. name = "account".
absl::Status MapAccount(const nlohmann::json& object, serpwow::batches::v1::Account* out);

// One result set (an element of List Results' `results`, or Get's
// `result`) of batch `batch_id` (already valid). `id` must be a positive
// int32 (a JSON integer or a canonical decimal string), else INTERNAL
// UPSTREAM_BAD_RESPONSE ("a result set in SerpWow's reply has no valid id")
// and `*out` cleared. name = "batches/{batch_id}/resultSets/{id}".
absl::Status MapResultSet(const nlohmann::json& object, const std::string& batch_id,
                          serpwow::batches::v1::ResultSet* out);

// One search (an element of a searches page's `searches`) of batch
// `batch_id` (already valid). `id` must be a string that is a valid id
// segment (batch_id.h), else INTERNAL UPSTREAM_BAD_RESPONSE ("a search in
// SerpWow's reply has no valid id") and `*out` cleared. name =
// "batches/{batch_id}/searches/{id}". Unknown keys go to `params`.
absl::Status MapSearch(const nlohmann::json& object, const std::string& batch_id,
                       serpwow::batches::v1::Search* out);

// SerpWow's `download_links` object ({pages: [url...], all_pages: url}).
// Values that are not strings are dropped; false when `object` is not an
// object or holds a value of the wrong shape.
bool MapDownloadLinks(const nlohmann::json& object, serpwow::batches::v1::DownloadLinks* out);

}  // namespace serpwow::logic
