// The one server-streaming reactor: WatchBatch's stream (gRPC callback API).
// The edge concerns are those of the unary reactor, from the same code
// (call_edge.h: metadata size, caller auth, the shutdown gate's refusal,
// the cancel's status; the request id; rpcs_total{method="WatchBatch"}; the
// status mapping with details). The events come from the logic layer's hub
// (logic/watch_hub.h), to which this reactor is a subscriber.
//
// Writes: one in flight at a time. Events that arrive meanwhile wait in a
// ConflatingQueue (logic/watch_events.h): a slow reader gets the latest
// state, every RUN_COMPLETED, RUN_ENDED and BATCH_DELETED, and no unbounded
// queue. An OK end is sent after the events still waiting; an error end
// drops them. The request id goes in the initial metadata with the first
// event, or in the trailing metadata of an error sent before any event (so
// that such an error is Trailers-Only, like every unary error).
//
// One log line when the stream ends: method, code, duration, request id,
// batch id, events sent, events conflated, why it ended (never the key: no
// field comes from SerpWow's text or the caller's raw input).
//
// Lifetime: shared (the hub holds the subscriber): the reactor owns itself
// from its start until OnDone, and the hub's reference may outlive that by
// a moment; nothing is done for gRPC after OnDone.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "serpwow/batches/v1/batch_service.pb.h"
#include "server/logic/watch_events.h"
#include "server/logic/watch_hub.h"
#include "server/rpc/unary_reactor.h"

namespace serpwow::rpc {

class WatchReactor final : public grpc::ServerWriteReactor<serpwow::batches::v1::WatchBatchEvent>,
                           public logic::WatchSubscriber,
                           public std::enable_shared_from_this<WatchReactor> {
 public:
  // Starts the stream (or ends it at once: refused, invalid input).
  static grpc::ServerWriteReactor<serpwow::batches::v1::WatchBatchEvent>* Start(
      grpc::CallbackServerContext* context, const serpwow::batches::v1::WatchBatchRequest* request,
      const RpcDeps& deps);

  WatchReactor(grpc::CallbackServerContext* context, const RpcDeps& deps);

  // logic::WatchSubscriber
  void OnWatchEvent(const logic::WatchEvent& event) override;
  void OnWatchEnd(absl::Status status, const char* why) override;

  // grpc::ServerWriteReactor
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  void Begin(const serpwow::batches::v1::WatchBatchRequest& request);
  // Ends the stream with `status` (after the waiting events when OK); once.
  void EndStream(absl::Status status, const char* why);
  // Sends the end now (no write in flight).
  void SendFinish() ABSL_LOCKS_EXCLUDED(mu_);
  void Write() ABSL_LOCKS_EXCLUDED(mu_);  // write_ holds the next event

  grpc::CallbackServerContext* const context_;
  GatewayMetrics* const metrics_;
  logic::WatchHub* const hub_;
  const RpcDeps deps_;
  const absl::Time start_;
  const absl::Time deadline_;
  const std::string request_id_;
  std::string batch_id_;   // once validated
  bool watching_ = false;  // registered with the hub (set before any event can come)

  // The reactor's own reference, from Start until OnDone.
  std::shared_ptr<WatchReactor> self_;

  absl::Mutex mu_;
  logic::ConflatingQueue queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool sent_metadata_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;     // EndStream ran
  bool finished_ ABSL_GUARDED_BY(mu_) = false;  // Finish was called
  absl::Status end_status_ ABSL_GUARDED_BY(mu_);
  const char* end_why_ ABSL_GUARDED_BY(mu_) = "";
  uint64_t events_sent_ ABSL_GUARDED_BY(mu_) = 0;
  // Only the writer (the one with writing_ set) touches it.
  serpwow::batches::v1::WatchBatchEvent write_;
};

// The proto of one event.
void ToProto(const logic::WatchEvent& event, serpwow::batches::v1::WatchBatchEvent* out);

}  // namespace serpwow::rpc
