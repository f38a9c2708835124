// `batchctl watch ID [--until_done]`, and the watch behind `start --wait`:
// WatchBatch, resumed with `since` whenever the stream breaks, so that no
// event is lost to a gateway restart or a connection's maximum age.
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/cli.h"

ABSL_FLAG(bool, until_done, false,
          "watch: end when the batch's current or next run ends (exit 0 with a result set, 65 "
          "without one)");

namespace serpwow::client {
namespace {

// Broken streams in a row, none of which brought an event, before the watch
// gives up with the last status.
constexpr int kMaxFailuresInARow = 10;
constexpr absl::Duration kFirstBackoff = absl::Milliseconds(500);
constexpr absl::Duration kMaxBackoff = absl::Seconds(10);

void Print(const Env& env, const v1::WatchBatchEvent& event) {
  if (env.format == Format::kJson || env.format == Format::kJsonl) {
    std::printf("%s\n", MessageJson(event).c_str());
  } else {
    std::printf("%s\n", FormatWatchEvent(event, absl::LocalTimeZone()).c_str());
  }
  std::fflush(stdout);
}

}  // namespace

int WatchBatch(const Env& env, const std::string& name, bool until_run_ends, const v1::Batch* since,
               bool quiet, v1::WatchBatchEvent* last) {
  v1::Batch seen;
  bool have_seen = since != nullptr;
  if (have_seen) seen = *since;
  int failures = 0;
  absl::Duration backoff = kFirstBackoff;
  while (true) {
    grpc::ClientContext context;
    if (!env.token.empty()) context.AddMetadata("authorization", "Bearer " + env.token);
    v1::WatchBatchRequest request;
    request.set_name(name);
    if (until_run_ends) request.set_until(v1::WatchBatchRequest::UNTIL_RUN_ENDS);
    if (have_seen) *request.mutable_since() = seen;
    std::unique_ptr<grpc::ClientReader<v1::WatchBatchEvent>> reader =
        env.stub->WatchBatch(&context, request);
    v1::WatchBatchEvent event;
    bool got_event = false;
    bool completed = false, ended = false, deleted = false;
    while (reader->Read(&event)) {
      got_event = true;
      if (event.type() == v1::WatchBatchEvent::EVENT_TYPE_RUN_COMPLETED &&
          !event.result_set().has_end_time() && !event.result_set().name().empty()) {
        // A run completed while the stream was away: the event names its
        // result set, GetResultSet reads the rest (kept as it is if not).
        v1::GetResultSetRequest get;
        get.set_name(event.result_set().name());
        v1::ResultSet read;
        grpc::ClientContext get_context;
        if (!env.token.empty()) get_context.AddMetadata("authorization", "Bearer " + env.token);
        get_context.set_deadline(absl::ToChronoTime(absl::Now() + env.timeout));
        if (env.stub->GetResultSet(&get_context, get, &read).ok()) {
          *event.mutable_result_set() = std::move(read);
        }
      }
      if (!quiet) Print(env, event);
      *last = event;
      switch (event.type()) {
        case v1::WatchBatchEvent::EVENT_TYPE_BATCH_DELETED:
          deleted = true;
          break;
        case v1::WatchBatchEvent::EVENT_TYPE_RUN_COMPLETED:
          completed = true;
          break;
        case v1::WatchBatchEvent::EVENT_TYPE_RUN_ENDED:
          ended = true;
          break;
        default:
          break;
      }
      if (!deleted && event.has_batch()) {
        seen = event.batch();
        have_seen = true;
      }
    }
    const grpc::Status status = reader->Finish();
    if (deleted) return kExitRunEndedWithoutResults;
    if (until_run_ends && completed) return 0;
    if (until_run_ends && ended) return kExitRunEndedWithoutResults;
    if (status.ok()) continue;  // ended by the gateway (--watch_max_duration): resume
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return ReportError(env, status);
    failures = got_event ? 1 : failures + 1;
    if (got_event) backoff = kFirstBackoff;
    if (failures > kMaxFailuresInARow) return ReportError(env, status);
    if (env.format == Format::kTable || env.format == Format::kWide) {
      std::fprintf(stderr, "batchctl: the watch was interrupted (%s); resuming in %s\n",
                   FormatError(status).c_str(), absl::FormatDuration(backoff).c_str());
    }
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(backoff));
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

int WatchCommand(const Env& env, const std::vector<std::string>& args) {
  if (int bad = OneArg("watch", args)) return bad;
  v1::WatchBatchEvent last;
  return WatchBatch(env, BatchName(args[0]), absl::GetFlag(FLAGS_until_done), nullptr, false,
                    &last);
}

}  // namespace serpwow::client
