#include "common/byte_size.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace serpwow {

absl::StatusOr<int64_t> ParseByteSize(absl::string_view text, absl::string_view flag) {
  struct Suffix {
    absl::string_view name;
    int64_t factor;
  };
  static constexpr Suffix kSuffixes[] = {{"Ki", int64_t{1} << 10}, {"Mi", int64_t{1} << 20},
                                         {"Gi", int64_t{1} << 30}, {"k", 1000},
                                         {"M", 1000 * 1000},       {"G", 1000 * 1000 * 1000}};
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": '", absl::CHexEscape(text.substr(0, 32)),
                     "' is not a size; write bytes or a whole number with Ki, Mi, Gi, k, M or G, "
                     "e.g. 256Mi"));
  };
  absl::string_view digits = text;
  int64_t factor = 1;
  for (const Suffix& s : kSuffixes) {
    if (absl::EndsWith(text, s.name)) {
      digits.remove_suffix(s.name.size());
      factor = s.factor;
      break;
    }
  }
  if (digits.empty() || digits.size() > 13) return bad();
  for (char c : digits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return bad();
  }
  int64_t n = 0;
  if (!absl::SimpleAtoi(digits, &n) || n <= 0) return bad();
  constexpr int64_t kMax = int64_t{1} << 40;
  if (n > (kMax - 1) / factor) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": sizes of 1 TiB or more are refused"));
  }
  return n * factor;
}

}  // namespace serpwow
