// The refusal window of a shutdown and the gate's states
// (server/rpc/shutdown_gate.h), with fixed times: no clock, no sleeps. What
// the gate does for callers is tested end to end in call_end_codes_test.cc.
#include "server/rpc/shutdown_gate.h"

#include <gtest/gtest.h>

namespace serpwow::rpc {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);
const absl::Duration kGrace = absl::Seconds(10);

TEST(RefusalWindowEnd, NoCallRefusedEndsAQuietPeriodAfterItBegan) {
  EXPECT_EQ(RefusalWindowEnd(kT0, absl::InfinitePast(), 0, kGrace), kT0 + kRefusalQuiet);
  EXPECT_EQ(RefusalWindowEnd(kT0, kT0 - absl::Seconds(1), 0, kGrace), kT0 + kRefusalQuiet);
}

TEST(RefusalWindowEnd, EachRefusalStartsTheQuietPeriodAgain) {
  const absl::Time refused = kT0 + absl::Milliseconds(150);
  EXPECT_EQ(RefusalWindowEnd(kT0, refused, 10, kGrace), refused + kRefusalQuiet);
}

TEST(RefusalWindowEnd, CallsThatKeepComingEndItAtTheMost) {
  EXPECT_EQ(RefusalWindowEnd(kT0, kT0 + kRefusalMax - absl::Milliseconds(1), 10, kGrace),
            kT0 + kRefusalMax);
  EXPECT_EQ(RefusalWindowEnd(kT0, kT0 + absl::Hours(1), 10, kGrace), kT0 + kRefusalMax);
}

TEST(RefusalWindowEnd, TooManyHeldAnswersEndItAtOnce) {
  EXPECT_EQ(RefusalWindowEnd(kT0, kT0 + absl::Milliseconds(100), kMaxHeldAnswers, kGrace), kT0);
  EXPECT_EQ(RefusalWindowEnd(kT0, kT0 + absl::Milliseconds(100), kMaxHeldAnswers - 1, kGrace),
            kT0 + absl::Milliseconds(100) + kRefusalQuiet);
}

TEST(RefusalWindowEnd, NeverPastTheGracePeriod) {
  EXPECT_EQ(RefusalWindowEnd(kT0, kT0, 0, absl::Milliseconds(50)), kT0 + absl::Milliseconds(50));
  // Shutdown(0), as the destructor does: no window at all.
  EXPECT_EQ(RefusalWindowEnd(kT0, kT0, 0, absl::ZeroDuration()), kT0);
  EXPECT_EQ(RefusalWindowEnd(kT0, kT0, 0, -absl::Seconds(1)), kT0);
}

// A reactor with no call behind it: Finish only records the wish.
class Unbound : public grpc::ServerUnaryReactor {
 public:
  void OnDone() override {}
};

TEST(ShutdownGate, OpenFinishesAtOnceHoldingHoldsReleasedFinishesAtOnce) {
  ShutdownGate gate;
  Unbound a, b, c, d;
  EXPECT_FALSE(gate.refusing());
  gate.Finish(&a, grpc::Status::OK);
  EXPECT_EQ(gate.held(), 0u);

  gate.Hold();
  EXPECT_TRUE(gate.refusing());
  gate.Finish(&b, grpc::Status::OK);
  gate.Finish(&c, grpc::Status(grpc::StatusCode::UNAVAILABLE, "shutting down"));
  EXPECT_EQ(gate.held(), 2u);
  gate.Hold();  // idempotent: still holding both
  EXPECT_EQ(gate.held(), 2u);

  gate.Release();
  EXPECT_TRUE(gate.refusing());  // new calls are still refused
  EXPECT_EQ(gate.held(), 0u);
  gate.Finish(&d, grpc::Status::OK);
  EXPECT_EQ(gate.held(), 0u);
  gate.Release();  // idempotent
  gate.Hold();     // and never holds again
  EXPECT_EQ(gate.held(), 0u);
}

TEST(ShutdownGate, RemembersTheLatestRefusal) {
  ShutdownGate gate;
  EXPECT_EQ(gate.last_refused(), absl::InfinitePast());
  gate.Refused(kT0 + absl::Milliseconds(5));
  gate.Refused(kT0 + absl::Milliseconds(3));  // threads report out of order
  EXPECT_EQ(gate.last_refused(), kT0 + absl::Milliseconds(5));
}

}  // namespace
}  // namespace serpwow::rpc
