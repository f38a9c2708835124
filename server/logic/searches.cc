#include "server/logic/searches.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "server/logic/batch_id.h"
#include "server/logic/batch_mapping.h"
#include "server/logic/errors.h"
#include "server/logic/json_values.h"
#include "server/logic/resource_mapping.h"

namespace serpwow::logic {
namespace {

namespace v1 = serpwow::batches::v1;

constexpr ReplyRules kListRules{"listing the searches of batch", nullptr, nullptr};
constexpr ReplyRules kExportRules{"reading the search files of batch", nullptr, nullptr};

// A count from the reply's top level, or nullopt.
absl::optional<int64_t> TopCount(const nlohmann::json& json, const char* key) {
  auto it = json.find(key);
  if (it == json.end()) return absl::nullopt;
  return ReadInteger(*it, kInt32Max);
}

}  // namespace

ListSearchesOperation::ListSearchesOperation(UpstreamCaller* caller, SearchQueue* queue,
                                             const v1::ListSearchesRequest& request,
                                             absl::Time deadline)
    : SearchQueued(queue, caller, deadline, kListRules, nullptr), request_(request) {}

absl::Status ListSearchesOperation::Validate() {
  if (absl::Status s = TakeParent(request_.parent(), "the searches"); !s.ok()) return s;
  if (!request_.filter().empty()) {
    absl::StatusOr<SearchFilter> filter = ParseSearchFilter(request_.filter());
    if (!filter.ok()) return filter.status();
    if (queue_ == nullptr) {
      return ErrorBuilder(absl::StatusCode::kInvalidArgument,
                          "invalid filter: this gateway has no search queue to send a Find "
                          "through",
                          reason::kInvalidFilter)
          .BadRequestField("filter", "not supported here");
    }
    filter_ = std::move(*filter);
  }
  absl::StatusOr<int32_t> size =
      NormalizePageSize(request_.page_size(), kSearchesPerUpstreamPage, kSearchesPerUpstreamPage);
  if (!size.ok()) return size.status();
  fingerprint_ =
      ListFingerprint("ListSearches", request_.parent(), filter_ ? filter_->Canonical() : "", "");
  absl::StatusOr<int64_t> offset =
      StartOffset(request_.page_token(), request_.skip(), fingerprint_);
  if (!offset.ok()) return offset.status();
  plan_ = PlanUpstreamPage(*offset, *size, kSearchesPerUpstreamPage);
  return absl::OkStatus();
}

void ListSearchesOperation::Begin() {
  if (plan_.page > kInt32Max) {
    // Past any batch (at most 15,000 searches): an empty last page.
    End(absl::OkStatus());
    return;
  }
  if (filter_) {
    EnterQueue();  // a Find is a search call: one at a time per batch
    return;
  }
  if (request_.page_token().empty()) {
    reading_batch_ = true;
    upstream::UpstreamRequest request;
    request.endpoint = upstream::Endpoint::kGetBatch;
    request.args.batch = batch_id_;
    SendRead(std::move(request));
    return;
  }
  SendPage();
}

void ListSearchesOperation::SendPage() {
  reading_batch_ = false;
  upstream::UpstreamRequest request;
  if (filter_) {
    request = QueuedRequest(upstream::Endpoint::kFindSearches);
    request.query.emplace_back(filter_->param(), filter_->term);
  } else {
    request.endpoint = upstream::Endpoint::kListSearches;
    request.args.batch = batch_id_;
  }
  request.args.page = std::to_string(plan_.page);
  request.max_body_bytes = kMaxSearchPageBytes;
  SendRead(std::move(request));
}

absl::optional<absl::Status> ListSearchesOperation::Take(const Envelope& env,
                                                         const upstream::HttpResult& result,
                                                         const ClassifyContext& context) {
  if (reading_batch_) {
    auto object = env.json.find("batch");
    v1::Batch batch;
    if (object == env.json.end() || !MapBatch(*object, &batch).ok()) {
      return BadResponse(context, result, "no batch object");
    }
    response_.set_total_size(batch.searches_total_count());
    SendPage();
    return absl::nullopt;
  }
  auto searches = env.json.find("searches");
  if (searches == env.json.end() || !searches->is_array()) {
    return BadResponse(context, result, "no list of searches");
  }
  // SerpWow's page gives the page count, not the total: everything up to
  // this page plus at least one more when this page is not the last.
  const int64_t page_count = TopCount(env.json, "searches_page_count").value_or(plan_.page);
  const int64_t on_page = static_cast<int64_t>(searches->size());
  const int64_t known_total = plan_.page < page_count
                                  ? plan_.page * kSearchesPerUpstreamPage + 1
                                  : (plan_.page - 1) * kSearchesPerUpstreamPage + on_page;
  const PageSlice slice = SliceUpstreamPage(plan_, searches->size(), known_total);
  for (size_t i = slice.begin; i < slice.end; ++i) {
    if (!MapSearch((*searches)[i], batch_id_, response_.add_searches()).ok()) {
      return BadResponse(context, result, "a search without a valid id");
    }
  }
  if (slice.has_next) {
    response_.set_next_page_token(EncodePageToken(fingerprint_, slice.next_offset));
  }
  return absl::OkStatus();
}

ExportSearchesOperation::ExportSearchesOperation(UpstreamCaller* caller,
                                                 const v1::ExportSearchesRequest& request,
                                                 absl::Time deadline,
                                                 const DownloadLinkPolicy* links)
    : ReadOperation(caller, deadline, kExportRules, links), request_(request) {}

absl::Status ExportSearchesOperation::Validate() {
  if (absl::Status s = TakeParent(request_.parent(), "the search files"); !s.ok()) return s;
  switch (request_.format()) {
    case v1::EXPORT_FORMAT_UNSPECIFIED:
    case v1::EXPORT_FORMAT_JSON:
    case v1::EXPORT_FORMAT_CSV:
      return absl::OkStatus();
    default:
      return ErrorBuilder(absl::StatusCode::kInvalidArgument,
                          "invalid format: SerpWow exports searches as JSON or CSV only",
                          reason::kUnsupportedFormat)
          .Metadata("batch_id", batch_id_)
          .BadRequestField("format", "searches export as JSON or CSV, not JSON Lines");
  }
}

void ExportSearchesOperation::Begin() {
  upstream::UpstreamRequest request;
  request.endpoint = request_.format() == v1::EXPORT_FORMAT_CSV
                         ? upstream::Endpoint::kExportSearchesCsv
                         : upstream::Endpoint::kExportSearchesJson;
  request.args.batch = batch_id_;
  SendRead(std::move(request));
}

absl::optional<absl::Status> ExportSearchesOperation::Take(const Envelope& env,
                                                           const upstream::HttpResult& result,
                                                           const ClassifyContext& context) {
  auto links = env.json.find("download_links");
  if (links == env.json.end() || !MapDownloadLinks(*links, response_.mutable_download_links())) {
    return BadResponse(context, result, "no download links");
  }
  if (absl::Status s = CheckLinks(response_.download_links()); !s.ok()) return s;
  response_.set_format(request_.format() == v1::EXPORT_FORMAT_CSV ? v1::EXPORT_FORMAT_CSV
                                                                  : v1::EXPORT_FORMAT_JSON);
  response_.set_searches_total_count(
      static_cast<int32_t>(TopCount(env.json, "searches_total_count").value_or(0)));
  response_.set_searches_page_count(
      static_cast<int32_t>(TopCount(env.json, "searches_page_count").value_or(0)));
  return absl::OkStatus();
}

}  // namespace serpwow::logic
