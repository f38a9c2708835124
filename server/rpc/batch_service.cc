#include "server/rpc/batch_service.h"

#include <memory>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/logic/account.h"
#include "server/logic/batch_id.h"
#include "server/logic/create_batch.h"
#include "server/logic/delete_batch.h"
#include "server/logic/errors.h"
#include "server/logic/get_batch.h"
#include "server/logic/list_batches.h"
#include "server/logic/result_sets.h"
#include "server/logic/search_mutations.h"
#include "server/logic/searches.h"
#include "server/logic/start_batch.h"
#include "server/logic/stop_all_batches.h"
#include "server/logic/stop_batch.h"
#include "server/logic/update_batch.h"
#include "server/rpc/watch_reactor.h"

namespace serpwow::rpc {
namespace {

namespace v1 = serpwow::batches::v1;

v1::BatchStatus ToProto(logic::BatchStatus status) {
  switch (status) {
    case logic::BatchStatus::kIdle:
      return v1::BATCH_STATUS_IDLE;
    case logic::BatchStatus::kQueued:
      return v1::BATCH_STATUS_QUEUED;
    case logic::BatchStatus::kRunning:
      return v1::BATCH_STATUS_RUNNING;
    case logic::BatchStatus::kUnknown:
      break;
  }
  return v1::BATCH_STATUS_UNSPECIFIED;
}

v1::RefundBasis ToProto(logic::RefundBasis basis) {
  switch (basis) {
    case logic::RefundBasis::kStopReply:
      return v1::REFUND_BASIS_STOP_REPLY;
    case logic::RefundBasis::kPreRead:
      return v1::REFUND_BASIS_PRE_READ;
    case logic::RefundBasis::kUnknown:
      return v1::REFUND_BASIS_UNKNOWN;
  }
  return v1::REFUND_BASIS_UNSPECIFIED;
}

bool RequestIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '-';
}

// The id of a valid "batches/{id}", else "": only a valid id is ever logged
// (raw input may hold control characters).
std::string BatchIdOfName(const std::string& name) {
  absl::StatusOr<std::string> id = logic::ParseBatchName(name, "name");
  return id.ok() ? *id : "";
}

// The search queue's log fields of a queued call (logic/search_queue.h).
template <typename Op>
void LogQueue(const Op& op, LogRecord& record) {
  if (!op.queued()) return;
  const logic::SearchQueue::Grant grant = op.grant();
  record.Double("queue_wait_ms", absl::ToDoubleMilliseconds(grant.waited))
      .Int("queue_position", static_cast<int64_t>(grant.position));
}

// The batch of a valid "batches/{id}/searches/{search_id}", else "".
std::string BatchOfSearch(const std::string& name) {
  absl::StatusOr<logic::SearchName> parsed = logic::ParseSearchName(name, "name");
  return parsed.ok() ? parsed->batch_id : "";
}

// Only a valid id is ever logged: raw input may hold control characters.
struct StopBatchRpc {
  using Request = v1::StopBatchRequest;
  using Response = v1::StopBatchResponse;
  using Op = logic::StopBatchOperation;
  static constexpr RpcMethod kMethod = RpcMethod::kStopBatch;

  static std::shared_ptr<Op> Make(const Request& request, absl::Time deadline,
                                  const RpcDeps& deps) {
    return std::make_shared<Op>(deps.caller, deps.stop_batch, request.batch_id(), request.name(),
                                deadline);
  }
  static std::string LogId(const Request& request) {
    absl::StatusOr<std::string> id = logic::StopBatchTarget(request.batch_id(), request.name());
    return id.ok() ? *id : "";
  }
  static void Fill(const Op& op, Response* response) {
    const logic::StopBatchResult& r = op.result();
    response->set_batch_id(r.batch_id);
    response->set_credits_refunded(r.credits_refunded);
    response->set_previous_status(ToProto(r.previous_status));
    response->set_message(r.message);
    response->set_refund_basis(ToProto(r.refund_basis));
  }
  static void Log(const Op& op, LogRecord& record) {
    record.Str("previous_status", logic::BatchStatusName(op.result().previous_status))
        .Bool("credits_refunded", op.result().credits_refunded);
  }
};

// Only a valid id is ever logged: raw input may hold control characters.
struct GetBatchRpc {
  using Request = v1::GetBatchRequest;
  using Response = v1::Batch;
  using Op = logic::GetBatchOperation;
  static constexpr RpcMethod kMethod = RpcMethod::kGetBatch;

