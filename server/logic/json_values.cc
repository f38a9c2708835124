#include "server/logic/json_values.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "common/utf8.h"

namespace serpwow::logic {
namespace {

using Json = nlohmann::json;

// google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59.999999999Z.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;
// No ISO-8601 time SerpWow sends is longer; longer strings are not parsed.
constexpr size_t kMaxTimeLength = 64;

std::string DumpScalar(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

// `text` with every byte that starts no well-formed sequence replaced by
// U+FFFD (as nlohmann's replace error handler does).
std::string ReplaceInvalidUtf8(absl::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    const size_t len = Utf8SequenceLength(text, i);
    if (len == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(text.data() + i, len);
      i += len;
    }
  }
  return out;
}

// At most `max` bytes of `text`, never ending inside a UTF-8 sequence.
std::string CutUtf8(std::string text, size_t max) {
  if (text.size() <= max) return text;
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  return text;
}

// The lower-cased string `v` holds, or nullopt.
absl::optional<std::string> ReadLowerWord(const Json& v) {
  const std::string* s = JsonStringOf(v);
  if (s == nullptr) return absl::nullopt;
  return absl::AsciiStrToLower(*s);
}

// The first bytes (a little over `max`, then cut by the caller) of
// value.dump() in compact form. Iterative, and it stops once `max` bytes are
// written: an upstream reply nested a million levels deep, or a megabyte
// long, costs neither stack nor time here.
std::string CompactJsonPrefix(const Json& value, size_t max) {
  // One open object or array; exactly one of `object` and `array` is set.
  struct Frame {
    const Json::object_t* object = nullptr;
    Json::object_t::const_iterator object_next;
    const Json::array_t* array = nullptr;
    Json::array_t::const_iterator array_next;
    bool first = true;
  };
  std::string out;
  std::vector<Frame> stack;
  auto open = [&](const Json& v) {
    Frame frame;
    if ((frame.object = JsonObjectOf(v)) != nullptr) {
      out += '{';
      frame.object_next = frame.object->begin();
      stack.push_back(frame);
    } else if ((frame.array = JsonArrayOf(v)) != nullptr) {
      out += '[';
      frame.array_next = frame.array->begin();
      stack.push_back(frame);
    } else {
      out += DumpScalar(v);
    }
  };
  open(value);
  while (!stack.empty() && out.size() <= max) {
    Frame& top = stack.back();
    const bool done = top.object != nullptr ? top.object_next == top.object->end()
                                            : top.array_next == top.array->end();
    if (done) {
      out += top.object != nullptr ? '}' : ']';
      stack.pop_back();
      continue;
    }
    if (!top.first) out += ',';
    top.first = false;
    const Json* child = nullptr;
    if (top.object != nullptr) {
      out += DumpScalar(Json(top.object_next->first));
      out += ':';
      child = &top.object_next->second;
      ++top.object_next;
    } else {
      child = &*top.array_next;
      ++top.array_next;
    }
    open(*child);  // may reallocate `stack`: `top` is not used after this
  }
  return out;
}

// An unsigned decimal integer in [0, max]: digits only, with optional
// surrounding ASCII whitespace.
absl::optional<int64_t> ParseDecimal(absl::string_view text, int64_t max) {
  text = absl::StripAsciiWhitespace(text);
  if (text.empty()) return absl::nullopt;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return absl::nullopt;
    const int digit = c - '0';
    // value * 10 + digit <= max, without overflow (and for digits above a
    // one-digit max too).
    if (value > max / 10 || (value == max / 10 && digit > max % 10)) return absl::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

// An integer in [0, max] from a JSON integer, an integral float or a decimal
// string.
absl::optional<int64_t> ReadInteger(const Json& v, int64_t max) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(max)) return absl::nullopt;
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) {
    const auto i = v.get<int64_t>();
    if (i < 0 || i > max) return absl::nullopt;
    return i;
  }
  if (v.is_number_float()) {
    const auto d = v.get<double>();
    // `max + 1.0` is exact or rounds up to 2^63, so the cast below is defined.
    if (!std::isfinite(d) || d < 0 || std::floor(d) != d || !(d < static_cast<double>(max) + 1.0)) {
      return absl::nullopt;
    }
    return std::min(static_cast<int64_t>(d), max);
  }
  if (const std::string* s = JsonStringOf(v)) return ParseDecimal(*s, max);
  return absl::nullopt;
}

