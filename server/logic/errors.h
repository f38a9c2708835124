// Building and reading errors that carry google.rpc details.
//
// Inside the gateway an error is an absl::Status. Its payloads, keyed by the
// type URL "type.googleapis.com/google.rpc.<Detail>", hold the serialized
// google.rpc detail messages: exactly one ErrorInfo (domain "serpwow.com",
// a stable upper-case reason) and the detail that fits the code. The gRPC
// edge (server/rpc/grpc_status.h) packs them into google.rpc.Status.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "google/rpc/error_details.pb.h"

namespace serpwow::logic {

inline constexpr char kErrorDomain[] = "serpwow.com";
inline constexpr char kTypeUrlPrefix[] = "type.googleapis.com/";

// The stable reasons (ErrorInfo.reason). Clients may switch on these.
namespace reason {
inline constexpr char kInvalidBatchId[] = "INVALID_BATCH_ID";
inline constexpr char kBatchNotStoppable[] = "BATCH_NOT_STOPPABLE";
inline constexpr char kBatchNotFound[] = "BATCH_NOT_FOUND";
inline constexpr char kUpstreamAuthFailed[] = "UPSTREAM_AUTH_FAILED";
inline constexpr char kCreditsExhausted[] = "CREDITS_EXHAUSTED";
inline constexpr char kRateLimited[] = "RATE_LIMITED";
inline constexpr char kUpstreamUnavailable[] = "UPSTREAM_UNAVAILABLE";
inline constexpr char kUpstreamTimeout[] = "UPSTREAM_TIMEOUT";
inline constexpr char kDeadlineExceeded[] = "DEADLINE_EXCEEDED";
inline constexpr char kCancelled[] = "CANCELLED";
inline constexpr char kUpstreamBadResponse[] = "UPSTREAM_BAD_RESPONSE";
inline constexpr char kUpstreamRejected[] = "UPSTREAM_REJECTED";
inline constexpr char kUpstreamRouteNotFound[] = "UPSTREAM_ROUTE_NOT_FOUND";
inline constexpr char kUpstreamRedirect[] = "UPSTREAM_REDIRECT";
inline constexpr char kShuttingDown[] = "SHUTTING_DOWN";
inline constexpr char kCallerUnauthenticated[] = "CALLER_UNAUTHENTICATED";
inline constexpr char kGatewayOverloaded[] = "GATEWAY_OVERLOADED";
inline constexpr char kCircuitOpen[] = "CIRCUIT_OPEN";
inline constexpr char kInvalidName[] = "INVALID_NAME";
inline constexpr char kMetadataTooLarge[] = "METADATA_TOO_LARGE";
// Caller input: a malformed field (the List RPCs' skip, a batch mutation's
// values), and the List RPCs' token of another query, negative page size,
// filter and order_by.
inline constexpr char kInvalidField[] = "INVALID_FIELD";
inline constexpr char kInvalidPageToken[] = "INVALID_PAGE_TOKEN";
inline constexpr char kInvalidPageSize[] = "INVALID_PAGE_SIZE";
inline constexpr char kInvalidFilter[] = "INVALID_FILTER";
inline constexpr char kInvalidOrderBy[] = "INVALID_ORDER_BY";
// Batch mutations (issue #11).
inline constexpr char kInvalidUpdateMask[] = "INVALID_UPDATE_MASK";
inline constexpr char kInvalidRequestId[] = "INVALID_REQUEST_ID";
inline constexpr char kRequestIdReused[] = "REQUEST_ID_REUSED";
inline constexpr char kUpstreamInvalidArgument[] = "UPSTREAM_INVALID_ARGUMENT";
inline constexpr char kBatchRunning[] = "BATCH_RUNNING";
inline constexpr char kBatchAlreadyActive[] = "BATCH_ALREADY_ACTIVE";
inline constexpr char kBatchNotEmpty[] = "BATCH_NOT_EMPTY";
inline constexpr char kBatchLimitReached[] = "BATCH_LIMIT_REACHED";
// A non-idempotent call may or may not have taken effect upstream and the
// gateway could not find out (UNKNOWN).
inline constexpr char kOutcomeUnknown[] = "OUTCOME_UNKNOWN";
// A bug in the gateway (e.g. it refused to build its own upstream request).
inline constexpr char kGatewayInternalError[] = "GATEWAY_INTERNAL_ERROR";
// The read RPCs of the account, result sets and searches.
inline constexpr char kUnsupportedFormat[] = "UNSUPPORTED_FORMAT";
inline constexpr char kResultSetNotFound[] = "RESULT_SET_NOT_FOUND";
// A download link SerpWow gave fails the gateway's check (download_links.h).
inline constexpr char kUnsafeDownloadLink[] = "UNSAFE_DOWNLOAD_LINK";
// The search calls (the per-batch search queue) and the watch.
inline constexpr char kTooManyItems[] = "TOO_MANY_ITEMS";
inline constexpr char kBatchSearchLimit[] = "BATCH_SEARCH_LIMIT";
inline constexpr char kSearchNotFound[] = "SEARCH_NOT_FOUND";
// ABORTED: the batch's search queue is full (AIP-151: a resource that does
// not permit parallel operations).
inline constexpr char kBatchBusy[] = "BATCH_BUSY";
}  // namespace reason

// Builds an error status with its google.rpc details.
class ErrorBuilder {
 public:
  ErrorBuilder(absl::StatusCode code, std::string message, std::string reason);

  // An empty value adds nothing (an account-wide call has no batch_id).
  ErrorBuilder& Metadata(const std::string& key, const std::string& value);
  ErrorBuilder& BadRequestField(const std::string& field, const std::string& description);
  ErrorBuilder& Precondition(const std::string& type, const std::string& subject,
                             const std::string& description);
  ErrorBuilder& Resource(const std::string& type, const std::string& name,
                         const std::string& description);
  ErrorBuilder& Quota(const std::string& subject, const std::string& description);
  ErrorBuilder& RetryAfter(absl::Duration delay);

  absl::Status Build() const;
  operator absl::Status() const { return Build(); }  // NOLINT: builder idiom

 private:
  absl::StatusCode code_;
  std::string message_;
  google::rpc::ErrorInfo info_;
  absl::optional<google::rpc::BadRequest> bad_request_;
  absl::optional<google::rpc::PreconditionFailure> precondition_;
  absl::optional<google::rpc::ResourceInfo> resource_;
  absl::optional<google::rpc::QuotaFailure> quota_;
  absl::optional<google::rpc::RetryInfo> retry_;
};

// The type URL of a message type, e.g. "type.googleapis.com/google.rpc.ErrorInfo".
std::string TypeUrlOf(const std::string& full_name);

// Reads a detail back out of a status (nullopt when absent or unparsable).
template <typename Detail>
absl::optional<Detail> GetDetail(const absl::Status& status) {
  absl::optional<absl::Cord> payload =
      status.GetPayload(TypeUrlOf(Detail::descriptor()->full_name()));
  if (!payload.has_value()) return absl::nullopt;
  Detail detail;
  if (!detail.ParseFromString(std::string(*payload))) return absl::nullopt;
  return detail;
}

// The ErrorInfo reason of `status`, or "" when it has none.
std::string ReasonOf(const absl::Status& status);

}  // namespace serpwow::logic