  static std::shared_ptr<Op> Make(const Request& request, absl::Time deadline,
                                  const RpcDeps& deps) {
    return std::make_shared<Op>(deps.caller, request.name(), deadline);
  }
  static std::string LogId(const Request& request) { return BatchIdOfName(request.name()); }
  static void Fill(const Op& op, Response* response) { *response = op.result(); }
  static void Log(const Op& op, LogRecord& record) {
    record.Str("status", v1::BatchStatus_Name(op.result().status()));
  }
};

// The request metadata that skips the List cache, and the initial metadata a
// cached answer carries.
constexpr char kCacheControlKey[] = "x-serpwow-cache";
constexpr char kCacheAgeKey[] = "x-serpwow-cache-age-ms";

struct ListBatchesRpc {
  using Request = v1::ListBatchesRequest;
  using Response = v1::ListBatchesResponse;
  using Op = logic::ListBatchesOperation;
  static constexpr RpcMethod kMethod = RpcMethod::kListBatches;

  static std::shared_ptr<Op> Make(const Request& request, absl::Time deadline, const RpcDeps& deps,
                                  const grpc::CallbackServerContext& context) {
    logic::ListBatchesParams params;
    params.page_size = request.page_size();
    params.page_token = request.page_token();
    params.filter = request.filter();
    params.order_by = request.order_by();
    params.skip = request.skip();
    auto range = context.client_metadata().equal_range(kCacheControlKey);
    for (auto it = range.first; it != range.second; ++it) {
      params.bypass_cache = params.bypass_cache || it->second == "no-cache";
    }
    return std::make_shared<Op>(deps.caller, deps.list_pacer, std::move(params), deadline);
  }
  static std::string LogId(const Request&) { return ""; }  // account-wide
  static void Fill(const Op& op, Response* response) {
    const logic::ListBatchesResult& r = op.result();
    for (const v1::Batch& batch : r.batches) *response->add_batches() = batch;
    response->set_next_page_token(r.next_page_token);
    response->set_total_size(static_cast<int32_t>(r.total_size));
  }
  static void InitialMetadata(const Op& op, grpc::CallbackServerContext* context) {
    if (op.result().cache_age) {
      context->AddInitialMetadata(kCacheAgeKey,
                                  absl::StrCat(absl::ToInt64Milliseconds(*op.result().cache_age)));
    }
  }
  static void Log(const Op& op, LogRecord& record) {
    record.Int("batches", static_cast<int64_t>(op.result().batches.size()))
        .Int("total_size", op.result().total_size)
        .Str("cache", op.result().cache);
  }
};

// The read RPCs of the account, result sets and searches. LogId: only a
// validated batch id, as above.
std::string BatchOfResultSet(const std::string& name) {
  absl::StatusOr<logic::ResultSetName> parsed = logic::ParseResultSetName(name, "name");
  return parsed.ok() ? parsed->batch_id : "";
}

struct GetAccountRpc {
  using Request = v1::GetAccountRequest;
  using Response = v1::Account;
  using Op = logic::GetAccountOperation;
  static constexpr RpcMethod kMethod = RpcMethod::kGetAccount;

  static std::shared_ptr<Op> Make(const Request& request, absl::Time deadline,
                                  const RpcDeps& deps) {
    return std::make_shared<Op>(deps.caller, request.name(), deadline);
  }
  static std::string LogId(const Request&) { return ""; }
  static void Fill(const Op& op, Response* response) { *response = op.result(); }
  static void Log(const Op&, LogRecord&) {}
};

struct ListResultSetsRpc {
  using Request = v1::ListResultSetsRequest;
  using Response = v1::ListResultSetsResponse;
  using Op = logic::ListResultSetsOperation;
  static constexpr RpcMethod kMethod = RpcMethod::kListResultSets;

