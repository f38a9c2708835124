// Opaque page tokens (AIP-158) over SerpWow's numbered pages, and the
// slicing rule that keeps them correct when a caller changes page_size
// mid-walk (design §1.5). Generic: any List RPC (ListBatches, ListSearches,
// ListResultSets) binds its tokens to its method, parent, filter and order.
//
// Token layout (version 1): 17 bytes, base64url without padding (23
// characters):
//   byte 0       version (1)
//   bytes 1..8   fingerprint, big-endian: FNV-1a-64 of the method, parent,
//                canonical filter and canonical order (stable on every
//                replica and build; never std::hash)
//   bytes 9..16  offset, big-endian, >= 0: the index of the next item
// Anything else (longer than kMaxPageTokenLength, other characters, padding,
// another length or version, an offset above kMaxListOffset, a non-canonical
// encoding, or
// a fingerprint of another query) is INVALID_ARGUMENT INVALID_PAGE_TOKEN.
// Tokens do not expire and grant nothing: authorization is checked per call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace serpwow::logic {

inline constexpr size_t kMaxPageTokenLength = 256;
// The largest offset a token carries or a call starts at (tokens beyond it
// are refused; skip saturates at it): far above any real list, and low
// enough that page arithmetic never overflows.
inline constexpr int64_t kMaxListOffset = int64_t{1} << 62;
inline constexpr uint8_t kPageTokenVersion = 1;

// FNV-1a, 64 bits, over the bytes of `data`.
uint64_t Fnv1a64(absl::string_view data, uint64_t seed = 0xcbf29ce484222325ULL);

// The fingerprint a token of one query carries. Each part is hashed with its
// length first, so ("ab","c") and ("a","bc") differ. `filter` and `order_by`
// must be canonical (the parser's canonical text), so equivalent spellings of
// one query share tokens.
uint64_t ListFingerprint(absl::string_view method, absl::string_view parent,
                         absl::string_view filter, absl::string_view order_by);

// The token for the item at `offset` (>= 0) of the query `fingerprint`.
std::string EncodePageToken(uint64_t fingerprint, int64_t offset);

// The offset a token carries, or INVALID_ARGUMENT INVALID_PAGE_TOKEN
// (BadRequest on "page_token") when it is malformed or belongs to another
// query than `expected_fingerprint`. The empty token is offset 0.
absl::StatusOr<int64_t> DecodePageToken(absl::string_view token, uint64_t expected_fingerprint);

// page_size per AIP-158: 0 means `default_size`, above `max_size` is coerced
// down to `max_size` (AIP-158: "should coerce"), negative is INVALID_ARGUMENT
// INVALID_PAGE_SIZE (BadRequest on "page_size").
absl::StatusOr<int32_t> NormalizePageSize(int32_t requested, int32_t default_size,
                                          int32_t max_size);

// The offset a call starts at: the token's offset plus `skip` (AIP-158).
// A negative skip is INVALID_ARGUMENT INVALID_FIELD (BadRequest on "skip");
// the token's errors as DecodePageToken. The sum saturates at kMaxListOffset.
absl::StatusOr<int64_t> StartOffset(absl::string_view token, int64_t skip,
                                    uint64_t expected_fingerprint);

// Which upstream page to fetch for the call's page (slicing rule, §1.5).
// Upstream pages are numbered from 1 and hold `upstream_page_size` items.
struct UpstreamPagePlan {
  int64_t page = 1;  // SerpWow's 1-based page number
  int32_t upstream_page_size = 0;
  int32_t first_index = 0;  // index in that page of the item at `offset`
  int32_t max_items = 0;    // at most this many are returned (the caller's size)
  int64_t offset = 0;
};

// For offset o and caller size s over upstream pages of u items: page o/u + 1,
// items from o%u to the end of that page, at most s. ListBatches passes
// u = s (SerpWow takes a page_size), so a changed size yields one short page
// and then realigns; ListSearches passes u = 1000 (fixed upstream pages).
// The offset is clamped to [0, kMaxListOffset], the sizes to at least 1.
UpstreamPagePlan PlanUpstreamPage(int64_t offset, int32_t page_size, int32_t upstream_page_size);

// What one call returns: the items [begin, end) of what it fetched, and the
// next token's offset when there is one.
struct PageSlice {
  size_t begin = 0;
  size_t end = 0;
  bool has_next = false;
  int64_t next_offset = 0;
};

// Slices the upstream page `plan` named, which held `items_on_page` items, in a
// collection of `total_count` items (SerpWow's total_count). There is a next
// page exactly when offset + returned < total_count and something was
// returned (an empty page ends the walk, so a shrinking list cannot loop).
PageSlice SliceUpstreamPage(const UpstreamPagePlan& plan, size_t items_on_page,
                            int64_t total_count);

// Slices a collection fetched whole (e.g. result sets): items from `offset`,
// at most `page_size`, of `total` items.
PageSlice SliceWhole(int64_t offset, int32_t page_size, size_t total);

}  // namespace serpwow::logic
