// Every flag can also come from the environment: --foo_bar <- PREFIX_FOO_BAR.
// Precedence: command line, then environment, then the flag's default.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace serpwow {

// For every flag defined in `defining_file` (a path suffix such as
// "server/main.cc", matched against absl's record of where each flag is
// defined), reads the environment variable `prefix` + upper-cased name and,
// if set, parses it into the flag. Call before absl::ParseCommandLine (which
// then overrides). The error names the variable (never its value: it may be
// a secret pasted into the wrong place).
absl::Status ApplyFlagsFromEnvironment(const std::string& prefix, const std::string& defining_file);

// "BATCH_SERVER_" + "upstream_timeout" -> "BATCH_SERVER_UPSTREAM_TIMEOUT".
std::string FlagEnvName(const std::string& prefix, const std::string& flag);

}  // namespace serpwow

namespace serpwow {

// Makes --help list the flags defined in `defining_file` (a path suffix such
// as "server/main.cc"); absl's default only matches files named after the
// program.
void ShowFlagsFromFileInHelp(const char* defining_file);

}  // namespace serpwow
