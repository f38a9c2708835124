#include "server/logic/batch_mapping.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "common/utf8.h"
#include "google/protobuf/timestamp.pb.h"
#include "nlohmann/json.hpp"
#include "server/logic/batch_id.h"
#include "server/logic/errors.h"

namespace serpwow::logic {
namespace {

namespace v1 = serpwow::batches::v1;
using Json = nlohmann::json;

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
// google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59.999999999Z.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;
// No ISO-8601 time SerpWow sends is longer; longer strings are not parsed.
constexpr size_t kMaxTimeLength = 64;

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

// The string, object or array `v` holds, or nullptr. Pointers into the
// underlying containers, not get_ref() or nlohmann's iterators: GCC's
// -Wnull-dereference cannot see that those never dereference null after a
// type check.
const std::string* StringOf(const Json& v) { return v.get_ptr<const Json::string_t*>(); }
const Json::object_t* ObjectOf(const Json& v) { return v.get_ptr<const Json::object_t*>(); }
const Json::array_t* ArrayOf(const Json& v) { return v.get_ptr<const Json::array_t*>(); }

// The lower-cased string `v` holds, or nullopt.
absl::optional<std::string> LowerWord(const Json& v) {
  const std::string* s = StringOf(v);
  if (s == nullptr) return absl::nullopt;
  return absl::AsciiStrToLower(*s);
}

std::string DumpScalar(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
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
    if ((frame.object = ObjectOf(v)) != nullptr) {
      out += '{';
      frame.object_next = frame.object->begin();
      stack.push_back(frame);
    } else if ((frame.array = ArrayOf(v)) != nullptr) {
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
  if (const std::string* s = StringOf(v)) return ParseDecimal(*s, max);
  return absl::nullopt;
}

absl::optional<bool> ReadBool(const Json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (const absl::optional<std::string> word = LowerWord(v)) {
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
  const std::string* s = StringOf(v);
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
  if (const Json::array_t* array = ArrayOf(v)) {
    for (const Json& element : *array) {
      if (!add(element)) return absl::nullopt;
    }
    return out;
  }
  if (const std::string* s = StringOf(v)) {
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
  if (const Json::array_t* array = ArrayOf(v)) {
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
  const std::string* text = StringOf(v);
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

// `t` plus 2 calendar months in UTC, the day clamped to the target month's
// last day (Dec 31 -> Feb 28/29); nullopt beyond Timestamp's range.
absl::optional<absl::Time> AddTwoMonths(absl::Time t) {
  const absl::TimeZone utc = absl::UTCTimeZone();
  const absl::CivilSecond civil = absl::ToCivilSecond(t, utc);
  const absl::Duration subsecond = t - absl::FromCivil(civil, utc);
  const absl::CivilMonth month = absl::CivilMonth(civil) + 2;
  const absl::CivilDay last_day = absl::CivilDay(month + 1) - 1;
  const absl::CivilSecond moved(month.year(), month.month(), std::min(civil.day(), last_day.day()),
                                civil.hour(), civil.minute(), civil.second());
  const absl::Time out = absl::FromCivil(moved, utc) + subsecond;
  if (!InTimestampRange(out)) return absl::nullopt;
  return out;
}

absl::optional<v1::BatchStatus> ReadStatus(const Json& v) {
  const absl::optional<std::string> word = LowerWord(v);
  if (!word) return absl::nullopt;
  if (*word == "idle") return v1::BATCH_STATUS_IDLE;
  if (*word == "queued") return v1::BATCH_STATUS_QUEUED;
  if (*word == "running") return v1::BATCH_STATUS_RUNNING;
  return absl::nullopt;
}

absl::optional<v1::ScheduleType> ReadScheduleType(const Json& v) {
  const absl::optional<std::string> word = LowerWord(v);
  if (!word) return absl::nullopt;
  if (*word == "manual") return v1::SCHEDULE_TYPE_MANUAL;
  if (*word == "hourly") return v1::SCHEDULE_TYPE_HOURLY;
  if (*word == "daily") return v1::SCHEDULE_TYPE_DAILY;
  if (*word == "weekly") return v1::SCHEDULE_TYPE_WEEKLY;
  if (*word == "monthly") return v1::SCHEDULE_TYPE_MONTHLY;
  return absl::nullopt;
}

// A priority word, or 1 (lowest) to 5 (highest) as a number or a string.
absl::optional<v1::Priority> ReadPriority(const Json& v) {
  if (const absl::optional<std::string> word = LowerWord(v)) {
    if (*word == "lowest") return v1::PRIORITY_LOWEST;
    if (*word == "low") return v1::PRIORITY_LOW;
    if (*word == "normal") return v1::PRIORITY_NORMAL;
    if (*word == "high") return v1::PRIORITY_HIGH;
    if (*word == "highest") return v1::PRIORITY_HIGHEST;
  }
  const absl::optional<int64_t> n = ReadInteger(v, 5);
  if (!n || *n < 1) return absl::nullopt;
  return static_cast<v1::Priority>(*n);  // the enum's numbers are 1..5 in that order
}

class Mapper {
 public:
  Mapper(const Json::object_t& object, v1::Batch* out) : object_(object), out_(out) {}

  void Run() {
    // The plural spelling wins when readable; the singular is used only
    // without it.
    const bool plural_total = Readable("searches_total_count", kInt32Max);
    const bool plural_pages = Readable("searches_page_count", kInt32Max);
    absl::optional<absl::Time> created;
    absl::optional<absl::Time> last_run;
    for (const auto& [key, value] : object_) {
      if (value.is_null() || key == "id") continue;
      bool mapped = false;
      if (key == "name") {
        mapped =
            Set(ReadString(value), [&](std::string s) { out_->set_display_name(std::move(s)); });
      } else if (key == "enabled") {
        mapped = Set(ReadBool(value), [&](bool b) { out_->set_enabled(b); });
      } else if (key == "schedule_type") {
        mapped =
            Set(ReadScheduleType(value), [&](v1::ScheduleType t) { out_->set_schedule_type(t); });
      } else if (key == "schedule_hours") {
        mapped = SetList(ReadIntList(value, 0, 23), out_->mutable_schedule_hours());
      } else if (key == "schedule_days_of_week") {
        mapped = SetList(ReadIntList(value, 0, 6), out_->mutable_schedule_days_of_week());
      } else if (key == "schedule_days_of_month") {
        mapped = SetList(ReadIntList(value, 1, 31), out_->mutable_schedule_days_of_month());
      } else if (key == "priority") {
        mapped = Set(ReadPriority(value), [&](v1::Priority p) { out_->set_priority(p); });
      } else if (key == "destination_ids") {
        mapped = Set(ReadStringList(value), [&](std::vector<std::string> ids) {
          for (std::string& id : ids) out_->add_destination_ids(std::move(id));
        });
      } else if (key == "notification_email") {
        mapped = Set(ReadString(value),
                     [&](std::string s) { out_->set_notification_email(std::move(s)); });
      } else if (key == "notification_webhook") {
        mapped = Set(ReadString(value),
                     [&](std::string s) { out_->set_notification_webhook(std::move(s)); });
      } else if (key == "notification_as_json") {
        mapped = Set(ReadBool(value), [&](bool b) { out_->set_notification_as_json(b); });
      } else if (key == "notification_as_jsonlines") {
        mapped = Set(ReadBool(value), [&](bool b) { out_->set_notification_as_jsonlines(b); });
      } else if (key == "notification_as_csv") {
        mapped = Set(ReadBool(value), [&](bool b) { out_->set_notification_as_csv(b); });
      } else if (key == "status") {
        mapped = Set(ReadStatus(value), [&](v1::BatchStatus s) { out_->set_status(s); });
      } else if (key == "created_at") {
        created = ReadTime(value);
        mapped = Set(created, [&](absl::Time t) { SetTimestamp(t, out_->mutable_create_time()); });
      } else if (key == "last_run") {
        last_run = ReadTime(value);
        mapped =
            Set(last_run, [&](absl::Time t) { SetTimestamp(t, out_->mutable_last_run_time()); });
      } else if (key == "searches_total_count" || (key == "search_total_count" && !plural_total)) {
        mapped = Set(ReadInteger(value, kInt32Max),
                     [&](int64_t n) { out_->set_searches_total_count(static_cast<int32_t>(n)); });
      } else if (key == "searches_page_count" || (key == "search_page_count" && !plural_pages)) {
        mapped = Set(ReadInteger(value, kInt32Max),
                     [&](int64_t n) { out_->set_searches_page_count(static_cast<int32_t>(n)); });
      } else if (key == "credits_required") {
        mapped =
            Set(ReadInteger(value, kInt64Max), [&](int64_t n) { out_->set_credits_required(n); });
      } else if (key == "next_result_set_id") {
        mapped = Set(ReadInteger(value, kInt32Max),
                     [&](int64_t n) { out_->set_next_result_set_id(static_cast<int32_t>(n)); });
      } else if (key == "results_count") {
        mapped = Set(ReadInteger(value, kInt32Max),
                     [&](int64_t n) { out_->set_results_count(static_cast<int32_t>(n)); });
      } else if (key == "searches_type") {
        mapped =
            Set(ReadString(value), [&](std::string s) { out_->set_searches_type(std::move(s)); });
      } else if (key == "searches_type_locked") {
        mapped = Set(ReadBool(value), [&](bool b) { out_->set_searches_type_locked(b); });
      }
      if (!mapped) AddOther(key, value);
    }
    const absl::optional<absl::Time>& base = last_run ? last_run : created;
    if (base) {
      if (absl::optional<absl::Time> expire = AddTwoMonths(*base)) {
        SetTimestamp(*expire, out_->mutable_expire_time());
      }
    }
  }

 private:
  template <typename T, typename Setter>
  static bool Set(absl::optional<T> value, Setter&& setter) {
    if (!value) return false;
    setter(std::move(*value));
    return true;
  }

  static bool SetList(absl::optional<std::vector<int32_t>> values,
                      google::protobuf::RepeatedField<int32_t>* out) {
    if (!values) return false;
    out->Add(values->begin(), values->end());
    return true;
  }

  bool Readable(const char* key, int64_t max) const {
    const auto it = object_.find(key);
    return it != object_.end() && ReadInteger(it->second, max).has_value();
  }

  void AddOther(const std::string& key, const Json& value) {
    auto& fields = *out_->mutable_other_fields();
    if (fields.size() >= kMaxOtherFields) return;
    std::string name = CutUtf8(ReplaceInvalidUtf8(key), kMaxOtherFieldBytes);
    // Two keys cut (or repaired) to the same name: the first one stays.
    if (fields.count(name) != 0) return;
    fields[std::move(name)] =
        CutUtf8(CompactJsonPrefix(value, kMaxOtherFieldBytes), kMaxOtherFieldBytes);
  }

  const Json::object_t& object_;
  v1::Batch* const out_;
};

absl::Status NoValidId() {
  return ErrorBuilder(absl::StatusCode::kInternal, "the batch in SerpWow's reply has no valid id",
                      reason::kUpstreamBadResponse);
}

}  // namespace

absl::Status MapBatch(const nlohmann::json& object, v1::Batch* out) {
  out->Clear();
  const Json::object_t* fields = ObjectOf(object);
  if (fields == nullptr) return NoValidId();
  const auto id = fields->find("id");
  const std::string* batch_id = id == fields->end() ? nullptr : StringOf(id->second);
  if (batch_id == nullptr || !ValidateBatchId(*batch_id).ok()) return NoValidId();
  out->set_name("batches/" + *batch_id);
  out->set_batch_id(*batch_id);
  Mapper(*fields, out).Run();
  return absl::OkStatus();
}

}  // namespace serpwow::logic
