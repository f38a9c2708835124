#include "server/logic/watch_events.h"

#include <algorithm>
#include <utility>

#include "google/protobuf/util/message_differencer.h"

namespace serpwow::logic {
namespace {

namespace v1 = serpwow::batches::v1;

bool Active(v1::BatchStatus status) {
  return status == v1::BATCH_STATUS_QUEUED || status == v1::BATCH_STATUS_RUNNING;
}

// The batch without the fields the other events report or that move with
// every run.
v1::Batch OtherFields(const v1::Batch& batch) {
  v1::Batch out = batch;
  out.clear_status();
  out.clear_next_result_set_id();
  out.clear_results_count();
  out.clear_last_run_time();
  out.clear_expire_time();
  return out;
}

WatchEvent Event(WatchEventType type, const v1::Batch& batch, v1::BatchStatus previous) {
  WatchEvent event;
  event.type = type;
  event.batch = batch;
  event.previous_status = previous;
  return event;
}

}  // namespace

const char* WatchEventTypeName(WatchEventType type) {
  switch (type) {
    case WatchEventType::kSnapshot:
      return "snapshot";
    case WatchEventType::kStatusChanged:
      return "status_changed";
    case WatchEventType::kRunCompleted:
      return "run_completed";
    case WatchEventType::kRunEnded:
      return "run_ended";
    case WatchEventType::kBatchChanged:
      return "batch_changed";
    case WatchEventType::kBatchDeleted:
      return "batch_deleted";
  }
  return "unknown";
}

bool IsRunEnd(WatchEventType type) {
  return type == WatchEventType::kRunCompleted || type == WatchEventType::kRunEnded ||
         type == WatchEventType::kBatchDeleted;
}

std::vector<WatchEvent> DiffBatches(const v1::Batch& previous, const v1::Batch& next) {
  std::vector<WatchEvent> events;
  const v1::BatchStatus before = previous.status();
  const v1::BatchStatus after = next.status();
  const bool back_to_idle = Active(before) && after == v1::BATCH_STATUS_IDLE;
  if (before != after && !back_to_idle) {
    events.push_back(Event(WatchEventType::kStatusChanged, next, before));
  }
  int new_sets = 0;
  if (next.next_result_set_id() > previous.next_result_set_id() &&
      previous.next_result_set_id() > 0) {
    for (int32_t id = previous.next_result_set_id(); id < next.next_result_set_id(); ++id) {
      WatchEvent event = Event(WatchEventType::kRunCompleted, next, before);
      event.result_set_id = id;
      events.push_back(std::move(event));
      ++new_sets;
    }
  } else if (next.next_result_set_id() == previous.next_result_set_id() &&
             next.results_count() > previous.results_count()) {
    for (int32_t i = previous.results_count(); i < next.results_count(); ++i) {
      events.push_back(Event(WatchEventType::kRunCompleted, next, before));
      ++new_sets;
    }
  }
  if (back_to_idle && new_sets == 0) {
    events.push_back(Event(WatchEventType::kRunEnded, next, before));
  }
  if (!google::protobuf::util::MessageDifferencer::Equals(OtherFields(previous),
                                                          OtherFields(next))) {
    events.push_back(Event(WatchEventType::kBatchChanged, next, v1::BATCH_STATUS_UNSPECIFIED));
  }
  return events;
}

std::vector<WatchEvent> FirstEvents(const v1::Batch* since, const v1::Batch& current) {
  std::vector<WatchEvent> events;
  if (since != nullptr) events = DiffBatches(*since, current);
  if (events.empty()) {
    events.push_back(Event(WatchEventType::kSnapshot, current, v1::BATCH_STATUS_UNSPECIFIED));
  }
  return events;
}

absl::Duration BaseInterval(const WatchIntervals& intervals, v1::BatchStatus status,
                            size_t watched_batches) {
  absl::Duration base = intervals.queued;
  if (status == v1::BATCH_STATUS_RUNNING) base = intervals.running;
  if (status == v1::BATCH_STATUS_IDLE) base = intervals.idle;
  if (intervals.poll_rate > 0) {
    base =
        std::max(base, absl::Seconds(static_cast<double>(watched_batches) / intervals.poll_rate));
  }
  return base;
}

absl::Duration Jittered(absl::Duration base, double jitter, double unit) {
  return base * (1.0 + jitter * (2.0 * unit - 1.0));
}

WatchBudget::WatchBudget(double rate, absl::Duration pause_initial, absl::Duration pause_max,
                         absl::Time now)
    : rate_(rate),
      pause_initial_(pause_initial),
      pause_max_(pause_max),
      bucket_(std::max(rate, 0.0) * 60, std::max(1.0, rate), now) {}

absl::Duration WatchBudget::Take(absl::Time now) {
  if (rate_ <= 0) return absl::ZeroDuration();
  return bucket_.Take(now, absl::InfiniteFuture()).wait;
}

absl::Duration WatchBudget::RateLimited(absl::Time now,
                                        absl::optional<absl::Duration> retry_after) {
  absl::Duration pause = pause_initial_;
  for (int i = 0; i < consecutive_429_ && pause < pause_max_; ++i) pause *= 2;
  pause = std::min(pause, pause_max_);
  if (retry_after) pause = *retry_after;
  ++consecutive_429_;
  bucket_.PauseUntil(now, now + pause);
  return pause;
}

void ConflatingQueue::Push(WatchEvent event) {
  if (!IsRunEnd(event.type) && !events_.empty() && !IsRunEnd(events_.back().type)) {
    // A state event after a state event: the reader would only see the
    // newer one's batch; keep the older one's type when it said more than
    // "a snapshot" so that a STATUS_CHANGED is not hidden by a later
    // BATCH_CHANGED (its previous_status is the older one's).
    WatchEvent& tail = events_.back();
    if (event.type == WatchEventType::kBatchChanged && tail.type != WatchEventType::kBatchChanged) {
      event.type = tail.type;
      event.previous_status = tail.previous_status;
    } else if (event.type == WatchEventType::kStatusChanged &&
               tail.type == WatchEventType::kStatusChanged) {
      event.previous_status = tail.previous_status;
    } else if (tail.type == WatchEventType::kSnapshot) {
      event.type = WatchEventType::kSnapshot;
      event.previous_status = v1::BATCH_STATUS_UNSPECIFIED;
    }
    tail = std::move(event);
    ++conflated_;
    return;
  }
  events_.push_back(std::move(event));
}

WatchEvent ConflatingQueue::Pop() {
  WatchEvent event = std::move(events_.front());
  events_.erase(events_.begin());
  return event;
}

}  // namespace serpwow::logic
