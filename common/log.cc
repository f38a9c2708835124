#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace serpwow {
namespace {

std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};
std::mutex g_write_mu;

char LevelChar(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return 'D';
    case LogLevel::kInfo:
      return 'I';
    case LogLevel::kWarning:
      return 'W';
    case LogLevel::kError:
      return 'E';
  }
  return '?';
}

}  // namespace

void SetMinLogLevel(LogLevel level) { g_min_level.store(static_cast<int>(level)); }

LogLevel MinLogLevel() { return static_cast<LogLevel>(g_min_level.load()); }

std::string RedactSecrets(std::string text) {
  static constexpr char kNeedle[] = "api_key=";
  static constexpr size_t kNeedleLen = sizeof(kNeedle) - 1;
  size_t pos = 0;
  while ((pos = text.find(kNeedle, pos)) != std::string::npos) {
    size_t start = pos + kNeedleLen;
    size_t end = text.find_first_of("&# \t\r\n\"'", start);
    if (end == std::string::npos) end = text.size();
    text.replace(start, end - start, "REDACTED");
    pos = start + 8;
  }
  return text;
}

void LogLine(LogLevel level, const std::string& message) {
  if (level < MinLogLevel()) return;
  std::string line =
      absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()), " ",
                   std::string(1, LevelChar(level)), " ", RedactSecrets(message), "\n");
  std::lock_guard<std::mutex> lock(g_write_mu);
  // One write(2) per line so that lines from several processes sharing the
  // stream do not interleave either.
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) break;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace serpwow