  static std::shared_ptr<Op> Make(const Request& request, absl::Time deadline,
                                  const RpcDeps& deps) {
    return std::make_shared<Op>(deps.caller, request, deadline);
  }
  static std::string LogId(const Request& request) { return BatchIdOfName(request.parent()); }
  static void Fill(const Op& op, Response* response) { *response = op.result(); }
  static void Log(const Op& op, LogRecord& record) {
    record.Int("returned", op.result().result_sets_size());
  }
};

struct GetResultSetRpc {
  using Request = v1::GetResultSetRequest;
  using Response = v1::ResultSet;
  using Op = logic::GetResultSetOperation;
  static constexpr RpcMethod kMethod = RpcMethod::kGetResultSet;

  static std::shared_ptr<Op> Make(const Request& request, absl::Time deadline,
                                  const RpcDeps& deps) {
    return std::make_shared<Op>(deps.caller, request.name(), deadline, deps.download_links);
  }
  static std::string LogId(const Request& request) { return BatchOfResultSet(request.name()); }
  static void Fill(const Op& op, Response* response) { *response = op.result(); }
  static void Log(const Op& op, LogRecord& record) {
    record.Str("result_set_id", op.result_set_id());
  }
};

struct ExportResultSetRpc {
  using Request = v1::ExportResultSetRequest;
  using Response = v1::ExportResultSetResponse;
  using Op = logic::GetResultSetOperation;
  static constexpr RpcMethod kMethod = RpcMethod::kExportResultSet;

  static std::shared_ptr<Op> Make(const Request& request, absl::Time deadline,
                                  const RpcDeps& deps) {
    return std::make_shared<Op>(deps.caller, request, deadline, deps.download_links);
  }
  static std::string LogId(const Request& request) { return BatchOfResultSet(request.name()); }
  static void Fill(const Op& op, Response* response) { *response = op.export_result(); }
  static void Log(const Op& op, LogRecord& record) {
    record.Str("result_set_id", op.result_set_id())
        .Str("format", v1::ExportFormat_Name(op.export_result().format()));
  }
};

struct ExportSearchesRpc {
  using Request = v1::ExportSearchesRequest;
  using Response = v1::ExportSearchesResponse;
  using Op = logic::ExportSearchesOperation;
  static constexpr RpcMethod kMethod = RpcMethod::kExportSearches;

  static std::shared_ptr<Op> Make(const Request& request, absl::Time deadline,
                                  const RpcDeps& deps) {
    return std::make_shared<Op>(deps.caller, request, deadline, deps.download_links);
  }
  static std::string LogId(const Request& request) { return BatchIdOfName(request.parent()); }
  static void Fill(const Op& op, Response* response) { *response = op.result(); }
  static void Log(const Op& op, LogRecord& record) {
    record.Str("format", v1::ExportFormat_Name(op.result().format()));
  }
};

struct ListSearchesRpc {
  using Request = v1::ListSearchesRequest;
  using Response = v1::ListSearchesResponse;
  using Op = logic::ListSearchesOperation;
  static constexpr RpcMethod kMethod = RpcMethod::kListSearches;

  static std::shared_ptr<Op> Make(const Request& request, absl::Time deadline,
                                  const RpcDeps& deps) {
    return std::make_shared<Op>(deps.caller, deps.search_queue, request, deadline);
  }
  static std::string LogId(const Request& request) { return BatchIdOfName(request.parent()); }
  static void Fill(const Op& op, Response* response) { *response = op.result(); }
  static void Log(const Op& op, LogRecord& record) {
    record.Int("returned", op.result().searches_size());
    LogQueue(op, record);
  }
};

struct StartBatchRpc {
  using Request = v1::StartBatchRequest;
  using Response = v1::StartBatchResponse;
  using Op = logic::StartBatchOperation;
  static constexpr RpcMethod kMethod = RpcMethod::kStartBatch;

