#include "server/logic/list_pacer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/logic/errors.h"
#include "server/logic/outcome.h"

namespace serpwow::logic {

// --- TokenBucket ----------------------------------------------------------------

TokenBucket::TokenBucket(double rate_per_minute, double burst, absl::Time now)
    : per_second_(std::max(0.0, rate_per_minute) / 60.0),
      burst_(std::max(1.0, burst)),
      tokens_(burst_),
      updated_(now) {}

void TokenBucket::Refill(absl::Time now) {
  if (now <= updated_) return;
  tokens_ = std::min(burst_, tokens_ + absl::ToDoubleSeconds(now - updated_) * per_second_);
  updated_ = now;
}

TokenBucket::Grant TokenBucket::Take(absl::Time now, absl::Time latest) {
  Grant grant;
  if (per_second_ <= 0) {  // no bucket: only a pause holds calls back
    const absl::Duration pause = PauseLeft(now);
    grant.granted = now + pause <= latest;
    (grant.granted ? grant.wait : grant.retry_after) = pause;
    return grant;
  }
  Refill(now);
  // tokens_ is as of max(now, updated_); updated_ is ahead of now only
  // during a pause.
  absl::Time ready = std::max(now, updated_);
  if (tokens_ < 1.0) ready += absl::Seconds((1.0 - tokens_) / per_second_);
  ready = std::max(ready, paused_until_);
  // Whole milliseconds, rounded up: a caller told to retry after the
  // RetryInfo delay finds its token.
  const absl::Duration wait = absl::Ceil(ready - now, absl::Milliseconds(1));
  if (now + wait > latest) {
    grant.retry_after = std::max(wait, absl::Milliseconds(1));
    return grant;
  }
  tokens_ -= 1.0;
  grant.granted = true;
  grant.wait = wait;
  return grant;
}

void TokenBucket::PauseUntil(absl::Time now, absl::Time until) {
  Refill(now);
  paused_until_ = std::max(paused_until_, until);
  // Nothing saved up survives the pause: after it, calls resume at the rate.
  tokens_ = std::min(tokens_, 0.0);
  if (until > updated_) updated_ = until;
}

double TokenBucket::Available(absl::Time now) {
  if (per_second_ <= 0) return burst_;
  Refill(now);
  return tokens_;
}

absl::Duration TokenBucket::PauseLeft(absl::Time now) const {
  return paused_until_ > now ? paused_until_ - now : absl::ZeroDuration();
}

// --- ListPacer ------------------------------------------------------------------

absl::Status GatewayListRateLimited(const ListPacerOptions& options, absl::Duration retry_after,
                                    bool paused) {
  const absl::Duration delay = absl::Ceil(retry_after, absl::Milliseconds(1));
  const std::string why =
      paused ? "SerpWow refused a List call with 429 just now, so the gateway holds every List "
               "call for a while"
             : absl::StrCat("the gateway sends at most ", options.rate_per_minute,
                            " List calls a minute (SerpWow allows 60 per account) and has no "
                            "token for this call before its deadline");
  return ErrorBuilder(
             absl::StatusCode::kResourceExhausted,
             absl::StrCat(why, "; nothing was sent; retry after ", absl::FormatDuration(delay)),
             reason::kRateLimited)
      .Metadata("limiter", "gateway")
      .RetryAfter(delay);
}

ListPacer::ListPacer(ListPacerOptions options, Clock clock, ListPacerObserver* observer)
    : options_(options),
      clock_(std::move(clock)),
      observer_(observer),
      bucket_(options.rate_per_minute, options.burst, clock_()),
      next_pause_(options.pause_initial) {}

void ListPacer::Prune(absl::Time now) {
  for (auto it = cache_.begin(); it != cache_.end();) {
    it = now - it->second.stored >= options_.cache_ttl ? cache_.erase(it) : std::next(it);
  }
}

absl::optional<ListPacer::Cached> ListPacer::Lookup(const std::string& key) {
  absl::optional<Cached> out;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_();
    Prune(now);
    auto it = cache_.find(key);
    if (it != cache_.end()) out = Cached{it->second.result, now - it->second.stored};
  }
  if (out && observer_ != nullptr) observer_->OnListCache("hit");
  return out;
}

