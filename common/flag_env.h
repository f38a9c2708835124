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

// --help for a program whose own flags are defined in `defining_file` (a
// path suffix such as "server/main.cc", matched against absl's record of
// where each flag is defined). Call first in main(), before any flag is
// parsed. `usage` becomes absl's program usage message. If argv asks for help
// (--help, -help, --helpshort, -helpshort or -h, before any "--"), prints
// "<program>: <usage>" and the program's flags with their defaults and help
// texts to stdout, and exits 0. The listing names no source file and no build
// path (absl's own --help would print "Flags from /build/dir/x.cc" and exit
// 1). absl's other help flags (--helpfull, --help=SUBSTRING, ...) keep
// absl's behaviour, with the program's flags listed under `defining_file`
// instead of the absolute path of its source file.
void SetUpHelp(int argc, char** argv, const char* defining_file, const char* usage);

}  // namespace serpwow
