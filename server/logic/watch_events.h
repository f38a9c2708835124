// WatchBatch's pure parts (design §2.8): the events that lead from one
// snapshot of a batch to the next, the poll interval of a watched batch, and
// the conflating queue of one stream's pending events. No I/O, no clock, no
// threads: the hub (watch_hub.h) and the reactor drive them.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "serpwow/batches/v1/resources.pb.h"
#include "server/logic/list_pacer.h"

namespace serpwow::logic {

enum class WatchEventType {
  kSnapshot,
  kStatusChanged,
  kRunCompleted,
  kRunEnded,
  kBatchChanged,
  kBatchDeleted,
};
inline constexpr int kWatchEventTypes = 6;
const char* WatchEventTypeName(WatchEventType type);  // "snapshot", ...: metric label

// One event as the logic layer builds it (the rpc edge turns it into a
// WatchBatchEvent).
struct WatchEvent {
  WatchEventType type = WatchEventType::kSnapshot;
  serpwow::batches::v1::Batch batch;  // as last read
  serpwow::batches::v1::BatchStatus previous_status =
      serpwow::batches::v1::BATCH_STATUS_UNSPECIFIED;
  // RUN_COMPLETED: the new result set's id (0: not known, results_count grew
  // without next_result_set_id) and, once read, the result set itself.
  int32_t result_set_id = 0;
  serpwow::batches::v1::ResultSet result_set;
  absl::Time observe_time;
  absl::Duration poll_interval;
};

// RUN_COMPLETED, RUN_ENDED and BATCH_DELETED are never conflated away.
bool IsRunEnd(WatchEventType type);

// The events leading from `previous` to `next` (both of the same batch), in
// this order:
//  * STATUS_CHANGED when the status changed, unless the change is back to
//    idle from queued or running (RUN_COMPLETED or RUN_ENDED say that, with
//    previous_status);
//  * RUN_COMPLETED per new result set: ids from previous.next_result_set_id
//    up to next.next_result_set_id - 1; when next_result_set_id did not move
//    but results_count grew, one per result set added, id 0 (unknown). Also
//    when the run began and ended between the two reads (idle to idle);
//  * RUN_ENDED when the status went from queued or running to idle with no
//    new result set (stopped, or failed);
//  * BATCH_CHANGED when any other field changed (settings, search counts),
//    and only then: last_run_time and expire_time move with every run and
//    do not count.
// Empty when nothing changed. `previous_status` is previous.status() for
// the first three. observe_time and poll_interval are left for the caller.
std::vector<WatchEvent> DiffBatches(const serpwow::batches::v1::Batch& previous,
                                    const serpwow::batches::v1::Batch& next);

// The first events of a stream: a SNAPSHOT of `current`, or with `since`
// (the caller's last seen state of the same batch) DiffBatches(since,
// current), a SNAPSHOT when that is empty.
std::vector<WatchEvent> FirstEvents(const serpwow::batches::v1::Batch* since,
                                    const serpwow::batches::v1::Batch& current);

struct WatchIntervals {
  absl::Duration queued = absl::Seconds(10);
  absl::Duration running = absl::Seconds(5);
  absl::Duration idle = absl::Seconds(60);
  // Polls a second over every watched batch of the replica (with the
  // result-set reads of completed runs); 0 or less: no budget.
  double poll_rate = 10;
  // The interval is jittered by up to this share either way.
  double jitter = 0.2;
};

// A batch's poll interval before jitter: its status's interval, stretched to
// `watched_batches` / poll_rate when that is longer, so that with B batches
// watched the polls of all of them fit the budget and every batch's interval
// stretches alike. An unknown status polls at the queued interval.
absl::Duration BaseInterval(const WatchIntervals& intervals,
                            serpwow::batches::v1::BatchStatus status, size_t watched_batches);

// `base` scaled by 1 + jitter * (2 * unit - 1), `unit` in [0, 1).
absl::Duration Jittered(absl::Duration base, double jitter, double unit);

// The poll budget of a replica's watch reads: a token bucket of `rate` a
// second (at most max(1, rate) saved up), so over any window T at most
// max(1, rate) + rate * T reads leave the replica. Take() reserves the next
// token and says how long to wait for it. After a 429 no token is given for
// Retry-After, else `pause_initial` doubling per consecutive 429 up to
// `pause_max`; a reply that is not a 429 resets the doubling. Pure (every
// call takes the time); not thread-safe (the hub locks it). rate <= 0: no
// budget, every read goes at once.
class WatchBudget {
 public:
  WatchBudget(double rate, absl::Duration pause_initial, absl::Duration pause_max, absl::Time now);
  absl::Duration Take(absl::Time now);
  // Returns the pause applied.
  absl::Duration RateLimited(absl::Time now, absl::optional<absl::Duration> retry_after);
  void NotRateLimited() { consecutive_429_ = 0; }

 private:
  const double rate_;
  const absl::Duration pause_initial_;
  const absl::Duration pause_max_;
  TokenBucket bucket_;
  int consecutive_429_ = 0;
};

// One stream's events not yet written. Events are appended in order; while
// a write is under way more may come, and a slow reader must not make the
// queue grow with every poll: an event that only reports state (SNAPSHOT,
// STATUS_CHANGED, BATCH_CHANGED) replaces a state event at the tail (the
// latest state wins; the replaced one is counted as conflated), while
// RUN_COMPLETED, RUN_ENDED and BATCH_DELETED are always kept. So the queue
// holds at most one state event between two run ends: its length is bounded
// by the runs the batch makes while the reader does not read.
class ConflatingQueue {
 public:
  void Push(WatchEvent event);
  bool empty() const { return events_.empty(); }
  size_t size() const { return events_.size(); }
  WatchEvent Pop();
  void Clear() { events_.clear(); }
  uint64_t conflated() const { return conflated_; }

 private:
  // A vector, not a deque: an empty one allocates nothing (a deque holds a
  // block from the start), and an open stream's queue is nearly always
  // empty; when it is not, it holds a few events (conflation keeps it short).
  std::vector<WatchEvent> events_;
  uint64_t conflated_ = 0;
};

}  // namespace serpwow::logic
