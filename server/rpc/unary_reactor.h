// The one unary reactor every RPC uses (gRPC callback API). It does what
// every call needs, once: the size of its metadata (an oversized call fails
// alone) and the caller's bearer token (when auth is on) before anything
// else; the refusal of new calls at shutdown (shutdown_gate.h); the
// request id from `x-request-id` (or a new one), sent back in the initial
// metadata of an OK answer and the trailing metadata of an error (so that
// errors are Trailers-Only and retry policies can retry them, see OnEnded); the
// caller's deadline; cancellation (which aborts the upstream transfer); the
// RPC metrics; one JSON log line; and Finish(ToGrpcStatus(...)) at the
// handler edge, through the shutdown gate, which holds answers for a moment
// at shutdown. It never blocks a gRPC thread: the upstream work runs on the
// loop threads (logic/upstream_caller.h) and the reactor is finished from
// there, from OnCancel, or at shutdown. The admission, deadline and cancel
// pieces are call_edge.h, shared with the stream's reactor (watch_reactor.h).
//
// Each RPC supplies a small traits type `Rpc` with:
//   using Request, Response, Op (a logic::Operation subclass);
//   static constexpr RpcMethod kMethod;  (its name: RpcMethodName)
//   static std::shared_ptr<Op> Make(const Request&, absl::Time deadline,
//                                   const RpcDeps&);
//   static std::string LogId(const Request&);  // a batch id safe to log, or "",
//                                              // for calls refused before an
//                                              // operation exists (auth,
//                                              // shutdown)
//   static void Fill(const Op&, Response*);    // on OK only
//   static void Log(const Op&, LogRecord&);    // its own fields, on OK only
// and optionally:
//   static std::shared_ptr<Op> Make(const Request&, absl::Time, const RpcDeps&,
//                                   const grpc::CallbackServerContext&);
//                                   // instead of the 3-argument Make, for an
//                                   // RPC that reads the call's metadata
//   static void InitialMetadata(const Op&, grpc::CallbackServerContext*);
//                                   // adds its own initial metadata, on OK only
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "server/logic/batch_mutation.h"
#include "server/logic/download_links.h"
#include "server/logic/errors.h"
#include "server/logic/list_pacer.h"
#include "server/logic/request_dedupe.h"
#include "server/logic/search_queue.h"
#include "server/logic/stop_batch.h"
#include "server/logic/upstream_caller.h"
#include "server/logic/watch_hub.h"
#include "server/metrics.h"
#include "server/rpc/call_edge.h"
#include "server/rpc/caller_auth.h"
#include "server/rpc/cancel_cause.h"
#include "server/rpc/grpc_status.h"
#include "server/rpc/shutdown_gate.h"

namespace serpwow::rpc {

inline constexpr char kRequestIdKey[] = "x-request-id";

// The caller's request id if it is 1-128 chars of [A-Za-z0-9._:-], else a new
// random one (32 hex digits).
std::string RequestIdFrom(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata);

// What the RPCs are built from; everything must outlive the service.
struct RpcDeps {
  logic::UpstreamCaller* caller = nullptr;
  logic::StopBatchOptions stop_batch;
  // The batch mutations' limits and timings, and the request_id table
  // (null: no de-duplication).
  logic::MutationOptions mutations;
  logic::RequestDedupe* dedupe = nullptr;
  // The search calls' queue (logic/search_queue.h); null: a filtered
  // ListSearches is refused and the search calls must not be served.
  logic::SearchQueue* search_queue = nullptr;
  GatewayMetrics* metrics = nullptr;
  const CallerAuth* auth = nullptr;  // null: no caller authentication
  // A call whose metadata is larger fails alone with RESOURCE_EXHAUSTED
  // METADATA_TOO_LARGE (gRPC's own limit, past which a call fails its whole
  // connection, is set higher: GatewayOptions::max_metadata_bytes).
  size_t max_metadata_bytes = 8 << 10;
  ShutdownGate* gate = nullptr;            // null: never refuses, never holds
  logic::ListPacer* list_pacer = nullptr;  // the List bucket, cache and coalescing
  // The check of download links passed on (null: every link is refused).
  const logic::DownloadLinkPolicy* download_links = nullptr;
  logic::WatchHub* watch = nullptr;  // WatchBatch's pollers (null: WatchBatch is UNAVAILABLE)
};

// Whether a traits type has the optional hooks (see the top of this file).
template <typename Rpc, typename = void>
struct MakesWithContext : std::false_type {};
template <typename Rpc>
struct MakesWithContext<
    Rpc, std::void_t<decltype(Rpc::Make(std::declval<const typename Rpc::Request&>(), absl::Time(),
                                        std::declval<const RpcDeps&>(),
                                        std::declval<const grpc::CallbackServerContext&>()))>>
    : std::true_type {};
template <typename Rpc, typename = void>
struct HasInitialMetadata : std::false_type {};
template <typename Rpc>
struct HasInitialMetadata<
    Rpc, std::void_t<decltype(Rpc::InitialMetadata(std::declval<const typename Rpc::Op&>(),
                                                   std::declval<grpc::CallbackServerContext*>()))>>
    : std::true_type {};

template <typename Rpc>
class UnaryReactor final : public grpc::ServerUnaryReactor {
 public:
  UnaryReactor(grpc::CallbackServerContext* context, const typename Rpc::Request* request,
               typename Rpc::Response* response, const RpcDeps& deps)
      : context_(context),
        request_(request),
        response_(response),
        metrics_(deps.metrics),
        deadline_(DeadlineOf(context)),
        start_(absl::Now()),
        request_id_(RequestIdFrom(context->client_metadata())),
        gate_(deps.gate) {
    metrics_->RpcStarted();
    // Metadata size, caller auth, shutdown refusal: call_edge.h.
    if (absl::Status admitted =
            AdmitCall(*context, deps.max_metadata_bytes, deps.auth, gate_, Rpc::LogId(*request));
        !admitted.ok()) {
      OnEnded(std::move(admitted), logic::CallTrace{});
      return;
    }
    if constexpr (MakesWithContext<Rpc>::value) {
      op_ = Rpc::Make(*request, deadline_, deps, *context);
    } else {
      op_ = Rpc::Make(*request, deadline_, deps);
    }
    logic::Operation::Start(op_, [this](absl::Status status, const logic::CallTrace& trace) {
      OnEnded(std::move(status), trace);
    });
  }

