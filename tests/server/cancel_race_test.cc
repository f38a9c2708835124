// A cancel always wins over a transfer that has not been sent (#10 item 2).
// When a read completes, its callback queues the stop on the loop itself; a
// caller's cancel that arrives from a gRPC thread just then must still find
// that stop and end it, never leave it to be sent after the caller was told
// CANCELLED. Hundreds of calls are cancelled while their reads complete; the
// stop route hangs, so any stop that escaped the cancel stays in flight and
// is counted.
#include <atomic>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "tests/support/gateway_fixture.h"

namespace serpwow::testing {
namespace {

using sim::BatchState;
using sim::Fault;

class CancelRaceTest : public GatewayTest {};

TEST_F(CancelRaceTest, NoTransferOutlivesACancelledCall) {
  options_.upstream.timeout_cap = absl::Seconds(30);  // an escaped stop would stay
  StartAll();
  Fault hang;
  hang.path_suffix = "/stop";
  hang.action = Fault::Action::kHang;
  sim_->AddFault(hang);
  // Every read is answered after the same delay, so that the reads of a
  // round complete together, and the cancels can be aimed at that moment.
  constexpr absl::Duration kReadDelay = absl::Milliseconds(60);
  Fault slow_read;
  slow_read.delay = kReadDelay;
  sim_->AddFault(slow_read);
  constexpr int kRounds = 5;
  constexpr int kCalls = 100;
  std::mt19937 rng(7);
  int cancelled = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
    std::vector<v1::StopBatchRequest> requests(kCalls);
    std::vector<v1::StopBatchResponse> responses(kCalls);
    std::vector<grpc::StatusCode> codes(kCalls, grpc::StatusCode::OK);
    absl::Mutex mu;
    int ended = 0;
    for (int i = 0; i < kCalls; ++i) {
      const std::string id = absl::StrCat("R", round, "C", i);
      sim_->PutBatch(id, BatchState::kQueued, 1);
      requests[i].set_batch_id(id);
      contexts.push_back(std::make_unique<grpc::ClientContext>());
      contexts.back()->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
      stub_->async()->StopBatch(contexts.back().get(), &requests[i], &responses[i],
                                [&, i](grpc::Status s) {
                                  absl::MutexLock lock(&mu);
                                  codes[i] = s.error_code();
                                  ++ended;
                                });
    }
    // Cancel the calls, in random order, spread over the moments their reads
    // complete (and their stops are queued on the loop).
    std::vector<int> order(kCalls);
    for (int i = 0; i < kCalls; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    absl::SleepFor(kReadDelay - absl::Milliseconds(3));
    for (int i : order) {
      contexts[i]->TryCancel();
      absl::SleepFor(absl::Microseconds(rng() % 120));
    }
    {
      absl::MutexLock lock(&mu);
      auto all = [&] { return ended == kCalls; };
      ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(20)));
      for (grpc::StatusCode c : codes) {
        EXPECT_EQ(c, grpc::StatusCode::CANCELLED);
        cancelled += c == grpc::StatusCode::CANCELLED ? 1 : 0;
      }
    }
    // Every call ended CANCELLED; the server learns of each cancel a moment
    // after its client. Then no transfer may be left: an escaped stop would
    // hang here until the 30 s cap.
    EXPECT_TRUE(WaitForNoUpstreamTransfers(absl::Seconds(3)))
        << gateway_->upstream_in_flight() << " transfers outlived their cancelled calls (round "
        << round << ")";
  }
  EXPECT_EQ(cancelled, kRounds * kCalls);
}

}  // namespace
}  // namespace serpwow::testing
