#include "server/logic/result_sets.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "server/logic/errors.h"
#include "server/logic/json_values.h"
#include "server/logic/page_token.h"
#include "server/logic/resource_mapping.h"

namespace serpwow::logic {
namespace {

namespace v1 = serpwow::batches::v1;

constexpr size_t kMaxCsvFields = 100;
constexpr size_t kMaxCsvFieldLength = 256;
constexpr ReplyRules kListRules{"listing the result sets of batch", nullptr, nullptr};
constexpr ReplyRules kGetRules{"reading a result set of batch", nullptr, nullptr};

bool CsvFieldChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.';
}

absl::Status InvalidField(const std::string& field, const std::string& description) {
  return ErrorBuilder(absl::StatusCode::kInvalidArgument,
                      absl::StrCat("invalid ", field, ": ", description), reason::kInvalidField)
      .BadRequestField(field, description);
}

}  // namespace

absl::Status ValidateCsvFields(const std::vector<std::string>& fields, v1::ExportFormat format) {
  if (fields.empty()) return absl::OkStatus();
  if (format != v1::EXPORT_FORMAT_CSV) {
    return InvalidField("csv_fields", "csv_fields go with format CSV only");
  }
  if (fields.size() > kMaxCsvFields) {
    return InvalidField("csv_fields", absl::StrCat("there are ", fields.size(), "; at most ",
                                                   kMaxCsvFields, " are allowed"));
  }
  for (size_t i = 0; i < fields.size(); ++i) {
    const std::string path = absl::StrCat("csv_fields[", i, "]");
    const std::string& f = fields[i];
    if (f.empty() || f.size() > kMaxCsvFieldLength) {
      return InvalidField(
          path, absl::StrCat("a field name is 1 to ", kMaxCsvFieldLength, " characters long"));
    }
    for (size_t j = 0; j < f.size(); ++j) {
      if (!CsvFieldChar(f[j])) {
        return InvalidField(path, absl::StrCat("character ", j + 1,
                                               " is not allowed; only A-Z, a-z, 0-9, '_' and "
                                               "'.' (SerpWow's dot notation) are"));
      }
    }
  }
  return absl::OkStatus();
}

ListResultSetsOperation::ListResultSetsOperation(UpstreamCaller* caller,
                                                 const v1::ListResultSetsRequest& request,
                                                 absl::Time deadline)
    : ReadOperation(caller, deadline, kListRules, nullptr), request_(request) {}

absl::Status ListResultSetsOperation::Validate() {
  if (absl::Status s = TakeParent(request_.parent(), "the result sets"); !s.ok()) return s;
  absl::StatusOr<int32_t> size =
      NormalizePageSize(request_.page_size(), kDefaultResultSetPageSize, kMaxResultSetPageSize);
  if (!size.ok()) return size.status();
  page_size_ = *size;
  fingerprint_ = ListFingerprint("ListResultSets", request_.parent(), "", "");
  absl::StatusOr<int64_t> offset = StartOffset(request_.page_token(), 0, fingerprint_);
  if (!offset.ok()) return offset.status();
  offset_ = *offset;
  return absl::OkStatus();
}

void ListResultSetsOperation::Begin() {
  upstream::UpstreamRequest request;
  request.endpoint = upstream::Endpoint::kListResultSets;
  request.args.batch = batch_id_;
  request.max_body_bytes = 8 << 20;  // design §2.12: list pages
  SendRead(std::move(request));
}

absl::optional<absl::Status> ListResultSetsOperation::Take(const Envelope& env,
                                                           const upstream::HttpResult& result,
                                                           const ClassifyContext& context) {
  auto results = env.json.find("results");
  if (results == env.json.end() || !results->is_array()) {
    return BadResponse(context, result, "no list of result sets");
  }
  const size_t total = results->size();
  const PageSlice slice = SliceWhole(offset_, page_size_, total);
  for (size_t i = slice.begin; i < slice.end; ++i) {
    v1::ResultSet* set = response_.add_result_sets();
    if (!MapResultSet((*results)[i], batch_id_, set).ok()) {
      return BadResponse(context, result, "a result set without a valid id");
    }
    // Links come from GetResultSet and ExportResultSet, where they are checked.
    set->clear_download_links();
  }
  response_.set_total_size(static_cast<int32_t>(std::min<size_t>(total, kInt32Max)));
  if (slice.has_next)
    response_.set_next_page_token(EncodePageToken(fingerprint_, slice.next_offset));
  return absl::OkStatus();
}

GetResultSetOperation::GetResultSetOperation(UpstreamCaller* caller, std::string name,
                                             absl::Time deadline, const DownloadLinkPolicy* links)
    : ReadOperation(caller, deadline, kGetRules, links),
      raw_name_(std::move(name)),
      format_(v1::EXPORT_FORMAT_JSON),
      exporting_(false) {}

