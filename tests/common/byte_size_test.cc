#include "common/byte_size.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace serpwow {
namespace {

TEST(ByteSize, PlainCountsAndKubernetesSuffixes) {
  EXPECT_EQ(*ParseByteSize("268435456", "--f"), 268435456);
  EXPECT_EQ(*ParseByteSize("256Mi", "--f"), 256 << 20);
  EXPECT_EQ(*ParseByteSize("64Ki", "--f"), 64 << 10);
  EXPECT_EQ(*ParseByteSize("2Gi", "--f"), int64_t{2} << 30);
  EXPECT_EQ(*ParseByteSize("500M", "--f"), 500'000'000);
  EXPECT_EQ(*ParseByteSize("8k", "--f"), 8000);
  EXPECT_EQ(*ParseByteSize("1G", "--f"), 1'000'000'000);
}

TEST(ByteSize, AnythingElseIsRefusedNamingTheFlag) {
  for (const char* bad : {"", "0", "0Mi", "-1", "+5", "1.5Gi", "256MB", "256mi", "Mi", " 256Mi",
                          "256Mi ", "1e9", "0x10", "99999999999999", "1024Gi", "abc"}) {
    absl::StatusOr<int64_t> size = ParseByteSize(bad, "--memory_limit");
    ASSERT_FALSE(size.ok()) << bad;
    EXPECT_TRUE(absl::StrContains(size.status().message(), "--memory_limit")) << bad;
  }
  EXPECT_EQ(*ParseByteSize("1023Gi", "--f"), int64_t{1023} << 30);
}

}  // namespace
}  // namespace serpwow
