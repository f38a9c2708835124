// What a program's --help must look like (header-only, so the simulator's
// tests can use it without linking tests/support): every flag named, and no
// trace of where the program was built (source files, absolute paths).
// SERPWOW_SOURCE_DIR and SERPWOW_BINARY_DIR are compile definitions of the
// test targets that include it.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace serpwow::testing {

inline ::testing::AssertionResult HelpIsClean(const std::string& text,
                                              const std::vector<std::string>& flags) {
  for (const std::string& flag : flags) {
    if (text.find("  --" + flag + "=") == std::string::npos) {
      return ::testing::AssertionFailure() << "--" << flag << " is not listed in:\n" << text;
    }
  }
  for (const std::string& leak : {std::string(SERPWOW_SOURCE_DIR), std::string(SERPWOW_BINARY_DIR),
                                  std::string(".cc"), std::string("Flags from")}) {
    if (text.find(leak) != std::string::npos) {
      return ::testing::AssertionFailure() << "'" << leak << "' appears in:\n" << text;
    }
  }
  // Nor any other absolute path of two or more components (a build
  // directory wherever the tree was checked out); URLs and "/live" pass.
  for (size_t i = 0; i < text.size(); ++i) {
    const bool starts = text[i] == '/' && (i == 0 || text[i - 1] == ' ' || text[i - 1] == '(' ||
                                           text[i - 1] == '"' || text[i - 1] == '\n');
    if (!starts) continue;
    const size_t end = text.find_first_of(" \n\")\"',;", i);
    const std::string token = text.substr(i, end == std::string::npos ? end : end - i);
    if (token.find('/', 1) != std::string::npos && token.size() > 2 && token[1] != '/') {
      return ::testing::AssertionFailure() << "the path '" << token << "' appears in:\n" << text;
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace serpwow::testing
