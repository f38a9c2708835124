// The batch-id rule, checked before anything is sent upstream.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace serpwow::logic {

inline constexpr size_t kMaxBatchIdLength = 64;

// OK when `batch_id` is 1 to 64 characters, each an ASCII letter, digit, '_'
// or '-'. Otherwise INVALID_ARGUMENT (reason INVALID_BATCH_ID, BadRequest on
// field "batch_id"). The message never echoes the raw input (it may hold
// control characters or be huge).
absl::Status ValidateBatchId(const std::string& batch_id);

}  // namespace serpwow::logic
