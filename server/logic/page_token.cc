#include "server/logic/page_token.h"

#include <algorithm>
#include <limits>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "server/logic/errors.h"

namespace serpwow::logic {
namespace {

constexpr size_t kTokenBytes = 17;
constexpr uint64_t kFnv64Prime = 0x100000001b3ULL;  // FNV-1a 64-bit prime

void PutBigEndian(uint64_t value, std::string* out) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

uint64_t GetBigEndian(const std::string& bytes, size_t at) {
  uint64_t value = 0;
  for (size_t i = 0; i < 8; ++i) {
    value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  }
  return value;
}

uint64_t HashPart(uint64_t hash, absl::string_view part) {
  std::string length;
  PutBigEndian(part.size(), &length);
  return Fnv1a64(part, Fnv1a64(length, hash));
}

absl::Status BadToken(const std::string& why) {
  return ErrorBuilder(absl::StatusCode::kInvalidArgument,
                      absl::StrCat("page_token is not valid: ", why,
                                   "; pass the next_page_token of the previous call with the "
                                   "same filter and order_by, or an empty token for the first "
                                   "page"),
                      reason::kInvalidPageToken)
      .BadRequestField("page_token", why);
}

bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

}  // namespace

uint64_t Fnv1a64(absl::string_view data, uint64_t seed) {
  uint64_t hash = seed;
  for (char c : data) {
    hash ^= static_cast<unsigned char>(c);
    hash *= kFnv64Prime;
  }
  return hash;
}

uint64_t ListFingerprint(absl::string_view method, absl::string_view parent,
                         absl::string_view filter, absl::string_view order_by) {
  uint64_t hash = Fnv1a64("");
  for (absl::string_view part : {method, parent, filter, order_by}) hash = HashPart(hash, part);
  return hash;
}

std::string EncodePageToken(uint64_t fingerprint, int64_t offset) {
  std::string bytes;
  bytes.reserve(kTokenBytes);
  bytes.push_back(static_cast<char>(kPageTokenVersion));
  PutBigEndian(fingerprint, &bytes);
  PutBigEndian(static_cast<uint64_t>(std::max<int64_t>(offset, 0)), &bytes);
  return absl::WebSafeBase64Escape(bytes);  // no padding
}

absl::StatusOr<int64_t> DecodePageToken(absl::string_view token, uint64_t expected_fingerprint) {
  if (token.empty()) return 0;
  if (token.size() > kMaxPageTokenLength) {
    return BadToken(absl::StrCat("longer than ", kMaxPageTokenLength, " bytes"));
  }
  // Checked before decoding: absl's decoder also takes padding and whitespace.
  if (!std::all_of(token.begin(), token.end(), IsBase64UrlChar)) {
    return BadToken("not base64url text");
  }
  std::string bytes;
  if (!absl::WebSafeBase64Unescape(token, &bytes) || absl::WebSafeBase64Escape(bytes) != token) {
    return BadToken("not base64url text");
  }
  if (bytes.size() != kTokenBytes || static_cast<uint8_t>(bytes[0]) != kPageTokenVersion) {
    return BadToken("not a token this gateway issued");
  }
  if (GetBigEndian(bytes, 1) != expected_fingerprint) {
    return BadToken("it was issued for another filter or order_by");
  }
  uint64_t offset = GetBigEndian(bytes, 9);
  if (offset > static_cast<uint64_t>(kMaxListOffset)) {
    return BadToken("not a token this gateway issued");
  }
  return static_cast<int64_t>(offset);
}

absl::StatusOr<int32_t> NormalizePageSize(int32_t requested, int32_t default_size,
                                          int32_t max_size) {
  if (requested < 0) {
    return ErrorBuilder(absl::StatusCode::kInvalidArgument,
                        absl::StrCat("page_size must not be negative (0 means the default of ",
                                     default_size, ", at most ", max_size, ")"),
                        reason::kInvalidPageSize)
        .BadRequestField("page_size", "must be >= 0");
  }
  if (requested == 0) return default_size;
  return std::min(requested, max_size);
}

absl::StatusOr<int64_t> StartOffset(absl::string_view token, int64_t skip,
                                    uint64_t expected_fingerprint) {
  if (skip < 0) {
    return ErrorBuilder(absl::StatusCode::kInvalidArgument,
                        "skip must not be negative (it counts items to pass over)",
                        reason::kInvalidField)
        .BadRequestField("skip", "must be >= 0");
  }
  absl::StatusOr<int64_t> offset = DecodePageToken(token, expected_fingerprint);
  if (!offset.ok()) return offset.status();
  if (skip > kMaxListOffset - *offset) return kMaxListOffset;
  return *offset + skip;
}

UpstreamPagePlan PlanUpstreamPage(int64_t offset, int32_t page_size, int32_t upstream_page_size) {
  UpstreamPagePlan plan;
  plan.offset = std::clamp<int64_t>(offset, 0, kMaxListOffset);
  plan.upstream_page_size = std::max(upstream_page_size, 1);
  plan.max_items = std::max(page_size, 1);
  plan.page = plan.offset / plan.upstream_page_size + 1;
  plan.first_index = static_cast<int32_t>(plan.offset % plan.upstream_page_size);
  return plan;
}

PageSlice SliceUpstreamPage(const UpstreamPagePlan& plan, size_t items_on_page,
                            int64_t total_count) {
  PageSlice slice;
  slice.begin = std::min(static_cast<size_t>(plan.first_index), items_on_page);
  slice.end = std::min(items_on_page, slice.begin + static_cast<size_t>(plan.max_items));
  const int64_t returned = static_cast<int64_t>(slice.end - slice.begin);
  slice.next_offset = plan.offset + returned;  // <= 2^62 + 2^31: no overflow
  slice.has_next = returned > 0 && slice.next_offset < total_count;
  return slice;
}

PageSlice SliceWhole(int64_t offset, int32_t page_size, size_t total) {
  PageSlice slice;
  const uint64_t start = static_cast<uint64_t>(std::max<int64_t>(offset, 0));
  slice.begin = start >= total ? total : static_cast<size_t>(start);
  slice.end = std::min(total, slice.begin + static_cast<size_t>(std::max(page_size, 1)));
  slice.next_offset = static_cast<int64_t>(slice.end);
  slice.has_next = slice.end < total && slice.end > slice.begin;
  return slice;
}

}  // namespace serpwow::logic
