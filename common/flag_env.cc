#include "common/flag_env.h"

#include <cstdlib>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace serpwow {

std::string FlagEnvName(const std::string& prefix, const std::string& flag) {
  return prefix + absl::AsciiStrToUpper(flag);
}

absl::Status ApplyFlagsFromEnvironment(const std::string& prefix,
                                       const std::string& defining_file) {
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (!absl::EndsWith(flag->Filename(), defining_file)) continue;
    const std::string var = FlagEnvName(prefix, std::string(name));
    const char* value = std::getenv(var.c_str());
    if (value == nullptr) continue;
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat(var, " (for --", std::string(name), ") has a value that is not valid"));
    }
  }
  return absl::OkStatus();
}

}  // namespace serpwow

#include "absl/flags/usage_config.h"

namespace serpwow {

void ShowFlagsFromFileInHelp(const char* defining_file) {
  static const char* file = nullptr;
  file = defining_file;
  absl::FlagsUsageConfig config;
  auto matches = [](absl::string_view path) { return absl::EndsWith(path, file); };
  config.contains_help_flags = matches;
  config.contains_helpshort_flags = matches;
  absl::SetFlagsUsageConfig(config);
}

}  // namespace serpwow