  static std::shared_ptr<Op> Make(const Request& request, absl::Time deadline,
                                  const RpcDeps& deps) {
    return std::make_shared<Op>(deps.caller, deps.dedupe, deps.mutations, request.name(),
                                request.request_id(), deadline);
  }
  static std::string LogId(const Request& request) { return BatchIdOfName(request.name()); }
  static void Fill(const Op& op, Response* response) {
    const logic::StartBatchResult& r = op.result();
    response->set_name(absl::StrCat("batches/", op.batch_id()));
    *response->mutable_batch() = r.batch;
    response->set_credits_reserved(r.credits_reserved);
    response->set_credits_basis(r.credits_known ? v1::CREDITS_BASIS_PRE_READ
                                                : v1::CREDITS_BASIS_UNKNOWN);
    response->set_result_set(r.result_set);
    response->set_message(r.message);
    response->set_reconciled(r.reconciled);
  }
  static void Log(const Op& op, LogRecord& record) {
    record.Int("credits_reserved", op.result().credits_reserved)
        .Bool("credits_known", op.result().credits_known);
  }
};

struct StopAllBatchesRpc {
  using Request = v1::StopAllBatchesRequest;
  using Response = v1::StopAllBatchesResponse;
  using Op = logic::StopAllBatchesOperation;
  static constexpr RpcMethod kMethod = RpcMethod::kStopAllBatches;

  static std::shared_ptr<Op> Make(const Request& request, absl::Time deadline,
                                  const RpcDeps& deps) {
    return std::make_shared<Op>(deps.caller, deps.list_pacer, deps.mutations,
                                request.validate_only(), deadline);
  }
  static std::string LogId(const Request&) { return ""; }  // account-wide
  static void Fill(const Op& op, Response* response) {
    const logic::StopAllResult& r = op.result();
    response->set_batches_stopped(static_cast<int32_t>(r.batches_stopped));
    response->set_batches_failed_to_stop(static_cast<int32_t>(r.batches_failed_to_stop));
    response->set_message(r.message);
    for (const logic::ListedBatch& b : r.batches) {
      v1::StopAllBatchesResponse::StoppedBatch* out = response->add_batches();
      out->set_name(absl::StrCat("batches/", b.batch_id));
      out->set_display_name(b.display_name);
      out->set_previous_status(ToProto(b.previous_status));
      out->set_credits_refunded(b.credits_refunded);
      out->set_credits_required(b.credits_required);
    }
    response->set_listing_complete(r.listing_complete);
    response->set_credits_refunded_estimate(r.credits_refunded_estimate);
    response->set_refund_basis(r.listing_complete ? v1::REFUND_BASIS_PRE_READ
                                                  : v1::REFUND_BASIS_UNKNOWN);
    response->set_retried(r.retried);
  }
  static void Log(const Op& op, LogRecord& record) {
    record.Int("batches_stopped", op.result().batches_stopped)
        .Int("batches_listed", static_cast<int64_t>(op.result().batches.size()))
        .Bool("listing_complete", op.result().listing_complete);
  }
};

struct CreateBatchRpc {
  using Request = v1::CreateBatchRequest;
  using Response = v1::Batch;
  using Op = logic::CreateBatchOperation;
  static constexpr RpcMethod kMethod = RpcMethod::kCreateBatch;

  static std::shared_ptr<Op> Make(const Request& request, absl::Time deadline,
                                  const RpcDeps& deps) {
    return std::make_shared<Op>(deps.caller, deps.list_pacer, deps.dedupe, deps.mutations,
                                request.batch(), request.request_id(), deadline);
  }
  static std::string LogId(const Request&) { return ""; }  // no id before SerpWow makes one
  static void Fill(const Op& op, Response* response) { *response = op.result(); }
  // The new batch's id as its own field: the call's batch_id is fixed at
  // validation (a cancel may read it from another thread).
  static void Log(const Op& op, LogRecord& record) {
    record.Str("created_batch_id", op.result().batch_id());
  }
};

struct DeleteBatchRpc {
  using Request = v1::DeleteBatchRequest;
  using Response = google::protobuf::Empty;
  using Op = logic::DeleteBatchOperation;
  static constexpr RpcMethod kMethod = RpcMethod::kDeleteBatch;

