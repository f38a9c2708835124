// List pacing (design §2.3): SerpWow allows 60 List calls a minute per
// account. One ListPacer per replica, shared by every caller of the List
// endpoint (ListBatches today; StopAll's pre-list and CreateBatch's
// reconciliation later), holds:
//  * a token bucket: `rate_per_minute` tokens a minute, at most `burst`
//    saved up, so over any 60 s at most burst + rate_per_minute calls leave
//    this replica (5 + 55 = SerpWow's 60 by default). With N replicas both
//    must be divided by N (README, deploy/README.md).
//    A call may wait for its token only until the earlier of its deadline
//    minus the expected upstream time and `max_wait` from now; otherwise it is
//    refused at once with the time to the next token (RATE_LIMITED,
//    limiter=gateway), nothing sent.
//  * a pause after an upstream 429: no token for Retry-After, or 5 s doubling
//    per consecutive 429 up to 60 s; a reply that is not a 429 resets it.
//  * coalescing: identical calls (the same upstream query) in flight share
//    one upstream request: the first leads, the others follow and get its
//    reply.
//  * a cache of successful replies for `cache_ttl`, keyed by the exact
//    upstream query, emptied by Invalidate() (every mutation through this
//    replica must call it; replies of calls that started before an
//    Invalidate() are not cached).
//
// Time comes from the clock given at construction (tests pass a fake one;
// nothing here sleeps). Thread-safe; callbacks (Waiter) run on the thread
// that completes or abandons the flight, with no lock held.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "server/upstream/http_types.h"

namespace serpwow::logic {

struct ListPacerOptions {
  // Tokens a minute; 0 turns the bucket off (every call gets a token).
  int rate_per_minute = 55;
  // Tokens that may be saved up (at least 1).
  int burst = 5;
  // How long a successful reply is served from the cache; 0 turns it off.
  absl::Duration cache_ttl = absl::Seconds(2);
  // The longest a call waits for a token.
  absl::Duration max_wait = absl::Seconds(2);
  // The pause after an upstream 429 without Retry-After, doubled per
  // consecutive 429 up to pause_max.
  absl::Duration pause_initial = absl::Seconds(5);
  absl::Duration pause_max = absl::Seconds(60);
};

// A token bucket with reservations (tokens may go negative: a granted wait
// is a reservation of a future token). Pure: every call takes the time.
class TokenBucket {
 public:
  TokenBucket(double rate_per_minute, double burst, absl::Time now);

  struct Grant {
    bool granted = false;
    // Granted: how long to wait before sending (0: now).
    absl::Duration wait;
    // Refused: when a token would have been ready (RetryInfo).
    absl::Duration retry_after;
  };
  // A token ready no later than `latest`, reserved when granted.
  Grant Take(absl::Time now, absl::Time latest);
  // No token is ready before `until`, and none saved up carries over it.
  void PauseUntil(absl::Time now, absl::Time until);
  // Whole tokens ready now (negative when reserved ahead).
  double Available(absl::Time now);
  absl::Duration PauseLeft(absl::Time now) const;

 private:
  void Refill(absl::Time now);
  const double per_second_;
  const double burst_;
  double tokens_;
  absl::Time updated_;
  absl::Time paused_until_ = absl::InfinitePast();
};

// Sees what the pacer decides (metrics). Must not block.
class ListPacerObserver {
 public:
  virtual ~ListPacerObserver() = default;
  // `result`: "hit", "miss" (sent upstream), "coalesced", "bypass".
  virtual void OnListCache(const char* result) = 0;
  // A call that got a token waited this long (0 for most).
  virtual void OnListWait(absl::Duration waited) = 0;
};

// RESOURCE_EXHAUSTED RATE_LIMITED, ErrorInfo metadata limiter=gateway and a
// RetryInfo of `retry_after`: the bucket (or a pause after SerpWow's 429,
// when `paused`) has no token for the call in time; nothing was sent.
absl::Status GatewayListRateLimited(const ListPacerOptions& options, absl::Duration retry_after,
                                    bool paused);

class ListPacer {
 public:
  using Clock = std::function<absl::Time()>;
  ListPacer(
      ListPacerOptions options, Clock clock = [] { return absl::Now(); },
      ListPacerObserver* observer = nullptr);

  const ListPacerOptions& options() const { return options_; }
  absl::Time Now() const { return clock_(); }

  // --- cache ---
  struct Cached {
    upstream::HttpResult result;
    absl::Duration age;
  };
  // A cached reply to `key` younger than the TTL (records hit or miss).
  absl::optional<Cached> Lookup(const std::string& key);
  // A successful reply to `key` for the cache, unless Invalidate() ran since
  // `generation` (from generation(), read before the request was sent).
  void Store(const std::string& key, const upstream::HttpResult& result, uint64_t generation);
  uint64_t generation() const;
  // Empties the cache; replies of calls already in flight are not cached.
  void Invalidate();

  // --- coalescing ---
  // Runs with the leader's reply, or with nullptr when the leader ended
  // without one (then the follower starts over).
  using Waiter = std::function<void(const upstream::HttpResult* result)>;
  // Joins the flight of `key` as a follower (true; `waiter` runs later), or
  // starts one led by `leader` (false).
  bool JoinOrLead(const std::string& key, const void* leader, Waiter waiter);
  // The leader's reply: stored (see Store) and handed to every follower.
  void Complete(const std::string& key, const void* leader, const upstream::HttpResult& result,
                uint64_t generation);
  // The leader ended without a reply: its followers start over. No-op when
  // `leader` does not lead a flight of `key`.
  void Abandon(const std::string& key, const void* leader);
  // Records that a call bypassed the cache (x-serpwow-cache: no-cache).
  void NoteBypass();

  // --- tokens ---
  // A token for a call whose deadline is `deadline` (see the header comment).
  TokenBucket::Grant Acquire(absl::Time deadline);
  absl::Duration PauseLeft();
  // An upstream 429, with its retry hint if any: pauses every List.
  void OnRateLimited(absl::optional<absl::Duration> hint);
  // An upstream reply that was not a 429, and how long it took.
  void OnReply(absl::Duration upstream_time);
  // What the wait budget subtracts from the deadline: an average of the
  // recent upstream times (200 ms before any).
  absl::Duration ExpectedUpstreamTime();
  double TokensAvailable();

  // --- List calls the gateway makes for itself ---
  // StopAll's pre-list and CreateBatch's reconciliation draw on the same
  // bucket, but never wait: a token now, or false (then nothing may be
  // sent). Then the reply goes to OnGatewayListReply (a 429 pauses every
  // List, as for ListBatches).
  bool TakeNow();
  void OnGatewayListReply(const upstream::HttpResult& result);

 private:
  struct Flight {
    const void* leader = nullptr;
    std::vector<Waiter> waiters;
  };
  struct Entry {
    upstream::HttpResult result;
    absl::Time stored;
  };
  void Prune(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the flight of `key` if `leader` leads it: its followers, to wake
  // with no lock held.
  std::vector<Waiter> TakeFlight(const std::string& key, const void* leader);

  const ListPacerOptions options_;
  const Clock clock_;
  ListPacerObserver* const observer_;
  mutable absl::Mutex mu_;
  TokenBucket bucket_ ABSL_GUARDED_BY(mu_);
  absl::Duration next_pause_ ABSL_GUARDED_BY(mu_);
  absl::Duration expected_upstream_ ABSL_GUARDED_BY(mu_) = absl::Milliseconds(200);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, Entry> cache_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Flight> flights_ ABSL_GUARDED_BY(mu_);
};

}  // namespace serpwow::logic
