// BatchServiceImpl: the gRPC handlers (callback API). Each handler turns the
// request into a domain call, and the domain result back into a response or
// a grpc::Status; it never blocks a gRPC thread. The upstream work runs on
// the HttpLoop thread; the reactor is finished from there (or from OnCancel
// when the caller cancels or its deadline passes, which also aborts the
// upstream transfer, or from a shutdown that ends the calls still waiting).
//
// Per call: the caller's bearer token is checked (when auth is on) before
// anything else; the request id is taken from `x-request-id` metadata (or
// generated) and sent back in the initial metadata; one JSON log line and the
// RPC metrics are written when the call ends.
#pragma once

#include "serpwow/batches/v1/batch_service.grpc.pb.h"
#include "server/logic/stop_batch.h"
#include "server/metrics.h"
#include "server/rpc/caller_auth.h"

namespace serpwow::rpc {

inline constexpr char kRequestIdKey[] = "x-request-id";

// The caller's request id if it is 1-128 chars of [A-Za-z0-9._:-], else a new
// random one (32 hex digits).
std::string RequestIdFrom(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata);

class BatchServiceImpl final : public serpwow::batches::v1::BatchService::CallbackService {
 public:
  // `stopper` and `metrics` must outlive the service; `auth` may be null
  // (no caller authentication).
  BatchServiceImpl(logic::BatchStopper* stopper, GatewayMetrics* metrics, const CallerAuth* auth)
      : stopper_(stopper), metrics_(metrics), auth_(auth) {}

  grpc::ServerUnaryReactor* StopBatch(grpc::CallbackServerContext* context,
                                      const serpwow::batches::v1::StopBatchRequest* request,
                                      serpwow::batches::v1::StopBatchResponse* response) override;

 private:
  logic::BatchStopper* const stopper_;
  GatewayMetrics* const metrics_;
  const CallerAuth* const auth_;
};

}  // namespace serpwow::rpc
