#include "server/logic/batch_input.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/logic/errors.h"

namespace serpwow::logic {

namespace v1 = serpwow::batches::v1;
using google::protobuf::FieldDescriptor;
using Json = nlohmann::json;

namespace {

constexpr const char* kSettable[] = {"display_name",
                                     "enabled",
                                     "schedule_type",
                                     "schedule_hours",
                                     "schedule_days_of_week",
                                     "schedule_days_of_month",
                                     "priority",
                                     "destination_ids",
                                     "notification_email",
                                     "notification_webhook",
                                     "notification_as_json",
                                     "notification_as_jsonlines",
                                     "notification_as_csv",
                                     "searches_type"};

bool IsSet(const v1::Batch& batch, const FieldDescriptor* field) {
  const google::protobuf::Reflection* r = batch.GetReflection();
  return field->is_repeated() ? r->FieldSize(batch, field) > 0 : r->HasField(batch, field);
}

bool Contains(const BatchFields& fields, const char* name) {
  return std::any_of(fields.begin(), fields.end(),
                     [name](const FieldDescriptor* f) { return f->name() == name; });
}

// SerpWow's word for an enum value: "SCHEDULE_TYPE_DAILY" -> "daily".
std::string EnumWord(const google::protobuf::EnumValueDescriptor* value) {
  std::string prefix = value->type()->value(0)->name();  // "..._UNSPECIFIED"
  prefix.resize(prefix.size() - std::string("UNSPECIFIED").size());
  std::string name = value->name();
  if (absl::StartsWith(name, prefix)) name = name.substr(prefix.size());
  return absl::AsciiStrToLower(name);
}

class Violations {
 public:
  void Add(std::string field, std::string description) {
    list_.emplace_back(std::move(field), std::move(description));
  }
  absl::Status Status() const {
    if (list_.empty()) return absl::OkStatus();
    ErrorBuilder error(
        absl::StatusCode::kInvalidArgument,
        absl::StrCat(
            list_[0].first, ": ", list_[0].second,
            list_.size() > 1 ? absl::StrCat(" (and ", list_.size() - 1, " more)") : std::string()),
        reason::kInvalidField);
    for (const auto& [field, description] : list_) error.BadRequestField(field, description);
    return error;
  }

 private:
  std::vector<std::pair<std::string, std::string>> list_;
};

void CheckRange(const google::protobuf::RepeatedField<int32_t>& values, const char* field,
                int32_t low, int32_t high, Violations& out) {
  for (int i = 0; i < values.size(); ++i) {
    if (values[i] < low || values[i] > high) {
      out.Add(absl::StrCat("batch.", field, "[", i, "]"),
              absl::StrCat(values[i], " is outside ", low, "-", high));
    }
  }
}

}  // namespace

bool IsSettableBatchField(const FieldDescriptor* field) {
  return field != nullptr && std::any_of(std::begin(kSettable), std::end(kSettable),
                                         [field](const char* n) { return field->name() == n; });
}

absl::StatusOr<BatchFields> FieldsToCreate(const v1::Batch& batch) {
  BatchFields out;
  Violations bad;
  const google::protobuf::Descriptor* d = batch.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (!IsSet(batch, f)) continue;
    if (IsSettableBatchField(f)) {
      out.push_back(f);
    } else {
      bad.Add(absl::StrCat("batch.", f->name()), "output only: must not be set on create");
    }
  }
  if (absl::Status s = bad.Status(); !s.ok()) return s;
  return out;
}

absl::StatusOr<BatchFields> FieldsToUpdate(const v1::Batch& batch,
                                           const google::protobuf::FieldMask& mask) {
  BatchFields out;
  const google::protobuf::Descriptor* d = batch.GetDescriptor();
  auto refuse = [](const std::string& path, const std::string& why) {
    return ErrorBuilder(absl::StatusCode::kInvalidArgument,
                        absl::StrCat("update_mask path \"", path, "\" ", why),
                        reason::kInvalidUpdateMask)
        .BadRequestField("update_mask", absl::StrCat("\"", path, "\" ", why))
        .Build();
  };
  if (mask.paths_size() == 0) {
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      if (IsSettableBatchField(f) && IsSet(batch, f)) out.push_back(f);
    }
    if (out.empty()) {
      return ErrorBuilder(absl::StatusCode::kInvalidArgument,
                          "nothing to update: set update_mask or at least one field of batch",
                          reason::kInvalidUpdateMask)
          .BadRequestField("update_mask", "empty, and no settable field of batch is set");
    }
    return out;
  }
  for (const std::string& path : mask.paths()) {
    if (path == "*") {
      return refuse(path,
                    "is not supported: SerpWow documents no defaults, so a full "
                    "replacement cannot be expressed; list the fields");
    }
    const FieldDescriptor* f = d->FindFieldByName(path);
    if (f == nullptr) return refuse(path, "is not a field of Batch");
    if (!IsSettableBatchField(f)) return refuse(path, "names an output-only field");
    if (std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
  }
  return out;
}

