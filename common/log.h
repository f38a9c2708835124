// A small, thread-safe line logger (Debian's Abseil has no absl/log).
//
// One line per call on stderr: "2026-11-28T10:00:00.123Z I message". As a
// last line of defence any "api_key=..." that slips into a message is replaced
// by "api_key=REDACTED" before it is written; callers must still never log a
// key or a URL that carries one.
#pragma once

#include <string>

#include "absl/strings/str_cat.h"

namespace serpwow {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Messages below this level are dropped. Default kInfo. Thread-safe.
void SetMinLogLevel(LogLevel level);
LogLevel MinLogLevel();

// Writes one line. Thread-safe; lines from different threads never interleave.
void LogLine(LogLevel level, const std::string& message);

// Returns `text` with the value of every api_key=... query parameter replaced.
std::string RedactSecrets(std::string text);

template <typename... Args>
void Log(LogLevel level, const Args&... args) {
  if (level < MinLogLevel()) return;
  LogLine(level, absl::StrCat(args...));
}

}  // namespace serpwow

#define SERPWOW_LOG(level, ...) ::serpwow::Log(::serpwow::LogLevel::level, __VA_ARGS__)
