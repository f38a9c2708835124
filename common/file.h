// Reading small files whole (keys, tokens, PEM certificates, configuration).
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace serpwow {

// Files larger than this are refused: everything read this way is small, and
// a path pointing at something huge (or endless, like /dev/zero) is a mistake.
inline constexpr size_t kMaxReadFileBytes = 16 * 1024 * 1024;

// The whole content of the regular file at `path`, as bytes.
// Errors (the message names the path and the reason, never any content, as
// the file may hold a secret): NotFound when it does not exist,
// PermissionDenied when it may not be read, InvalidArgument when it is a
// directory or over kMaxReadFileBytes, Unavailable for other I/O errors.
// Examples: "cannot read /etc/key: No such file or directory",
// "cannot read /etc: is a directory".
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace serpwow
