#include "server/rpc/caller_auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/logic/errors.h"

namespace serpwow::rpc {
namespace {

// SHA-256 of `token` into `digest`; false if OpenSSL failed (it only does
// when it cannot allocate). Callers fail closed on false.
bool DigestOf(absl::string_view token, std::array<unsigned char, 32>* digest) {
  static_assert(SHA256_DIGEST_LENGTH == 32);
  return SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(),
                digest->data()) != nullptr;
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
  std::vector<Digest> digests;
  digests.reserve(tokens.size());
  for (const std::string& token : tokens) {
    Digest digest;
    // A token whose digest cannot be computed is left out: it matches nothing.
    if (DigestOf(token, &digest)) digests.push_back(digest);
  }
  return std::unique_ptr<CallerAuth>(new CallerAuth(std::move(digests)));
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
  Digest given;
  if (!DigestOf(value.substr(kBearer.size()), &given)) {
    return Unauthenticated("the bearer token could not be checked");
  }
  // Every digest, without stopping at a match: the time does not say which
  // token matched, nor whether one did.
  bool ok = false;
  for (const Digest& valid : digests_) {
    ok |= CRYPTO_memcmp(valid.data(), given.data(), given.size()) == 0;
  }
  if (!ok) return Unauthenticated("the bearer token is not valid for this server");
  return absl::OkStatus();
}

}  // namespace serpwow::rpc
