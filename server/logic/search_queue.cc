#include "server/logic/search_queue.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/logic/errors.h"

namespace serpwow::logic {

// One call's place. Its state is touched on its key's loop thread only.
class SearchQueue::Entry {
 public:
  enum class State { kEntering, kWaiting, kHolding, kDone };
  std::string key;
  std::string batch_id;
  absl::Time deadline;
  absl::Time entered;
  size_t position = 0;
  Granted granted;
  State state = State::kEntering;
};

SearchQueue::SearchQueue(SearchQueueOptions options, Executor executor, Clock clock)
    : options_(options), executor_(std::move(executor)), clock_(std::move(clock)) {}

std::string SearchQueue::KeyFor(const std::string& batch_id) const {
  return options_.account_scope ? "account" : batch_id;
}

SearchQueue::Ticket SearchQueue::MakeTicket(const std::string& key, const std::string& batch_id,
                                            absl::Time deadline, Granted granted) {
  auto ticket = std::make_shared<Entry>();
  ticket->key = key;
  ticket->batch_id = batch_id;
  ticket->deadline = deadline;
  ticket->granted = std::move(granted);
  return ticket;
}

void SearchQueue::Enter(const Ticket& ticket) {
  ticket->entered = Now();
  executor_(ticket->key, absl::ZeroDuration(), [this, ticket] { EnterOnLoop(ticket); });
}

void SearchQueue::Leave(const Ticket& ticket) {
  if (ticket == nullptr) return;
  executor_(ticket->key, absl::ZeroDuration(), [this, ticket] { LeaveOnLoop(ticket); });
}

absl::Status SearchQueue::BusyError(const std::string& batch_id, size_t waiting,
                                    absl::Duration avg) const {
  // Time for the holder and every waiting call to go through.
  const absl::Duration drain =
      std::max(absl::Milliseconds(50), avg * static_cast<int64_t>(waiting + 1));
  ErrorBuilder error(
      absl::StatusCode::kAborted,
      absl::StrCat(options_.account_scope ? "the account's" : "the batch's",
                   " search queue is full (", waiting,
                   " calls waiting, --search_queue_max); SerpWow takes search calls ",
                   "one at a time: retry after ",
                   absl::FormatDuration(absl::Ceil(drain, absl::Milliseconds(1)))),
      reason::kBatchBusy);
  error.Metadata("batch_id", batch_id).RetryAfter(drain);
  return error;
}

void SearchQueue::EnterOnLoop(const Ticket& ticket) {
  if (ticket->state == Entry::State::kDone) return;  // left before it got here
  absl::Status refused;
  bool granted_now = false;
  {
    absl::MutexLock lock(&mu_);
    Queue& q = queues_[ticket->key];
    if (q.avg_hold == absl::ZeroDuration()) q.avg_hold = options_.initial_hold_estimate;
    if (q.holder == nullptr && q.waiting.empty()) {
      q.holder = ticket;
      q.held_since = Now();
      ticket->state = Entry::State::kHolding;
      granted_now = true;
    } else if (q.waiting.size() >= options_.max_waiting) {
      refused = BusyError(ticket->batch_id, q.waiting.size(), q.avg_hold);
      ticket->state = Entry::State::kDone;
      if (q.holder == nullptr && q.waiting.empty()) queues_.erase(ticket->key);
    } else {
      ticket->position = q.waiting.size() + (q.holder != nullptr ? 1 : 0);
      ticket->state = Entry::State::kWaiting;
      q.waiting.push_back(ticket);
    }
  }
  if (granted_now) {
    Granted granted = std::move(ticket->granted);
    granted(absl::OkStatus(), Grant{Now() - ticket->entered, 0});
    return;
  }
  if (!refused.ok()) {
    Granted granted = std::move(ticket->granted);
    granted(std::move(refused), Grant{});
    return;
  }
  if (ticket->deadline < absl::InfiniteFuture()) {
    executor_(ticket->key, std::max(absl::ZeroDuration(), ticket->deadline - Now()),
              [this, ticket] { ExpireOnLoop(ticket); });
  }
}

void SearchQueue::ExpireOnLoop(const Ticket& ticket) {
  if (ticket->state != Entry::State::kWaiting) return;
  // A loop that stops runs its timers early: only a deadline really passed
  // counts (at shutdown the call is ended by the shutdown itself).
  if (Now() < ticket->deadline) return;
  {
    absl::MutexLock lock(&mu_);
    auto it = queues_.find(ticket->key);
    if (it != queues_.end()) {
      auto& waiting = it->second.waiting;
      waiting.erase(std::remove(waiting.begin(), waiting.end(), ticket), waiting.end());
    }
    ticket->state = Entry::State::kDone;
  }
  Granted granted = std::move(ticket->granted);
  granted(ErrorBuilder(
              absl::StatusCode::kDeadlineExceeded,
              absl::StrCat("the call's deadline passed while it waited for its turn in "
                           "the search queue of ",
                           options_.account_scope ? "the account" : "batch ",
                           options_.account_scope ? "" : ticket->batch_id, "; nothing was sent"),
              reason::kDeadlineExceeded)
              .Metadata("batch_id", ticket->batch_id)
              .Build(),
          Grant{Now() - ticket->entered, ticket->position});
}

void SearchQueue::LeaveOnLoop(const Ticket& ticket) {
  const Entry::State was = ticket->state;
  ticket->state = Entry::State::kDone;
  ticket->granted = nullptr;  // never runs now; drops what it holds
  if (was == Entry::State::kEntering || was == Entry::State::kDone) return;
  {
    absl::MutexLock lock(&mu_);
    auto it = queues_.find(ticket->key);
    if (it == queues_.end()) return;
    Queue& q = it->second;
    if (was == Entry::State::kWaiting) {
      q.waiting.erase(std::remove(q.waiting.begin(), q.waiting.end(), ticket), q.waiting.end());
      if (q.holder == nullptr && q.waiting.empty()) queues_.erase(it);
      return;
    }
    if (q.holder != ticket) return;
    // A moving average of how long the slot is held (for RetryInfo).
    q.avg_hold = (q.avg_hold * 3 + (Now() - q.held_since)) / 4;
    q.holder = nullptr;
  }
  GrantNext(ticket->key);
}

void SearchQueue::GrantNext(const std::string& key) {
  Ticket next;
  {
    absl::MutexLock lock(&mu_);
    auto it = queues_.find(key);
    if (it == queues_.end()) return;
    Queue& q = it->second;
    if (q.holder != nullptr) return;
    if (q.waiting.empty()) {
      queues_.erase(it);
      return;
    }
    next = std::move(q.waiting.front());
    q.waiting.pop_front();
    q.holder = next;
    q.held_since = Now();
    next->state = Entry::State::kHolding;
  }
  Granted granted = std::move(next->granted);
  granted(absl::OkStatus(), Grant{Now() - next->entered, next->position});
}

int64_t SearchQueue::depth_max() const {
  absl::MutexLock lock(&mu_);
  int64_t deepest = 0;
  for (const auto& [key, q] : queues_) {
    deepest =
        std::max<int64_t>(deepest, static_cast<int64_t>(q.waiting.size()) + (q.holder ? 1 : 0));
  }
  return deepest;
}

int64_t SearchQueue::size() const {
  absl::MutexLock lock(&mu_);
  int64_t n = 0;
  for (const auto& [key, q] : queues_) {
    n += static_cast<int64_t>(q.waiting.size()) + (q.holder ? 1 : 0);
  }
  return n;
}

}  // namespace serpwow::logic
