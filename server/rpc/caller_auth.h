// CallerAuth: optional bearer-token authentication of gRPC callers.
//
// Tokens come from a file, one per line (blank lines and lines starting with
// '#' are ignored), so several can be valid at once while they are rotated.
// A call must carry `authorization: Bearer <token>` metadata. The check runs
// in the handler before anything is sent upstream; the health service is not
// behind it (probes carry no token).
//
// Comparison: the SHA-256 digest of the given token against the digest of
// every valid one, each in constant time and all of them every time. Equal
// lengths whatever was sent, so the time taken says nothing about how long a
// valid token is, nor how much of one was guessed right; only digests are
// kept, not the tokens.
#pragma once

#include <grpcpp/support/string_ref.h>

#include <array>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace serpwow::rpc {

class CallerAuth {
 public:
  // Reads the token file. Errors name the file, never a token.
  static absl::StatusOr<std::unique_ptr<CallerAuth>> FromFile(const std::string& path);
  static std::unique_ptr<CallerAuth> FromTokens(std::vector<std::string> tokens);

  // OK, or UNAUTHENTICATED (reason CALLER_UNAUTHENTICATED) when the metadata
  // has no bearer token or an unknown one.
  absl::Status Check(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) const;

 private:
  using Digest = std::array<unsigned char, 32>;  // SHA-256
  explicit CallerAuth(std::vector<Digest> digests) : digests_(std::move(digests)) {}
  std::vector<Digest> digests_;
};

}  // namespace serpwow::rpc