void ListPacer::Store(const std::string& key, const upstream::HttpResult& result,
                      uint64_t generation) {
  if (options_.cache_ttl <= absl::ZeroDuration()) return;
  if (result.error != upstream::TransportError::kNone || result.http_status / 100 != 2) return;
  absl::MutexLock lock(&mu_);
  if (generation != generation_) return;  // a mutation ran meanwhile
  const absl::Time now = clock_();
  Prune(now);
  cache_[key] = Entry{result, now};
}

uint64_t ListPacer::generation() const {
  absl::MutexLock lock(&mu_);
  return generation_;
}

void ListPacer::Invalidate() {
  absl::MutexLock lock(&mu_);
  ++generation_;
  cache_.clear();
}

bool ListPacer::JoinOrLead(const std::string& key, const void* leader, Waiter waiter) {
  bool follows;
  {
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = flights_.try_emplace(key);
    follows = !inserted;
    if (follows) {
      it->second.waiters.push_back(std::move(waiter));
    } else {
      it->second.leader = leader;
    }
  }
  if (observer_ != nullptr) observer_->OnListCache(follows ? "coalesced" : "miss");
  return follows;
}

std::vector<ListPacer::Waiter> ListPacer::TakeFlight(const std::string& key, const void* leader) {
  absl::MutexLock lock(&mu_);
  auto it = flights_.find(key);
  if (it == flights_.end() || it->second.leader != leader) return {};
  std::vector<Waiter> waiters = std::move(it->second.waiters);
  flights_.erase(it);
  return waiters;
}

void ListPacer::Complete(const std::string& key, const void* leader,
                         const upstream::HttpResult& result, uint64_t generation) {
  Store(key, result, generation);
  for (Waiter& w : TakeFlight(key, leader)) w(&result);
}

void ListPacer::Abandon(const std::string& key, const void* leader) {
  for (Waiter& w : TakeFlight(key, leader)) w(nullptr);
}

void ListPacer::NoteBypass() {
  if (observer_ != nullptr) observer_->OnListCache("bypass");
}

bool ListPacer::TakeNow() {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_();
  return bucket_.Take(now, now).granted;
}

void ListPacer::OnGatewayListReply(const upstream::HttpResult& result) {
  if (result.http_status == 429) {
    OnRateLimited(RetryHintOf(result));
  } else if (result.http_status != 0) {
    OnReply(result.elapsed);
  }
}

TokenBucket::Grant ListPacer::Acquire(absl::Time deadline) {
  TokenBucket::Grant grant;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_();
    absl::Time latest = now + options_.max_wait;
    if (deadline != absl::InfiniteFuture())
      latest = std::min(latest, deadline - expected_upstream_);
    grant = bucket_.Take(now, latest);
  }
  if (grant.granted && observer_ != nullptr) observer_->OnListWait(grant.wait);
  return grant;
}

absl::Duration ListPacer::PauseLeft() {
  absl::MutexLock lock(&mu_);
  return bucket_.PauseLeft(clock_());
}

void ListPacer::OnRateLimited(absl::optional<absl::Duration> hint) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_();
  absl::Duration pause = next_pause_;
  if (hint && *hint > absl::ZeroDuration()) pause = std::min(*hint, options_.pause_max);
  next_pause_ = std::min(next_pause_ * 2, options_.pause_max);
  bucket_.PauseUntil(now, now + pause);
}

void ListPacer::OnReply(absl::Duration upstream_time) {
  absl::MutexLock lock(&mu_);
  next_pause_ = options_.pause_initial;
  // An exponential average (1/5 weight to the newest), kept in [10 ms, 5 s].
  expected_upstream_ = std::clamp(expected_upstream_ * 0.8 + upstream_time * 0.2,
                                  absl::Milliseconds(10), absl::Seconds(5));
}

absl::Duration ListPacer::ExpectedUpstreamTime() {
  absl::MutexLock lock(&mu_);
  return expected_upstream_;
}

double ListPacer::TokensAvailable() {
  absl::MutexLock lock(&mu_);
  return bucket_.Available(clock_());
}

}  // namespace serpwow::logic
