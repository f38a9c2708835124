#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <mutex>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace serpwow {
namespace {

std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};
std::mutex g_write_mu;

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

void WriteAll(const std::string& line) {
  std::lock_guard<std::mutex> lock(g_write_mu);
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) break;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace

void SetMinLogLevel(LogLevel level) { g_min_level.store(static_cast<int>(level)); }

LogLevel MinLogLevel() { return static_cast<LogLevel>(g_min_level.load()); }

bool ParseLogLevel(const std::string& name, LogLevel* level) {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarning, LogLevel::kError}) {
    if (name == LevelName(l)) {
      *level = l;
      return true;
    }
  }
  return false;
}

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

void AppendJsonString(std::string& out, const std::string& text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (u < 0x20 || u == 0x7f) {
          out += "\\u00";
          out.push_back(kHex[u >> 4]);
          out.push_back(kHex[u & 0xf]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

LogRecord::LogRecord(LogLevel level, const std::string& message)
    : enabled_(level >= MinLogLevel()) {
  if (!enabled_) return;
  line_.reserve(256);
  line_ = "{\"ts\":\"";
  line_ += absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  line_ += "\",\"level\":\"";
  line_ += LevelName(level);
  line_ += "\",\"msg\":";
  AppendJsonString(line_, RedactSecrets(message));
}

LogRecord& LogRecord::Str(const char* key, const std::string& value) {
  if (!enabled_) return *this;
  absl::StrAppend(&line_, ",\"", key, "\":");
  AppendJsonString(line_, RedactSecrets(value));
  return *this;
}

LogRecord& LogRecord::Int(const char* key, int64_t value) {
  if (enabled_) absl::StrAppend(&line_, ",\"", key, "\":", value);
  return *this;
}

LogRecord& LogRecord::Double(const char* key, double value) {
  if (!enabled_) return *this;
  if (!std::isfinite(value)) value = 0;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", value);
  absl::StrAppend(&line_, ",\"", key, "\":", buf);
  return *this;
}

LogRecord& LogRecord::Bool(const char* key, bool value) {
  if (enabled_) absl::StrAppend(&line_, ",\"", key, "\":", value ? "true" : "false");
  return *this;
}

void LogRecord::Emit() {
  if (!enabled_) return;
  enabled_ = false;
  line_ += "}\n";
  WriteAll(line_);
}

}  // namespace serpwow
