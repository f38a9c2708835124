// fuzz_map_batch: MapBatch (server/logic/batch_mapping.h) on any JSON. The
// whole input is parsed as JSON (nlohmann, no exceptions; a parse failure is
// mapped too, as a non-object) and mapped; then, when it is an object, it is
// mapped again with "id" set to a valid id, so every input reaches the field
// mapping.
//
// Invariants (abort when violated):
//  - MapBatch is OK exactly when the value is an object whose "id" is a
//    string ValidateBatchId accepts;
//  - an error is INTERNAL, reason UPSTREAM_BAD_RESPONSE, the contract's shape
//    (fuzz_check.h), the fixed message (nothing of the input), `out` cleared;
//  - on OK: batch_id is the input's id and valid, name == "batches/" +
//    batch_id; every string is valid UTF-8 and the message round-trips
//    through the wire format; schedule values in 0-23 / 0-6 / 1-31; enums
//    within their declared values; counts non-negative; timestamps within
//    Timestamp's range; expire_time is 59 to 62 days after last_run_time
//    (else create_time), and missing only when that would pass year 9999;
//  - other_fields: at most kMaxOtherFields entries, keys and values at most
//    kMaxOtherFieldBytes, never "id"; each key (when surely not cut) is an
//    input key whose value is not null; below the cap, every non-null input
//    key the mapper does not know is there; for small inputs each value is
//    the start of the key's value.dump().
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "fuzz/fuzz_check.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/logic/batch_id.h"
#include "server/logic/batch_mapping.h"
#include "server/logic/errors.h"

