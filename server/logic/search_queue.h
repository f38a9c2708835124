// The search queue (design §2.2): SerpWow answers 429 to search calls (add,
// update, delete, bulk delete, clear, find) sent concurrently on one batch,
// so the gateway sends them one at a time, in arrival order, per batch (or,
// with --search_mutation_scope=account, for the whole account). Free of gRPC
// types.
//
// One FIFO per key (a batch id, or "account") with ONE call holding the
// key's slot at a time. Each key's queue lives on that key's upstream loop:
// every step runs there (the executor's RunAfter(key, ...)), so a queue's
// entries are touched by one thread only. A small lock guards only the
// table of queues, which the loops of different keys share; it is never
// held while a caller's callback runs, and no gRPC thread ever waits for
// upstream work.
//
//   Enter()  the call waits for the slot; `granted` runs once on the loop:
//            OK with the slot held (the call must Leave() when it ends),
//            or ABORTED BATCH_BUSY (RetryInfo: the queue's expected drain
//            time) when `max_waiting` calls already wait, or
//            DEADLINE_EXCEEDED when the deadline passes while waiting (a
//            timer on the loop; nothing was sent).
//   Leave()  from any thread, once per entry, however the call ended (End,
//            Cancel, shutdown): a waiting entry leaves the queue at once
//            (its `granted` never runs), a holder releases the slot to the
//            next one. An entry left before its Enter reached the loop is
//            dropped when it gets there.
// After a shutdown's cancellations and the loops' last timers (which run at
// once when a loop stops), nothing is left waiting or holding: size() is 0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace serpwow::logic {

struct SearchQueueOptions {
  // Calls waiting per queue (beyond the one holding the slot); a call that
  // finds this many is refused with ABORTED BATCH_BUSY.
  size_t max_waiting = 32;
  // One queue for the whole account instead of one per batch (SerpWow does
  // not say whether its 429 rule is per batch or per account).
  bool account_scope = false;
  // A slot's hold time assumed before any call has ended (RetryInfo).
  absl::Duration initial_hold_estimate = absl::Milliseconds(200);
};

class SearchQueue {
 public:
  // Runs `fn` after `delay` on the loop of `key` (SerpwowClient::RunAfter).
  // At a loop's shutdown pending functions must still run (they do: the
  // loop runs its timers at once when it stops).
  using Executor =
      std::function<void(const std::string& key, absl::Duration delay, std::function<void()> fn)>;
  using Clock = std::function<absl::Time()>;

  // What a granted call learns, for its log line.
  struct Grant {
    absl::Duration waited;  // from Enter to the slot
    size_t position = 0;    // calls ahead of it when it arrived (0: none)
  };
  using Granted = std::function<void(absl::Status, Grant)>;

  class Entry;
  using Ticket = std::shared_ptr<Entry>;

  SearchQueue(SearchQueueOptions options, Executor executor, Clock clock = nullptr);
  SearchQueue(const SearchQueue&) = delete;
  SearchQueue& operator=(const SearchQueue&) = delete;

  const SearchQueueOptions& options() const { return options_; }
  // The queue (and loop shard) of a search call on `batch_id`.
  std::string KeyFor(const std::string& batch_id) const;

  // A call's place in the queue of `key`, not yet entered: keep it before
  // Enter(), so that Leave() can always find it. `batch_id` is for the
  // errors' metadata.
  static Ticket MakeTicket(const std::string& key, const std::string& batch_id, absl::Time deadline,
                           Granted granted);
  // Any thread, once per ticket.
  void Enter(const Ticket& ticket);
  // Any thread; at most once per ticket (a null ticket is ignored).
  void Leave(const Ticket& ticket);

  // Over every queue: the deepest now (waiting + holding), and every entry
  // waiting or holding.
  int64_t depth_max() const;
  int64_t size() const;

 private:
  struct Queue {
    std::deque<Ticket> waiting;
    Ticket holder;
    absl::Time held_since;
    absl::Duration avg_hold;  // moving average of slot hold times
  };
  // Loop-thread steps of one key.
  void EnterOnLoop(const Ticket& ticket);
  void LeaveOnLoop(const Ticket& ticket);
  void ExpireOnLoop(const Ticket& ticket);
  // Hands the free slot of `key` to its next waiting entry, if any.
  void GrantNext(const std::string& key);
  absl::Status BusyError(const std::string& batch_id, size_t waiting, absl::Duration avg) const;
  absl::Time Now() const { return clock_ ? clock_() : absl::Now(); }

  const SearchQueueOptions options_;
  const Executor executor_;
  const Clock clock_;
  mutable absl::Mutex mu_;
  std::map<std::string, Queue> queues_ ABSL_GUARDED_BY(mu_);
};

}  // namespace serpwow::logic
