#include "server/rpc/watch_reactor.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "google/protobuf/util/time_util.h"
#include "server/logic/batch_id.h"
#include "server/logic/errors.h"
#include "server/rpc/grpc_status.h"

namespace serpwow::rpc {
namespace {

namespace v1 = serpwow::batches::v1;
using google::protobuf::util::TimeUtil;

v1::WatchBatchEvent::EventType TypeOf(logic::WatchEventType type) {
  switch (type) {
    case logic::WatchEventType::kSnapshot:
      return v1::WatchBatchEvent::EVENT_TYPE_SNAPSHOT;
    case logic::WatchEventType::kStatusChanged:
      return v1::WatchBatchEvent::EVENT_TYPE_STATUS_CHANGED;
    case logic::WatchEventType::kRunCompleted:
      return v1::WatchBatchEvent::EVENT_TYPE_RUN_COMPLETED;
    case logic::WatchEventType::kRunEnded:
      return v1::WatchBatchEvent::EVENT_TYPE_RUN_ENDED;
    case logic::WatchEventType::kBatchChanged:
      return v1::WatchBatchEvent::EVENT_TYPE_BATCH_CHANGED;
    case logic::WatchEventType::kBatchDeleted:
      return v1::WatchBatchEvent::EVENT_TYPE_BATCH_DELETED;
  }
  return v1::WatchBatchEvent::EVENT_TYPE_UNSPECIFIED;
}

}  // namespace

void ToProto(const logic::WatchEvent& event, v1::WatchBatchEvent* out) {
  out->Clear();
  out->set_type(TypeOf(event.type));
  *out->mutable_batch() = event.batch;
  out->set_previous_status(event.previous_status);
  if (event.type == logic::WatchEventType::kRunCompleted && !event.result_set.name().empty()) {
    *out->mutable_result_set() = event.result_set;
  }
  if (event.observe_time != absl::Time()) {
    *out->mutable_observe_time() =
        TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(event.observe_time));
  }
  *out->mutable_poll_interval() =
      TimeUtil::NanosecondsToDuration(absl::ToInt64Nanoseconds(event.poll_interval));
}

grpc::ServerWriteReactor<v1::WatchBatchEvent>* WatchReactor::Start(
    grpc::CallbackServerContext* context, const v1::WatchBatchRequest* request,
    const RpcDeps& deps) {
  auto reactor = std::make_shared<WatchReactor>(context, deps);
  reactor->self_ = reactor;
  reactor->Begin(*request);
  return reactor.get();
}

WatchReactor::WatchReactor(grpc::CallbackServerContext* context, const RpcDeps& deps)
    : context_(context),
      metrics_(deps.metrics),
      hub_(deps.watch),
      deps_(deps),
      start_(absl::Now()),
      deadline_(DeadlineOf(context)),
      request_id_(RequestIdFrom(context->client_metadata())) {}

void WatchReactor::Begin(const v1::WatchBatchRequest& request) {
  metrics_->RpcStarted();
  absl::StatusOr<std::string> id = logic::ParseBatchName(request.name(), "name");
  const std::string log_id = id.ok() ? *id : "";
  if (absl::Status admitted =
          AdmitCall(*context_, deps_.max_metadata_bytes, deps_.auth, deps_.gate, log_id);
      !admitted.ok()) {
    EndStream(std::move(admitted), "refused");
    return;
  }
  if (!id.ok()) {
    EndStream(id.status(), "invalid");
    return;
  }
  batch_id_ = *id;
  logic::WatchRequest watch;
  watch.batch_id = batch_id_;
  watch.until_run_ends = request.until() == v1::WatchBatchRequest::UNTIL_RUN_ENDS;
  if (request.has_since()) {
    const v1::Batch& since = request.since();
    if (since.name() != absl::StrCat("batches/", batch_id_)) {
      const std::string why =
          "since must be a state of the watched batch (its name \"batches/" + batch_id_ + "\")";
      EndStream(logic::ErrorBuilder(absl::StatusCode::kInvalidArgument,
                                    absl::StrCat("invalid since.name: ", why),
                                    logic::reason::kInvalidField)
                    .BadRequestField("since.name", why),
                "invalid");
      return;
    }
    watch.since = since;
  }
  if (hub_ == nullptr) {
    EndStream(
        logic::ErrorBuilder(absl::StatusCode::kUnavailable, "this server does not serve WatchBatch",
                            logic::reason::kGatewayOverloaded),
        "refused");
    return;
  }
  watching_ = true;  // before Watch: OnCancel may come as soon as it is registered
  if (absl::Status watched = hub_->Watch(shared_from_this(), std::move(watch)); !watched.ok()) {
    watching_ = false;
    EndStream(std::move(watched), "refused");
  }
}

