// CallerAuth (server/rpc/caller_auth.h) on the metadata a call carries: which
// authorization values are accepted and which refused. The comparison itself
// is timing-independent of where or whether the token differs (digests of
// equal length, compared in constant time); what a test can check is that
// the answers stay exactly these.
#include "server/rpc/caller_auth.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "server/logic/errors.h"

namespace serpwow::rpc {
namespace {

constexpr char kOld[] = "old-token-0123456789abcdef";
constexpr char kNew[] = "new-token-0123456789abcdefXYZ";  // another length

class CallerAuthTest : public ::testing::Test {
 protected:
  std::unique_ptr<CallerAuth> auth_ = CallerAuth::FromTokens({kOld, kNew});

  // Check() with `authorization` as the only metadata.
  absl::Status CheckWith(const std::string& authorization) {
    std::multimap<grpc::string_ref, grpc::string_ref> metadata;
    metadata.emplace("authorization", authorization);
    return auth_->Check(metadata);
  }

  void ExpectRefused(const std::string& authorization) {
    absl::Status s = CheckWith(authorization);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << "'" << authorization << "'";
    EXPECT_EQ(logic::ReasonOf(s), "CALLER_UNAUTHENTICATED") << "'" << authorization << "'";
    // The refusal never echoes what was sent.
    const std::string token = authorization.size() > 7 ? authorization.substr(7) : "";
    if (token.size() >= 8) {  // shorter ones may be ordinary words of the message
      EXPECT_FALSE(absl::StrContains(s.message(), token)) << s.message();
    }
  }
};

TEST_F(CallerAuthTest, EveryTokenOfTheFileIsAccepted) {
  EXPECT_TRUE(CheckWith("Bearer old-token-0123456789abcdef").ok());
  EXPECT_TRUE(CheckWith("Bearer new-token-0123456789abcdefXYZ").ok());
}

TEST_F(CallerAuthTest, TheSchemeIsCaseInsensitiveTheTokenIsNot) {
  EXPECT_TRUE(CheckWith("bearer old-token-0123456789abcdef").ok());
  EXPECT_TRUE(CheckWith("BEARER old-token-0123456789abcdef").ok());
  ExpectRefused("Bearer OLD-TOKEN-0123456789ABCDEF");
  ExpectRefused("Bearer old-token-0123456789abcdeF");
}

TEST_F(CallerAuthTest, PrefixesExtensionsAndOtherLengthsAreRefused) {
  const std::string old = kOld;
  const std::string fresh = kNew;
  for (size_t n = 0; n < old.size(); ++n) ExpectRefused("Bearer " + old.substr(0, n));
  ExpectRefused("Bearer " + old + "0");
  ExpectRefused("Bearer " + old + old);
  ExpectRefused("Bearer " + fresh.substr(0, old.size()));  // the other token's length
  ExpectRefused("Bearer " + old + fresh);
  ExpectRefused("Bearer " + std::string(64 << 10, 'a'));
  std::string one_off = old;
  one_off[old.size() / 2] ^= 1;
  ExpectRefused("Bearer " + one_off);
}

TEST_F(CallerAuthTest, MalformedValuesAreRefused) {
  EXPECT_EQ(auth_->Check({}).code(), absl::StatusCode::kUnauthenticated);  // no metadata
  ExpectRefused("");
  ExpectRefused("Bearer");
  ExpectRefused("Bearer ");
  ExpectRefused(std::string("Bearer  ") + kOld);  // two spaces
  ExpectRefused(std::string("Bearer ") + kOld + " ");
  ExpectRefused(std::string("Bearer\t") + kOld);
  ExpectRefused(std::string("Basic ") + kOld);
  ExpectRefused(std::string("Bearer") + kOld);
  ExpectRefused(kOld);
  ExpectRefused(std::string("Bearer ") + kOld + std::string(1, '\0'));
}

}  // namespace
}  // namespace serpwow::rpc
