// fuzz_page_token: DecodePageToken and the slicing rule
// (server/logic/page_token.h) on any input. The whole input is the token;
// its first 16 bytes also give an offset, a page size and a page's item
// count for the slicing checks.
//
// Invariants: the empty token is offset 0; any other token decodes exactly
// when it is the one spelling EncodePageToken gives for its offset (at most
// kMaxListOffset) and the expected fingerprint (so a token never decodes for another query, and
// never in two spellings), with an offset >= 0; an error is INVALID_ARGUMENT
// with the contract's shape (fuzz_check.h), reason INVALID_PAGE_TOKEN, one
// BadRequest violation on "page_token", and one of a few fixed messages
// (printable ASCII; nothing of the token). Encode/decode round-trips every offset.
// The plan for (offset, size, upstream size) names the page holding the
// offset; a slice stays within the page, returns at most the size, advances
// the offset by what it returns, and offers a next page only when it
// returned something and the total is not reached.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "fuzz/fuzz_check.h"
#include "server/logic/errors.h"
#include "server/logic/page_token.h"

namespace {

constexpr uint64_t kFingerprint = 0x5c5730a65be79f44ULL;

uint64_t Read64(const uint8_t* data, size_t size, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | (at + i < size ? data[at + i] : 0);
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace serpwow::fuzz;
  namespace logic = serpwow::logic;
  const std::string token(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<int64_t> got = logic::DecodePageToken(token, kFingerprint);
  if (token.empty()) {
    FUZZ_CHECK(got.ok() && *got == 0, "the empty token is not offset 0");
  } else if (got.ok()) {
    FUZZ_CHECK(*got >= 0, "negative offset");
    FUZZ_CHECK(logic::EncodePageToken(kFingerprint, *got) == token,
               absl::StrCat("'", absl::CHexEscape(token), "' decoded but is not canonical"));
    FUZZ_CHECK(!logic::DecodePageToken(token, kFingerprint + 1).ok(),
               "a token decoded for another query");
  } else {
    const absl::Status& status = got.status();
    FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument,
               absl::StrCat("not INVALID_ARGUMENT: ", Describe(status)));
    const google::rpc::ErrorInfo info = CheckErrorShape(status, "");
    FUZZ_CHECK(info.reason() == logic::reason::kInvalidPageToken,
               absl::StrCat("reason is not INVALID_PAGE_TOKEN: ", Describe(status)));
    auto bad = logic::GetDetail<google::rpc::BadRequest>(status);
    FUZZ_CHECK(bad.has_value() && bad->field_violations_size() == 1 &&
                   bad->field_violations(0).field() == "page_token",
               absl::StrCat("BadRequest is not one violation on page_token: ", Describe(status)));
    FUZZ_CHECK(IsPrintableAscii(std::string(status.message())),
               absl::StrCat("message outside printable ASCII: ", Describe(status)));
    // No echo of the token: the message is one of the fixed texts, those of
    // four known bad tokens (too long, not base64url, not issued here, of
    // another query).
    static const std::set<std::string> kMessages = [] {
      std::set<std::string> out;
      for (const std::string& bad : {std::string(300, 'A'), std::string("!"), std::string("AAAA"),
                                     logic::EncodePageToken(kFingerprint + 1, 1)}) {
        out.insert(std::string(logic::DecodePageToken(bad, kFingerprint).status().message()));
      }
      return out;
    }();
    FUZZ_CHECK(kMessages.count(std::string(status.message())) == 1,
               absl::StrCat("not one of the fixed messages: ", Describe(status)));
  }

  // Round trip of an offset taken from the input.
  const int64_t offset = static_cast<int64_t>(Read64(data, size, 0) >> 2);  // < 2^62
  absl::StatusOr<int64_t> back =
      logic::DecodePageToken(logic::EncodePageToken(kFingerprint, offset), kFingerprint);
  FUZZ_CHECK(back.ok() && *back == offset, absl::StrCat("offset ", offset, " does not round-trip"));
  const int64_t beyond =
      logic::kMaxListOffset + 1 + static_cast<int64_t>(Read64(data, size, 0) >> 3);
  FUZZ_CHECK(
      !logic::DecodePageToken(logic::EncodePageToken(kFingerprint, beyond), kFingerprint).ok(),
      absl::StrCat("offset ", beyond, " beyond the maximum decoded"));

  // The slicing rule, with small numbers so the page arithmetic is checked
  // against a direct computation.
  const uint64_t knobs = Read64(data, size, 8);
  const int64_t small_offset = static_cast<int64_t>(Read64(data, size, 0) % 100000);
  const int32_t page_size = static_cast<int32_t>(knobs % 1000) + 1;
  const int32_t upstream_size =
      (knobs >> 10) % 2 == 0 ? page_size : static_cast<int32_t>((knobs >> 11) % 1000) + 1;
  const size_t on_page = static_cast<size_t>((knobs >> 21) % 1100);
  const int64_t total = static_cast<int64_t>((knobs >> 32) % 200000);
  for (int64_t o : {offset, small_offset}) {
    const logic::UpstreamPagePlan plan = logic::PlanUpstreamPage(o, page_size, upstream_size);
    FUZZ_CHECK(plan.page >= 1 && plan.first_index >= 0 && plan.first_index < upstream_size &&
                   (plan.page - 1) * static_cast<int64_t>(upstream_size) + plan.first_index == o,
               absl::StrCat("plan does not hold offset ", o));
    const logic::PageSlice slice = logic::SliceUpstreamPage(plan, on_page, total);
    const size_t returned = slice.end - slice.begin;
    FUZZ_CHECK(slice.begin <= slice.end && slice.end <= on_page &&
                   returned <= static_cast<size_t>(page_size),
               "slice out of the page");
    FUZZ_CHECK(slice.next_offset == o + static_cast<int64_t>(returned), "next offset");
    FUZZ_CHECK(slice.has_next == (returned > 0 && slice.next_offset < total), "has_next");
  }
  const logic::PageSlice whole = logic::SliceWhole(small_offset, page_size, on_page);
  FUZZ_CHECK(whole.begin <= whole.end && whole.end <= on_page &&
                 whole.end - whole.begin <= static_cast<size_t>(page_size),
             "whole slice out of range");
  return 0;
}
