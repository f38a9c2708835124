#include "server/logic/search_mutations.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "server/logic/batch_id.h"
#include "server/logic/errors.h"
#include "server/logic/request_dedupe.h"
#include "server/logic/resource_mapping.h"

namespace serpwow::logic {

namespace v1 = serpwow::batches::v1;
using upstream::Endpoint;
using Json = nlohmann::json;

namespace {

constexpr ReplyRules kAddRules{"adding searches to batch", "the addition of the searches", nullptr};
constexpr ReplyRules kBulkDeleteRules{"deleting searches of batch", "the deletion of the searches",
                                      nullptr};
constexpr ReplyRules kUpdateRules{"updating a search of batch", "the update of the search",
                                  nullptr};
constexpr ReplyRules kDeleteRules{"deleting a search of batch", "the deletion of the search",
                                  nullptr};
constexpr ReplyRules kClearRules{"clearing the searches of batch", "the clearing", nullptr};

bool Ambiguous(const Verdict& v) { return v.retryable && v.maybe_applied; }

// The fields of Search a parameter must not repeat (and that are no
// parameter at all).
constexpr const char* kSearchFields[] = {"id",      "name",     "search_id",   "custom_id",
                                         "q",       "location", "search_type", "include_html",
                                         "max_page"};

bool IsSearchField(const std::string& key) {
  return std::any_of(std::begin(kSearchFields), std::end(kSearchFields),
                     [&](const char* f) { return absl::EqualsIgnoreCase(key, f); });
}

bool SafeParamName(const std::string& key) {
  if (key.empty() || key.size() > 64) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

class Violations {
 public:
  void Add(std::string field, std::string description) {
    list_.emplace_back(std::move(field), std::move(description));
  }
  bool empty() const { return list_.empty(); }
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

// The checks of one parameter `key` = `value` of a search at `path`
// ("searches[3]" or "search").
void CheckParam(const std::string& path, const std::string& key, const std::string& value,
                const MutationOptions& options, Violations& bad) {
  if (!SafeParamName(key)) {
    // Never quote a name that is not known to be safe.
    bad.Add(absl::StrCat(path, ".params"),
            "a parameter name must be 1-64 of A-Z, a-z, 0-9, '_', '-' and '.'");
    return;
  }
  const std::string at = absl::StrCat(path, ".params[", key, "]");
  if (absl::EqualsIgnoreCase(key, "api_key")) {
    bad.Add(at, "must not be set: the gateway sends its own key");
  } else if (IsSearchField(key)) {
    bad.Add(at, absl::StrCat("repeats a field of Search: set ", path, ".",
                             absl::AsciiStrToLower(key), " instead"));
  } else if (value.size() > options.max_search_value_bytes) {
    bad.Add(at, absl::StrCat("at most ", options.max_search_value_bytes, " bytes"));
  }
}

void CheckText(const std::string& field, const std::string& value, const MutationOptions& options,
               Violations& bad) {
  if (value.size() > options.max_search_value_bytes) {
    bad.Add(field, absl::StrCat("at most ", options.max_search_value_bytes, " bytes"));
  }
}

void CheckMaxPage(const std::string& field, int32_t max_page, const MutationOptions& options,
                  Violations& bad) {
  if (max_page < 1 || max_page > options.max_page_limit) {
    bad.Add(field, absl::StrCat(max_page, " is outside 1-", options.max_page_limit));
  }
}

Json SearchJson(const v1::Search& s) {
  Json out = Json::object();
  // The params first: the fields below win over nothing (they cannot
  // repeat one, ValidateNewSearches refuses that).
  for (const auto& [key, value] : s.params()) out[key] = value;
  if (!s.custom_id().empty()) out["custom_id"] = s.custom_id();
  if (!s.q().empty()) out["q"] = s.q();
  if (!s.location().empty()) out["location"] = s.location();
  if (!s.search_type().empty()) out["search_type"] = s.search_type();
  if (s.has_include_html()) out["include_html"] = s.include_html();
  if (s.has_max_page()) out["max_page"] = s.max_page();
  return out;
}

std::string Dump(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// The searches a batch would count for these (max_page counted: SerpWow
// runs, and limits, every page).
int64_t Weight(const google::protobuf::RepeatedPtrField<v1::Search>& searches) {
  int64_t n = 0;
  for (const v1::Search& s : searches) n += s.has_max_page() ? std::max(1, s.max_page()) : 1;
  return n;
}

bool AnyHtml(const google::protobuf::RepeatedPtrField<v1::Search>& searches) {
  return std::any_of(searches.begin(), searches.end(),
                     [](const v1::Search& s) { return s.has_include_html() && s.include_html(); });
}

absl::Status TooManyItems(const char* field, size_t n, size_t max) {
  return ErrorBuilder(absl::StatusCode::kInvalidArgument,
                      absl::StrCat(field, ": ", n, " given; give 1 to ", max, " per call"),
                      reason::kTooManyItems)
      .BadRequestField(field, absl::StrCat("1 to ", max, " items, not ", n));
}

absl::Status SearchNotFoundError(const std::string& batch_id, const std::string& search_id) {
  return ErrorBuilder(
             absl::StatusCode::kNotFound,
             search_id.empty()
                 ? absl::StrCat("some of the searches were not found in batch ", batch_id)
                 : absl::StrCat("search ", search_id, " was not found in batch ", batch_id),
             reason::kSearchNotFound)
      .Metadata("batch_id", batch_id)
      .Metadata("search_id", search_id)
      .Resource("serpwow.batches.v1.Search",
                search_id.empty() ? absl::StrCat("batches/", batch_id)
                                  : absl::StrCat("batches/", batch_id, "/searches/", search_id),
                "not found");
}

// The batch's search count and state from a pre-read or a re-read.
struct CountRead {
  absl::Status status;
  v1::Batch batch;
};
CountRead ReadCount(bool made, const upstream::HttpResult& result, const ClassifyContext& context) {
  CountRead out;
  if (!made) {
    out.status = MutationDeadlineError(context.batch_id,
                                       absl::StrCat("reading batch ", context.batch_id), false);
    return out;
  }
  absl::StatusOr<v1::Batch> batch = ReadBatch(result, context);
  if (!batch.ok()) {
    out.status = batch.status();
  } else {
    out.batch = std::move(*batch);
  }
  return out;
}

}  // namespace

CountVerdict JudgeCount(int64_t before, int64_t now, int64_t delta, bool resent, bool running) {
  if (now == before + delta) return CountVerdict::kApplied;
  if (now == before && !resent && !running) return CountVerdict::kResend;
  return CountVerdict::kUnknown;
}

absl::Status CountUnknownError(const std::string& batch_id, const std::string& what, int64_t before,
                               const absl::StatusOr<int64_t>& now, const char* done) {
  if (!now.ok()) {
    return OutcomeUnknownError(batch_id, what,
                               "SerpWow's reply was lost and the batch could not be read "
                               "afterwards");
  }
  return OutcomeUnknownError(
      batch_id, what,
      absl::StrCat("SerpWow's reply was lost and the batch's search count (", *now, ", ", before,
                   " before) says neither that they were ", done, " nor that they were not"));
}

bool IsSearchNotFound(const upstream::HttpResult& result) {
  return absl::StrContains(absl::AsciiStrToLower(UpstreamMessageOf(result)), "no search with id");
}

absl::Status ValidateNewSearches(const google::protobuf::RepeatedPtrField<v1::Search>& searches,
                                 const MutationOptions& options) {
  Violations bad;
  for (int i = 0; i < searches.size(); ++i) {
    const v1::Search& s = searches[i];
    const std::string path = absl::StrCat("searches[", i, "]");
    if (!s.name().empty()) bad.Add(path + ".name", "must be empty: SerpWow assigns the id");
    if (!s.search_id().empty()) {
      bad.Add(path + ".search_id", "output only: SerpWow assigns the id");
    }
    if (s.q().empty()) bad.Add(path + ".q", "required");
    CheckText(path + ".q", s.q(), options, bad);
    CheckText(path + ".location", s.location(), options, bad);
    CheckText(path + ".search_type", s.search_type(), options, bad);
    CheckText(path + ".custom_id", s.custom_id(), options, bad);
    if (s.has_max_page()) CheckMaxPage(path + ".max_page", s.max_page(), options, bad);
    if (static_cast<size_t>(s.params_size()) > options.max_search_params) {
      bad.Add(path + ".params", absl::StrCat("at most ", options.max_search_params, " parameters"));
    }
    for (const auto& [key, value] : s.params()) CheckParam(path, key, value, options, bad);
  }
  return bad.Status();
}

std::string SearchesRequestJson(const google::protobuf::RepeatedPtrField<v1::Search>& searches) {
  Json list = Json::array();
  for (const v1::Search& s : searches) list.push_back(SearchJson(s));
  return Dump(Json{{"searches", std::move(list)}});
}

// --- AddSearches ---------------------------------------------------------------

namespace {
// The request without its request_id, serialized deterministically (params
// is a map).
uint64_t AddFingerprint(const v1::AddSearchesRequest& request) {
  v1::AddSearchesRequest payload = request;
  payload.clear_request_id();
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    payload.SerializeToCodedStream(&coded);
  }
  return RequestFingerprint("AddSearches", bytes);
}
}  // namespace

AddSearchesOperation::AddSearchesOperation(UpstreamCaller* caller, SearchQueue* queue,
                                           RequestDedupe* dedupe, MutationOptions options,
                                           v1::AddSearchesRequest request, absl::Time deadline)
    : SearchQueued(queue, caller, deadline, dedupe, request.request_id(), AddFingerprint(request)),
      options_(options),
      request_(std::move(request)) {}

absl::Status AddSearchesOperation::Validate() {
  absl::StatusOr<std::string> id = ParseBatchName(request_.parent(), "parent");
  if (!id.ok()) return id.status();
  const size_t n = static_cast<size_t>(request_.searches_size());
  if (n == 0 || n > options_.max_searches_per_call) {
    return TooManyItems("searches", n, options_.max_searches_per_call);
  }
  if (absl::Status s = ValidateNewSearches(request_.searches(), options_); !s.ok()) return s;
  if (absl::Status s = ValidateRequestIdField(); !s.ok()) return s;
  batch_id_ = std::move(*id);
  // Beyond the limit whatever the batch holds: no read needed.
  const int64_t limit = AnyHtml(request_.searches()) ? options_.max_searches_with_html
                                                     : options_.max_searches_per_batch;
  if (const int64_t weight = Weight(request_.searches()); weight > limit) {
    return ErrorBuilder(absl::StatusCode::kResourceExhausted,
                        absl::StrCat("these searches count ", weight,
                                     " (max_page counted); a batch holds at most ", limit,
                                     AnyHtml(request_.searches()) ? " with include_html" : ""),
                        reason::kBatchSearchLimit)
        .Metadata("batch_id", batch_id_)
        .Metadata("limit", absl::StrCat(limit))
        .Quota(absl::StrCat("batches/", batch_id_),
               absl::StrCat("at most ", limit, " searches per batch; these count ", weight));
  }
  body_ = SearchesRequestJson(request_.searches());
  return absl::OkStatus();
}

std::string AddSearchesOperation::EffectWords() const {
  return absl::StrCat("the addition of ", request_.searches_size(), " searches to batch ",
                      batch_id_);
}

void AddSearchesOperation::InQueue() {
  Send("count", QueuedRequest(Endpoint::kGetBatch),
       PreReadDeadline(absl::Now(), deadline(), options_, kMinAttemptTime),
       options_.read_timeout_cap, Done(&AddSearchesOperation::OnCount));
}

void AddSearchesOperation::OnCount(PhaseOutcome outcome) {
  // Without the count there is nothing to reconcile with: nothing is sent.
  CountRead read =
      ReadCount(outcome.attempts > 0, outcome.result, Context(batch_id_, outcome.deadline_binds));
  if (!read.status.ok()) {
    End(read.status);
    return;
  }
  if (StatusOf(read.batch) == BatchStatus::kRunning) {
    End(BatchRunningError(batch_id_, "adding searches"));
    return;
  }
  c0_ = read.batch.searches_total_count();
  const bool html = AnyHtml(request_.searches());
  const int64_t limit = html ? options_.max_searches_with_html : options_.max_searches_per_batch;
  const int64_t weight = Weight(request_.searches());
  if (c0_ + weight > limit) {
    End(ErrorBuilder(absl::StatusCode::kResourceExhausted,
                     absl::StrCat("batch ", batch_id_, " holds ", c0_, " searches; ", weight,
                                  " more (max_page counted) would pass its limit of ", limit,
                                  html ? " (include_html)" : ""),
                     reason::kBatchSearchLimit)
            .Metadata("batch_id", batch_id_)
            .Metadata("searches_total_count", absl::StrCat(c0_))
            .Metadata("limit", absl::StrCat(limit))
            .Quota(absl::StrCat("batches/", batch_id_),
                   absl::StrCat("at most ", limit, " searches per batch; it holds ", c0_,
                                " and these count ", weight)));
    return;
  }
  SendAdd();
}

void AddSearchesOperation::SendAdd() {
  upstream::UpstreamRequest request = QueuedRequest(Endpoint::kAddSearches);
  request.body = body_;
  Send("add", std::move(request), deadline(), upstream_options().timeout_cap,
       Done(&AddSearchesOperation::OnAdd));
}

void AddSearchesOperation::OnAdd(PhaseOutcome outcome) {
  if (outcome.attempts == 0) {
    End(MutationDeadlineError(batch_id_, absl::StrCat("adding searches to batch ", batch_id_),
                              false));
    return;
  }
  const ClassifyContext context = Context(batch_id_, outcome.deadline_binds);
  absl::StatusOr<Envelope> env = ClassifyReply(outcome.result, context, kAddRules);
  if (env.ok()) {
    result_.added_count = request_.searches_size();
    result_.reconciled = resent_;
    absl::StatusOr<v1::Batch> batch = BatchOfReply(outcome.result, *env, context);
    if (batch.ok()) {
      result_.batch = std::move(*batch);
      End(absl::OkStatus());
      return;
    }
    Send("read", QueuedRequest(Endpoint::kGetBatch), deadline(), options_.read_timeout_cap,
         Done(&AddSearchesOperation::OnRead));
    return;
  }
  if (outcome.any_ambiguous && Ambiguous(outcome.verdict)) {
    Recount(options_.read_timeout_cap, Done(&AddSearchesOperation::OnReconcile));
    return;
  }
  if (IsMutationRefusal(outcome.result)) {
    refusal_ = MutationRefusedError(context, outcome.result,
                                    absl::StrCat("the searches for batch ", batch_id_), true);
    Send("confirm", QueuedRequest(Endpoint::kGetBatch), deadline(), options_.read_timeout_cap,
         Done(&AddSearchesOperation::OnConfirm), /*max_attempts=*/1);
    return;
  }
  End(env.status());
}

void AddSearchesOperation::OnRead(PhaseOutcome outcome) {
  // Added; the batch as read now (or, failing that, as counted before).
  CountRead read = ReadCount(outcome.attempts > 0, outcome.result, Context(batch_id_, true));
  if (read.status.ok()) result_.batch = std::move(read.batch);
  End(absl::OkStatus());
}

void AddSearchesOperation::OnReconcile(PhaseOutcome outcome) {
  CountRead read = ReadCount(outcome.attempts > 0, outcome.result, Context(batch_id_, true));
  const int64_t n = request_.searches_size();
  if (!read.status.ok()) {
    End(CountUnknownError(batch_id_, EffectWords(), c0_, read.status, "added"));
    return;
  }
  const int64_t now = read.batch.searches_total_count();
  switch (JudgeCount(c0_, now, n, resent_, StatusOf(read.batch) == BatchStatus::kRunning)) {
    case CountVerdict::kApplied:
      result_.added_count = static_cast<int32_t>(n);
      result_.reconciled = true;
      result_.batch = std::move(read.batch);
      End(absl::OkStatus());
      return;
    case CountVerdict::kResend:
      resent_ = true;  // the lost attempt added nothing: once more
      SendAdd();
      return;
    case CountVerdict::kUnknown:
      End(CountUnknownError(batch_id_, EffectWords(), c0_, now, "added"));
      return;
  }
}

void AddSearchesOperation::OnConfirm(PhaseOutcome outcome) {
  const bool active =
      ActiveAfterRefusal(outcome.attempts > 0, outcome.result, Context(batch_id_, true))
          .has_value();
  End(active ? BatchRunningError(batch_id_, "adding searches") : refusal_);
}

// --- BatchDeleteSearches -------------------------------------------------------

namespace {
uint64_t BulkFingerprint(const v1::BatchDeleteSearchesRequest& request) {
  std::string payload = request.parent();
  for (const std::string& name : request.names()) absl::StrAppend(&payload, "\n", name);
  return RequestFingerprint("BatchDeleteSearches", payload);
}
}  // namespace

BatchDeleteSearchesOperation::BatchDeleteSearchesOperation(
    UpstreamCaller* caller, SearchQueue* queue, RequestDedupe* dedupe, MutationOptions options,
    v1::BatchDeleteSearchesRequest request, absl::Time deadline)
    : SearchQueued(queue, caller, deadline, dedupe, request.request_id(), BulkFingerprint(request)),
      options_(options),
      request_(std::move(request)) {}

absl::Status BatchDeleteSearchesOperation::Validate() {
  absl::StatusOr<std::string> id = ParseBatchName(request_.parent(), "parent");
  if (!id.ok()) return id.status();
  const size_t n = static_cast<size_t>(request_.names_size());
  if (n == 0 || n > options_.max_searches_per_call) {
    return TooManyItems("names", n, options_.max_searches_per_call);
  }
  Json ids = Json::array();
  std::map<std::string, int> seen;
  for (int i = 0; i < request_.names_size(); ++i) {
    const std::string field = absl::StrCat("names[", i, "]");
    absl::StatusOr<SearchName> name = ParseSearchName(request_.names(i), field);
    if (!name.ok()) return name.status();
    if (name->batch_id != *id) {
      return ErrorBuilder(absl::StatusCode::kInvalidArgument,
                          absl::StrCat("invalid ", field, ": it is a search of batch ",
                                       name->batch_id, ", not of ", request_.parent()),
                          reason::kInvalidName)
          .BadRequestField(field, "must be a search of parent");
    }
    auto [it, fresh] = seen.emplace(name->search_id, i);
    if (!fresh) {
      return ErrorBuilder(absl::StatusCode::kInvalidArgument,
                          absl::StrCat("invalid ", field, ": it repeats names[", it->second, "]"),
                          reason::kInvalidName)
          .BadRequestField(field, absl::StrCat("repeats names[", it->second, "]"));
    }
    ids.push_back(name->search_id);
  }
  if (absl::Status s = ValidateRequestIdField(); !s.ok()) return s;
  batch_id_ = std::move(*id);
  body_ = Dump(ids);
  return absl::OkStatus();
}

std::string BatchDeleteSearchesOperation::EffectWords() const {
  return absl::StrCat("the deletion of ", request_.names_size(), " searches of batch ", batch_id_);
}

void BatchDeleteSearchesOperation::InQueue() {
  Send("count", QueuedRequest(Endpoint::kGetBatch),
       PreReadDeadline(absl::Now(), deadline(), options_, kMinAttemptTime),
       options_.read_timeout_cap, Done(&BatchDeleteSearchesOperation::OnCount));
}

void BatchDeleteSearchesOperation::OnCount(PhaseOutcome outcome) {
  CountRead read =
      ReadCount(outcome.attempts > 0, outcome.result, Context(batch_id_, outcome.deadline_binds));
  if (!read.status.ok()) {
    End(read.status);
    return;
  }
  if (StatusOf(read.batch) == BatchStatus::kRunning) {
    End(BatchRunningError(batch_id_, "deleting searches"));
    return;
  }
  c0_ = read.batch.searches_total_count();
  SendDelete();
}

void BatchDeleteSearchesOperation::SendDelete() {
  upstream::UpstreamRequest request = QueuedRequest(Endpoint::kDeleteSearches);
  request.body = body_;
  Send("delete", std::move(request), deadline(), upstream_options().timeout_cap,
       Done(&BatchDeleteSearchesOperation::OnDelete));
}

void BatchDeleteSearchesOperation::OnDelete(PhaseOutcome outcome) {
  if (outcome.attempts == 0) {
    End(MutationDeadlineError(batch_id_, absl::StrCat("deleting searches of batch ", batch_id_),
                              false));
    return;
  }
  const ClassifyContext context = Context(batch_id_, outcome.deadline_binds);
  if (IsSearchNotFound(outcome.result)) {
    End(SearchNotFoundError(batch_id_, ""));
    return;
  }
  absl::StatusOr<Envelope> env = ClassifyReply(outcome.result, context, kBulkDeleteRules);
  if (env.ok()) {
    result_ = request_.names_size();
    End(absl::OkStatus());
    return;
  }
  if (outcome.any_ambiguous && Ambiguous(outcome.verdict)) {
    Recount(options_.read_timeout_cap, Done(&BatchDeleteSearchesOperation::OnReconcile));
    return;
  }
  if (IsMutationRefusal(outcome.result)) {
    refusal_ = MutationRefusedError(context, outcome.result,
                                    absl::StrCat("to delete searches of batch ", batch_id_), false);
    Send("confirm", QueuedRequest(Endpoint::kGetBatch), deadline(), options_.read_timeout_cap,
         Done(&BatchDeleteSearchesOperation::OnConfirm), /*max_attempts=*/1);
    return;
  }
  End(env.status());
}

void BatchDeleteSearchesOperation::OnReconcile(PhaseOutcome outcome) {
  CountRead read = ReadCount(outcome.attempts > 0, outcome.result, Context(batch_id_, true));
  const int64_t n = request_.names_size();
  if (!read.status.ok()) {
    End(CountUnknownError(batch_id_, EffectWords(), c0_, read.status, "deleted"));
    return;
  }
  const int64_t now = read.batch.searches_total_count();
  switch (JudgeCount(c0_, now, -n, resent_, StatusOf(read.batch) == BatchStatus::kRunning)) {
    case CountVerdict::kApplied:
      result_ = static_cast<int32_t>(n);
      End(absl::OkStatus());
      return;
    case CountVerdict::kResend:
      resent_ = true;  // the lost attempt deleted nothing: once more
      SendDelete();
      return;
    case CountVerdict::kUnknown:
      End(CountUnknownError(batch_id_, EffectWords(), c0_, now, "deleted"));
      return;
  }
}

void BatchDeleteSearchesOperation::OnConfirm(PhaseOutcome outcome) {
  const bool active =
      ActiveAfterRefusal(outcome.attempts > 0, outcome.result, Context(batch_id_, true))
          .has_value();
  End(active ? BatchRunningError(batch_id_, "deleting searches") : refusal_);
}

// --- UpdateSearch --------------------------------------------------------------

UpdateSearchOperation::UpdateSearchOperation(UpstreamCaller* caller, SearchQueue* queue,
                                             MutationOptions options,
                                             v1::UpdateSearchRequest request, absl::Time deadline)
    : SearchQueued(queue, caller, deadline), options_(options), request_(std::move(request)) {}

absl::Status UpdateSearchOperation::Validate() {
  absl::StatusOr<SearchName> name = ParseSearchName(request_.search().name(), "search.name");
  if (!name.ok()) return name.status();
  const v1::Search& s = request_.search();
  auto refuse = [](const std::string& path, const std::string& why) {
    return ErrorBuilder(absl::StatusCode::kInvalidArgument,
                        absl::StrCat("update_mask path \"", path, "\" ", why),
                        reason::kInvalidUpdateMask)
        .BadRequestField("update_mask", absl::StrCat("\"", path, "\" ", why))
        .Build();
  };
  if (request_.update_mask().paths_size() == 0) {
    return ErrorBuilder(absl::StatusCode::kInvalidArgument,
                        "update_mask is empty: name the fields to change (custom_id, q, "
                        "location, search_type, include_html, max_page, params.KEY)",
                        reason::kInvalidUpdateMask)
        .BadRequestField("update_mask", "empty");
  }
  Violations bad;
  Json body = Json::object();
  for (const std::string& path : request_.update_mask().paths()) {
    // Paths are quoted only once known to be safe characters.
    if (!SafeParamName(path.size() > 7 && absl::StartsWith(path, "params.") ? path.substr(7)
                                                                            : path)) {
      return path == "*" ? refuse("*",
                                  "is not supported: SerpWow documents no defaults, so a full "
                                  "replacement cannot be expressed; list the fields")
                         : ErrorBuilder(absl::StatusCode::kInvalidArgument,
                                        "an update_mask path is not a field of Search",
                                        reason::kInvalidUpdateMask)
                               .BadRequestField("update_mask", "not a field of Search")
                               .Build();
    }
    if (path == "name" || path == "search_id") return refuse(path, "names an output-only field");
    if (path == "custom_id") {
      CheckText("search.custom_id", s.custom_id(), options_, bad);
      body["custom_id"] = s.custom_id();
    } else if (path == "q") {
      if (s.q().empty()) bad.Add("search.q", "must not be empty");
      CheckText("search.q", s.q(), options_, bad);
      body["q"] = s.q();
    } else if (path == "location") {
      CheckText("search.location", s.location(), options_, bad);
      body["location"] = s.location();
    } else if (path == "search_type") {
      CheckText("search.search_type", s.search_type(), options_, bad);
      body["search_type"] = s.search_type();
    } else if (path == "include_html") {
      body["include_html"] = s.include_html();
    } else if (path == "max_page") {
      if (!s.has_max_page()) {
        bad.Add("search.max_page", "masked but not set");
      } else {
        CheckMaxPage("search.max_page", s.max_page(), options_, bad);
        body["max_page"] = s.max_page();
      }
    } else if (absl::StartsWith(path, "params.")) {
      const std::string key = path.substr(7);
      auto it = s.params().find(key);
      if (it == s.params().end()) {
        bad.Add(absl::StrCat("search.params[", key, "]"), "masked but not set");
        continue;
      }
      Violations param;
      CheckParam("search", key, it->second, options_, param);
      if (!param.empty()) return param.Status();
      body[key] = it->second;
    } else {
      return refuse(path, "is not a field of Search");
    }
  }
  if (absl::Status st = bad.Status(); !st.ok()) return st;
  batch_id_ = name->batch_id;
  search_id_ = name->search_id;
  body_ = Dump(body);
  return absl::OkStatus();
}

void UpdateSearchOperation::InQueue() {
  upstream::UpstreamRequest request = QueuedRequest(Endpoint::kUpdateSearch);
  request.args.search = search_id_;
  request.body = body_;
  Send("update", std::move(request), deadline(), upstream_options().timeout_cap,
       Done(&UpdateSearchOperation::OnUpdate));
}

void UpdateSearchOperation::OnUpdate(PhaseOutcome outcome) {
  if (outcome.attempts == 0 || outcome.out_of_time) {
    End(MutationDeadlineError(batch_id_, absl::StrCat("updating search ", search_id_),
                              outcome.attempts > 0));
    return;
  }
  if (IsSearchNotFound(outcome.result)) {
    End(SearchNotFoundError(batch_id_, search_id_));
    return;
  }
  const ClassifyContext context = Context(batch_id_, outcome.deadline_binds);
  absl::StatusOr<Envelope> env = ClassifyReply(outcome.result, context, kUpdateRules);
  if (env.ok()) {
    // SerpWow returns the search, maybe only the changed fields (and maybe
    // without its id): mapped as it is, under the id the call named.
    Json search = Json::object();
    auto it = env->json.find("search");
    if (it != env->json.end() && it->is_object()) search = *it;
    search["id"] = search_id_;
    if (!MapSearch(search, batch_id_, &result_).ok()) {
      End(BadResponse(context, outcome.result, "a search that cannot be read"));
      return;
    }
    End(absl::OkStatus());
    return;
  }
  if (IsMutationRefusal(outcome.result)) {
    refusal_ = MutationRefusedError(context, outcome.result,
                                    absl::StrCat("the new values for search ", search_id_), true);
    Send("confirm", QueuedRequest(Endpoint::kGetBatch), deadline(), options_.read_timeout_cap,
         Done(&UpdateSearchOperation::OnConfirm), /*max_attempts=*/1);
    return;
  }
  End(env.status());
}

void UpdateSearchOperation::OnConfirm(PhaseOutcome outcome) {
  const bool active =
      ActiveAfterRefusal(outcome.attempts > 0, outcome.result, Context(batch_id_, true))
          .has_value();
  End(active ? BatchRunningError(batch_id_, "updating its searches") : refusal_);
}

// --- DeleteSearch --------------------------------------------------------------

DeleteSearchOperation::DeleteSearchOperation(UpstreamCaller* caller, SearchQueue* queue,
                                             MutationOptions options, std::string name,
                                             absl::Time deadline)
    : SearchQueued(queue, caller, deadline), options_(options), name_(std::move(name)) {}

absl::Status DeleteSearchOperation::Validate() {
  absl::StatusOr<SearchName> name = ParseSearchName(name_, "name");
  if (!name.ok()) return name.status();
  batch_id_ = name->batch_id;
  search_id_ = name->search_id;
  return absl::OkStatus();
}

void DeleteSearchOperation::InQueue() {
  upstream::UpstreamRequest request = QueuedRequest(Endpoint::kDeleteSearch);
  request.args.search = search_id_;
  Send("delete", std::move(request), deadline(), upstream_options().timeout_cap,
       Done(&DeleteSearchOperation::OnDelete));
}

void DeleteSearchOperation::OnDelete(PhaseOutcome outcome) {
  if (outcome.attempts == 0) {
    End(MutationDeadlineError(batch_id_, absl::StrCat("deleting search ", search_id_), false));
    return;
  }
  if (IsSearchNotFound(outcome.result)) {
    if (outcome.any_ambiguous) {
      // An earlier attempt's reply was lost: it is gone, which is the point.
      MarkReconciled();
      End(absl::OkStatus());
    } else {
      End(SearchNotFoundError(batch_id_, search_id_));
    }
    return;
  }
  const ClassifyContext context = Context(batch_id_, outcome.deadline_binds);
  absl::StatusOr<Envelope> env = ClassifyReply(outcome.result, context, kDeleteRules);
  if (env.ok()) {
    End(absl::OkStatus());
    return;
  }
  if (outcome.out_of_time) {
    End(MutationDeadlineError(batch_id_, absl::StrCat("deleting search ", search_id_), true));
    return;
  }
  if (IsMutationRefusal(outcome.result)) {
    refusal_ = MutationRefusedError(context, outcome.result,
                                    absl::StrCat("to delete search ", search_id_), false);
    Send("confirm", QueuedRequest(Endpoint::kGetBatch), deadline(), options_.read_timeout_cap,
         Done(&DeleteSearchOperation::OnConfirm), /*max_attempts=*/1);
    return;
  }
  End(env.status());
}

void DeleteSearchOperation::OnConfirm(PhaseOutcome outcome) {
  const bool active =
      ActiveAfterRefusal(outcome.attempts > 0, outcome.result, Context(batch_id_, true))
          .has_value();
  End(active ? BatchRunningError(batch_id_, "deleting its searches") : refusal_);
}

// --- PurgeSearches -------------------------------------------------------------

PurgeSearchesOperation::PurgeSearchesOperation(UpstreamCaller* caller, SearchQueue* queue,
                                               MutationOptions options,
                                               v1::PurgeSearchesRequest request,
                                               absl::Time deadline)
    : SearchQueued(queue, caller, deadline), options_(options), request_(std::move(request)) {}

absl::Status PurgeSearchesOperation::Validate() {
  absl::StatusOr<std::string> id = ParseBatchName(request_.parent(), "parent");
  if (!id.ok()) return id.status();
  if (request_.filter() != "*") {
    return ErrorBuilder(absl::StatusCode::kInvalidArgument,
                        "invalid filter: PurgeSearches takes only \"*\" (SerpWow can only clear "
                        "every search of a batch)",
                        reason::kInvalidFilter)
        .BadRequestField("filter", "must be \"*\"");
  }
  batch_id_ = std::move(*id);
  return absl::OkStatus();
}

void PurgeSearchesOperation::Begin() {
  if (!request_.force()) {
    // A dry run: one free read, outside the queue (it is no search call).
    upstream::UpstreamRequest request;
    request.endpoint = Endpoint::kGetBatch;
    request.args.batch = batch_id_;
    Send("count", std::move(request), deadline(), options_.read_timeout_cap,
         Done(&PurgeSearchesOperation::OnCount));
    return;
  }
  EnterQueue();
}

void PurgeSearchesOperation::InQueue() {
  Send("count", QueuedRequest(Endpoint::kGetBatch),
       PreReadDeadline(absl::Now(), deadline(), options_, kMinAttemptTime),
       options_.read_timeout_cap, Done(&PurgeSearchesOperation::OnCount));
}

void PurgeSearchesOperation::OnCount(PhaseOutcome outcome) {
  CountRead read =
      ReadCount(outcome.attempts > 0, outcome.result, Context(batch_id_, outcome.deadline_binds));
  if (!read.status.ok()) {
    End(read.status);
    return;
  }
  purge_count_ = read.batch.searches_total_count();
  if (!request_.force()) {
    End(absl::OkStatus());
    return;
  }
  if (StatusOf(read.batch) == BatchStatus::kRunning) {
    End(BatchRunningError(batch_id_, "clearing its searches"));
    return;
  }
  Send("clear", QueuedRequest(Endpoint::kClearSearches), deadline(), upstream_options().timeout_cap,
       Done(&PurgeSearchesOperation::OnClear));
}

void PurgeSearchesOperation::OnClear(PhaseOutcome outcome) {
  if (outcome.attempts == 0 || outcome.out_of_time) {
    End(MutationDeadlineError(batch_id_, absl::StrCat("clearing the searches of batch ", batch_id_),
                              outcome.attempts > 0));
    return;
  }
  const ClassifyContext context = Context(batch_id_, outcome.deadline_binds);
  absl::StatusOr<Envelope> env = ClassifyReply(outcome.result, context, kClearRules);
  if (env.ok()) {
    End(absl::OkStatus());
    return;
  }
  if (IsMutationRefusal(outcome.result)) {
    refusal_ = MutationRefusedError(
        context, outcome.result, absl::StrCat("to clear the searches of batch ", batch_id_), false);
    Send("confirm", QueuedRequest(Endpoint::kGetBatch), deadline(), options_.read_timeout_cap,
         Done(&PurgeSearchesOperation::OnConfirm), /*max_attempts=*/1);
    return;
  }
  End(env.status());
}

void PurgeSearchesOperation::OnConfirm(PhaseOutcome outcome) {
  const bool active =
      ActiveAfterRefusal(outcome.attempts > 0, outcome.result, Context(batch_id_, true))
          .has_value();
  End(active ? BatchRunningError(batch_id_, "clearing its searches") : refusal_);
}

}  // namespace serpwow::logic