absl::optional<int64_t> ReadSignedInteger(const Json& v, int64_t max) {
  if (v.is_number_integer() && !v.is_number_unsigned()) {
    const auto i = v.get<int64_t>();
    if (i < -max || i > max) return absl::nullopt;
    return i;
  }
  if (v.is_number_float()) {
    const auto d = v.get<double>();
    if (!std::isfinite(d) || d >= 0) return ReadInteger(v, max);
    const absl::optional<int64_t> magnitude = ReadInteger(Json(-d), max);
    if (!magnitude) return absl::nullopt;
    return -*magnitude;
  }
  if (const std::string* s = JsonStringOf(v)) {
    const absl::string_view text = absl::StripAsciiWhitespace(*s);
    if (!text.empty() && text[0] == '-') {
      const absl::optional<int64_t> magnitude = ParseDecimal(text.substr(1), max);
      if (!magnitude) return absl::nullopt;
      return -*magnitude;
    }
  }
  return ReadInteger(v, max);
}

absl::optional<bool> ReadBool(const Json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (const absl::optional<std::string> word = ReadLowerWord(v)) {
    if (*word == "true" || *word == "1") return true;
    if (*word == "false" || *word == "0") return false;
    return absl::nullopt;
  }
  if (!v.is_number_integer()) return absl::nullopt;
  const absl::optional<int64_t> n = ReadInteger(v, 1);
  if (!n) return absl::nullopt;
  return *n == 1;
}

absl::optional<std::string> ReadString(const Json& v) {
  const std::string* s = JsonStringOf(v);
  if (s == nullptr || !IsValidUtf8(*s)) return absl::nullopt;
  return *s;
}

// An integer list whose every value is in [lo, hi]: an array of integers or
// decimal strings, one integer, or one comma-separated string ("" is empty).
absl::optional<std::vector<int32_t>> ReadIntList(const Json& v, int32_t lo, int32_t hi) {
  std::vector<int32_t> out;
  auto add = [&](const Json& element) {
    const absl::optional<int64_t> n = ReadInteger(element, hi);
    if (!n || *n < lo) return false;
    out.push_back(static_cast<int32_t>(*n));
    return true;
  };
  if (const Json::array_t* array = JsonArrayOf(v)) {
    for (const Json& element : *array) {
      if (!add(element)) return absl::nullopt;
    }
    return out;
  }
  if (const std::string* s = JsonStringOf(v)) {
    const absl::string_view text = absl::StripAsciiWhitespace(*s);
    if (text.empty()) return out;
    for (absl::string_view part : absl::StrSplit(text, ',')) {
      const absl::optional<int64_t> n = ParseDecimal(part, hi);
      if (!n || *n < lo) return absl::nullopt;
      out.push_back(static_cast<int32_t>(*n));
    }
    return out;
  }
  if (v.is_number() && add(v)) return out;
  return absl::nullopt;
}

// An array of (UTF-8) strings, or one comma-separated string whose parts are
// trimmed and whose empty parts are dropped.
absl::optional<std::vector<std::string>> ReadStringList(const Json& v) {
  std::vector<std::string> out;
  if (const Json::array_t* array = JsonArrayOf(v)) {
    for (const Json& element : *array) {
      absl::optional<std::string> s = ReadString(element);
      if (!s) return absl::nullopt;
      out.push_back(std::move(*s));
    }
    return out;
  }
  absl::optional<std::string> s = ReadString(v);
  if (!s) return absl::nullopt;
  for (absl::string_view part : absl::StrSplit(*s, ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (!part.empty()) out.emplace_back(part);
  }
  return out;
}

bool InTimestampRange(absl::Time t) {
  return t >= absl::FromUnixSeconds(kMinTimestampSeconds) &&
         t < absl::FromUnixSeconds(kMaxTimestampSeconds + 1);
}

// RFC 3339 / ISO-8601 with "Z" or a numeric offset (+hh:mm or +hhmm),
// fractional seconds optional, within Timestamp's range.
absl::optional<absl::Time> ReadTime(const Json& v) {
  const std::string* text = JsonStringOf(v);
  if (text == nullptr || text->size() > kMaxTimeLength) return absl::nullopt;
  for (const char* format : {"%Y-%m-%d%ET%H:%M:%E*S%Ez", "%Y-%m-%d%ET%H:%M:%E*S%z"}) {
    absl::Time t;
    std::string error;
    if (absl::ParseTime(format, *text, &t, &error)) {
      if (!InTimestampRange(t)) return absl::nullopt;
      return t;
    }
  }
  return absl::nullopt;
}

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(t);  // rounds toward -infinity
  out->set_seconds(seconds);
  out->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds))));
}

void AddOtherField(const std::string& key, const Json& value,
                   google::protobuf::Map<std::string, std::string>* fields) {
  if (fields->size() >= kMaxOtherFields) return;
  std::string name = CutUtf8(ReplaceInvalidUtf8(key), kMaxOtherFieldBytes);
  // Two keys cut (or repaired) to the same name: the first one stays.
  if (fields->count(name) != 0) return;
  (*fields)[std::move(name)] =
      CutUtf8(CompactJsonPrefix(value, kMaxOtherFieldBytes), kMaxOtherFieldBytes);
}

}  // namespace serpwow::logic
