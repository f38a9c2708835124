// Structured logging: one JSON object per line on stderr (Debian's Abseil has
// no absl/log, and log collectors want JSON anyway).
//
//   {"ts":"2026-11-28T10:00:00.123Z","level":"info","msg":"rpc","method":"StopBatch",...}
//
// Thread-safe and never blocking: lines are queued in order and written by a
// background thread, so a slow or blocked stderr cannot stall the threads
// that log (gRPC handlers, the upstream loop). If more than 1 MiB is waiting,
// new lines are dropped and counted (LogLinesDropped(), and a warning line
// with the count once output resumes). Lines never interleave. As a last
// line of defence any "api_key=..." that slips into a message or a string
// field is replaced by "api_key=REDACTED"; callers must still never log a key
// or a URL that carries one.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace serpwow {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Messages below this level are dropped. Default kInfo. Thread-safe.
void SetMinLogLevel(LogLevel level);
LogLevel MinLogLevel();
// "debug", "info", "warning", "error" -> level; false if unknown.
bool ParseLogLevel(const std::string& name, LogLevel* level);

// Lines dropped since start because stderr could not keep up.
int64_t LogLinesDropped();
// Waits up to `timeout` until every line logged so far is written; false on
// timeout. Also done (for up to 2 s) when the process exits normally.
bool FlushLogs(absl::Duration timeout);

// Returns `text` with the value of every api_key=... query parameter replaced.
std::string RedactSecrets(std::string text);

// Appends `text` as a JSON string literal (quotes included) to `out`.
void AppendJsonString(std::string& out, const std::string& text);

// One log line under construction; written by Emit() (or dropped when the
// level is below the minimum). Field names must be plain identifiers.
class LogRecord {
 public:
  LogRecord(LogLevel level, const std::string& message);
  LogRecord& Str(const char* key, const std::string& value);
  LogRecord& Int(const char* key, int64_t value);
  LogRecord& Double(const char* key, double value);
  LogRecord& Bool(const char* key, bool value);
  void Emit();

 private:
  bool enabled_;
  std::string line_;
};

// A plain message line: {"ts":..,"level":..,"msg":"<args concatenated>"}.
template <typename... Args>
void Log(LogLevel level, const Args&... args) {
  if (level < MinLogLevel()) return;
  LogRecord(level, absl::StrCat(args...)).Emit();
}

}  // namespace serpwow

#define SERPWOW_LOG(level, ...) ::serpwow::Log(::serpwow::LogLevel::level, __VA_ARGS__)
