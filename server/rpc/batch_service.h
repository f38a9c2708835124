// BatchServiceImpl: the gRPC handlers (callback API). Each handler turns the
// request into a domain call, and the domain result back into a response or
// a grpc::Status; it never blocks a gRPC thread. The upstream work runs on
// the HttpLoop thread; the reactor is finished from there (or from OnCancel
// when the caller cancels or its deadline passes, which also aborts the
// upstream transfer).
#pragma once

#include "serpwow/batches/v1/batch_service.grpc.pb.h"
#include "server/logic/stop_batch.h"

namespace serpwow::rpc {

class BatchServiceImpl final : public serpwow::batches::v1::BatchService::CallbackService {
 public:
  // `stopper` must outlive the service.
  explicit BatchServiceImpl(logic::BatchStopper* stopper) : stopper_(stopper) {}

  grpc::ServerUnaryReactor* StopBatch(grpc::CallbackServerContext* context,
                                      const serpwow::batches::v1::StopBatchRequest* request,
                                      serpwow::batches::v1::StopBatchResponse* response) override;

 private:
  logic::BatchStopper* const stopper_;
};

}  // namespace serpwow::rpc