absl::Status ValidateBatchInput(const v1::Batch& batch, const BatchFields& fields, bool create,
                                const MutationOptions& options) {
  Violations bad;
  if (create && batch.display_name().empty()) bad.Add("batch.display_name", "required");
  if (Contains(fields, "display_name") && !create && batch.display_name().empty()) {
    bad.Add("batch.display_name", "must not be empty");
  }
  if (Contains(fields, "schedule_hours"))
    CheckRange(batch.schedule_hours(), "schedule_hours", 0, 23, bad);
  if (Contains(fields, "schedule_days_of_week")) {
    CheckRange(batch.schedule_days_of_week(), "schedule_days_of_week", 0, 6, bad);
  }
  if (Contains(fields, "schedule_days_of_month")) {
    CheckRange(batch.schedule_days_of_month(), "schedule_days_of_month", 1, 31, bad);
  }
  if (Contains(fields, "schedule_type")) {
    const v1::ScheduleType type = batch.schedule_type();
    if (!v1::ScheduleType_IsValid(type) || type == v1::SCHEDULE_TYPE_UNSPECIFIED) {
      bad.Add("batch.schedule_type", "must be MANUAL, HOURLY, DAILY, WEEKLY or MONTHLY");
    } else {
      const bool timed = type == v1::SCHEDULE_TYPE_DAILY || type == v1::SCHEDULE_TYPE_WEEKLY ||
                         type == v1::SCHEDULE_TYPE_MONTHLY;
      if (!timed && batch.schedule_hours_size() > 0) {
        bad.Add("batch.schedule_hours", "only for DAILY, WEEKLY or MONTHLY schedules");
      }
      if (type != v1::SCHEDULE_TYPE_WEEKLY && batch.schedule_days_of_week_size() > 0) {
        bad.Add("batch.schedule_days_of_week", "only for WEEKLY schedules");
      }
      if (type == v1::SCHEDULE_TYPE_WEEKLY && batch.schedule_days_of_week_size() == 0) {
        bad.Add("batch.schedule_days_of_week", "a WEEKLY schedule needs at least one day");
      }
      if (type != v1::SCHEDULE_TYPE_MONTHLY && batch.schedule_days_of_month_size() > 0) {
        bad.Add("batch.schedule_days_of_month", "only for MONTHLY schedules");
      }
      if (type == v1::SCHEDULE_TYPE_MONTHLY && batch.schedule_days_of_month_size() == 0) {
        bad.Add("batch.schedule_days_of_month", "a MONTHLY schedule needs at least one day");
      }
    }
  }
  if (Contains(fields, "priority") &&
      (!v1::Priority_IsValid(batch.priority()) || batch.priority() == v1::PRIORITY_UNSPECIFIED)) {
    bad.Add("batch.priority", "must be LOWEST, LOW, NORMAL, HIGH or HIGHEST");
  }
  if (Contains(fields, "destination_ids")) {
    if (static_cast<size_t>(batch.destination_ids_size()) > options.max_destination_ids) {
      bad.Add("batch.destination_ids",
              absl::StrCat("at most ", options.max_destination_ids, " destination ids"));
    }
    for (int i = 0; i < batch.destination_ids_size(); ++i) {
      if (batch.destination_ids(i).empty()) {
        bad.Add(absl::StrCat("batch.destination_ids[", i, "]"), "must not be empty");
      }
    }
  }
  if (Contains(fields, "notification_webhook") && !batch.notification_webhook().empty()) {
    const std::string& url = batch.notification_webhook();
    const bool clean = std::none_of(url.begin(), url.end(), [](char c) {
      return static_cast<unsigned char>(c) <= 0x20 || c == 0x7F;
    });
    if (url.size() > options.max_webhook_bytes) {
      bad.Add("batch.notification_webhook",
              absl::StrCat("at most ", options.max_webhook_bytes, " bytes"));
    } else if (!absl::StartsWithIgnoreCase(url, "https://") || url.size() <= 8 || !clean) {
      bad.Add("batch.notification_webhook", "must be an https URL (scheme https) without spaces");
    }
  }
  if (Contains(fields, "notification_email") && !batch.notification_email().empty() &&
      (!absl::StrContains(batch.notification_email(), "@") ||
       absl::StrContains(batch.notification_email(), " "))) {
    bad.Add("batch.notification_email", "must be an e-mail address");
  }
  return bad.Status();
}

std::string BatchRequestJson(const v1::Batch& batch, const BatchFields& fields) {
  const google::protobuf::Reflection* r = batch.GetReflection();
  Json body = Json::object();
  for (const FieldDescriptor* f : fields) {
    const std::string key = f->name() == "display_name" ? "name" : f->name();
    Json value;
    if (f->is_repeated()) {
      value = Json::array();
      for (int i = 0; i < r->FieldSize(batch, f); ++i) {
        if (f->cpp_type() == FieldDescriptor::CPPTYPE_INT32) {
          value.push_back(r->GetRepeatedInt32(batch, f, i));
        } else {
          value.push_back(r->GetRepeatedString(batch, f, i));
        }
      }
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_BOOL) {
      value = r->GetBool(batch, f);
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
      value = EnumWord(r->GetEnum(batch, f));
    } else {
      value = r->GetString(batch, f);
    }
    body[key] = std::move(value);
  }
  return body.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace serpwow::logic
