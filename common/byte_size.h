// Sizes in bytes as operators write them, with the Kubernetes quantity
// suffixes: a plain count ("268435456", what the Downward API's
// resourceFieldRef gives), or a number with Ki, Mi, Gi (powers of 1024) or
// k, M, G (powers of 1000).
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace serpwow {

// The size in bytes, or INVALID_ARGUMENT naming `flag` and an example. Zero,
// fractions, signs and sizes of 1 TiB or more are refused.
absl::StatusOr<int64_t> ParseByteSize(absl::string_view text, absl::string_view flag);

}  // namespace serpwow