namespace serpwow::fuzz {
namespace {

namespace v1 = serpwow::batches::v1;
using Json = nlohmann::json;

constexpr char kValidId[] = "FUZZ0001";
constexpr int64_t kMinSeconds = -62135596800;  // 0001-01-01T00:00:00Z
constexpr int64_t kMaxSeconds = 253402300799;  // 9999-12-31T23:59:59Z
constexpr int64_t kDay = 86400;
// Cutting at a character boundary removes up to 3 more bytes: a shorter key
// was never cut (nor can a cut one equal it).
constexpr size_t kSurelyUncut = logic::kMaxOtherFieldBytes - 3;
// Inputs up to this size are small enough for a recursive dump() to compare
// other_fields values with.
constexpr size_t kDumpCheckMaxInput = 2048;

// Keys MapBatch reads (its contract in batch_mapping.h); any other key is
// "unknown" and belongs in other_fields.
const std::set<std::string>& MappedKeys() {
  static const std::set<std::string> keys = {"id",
                                             "name",
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
                                             "status",
                                             "created_at",
                                             "last_run",
                                             "searches_total_count",
                                             "search_total_count",
                                             "searches_page_count",
                                             "search_page_count",
                                             "credits_required",
                                             "next_result_set_id",
                                             "results_count",
                                             "searches_type",
                                             "searches_type_locked"};
  return keys;
}

std::string Show(const v1::Batch& batch) { return absl::CHexEscape(batch.ShortDebugString()); }

void CheckTimestamp(const google::protobuf::Timestamp& t, const char* field,
                    const v1::Batch& batch) {
  FUZZ_CHECK(t.seconds() >= kMinSeconds && t.seconds() <= kMaxSeconds && t.nanos() >= 0 &&
                 t.nanos() < 1000000000,
             absl::StrCat(field, " out of Timestamp's range: ", Show(batch)));
}

void CheckError(const absl::Status& status, const v1::Batch& batch) {
  FUZZ_CHECK(status.code() == absl::StatusCode::kInternal,
             absl::StrCat("not INTERNAL: ", Describe(status)));
  const google::rpc::ErrorInfo info = CheckErrorShape(status, "");
  FUZZ_CHECK(info.reason() == logic::reason::kUpstreamBadResponse,
             absl::StrCat("reason is not UPSTREAM_BAD_RESPONSE: ", Describe(status)));
  FUZZ_CHECK(status.message() == "the batch in SerpWow's reply has no valid id",
             absl::StrCat("unexpected message: ", Describe(status)));
  FUZZ_CHECK(batch.ByteSizeLong() == 0, absl::StrCat("out not cleared: ", Show(batch)));
}

void CheckBatch(const Json& object, const std::string& id, const v1::Batch& batch,
                bool small_input) {
  FUZZ_CHECK(batch.batch_id() == id, absl::StrCat("batch_id is not the input id: ", Show(batch)));
  FUZZ_CHECK(logic::ValidateBatchId(batch.batch_id()).ok(),
             absl::StrCat("invalid batch_id: ", Show(batch)));
  FUZZ_CHECK(batch.name() == "batches/" + batch.batch_id(),
             absl::StrCat("name is not batches/{batch_id}: ", Show(batch)));

  for (const std::string* s : {&batch.display_name(), &batch.notification_email(),
                               &batch.notification_webhook(), &batch.searches_type()}) {
    FUZZ_CHECK(IsValidUtf8(*s), absl::StrCat("string field not UTF-8: ", Show(batch)));
  }
  for (const std::string& s : batch.destination_ids()) {
    FUZZ_CHECK(IsValidUtf8(s), absl::StrCat("destination id not UTF-8: ", Show(batch)));
  }
  for (int32_t h : batch.schedule_hours()) {
    FUZZ_CHECK(h >= 0 && h <= 23, absl::StrCat("hour out of range: ", Show(batch)));
  }
  for (int32_t d : batch.schedule_days_of_week()) {
    FUZZ_CHECK(d >= 0 && d <= 6, absl::StrCat("day of week out of range: ", Show(batch)));
  }
  for (int32_t d : batch.schedule_days_of_month()) {
    FUZZ_CHECK(d >= 1 && d <= 31, absl::StrCat("day of month out of range: ", Show(batch)));
  }
  FUZZ_CHECK(v1::BatchStatus_IsValid(batch.status()),
             absl::StrCat("status not a BatchStatus: ", Show(batch)));
  FUZZ_CHECK(!batch.has_schedule_type() || (batch.schedule_type() >= v1::SCHEDULE_TYPE_MANUAL &&
                                            batch.schedule_type() <= v1::SCHEDULE_TYPE_MONTHLY),
             absl::StrCat("schedule_type set but not a known value: ", Show(batch)));
  FUZZ_CHECK(!batch.has_priority() || (batch.priority() >= v1::PRIORITY_LOWEST &&
                                       batch.priority() <= v1::PRIORITY_HIGHEST),
             absl::StrCat("priority set but not a known value: ", Show(batch)));
  FUZZ_CHECK(batch.searches_total_count() >= 0 && batch.searches_page_count() >= 0 &&
                 batch.credits_required() >= 0 && batch.next_result_set_id() >= 0 &&
                 batch.results_count() >= 0,
             absl::StrCat("negative count: ", Show(batch)));

  if (batch.has_create_time()) CheckTimestamp(batch.create_time(), "create_time", batch);
  if (batch.has_last_run_time()) CheckTimestamp(batch.last_run_time(), "last_run_time", batch);
  const google::protobuf::Timestamp* base = batch.has_last_run_time() ? &batch.last_run_time()
                                            : batch.has_create_time() ? &batch.create_time()
                                                                      : nullptr;
  if (batch.has_expire_time()) {
    CheckTimestamp(batch.expire_time(), "expire_time", batch);
    FUZZ_CHECK(base != nullptr, absl::StrCat("expire_time without a base time: ", Show(batch)));
    const int64_t days = batch.expire_time().seconds() - base->seconds();
    FUZZ_CHECK(
        days >= 59 * kDay && days <= 62 * kDay && batch.expire_time().nanos() == base->nanos(),
        absl::StrCat("expire_time is not 2 months after its base: ", Show(batch)));
  } else if (base != nullptr) {
    FUZZ_CHECK(base->seconds() + 62 * kDay > kMaxSeconds,
               absl::StrCat("expire_time missing: ", Show(batch)));
  }

  // other_fields.
  FUZZ_CHECK(batch.other_fields_size() <= static_cast<int>(logic::kMaxOtherFields),
             absl::StrCat(batch.other_fields_size(), " other_fields: ", Show(batch)));
  for (const auto& [key, value] : batch.other_fields()) {
    FUZZ_CHECK(
        key.size() <= logic::kMaxOtherFieldBytes && value.size() <= logic::kMaxOtherFieldBytes,
        absl::StrCat("other_fields entry over the cap: ", Show(batch)));
    FUZZ_CHECK(IsValidUtf8(key) && IsValidUtf8(value),
               absl::StrCat("other_fields entry not UTF-8: ", Show(batch)));
    FUZZ_CHECK(key != "id", absl::StrCat("id in other_fields: ", Show(batch)));
    if (key.size() < kSurelyUncut) {
      const auto it = object.find(key);
      FUZZ_CHECK(it != object.end() && !it->is_null(),
                 absl::StrCat("other_fields key '", absl::CHexEscape(key),
                              "' is not a non-null input key: ", Show(batch)));
      if (small_input) {
        FUZZ_CHECK(
            absl::StartsWith(it->dump(-1, ' ', false, Json::error_handler_t::replace), value),
            absl::StrCat("other_fields['", absl::CHexEscape(key),
                         "'] is not the start of its JSON: ", Show(batch)));
      }
    }
  }
  if (batch.other_fields_size() < static_cast<int>(logic::kMaxOtherFields)) {
    for (const auto& item : object.items()) {
      if (item.value().is_null() || MappedKeys().count(item.key()) != 0 ||
          item.key().size() >= kSurelyUncut) {
        continue;
      }
      FUZZ_CHECK(batch.other_fields().count(item.key()) == 1,
                 absl::StrCat("unknown key '", absl::CHexEscape(item.key()),
                              "' missing from other_fields: ", Show(batch)));
    }
  }

  std::string wire;
  FUZZ_CHECK(batch.SerializeToString(&wire), absl::StrCat("does not serialize: ", Show(batch)));
  v1::Batch back;
  FUZZ_CHECK(back.ParseFromString(wire), absl::StrCat("does not parse back: ", Show(batch)));
  // (Not a byte comparison: map entries serialize in no fixed order.)
  FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(batch, back),
             absl::StrCat("no round trip: ", Show(batch)));
}

// The input's id when MapBatch must accept `value`, else nullptr.
const std::string* AcceptableId(const Json& value) {
  if (!value.is_object()) return nullptr;
  const auto it = value.find("id");
  if (it == value.end()) return nullptr;
  const std::string* id = it->get_ptr<const Json::string_t*>();
  if (id == nullptr || !logic::ValidateBatchId(*id).ok()) return nullptr;
  return id;
}

void MapAndCheck(const Json& value, bool small_input) {
  v1::Batch batch;
  batch.set_display_name("stale");  // MapBatch must clear it
  const absl::Status status = logic::MapBatch(value, &batch);
  const std::string* id = AcceptableId(value);
  FUZZ_CHECK(status.ok() == (id != nullptr),
             absl::StrCat("MapBatch gave ", Describe(status), ", want ",
                          id != nullptr ? "OK" : "an error"));
  if (!status.ok()) {
    CheckError(status, batch);
    return;
  }
  CheckBatch(value, *id, batch, small_input);
}

}  // namespace
}  // namespace serpwow::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace serpwow::fuzz;
  Json value = Json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  const bool small_input = size <= kDumpCheckMaxInput;
  MapAndCheck(value, small_input);
  if (value.is_object()) {
    value["id"] = kValidId;
    MapAndCheck(value, small_input);
  }
  return 0;
}
