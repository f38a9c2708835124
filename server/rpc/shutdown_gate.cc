#include "server/rpc/shutdown_gate.h"

#include <algorithm>

namespace serpwow::rpc {

absl::Time RefusalWindowEnd(absl::Time began, absl::Time last_refused, size_t held,
                            absl::Duration grace) {
  if (held >= kMaxHeldAnswers) return began;
  const absl::Time quiet = std::max(began, last_refused) + kRefusalQuiet;
  return std::min({quiet, began + kRefusalMax, began + std::max(grace, absl::ZeroDuration())});
}

void ShutdownGate::Refused(absl::Time now) {
  absl::MutexLock lock(&mu_);
  last_refused_ = std::max(last_refused_, now);
}

void ShutdownGate::Finish(grpc::ServerUnaryReactor* reactor, grpc::Status status) {
  // Open: no lock. A Finish that read kOpen just as Hold() ran goes out
  // before the window; its client's next call then arrives in the window.
  if (state_.load(std::memory_order_acquire) != State::kOpen) {
    absl::MutexLock lock(&mu_);
    if (state_.load(std::memory_order_relaxed) == State::kHolding) {
      held_.emplace_back(reactor, std::move(status));
      return;
    }
  }
  reactor->Finish(std::move(status));
}

void ShutdownGate::Hold() {
  absl::MutexLock lock(&mu_);
  if (state_.load(std::memory_order_relaxed) != State::kOpen) return;
  state_.store(State::kHolding, std::memory_order_release);
}

void ShutdownGate::Release() {
  std::vector<std::pair<grpc::ServerUnaryReactor*, grpc::Status>> held;
  {
    absl::MutexLock lock(&mu_);
    state_.store(State::kReleased, std::memory_order_release);
    held.swap(held_);
  }
  // Not under mu_: Finish may run the reactor's OnDone inline.
  for (auto& [reactor, status] : held) reactor->Finish(std::move(status));
}

absl::Time ShutdownGate::last_refused() const {
  absl::MutexLock lock(&mu_);
  return last_refused_;
}

size_t ShutdownGate::held() const {
  absl::MutexLock lock(&mu_);
  return held_.size();
}

}  // namespace serpwow::rpc
