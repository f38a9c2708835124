// SerpWow's batch JSON object -> serpwow.batches.v1.Batch. Pure: no I/O, no
// clock, no global state; safe to call from any thread.
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "nlohmann/json_fwd.hpp"
#include "serpwow/batches/v1/resources.pb.h"
#include "server/logic/json_values.h"

namespace serpwow::logic {

// Batch.other_fields has the caps of json_values.h (kMaxOtherFields,
// kMaxOtherFieldBytes); keys are visited in sorted order, so which ones are
// dropped is deterministic.

// Maps one batch object as SerpWow sends it (the `batch` of GET
// /batches/{id}, an element of List's `batches`) into `*out`, which is
// cleared first. Never throws and never aborts, whatever `object` holds.
//
// `id` must be a string that ValidateBatchId accepts; otherwise, or when
// `object` is not a JSON object, the result is INTERNAL (reason
// UPSTREAM_BAD_RESPONSE, message "the batch in SerpWow's reply has no valid
// id"; the raw input is never echoed) and `*out` is left cleared. Then
// name = "batches/" + id and batch_id = id.
//
// Every other field is read leniently, as the upstream's spelling varies:
//  - booleans: true/false, the numbers 0/1, or the strings "true"/"false"/
//    "0"/"1" (any case);
//  - integers: JSON integers, integral floats, or decimal strings ("12");
//    negative or beyond the field's range is unreadable;
//  - enum words in any case; priority also as 1 (lowest) to 5 (highest);
//  - integer lists: an array of integers or decimal strings, one integer, or
//    one comma-separated string ("9,17"); one value outside 0-23 (hours),
//    0-6 (days of week) or 1-31 (days of month) makes the whole list
//    unreadable;
//  - destination_ids: an array of strings or one comma-separated string;
//  - times: RFC 3339 / ISO-8601 with a "Z" or numeric offset, with or
//    without fractional seconds ("2020-01-01T00:00:00.000Z",
//    "2020-01-01T02:00:00+02:00"); no offset is unreadable;
//  - `searches_total_count` / `searches_page_count` also under SerpWow's
//    singular spelling (`search_total_count`, `search_page_count`); the
//    plural wins when both are readable, and the unused one is kept in
//    other_fields.
// `null` counts as absent. A key the mapper does not know, and a known key
// whose value is unreadable (including strings that are not valid UTF-8, and
// status/schedule_type/priority words it does not know, which leave the
// field UNSPECIFIED/unset), go to other_fields[key] as compact JSON text,
// within the caps above. expire_time is estimated as documented in
// resources.proto (last run, else creation, plus 2 calendar months).
absl::Status MapBatch(const nlohmann::json& object, serpwow::batches::v1::Batch* out);

}  // namespace serpwow::logic
