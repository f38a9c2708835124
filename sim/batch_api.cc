#include "sim/batch_api.h"

#include <algorithm>
#include <exception>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"

namespace serpwow::sim {
namespace {

using nlohmann::json;

constexpr int64_t kDefaultPageSize = 25;
constexpr int64_t kMaxPageSize = 1000;
constexpr int64_t kSearchesPerPage = 1000;

std::string Iso(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

http::Response JsonResponse(int status, const json& body) {
  http::Response r;
  r.status = status;
  r.headers = {{"Content-Type", "application/json"}, {"Cache-Control", "no-store"}};
  // Invalid UTF-8 (e.g. a percent-decoded id) is replaced rather than thrown.
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

http::Response Envelope(int status, bool success, const std::string& message) {
  json info = {{"success", success}};
  if (!message.empty()) info["message"] = message;
  return JsonResponse(status, {{"request_info", info}});
}

// The real API's answer to an invalid URL or a wrong verb: deliberately not
// the JSON envelope, so a wrong route can be told from an unknown batch.
http::Response NotFoundRoute() {
  http::Response r;
  r.status = 404;
  r.headers = {{"Content-Type", "text/html"}};
  r.body = "<html><body>Not Found</body></html>";
  return r;
}

http::Response NotFoundBatch(int status, const std::string& id) {
  return Envelope(status, false, absl::StrCat("Batch with ID '", id, "' was not found"));
}

const std::string* FindParam(const ApiRequest& request, std::string_view name) {
  for (const auto& [key, value] : request.params) {
    if (key == name) return &value;
  }
  return nullptr;
}

// The fields POST /batches and PUT /batches/{id} take (SerpWow's create
// examples); other keys are ignored.
constexpr const char* kSettableFields[] = {"name",
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
                                           "notification_as_csv"};

bool IsListField(std::string_view key) {
  return key == "schedule_hours" || key == "schedule_days_of_week" ||
         key == "schedule_days_of_month" || key == "destination_ids";
}

// A form value as JSON: lists split on commas, "true"/"false" and integers
// typed, anything else a string.
json FormValue(std::string_view key, const std::string& value) {
  auto scalar = [](absl::string_view v) -> json {
    int64_t n = 0;
    if (v == "true") return true;
    if (v == "false") return false;
    if (absl::SimpleAtoi(v, &n)) return n;
    return std::string(v);
  };
  if (!IsListField(key)) return scalar(value);
  json out = json::array();
  for (absl::string_view piece : absl::StrSplit(value, ',', absl::SkipEmpty())) {
    out.push_back(key == "destination_ids" ? json(std::string(piece)) : scalar(piece));
  }
  return out;
}

// The body of a create or update: a JSON object, or a form
// (application/x-www-form-urlencoded); nullopt when it is neither.
absl::optional<json> ParseFields(const ApiRequest& request) {
  if (request.body.empty()) return json::object();
  if (absl::StartsWith(request.content_type, "application/x-www-form-urlencoded")) {
    auto params = http::ParseQuery(request.body);
    if (!params) return absl::nullopt;
    json out = json::object();
    for (const auto& [key, value] : *params) out[key] = FormValue(key, value);
    return out;
  }
  json j = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return absl::nullopt;
  return j;
}

bool IntsWithin(const json& value, int64_t low, int64_t high) {
  if (!value.is_array()) return false;
  for (const json& v : value) {
    if (!v.is_number_integer() || v.get<int64_t>() < low || v.get<int64_t>() > high) return false;
  }
  return true;
}

bool OneOf(const json& value, std::initializer_list<const char*> words) {
  if (!value.is_string()) return false;
  for (const char* w : words) {
    if (value.get<std::string>() == w) return true;
  }
  return false;
}

// What is wrong with the settable fields in `f` ("" when nothing), as
// SerpWow's 400 message might say it.
std::string FieldError(const json& f, bool create) {
  auto it = f.find("name");
  if (it == f.end() ? create : !(it->is_string() && !it->get<std::string>().empty())) {
    return "A Batch name is required";
  }
  for (const auto& [key, value] : f.items()) {
    bool ok = true;
    if (key == "schedule_type") {
      ok = OneOf(value, {"manual", "hourly", "daily", "weekly", "monthly"});
    } else if (key == "priority") {
      ok = OneOf(value, {"lowest", "low", "normal", "high", "highest"});
    } else if (key == "schedule_hours") {
      ok = IntsWithin(value, 0, 23);
    } else if (key == "schedule_days_of_week") {
      ok = IntsWithin(value, 0, 6);
    } else if (key == "schedule_days_of_month") {
      ok = IntsWithin(value, 1, 31);
    } else if (key == "enabled" || absl::StartsWith(key, "notification_as_")) {
      ok = value.is_boolean();
    } else if (key == "notification_email" || key == "notification_webhook") {
      ok = value.is_string();
    } else if (key == "destination_ids") {
      ok = value.is_array() &&
           std::all_of(value.begin(), value.end(), [](const json& v) { return v.is_string(); });
    }
    if (!ok) return absl::StrCat("Invalid value for '", key, "'");
  }
  return "";
}

}  // namespace

ApiRequest MakeApiRequest(const http::Request& request, const std::string& expected_key) {
  ApiRequest out;
  out.method = request.method;
  out.path = request.path;
  out.body = request.body;
  if (const std::string* type = request.FindHeader("content-type")) {
    out.content_type = absl::AsciiStrToLower(*type);
  }
  auto params = http::ParseQuery(request.query);
  if (!params) {
    out.malformed_query = true;
    // Still tell "no key at all" from "some key" for the request record.
    for (absl::string_view part : absl::StrSplit(request.query, '&')) {
      if (absl::StartsWith(part, "api_key=") && part.size() > 8) {
        out.auth = ApiRequest::Auth::kInvalid;
      }
    }
    return out;
  }
  bool seen = false;
  for (auto& [name, value] : *params) {
    if (name == "api_key") {
      // The first api_key decides, as in most query parsers.
      if (!seen) {
        seen = true;
        if (value.empty()) {
          out.auth = ApiRequest::Auth::kMissing;
        } else if (expected_key.empty() || value == expected_key) {
          out.auth = ApiRequest::Auth::kValid;
        } else {
          out.auth = ApiRequest::Auth::kInvalid;
        }
      }
      continue;
    }
    out.params.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

BatchApi::BatchApi(const SimulatorOptions& options)
    : options_(options), credits_(options.initial_credits), id_rng_(options.id_seed) {}

absl::Time BatchApi::Now() const { return absl::Now(); }

std::string BatchApi::NewIdLocked() {
  for (;;) {
    std::string id =
        absl::AsciiStrToUpper(absl::StrCat(absl::Hex(id_rng_() & 0xFFFFFFFFu, absl::kZeroPad8)));
    if (batches_.find(id) == batches_.end()) return id;
  }
}

bool BatchApi::MutationRefused(BatchState state) const {
  return state == BatchState::kRunning ||
         (state == BatchState::kQueued &&
          options_.mutation_refused_when ==
              SimulatorOptions::MutationRefusedWhen::kQueuedOrRunning);
}

int64_t BatchApi::batches_created() {
  absl::MutexLock lock(&mu_);
  return batches_created_;
}

int64_t BatchApi::starts() {
  absl::MutexLock lock(&mu_);
  return starts_;
}

void BatchApi::Advance(Batch& batch, absl::Time now) const {
  if (!batch.follows_timers) return;
  if (batch.state == BatchState::kQueued && now >= batch.state_since + options_.queue_delay) {
    batch.state = BatchState::kRunning;
    batch.state_since += options_.queue_delay;
  }
  if (batch.state == BatchState::kRunning && now >= batch.state_since + options_.run_duration) {
    batch.state = BatchState::kIdle;
    batch.last_run = batch.state_since;
    batch.state_since += options_.run_duration;
    batch.reserved = 0;  // consumed by the run
    ++batch.results_count;
    ++batch.next_result_set_id;
  }
}

void BatchApi::AdvanceAll(absl::Time now) {
  for (auto& [id, batch] : batches_) Advance(batch, now);
}

bool BatchApi::StopLocked(Batch& batch) {
  bool refunded = batch.state == BatchState::kQueued;
  if (refunded) credits_ += batch.reserved;
  batch.state = BatchState::kIdle;
  batch.state_since = absl::Now();
  batch.reserved = 0;
  batch.follows_timers = true;
  return refunded;
}

void BatchApi::PutBatch(const std::string& id, BatchState state, int64_t credits_required,
                        const std::string& name, bool follows_timers) {
  absl::MutexLock lock(&mu_);
  Batch b;
  b.id = id;
  b.name = name.empty() ? id : name;
  b.created_at = absl::Now();
  b.credits_required = credits_required;
  b.state = state;
  b.state_since = b.created_at;
  b.follows_timers = follows_timers;
  if (state != BatchState::kIdle) {
    b.reserved = credits_required;
    credits_ -= credits_required;
  }
  batches_[id] = std::move(b);
}

absl::optional<BatchSnapshot> BatchApi::GetBatch(const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = batches_.find(id);
  if (it == batches_.end()) return absl::nullopt;
  Advance(it->second, absl::Now());
  const Batch& b = it->second;
  BatchSnapshot s;
  s.id = b.id;
  s.name = b.name;
  s.state = b.state;
  s.credits_required = b.credits_required;
  s.credits_reserved = b.reserved;
  return s;
}

void BatchApi::RemoveBatch(const std::string& id) {
  absl::MutexLock lock(&mu_);
  batches_.erase(id);
}

int64_t BatchApi::credits() {
  absl::MutexLock lock(&mu_);
  return credits_;
}

void BatchApi::SetCredits(int64_t credits) {
  absl::MutexLock lock(&mu_);
  credits_ = credits;
}

absl::Status BatchApi::SetBatchFields(const std::string& id, const std::string& json_object) {
  json patch = json::parse(json_object, nullptr, /*allow_exceptions=*/false);
  if (!patch.is_object()) {
    return absl::InvalidArgumentError("SetBatchFields needs a JSON object");
  }
  absl::MutexLock lock(&mu_);
  auto it = batches_.find(id);
  if (it == batches_.end()) return absl::NotFoundError("SetBatchFields: no such batch");
  it->second.field_patch = std::move(patch);
  return absl::OkStatus();
}

json BatchApi::BatchJson(const Batch& b) const {
  const int64_t searches = b.credits_required;  // one credit per search
  const int64_t pages = (searches + kSearchesPerPage - 1) / kSearchesPerPage;
  json j = {
      {"id", b.id},
      {"name", b.name},
      {"status", BatchStateName(b.state)},
      {"enabled", true},
      {"schedule_type", "manual"},
      {"schedule_hours", json::array()},
      {"schedule_days_of_week", json::array()},
      {"schedule_days_of_month", json::array()},
      {"priority", "normal"},
      {"destination_ids", json::array()},
      {"notification_email", ""},
      {"notification_webhook", ""},
      {"notification_as_json", false},
      {"notification_as_jsonlines", false},
      {"notification_as_csv", false},
      {options_.singular_count_fields ? "search_total_count" : "searches_total_count", searches},
      {options_.singular_count_fields ? "search_page_count" : "searches_page_count", pages},
      {"credits_required", b.credits_required},
      {"searches_type", "mixed"},
      {"searches_type_locked", false},
      {"created_at", Iso(b.created_at)},
      {"next_result_set_id", b.next_result_set_id},
      {"results_count", b.results_count}};
  if (b.last_run) j["last_run"] = Iso(*b.last_run);
  if (b.settings.is_object()) {
    for (const auto& [key, value] : b.settings.items()) j[key] = value;
  }
  if (b.field_patch.is_object()) j.merge_patch(b.field_patch);
  return j;
}

http::Response BatchApi::Handle(const ApiRequest& request) {
  try {
    return Route(request);
  } catch (const std::exception& e) {
    return Envelope(500, false, absl::StrCat("Internal simulator error: ", e.what()));
  }
}

http::Response BatchApi::Route(const ApiRequest& request) {
  std::string_view path = request.path;
  if (options_.live_prefix) {
    if (path.substr(0, 6) != "/live/") return NotFoundRoute();
    path.remove_prefix(5);
  }
  enum class Op { kAccount, kList, kCreate, kStopAll, kGet, kUpdate, kDelete, kStart, kStop } op;
  // The verb each route takes (anything else is a wrong route: 404 HTML).
  const char* verb = "GET";
  std::string_view raw_id;
  if (path == "/account") {
    op = Op::kAccount;
  } else if (path == "/batches") {
    op = request.method == "POST" ? Op::kCreate : Op::kList;
    if (op == Op::kCreate) verb = "POST";
  } else if (path.substr(0, 9) == "/batches/") {
    std::vector<absl::string_view> parts =
        absl::StrSplit(absl::string_view(path.data() + 9, path.size() - 9), '/');
    if (parts.empty() || parts[0].empty() || parts.size() > 2) return NotFoundRoute();
    raw_id = std::string_view(parts[0].data(), parts[0].size());
    if (parts.size() == 1) {
      op = raw_id == "stopall" ? Op::kStopAll : Op::kGet;
      if (op == Op::kGet && request.method == "PUT") {
        op = Op::kUpdate;
        verb = "PUT";
      } else if (op == Op::kGet && request.method == "DELETE") {
        op = Op::kDelete;
        verb = "DELETE";
      }
    } else if (parts[1] == "start") {
      op = Op::kStart;
    } else if (parts[1] == "stop") {
      op = Op::kStop;
    } else {
      return NotFoundRoute();
    }
  } else {
    return NotFoundRoute();
  }
  if (request.method != verb) return NotFoundRoute();

  if (request.malformed_query) {
    return Envelope(400, false, "Malformed percent-encoding in the query string");
  }
  if (request.auth != ApiRequest::Auth::kValid) {
    return Envelope(401, false, "Supplied api_key is not valid");
  }

  std::string id;
  if (!raw_id.empty()) {
    auto decoded = http::PercentDecode(raw_id, /*plus_is_space=*/false);
    if (!decoded) return Envelope(400, false, "Malformed percent-encoding in the Batch ID");
    id = std::move(*decoded);
  }
  switch (op) {
    case Op::kAccount:
      return Account();
    case Op::kList:
      return List(request);
    case Op::kCreate:
      return Create(request);
    case Op::kUpdate:
      return Update(id, request);
    case Op::kDelete:
      return Delete(id);
    case Op::kStopAll:
      return StopAll();
    case Op::kGet:
      return GetOne(id);
    case Op::kStart:
      return Start(id);
    case Op::kStop:
      return Stop(id);
  }
  return NotFoundRoute();
}

http::Response BatchApi::GetOne(const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = batches_.find(id);
  if (it == batches_.end()) return NotFoundBatch(options_.unknown_batch_status, id);
  Batch& b = it->second;
  Advance(b, absl::Now());
  return JsonResponse(200, {{"request_info", {{"success", true}}}, {"batch", BatchJson(b)}});
}

http::Response BatchApi::Start(const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = batches_.find(id);
  if (it == batches_.end()) return NotFoundBatch(options_.unknown_batch_status, id);
  Batch& b = it->second;
  absl::Time now = absl::Now();
  Advance(b, now);
  if (b.state == BatchState::kQueued &&
      options_.start_queued == SimulatorOptions::StartQueued::kAccept) {
    ++starts_;
    return JsonResponse(200, {{"request_info", {{"success", true}, {"message", "Batch started"}}},
                              {"batch", BatchJson(b)}});
  }
  if (b.state != BatchState::kIdle) {
    return Envelope(options_.busy_status, false, "Batch is already queued or running");
  }
  if (credits_ < b.credits_required) {
    return Envelope(options_.insufficient_credits_status, false,
                    "Insufficient credits to start this Batch");
  }
  ++starts_;
  credits_ -= b.credits_required;
  b.reserved = b.credits_required;
  b.state = BatchState::kQueued;
  b.state_since = now;
  b.follows_timers = true;
  return JsonResponse(200, {{"request_info", {{"success", true}, {"message", "Batch started"}}},
                            {"batch", BatchJson(b)}});
}

http::Response BatchApi::Stop(const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = batches_.find(id);
  if (it == batches_.end()) return NotFoundBatch(options_.unknown_batch_status, id);
  Batch& b = it->second;
  Advance(b, absl::Now());
  if (b.state == BatchState::kIdle) {
    return Envelope(options_.stop_idle_status, false,
                    "Batch is not currently queued or running, so it cannot be stopped");
  }
  const char* previous = BatchStateName(b.state);
  bool refunded = StopLocked(b);
  json body = {{"request_info", {{"success", true}, {"message", "Batch stopped"}}}};
  if (options_.stop_reply_reports_refund) {
    body["credits_refunded"] = refunded;
    body["previous_status"] = previous;
  }
  return JsonResponse(200, body);
}

http::Response BatchApi::StopAll() {
  absl::MutexLock lock(&mu_);
  AdvanceAll(absl::Now());
  int64_t stopped = 0;
  for (auto& [id, batch] : batches_) {
    if (batch.state == BatchState::kIdle) continue;
    StopLocked(batch);
    ++stopped;
  }
  return JsonResponse(
      200, {{"request_info",
             {{"success", true}, {"message", absl::StrCat(stopped, " Batches stopped")}}},
            {"batches_stopped", stopped},
            {"batches_failed_to_stop", 0}});
}

http::Response BatchApi::List(const ApiRequest& request) {
  absl::optional<BatchState> filter;
  if (const std::string* status = FindParam(request, "status")) {
    if (*status == "idle") {
      filter = BatchState::kIdle;
    } else if (*status == "queued") {
      filter = BatchState::kQueued;
    } else if (*status == "running") {
      filter = BatchState::kRunning;
    } else if (*status != "all") {
      return Envelope(400, false, "'status' must be one of all, idle, queued, running");
    }
  }
  int64_t page = 1;
  if (const std::string* p = FindParam(request, "page")) {
    if (!absl::SimpleAtoi(*p, &page) || page < 1) {
      return Envelope(400, false, "'page' must be a positive integer");
    }
  }
  int64_t page_size = kDefaultPageSize;
  if (const std::string* p = FindParam(request, "page_size")) {
    if (!absl::SimpleAtoi(*p, &page_size) || page_size < 1) {
      return Envelope(400, false, "'page_size' must be a positive integer");
    }
    page_size = std::min(page_size, kMaxPageSize);
  }
  const std::string* search_term = FindParam(request, "search_term");
  const std::string* search_type = FindParam(request, "search_type");
  const bool exact = search_type != nullptr && *search_type == "exact";
  absl::optional<absl::Time> created_after;
  if (const std::string* after = FindParam(request, "created_after")) {
    absl::Time t;
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, *after, &t, &error)) {
      return Envelope(400, false, "'created_after' must be an ISO 8601 UTC time");
    }
    created_after = t;
  }

  absl::MutexLock lock(&mu_);
  AdvanceAll(absl::Now());
  std::vector<const Batch*> matching;
  for (const auto& [id, batch] : batches_) {
    if (filter && batch.state != *filter) continue;
    if (search_term != nullptr &&
        (exact ? batch.name != *search_term : !absl::StrContains(batch.name, *search_term))) {
      continue;
    }
    if (created_after && batch.created_at <= *created_after) continue;
    matching.push_back(&batch);
  }
  std::sort(matching.begin(), matching.end(), [](const Batch* a, const Batch* b) {
    return a->name != b->name ? a->name < b->name : a->id < b->id;
  });
  const int64_t total = static_cast<int64_t>(matching.size());
  const int64_t total_pages = (total + page_size - 1) / page_size;
  json list = json::array();
  // page <= total/page_size+1 keeps the multiplication below from overflowing.
  if (page <= total_pages) {
    int64_t first = (page - 1) * page_size;
    int64_t last = std::min(total, first + page_size);
    for (int64_t i = first; i < last; ++i) {
      const Batch& b = *matching[static_cast<size_t>(i)];
      list.push_back(BatchJson(b));
    }
  }
  return JsonResponse(200, {{"request_info", {{"success", true}}},
                            {"total_count", total},
                            {"total_pages", total_pages},
                            {"current_page", page},
                            {"count_this_page", list.size()},
                            {"batches", list}});
}

http::Response BatchApi::Account() {
  absl::MutexLock lock(&mu_);
  const auto used = static_cast<int64_t>(batches_.size());
  return JsonResponse(
      200, {{"request_info", {{"success", true}}},
            {"account_info",
             {{"credits_remaining", credits_},
              {"batches_used", used},
              {"batches_limit", options_.max_batches},
              {"batches_available", std::max<int64_t>(0, options_.max_batches - used)}}}});
}

http::Response BatchApi::Create(const ApiRequest& request) {
  absl::optional<json> fields = ParseFields(request);
  if (!fields) return Envelope(400, false, "The request body is not valid JSON or form data");
  if (std::string error = FieldError(*fields, /*create=*/true); !error.empty()) {
    return Envelope(400, false, error);
  }
  absl::MutexLock lock(&mu_);
  if (static_cast<int64_t>(batches_.size()) >= options_.max_batches) {
    return Envelope(options_.batch_limit_status, false,
                    absl::StrCat("You have reached the maximum of ", options_.max_batches,
                                 " Batches on this account"));
  }
  Batch b;
  b.id = NewIdLocked();
  b.created_at = Now();
  b.state_since = b.created_at;
  b.settings = json::object();
  for (const char* key : kSettableFields) {
    auto it = fields->find(key);
    if (it == fields->end()) continue;
    if (std::string_view(key) == "name") {
      b.name = it->get<std::string>();
    } else {
      b.settings[key] = *it;
    }
  }
  ++batches_created_;
  json out = BatchJson(b);
  batches_[b.id] = std::move(b);
  return JsonResponse(
      200, {{"request_info", {{"success", true}, {"message", "Batch created"}}}, {"batch", out}});
}

http::Response BatchApi::Update(const std::string& id, const ApiRequest& request) {
  absl::optional<json> fields = ParseFields(request);
  if (!fields) return Envelope(400, false, "The request body is not valid JSON or form data");
  if (fields->contains("searches")) {
    return Envelope(400, false, "Adding searches is not supported by this simulator");
  }
  if (std::string error = FieldError(*fields, /*create=*/false); !error.empty()) {
    return Envelope(400, false, error);
  }
  absl::MutexLock lock(&mu_);
  auto it = batches_.find(id);
  if (it == batches_.end()) return NotFoundBatch(options_.unknown_batch_status, id);
  Batch& b = it->second;
  Advance(b, Now());
  if (MutationRefused(b.state)) {
    return Envelope(options_.busy_status, false, "A Batch cannot be updated while it is running");
  }
  if (!b.settings.is_object()) b.settings = json::object();
  for (const char* key : kSettableFields) {
    auto field = fields->find(key);
    if (field == fields->end()) continue;
    if (std::string_view(key) == "name") {
      b.name = field->get<std::string>();
    } else {
      b.settings[key] = *field;
    }
  }
  return JsonResponse(200, {{"request_info", {{"success", true}, {"message", "Batch updated"}}},
                            {"batch", BatchJson(b)}});
}

http::Response BatchApi::Delete(const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = batches_.find(id);
  if (it == batches_.end()) return NotFoundBatch(options_.unknown_batch_status, id);
  Batch& b = it->second;
  Advance(b, Now());
  if (MutationRefused(b.state) ||
      (b.state == BatchState::kQueued &&
       options_.delete_queued == SimulatorOptions::DeleteQueued::kRefuse)) {
    return Envelope(options_.busy_status, false, "A Batch cannot be deleted while it is running");
  }
  if (b.state == BatchState::kQueued &&
      options_.delete_queued == SimulatorOptions::DeleteQueued::kRefund) {
    credits_ += b.reserved;
  }
  batches_.erase(it);
  return Envelope(200, true, "batch deleted");
}

}  // namespace serpwow::sim
