// UTF-8, read the way protobuf accepts it in a string field: no overlong
// forms, no surrogates, nothing above U+10FFFF. Used wherever upstream text
// is cleaned, cut or checked before it goes into a proto or a log line.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace serpwow {

// The length of the well-formed sequence that starts at text[i] (1 to 4),
// or 0 when none does; `*cp` (if given) gets its code point.
size_t Utf8SequenceLength(absl::string_view text, size_t i, uint32_t* cp = nullptr);

bool IsValidUtf8(absl::string_view text);

}  // namespace serpwow