  static std::shared_ptr<Op> Make(const Request& request, absl::Time deadline,
                                  const RpcDeps& deps) {
    return std::make_shared<Op>(deps.caller, deps.mutations, request.name(), request.force(),
                                deadline);
  }
  static std::string LogId(const Request& request) { return BatchIdOfName(request.name()); }
  static void Fill(const Op&, Response*) {}
  static void Log(const Op& op, LogRecord& record) {
    record.Int("searches_deleted", op.result().searches_total_count())
        .Int("result_sets_deleted", op.result().results_count())
        .Bool("stopped_first", op.stopped_first());
  }
};

struct UpdateBatchRpc {
  using Request = v1::UpdateBatchRequest;
  using Response = v1::Batch;
  using Op = logic::UpdateBatchOperation;
  static constexpr RpcMethod kMethod = RpcMethod::kUpdateBatch;

  static std::shared_ptr<Op> Make(const Request& request, absl::Time deadline,
                                  const RpcDeps& deps) {
    return std::make_shared<Op>(deps.caller, deps.mutations, request.batch(), request.update_mask(),
                                deadline);
  }
  static std::string LogId(const Request& request) { return BatchIdOfName(request.batch().name()); }
  static void Fill(const Op& op, Response* response) { *response = op.result(); }
  static void Log(const Op& op, LogRecord& record) {
    std::string fields;
    for (const auto* f : op.fields())
      absl::StrAppend(&fields, fields.empty() ? "" : ",", f->name());
    record.Str("fields", fields);
  }
};

struct AddSearchesRpc {
  using Request = v1::AddSearchesRequest;
  using Response = v1::AddSearchesResponse;
  using Op = logic::AddSearchesOperation;
  static constexpr RpcMethod kMethod = RpcMethod::kAddSearches;

  static std::shared_ptr<Op> Make(const Request& request, absl::Time deadline,
                                  const RpcDeps& deps) {
    return std::make_shared<Op>(deps.caller, deps.search_queue, deps.dedupe, deps.mutations,
                                request, deadline);
  }
  static std::string LogId(const Request& request) { return BatchIdOfName(request.parent()); }
  static void Fill(const Op& op, Response* response) {
    *response->mutable_batch() = op.result().batch;
    response->set_added_count(op.result().added_count);
    response->set_reconciled(op.result().reconciled);
  }
  static void Log(const Op& op, LogRecord& record) {
    record.Int("added", op.result().added_count)
        .Int("searches_total_count", op.result().batch.searches_total_count());
    LogQueue(op, record);
  }
};

struct UpdateSearchRpc {
  using Request = v1::UpdateSearchRequest;
  using Response = v1::Search;
  using Op = logic::UpdateSearchOperation;
  static constexpr RpcMethod kMethod = RpcMethod::kUpdateSearch;

  static std::shared_ptr<Op> Make(const Request& request, absl::Time deadline,
                                  const RpcDeps& deps) {
    return std::make_shared<Op>(deps.caller, deps.search_queue, deps.mutations, request, deadline);
  }
  static std::string LogId(const Request& request) {
    return BatchOfSearch(request.search().name());
  }
  static void Fill(const Op& op, Response* response) { *response = op.result(); }
  static void Log(const Op& op, LogRecord& record) {
    record.Str("search_id", op.search_id());
    LogQueue(op, record);
  }
};

struct DeleteSearchRpc {
  using Request = v1::DeleteSearchRequest;
  using Response = google::protobuf::Empty;
  using Op = logic::DeleteSearchOperation;
  static constexpr RpcMethod kMethod = RpcMethod::kDeleteSearch;

  static std::shared_ptr<Op> Make(const Request& request, absl::Time deadline,
                                  const RpcDeps& deps) {
    return std::make_shared<Op>(deps.caller, deps.search_queue, deps.mutations, request.name(),
                                deadline);
  }
  static std::string LogId(const Request& request) { return BatchOfSearch(request.name()); }
  static void Fill(const Op&, Response*) {}
  static void Log(const Op& op, LogRecord& record) {
    record.Str("search_id", op.search_id());
    LogQueue(op, record);
  }
};

struct BatchDeleteSearchesRpc {
  using Request = v1::BatchDeleteSearchesRequest;
  using Response = google::protobuf::Empty;
  using Op = logic::BatchDeleteSearchesOperation;
  static constexpr RpcMethod kMethod = RpcMethod::kBatchDeleteSearches;

