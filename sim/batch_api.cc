#include "sim/batch_api.h"

#include <algorithm>
#include <exception>
#include <random>
#include <string_view>
#include <unordered_set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"

namespace serpwow::sim {
namespace {

using nlohmann::json;

constexpr int64_t kDefaultPageSize = 25;
constexpr int64_t kMaxPageSize = 1000;
constexpr int64_t kSearchesPerPage = 1000;
constexpr int64_t kDestinationsLimit = 50;

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

// The string `object[key]` holds, or "" (get_ptr, not value(): GCC's
// -Wnull-dereference cannot see through nlohmann's iterators).
std::string TextOf(const json& object, const char* key) {
  const auto* fields = object.get_ptr<const json::object_t*>();
  if (fields == nullptr) return "";
  auto it = fields->find(key);
  if (it == fields->end()) return "";
  const auto* text = it->second.get_ptr<const json::string_t*>();
  return text != nullptr ? *text : "";
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

absl::Time BatchApi::Now() const {
  return absl::Now() + absl::Nanoseconds(clock_offset_ns_.load(std::memory_order_relaxed));
}

void BatchApi::AdvanceTime(absl::Duration d) {
  clock_offset_ns_.fetch_add(absl::ToInt64Nanoseconds(d), std::memory_order_relaxed);
}

void BatchApi::SetFilesOrigin(const std::string& origin) {
  absl::MutexLock lock(&mu_);
  files_origin_ = origin;
}

int64_t BatchApi::SearchCount(const Batch& batch) const {
  return batch.has_searches ? static_cast<int64_t>(batch.searches.size()) : batch.credits_required;
}

void BatchApi::AddResultSet(Batch& batch, absl::Time started, absl::Time ended) const {
  ResultSet set;
  set.id = batch.next_result_set_id++;
  set.started_at = started;
  set.ended_at = ended;
  set.searches_total = SearchCount(batch);
  batch.result_sets.push_back(set);
  batch.results_count = static_cast<int64_t>(batch.result_sets.size());
}

absl::Status BatchApi::PutSearches(const std::string& id, int count) {
  absl::MutexLock lock(&mu_);
  auto it = batches_.find(id);
  if (it == batches_.end()) return absl::NotFoundError("PutSearches: no such batch");
  Batch& b = it->second;
  b.has_searches = true;
  b.searches.clear();
  for (int i = 0; i < count; ++i) {
    // 16 upper-case letters, as SerpWow's search ids; unique per batch.
    std::string search_id(16, 'A');
    for (int k = 15, n = i; k >= 0 && n > 0; --k, n /= 26)
      search_id[k] = static_cast<char>('A' + n % 26);
    b.searches.push_back({{"id", search_id},
                          {"q", absl::StrCat("query ", i + 1)},
                          {"location", "United States"},
                          {"search_type", i % 2 == 0 ? "web" : "news"},
                          {"custom_id", absl::StrCat("c", i + 1)},
                          {"gl", "us"},
                          {"num", 10}});
  }
  return absl::OkStatus();
}

absl::Status BatchApi::CompleteRuns(const std::string& id, int runs) {
  absl::MutexLock lock(&mu_);
  auto it = batches_.find(id);
  if (it == batches_.end()) return absl::NotFoundError("CompleteRuns: no such batch");
  const absl::Time now = Now();
  for (int i = 0; i < runs; ++i) {
    AddResultSet(it->second, now - options_.run_duration, now);
    it->second.last_run = now - options_.run_duration;
  }
  return absl::OkStatus();
}

void BatchApi::Advance(Batch& batch, absl::Time now) const {
  if (batch.follows_timers) {
    if (batch.state == BatchState::kQueued && now >= batch.state_since + options_.queue_delay) {
      batch.state = BatchState::kRunning;
      batch.state_since += options_.queue_delay;
    }
    if (batch.state == BatchState::kRunning && now >= batch.state_since + options_.run_duration) {
      batch.state = BatchState::kIdle;
      batch.last_run = batch.state_since;
      batch.state_since += options_.run_duration;
      batch.reserved = 0;  // consumed by the run
      AddResultSet(batch, *batch.last_run, batch.state_since);
    }
  }
  // Result sets expire (lazily, like the timers).
  auto& sets = batch.result_sets;
  sets.erase(std::remove_if(sets.begin(), sets.end(),
                            [&](const ResultSet& set) {
                              return set.ended_at + options_.result_set_retention <= now;
                            }),
             sets.end());
  batch.results_count = static_cast<int64_t>(sets.size());
}

void BatchApi::AdvanceAll(absl::Time now) {
  for (auto& [id, batch] : batches_) Advance(batch, now);
}

bool BatchApi::StopLocked(Batch& batch) {
  bool refunded = batch.state == BatchState::kQueued;
  if (refunded) credits_ += batch.reserved;
  batch.state = BatchState::kIdle;
  batch.state_since = Now();
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
  b.created_at = Now();
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
  Advance(it->second, Now());
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
  const int64_t searches = SearchCount(b);
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
      {"priority", b.priority},
      {"destination_ids", b.destination_ids},
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

http::Response BatchApi::Handle(const ApiRequest& request, absl::Duration* reply_delay) {
  absl::Duration ignored;
  if (reply_delay == nullptr) reply_delay = &ignored;
  *reply_delay = absl::ZeroDuration();
  try {
    return Route(request, reply_delay);
  } catch (const std::exception& e) {
    return Envelope(500, false, absl::StrCat("Internal simulator error: ", e.what()));
  }
}

http::Response BatchApi::Route(const ApiRequest& request, absl::Duration* reply_delay) {
  std::string_view path = request.path;
  // Download links point at the simulator's own origin, outside "/live",
  // and need no key (like SerpWow's file hosts).
  if (path.substr(0, 7) == "/files/") {
    if (request.method != "GET") return NotFoundRoute();
    return File(path.substr(7));
  }
  if (options_.live_prefix) {
    if (path.substr(0, 6) != "/live/") return NotFoundRoute();
    path.remove_prefix(5);
  }
  enum class Op {
    kAccount,
    kList,
    kCreate,
    kStopAll,
    kGet,
    kUpdate,
    kDelete,
    kStart,
    kStop,
    kSearchesPage,
    kSearchesLinks,
    kResultSets,
    kResultSet,
    kUpdateSearch,
    kDeleteSearch,
    kDeleteSearches,
    kClearSearches
  } op;
  // The verb each route takes (anything else is a wrong route: 404 HTML).
  const char* verb = "GET";
  std::string_view raw_id;
  std::string word;  // a page number, "json"/"csv", or a result set id
  std::string ext;   // kResultSet: "json", "jsonl" or "csv"
  if (path == "/account") {
    op = Op::kAccount;
  } else if (path == "/batches") {
    op = request.method == "POST" ? Op::kCreate : Op::kList;
    if (op == Op::kCreate) verb = "POST";
  } else if (path.substr(0, 9) == "/batches/") {
    std::vector<absl::string_view> parts =
        absl::StrSplit(absl::string_view(path.data() + 9, path.size() - 9), '/');
    if (parts.empty() || parts[0].empty() || parts.size() > 4) return NotFoundRoute();
    for (absl::string_view part : parts) {
      if (part.empty()) return NotFoundRoute();
    }
    raw_id = std::string_view(parts[0].data(), parts[0].size());
    // Fixed words before ids, as SerpWow routes them.
    if (parts.size() == 1) {
      op = raw_id == "stopall" ? Op::kStopAll : Op::kGet;
      if (op == Op::kGet && request.method == "PUT") {
        op = Op::kUpdate;
        verb = "PUT";
      } else if (op == Op::kGet && request.method == "DELETE") {
        op = Op::kDelete;
        verb = "DELETE";
      }
    } else if (parts.size() == 2 && parts[1] == "searches") {
      op = Op::kDeleteSearches;  // fixed words before ids
      verb = "DELETE";
    } else if (parts.size() == 2 && parts[1] == "clear") {
      op = Op::kClearSearches;
      verb = "DELETE";
    } else if (parts.size() == 2 && (request.method == "PUT" || request.method == "DELETE") &&
               parts[1] != "start" && parts[1] != "stop" && parts[1] != "results") {
      word = std::string(parts[1]);
      op = request.method == "PUT" ? Op::kUpdateSearch : Op::kDeleteSearch;
      verb = request.method == "PUT" ? "PUT" : "DELETE";
    } else if (parts.size() == 2 && parts[1] == "start") {
      op = Op::kStart;
    } else if (parts.size() == 2 && parts[1] == "stop") {
      op = Op::kStop;
    } else if (parts.size() == 2 && parts[1] == "results") {
      op = Op::kResultSets;
    } else if (parts.size() == 3 && parts[1] == "searches") {
      word = std::string(parts[2]);
      op = word == "json" || word == "csv" ? Op::kSearchesLinks : Op::kSearchesPage;
    } else if ((parts.size() == 3 || parts.size() == 4) && parts[1] == "results") {
      word = std::string(parts[2]);
      ext = parts.size() == 3 ? "json" : std::string(parts[3]);
      if (ext == "jsonlines") ext = "jsonl";
      if (ext != "json" && ext != "jsonl" && ext != "csv") return NotFoundRoute();
      if (parts.size() == 4 && ext == "json") return NotFoundRoute();
      op = Op::kResultSet;
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
  // The search calls hold the batch (the concurrency model).
  const bool find = op == Op::kSearchesPage &&
                    std::any_of(request.params.begin(), request.params.end(), [](const auto& p) {
                      return p.first == "q" || p.first == "custom_id";
                    });
  absl::optional<json> fields;
  if (op == Op::kUpdate) {
    fields = ParseFields(request);
    if (fields && fields->contains("searches")) {
      if (auto refused = HoldForSearchCall(id, reply_delay)) return *refused;
      return AddSearches(id, (*fields)["searches"]);
    }
  }
  if (find || op == Op::kUpdateSearch || op == Op::kDeleteSearch || op == Op::kDeleteSearches ||
      op == Op::kClearSearches) {
    if (auto refused = HoldForSearchCall(id, reply_delay)) return *refused;
  }
  switch (op) {
    case Op::kUpdateSearch:
      return UpdateSearch(id, word, request);
    case Op::kDeleteSearch:
      return DeleteSearch(id, word);
    case Op::kDeleteSearches:
      return DeleteSearches(id, request);
    case Op::kClearSearches:
      return ClearSearches(id);
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
    case Op::kSearchesPage:
      return find ? FindSearches(id, word, request) : SearchesPage(id, word);
    case Op::kSearchesLinks:
      return SearchesLinks(id, word);
    case Op::kResultSets:
      return ResultSets(id);
    case Op::kResultSet:
      return OneResultSet(id, word, ext);
  }
  return NotFoundRoute();
}

http::Response BatchApi::GetOne(const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = batches_.find(id);
  if (it == batches_.end()) return NotFoundBatch(options_.unknown_batch_status, id);
  Batch& b = it->second;
  Advance(b, Now());
  return JsonResponse(200, {{"request_info", {{"success", true}}}, {"batch", BatchJson(b)}});
}

http::Response BatchApi::Start(const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = batches_.find(id);
  if (it == batches_.end()) return NotFoundBatch(options_.unknown_batch_status, id);
  Batch& b = it->second;
  absl::Time now = Now();
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
  Advance(b, Now());
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
  AdvanceAll(Now());
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

absl::optional<http::Response> BatchApi::ListRateLimited() {
  if (options_.list_rate_per_minute <= 0) return absl::nullopt;
  const absl::Time now = Now();
  while (!list_times_.empty() && list_times_.front() <= now - absl::Minutes(1)) {
    list_times_.pop_front();
  }
  if (static_cast<int64_t>(list_times_.size()) < options_.list_rate_per_minute) {
    list_times_.push_back(now);
    return absl::nullopt;
  }
  http::Response r =
      Envelope(429, false,
               absl::StrCat("Rate limit exceeded: at most ", options_.list_rate_per_minute,
                            " List Batches requests per minute"));
  if (options_.list_rate_limit_retry_after) {
    const absl::Duration wait = list_times_.front() + absl::Minutes(1) - now;
    r.headers.emplace_back("Retry-After",
                           absl::StrCat(std::max<int64_t>(
                               1, absl::ToInt64Seconds(absl::Ceil(wait, absl::Seconds(1))))));
  }
  return r;
}

namespace {

// List's documented parameters and their values, checked before anything
// else: a bad value is a 400, as SerpWow documents for invalid parameters.
struct ListQuery {
  absl::optional<std::string> status;  // idle, queued, running
  std::string search_term;
  std::string search_type = "contains";
  absl::optional<absl::Time> created_before, created_after, last_run_before, last_run_after;
  std::string destination_id;
  bool only_with_results = false;
  bool only_without_results = false;
  std::string sort_by = "name";
  bool descending = false;
  int64_t page = 1;
  int64_t page_size = kDefaultPageSize;
};

absl::optional<std::string> ParseListQuery(const ApiRequest& request, ListQuery* q) {
  for (const auto& [key, value] : request.params) {
    if (key == "status") {
      if (value != "all" && value != "idle" && value != "queued" && value != "running") {
        return "'status' must be one of all, idle, queued, running";
      }
      if (value != "all") q->status = value;
    } else if (key == "search_term") {
      q->search_term = value;
    } else if (key == "search_type") {
      if (value != "contains" && value != "starts_with" && value != "ends_with" &&
          value != "exact") {
        return "'search_type' must be one of contains, starts_with, ends_with, exact";
      }
      q->search_type = value;
    } else if (key == "created_before" || key == "created_after" || key == "last_run_before" ||
               key == "last_run_after") {
      absl::Time t;
      std::string err;
      if (!absl::ParseTime(absl::RFC3339_full, value, &t, &err)) {
        return absl::StrCat("'", key, "' must be an ISO 8601 UTC date and time");
      }
      (key == "created_before"    ? q->created_before
       : key == "created_after"   ? q->created_after
       : key == "last_run_before" ? q->last_run_before
                                  : q->last_run_after) = t;
    } else if (key == "destination_id") {
      q->destination_id = value;
    } else if (key == "only_with_results" || key == "only_without_results") {
      if (value != "true" && value != "false")
        return absl::StrCat("'", key, "' must be true or false");
      (key == "only_with_results" ? q->only_with_results : q->only_without_results) =
          value == "true";
    } else if (key == "sort_by") {
      if (value != "created_at" && value != "last_run" && value != "name" && value != "priority" &&
          value != "status") {
        return "'sort_by' must be one of created_at, last_run, name, priority, status";
      }
      q->sort_by = value;
    } else if (key == "sort_direction") {
      if (value != "ascending" && value != "descending") {
        return "'sort_direction' must be ascending or descending";
      }
      q->descending = value == "descending";
    } else if (key == "page") {
      if (!absl::SimpleAtoi(value, &q->page) || q->page < 1) {
        return "'page' must be a positive integer";
      }
    } else if (key == "page_size") {
      // Above the documented maximum: capped (what SerpWow does is unknown).
      if (!absl::SimpleAtoi(value, &q->page_size) || q->page_size < 1) {
        return "'page_size' must be a positive integer";
      }
      q->page_size = std::min(q->page_size, kMaxPageSize);
    }
  }
  if (q->only_with_results && q->only_without_results) {
    return "'only_with_results' and 'only_without_results' cannot both be true";
  }
  return absl::nullopt;
}

int PriorityRank(const std::string& priority) {
  static const char* const kOrder[] = {"lowest", "low", "normal", "high", "highest"};
  for (int i = 0; i < 5; ++i) {
    if (priority == kOrder[i]) return i;
  }
  return 2;
}

absl::optional<absl::Time> TimeField(const json& batch, const char* key) {
  auto it = batch.find(key);
  if (it == batch.end() || !it->is_string()) return absl::nullopt;
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, it->get<std::string>(), &t, &err)) return absl::nullopt;
  return t;
}

std::string StringField(const json& batch, const char* key) {
  auto it = batch.find(key);
  return it != batch.end() && it->is_string() ? it->get<std::string>() : "";
}

// Filters see the batch as replies show it (SetBatchFields patches
// included), except for the status, which is the state machine's (`state`).
bool Matches(const ListQuery& q, BatchState state, const json& b) {
  if (q.status && BatchStateName(state) != *q.status) return false;
  if (!q.search_term.empty()) {
    const std::string name = absl::AsciiStrToLower(StringField(b, "name"));
    const std::string term = absl::AsciiStrToLower(q.search_term);
    const bool hit = q.search_type == "exact"         ? name == term
                     : q.search_type == "starts_with" ? absl::StartsWith(name, term)
                     : q.search_type == "ends_with"   ? absl::EndsWith(name, term)
                                                      : absl::StrContains(name, term);
    if (!hit) return false;
  }
  const absl::optional<absl::Time> created = TimeField(b, "created_at");
  if (q.created_before && !(created && *created < *q.created_before)) return false;
  if (q.created_after && !(created && *created > *q.created_after)) return false;
  const absl::optional<absl::Time> last_run = TimeField(b, "last_run");
  if (q.last_run_before && !(last_run && *last_run < *q.last_run_before)) return false;
  if (q.last_run_after && !(last_run && *last_run > *q.last_run_after)) return false;
  if (!q.destination_id.empty()) {
    bool found = false;
    auto it = b.find("destination_ids");
    if (it != b.end() && it->is_array()) {
      for (const auto& d : *it) found = found || (d.is_string() && d == q.destination_id);
    }
    if (!found) return false;
  }
  auto results = b.find("results_count");
  const int64_t count =
      results != b.end() && results->is_number_integer() ? results->get<int64_t>() : 0;
  if (q.only_with_results && count <= 0) return false;
  if (q.only_without_results && count > 0) return false;
  return true;
}

// -1, 0, 1 on the sort key; ties are broken by id (ascending) so that pages
// never overlap or skip.
int CompareOn(const std::string& key, const json& a, const json& b) {
  auto cmp = [](const auto& x, const auto& y) { return x < y ? -1 : y < x ? 1 : 0; };
  if (key == "priority") {
    return cmp(PriorityRank(StringField(a, "priority")), PriorityRank(StringField(b, "priority")));
  }
  if (key == "created_at" || key == "last_run") {
    // A batch that never ran sorts before every one that did.
    const auto ta = TimeField(a, key.c_str());
    const auto tb = TimeField(b, key.c_str());
    if (!ta || !tb) return cmp(ta.has_value(), tb.has_value());
    return cmp(*ta, *tb);
  }
  return cmp(StringField(a, key.c_str()), StringField(b, key.c_str()));
}

}  // namespace

http::Response BatchApi::List(const ApiRequest& request) {
  ListQuery q;
  if (absl::optional<std::string> bad = ParseListQuery(request, &q)) {
    return Envelope(400, false, *bad);
  }
  absl::MutexLock lock(&mu_);
  if (absl::optional<http::Response> limited = ListRateLimited()) return *limited;
  AdvanceAll(Now());
  std::vector<json> matching;
  for (const auto& [id, batch] : batches_) {
    json j = BatchJson(batch);
    if (Matches(q, batch.state, j)) matching.push_back(std::move(j));
  }
  std::sort(matching.begin(), matching.end(), [&](const json& a, const json& b) {
    int c = CompareOn(q.sort_by, a, b);
    if (q.descending) c = -c;
    return c != 0 ? c < 0 : StringField(a, "id") < StringField(b, "id");
  });
  const int64_t total = static_cast<int64_t>(matching.size());
  const int64_t total_pages = (total + q.page_size - 1) / q.page_size;
  json list = json::array();
  // page <= total_pages keeps the multiplication below from overflowing.
  if (q.page <= total_pages) {
    const int64_t first = (q.page - 1) * q.page_size;
    const int64_t last = std::min(total, first + q.page_size);
    for (int64_t i = first; i < last; ++i)
      list.push_back(std::move(matching[static_cast<size_t>(i)]));
  }
  return JsonResponse(200, {{"request_info", {{"success", true}}},
                            {"total_count", total},
                            {"total_pages", total_pages},
                            {"current_page", q.page},
                            {"count_this_page", list.size()},
                            {"batches", list}});
}

std::vector<std::string> BatchApi::AddGeneratedBatches(int count, uint64_t seed) {
  static const char* const kWords[] = {"Nightly", "Weekly",     "Hourly", "Daily",  "Monthly",
                                       "Brand",   "Competitor", "Local",  "Mobile", "Retail"};
  static const char* const kKinds[] = {"rankings", "audit", "keywords", "prices", "news"};
  static const char* const kPriorities[] = {"lowest", "low", "normal", "high", "highest"};
  std::mt19937_64 rng(seed);
  std::vector<std::string> ids;
  absl::MutexLock lock(&mu_);
  const absl::Time now = Now();
  for (int i = 0; i < count; ++i) {
    std::string id;
    do {
      id = absl::StrFormat("%08X", static_cast<uint32_t>(rng()));
    } while (batches_.count(id) != 0);
    Batch b;
    b.id = id;
    b.name = absl::StrFormat("%s %s %04d", kWords[rng() % 10], kKinds[rng() % 5], i + 1);
    b.created_at = now - absl::Seconds(count - 1 - i);
    b.credits_required = 10 + 5 * static_cast<int64_t>(rng() % 10);
    b.state = i % 20 == 0   ? BatchState::kQueued
              : i % 20 == 1 ? BatchState::kRunning
                            : BatchState::kIdle;
    b.state_since = now;
    b.priority = kPriorities[i % 5];
    if (i % 7 == 0) b.destination_ids = {"DEST1"};
    if (i % 3 == 0) {
      b.results_count = 1 + i % 4;
      b.next_result_set_id = b.results_count + 1;
      b.last_run = b.created_at + absl::Minutes(1 + i % 50);
    }
    if (b.state != BatchState::kIdle) {
      b.reserved = b.credits_required;
      credits_ -= b.credits_required;
    }
    ids.push_back(id);
    batches_[id] = std::move(b);
  }
  return ids;
}

http::Response BatchApi::Account() {
  absl::MutexLock lock(&mu_);
  const auto used = static_cast<int64_t>(batches_.size());
  const absl::TimeZone utc = absl::UTCTimeZone();
  const absl::CivilMonth next = absl::CivilMonth(absl::ToCivilSecond(Now(), utc)) + 1;
  return JsonResponse(
      200, {{"request_info", {{"success", true}}},
            {"account_info",
             {{"credits_remaining", credits_},
              {"credits_used", std::max<int64_t>(0, options_.initial_credits - credits_)},
              {"credits_limit", options_.initial_credits},
              {"credits_reset_at", Iso(absl::FromCivil(next, utc))},
              {"topup_credits_remaining", 0},
              {"batches_used", used},
              {"batches_limit", options_.max_batches},
              {"batches_available", std::max<int64_t>(0, options_.max_batches - used)},
              {"destinations_used", 0},
              {"destinations_limit", kDestinationsLimit},
              {"destinations_available", kDestinationsLimit}}}});
}

json BatchApi::Links(const std::string& batch_id, const std::string& kind, const std::string& ext,
                     int64_t pages, bool all_pages) const {
  // The hostile variant puts the key into every link (to prove the
  // gateway's scrubber); the real API is not known to.
  const std::string suffix =
      options_.links_include_api_key
          ? absl::StrCat("?api_key=", options_.api_key.empty() ? "simulator-key" : options_.api_key)
          : "";
  const std::string base = absl::StrCat(files_origin_, "/files/", batch_id, "/", kind, "/");
  json out = {{"pages", json::array()}};
  for (int64_t p = 1; p <= pages; ++p) {
    out["pages"].push_back(absl::StrCat(base, "page_", p, ".", ext, suffix));
  }
  if (all_pages) out["all_pages"] = absl::StrCat(base, "all_pages.", ext, suffix);
  return out;
}

http::Response BatchApi::SearchesPage(const std::string& id, const std::string& page_text) {
  int64_t page = 0;
  if (!absl::SimpleAtoi(page_text, &page) || page < 1 || page_text[0] == '0') {
    return Envelope(400, false, "The page must be a positive integer");
  }
  absl::MutexLock lock(&mu_);
  auto it = batches_.find(id);
  if (it == batches_.end()) return NotFoundBatch(options_.unknown_batch_status, id);
  Batch& b = it->second;
  Advance(b, Now());
  const int64_t total = static_cast<int64_t>(b.searches.size());
  const int64_t pages = (SearchCount(b) + kSearchesPerPage - 1) / kSearchesPerPage;
  json list = json::array();
  if (page <= (total + kSearchesPerPage - 1) / kSearchesPerPage) {
    const int64_t first = (page - 1) * kSearchesPerPage;
    for (int64_t i = first; i < std::min(total, first + kSearchesPerPage); ++i) {
      list.push_back(b.searches[static_cast<size_t>(i)]);
    }
  }
  return JsonResponse(200, {{"request_info", {{"success", true}}},
                            {"batch_id", b.id},
                            {"searches_page_current", page},
                            {"searches_page_count", pages},
                            {"searches", list}});
}

http::Response BatchApi::SearchesLinks(const std::string& id, const std::string& ext) {
  absl::MutexLock lock(&mu_);
  auto it = batches_.find(id);
  if (it == batches_.end()) return NotFoundBatch(options_.unknown_batch_status, id);
  Batch& b = it->second;
  Advance(b, Now());
  const int64_t total = SearchCount(b);
  const int64_t pages = (total + kSearchesPerPage - 1) / kSearchesPerPage;
  return JsonResponse(200, {{"request_info", {{"success", true}}},
                            {"batch_id", b.id},
                            {"searches_total_count", total},
                            {"searches_page_count", pages},
                            {"download_links", Links(b.id, "searches", ext, pages, false)}});
}

json BatchApi::ResultSetJson(const Batch& b, const ResultSet& set) const {
  const int64_t pages = (set.searches_total + kSearchesPerPage - 1) / kSearchesPerPage;
  return {{"id", set.id},
          {"started_at", Iso(set.started_at)},
          {"ended_at", Iso(set.ended_at)},
          {"expires_at", Iso(set.ended_at + options_.result_set_retention)},
          {"results_page_count", pages},
          {"searches_completed", set.searches_total},
          {"searches_failed", 0},
          {"searches_total", set.searches_total},
          {"webhook_status",
           {{"status", "ok"},
            {"log",
             json::array({{{"date_time", Iso(set.ended_at)},
                           {"text", absl::StrCat("No webhook configured for batch ", b.id)}}})}}},
          {"destination_status", json::object()}};
}

http::Response BatchApi::ResultSets(const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = batches_.find(id);
  if (it == batches_.end()) return NotFoundBatch(options_.unknown_batch_status, id);
  Batch& b = it->second;
  Advance(b, Now());
  json list = json::array();
  for (auto set = b.result_sets.rbegin(); set != b.result_sets.rend(); ++set) {  // newest first
    list.push_back(ResultSetJson(b, *set));
  }
  return JsonResponse(200, {{"request_info", {{"success", true}}},
                            {"batch_id", b.id},
                            {"batch", BatchJson(b)},
                            {"results_count", b.result_sets.size()},
                            {"results", list}});
}

http::Response BatchApi::OneResultSet(const std::string& id, const std::string& rs,
                                      const std::string& ext) {
  absl::MutexLock lock(&mu_);
  auto it = batches_.find(id);
  if (it == batches_.end()) return NotFoundBatch(options_.unknown_batch_status, id);
  Batch& b = it->second;
  Advance(b, Now());
  int64_t n = 0;
  const ResultSet* found = nullptr;
  if (absl::SimpleAtoi(rs, &n)) {
    for (const ResultSet& set : b.result_sets) {
      if (set.id == n) found = &set;
    }
  }
  if (found == nullptr) {
    return Envelope(404, false,
                    absl::StrCat("Result Set with ID '", rs, "' was not found in this Batch"));
  }
  json result = ResultSetJson(b, *found);
  const int64_t pages = (found->searches_total + kSearchesPerPage - 1) / kSearchesPerPage;
  result["download_links"] = Links(b.id, absl::StrCat("results/", found->id), ext, pages, true);
  return JsonResponse(
      200, {{"request_info", {{"success", true}}}, {"batch_id", b.id}, {"result", result}});
}

http::Response BatchApi::File(std::string_view path) {
  // {batch}/searches/page_N.ext, {batch}/results/{rs}/page_N.ext or
  // all_pages.ext: small generated files.
  std::vector<std::string> parts = absl::StrSplit(absl::string_view(path.data(), path.size()), '/');
  if (parts.size() < 3) return NotFoundRoute();
  absl::MutexLock lock(&mu_);
  auto it = batches_.find(parts[0]);
  if (it == batches_.end()) return NotFoundRoute();
  const Batch& b = it->second;
  const std::string& name = parts.back();
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos) return NotFoundRoute();
  const std::string ext = name.substr(dot + 1);
  std::string content_type = ext == "csv" ? "text/csv" : "application/json";
  std::string body;
  if (ext == "csv") {
    body = "id,q,location\n";
    for (const json& search : b.searches) {
      absl::StrAppend(&body, TextOf(search, "id"), ",", TextOf(search, "q"), ",",
                      TextOf(search, "location"), "\n");
    }
  } else if (ext == "jsonl") {
    for (const json& search : b.searches) absl::StrAppend(&body, search.dump(), "\n");
  } else if (ext == "json") {
    body = json(b.searches).dump();
  } else {
    return NotFoundRoute();
  }
  http::Response r;
  r.status = 200;
  r.headers = {{"Content-Type", content_type}};
  r.body = std::move(body);
  return r;
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
  // (A body with `searches` is AddSearches, routed before this.)
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

int64_t BatchApi::search_calls_refused() {
  absl::MutexLock lock(&mu_);
  return search_calls_refused_;
}

int64_t BatchApi::searches_added() {
  absl::MutexLock lock(&mu_);
  return searches_added_;
}

int64_t BatchApi::search_count(const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = batches_.find(id);
  return it == batches_.end() ? -1 : SearchCount(it->second);
}

absl::optional<http::Response> BatchApi::HoldForSearchCall(const std::string& id,
                                                           absl::Duration* reply_delay) {
  if (options_.search_mutation_duration <= absl::ZeroDuration()) return absl::nullopt;
  const std::string key =
      options_.search_mutation_scope == SimulatorOptions::SearchMutationScope::kAccount ? "" : id;
  // The wall clock, not the virtual one: the hold is the reply's real delay.
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&mu_);
  auto it = held_until_.find(key);
  if (it != held_until_.end() && it->second > now) {
    ++search_calls_refused_;
    return Envelope(429, false,
                    "Search requests for a Batch must be sent sequentially; another one is in "
                    "progress");
  }
  held_until_[key] = now + options_.search_mutation_duration;
  *reply_delay = options_.search_mutation_duration;
  // Keep the table small: forget holds long over.
  for (auto h = held_until_.begin(); h != held_until_.end();) {
    h = h->second + absl::Seconds(10) < now ? held_until_.erase(h) : std::next(h);
  }
  return absl::nullopt;
}

std::string BatchApi::NewSearchIdLocked(std::unordered_set<std::string>* taken) {
  for (;;) {
    std::string id(16, 'A');
    for (char& c : id) c = static_cast<char>('A' + id_rng_() % 26);
    if (taken->insert(id).second) return id;
  }
}

namespace {

bool IncludesHtml(const json& search) {
  auto it = search.find("include_html");
  return it != search.end() && ((it->is_boolean() && it->get<bool>()) ||
                                (it->is_string() && it->get<std::string>() == "true"));
}

http::Response SearchNotFound(int status, const std::string& search_id) {
  return Envelope(status, false,
                  absl::StrCat("No Search with ID '", search_id,
                               "' was found in this Batch, please check the ID and try again"));
}

}  // namespace

http::Response BatchApi::AddSearches(const std::string& id, const json& searches) {
  if (!searches.is_array()) return Envelope(400, false, "searches must be a JSON array");
  if (searches.empty()) return Envelope(400, false, "No searches were supplied");
  if (static_cast<int64_t>(searches.size()) > options_.max_searches_per_call) {
    return Envelope(400, false,
                    absl::StrCat("A maximum of ", options_.max_searches_per_call,
                                 " searches can be added per request"));
  }
  bool html = false;
  for (const json& search : searches) {
    if (!search.is_object() || TextOf(search, "q").empty()) {
      return Envelope(400, false, "Every search needs a 'q' parameter");
    }
    auto page = search.find("max_page");
    if (page != search.end() && (!page->is_number_integer() || page->get<int64_t>() < 1 ||
                                 page->get<int64_t>() > options_.max_page_limit)) {
      return Envelope(400, false,
                      absl::StrCat("max_page must be between 1 and ", options_.max_page_limit));
    }
    html = html || IncludesHtml(search);
  }
  absl::MutexLock lock(&mu_);
  auto it = batches_.find(id);
  if (it == batches_.end()) return NotFoundBatch(options_.unknown_batch_status, id);
  Batch& b = it->second;
  Advance(b, Now());
  if (MutationRefused(b.state)) {
    return Envelope(options_.busy_status, false,
                    "Searches cannot be added to a Batch while it is running");
  }
  if (!b.has_searches) {
    b.has_searches = true;
    b.searches.clear();
  }
  for (const json& s : b.searches) html = html || IncludesHtml(s);
  const int64_t total = static_cast<int64_t>(b.searches.size() + searches.size());
  const int64_t limit = html ? options_.max_searches_with_html : options_.max_searches_per_batch;
  if (total > limit) {
    return Envelope(400, false,
                    absl::StrCat("A Batch can hold at most ", limit, " searches",
                                 html ? " when include_html is used" : ""));
  }
  // The ids in use, looked up once per call: a scan of the batch per new
  // search made adding to a batch of thousands quadratic (seconds under ASan).
  std::unordered_set<std::string> taken;
  taken.reserve(b.searches.size() + searches.size());
  for (const json& s : b.searches) taken.insert(TextOf(s, "id"));
  for (const json& search : searches) {
    json stored = search;
    stored.erase("api_key");
    stored["id"] = NewSearchIdLocked(&taken);
    b.searches.push_back(std::move(stored));
  }
  searches_added_ += static_cast<int64_t>(searches.size());
  return JsonResponse(200, {{"request_info", {{"success", true}, {"message", "Batch updated"}}},
                            {"batch", BatchJson(b)}});
}

http::Response BatchApi::UpdateSearch(const std::string& id, const std::string& search_id,
                                      const ApiRequest& request) {
  absl::optional<json> fields = ParseFields(request);
  if (!fields) return Envelope(400, false, "The request body is not valid JSON or form data");
  absl::MutexLock lock(&mu_);
  auto it = batches_.find(id);
  if (it == batches_.end()) return NotFoundBatch(options_.unknown_batch_status, id);
  Batch& b = it->second;
  Advance(b, Now());
  if (MutationRefused(b.state)) {
    return Envelope(options_.busy_status, false,
                    "Searches cannot be changed while the Batch is running");
  }
  for (json& search : b.searches) {
    if (TextOf(search, "id") != search_id) continue;
    json changed = {{"id", search_id}};
    for (const auto& [key, value] : fields->items()) {
      if (key == "id" || key == "api_key") continue;
      search[key] = value;
      changed[key] = value;
    }
    return JsonResponse(200, {{"request_info", {{"success", true}, {"message", "Search updated"}}},
                              {"search", changed}});
  }
  return SearchNotFound(options_.search_not_found_status, search_id);
}

http::Response BatchApi::DeleteSearch(const std::string& id, const std::string& search_id) {
  absl::MutexLock lock(&mu_);
  auto it = batches_.find(id);
  if (it == batches_.end()) return NotFoundBatch(options_.unknown_batch_status, id);
  Batch& b = it->second;
  Advance(b, Now());
  if (MutationRefused(b.state)) {
    return Envelope(options_.busy_status, false,
                    "Searches cannot be deleted while the Batch is running");
  }
  auto& list = b.searches;
  auto found = std::find_if(list.begin(), list.end(),
                            [&](const json& s) { return TextOf(s, "id") == search_id; });
  if (found == list.end()) return SearchNotFound(options_.search_not_found_status, search_id);
  list.erase(found);
  return Envelope(200, true, "Search deleted");
}

http::Response BatchApi::DeleteSearches(const std::string& id, const ApiRequest& request) {
  json ids = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (!ids.is_array() || ids.empty() ||
      !std::all_of(ids.begin(), ids.end(), [](const json& v) { return v.is_string(); })) {
    return Envelope(400, false, "The body must be a JSON array of search ids");
  }
  absl::MutexLock lock(&mu_);
  auto it = batches_.find(id);
  if (it == batches_.end()) return NotFoundBatch(options_.unknown_batch_status, id);
  Batch& b = it->second;
  Advance(b, Now());
  if (MutationRefused(b.state)) {
    return Envelope(options_.busy_status, false,
                    "Searches cannot be deleted while the Batch is running");
  }
  auto known = [&](const std::string& search_id) {
    return std::any_of(b.searches.begin(), b.searches.end(),
                       [&](const json& s) { return TextOf(s, "id") == search_id; });
  };
  if (options_.bulk_delete_unknown_ids == SimulatorOptions::BulkDeleteUnknownIds::kError) {
    for (const json& v : ids) {
      if (!known(v.get<std::string>())) {
        return SearchNotFound(options_.search_not_found_status, v.get<std::string>());
      }
    }
  }
  auto& list = b.searches;
  list.erase(std::remove_if(list.begin(), list.end(),
                            [&](const json& s) {
                              const std::string sid = TextOf(s, "id");
                              return std::any_of(ids.begin(), ids.end(), [&](const json& v) {
                                return v.get<std::string>() == sid;
                              });
                            }),
             list.end());
  return Envelope(200, true, "Searches deleted");
}

http::Response BatchApi::ClearSearches(const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = batches_.find(id);
  if (it == batches_.end()) return NotFoundBatch(options_.unknown_batch_status, id);
  Batch& b = it->second;
  Advance(b, Now());
  if (MutationRefused(b.state)) {
    return Envelope(options_.busy_status, false,
                    "Searches cannot be cleared while the Batch is running");
  }
  b.has_searches = true;
  b.searches.clear();
  return Envelope(200, true, "Batch searches cleared");
}

http::Response BatchApi::FindSearches(const std::string& id, const std::string& page_text,
                                      const ApiRequest& request) {
  int64_t page = 0;
  if (!absl::SimpleAtoi(page_text, &page) || page < 1 || page_text[0] == '0') {
    return Envelope(400, false, "The page must be a positive integer");
  }
  std::string q;
  absl::optional<std::string> custom_id;
  for (const auto& [name, value] : request.params) {
    if (name == "q") q = absl::AsciiStrToLower(value);
    if (name == "custom_id" && options_.find_supports_custom_id) custom_id = value;
  }
  absl::MutexLock lock(&mu_);
  auto it = batches_.find(id);
  if (it == batches_.end()) return NotFoundBatch(options_.unknown_batch_status, id);
  Batch& b = it->second;
  Advance(b, Now());
  std::vector<const json*> matching;
  for (const json& search : b.searches) {
    if (custom_id && TextOf(search, "custom_id") != *custom_id) continue;
    bool hit = q.empty();
    for (const auto& [key, value] : search.items()) {
      if (hit) break;
      if (key == "id") continue;
      const std::string text = value.is_string() ? value.get<std::string>() : value.dump();
      hit = absl::StrContains(absl::AsciiStrToLower(text), q);
    }
    if (hit) matching.push_back(&search);
  }
  const int64_t total = static_cast<int64_t>(matching.size());
  const int64_t pages = (total + kSearchesPerPage - 1) / kSearchesPerPage;
  json list = json::array();
  if (page <= pages) {
    const int64_t first = (page - 1) * kSearchesPerPage;
    for (int64_t i = first; i < std::min(total, first + kSearchesPerPage); ++i) {
      list.push_back(*matching[static_cast<size_t>(i)]);
    }
  }
  return JsonResponse(200, {{"request_info", {{"success", true}}},
                            {"batch_id", b.id},
                            {"searches_page_current", page},
                            {"searches_page_count", pages},
                            {"searches", list}});
}

}  // namespace serpwow::sim
