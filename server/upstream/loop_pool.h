// LoopPool: the upstream loops, sharded by a key. Every call with the same
// shard key (a batch id, or "account" for account-wide calls) runs on the
// same loop, so one call's transfers, its retry timers and its follow-up
// requests stay on one thread, in order. Transfer ids name their loop
// (HttpLoopOptions::id_shard), so Cancel needs only the id.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "server/upstream/http_loop.h"

namespace serpwow::upstream {

class LoopPool {
 public:
  // `loops` (at least one; loop i created with id_shard i of id_shards
  // loops.size()) must outlive the pool.
  explicit LoopPool(std::vector<HttpLoop*> loops);

  HttpLoop& For(const std::string& shard_key) const;
  // Cancels a transfer on whichever loop it runs.
  void Cancel(TransferId id) const { loops_[id % loops_.size()]->Cancel(id); }
  // Runs `fn` after `delay` on the loop of `shard_key` (retry backoff).
  void RunAfter(const std::string& shard_key, absl::Duration delay,
                std::function<void()> fn) const {
    For(shard_key).RunAfter(delay, std::move(fn));
  }

  size_t size() const { return loops_.size(); }
  // Over all loops.
  int64_t in_flight() const;
  int64_t connections_opened() const;

 private:
  const std::vector<HttpLoop*> loops_;
};

}  // namespace serpwow::upstream
