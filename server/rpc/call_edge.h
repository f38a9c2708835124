// What every reactor does at the edge, whatever the RPC's shape (the unary
// reactor, unary_reactor.h, and the watch stream's, watch_reactor.h): the
// admission of a call (the size of its metadata, the caller's bearer token,
// the refusal of new calls at shutdown), its deadline, and the status a
// cancel ends it with. One copy, so every shape answers the same.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/logic/errors.h"
#include "server/logic/upstream_caller.h"
#include "server/metrics.h"
#include "server/rpc/caller_auth.h"
#include "server/rpc/cancel_cause.h"
#include "server/rpc/shutdown_gate.h"

namespace serpwow::rpc {

// The size of a call's metadata as HTTP/2 counts it (RFC 7540 §6.5.2:
// name + value + 32 per field), the way SETTINGS_MAX_HEADER_LIST_SIZE does.
size_t MetadataSize(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata);

inline absl::Time DeadlineOf(const grpc::CallbackServerContext* context) {
  auto deadline = context->deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return absl::InfiniteFuture();
  return absl::FromChrono(deadline);
}

// OK, or why the call is refused before any work: RESOURCE_EXHAUSTED
// METADATA_TOO_LARGE, the caller auth's answer (`auth` null: none), or
// UNAVAILABLE SHUTTING_DOWN while `gate` (may be null) refuses calls
// (recorded there for the refusal window). `log_id`: the batch id safe to
// put in the SHUTTING_DOWN details, or "".
inline absl::Status AdmitCall(const grpc::CallbackServerContext& context, size_t max_metadata_bytes,
                              const CallerAuth* auth, ShutdownGate* gate,
                              const std::string& log_id) {
  if (const size_t size = MetadataSize(context.client_metadata()); size > max_metadata_bytes) {
    return logic::ErrorBuilder(
        absl::StatusCode::kResourceExhausted,
        absl::StrCat("the call's metadata is ", size, " bytes; this server accepts at most ",
                     max_metadata_bytes, " per call"),
        logic::reason::kMetadataTooLarge);
  }
  if (auth != nullptr) {
    if (absl::Status allowed = auth->Check(context.client_metadata()); !allowed.ok()) {
      return allowed;
    }
  }
  if (gate != nullptr && gate->refusing()) {  // shutting down (shutdown_gate.h)
    gate->Refused(absl::Now());
    return logic::ShuttingDownError(log_id);
  }
  return absl::OkStatus();
}

// What a cancel ends a call with: usually the caller's own deadline timer,
// which fires before ours (cancel_cause.h), DEADLINE_EXCEEDED; a cancel well
// before the deadline is the caller's, CANCELLED.
inline absl::Status CancelStatus(RpcMethod method, absl::Time start, absl::Time deadline) {
  if (CancelIsTheDeadline(start, deadline, absl::Now())) {
    return logic::ErrorBuilder(
        absl::StatusCode::kDeadlineExceeded,
        absl::StrCat("the call's deadline passed (", RpcMethodName(method), ")"),
        logic::reason::kDeadlineExceeded);
  }
  return logic::ErrorBuilder(absl::StatusCode::kCancelled, "the call was cancelled",
                             logic::reason::kCancelled);
}

}  // namespace serpwow::rpc