  static std::shared_ptr<Op> Make(const Request& request, absl::Time deadline,
                                  const RpcDeps& deps) {
    return std::make_shared<Op>(deps.caller, deps.search_queue, deps.dedupe, deps.mutations,
                                request, deadline);
  }
  static std::string LogId(const Request& request) { return BatchIdOfName(request.parent()); }
  static void Fill(const Op&, Response*) {}
  static void Log(const Op& op, LogRecord& record) {
    record.Int("deleted", op.result());
    LogQueue(op, record);
  }
};

struct PurgeSearchesRpc {
  using Request = v1::PurgeSearchesRequest;
  using Response = v1::PurgeSearchesResponse;
  using Op = logic::PurgeSearchesOperation;
  static constexpr RpcMethod kMethod = RpcMethod::kPurgeSearches;

  static std::shared_ptr<Op> Make(const Request& request, absl::Time deadline,
                                  const RpcDeps& deps) {
    return std::make_shared<Op>(deps.caller, deps.search_queue, deps.mutations, request, deadline);
  }
  static std::string LogId(const Request& request) { return BatchIdOfName(request.parent()); }
  static void Fill(const Op& op, Response* response) {
    response->set_purge_count(op.purge_count());
  }
  static void Log(const Op& op, LogRecord& record) {
    record.Int("purge_count", op.purge_count()).Bool("force", op.force());
    LogQueue(op, record);
  }
};

}  // namespace

size_t MetadataSize(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
  size_t size = 0;
  for (const auto& [key, value] : metadata) size += key.size() + value.size() + 32;
  return size;
}

std::string RequestIdFrom(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
  auto it = metadata.find(kRequestIdKey);
  if (it != metadata.end() && !it->second.empty() && it->second.size() <= 128) {
    std::string id(it->second.data(), it->second.size());
    bool ok = true;
    for (char c : id) ok = ok && RequestIdChar(c);
    if (ok) return id;
  }
  thread_local std::mt19937_64 rng(std::random_device{}());
  return absl::StrCat(absl::Hex(rng(), absl::kZeroPad16), absl::Hex(rng(), absl::kZeroPad16));
}

grpc::ServerUnaryReactor* BatchServiceImpl::StopBatch(grpc::CallbackServerContext* context,
                                                      const v1::StopBatchRequest* request,
                                                      v1::StopBatchResponse* response) {
  return new UnaryReactor<StopBatchRpc>(context, request, response, deps_);
}

grpc::ServerUnaryReactor* BatchServiceImpl::GetBatch(grpc::CallbackServerContext* context,
                                                     const v1::GetBatchRequest* request,
                                                     v1::Batch* response) {
  return new UnaryReactor<GetBatchRpc>(context, request, response, deps_);
}

grpc::ServerUnaryReactor* BatchServiceImpl::ListBatches(grpc::CallbackServerContext* context,
                                                        const v1::ListBatchesRequest* request,
                                                        v1::ListBatchesResponse* response) {
  return new UnaryReactor<ListBatchesRpc>(context, request, response, deps_);
}

grpc::ServerUnaryReactor* BatchServiceImpl::GetAccount(grpc::CallbackServerContext* context,
                                                       const v1::GetAccountRequest* request,
                                                       v1::Account* response) {
  return new UnaryReactor<GetAccountRpc>(context, request, response, deps_);
}

grpc::ServerUnaryReactor* BatchServiceImpl::ListResultSets(grpc::CallbackServerContext* context,
                                                           const v1::ListResultSetsRequest* request,
                                                           v1::ListResultSetsResponse* response) {
  return new UnaryReactor<ListResultSetsRpc>(context, request, response, deps_);
}

grpc::ServerUnaryReactor* BatchServiceImpl::GetResultSet(grpc::CallbackServerContext* context,
                                                         const v1::GetResultSetRequest* request,
                                                         v1::ResultSet* response) {
  return new UnaryReactor<GetResultSetRpc>(context, request, response, deps_);
}

grpc::ServerUnaryReactor* BatchServiceImpl::ExportResultSet(
    grpc::CallbackServerContext* context, const v1::ExportResultSetRequest* request,
    v1::ExportResultSetResponse* response) {
  return new UnaryReactor<ExportResultSetRpc>(context, request, response, deps_);
}

