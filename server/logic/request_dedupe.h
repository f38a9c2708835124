// request_id de-duplication (AIP-155), per gateway replica: a bounded LRU
// table from a caller's request_id to the fingerprint of the request it came
// with and to "in flight" or the stored answer. Free of gRPC types.
//
//   - The first call with an id runs (kFirst) and must call Finish() when
//     it ends.
//   - A call with the same id and payload while the first is in flight
//     waits (kWaiting): its Waiter runs once, on the thread that finishes
//     the first call, so no thread blocks.
//   - A call with the same id and payload after the first finished gets the
//     stored answer (kStored), for `ttl` after it was stored.
//   - The same id with another payload (or another method) is kReused.
//
// Finish(keep=false) forgets the id (the first call changed nothing upstream:
// a retry should run again); its waiters are then told to claim again.
// Entries are evicted oldest-used first beyond `max_entries` (never one in
// flight) and when older than `ttl`. The clock is a seam for the tests.
//
// Thread-safe; waiters run outside the table's lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace serpwow::logic {

struct DedupeOptions {
  size_t max_entries = 100000;
  absl::Duration ttl = absl::Hours(24);
};

// A finished call's answer: its status and, when OK, its result (the
// operation's result type; the fingerprint covers the method, so an id's
// result is always read back as the type it was stored as).
struct StoredAnswer {
  absl::Status status;
  std::shared_ptr<const void> result;
};

// OK for a UUID in its canonical text form (8-4-4-4-12 hex digits, either
// case), else INVALID_ARGUMENT INVALID_REQUEST_ID with a BadRequest on
// `field`. The empty string is not a UUID: callers check "set" first.
absl::Status ValidateRequestId(const std::string& request_id, const std::string& field);

// FNV-1a 64 of `method`, a NUL, and `payload` (the request without its
// request_id, deterministically serialized).
uint64_t RequestFingerprint(absl::string_view method, absl::string_view payload);

class RequestDedupe {
 public:
  using Clock = std::function<absl::Time()>;
  // Runs once: with the first call's answer, or with nullptr when the first
  // call was forgotten (claim again).
  using Waiter = std::function<void(const StoredAnswer*)>;

  enum class Kind { kFirst, kWaiting, kStored, kReused };
  struct Claim {
    Kind kind = Kind::kFirst;
    StoredAnswer answer;  // kStored only
  };

  explicit RequestDedupe(DedupeOptions options, Clock clock = nullptr);
  RequestDedupe(const RequestDedupe&) = delete;
  RequestDedupe& operator=(const RequestDedupe&) = delete;

  // `waiter` is kept only for kWaiting.
  Claim Begin(const std::string& request_id, uint64_t fingerprint, Waiter waiter);
  // The first call with `request_id` ended: stores `answer` when `keep`,
  // else forgets the id; then runs the waiters.
  void Finish(const std::string& request_id, const StoredAnswer& answer, bool keep);

  size_t size() const;

 private:
  struct Entry {
    uint64_t fingerprint = 0;
    bool in_flight = true;
    StoredAnswer answer;
    absl::Time stored_at;
    std::vector<Waiter> waiters;
    std::list<std::string>::iterator lru;  // position in lru_ (front: newest)
  };
  void EvictLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TouchLocked(Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const DedupeOptions options_;
  const Clock clock_;
  mutable absl::Mutex mu_;
  std::unordered_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);
};

}  // namespace serpwow::logic
