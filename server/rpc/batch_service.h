// BatchServiceImpl: the gRPC handlers. Each RPC is a row: a traits type in
// batch_service.cc that turns its request into a logic::Operation and the
// operation's result into its response, run by the one UnaryReactor
// (unary_reactor.h), which does auth, request ids, deadlines, cancellation,
// metrics, the log line and the status mapping for all of them.
#pragma once

#include "serpwow/batches/v1/batch_service.grpc.pb.h"
#include "server/rpc/unary_reactor.h"

namespace serpwow::rpc {

class BatchServiceImpl final : public serpwow::batches::v1::BatchService::CallbackService {
 public:
  explicit BatchServiceImpl(RpcDeps deps) : deps_(deps) {}

  grpc::ServerUnaryReactor* StopBatch(grpc::CallbackServerContext* context,
                                      const serpwow::batches::v1::StopBatchRequest* request,
                                      serpwow::batches::v1::StopBatchResponse* response) override;
  grpc::ServerUnaryReactor* GetBatch(grpc::CallbackServerContext* context,
                                     const serpwow::batches::v1::GetBatchRequest* request,
                                     serpwow::batches::v1::Batch* response) override;
  grpc::ServerUnaryReactor* ListBatches(
      grpc::CallbackServerContext* context, const serpwow::batches::v1::ListBatchesRequest* request,
      serpwow::batches::v1::ListBatchesResponse* response) override;
  // The read RPCs of the account, result sets and searches.
  grpc::ServerUnaryReactor* GetAccount(grpc::CallbackServerContext* context,
                                       const serpwow::batches::v1::GetAccountRequest* request,
                                       serpwow::batches::v1::Account* response) override;
  grpc::ServerUnaryReactor* ListResultSets(
      grpc::CallbackServerContext* context,
      const serpwow::batches::v1::ListResultSetsRequest* request,
      serpwow::batches::v1::ListResultSetsResponse* response) override;
  grpc::ServerUnaryReactor* GetResultSet(grpc::CallbackServerContext* context,
                                         const serpwow::batches::v1::GetResultSetRequest* request,
                                         serpwow::batches::v1::ResultSet* response) override;
  grpc::ServerUnaryReactor* ExportResultSet(
      grpc::CallbackServerContext* context,
      const serpwow::batches::v1::ExportResultSetRequest* request,
      serpwow::batches::v1::ExportResultSetResponse* response) override;
  grpc::ServerUnaryReactor* ExportSearches(
      grpc::CallbackServerContext* context,
      const serpwow::batches::v1::ExportSearchesRequest* request,
      serpwow::batches::v1::ExportSearchesResponse* response) override;
  grpc::ServerUnaryReactor* ListSearches(
      grpc::CallbackServerContext* context,
      const serpwow::batches::v1::ListSearchesRequest* request,
      serpwow::batches::v1::ListSearchesResponse* response) override;
  grpc::ServerUnaryReactor* CreateBatch(grpc::CallbackServerContext* context,
                                        const serpwow::batches::v1::CreateBatchRequest* request,
                                        serpwow::batches::v1::Batch* response) override;
  grpc::ServerUnaryReactor* UpdateBatch(grpc::CallbackServerContext* context,
                                        const serpwow::batches::v1::UpdateBatchRequest* request,
                                        serpwow::batches::v1::Batch* response) override;
  grpc::ServerUnaryReactor* DeleteBatch(grpc::CallbackServerContext* context,
                                        const serpwow::batches::v1::DeleteBatchRequest* request,
                                        google::protobuf::Empty* response) override;
  grpc::ServerUnaryReactor* StopAllBatches(
      grpc::CallbackServerContext* context,
      const serpwow::batches::v1::StopAllBatchesRequest* request,
      serpwow::batches::v1::StopAllBatchesResponse* response) override;
  grpc::ServerUnaryReactor* StartBatch(grpc::CallbackServerContext* context,
                                       const serpwow::batches::v1::StartBatchRequest* request,
                                       serpwow::batches::v1::StartBatchResponse* response) override;
  // The one streaming RPC (watch_reactor.h).
  grpc::ServerWriteReactor<serpwow::batches::v1::WatchBatchEvent>* WatchBatch(
      grpc::CallbackServerContext* context,
      const serpwow::batches::v1::WatchBatchRequest* request) override;
  // The search calls (logic/search_mutations.h).
  grpc::ServerUnaryReactor* AddSearches(
      grpc::CallbackServerContext* context, const serpwow::batches::v1::AddSearchesRequest* request,
      serpwow::batches::v1::AddSearchesResponse* response) override;
  grpc::ServerUnaryReactor* UpdateSearch(grpc::CallbackServerContext* context,
                                         const serpwow::batches::v1::UpdateSearchRequest* request,
                                         serpwow::batches::v1::Search* response) override;
  grpc::ServerUnaryReactor* DeleteSearch(grpc::CallbackServerContext* context,
                                         const serpwow::batches::v1::DeleteSearchRequest* request,
                                         google::protobuf::Empty* response) override;
  grpc::ServerUnaryReactor* BatchDeleteSearches(
      grpc::CallbackServerContext* context,
      const serpwow::batches::v1::BatchDeleteSearchesRequest* request,
      google::protobuf::Empty* response) override;
  grpc::ServerUnaryReactor* PurgeSearches(
      grpc::CallbackServerContext* context,
      const serpwow::batches::v1::PurgeSearchesRequest* request,
      serpwow::batches::v1::PurgeSearchesResponse* response) override;

 private:
  const RpcDeps deps_;
};

}  // namespace serpwow::rpc
