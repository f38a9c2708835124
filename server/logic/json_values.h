// Lenient readers of the JSON values SerpWow sends, shared by every mapper of
// SerpWow's objects (batch_mapping.h, resource_mapping.h). Pure: no I/O, no
// clock, no global state; none of them throws or aborts, whatever the value.
//
// Each reader returns nullopt for a value it cannot read; the mappers then
// keep the raw value in the resource's other_fields (AddOtherField).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "google/protobuf/map.h"
#include "google/protobuf/timestamp.pb.h"
#include "nlohmann/json.hpp"

namespace serpwow::logic {

// Caps on a resource's other_fields (and Search.params), so that a hostile or
// broken upstream cannot blow up a response: entries beyond kMaxOtherFields
// are dropped, and keys and values are cut to kMaxOtherFieldBytes at a UTF-8
// character boundary.
inline constexpr size_t kMaxOtherFields = 64;
inline constexpr size_t kMaxOtherFieldBytes = 1024;

inline constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
inline constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

// Calls `setter` with the value when there is one; false when there is none
// (the mapper then keeps the raw value in other_fields).
template <typename T, typename Setter>
bool SetIfRead(absl::optional<T> value, Setter&& setter) {
  if (!value) return false;
  setter(std::move(*value));
  return true;
}

// The string, object or array `v` holds, or nullptr. Pointers into the
// underlying containers, not get_ref() or nlohmann's iterators: GCC's
// -Wnull-dereference cannot see that those never dereference null after a
// type check.
inline const std::string* JsonStringOf(const nlohmann::json& v) {
  return v.get_ptr<const nlohmann::json::string_t*>();
}
inline const nlohmann::json::object_t* JsonObjectOf(const nlohmann::json& v) {
  return v.get_ptr<const nlohmann::json::object_t*>();
}
inline const nlohmann::json::array_t* JsonArrayOf(const nlohmann::json& v) {
  return v.get_ptr<const nlohmann::json::array_t*>();
}

// `text` with every byte that starts no well-formed UTF-8 sequence replaced
// by U+FFFD.
std::string ReplaceInvalidUtf8(absl::string_view text);

// At most `max` bytes of `text`, never ending inside a UTF-8 sequence.
std::string CutUtf8(std::string text, size_t max);

// The first bytes (a little over `max`; cut them) of value.dump() in compact
// form. Iterative, and stops once `max` bytes are written: a value nested a
// million levels deep, or a megabyte long, costs neither stack nor time.
std::string CompactJsonPrefix(const nlohmann::json& value, size_t max);

// The lower-cased string `v` holds, or nullopt.
absl::optional<std::string> ReadLowerWord(const nlohmann::json& v);

// An unsigned decimal integer in [0, max]: digits only, with optional
// surrounding ASCII whitespace.
absl::optional<int64_t> ParseDecimal(absl::string_view text, int64_t max);

// An integer in [0, max] from a JSON integer, an integral float or a decimal
// string.
absl::optional<int64_t> ReadInteger(const nlohmann::json& v, int64_t max);

// An integer in [-max, max] (negative values too): a JSON integer, an
// integral float, or a decimal string with an optional leading '-'.
absl::optional<int64_t> ReadSignedInteger(const nlohmann::json& v, int64_t max);

// true/false, the numbers 0/1, or the strings "true"/"false"/"0"/"1" (any
// case).
absl::optional<bool> ReadBool(const nlohmann::json& v);

// A string that is valid UTF-8.
absl::optional<std::string> ReadString(const nlohmann::json& v);

// An integer list whose every value is in [lo, hi]: an array of integers or
// decimal strings, one integer, or one comma-separated string ("" is empty).
absl::optional<std::vector<int32_t>> ReadIntList(const nlohmann::json& v, int32_t lo, int32_t hi);

// An array of (UTF-8) strings, or one comma-separated string whose parts are
// trimmed and whose empty parts are dropped.
absl::optional<std::vector<std::string>> ReadStringList(const nlohmann::json& v);

// True when `t` fits google.protobuf.Timestamp (years 1 to 9999).
bool InTimestampRange(absl::Time t);

// RFC 3339 / ISO-8601 with "Z" or a numeric offset (+hh:mm or +hhmm),
// fractional seconds optional, within Timestamp's range.
absl::optional<absl::Time> ReadTime(const nlohmann::json& v);

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out);

// Adds `key` -> the compact JSON text of `value` to `fields` within the caps
// above (a key repaired to valid UTF-8 and cut; the first of two keys cut to
// the same name stays; nothing once the map holds kMaxOtherFields).
void AddOtherField(const std::string& key, const nlohmann::json& value,
                   google::protobuf::Map<std::string, std::string>* fields);

}  // namespace serpwow::logic
