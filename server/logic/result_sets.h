// ListResultSets, GetResultSet and ExportResultSet, the service logic. Each
// validates the caller's name first (nothing is sent when it fails), reads
// SerpWow once (a read: retried on unavailable-class failures and 429 within
// the deadline) and maps the result sets (resource_mapping.h). Every download
// link passed on is checked (download_links.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "serpwow/batches/v1/batch_service.pb.h"
#include "server/logic/batch_id.h"
#include "server/logic/read_operation.h"

namespace serpwow::logic {

// The message of RESULT_SET_NOT_FOUND says why a result set may be gone.
inline constexpr char kResultSetRetention[] = "SerpWow keeps result sets for 14 days";

// Result sets are read whole (SerpWow does not page them) and sliced.
inline constexpr int32_t kDefaultResultSetPageSize = 50;
inline constexpr int32_t kMaxResultSetPageSize = 1000;

class ListResultSetsOperation final : public ReadOperation {
 public:
  ListResultSetsOperation(UpstreamCaller* caller,
                          const serpwow::batches::v1::ListResultSetsRequest& request,
                          absl::Time deadline);
  const serpwow::batches::v1::ListResultSetsResponse& result() const { return response_; }

 private:
  absl::Status Validate() override;
  void Begin() override;
  absl::optional<absl::Status> Take(const Envelope& env, const upstream::HttpResult& result,
                                    const ClassifyContext& context) override;

  const serpwow::batches::v1::ListResultSetsRequest request_;
  uint64_t fingerprint_ = 0;
  int64_t offset_ = 0;
  int32_t page_size_ = 0;
  serpwow::batches::v1::ListResultSetsResponse response_;
};

// GetResultSet (format JSON, result: the ResultSet) and ExportResultSet (any
// format, result: the ExportResultSetResponse) share one flow.
class GetResultSetOperation final : public ReadOperation {
 public:
  // GetResultSet.
  GetResultSetOperation(UpstreamCaller* caller, std::string name, absl::Time deadline,
                        const DownloadLinkPolicy* links);
  // ExportResultSet.
  GetResultSetOperation(UpstreamCaller* caller,
                        const serpwow::batches::v1::ExportResultSetRequest& request,
                        absl::Time deadline, const DownloadLinkPolicy* links);

  const serpwow::batches::v1::ResultSet& result() const { return result_set_; }
  const serpwow::batches::v1::ExportResultSetResponse& export_result() const { return export_; }
  const std::string& result_set_id() const { return name_.result_set_id; }

 private:
  absl::Status Validate() override;
  void Begin() override;
  absl::optional<absl::Status> Take(const Envelope& env, const upstream::HttpResult& result,
                                    const ClassifyContext& context) override;
  absl::Status Refine(absl::Status error, const upstream::HttpResult& result) override;

  const std::string raw_name_;
  const serpwow::batches::v1::ExportFormat format_;
  const std::vector<std::string> csv_fields_;
  const bool exporting_;
  ResultSetName name_;
  serpwow::batches::v1::ResultSet result_set_;
  serpwow::batches::v1::ExportResultSetResponse export_;
};

// csv_fields as ExportResultSetRequest documents them: OK, or
// INVALID_ARGUMENT INVALID_FIELD with the BadRequest path "csv_fields[i]"
// (or "csv_fields" when there are more than 100, or with another format).
absl::Status ValidateCsvFields(const std::vector<std::string>& fields,
                               serpwow::batches::v1::ExportFormat format);

}  // namespace serpwow::logic
