// What batchctl prints, as pure functions (unit-tested without a server).
#pragma once

#include <grpcpp/support/status.h>

#include <string>

#include "serpwow/batches/v1/batch_service.pb.h"

namespace serpwow::client {

// Exit status for a finished call: 0 for OK, else the gRPC code's number
// (1 CANCELLED ... 16 UNAUTHENTICATED). Usage errors exit with kExitUsage.
inline constexpr int kExitUsage = 64;
int ExitCodeFor(grpc::StatusCode code);

// "stopped batch 9E867FAA (was queued): credits refunded"
std::string FormatStopped(const serpwow::batches::v1::StopBatchResponse& response);

// "FAILED_PRECONDITION (BATCH_NOT_STOPPABLE): batch X is not queued ... [retry after 2s]"
// The reason and retry delay come from the google.rpc.Status details.
std::string FormatError(const grpc::Status& status);

// A describe block for a person, one "key: value" line per field that says
// something (unset fields are left out):
//   batch 9E867FAA "Nightly": queued
//     schedule:      weekly on mon, wed at 09:00, 17:00
//     ...
std::string FormatBatch(const serpwow::batches::v1::Batch& batch);

// Proto JSON of a response (every field, default values included).
std::string MessageJson(const google::protobuf::Message& message);
std::string StoppedJson(const serpwow::batches::v1::StopBatchResponse& response);

// Proto JSON of the google.rpc.Status carried by `status` (code, message,
// details), or of code and message alone when it carries none.
std::string ErrorJson(const grpc::Status& status);

// "OK", "INVALID_ARGUMENT", ...
std::string CodeName(grpc::StatusCode code);

}  // namespace serpwow::client
