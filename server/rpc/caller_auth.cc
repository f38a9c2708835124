#include "server/rpc/caller_auth.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/logic/errors.h"

namespace serpwow::rpc {
namespace {

// Constant-time in the length of `expected` for equal lengths.
bool SameToken(const std::string& expected, const char* given, size_t given_len) {
  if (expected.size() != given_len) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < given_len; ++i) {
    diff |= static_cast<unsigned char>(expected[i] ^ given[i]);
  }
  return diff == 0;
}

absl::Status Unauthenticated(const std::string& why) {
  return logic::ErrorBuilder(absl::StatusCode::kUnauthenticated, why,
                             logic::reason::kCallerUnauthenticated);
}

}  // namespace

absl::StatusOr<std::unique_ptr<CallerAuth>> CallerAuth::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::InvalidArgumentError(absl::StrCat("--auth_tokens_file: cannot read ", path));
  std::ostringstream content;
  content << in.rdbuf();
  std::vector<std::string> tokens;
  for (absl::string_view line : absl::StrSplit(content.str(), '\n')) {
    std::string token(absl::StripAsciiWhitespace(line));
    if (token.empty() || token[0] == '#') continue;
    if (token.size() < 16) {
      return absl::InvalidArgumentError(
          absl::StrCat("--auth_tokens_file: ", path, " has a token shorter than 16 characters"));
    }
    tokens.push_back(std::move(token));
  }
  if (tokens.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--auth_tokens_file: ", path, " has no token"));
  }
  return FromTokens(std::move(tokens));
}

std::unique_ptr<CallerAuth> CallerAuth::FromTokens(std::vector<std::string> tokens) {
  return std::unique_ptr<CallerAuth>(new CallerAuth(std::move(tokens)));
}

absl::Status CallerAuth::Check(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) const {
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return Unauthenticated("this server requires 'authorization: Bearer <token>' metadata");
  }
  absl::string_view value(it->second.data(), it->second.size());
  constexpr absl::string_view kBearer = "Bearer ";
  if (value.size() <= kBearer.size() ||
      !absl::EqualsIgnoreCase(value.substr(0, kBearer.size()), kBearer)) {
    return Unauthenticated("the authorization metadata must be 'Bearer <token>'");
  }
  absl::string_view given = value.substr(kBearer.size());
  bool ok = false;
  for (const std::string& token : tokens_) ok |= SameToken(token, given.data(), given.size());
  if (!ok) return Unauthenticated("the bearer token is not valid for this server");
  return absl::OkStatus();
}

}  // namespace serpwow::rpc