grpc::ServerUnaryReactor* BatchServiceImpl::ExportSearches(grpc::CallbackServerContext* context,
                                                           const v1::ExportSearchesRequest* request,
                                                           v1::ExportSearchesResponse* response) {
  return new UnaryReactor<ExportSearchesRpc>(context, request, response, deps_);
}

grpc::ServerUnaryReactor* BatchServiceImpl::ListSearches(grpc::CallbackServerContext* context,
                                                         const v1::ListSearchesRequest* request,
                                                         v1::ListSearchesResponse* response) {
  return new UnaryReactor<ListSearchesRpc>(context, request, response, deps_);
}

grpc::ServerUnaryReactor* BatchServiceImpl::CreateBatch(grpc::CallbackServerContext* context,
                                                        const v1::CreateBatchRequest* request,
                                                        v1::Batch* response) {
  return new UnaryReactor<CreateBatchRpc>(context, request, response, deps_);
}

grpc::ServerUnaryReactor* BatchServiceImpl::UpdateBatch(grpc::CallbackServerContext* context,
                                                        const v1::UpdateBatchRequest* request,
                                                        v1::Batch* response) {
  return new UnaryReactor<UpdateBatchRpc>(context, request, response, deps_);
}

grpc::ServerUnaryReactor* BatchServiceImpl::DeleteBatch(grpc::CallbackServerContext* context,
                                                        const v1::DeleteBatchRequest* request,
                                                        google::protobuf::Empty* response) {
  return new UnaryReactor<DeleteBatchRpc>(context, request, response, deps_);
}

grpc::ServerUnaryReactor* BatchServiceImpl::StopAllBatches(grpc::CallbackServerContext* context,
                                                           const v1::StopAllBatchesRequest* request,
                                                           v1::StopAllBatchesResponse* response) {
  return new UnaryReactor<StopAllBatchesRpc>(context, request, response, deps_);
}

grpc::ServerUnaryReactor* BatchServiceImpl::StartBatch(grpc::CallbackServerContext* context,
                                                       const v1::StartBatchRequest* request,
                                                       v1::StartBatchResponse* response) {
  return new UnaryReactor<StartBatchRpc>(context, request, response, deps_);
}

grpc::ServerWriteReactor<v1::WatchBatchEvent>* BatchServiceImpl::WatchBatch(
    grpc::CallbackServerContext* context, const v1::WatchBatchRequest* request) {
  return WatchReactor::Start(context, request, deps_);
}

grpc::ServerUnaryReactor* BatchServiceImpl::AddSearches(grpc::CallbackServerContext* context,
                                                        const v1::AddSearchesRequest* request,
                                                        v1::AddSearchesResponse* response) {
  return new UnaryReactor<AddSearchesRpc>(context, request, response, deps_);
}

grpc::ServerUnaryReactor* BatchServiceImpl::UpdateSearch(grpc::CallbackServerContext* context,
                                                         const v1::UpdateSearchRequest* request,
                                                         v1::Search* response) {
  return new UnaryReactor<UpdateSearchRpc>(context, request, response, deps_);
}

grpc::ServerUnaryReactor* BatchServiceImpl::DeleteSearch(grpc::CallbackServerContext* context,
                                                         const v1::DeleteSearchRequest* request,
                                                         google::protobuf::Empty* response) {
  return new UnaryReactor<DeleteSearchRpc>(context, request, response, deps_);
}

grpc::ServerUnaryReactor* BatchServiceImpl::BatchDeleteSearches(
    grpc::CallbackServerContext* context, const v1::BatchDeleteSearchesRequest* request,
    google::protobuf::Empty* response) {
  return new UnaryReactor<BatchDeleteSearchesRpc>(context, request, response, deps_);
}

grpc::ServerUnaryReactor* BatchServiceImpl::PurgeSearches(grpc::CallbackServerContext* context,
                                                          const v1::PurgeSearchesRequest* request,
                                                          v1::PurgeSearchesResponse* response) {
  return new UnaryReactor<PurgeSearchesRpc>(context, request, response, deps_);
}

}  // namespace serpwow::rpc
