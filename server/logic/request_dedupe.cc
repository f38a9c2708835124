#include "server/logic/request_dedupe.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "server/logic/errors.h"

namespace serpwow::logic {

absl::Status ValidateRequestId(const std::string& id, const std::string& field) {
  bool ok = id.size() == 36;
  for (size_t i = 0; ok && i < id.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    ok = dash ? id[i] == '-' : absl::ascii_isxdigit(static_cast<unsigned char>(id[i]));
  }
  if (ok) return absl::OkStatus();
  return ErrorBuilder(absl::StatusCode::kInvalidArgument,
                      "request_id must be a UUID such as 0d5c0a3e-9a54-4f3e-8d55-2f4b9d1c7a10",
                      reason::kInvalidRequestId)
      .BadRequestField(field, "not a UUID (8-4-4-4-12 hexadecimal digits)");
}

uint64_t RequestFingerprint(absl::string_view method, absl::string_view payload) {
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](unsigned char c) {
    h ^= c;
    h *= 1099511628211ull;
  };
  for (char c : method) mix(static_cast<unsigned char>(c));
  mix(0);
  for (char c : payload) mix(static_cast<unsigned char>(c));
  return h;
}

RequestDedupe::RequestDedupe(DedupeOptions options, Clock clock)
    : options_(options), clock_(clock ? std::move(clock) : Clock([] { return absl::Now(); })) {}

void RequestDedupe::TouchLocked(Entry& entry) { lru_.splice(lru_.begin(), lru_, entry.lru); }

void RequestDedupe::EvictLocked(absl::Time now) {
  // From the oldest-used end: expired entries, and finished ones beyond the
  // bound. An entry in flight is never evicted (its first call will finish it).
  auto it = lru_.end();
  while (it != lru_.begin()) {
    --it;
    auto found = entries_.find(*it);
    const Entry& e = found->second;
    const bool expired = !e.in_flight && now - e.stored_at >= options_.ttl;
    const bool over = entries_.size() > options_.max_entries && !e.in_flight;
    if (!expired && !over) {
      if (entries_.size() <= options_.max_entries) break;
      continue;
    }
    it = lru_.erase(it);
    entries_.erase(found);
  }
}

RequestDedupe::Claim RequestDedupe::Begin(const std::string& request_id, uint64_t fingerprint,
                                          Waiter waiter) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_();
  auto it = entries_.find(request_id);
  if (it != entries_.end() && !it->second.in_flight && now - it->second.stored_at >= options_.ttl) {
    lru_.erase(it->second.lru);
    entries_.erase(it);
    it = entries_.end();
  }
  Claim claim;
  if (it == entries_.end()) {
    Entry entry;
    entry.fingerprint = fingerprint;
    lru_.push_front(request_id);
    entry.lru = lru_.begin();
    entries_.emplace(request_id, std::move(entry));
    EvictLocked(now);
    claim.kind = Kind::kFirst;
    return claim;
  }
  Entry& entry = it->second;
  TouchLocked(entry);
  if (entry.fingerprint != fingerprint) {
    claim.kind = Kind::kReused;
  } else if (entry.in_flight) {
    entry.waiters.push_back(std::move(waiter));
    claim.kind = Kind::kWaiting;
  } else {
    claim.kind = Kind::kStored;
    claim.answer = entry.answer;
  }
  return claim;
}

void RequestDedupe::Finish(const std::string& request_id, const StoredAnswer& answer, bool keep) {
  std::vector<Waiter> waiters;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(request_id);
    if (it == entries_.end() || !it->second.in_flight) return;
    waiters = std::move(it->second.waiters);
    if (keep) {
      it->second.in_flight = false;
      it->second.answer = answer;
      it->second.stored_at = clock_();
      it->second.waiters.clear();
      EvictLocked(it->second.stored_at);
    } else {
      lru_.erase(it->second.lru);
      entries_.erase(it);
    }
  }
  for (Waiter& waiter : waiters) waiter(keep ? &answer : nullptr);
}

size_t RequestDedupe::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

}  // namespace serpwow::logic
