#include "server/logic/page_token.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "server/logic/errors.h"

namespace serpwow::logic {
namespace {

constexpr char kMethod[] = "serpwow.batches.v1.BatchService/ListBatches";

void ExpectBadToken(const absl::StatusOr<int64_t>& got, const std::string& label) {
  ASSERT_FALSE(got.ok()) << label;
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << label;
  EXPECT_EQ(ReasonOf(got.status()), reason::kInvalidPageToken) << label;
  auto bad = GetDetail<google::rpc::BadRequest>(got.status());
  ASSERT_TRUE(bad.has_value()) << label;
  ASSERT_EQ(bad->field_violations_size(), 1) << label;
  EXPECT_EQ(bad->field_violations(0).field(), "page_token") << label;
}

TEST(Fnv1a64, KnownVectors) {
  // The published FNV-1a 64-bit test vectors.
  EXPECT_EQ(Fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(Fnv1a64("foobar"), 0x85944171f73967e8ULL);
}

TEST(ListFingerprint, StableAndSensitiveToEveryPart) {
  const uint64_t base = ListFingerprint(kMethod, "", "status = QUEUED", "create_time");
  // A fixed value (computed independently, in Python, from the layout in
  // page_token.h): tokens must decode on every replica and every build.
  EXPECT_EQ(base, ListFingerprint(kMethod, "", "status = QUEUED", "create_time"));
  EXPECT_EQ(base, 0x5c5730a65be79f44ULL) << std::hex << base;
  std::set<uint64_t> all = {base};
  all.insert(ListFingerprint("other/Method", "", "status = QUEUED", "create_time"));
  all.insert(ListFingerprint(kMethod, "batches/A", "status = QUEUED", "create_time"));
  all.insert(ListFingerprint(kMethod, "", "status = IDLE", "create_time"));
  all.insert(ListFingerprint(kMethod, "", "status = QUEUED", "create_time desc"));
  // Parts are length-delimited: moving a byte across a boundary changes it.
  all.insert(ListFingerprint(kMethod, "", "status = QUEUEDc", "reate_time"));
  EXPECT_EQ(all.size(), 6u);
}

TEST(PageToken, RoundTrips) {
  const uint64_t fp = ListFingerprint(kMethod, "", "", "create_time");
  for (int64_t offset :
       {int64_t{0}, int64_t{1}, int64_t{37}, int64_t{2500}, int64_t{1} << 40, kMaxListOffset}) {
    std::string token = EncodePageToken(fp, offset);
    EXPECT_EQ(token.size(), 23u);
    EXPECT_LE(token.size(), kMaxPageTokenLength);
    EXPECT_EQ(
        token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        std::string::npos)
        << token;
    absl::StatusOr<int64_t> back = DecodePageToken(token, fp);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, offset);
  }
}

TEST(PageToken, EmptyIsTheFirstPage) {
  absl::StatusOr<int64_t> got = DecodePageToken("", 42);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 0);
}

TEST(PageToken, AnotherQueryIsRefused) {
  const uint64_t fp = ListFingerprint(kMethod, "", "status = QUEUED", "create_time");
  const uint64_t other = ListFingerprint(kMethod, "", "status = RUNNING", "create_time");
  ExpectBadToken(DecodePageToken(EncodePageToken(fp, 100), other), "other filter");
}

TEST(PageToken, MalformedIsRefused) {
  const uint64_t fp = 7;
  const std::string good = EncodePageToken(fp, 100);
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(good, &raw));
  std::string v2 = raw;
  v2[0] = 2;
  std::string negative = raw;
  negative[9] = static_cast<char>(0x80);
  const std::vector<std::string> cases = {
      good + "=",                                  // padding
      good.substr(0, 22),                          // truncated
      good + "A",                                  // one more character
      std::string(257, 'A'),                       // too long
      "not a token",                               // spaces
      good.substr(0, 10) + "+" + good.substr(11),  // standard base64 alphabet
      good.substr(0, 10) + "\n" + good.substr(11),
      std::string("\0", 1),
      absl::WebSafeBase64Escape(v2),         // another version
      absl::WebSafeBase64Escape(negative),   // offset beyond int64
      absl::WebSafeBase64Escape(raw + "x"),  // 18 bytes
      absl::WebSafeBase64Escape(""),         // decodes to nothing: "" is first page only
      "A",                                   // not decodable
  };
  for (const std::string& token : cases) {
    if (token.empty()) continue;  // the empty token is offset 0 by contract
    ExpectBadToken(DecodePageToken(token, fp), absl::CEscape(token));
  }
  // A non-canonical spelling of the same bytes: the last character's two
  // spare bits set (absl decodes it, so the decoder re-encodes and compares).
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string noncanonical = good;
  noncanonical.back() = alphabet[alphabet.find(good.back()) ^ 1];
  std::string same;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(noncanonical, &same));
  ASSERT_EQ(same, raw);
  ExpectBadToken(DecodePageToken(noncanonical, fp), "noncanonical");
}

