// The one place where absl::Status becomes grpc::Status (the handler edge).
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace serpwow::rpc {

// Same code and message; the status's google.rpc payloads (see
// server/logic/errors.h) become a google.rpc.Status in the details, ErrorInfo
// first. An error without an ErrorInfo gets one (reason = the code's name), so
// every non-OK status a caller sees has one.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace serpwow::rpc
