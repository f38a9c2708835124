#include "server/upstream/loop_pool.h"

#include <utility>

namespace serpwow::upstream {

LoopPool::LoopPool(std::vector<HttpLoop*> loops) : loops_(std::move(loops)) {}

HttpLoop& LoopPool::For(const std::string& shard_key) const {
  // std::hash is stable within a process, which is all sharding needs.
  return *loops_[std::hash<std::string>{}(shard_key) % loops_.size()];
}

int64_t LoopPool::in_flight() const {
  int64_t n = 0;
  for (const HttpLoop* loop : loops_) n += loop->in_flight();
  return n;
}

int64_t LoopPool::connections_opened() const {
  int64_t n = 0;
  for (const HttpLoop* loop : loops_) n += loop->connections_opened();
  return n;
}

}  // namespace serpwow::upstream
