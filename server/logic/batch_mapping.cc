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
#include "server/logic/json_values.h"

namespace serpwow::logic {
namespace {

namespace v1 = serpwow::batches::v1;
using Json = nlohmann::json;

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
  const absl::optional<std::string> word = ReadLowerWord(v);
  if (!word) return absl::nullopt;
  if (*word == "idle") return v1::BATCH_STATUS_IDLE;
  if (*word == "queued") return v1::BATCH_STATUS_QUEUED;
  if (*word == "running") return v1::BATCH_STATUS_RUNNING;
  return absl::nullopt;
}

absl::optional<v1::ScheduleType> ReadScheduleType(const Json& v) {
  const absl::optional<std::string> word = ReadLowerWord(v);
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
  if (const absl::optional<std::string> word = ReadLowerWord(v)) {
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
    AddOtherField(key, value, out_->mutable_other_fields());
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
  const Json::object_t* fields = JsonObjectOf(object);
  if (fields == nullptr) return NoValidId();
  const auto id = fields->find("id");
  const std::string* batch_id = id == fields->end() ? nullptr : JsonStringOf(id->second);
  if (batch_id == nullptr || !ValidateBatchId(*batch_id).ok()) return NoValidId();
  out->set_name("batches/" + *batch_id);
  out->set_batch_id(*batch_id);
  Mapper(*fields, out).Run();
  return absl::OkStatus();
}

}  // namespace serpwow::logic