TEST(PageSize, Aip158Rules) {
  EXPECT_EQ(*NormalizePageSize(0, 25, 1000), 25);
  EXPECT_EQ(*NormalizePageSize(1, 25, 1000), 1);
  EXPECT_EQ(*NormalizePageSize(1000, 25, 1000), 1000);
  EXPECT_EQ(*NormalizePageSize(1001, 25, 1000), 1000);
  EXPECT_EQ(*NormalizePageSize(std::numeric_limits<int32_t>::max(), 25, 1000), 1000);
  absl::StatusOr<int32_t> negative = NormalizePageSize(-1, 25, 1000);
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReasonOf(negative.status()), reason::kInvalidPageSize);
  auto bad = GetDetail<google::rpc::BadRequest>(negative.status());
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->field_violations(0).field(), "page_size");
}

TEST(StartOffset, TokenPlusSkip) {
  const uint64_t fp = 99;
  EXPECT_EQ(*StartOffset("", 0, fp), 0);
  EXPECT_EQ(*StartOffset("", 250, fp), 250);
  EXPECT_EQ(*StartOffset(EncodePageToken(fp, 100), 5, fp), 105);
  EXPECT_EQ(*StartOffset(EncodePageToken(fp, kMaxListOffset - 1), 10, fp), kMaxListOffset);
  // Beyond the maximum offset: not a token the gateway issues.
  ExpectBadToken(DecodePageToken(EncodePageToken(fp, kMaxListOffset + 1), fp), "beyond");
  // The plan clamps, so page arithmetic never overflows.
  EXPECT_EQ(PlanUpstreamPage(std::numeric_limits<int64_t>::max(), 1, 1).page, kMaxListOffset + 1);
  absl::StatusOr<int64_t> negative = StartOffset("", -1, fp);
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(ReasonOf(negative.status()), reason::kInvalidField);
  auto bad = GetDetail<google::rpc::BadRequest>(negative.status());
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->field_violations(0).field(), "skip");
  ExpectBadToken(StartOffset(EncodePageToken(fp + 1, 3), 0, fp), "other query");
}

TEST(SlicingRule, AlignedPages) {
  UpstreamPagePlan plan = PlanUpstreamPage(200, 100, 100);
  EXPECT_EQ(plan.page, 3);
  EXPECT_EQ(plan.upstream_page_size, 100);
  EXPECT_EQ(plan.first_index, 0);
  PageSlice slice = SliceUpstreamPage(plan, 100, 2500);
  EXPECT_EQ(slice.begin, 0u);
  EXPECT_EQ(slice.end, 100u);
  EXPECT_TRUE(slice.has_next);
  EXPECT_EQ(slice.next_offset, 300);
}

TEST(SlicingRule, ChangedSizeGivesOneShortPageThenRealigns) {
  // Offset 100 (after one page of 100), now size 37: page 100/37+1 = 3 holds
  // items 74..110; items 100..110 are returned (11, a short page).
  UpstreamPagePlan plan = PlanUpstreamPage(100, 37, 37);
  EXPECT_EQ(plan.page, 3);
  EXPECT_EQ(plan.first_index, 26);
  PageSlice slice = SliceUpstreamPage(plan, 37, 2500);
  EXPECT_EQ(slice.end - slice.begin, 11u);
  EXPECT_EQ(slice.next_offset, 111);
  // Then aligned: 111 = 3 * 37.
  plan = PlanUpstreamPage(slice.next_offset, 37, 37);
  EXPECT_EQ(plan.page, 4);
  EXPECT_EQ(plan.first_index, 0);
}

