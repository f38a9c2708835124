// The memory guard's decisions, with fixed readings and times (the attacks
// themselves are in memory_attack_test.cc).
#include "server/memory_guard.h"

#include <gtest/gtest.h>

namespace serpwow {
namespace {

constexpr int64_t kMiB = 1 << 20;

MemoryGuardOptions Options() {
  MemoryGuardOptions o;
  o.limit_bytes = 256 * kMiB;  // shed and trim over 20% (51.2 MiB)
  return o;
}

TEST(MemoryGuard, BelowBothThresholdsItDoesNothing) {
  const absl::Time now = absl::FromUnixSeconds(1000);
  GuardDecision d = DecideGuard(50 * kMiB, Options(), GuardState{}, now);
  EXPECT_FALSE(d.shed);
  EXPECT_FALSE(d.trim);
}

TEST(MemoryGuard, TrimsOverItsThresholdAtMostOnceASecond) {
  const absl::Time now = absl::FromUnixSeconds(1000);
  GuardState state;
  EXPECT_TRUE(DecideGuard(70 * kMiB, Options(), state, now).trim);
  state.last_trim = now - absl::Milliseconds(500);
  EXPECT_FALSE(DecideGuard(70 * kMiB, Options(), state, now).trim);
  state.last_trim = now - absl::Seconds(1);
  EXPECT_TRUE(DecideGuard(70 * kMiB, Options(), state, now).trim);
}

TEST(MemoryGuard, ShedsOverItsThreshold) {
  const absl::Time now = absl::FromUnixSeconds(1000);
  EXPECT_FALSE(DecideGuard(50 * kMiB, Options(), GuardState{}, now).shed);
  EXPECT_TRUE(DecideGuard(52 * kMiB, Options(), GuardState{}, now).shed);
}

TEST(MemoryGuard, ScansAgainOnlyOnceTheLastScansCostHasBeenPaidFortyNineTimesOver) {
  const absl::Time now = absl::FromUnixSeconds(1000);
  // A scan of 20,000 fds that took 30 ms: the next one 1.47 s after it, so
  // scanning takes at most a fiftieth of the guard's thread.
  const absl::Time end = now - absl::Milliseconds(100);
  GuardState state;
  state.next_scan = NextScanAt(end, absl::Milliseconds(30));
  EXPECT_EQ(state.next_scan, end + absl::Milliseconds(1470));
  EXPECT_FALSE(DecideGuard(70 * kMiB, Options(), state, now).shed);
  EXPECT_FALSE(DecideGuard(70 * kMiB, Options(), state, end + absl::Milliseconds(1469)).shed);
  EXPECT_TRUE(DecideGuard(70 * kMiB, Options(), state, end + absl::Milliseconds(1470)).shed);
  // A cheap scan (a few fds) delays the next one by next to nothing.
  state.next_scan = NextScanAt(end, absl::Microseconds(20));
  EXPECT_TRUE(DecideGuard(70 * kMiB, Options(), state, end + absl::Milliseconds(1)).shed);
  // The wait never keeps a trim from happening.
  EXPECT_TRUE(DecideGuard(70 * kMiB, Options(), state, end).trim);
}

TEST(MemoryGuard, ShedsEveryFloodingConnectionTheMostFirst) {
  constexpr uint64_t kMin = 48 << 10;
  std::vector<ConnectionSample> samples(4);
  samples[0].bytes_received = 40000;
  samples[1].bytes_received = 900000;
  samples[2].bytes_received = 5;
  samples[3].bytes_received = kMin;
  EXPECT_EQ(FloodingConnections(samples, kMin), (std::vector<size_t>{1, 3}));
  // Connections that send little (calls waiting on the upstream, however
  // many, or one burst of 100 calls) are never shed, whatever the memory.
  samples[1].bytes_received = 25000;
  samples[3].bytes_received = kMin - 1;
  EXPECT_TRUE(FloodingConnections(samples, kMin).empty());
  for (auto& s : samples) s.bytes_received = 0;
  EXPECT_TRUE(FloodingConnections(samples, 0).empty());
  EXPECT_TRUE(FloodingConnections({}, kMin).empty());
}

TEST(MemoryGuard, ReadsThisProcesssResidentSize) {
  const int64_t rss = ResidentBytes();
  EXPECT_GT(rss, 1 * kMiB);
  EXPECT_LT(rss, 64 * 1024 * kMiB);
}

}  // namespace
}  // namespace serpwow
