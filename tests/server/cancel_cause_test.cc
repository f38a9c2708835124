// The cancel-or-deadline judgement (server/rpc/cancel_cause.h), with fixed
// times: no clock, no sleeps.
#include "server/rpc/cancel_cause.h"

#include <gtest/gtest.h>

namespace serpwow::rpc {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

TEST(CancelIsTheDeadline, AtOrAfterTheDeadlineIsTheDeadline) {
  const absl::Time deadline = kT0 + absl::Seconds(2);
  EXPECT_TRUE(CancelIsTheDeadline(kT0, deadline, deadline));
  EXPECT_TRUE(CancelIsTheDeadline(kT0, deadline, deadline + absl::Milliseconds(1)));
  EXPECT_TRUE(CancelIsTheDeadline(kT0, deadline, deadline + absl::Hours(1)));
}

TEST(CancelIsTheDeadline, JustBeforeTheServersDeadlineIsTheCallersDeadline) {
  // The caller's deadline fires first: the server's copy is late by transit,
  // queueing and rounding. 2 s timeout: the allowance is 250 ms + 20 ms.
  const absl::Time deadline = kT0 + absl::Seconds(2);
  EXPECT_TRUE(CancelIsTheDeadline(kT0, deadline, deadline - absl::Milliseconds(1)));
  EXPECT_TRUE(CancelIsTheDeadline(kT0, deadline, deadline - absl::Milliseconds(56)));
  EXPECT_TRUE(CancelIsTheDeadline(kT0, deadline, deadline - absl::Milliseconds(270)));
  EXPECT_FALSE(CancelIsTheDeadline(kT0, deadline,
                                   deadline - absl::Milliseconds(270) - absl::Nanoseconds(1)));
}

TEST(CancelIsTheDeadline, WellBeforeTheDeadlineIsTheCallerCancelling) {
  const absl::Time deadline = kT0 + absl::Seconds(10);
  EXPECT_FALSE(CancelIsTheDeadline(kT0, deadline, kT0));
  EXPECT_FALSE(CancelIsTheDeadline(kT0, deadline, kT0 + absl::Seconds(5)));
  EXPECT_FALSE(CancelIsTheDeadline(kT0, deadline, deadline - absl::Milliseconds(400)));
}

TEST(CancelIsTheDeadline, TheRoundingAllowanceGrowsWithTheTimeout) {
  // gRPC rounds a timeout up by at most 1%: for 100 s, up to 1 s late.
  const absl::Time deadline = kT0 + absl::Seconds(100);
  EXPECT_TRUE(CancelIsTheDeadline(kT0, deadline, deadline - absl::Milliseconds(1250)));
  EXPECT_FALSE(CancelIsTheDeadline(kT0, deadline, deadline - absl::Milliseconds(1251)));
}

TEST(CancelIsTheDeadline, AShortCallCancelledAnywhereIsTheDeadline) {
  // The documented price: a timeout shorter than the skew allowance.
  const absl::Time deadline = kT0 + absl::Milliseconds(100);
  EXPECT_TRUE(CancelIsTheDeadline(kT0, deadline, kT0));
  // A call the server read after its deadline had passed.
  EXPECT_TRUE(CancelIsTheDeadline(deadline + absl::Milliseconds(5), deadline,
                                  deadline + absl::Milliseconds(6)));
}

TEST(CancelIsTheDeadline, NoDeadlineIsAlwaysACancel) {
  EXPECT_FALSE(CancelIsTheDeadline(kT0, absl::InfiniteFuture(), kT0));
  EXPECT_FALSE(CancelIsTheDeadline(kT0, absl::InfiniteFuture(), kT0 + absl::Hours(1000)));
}

}  // namespace
}  // namespace serpwow::rpc
