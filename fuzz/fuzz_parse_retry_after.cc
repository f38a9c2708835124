// fuzz_parse_retry_after: ParseRetryAfter (server/logic/outcome.h) on any
// header value, against several clocks. The whole input is the value.
//
// Invariants: no crash; a result is within [0, 1h]; a value that is
// delta-seconds (1*DIGIT, RFC 9110 §10.2.3, surrounding whitespace allowed)
// always parses, to min(value, 1h), whatever its size: RFC 9110 §1.2 says a
// delta-seconds too large to represent is taken as a large value, not ignored.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "fuzz/fuzz_check.h"
#include "server/logic/outcome.h"

namespace serpwow::fuzz {
namespace {

constexpr int64_t kMaxSeconds = 3600;

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// The delta-seconds value of `value` capped at kMaxSeconds, or nullopt when
// `value` is not delta-seconds.
absl::optional<int64_t> DeltaSeconds(const std::string& value) {
  size_t begin = 0;
  size_t end = value.size();
  while (begin < end && IsSpace(value[begin])) ++begin;
  while (end > begin && IsSpace(value[end - 1])) --end;
  if (begin == end) return absl::nullopt;
  int64_t seconds = 0;
  for (size_t i = begin; i < end; ++i) {
    if (value[i] < '0' || value[i] > '9') return absl::nullopt;
    seconds = std::min<int64_t>(seconds * 10 + (value[i] - '0'), kMaxSeconds);
  }
  return seconds;
}

}  // namespace
}  // namespace serpwow::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace serpwow::fuzz;
  const std::string value(reinterpret_cast<const char*>(data), size);
  const absl::optional<int64_t> delta = DeltaSeconds(value);
  const absl::Time clocks[] = {absl::Now(),
                               absl::UnixEpoch(),
                               absl::FromUnixSeconds(1445412480),
                               absl::FromUnixSeconds(int64_t{1} << 40),
                               absl::InfinitePast(),
                               absl::InfiniteFuture()};
  for (absl::Time now : clocks) {
    absl::optional<absl::Duration> delay = serpwow::logic::ParseRetryAfter(value, now);
    if (delay.has_value()) {
      FUZZ_CHECK(*delay >= absl::ZeroDuration() && *delay <= absl::Hours(1),
                 absl::StrCat("delay ", absl::FormatDuration(*delay), " for '",
                              absl::CHexEscape(value), "'"));
    }
    if (delta.has_value()) {
      FUZZ_CHECK(
          delay.has_value() && *delay == absl::Seconds(*delta),
          absl::StrCat("delta-seconds '", absl::CHexEscape(value), "' gave ",
                       delay ? absl::FormatDuration(*delay) : "nothing", ", want ", *delta, "s"));
    }
  }
  return 0;
}
