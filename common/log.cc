#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace serpwow {
namespace {

std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};

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

std::string LinePrefix(LogLevel level);

// Lines are queued here and written to stderr by one background thread, so
// that a slow or blocked stderr (a pipe nobody reads, a stalled log
// collector) never blocks the threads that log: gRPC handlers and the
// upstream loop. Order is kept. When kMaxQueuedBytes are waiting, new lines
// are dropped and counted; once the writer catches up it says how many in a
// line of its own, where they would have been.
class LogWriter {
 public:
  static constexpr size_t kMaxQueuedBytes = 1 << 20;

  // Never destroyed: logging works until the process ends.
  static LogWriter& Get() {
    static LogWriter* writer = new LogWriter();
    return *writer;
  }

  void Push(std::string& line) {
    absl::MutexLock lock(&mu_);
    if (queued_.size() + line.size() > kMaxQueuedBytes) {
      ++dropped_pending_;
      dropped_total_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    queued_ += line;
    ++accepted_;
  }

  // Waits up to `timeout` for every line accepted so far to be written.
  bool Flush(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    const int64_t target = accepted_;
    auto written = [&] { return written_ >= target; };
    return mu_.AwaitWithTimeout(absl::Condition(&written), timeout);
  }

  int64_t dropped() const { return dropped_total_.load(std::memory_order_relaxed); }

 private:
  LogWriter() {
    std::thread([this] { Run(); }).detach();
    // Lines logged just before exit() (or a return from main) still reach
    // stderr, unless it stays blocked for 2 s.
    std::atexit([] { LogWriter::Get().Flush(absl::Seconds(2)); });
  }

  void Run() {
    for (;;) {
      std::string batch;
      int64_t lines, dropped;
      {
        absl::MutexLock lock(&mu_);
        auto work = [&] { return !queued_.empty() || dropped_pending_ > 0; };
        mu_.Await(absl::Condition(&work));
        batch.swap(queued_);
        lines = accepted_ - written_;
        dropped = dropped_pending_;
        dropped_pending_ = 0;
      }
      WriteAll(batch);
      if (dropped > 0) {
        std::string notice = LinePrefix(LogLevel::kWarning);
        absl::StrAppend(
            &notice, "\"log lines dropped: stderr was not read fast enough\",\"dropped\":", dropped,
            "}\n");
        WriteAll(notice);
      }
      absl::MutexLock lock(&mu_);
      written_ += lines;
    }
  }

  static void WriteAll(const std::string& text) {
    const char* p = text.data();
    size_t left = text.size();
    while (left > 0) {
      ssize_t n = ::write(STDERR_FILENO, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // stderr closed or broken: nothing more to do
      p += n;
      left -= static_cast<size_t>(n);
    }
  }

  absl::Mutex mu_;
  std::string queued_ ABSL_GUARDED_BY(mu_);
  int64_t accepted_ ABSL_GUARDED_BY(mu_) = 0;  // lines queued since start
  int64_t written_ ABSL_GUARDED_BY(mu_) = 0;   // lines written since start
  int64_t dropped_pending_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<int64_t> dropped_total_{0};
};

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

namespace {

// {"ts":"...","level":"...","msg":   (the message and the rest follow)
std::string LinePrefix(LogLevel level) {
  std::string line;
  line.reserve(256);
  line = "{\"ts\":\"";
  line += absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  line += "\",\"level\":\"";
  line += LevelName(level);
  line += "\",\"msg\":";
  return line;
}

}  // namespace

int64_t LogLinesDropped() { return LogWriter::Get().dropped(); }

bool FlushLogs(absl::Duration timeout) { return LogWriter::Get().Flush(timeout); }

LogRecord::LogRecord(LogLevel level, const std::string& message)
    : enabled_(level >= MinLogLevel()) {
  if (!enabled_) return;
  line_ = LinePrefix(level);
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
  LogWriter::Get().Push(line_);
}

}  // namespace serpwow
