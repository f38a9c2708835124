// ShutdownGate: how the gateway refuses calls at shutdown so that every call
// it refuses hears UNAVAILABLE SHUTTING_DOWN (gateway.cc, Gateway::Shutdown).
//
// The problem it solves is gRPC's. Once grpc::Server's shutdown has begun,
// a call that reaches the server is not handed to the service: gRPC 1.51
// drops it, and the caller hears CANCELLED with no details, which no retry
// policy retries. Such calls are the ones a client sent before it read the
// server's GOAWAY. So the gateway refuses calls itself first, and makes sure
// that no client is prompted to send a call just before the GOAWAY:
//
//   Hold():    from now on, every new call is refused (the reactor answers
//              UNAVAILABLE SHUTTING_DOWN at once), and no call's answer is
//              sent: Finish is held. A client that waits for an answer
//              before it sends its next call now has nothing in the air.
//   ...        the refusal window (RefusalWindowEnd below) lets the calls
//              that clients sent just before Hold() arrive and be refused.
//   (gateway)  grpc::Server shutdown begins: GOAWAY is queued on every
//              connection.
//   Release(): the held answers are sent, after the GOAWAY on the same
//              connection, so a client reads the GOAWAY first and sends its
//              next call (or its retry) on a new connection, to another
//              instance. Answers after Release() are sent at once.
//
// A client that sends new calls regardless of answers and does not run into
// a bound on its calls in flight during the window can still have one in
// the air at the GOAWAY: docs/faults.md ("Shutdown under load") has what is
// left to gRPC and the mitigation.
//
// Thread-safe. Finish and refusing are on every call's path: one atomic load
// while open.
#pragma once

#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/status.h>

#include <atomic>
#include <cstddef>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace serpwow::rpc {

// The refusal window: it ends once no call has been refused for
// kRefusalQuiet (every client that had an answer just before the window
// began has sent its next call and been refused: what a client takes to
// answer an answer, with room for a loaded machine); at most kRefusalMax
// after it began (what still arrives then comes from clients that send
// regardless of answers, which a longer window would not help); as soon as
// kMaxHeldAnswers answers are held (each holds a stream's memory); and never
// after the shutdown's grace period. Pure: the caller passes the readings
// (the tests use fixed times).
inline constexpr absl::Duration kRefusalQuiet = absl::Milliseconds(200);
inline constexpr absl::Duration kRefusalMax = absl::Milliseconds(500);
inline constexpr size_t kMaxHeldAnswers = 2048;
absl::Time RefusalWindowEnd(absl::Time began, absl::Time last_refused, size_t held,
                            absl::Duration grace);

class ShutdownGate {
 public:
  ShutdownGate() = default;
  ShutdownGate(const ShutdownGate&) = delete;
  ShutdownGate& operator=(const ShutdownGate&) = delete;

  // True from Hold() on: new calls are refused.
  bool refusing() const { return state_.load(std::memory_order_acquire) != State::kOpen; }
  // A call was refused at `now` (for the refusal window).
  void Refused(absl::Time now);
  // Finishes `reactor` with `status` now, or holds it between Hold() and
  // Release(). `reactor` must stay alive until then (a reactor lives until
  // OnDone, which only follows Finish).
  void Finish(grpc::ServerUnaryReactor* reactor, grpc::Status status);

  void Hold();
  // Sends the held answers in the order they were held; idempotent.
  void Release();

  absl::Time last_refused() const;
  size_t held() const;

 private:
  enum class State { kOpen, kHolding, kReleased };
  std::atomic<State> state_{State::kOpen};
  mutable absl::Mutex mu_;
  absl::Time last_refused_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::vector<std::pair<grpc::ServerUnaryReactor*, grpc::Status>> held_ ABSL_GUARDED_BY(mu_);
};

}  // namespace serpwow::rpc
