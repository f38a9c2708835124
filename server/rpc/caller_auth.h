// CallerAuth: optional bearer-token authentication of gRPC callers.
//
// Tokens come from a file, one per line (blank lines and lines starting with
// '#' are ignored), so several can be valid at once while they are rotated.
// A call must carry `authorization: Bearer <token>` metadata. The check runs
// in the handler before anything is sent upstream; the health service is not
// behind it (probes carry no token). Comparison is constant-time per token.
#pragma once

#include <grpcpp/support/string_ref.h>

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
  explicit CallerAuth(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {}
  std::vector<std::string> tokens_;
};

}  // namespace serpwow::rpc