  void OnCancel() override {
    if (op_ == nullptr) return;                                  // already finished (auth)
    op_->Cancel(CancelStatus(Rpc::kMethod, start_, deadline_));  // call_edge.h
  }

  void OnDone() override { delete this; }

  // Lets gRPC run OnDone and OnCancel on the thread that triggers them
  // instead of handing each to its executor thread (one thread wake-up per
  // call saved). Both are short and never block: OnDone frees the reactor;
  // OnCancel enqueues a cancel to the upstream loop and, when the call has
  // not ended, calls Finish, which gRPC allows from any reaction. No lock of
  // ours is held when we call into gRPC, so running them inline cannot
  // deadlock. (gRPC marks this hook "for internal use"; it exists in 1.51
  // and later and is checked by the tests through the cancel paths.)
  bool InternalInlineable() override { return true; }

 private:
  // Runs exactly once (Operation guarantees it): on the upstream loop
  // thread, inline for invalid input or a refused caller, or in OnCancel.
  void OnEnded(absl::Status status, const logic::CallTrace& trace) {
    const absl::Duration elapsed = absl::Now() - start_;
    if (status.ok()) Rpc::Fill(*op_, response_);
    metrics_->RpcFinished(Rpc::kMethod, status.code(), elapsed);
    if (trace.reconciled) {
      metrics_->Reconciled(Rpc::kMethod, status.code(),
                           logic::ReasonOf(status) == logic::reason::kOutcomeUnknown);
    }
    if (trace.dedupe != nullptr) metrics_->Deduplicated(Rpc::kMethod, trace.dedupe);
    LogRecord record(status.ok() ? LogLevel::kInfo : LogLevel::kWarning, "rpc");
    record.Str("method", RpcMethodName(Rpc::kMethod))
        .Str("code", absl::StatusCodeToString(status.code()))
        .Double("duration_ms", absl::ToDoubleMilliseconds(elapsed))
        .Str("request_id", request_id_)
        .Str("batch_id", op_ != nullptr ? op_->batch_id() : Rpc::LogId(*request_));
    for (const logic::PhaseTrace& phase : trace.phases) {
      record.Int(absl::StrCat("upstream_", phase.label, "_status").c_str(), phase.http_status);
      if (phase.attempts > 1) {
        record.Int(absl::StrCat(phase.label, "_attempts").c_str(), phase.attempts);
      }
    }
    record.Double("upstream_ms", absl::ToDoubleMilliseconds(trace.upstream_time));
    if (trace.reconciled) record.Bool("reconciled", true);
    if (trace.dedupe != nullptr) record.Str("request_id_table", trace.dedupe);
    if (status.ok()) {
      Rpc::Log(*op_, record);
    } else {
      record.Str("reason", logic::ReasonOf(status));
    }
    record.Emit();
    // The request id goes back in the initial metadata of an OK answer and in
    // the trailing metadata of an error: an answer with initial metadata
    // commits the call, and gRPC's retry policies retry only an uncommitted
    // one (a Trailers-Only answer), so every error a caller's policy lists
    // (UNAVAILABLE of any reason, above all) must be Trailers-Only. Safe from
    // any thread: gRPC reads the metadata only when Finish sends it.
    if (status.ok()) {
      context_->AddInitialMetadata(kRequestIdKey, request_id_);
      if constexpr (HasInitialMetadata<Rpc>::value) Rpc::InitialMetadata(*op_, context_);
    } else {
      context_->AddTrailingMetadata(kRequestIdKey, request_id_);
    }
    if (gate_ != nullptr) {
      gate_->Finish(this, ToGrpcStatus(status));  // held while a shutdown refuses calls
    } else {
      Finish(ToGrpcStatus(status));
    }
  }

  grpc::CallbackServerContext* const context_;
  const typename Rpc::Request* const request_;
  typename Rpc::Response* const response_;
  GatewayMetrics* const metrics_;
  const absl::Time deadline_;
  const absl::Time start_;
  const std::string request_id_;
  ShutdownGate* const gate_;
  std::shared_ptr<typename Rpc::Op> op_;
};

}  // namespace serpwow::rpc
