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
  for (const std::string& leak :
       {std::string(SERPWOW_SOURCE_DIR), std::string(SERPWOW_BINARY_DIR), std::string("/tmp/"),
        std::string("/work/"), std::string("/home/"), std::string("/build/"), std::string(".cc"),
        std::string("Flags from")}) {
    if (text.find(leak) != std::string::npos) {
      return ::testing::AssertionFailure() << "'" << leak << "' appears in:\n" << text;
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace serpwow::testing
