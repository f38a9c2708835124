// The request_id table on its own, with a fake clock: claims, waiters, the
// TTL and the LRU bound.
#include "server/logic/request_dedupe.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "server/logic/errors.h"

namespace serpwow::logic {
namespace {

using Kind = RequestDedupe::Kind;

class RequestDedupeTest : public ::testing::Test {
 protected:
  RequestDedupe Make(size_t max_entries, absl::Duration ttl) {
    return RequestDedupe(DedupeOptions{max_entries, ttl}, [this] { return now_; });
  }
  static StoredAnswer Ok(int value) {
    StoredAnswer a;
    a.result = std::make_shared<const int>(value);
    return a;
  }
  absl::Time now_ = absl::FromUnixSeconds(1000000);
};

TEST_F(RequestDedupeTest, FirstThenStoredThenReused) {
  RequestDedupe table = Make(10, absl::Hours(1));
  EXPECT_EQ(table.Begin("a", 1, nullptr).kind, Kind::kFirst);
  table.Finish("a", Ok(7), /*keep=*/true);
  RequestDedupe::Claim again = table.Begin("a", 1, nullptr);
  ASSERT_EQ(again.kind, Kind::kStored);
  EXPECT_EQ(*std::static_pointer_cast<const int>(again.answer.result), 7);
  EXPECT_EQ(table.Begin("a", 2, nullptr).kind, Kind::kReused);
}

TEST_F(RequestDedupeTest, WaitersGetTheFirstAnswerOrAreToldToClaimAgain) {
  RequestDedupe table = Make(10, absl::Hours(1));
  ASSERT_EQ(table.Begin("a", 1, nullptr).kind, Kind::kFirst);
  int got = 0;
  EXPECT_EQ(table
                .Begin("a", 1,
                       [&](const StoredAnswer* a) {
                         got = *std::static_pointer_cast<const int>(a->result);
                       })
                .kind,
            Kind::kWaiting);
  EXPECT_EQ(got, 0);
  table.Finish("a", Ok(5), true);
  EXPECT_EQ(got, 5);

  ASSERT_EQ(table.Begin("b", 1, nullptr).kind, Kind::kFirst);
  bool told = false;
  table.Begin("b", 1, [&](const StoredAnswer* a) { told = a == nullptr; });
  table.Finish("b", Ok(1), /*keep=*/false);
  EXPECT_TRUE(told);
  EXPECT_EQ(table.Begin("b", 1, nullptr).kind, Kind::kFirst);  // forgotten
}

TEST_F(RequestDedupeTest, AnswersExpireAfterTheTtl) {
  RequestDedupe table = Make(10, absl::Minutes(10));
  table.Begin("a", 1, nullptr);
  table.Finish("a", Ok(1), true);
  now_ += absl::Minutes(9);
  EXPECT_EQ(table.Begin("a", 1, nullptr).kind, Kind::kStored);
  now_ += absl::Minutes(2);
  EXPECT_EQ(table.Begin("a", 1, nullptr).kind, Kind::kFirst);
}

TEST_F(RequestDedupeTest, TheOldestUsedFinishedEntryGoesBeyondTheBound) {
  RequestDedupe table = Make(2, absl::Hours(1));
  for (const char* id : {"a", "b"}) {
    table.Begin(id, 1, nullptr);
    table.Finish(id, Ok(1), true);
  }
  EXPECT_EQ(table.Begin("a", 1, nullptr).kind, Kind::kStored);  // a is now the newest
  table.Begin("c", 1, nullptr);                                 // evicts b
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.Begin("a", 1, nullptr).kind, Kind::kStored);
  EXPECT_EQ(table.Begin("b", 1, nullptr).kind, Kind::kFirst);
}

TEST_F(RequestDedupeTest, EntriesInFlightAreNeverEvicted) {
  RequestDedupe table = Make(1, absl::Hours(1));
  EXPECT_EQ(table.Begin("a", 1, nullptr).kind, Kind::kFirst);
  EXPECT_EQ(table.Begin("b", 1, nullptr).kind, Kind::kFirst);
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.Begin("a", 1, [](const StoredAnswer*) {}).kind, Kind::kWaiting);
}

TEST(RequestIdTest, OnlyCanonicalUuidsAreAccepted) {
  EXPECT_TRUE(ValidateRequestId("0d5c0a3e-9a54-4f3e-8d55-2f4b9d1c7a10", "request_id").ok());
  EXPECT_TRUE(ValidateRequestId("0D5C0A3E-9A54-4F3E-8D55-2F4B9D1C7A10", "request_id").ok());
  for (const char* bad :
       {"", "0d5c0a3e9a544f3e8d552f4b9d1c7a10", "0d5c0a3e-9a54-4f3e-8d55-2f4b9d1c7a1",
        "0d5c0a3e-9a54-4f3e-8d55_2f4b9d1c7a10", "{0d5c0a3e-9a54-4f3e-8d55-2f4b9d1c7a1}"}) {
    absl::Status s = ValidateRequestId(bad, "request_id");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(ReasonOf(s), reason::kInvalidRequestId) << bad;
  }
}

TEST(RequestIdTest, FingerprintsDifferByMethodAndPayload) {
  EXPECT_EQ(RequestFingerprint("StartBatch", "batches/A"),
            RequestFingerprint("StartBatch", "batches/A"));
  EXPECT_NE(RequestFingerprint("StartBatch", "batches/A"),
            RequestFingerprint("StartBatch", "batches/B"));
  EXPECT_NE(RequestFingerprint("StartBatch", "x"), RequestFingerprint("CreateBatch", "x"));
}

}  // namespace
}  // namespace serpwow::logic
