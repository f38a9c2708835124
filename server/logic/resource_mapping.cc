#include "server/logic/resource_mapping.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/utf8.h"
#include "nlohmann/json.hpp"
#include "server/logic/errors.h"
#include "server/logic/json_values.h"
#include "server/logic/outcome.h"
#include "server/upstream/endpoints.h"

namespace serpwow::logic {
namespace {

namespace v1 = serpwow::batches::v1;
using Json = nlohmann::json;

constexpr char kApiKey[] = "api_key";

absl::Status Bad(const char* message) {
  return ErrorBuilder(absl::StatusCode::kInternal, message, reason::kUpstreamBadResponse);
}

// A string cleaned for people (outcome.h CleanText), or nullopt.
absl::optional<std::string> ReadCleanText(const Json& v) {
  absl::optional<std::string> s = ReadString(v);
  if (!s) return absl::nullopt;
  return CleanText(*s);
}

absl::optional<int32_t> ReadCount(const Json& v) {
  const absl::optional<int64_t> n = ReadInteger(v, kInt32Max);
  if (!n) return absl::nullopt;
  return static_cast<int32_t>(*n);
}

// {status, log: [{date_time, text}]}; false when not an object.
bool MapDelivery(const Json& value, v1::DeliveryStatus* out) {
  const Json::object_t* object = JsonObjectOf(value);
  if (object == nullptr) return false;
  for (const auto& [key, field] : *object) {
    if (key == "status") {
      if (absl::optional<std::string> s = ReadCleanText(field)) out->set_status(std::move(*s));
    } else if (key == "log") {
      const Json::array_t* entries = JsonArrayOf(field);
      if (entries == nullptr) continue;
      for (const Json& entry : *entries) {
        if (out->log_size() >= kMaxDeliveryLogEntries) break;
        const Json::object_t* e = JsonObjectOf(entry);
        if (e == nullptr) continue;
        v1::DeliveryLogEntry* line = out->add_log();
        for (const auto& [k, v] : *e) {
          if (k == "date_time" || k == "time") {
            if (absl::optional<absl::Time> t = ReadTime(v)) SetTimestamp(*t, line->mutable_time());
          } else if (k == "text") {
            if (absl::optional<std::string> s = ReadCleanText(v)) line->set_text(std::move(*s));
          }
        }
      }
    }
  }
  return true;
}

// Sets the timestamp `mutable_field()` returns only when `value` is a
// readable time (a mutable_ call alone would make the field present).
template <typename MutableField>
bool SetTime(const Json& value, MutableField&& mutable_field) {
  return SetIfRead(ReadTime(value), [&](absl::Time t) { SetTimestamp(t, mutable_field()); });
}

}  // namespace

bool MapDownloadLinks(const Json& value, v1::DownloadLinks* out) {
  out->Clear();
  const Json::object_t* object = JsonObjectOf(value);
  if (object == nullptr) return false;
  bool ok = true;
  for (const auto& [key, field] : *object) {
    if (field.is_null()) continue;
    if (key == "pages") {
      const Json::array_t* pages = JsonArrayOf(field);
      if (pages == nullptr) {
        ok = false;
        continue;
      }
      for (const Json& page : *pages) {
        if (out->page_uris_size() >= kMaxDownloadPages) break;
        if (const std::string* url = JsonStringOf(page)) out->add_page_uris(*url);
      }
    } else if (key == "all_pages") {
      if (const std::string* url = JsonStringOf(field)) {
        out->set_all_pages_uri(*url);
      } else {
        ok = false;
      }
    }
  }
  return ok;
}

absl::Status MapAccount(const Json& value, v1::Account* out) {
  out->Clear();
  const Json::object_t* object = JsonObjectOf(value);
  if (object == nullptr) return Bad("the account in SerpWow's reply is not an object");
  out->set_name("account");
  for (const auto& [key, field] : *object) {
    if (field.is_null() || key == kApiKey) continue;
    const absl::optional<int64_t> n = ReadSignedInteger(field, kInt64Max);
    bool mapped = true;
    if (key == "credits_remaining") {
      mapped = SetIfRead(n, [&](int64_t v) { out->set_credits_remaining(v); });
    } else if (key == "credits_used") {
      mapped = SetIfRead(n, [&](int64_t v) { out->set_credits_used(v); });
    } else if (key == "credits_limit") {
      mapped = SetIfRead(n, [&](int64_t v) { out->set_credits_limit(v); });
    } else if (key == "credits_reset_at") {
      mapped = SetTime(field, [&] { return out->mutable_credits_reset_time(); });
    } else if (key == "topup_credits_remaining") {
      mapped = SetIfRead(n, [&](int64_t v) { out->set_topup_credits_remaining(v); });
    } else if (key == "batches_used") {
      mapped = SetIfRead(n, [&](int64_t v) { out->set_batches_used(v); });
    } else if (key == "batches_limit") {
      mapped = SetIfRead(n, [&](int64_t v) { out->set_batches_limit(v); });
    } else if (key == "batches_available") {
      mapped = SetIfRead(n, [&](int64_t v) { out->set_batches_available(v); });
    } else if (key == "destinations_used") {
      mapped = SetIfRead(n, [&](int64_t v) { out->set_destinations_used(v); });
    } else if (key == "destinations_limit") {
      mapped = SetIfRead(n, [&](int64_t v) { out->set_destinations_limit(v); });
    } else if (key == "destinations_available") {
      mapped = SetIfRead(n, [&](int64_t v) { out->set_destinations_available(v); });
    } else {
      mapped = false;
    }
    if (!mapped) AddOtherField(key, field, out->mutable_other_fields());
  }
  return absl::OkStatus();
}

absl::Status MapResultSet(const Json& value, const std::string& batch_id, v1::ResultSet* out) {
  out->Clear();
  const Json::object_t* object = JsonObjectOf(value);
  const auto id = object == nullptr ? Json::object_t::const_iterator() : object->find("id");
  absl::optional<int64_t> n;
  if (object != nullptr && id != object->end()) {
    if (const std::string* text = JsonStringOf(id->second)) {
      if (upstream::IsCanonicalPositiveInt(*text)) n = ReadInteger(id->second, kInt32Max);
    } else if (id->second.is_number_integer()) {
      n = ReadInteger(id->second, kInt32Max);
    }
  }
  if (!n || *n < 1) return Bad("a result set in SerpWow's reply has no valid id");
  out->set_result_set_id(static_cast<int32_t>(*n));
  out->set_name(absl::StrCat("batches/", batch_id, "/resultSets/", *n));
  for (const auto& [key, field] : *object) {
    if (field.is_null() || key == "id" || key == kApiKey) continue;
    bool mapped = true;
    if (key == "started_at") {
      mapped = SetTime(field, [&] { return out->mutable_start_time(); });
    } else if (key == "ended_at") {
      mapped = SetTime(field, [&] { return out->mutable_end_time(); });
    } else if (key == "expires_at") {
      mapped = SetTime(field, [&] { return out->mutable_expire_time(); });
    } else if (key == "results_page_count") {
      mapped = SetIfRead(ReadCount(field), [&](int32_t v) { out->set_results_page_count(v); });
    } else if (key == "searches_completed") {
      mapped = SetIfRead(ReadCount(field), [&](int32_t v) { out->set_searches_completed(v); });
    } else if (key == "searches_failed") {
      mapped = SetIfRead(ReadCount(field), [&](int32_t v) { out->set_searches_failed(v); });
    } else if (key == "searches_total") {
      mapped = SetIfRead(ReadCount(field), [&](int32_t v) { out->set_searches_total(v); });
    } else if (key == "webhook_status") {
      mapped = MapDelivery(field, out->mutable_webhook_status());
      if (!mapped) out->clear_webhook_status();
    } else if (key == "destination_status") {
      const Json::object_t* destinations = JsonObjectOf(field);
      mapped = destinations != nullptr;
      if (mapped) {
        for (const auto& [destination, status] : *destinations) {
          if (out->destination_status_size() >= static_cast<int>(kMaxOtherFields)) break;
          v1::DeliveryStatus delivery;
          if (MapDelivery(status, &delivery)) {
            (*out->mutable_destination_status())[CutUtf8(ReplaceInvalidUtf8(destination), 64)] =
                std::move(delivery);
          }
        }
      }
    } else if (key == "download_links") {
      mapped = MapDownloadLinks(field, out->mutable_download_links());
      if (!mapped) out->clear_download_links();
    } else {
      mapped = false;
    }
    if (!mapped) AddOtherField(key, field, out->mutable_other_fields());
  }
  return absl::OkStatus();
}

absl::Status MapSearch(const Json& value, const std::string& batch_id, v1::Search* out) {
  out->Clear();
  const Json::object_t* object = JsonObjectOf(value);
  const auto id = object == nullptr ? Json::object_t::const_iterator() : object->find("id");
  const std::string* search_id =
      object == nullptr || id == object->end() ? nullptr : JsonStringOf(id->second);
  if (search_id == nullptr || !upstream::IsSafeIdSegment(*search_id)) {
    return Bad("a search in SerpWow's reply has no valid id");
  }
  out->set_search_id(*search_id);
  out->set_name(absl::StrCat("batches/", batch_id, "/searches/", *search_id));
  for (const auto& [key, field] : *object) {
    if (field.is_null() || key == "id" || key == kApiKey) continue;
    bool mapped = true;
    if (key == "custom_id") {
      mapped =
          SetIfRead(ReadString(field), [&](std::string s) { out->set_custom_id(std::move(s)); });
    } else if (key == "q") {
      mapped = SetIfRead(ReadString(field), [&](std::string s) { out->set_q(std::move(s)); });
    } else if (key == "location") {
      mapped =
          SetIfRead(ReadString(field), [&](std::string s) { out->set_location(std::move(s)); });
    } else if (key == "search_type") {
      mapped =
          SetIfRead(ReadString(field), [&](std::string s) { out->set_search_type(std::move(s)); });
    } else if (key == "include_html") {
      mapped = SetIfRead(ReadBool(field), [&](bool b) { out->set_include_html(b); });
    } else if (key == "max_page") {
      mapped = SetIfRead(ReadCount(field), [&](int32_t n) { out->set_max_page(n); });
    } else {
      mapped = false;
    }
    if (mapped) continue;
    // The long tail of the Search API's parameters: a string as it is (when
    // valid UTF-8), anything else as its JSON text.
    auto& params = *out->mutable_params();
    if (params.size() >= kMaxOtherFields) continue;
    const std::string* text = JsonStringOf(field);
    if (text != nullptr && IsValidUtf8(*text)) {
      const std::string name = CutUtf8(ReplaceInvalidUtf8(key), kMaxOtherFieldBytes);
      if (params.count(name) == 0) params[name] = CutUtf8(*text, kMaxOtherFieldBytes);
    } else {
      AddOtherField(key, field, &params);
    }
  }
  return absl::OkStatus();
}

}  // namespace serpwow::logic
