// `batchctl create|update -f FILE`: a batch from a JSON or YAML file.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "serpwow/batches/v1/resources.pb.h"

namespace serpwow::client {

// Reads `path` (JSON when its first non-blank character is '{', else YAML)
// into `*batch`: an object with v1.Batch's fields, under their proto names
// (display_name) or JSON names (displayName). Enum values may be written as
// the proto's names (SCHEDULE_TYPE_DAILY, PRIORITY_HIGH) or as the plain
// words (daily, high). Appends each top-level field's proto name to
// `*paths` (the update mask of `batchctl update -f`). InvalidArgument, naming
// the file, for anything it cannot read.
absl::Status ReadBatchFile(const std::string& path, serpwow::batches::v1::Batch* batch,
                           std::vector<std::string>* paths);

// The same for the file's text (for tests).
absl::Status ParseBatchText(const std::string& text, const std::string& where,
                            serpwow::batches::v1::Batch* batch, std::vector<std::string>* paths);

}  // namespace serpwow::client
