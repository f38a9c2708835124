#include "server/upstream/serpwow_client.h"

#include <gtest/gtest.h>

namespace serpwow::upstream {
namespace {

TEST(BaseUrl, HttpsAnywhereHttpOnlyToLoopback) {
  EXPECT_TRUE(ValidateBaseUrl("https://api.serpwow.com/live").ok());
  EXPECT_TRUE(ValidateBaseUrl("https://api.scaleserp.com").ok());
  EXPECT_TRUE(ValidateBaseUrl("https://api.valueserp.com/").ok());
  EXPECT_TRUE(ValidateBaseUrl("http://127.0.0.1:8080/live").ok());
  EXPECT_TRUE(ValidateBaseUrl("http://localhost:1").ok());
  EXPECT_TRUE(ValidateBaseUrl("http://[::1]:1").ok());
  EXPECT_FALSE(ValidateBaseUrl("http://api.serpwow.com/live").ok());
  EXPECT_FALSE(ValidateBaseUrl("http://10.0.0.1/live").ok());
  EXPECT_FALSE(ValidateBaseUrl("ftp://api.serpwow.com").ok());
  EXPECT_FALSE(ValidateBaseUrl("api.serpwow.com/live").ok());
  EXPECT_FALSE(ValidateBaseUrl("").ok());
  EXPECT_FALSE(ValidateBaseUrl("https://api.serpwow.com/live?api_key=x").ok());
  EXPECT_FALSE(ValidateBaseUrl("https://user:pw@api.serpwow.com/live").ok());
}

TEST(BaseUrl, ErrorsNeverEchoAQueryString) {
  absl::Status s = ValidateBaseUrl("https://api.serpwow.com/live?api_key=CANARY123");
  EXPECT_EQ(std::string(s.message()).find("CANARY123"), std::string::npos);
}

TEST(Loopback, Hosts) {
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.1.2.3"));
  EXPECT_TRUE(IsLoopbackHost("LOCALHOST"));
  EXPECT_TRUE(IsLoopbackHost("[::1]"));
  EXPECT_FALSE(IsLoopbackHost("128.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("127.0.0.1.evil.com"));
  EXPECT_FALSE(IsLoopbackHost("localhost.evil.com"));
  EXPECT_FALSE(IsLoopbackHost("127.0.0.256"));
}

TEST(ApiKey, RulesWithoutEcho) {
  EXPECT_TRUE(ValidateApiKey("ABCDEF0123456789").ok());
  EXPECT_FALSE(ValidateApiKey("").ok());
  absl::Status s = ValidateApiKey("SECRET KEY");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(std::string(s.message()).find("SECRET"), std::string::npos);
  EXPECT_FALSE(ValidateApiKey("a\nb").ok());
}

TEST(RedactAll, ReplacesEveryOccurrenceOfEveryNeedle) {
  std::string text = "a KEY b k%2Fy c KEYKEY k%2fy";
  RedactAll(text, {"k%2Fy", "k%2fy", "KEY"});
  EXPECT_EQ(text, "a [redacted] b [redacted] c [redacted][redacted] [redacted]");
  std::string untouched = "nothing here";
  RedactAll(untouched, {"KEY"});
  EXPECT_EQ(untouched, "nothing here");
  std::string empty;
  RedactAll(empty, {"KEY"});
  EXPECT_EQ(empty, "");
  std::string whole = "KEY";
  RedactAll(whole, {"KEY"});
  EXPECT_EQ(whole, "[redacted]");
}

}  // namespace
}  // namespace serpwow::upstream
