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

#include <cstdio>
#include <map>
#include <vector>

#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/str_split.h"

namespace serpwow {
namespace {

// Appends `text` wrapped to `width` columns, each line indented by `indent`.
void AppendWrapped(std::string& out, const std::string& text, size_t indent, size_t width) {
  std::string line;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (!line.empty() && indent + line.size() + 1 + word.size() > width) {
      absl::StrAppend(&out, std::string(indent, ' '), line, "\n");
      line.clear();
    }
    absl::StrAppend(&line, line.empty() ? "" : " ", word);
  }
  if (!line.empty()) absl::StrAppend(&out, std::string(indent, ' '), line, "\n");
}

bool AsksForHelp(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--") return false;
    for (const char* help : {"--help", "-help", "--helpshort", "-helpshort", "-h"}) {
      if (arg == help) return true;
    }
  }
  return false;
}

std::string ProgramName(int argc, char** argv) {
  if (argc < 1 || argv[0] == nullptr) return "program";
  const absl::string_view path = argv[0];
  const size_t slash = path.rfind('/');
  return std::string(slash == absl::string_view::npos ? path : path.substr(slash + 1));
}

}  // namespace

void SetUpHelp(int argc, char** argv, const char* defining_file, const char* usage) {
  // absl keeps the callbacks until exit: what they read must outlive main().
  static const char* file = nullptr;
  file = defining_file;
  absl::SetProgramUsageMessage(usage);
  absl::FlagsUsageConfig config;
  // absl applies normalize_filename inside CommandLineFlag::Filename() too,
  // so the program's own flags must keep a name that ends with
  // `defining_file` (ApplyFlagsFromEnvironment and the listing below match on
  // it): the project-relative path, without the build machine's directories.
  auto ours = [](absl::string_view path) { return absl::EndsWith(path, file); };
  config.contains_help_flags = ours;
  config.contains_helpshort_flags = ours;
  config.normalize_filename = [](absl::string_view path) {
    return std::string(absl::EndsWith(path, file) ? absl::string_view(file) : path);
  };
  absl::SetFlagsUsageConfig(config);
  if (!AsksForHelp(argc, argv)) return;

  std::map<std::string, const absl::CommandLineFlag*> flags;  // sorted by name
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (!flag->IsRetired() && absl::EndsWith(flag->Filename(), file)) {
      flags.emplace(std::string(name), flag);
    }
  }
  std::string out = absl::StrCat(ProgramName(argc, argv), ": ", usage, "\n\nFlags:\n");
  for (const auto& [name, flag] : flags) {
    std::string value = flag->DefaultValue();
    if (flag->IsOfType<std::string>()) value = absl::StrCat("\"", value, "\"");
    absl::StrAppend(&out, "  --", name, "=", value, "\n");
    AppendWrapped(out, flag->Help(), 6, 80);
  }
  absl::StrAppend(&out,
                  "\nFlags are given as --name=value; booleans also as --name and --noname.\n");
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  std::exit(0);
}

}  // namespace serpwow