GetResultSetOperation::GetResultSetOperation(UpstreamCaller* caller,
                                             const v1::ExportResultSetRequest& request,
                                             absl::Time deadline, const DownloadLinkPolicy* links)
    : ReadOperation(caller, deadline, kGetRules, links),
      raw_name_(request.name()),
      format_(request.format()),
      csv_fields_(request.csv_fields().begin(), request.csv_fields().end()),
      exporting_(true) {}

absl::Status GetResultSetOperation::Validate() {
  absl::StatusOr<ResultSetName> name = ParseResultSetName(raw_name_, "name");
  if (!name.ok()) return name.status();
  name_ = std::move(*name);
  batch_id_ = name_.batch_id;
  what_ = absl::StrCat("result set ", name_.result_set_id, " of batch ", batch_id_);
  if (format_ != v1::EXPORT_FORMAT_UNSPECIFIED && format_ != v1::EXPORT_FORMAT_JSON &&
      format_ != v1::EXPORT_FORMAT_JSON_LINES && format_ != v1::EXPORT_FORMAT_CSV) {
    return ErrorBuilder(absl::StatusCode::kInvalidArgument,
                        "invalid format: give JSON, JSON_LINES or CSV", reason::kUnsupportedFormat)
        .BadRequestField("format", "not a known ExportFormat");
  }
  return ValidateCsvFields(csv_fields_, format_);
}

void GetResultSetOperation::Begin() {
  upstream::UpstreamRequest request;
  request.endpoint = format_ == v1::EXPORT_FORMAT_CSV ? upstream::Endpoint::kGetResultSetCsv
                     : format_ == v1::EXPORT_FORMAT_JSON_LINES
                         ? upstream::Endpoint::kGetResultSetJsonLines
                         : upstream::Endpoint::kGetResultSet;
  request.args.batch = batch_id_;
  request.args.result_set = name_.result_set_id;
  if (!csv_fields_.empty())
    request.query.emplace_back("csv_fields", absl::StrJoin(csv_fields_, ","));
  SendRead(std::move(request));
}

absl::Status GetResultSetOperation::Refine(absl::Status error, const upstream::HttpResult& result) {
  if (ReasonOf(error) != reason::kBatchNotFound) return error;
  // SerpWow's words tell a missing batch from a missing (or expired) result
  // set; without words about the batch, it is the result set.
  const nlohmann::json body = nlohmann::json::parse(result.body, nullptr, false);
  std::string message;
  if (body.is_object()) {
    auto info = body.find("request_info");
    if (info != body.end() && info->is_object()) {
      auto m = info->find("message");
      if (m != info->end() && m->is_string())
        message = absl::AsciiStrToLower(m->get<std::string>());
    }
  }
  const bool about_batch = absl::StrContains(message, "batch with id");
  if (about_batch && !absl::StrContains(message, "result")) return error;
  const std::string name = absl::StrCat("batches/", batch_id_, "/resultSets/", name_.result_set_id);
  return ErrorBuilder(absl::StatusCode::kNotFound,
                      absl::StrCat("result set ", name_.result_set_id, " of batch ", batch_id_,
                                   " was not found: the run has none, or it expired (",
                                   kResultSetRetention, ")"),
                      reason::kResultSetNotFound)
      .Metadata("batch_id", batch_id_)
      .Metadata("result_set_id", name_.result_set_id)
      .Resource("serpwow.com/ResultSet", name,
                absl::StrCat("no such result set; ", kResultSetRetention));
}

absl::optional<absl::Status> GetResultSetOperation::Take(const Envelope& env,
                                                         const upstream::HttpResult& result,
                                                         const ClassifyContext& context) {
  auto object = env.json.find("result");
  if (object == env.json.end() || !object->is_object()) {
    return BadResponse(context, result, "no result set object");
  }
  if (!MapResultSet(*object, batch_id_, &result_set_).ok()) {
    return BadResponse(context, result, "a result set without a valid id");
  }
  if (std::to_string(result_set_.result_set_id()) != name_.result_set_id) {
    // Never hand the caller another result set than the one it asked for.
    return BadResponse(context, result, "another result set than the one asked for");
  }
  if (absl::Status s = CheckLinks(result_set_.download_links()); !s.ok()) return s;
  if (exporting_) {
    export_.set_format(format_ == v1::EXPORT_FORMAT_UNSPECIFIED ? v1::EXPORT_FORMAT_JSON : format_);
    *export_.mutable_download_links() = result_set_.download_links();
    if (result_set_.has_expire_time()) *export_.mutable_expire_time() = result_set_.expire_time();
  }
  return absl::OkStatus();
}

}  // namespace serpwow::logic