TEST(SlicingRule, LastPageEndsTheWalk) {
  UpstreamPagePlan plan = PlanUpstreamPage(2400, 100, 100);
  PageSlice slice = SliceUpstreamPage(plan, 100, 2500);
  EXPECT_FALSE(slice.has_next);
  EXPECT_EQ(slice.next_offset, 2500);
  // A list that shrank under the walk: an empty page ends it, never loops.
  plan = PlanUpstreamPage(3000, 100, 100);
  slice = SliceUpstreamPage(plan, 0, 5000);
  EXPECT_EQ(slice.begin, slice.end);
  EXPECT_FALSE(slice.has_next);
  // Fewer items on the page than the first index.
  plan = PlanUpstreamPage(150, 100, 100);
  slice = SliceUpstreamPage(plan, 20, 5000);
  EXPECT_EQ(slice.begin, slice.end);
  EXPECT_FALSE(slice.has_next);
}

TEST(SlicingRule, FixedUpstreamPages) {
  // ListSearches: upstream pages of 1000, the caller asks for 300 at 900.
  UpstreamPagePlan plan = PlanUpstreamPage(900, 300, 1000);
  EXPECT_EQ(plan.page, 1);
  EXPECT_EQ(plan.first_index, 900);
  PageSlice slice = SliceUpstreamPage(plan, 1000, 4200);
  EXPECT_EQ(slice.begin, 900u);
  EXPECT_EQ(slice.end, 1000u);
  EXPECT_EQ(slice.next_offset, 1000);
  plan = PlanUpstreamPage(1000, 300, 1000);
  EXPECT_EQ(plan.page, 2);
  slice = SliceUpstreamPage(plan, 1000, 4200);
  EXPECT_EQ(slice.end - slice.begin, 300u);
}

// The walk of the acceptance test, in memory: sizes change mid-walk and every
// item is returned exactly once.
TEST(SlicingRule, WalkWithChangingSizesSeesEachItemOnce) {
  const int64_t total = 2500;
  const int32_t sizes[] = {100, 37, 1000};
  std::vector<int> seen(total, 0);
  int64_t offset = 0;
  int calls = 0;
  bool more = true;
  while (more) {
    ASSERT_LT(++calls, 200);
    const int32_t size = sizes[(calls / 3) % 3];
    UpstreamPagePlan plan = PlanUpstreamPage(offset, size, size);
    const int64_t first_on_page = (plan.page - 1) * plan.upstream_page_size;
    const size_t on_page =
        static_cast<size_t>(std::max<int64_t>(0, std::min<int64_t>(size, total - first_on_page)));
    PageSlice slice = SliceUpstreamPage(plan, on_page, total);
    for (size_t i = slice.begin; i < slice.end; ++i) ++seen[first_on_page + i];
    offset = slice.next_offset;
    more = slice.has_next;
  }
  for (int64_t i = 0; i < total; ++i) ASSERT_EQ(seen[i], 1) << i;
}

TEST(SliceWhole, Pages) {
  PageSlice slice = SliceWhole(0, 10, 25);
  EXPECT_EQ(slice.begin, 0u);
  EXPECT_EQ(slice.end, 10u);
  EXPECT_TRUE(slice.has_next);
  slice = SliceWhole(20, 10, 25);
  EXPECT_EQ(slice.end, 25u);
  EXPECT_FALSE(slice.has_next);
  slice = SliceWhole(40, 10, 25);
  EXPECT_EQ(slice.begin, 25u);
  EXPECT_EQ(slice.end, 25u);
  EXPECT_FALSE(slice.has_next);
  slice = SliceWhole(std::numeric_limits<int64_t>::max(), 10, 25);
  EXPECT_EQ(slice.begin, 25u);
  EXPECT_FALSE(slice.has_next);
}

}  // namespace
}  // namespace serpwow::logic