void WatchReactor::OnWatchEvent(const logic::WatchEvent& event) {
  bool start = false;
  {
    absl::MutexLock lock(&mu_);
    if (ended_) return;
    queue_.Push(event);
    if (!writing_) {
      writing_ = start = true;
      ToProto(queue_.Pop(), &write_);
    }
  }
  if (start) Write();
}

void WatchReactor::Write() {
  bool first = false;
  {
    absl::MutexLock lock(&mu_);
    first = !sent_metadata_;
    sent_metadata_ = true;
    ++events_sent_;
  }
  // Safe before the first write from any thread: gRPC reads the initial
  // metadata when that write sends it.
  if (first) context_->AddInitialMetadata(kRequestIdKey, request_id_);
  metrics_->WatchEventSent(static_cast<logic::WatchEventType>(static_cast<int>(write_.type()) -
                                                              1));  // EVENT_TYPE_SNAPSHOT is 1
  StartWrite(&write_);
}

void WatchReactor::OnWriteDone(bool ok) {
  bool next = false;
  bool finish = false;
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) queue_.Clear();  // the stream is broken; OnCancel follows
    if (!queue_.empty()) {
      writing_ = next = true;
      ToProto(queue_.Pop(), &write_);
    } else if (ended_ && !finished_) {
      finished_ = finish = true;
    }
  }
  if (next) Write();
  if (finish) SendFinish();
}

void WatchReactor::OnWatchEnd(absl::Status status, const char* why) {
  EndStream(std::move(status), why);
}

void WatchReactor::EndStream(absl::Status status, const char* why) {
  bool finish = false;
  {
    absl::MutexLock lock(&mu_);
    if (ended_) return;
    ended_ = true;
    end_status_ = std::move(status);
    end_why_ = why;
    if (!end_status_.ok()) queue_.Clear();
    if (!writing_ && !finished_) finished_ = finish = true;
  }
  if (finish) SendFinish();
}

void WatchReactor::OnCancel() {
  if (watching_) hub_->Unwatch(this, batch_id_);  // no lock of ours held (watch_hub.h)
  const absl::Status status = CancelStatus(RpcMethod::kWatchBatch, start_, deadline_);
  EndStream(status, status.code() == absl::StatusCode::kCancelled ? "cancelled" : "deadline");
}

void WatchReactor::SendFinish() {
  absl::Status status;
  const char* why;
  uint64_t sent;
  uint64_t conflated;
  bool sent_metadata;
  {
    absl::MutexLock lock(&mu_);
    status = end_status_;
    why = end_why_;
    sent = events_sent_;
    conflated = queue_.conflated();
    sent_metadata = sent_metadata_;
  }
  const absl::Duration elapsed = absl::Now() - start_;
  metrics_->RpcFinished(RpcMethod::kWatchBatch, status.code(), elapsed);
  if (conflated > 0) metrics_->WatchConflated(conflated);
  LogRecord record(status.ok() ? LogLevel::kInfo : LogLevel::kWarning, "rpc");
  record.Str("method", RpcMethodName(RpcMethod::kWatchBatch))
      .Str("code", absl::StatusCodeToString(status.code()))
      .Double("duration_ms", absl::ToDoubleMilliseconds(elapsed))
      .Str("request_id", request_id_)
      .Str("batch_id", batch_id_)
      .Int("events_sent", static_cast<int64_t>(sent))
      .Int("events_conflated", static_cast<int64_t>(conflated))
      .Str("end", why);
  if (!status.ok()) record.Str("reason", logic::ReasonOf(status));
  record.Emit();
  if (!sent_metadata) context_->AddTrailingMetadata(kRequestIdKey, request_id_);
  Finish(ToGrpcStatus(status));
}

void WatchReactor::OnDone() {
  std::shared_ptr<WatchReactor> self = std::move(self_);  // may free this on return
}

}  // namespace serpwow::rpc
