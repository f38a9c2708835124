// fuzz_classify_reply: ClassifyStopReply and ClassifyBatchRead
// (server/logic/outcome.h) on arbitrary upstream replies, checked against the
// README's error contract.
//
// Input layout (bytes past the end read as 0):
//   [0..1]  status selector s, big-endian. s % 520 < 500: HTTP 100 + s % 520.
//           Otherwise a transport error (kTransportErrors[(s % 520 - 500) % 10])
//           and HTTP status 0.
//   [2]     flags: bits 0-1 seen_before (unknown, idle, queued, running),
//           bit 2 timeout_is_callers_deadline, bits 3-4 which batch id,
//           bit 5 insert the marker into the body
//   [3]     n, the Retry-After header's length (0: no header); then n bytes
//   [+2]    marker position in the body, big-endian, modulo body size + 1
//   rest    the body
// fuzz/make_classify_corpus.py writes seeds in this layout.
//
// The marker is a fixed 16-byte string that none of our wording contains: a
// status message or detail that holds it has copied upstream body bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "fuzz/fuzz_check.h"
#include "server/logic/errors.h"
#include "server/logic/outcome.h"
#include "server/upstream/http_loop.h"

namespace serpwow::fuzz {
namespace {

using logic::BatchStatus;
using logic::ClassifyContext;
using logic::StopReply;
using upstream::HttpResult;
using upstream::TransportError;
using Json = nlohmann::json;
namespace reason = logic::reason;

constexpr char kMarker[] = "Qx7vKm2ZpL9wRt4N";
constexpr size_t kMaxStopMessageBytes = 256;

constexpr TransportError kTransportErrors[] = {
    TransportError::kResolve,         TransportError::kConnect,   TransportError::kTls,
    TransportError::kConnectionLost,  TransportError::kTimeout,   TransportError::kBodyTooLarge,
    TransportError::kBadReply,        TransportError::kCancelled, TransportError::kOther,
    TransportError::kHeadersTooLarge,
};
constexpr BatchStatus kStatuses[] = {BatchStatus::kUnknown, BatchStatus::kIdle,
                                     BatchStatus::kQueued, BatchStatus::kRunning};
const char* const kBatchIds[] = {
    "9E867FAA", "x", "batch_2024-01-31",
    "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"};

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  unsigned BigEndian16() {
    const unsigned high = Byte();
    return (high << 8) | Byte();
  }
  std::string Bytes(size_t n) {
    n = std::min(n, size_ - pos_);
    std::string out(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return out;
  }
  std::string Rest() { return Bytes(size_ - pos_); }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

struct Input {
  HttpResult result;
  ClassifyContext context;
  BatchStatus seen_before = BatchStatus::kUnknown;
  bool has_marker = false;
};

Input Decode(const uint8_t* data, size_t size) {
  Reader in(data, size);
  Input input;
  const unsigned selector = in.BigEndian16() % 520;
  if (selector < 500) {
    input.result.http_status = 100 + selector;
  } else {
    input.result.error = kTransportErrors[(selector - 500) % std::size(kTransportErrors)];
    input.result.curl_code = 7;
  }
  const uint8_t flags = in.Byte();
  input.seen_before = kStatuses[flags & 3];
  input.context.timeout_is_callers_deadline = (flags & 4) != 0;
  input.context.batch_id = kBatchIds[(flags >> 3) & 3];
  input.has_marker = (flags & 0x20) != 0;
  input.result.retry_after = in.Bytes(in.Byte());
  const unsigned marker_at = in.BigEndian16();
  input.result.body = in.Rest();
  if (input.has_marker) {
    input.result.body.insert(marker_at % (input.result.body.size() + 1), kMarker);
  }
  return input;
}

bool Is2xx(const HttpResult& r) {
  return r.error == TransportError::kNone && r.http_status >= 200 && r.http_status < 300;
}

// Our own reading of the body, independent of outcome.cc.
struct Body {
  Json json;                  // discarded when not JSON
  Json info;                  // request_info, null when absent
  bool success_true = false;  // request_info.success == true
};

// The contract refuses JSON nested deeper than 32 levels unparsed; the
// parser reads up to the first NUL byte. Our own count of the nesting there.
bool DeeperThan32(const std::string& text) {
  const std::string parsed = text.substr(0, text.find('\0'));
  int level = 0;
  bool quoted = false;
  bool escaped = false;
  for (char c : parsed) {
    if (quoted) {
      quoted = escaped || c != '"';
      escaped = !escaped && c == '\\';
      continue;
    }
    if (c == '"') quoted = true;
    if (c == '[' || c == '{') {
      if (++level > 32) return true;
    }
    if (c == ']' || c == '}') --level;
  }
  return false;
}

Body ReadBody(const std::string& text) {
  Body body;
  if (DeeperThan32(text)) return body;  // json stays null: not an envelope
  body.json = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!body.json.is_object()) return body;
  auto info = body.json.find("request_info");
  if (info == body.json.end() || !info->is_object()) return body;
  body.info = *info;
  auto success = info->find("success");
  body.success_true = success != info->end() && success->is_boolean() && success->get<bool>();
  return body;
}

// The reason each code may come with, and the detail that reason needs.
void CheckReasonMatchesCode(const absl::Status& status, const google::rpc::ErrorInfo& info,
                            bool stop) {
  using absl::StatusCode;
  struct Row {
    const char* reason;
    StatusCode code;
    std::string needed_detail;  // full name, "" for none
  };
  const Row rows[] = {
      {reason::kBatchNotStoppable, StatusCode::kFailedPrecondition,
       google::rpc::PreconditionFailure::descriptor()->full_name()},
      {reason::kBatchNotFound, StatusCode::kNotFound,
       google::rpc::ResourceInfo::descriptor()->full_name()},
      {reason::kUpstreamAuthFailed, StatusCode::kInternal, ""},
      {reason::kCreditsExhausted, StatusCode::kResourceExhausted,
       google::rpc::QuotaFailure::descriptor()->full_name()},
      {reason::kRateLimited, StatusCode::kResourceExhausted,
       google::rpc::RetryInfo::descriptor()->full_name()},
      {reason::kUpstreamUnavailable, StatusCode::kUnavailable, ""},
      {reason::kUpstreamTimeout, StatusCode::kUnavailable, ""},
      {reason::kDeadlineExceeded, StatusCode::kDeadlineExceeded, ""},
      {reason::kCancelled, StatusCode::kCancelled, ""},
      {reason::kUpstreamBadResponse, StatusCode::kInternal, ""},
      {reason::kUpstreamRouteNotFound, StatusCode::kInternal, ""},
      {reason::kUpstreamRedirect, StatusCode::kInternal, ""},
      {reason::kUpstreamRejected, StatusCode::kInternal, ""},
  };
  for (const Row& row : rows) {
    if (info.reason() != row.reason) continue;
    FUZZ_CHECK(status.code() == row.code,
               absl::StrCat("reason ", row.reason, " with the wrong code: ", Describe(status)));
    if (!row.needed_detail.empty()) {
      FUZZ_CHECK(status.GetPayload(logic::TypeUrlOf(row.needed_detail)).has_value(),
                 absl::StrCat("reason ", row.reason, " without ", row.needed_detail, ": ",
                              Describe(status)));
    }
    FUZZ_CHECK(stop || info.reason() != reason::kBatchNotStoppable,
               absl::StrCat("the batch read said BATCH_NOT_STOPPABLE: ", Describe(status)));
    return;
  }
  FUZZ_CHECK(false, absl::StrCat("reason not in the contract: ", Describe(status)));
}

// Rows of the contract that depend on the transport error or the status code
// alone, whatever the body says.
void CheckBodyIndependentRows(const Input& in, const absl::Status& status,
                              const google::rpc::ErrorInfo& info) {
  using absl::StatusCode;
  const HttpResult& r = in.result;
  auto expect = [&](StatusCode code, const char* want_reason) {
    FUZZ_CHECK(status.code() == code && info.reason() == want_reason,
               absl::StrCat("want ", absl::StatusCodeToString(code), "/", want_reason,
                            " for transport ", upstream::TransportErrorName(r.error), " HTTP ",
                            r.http_status, ": ", Describe(status)));
  };
  switch (r.error) {
    case TransportError::kNone:
      break;
    case TransportError::kResolve:
    case TransportError::kConnect:
    case TransportError::kTls:
    case TransportError::kConnectionLost:
    case TransportError::kOther: {
      expect(StatusCode::kUnavailable, reason::kUpstreamUnavailable);
      auto name = info.metadata().find("transport_error");
      FUZZ_CHECK(
          name != info.metadata().end() && name->second == upstream::TransportErrorName(r.error),
          absl::StrCat("metadata transport_error missing: ", Describe(status)));
      return;
    }
    case TransportError::kTimeout:
      if (in.context.timeout_is_callers_deadline) {
        expect(StatusCode::kDeadlineExceeded, reason::kDeadlineExceeded);
      } else {
        expect(StatusCode::kUnavailable, reason::kUpstreamTimeout);
      }
      return;
    case TransportError::kBodyTooLarge:
    case TransportError::kHeadersTooLarge:
    case TransportError::kBadReply:
      expect(StatusCode::kInternal, reason::kUpstreamBadResponse);
      return;
    case TransportError::kCancelled:
      expect(StatusCode::kCancelled, reason::kCancelled);
      return;
  }
  switch (r.http_status) {
    case 401:
      expect(StatusCode::kInternal, reason::kUpstreamAuthFailed);
      break;
    case 402:
      expect(StatusCode::kResourceExhausted, reason::kCreditsExhausted);
      break;
    case 429:
      expect(StatusCode::kResourceExhausted, reason::kRateLimited);
      break;
    case 500:
    case 502:
    case 503:
    case 504:
      expect(StatusCode::kUnavailable, reason::kUpstreamUnavailable);
      break;
    default:
      break;
  }
}

void CheckError(const Input& in, const absl::Status& status, bool stop) {
  using absl::StatusCode;
  const StatusCode code = status.code();
  FUZZ_CHECK(code == StatusCode::kFailedPrecondition || code == StatusCode::kNotFound ||
                 code == StatusCode::kInternal || code == StatusCode::kResourceExhausted ||
                 code == StatusCode::kUnavailable || code == StatusCode::kDeadlineExceeded ||
                 code == StatusCode::kCancelled,
             absl::StrCat("code not in the contract: ", Describe(status)));
  google::rpc::ErrorInfo info = CheckErrorShape(status, in.has_marker ? kMarker : "");
  CheckReasonMatchesCode(status, info, stop);
  CheckBodyIndependentRows(in, status, info);
}

// The code points StopReply.message must never contain (outcome.cc,
// CleanText): C0 controls, DEL, C1 controls (U+0080..U+009F; U+009B is the
// 8-bit CSI), LRM/RLM, line and paragraph separators, bidi embeddings,
// overrides and isolates.
bool Unsafe(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x200E || cp == 0x200F || cp == 0x2028 ||
         cp == 0x2029 || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

// Splits `s` into well-formed UTF-8 characters (invalid bytes come back as
// length-1 entries with ok=false), independently of the code under test.
struct Char {
  size_t pos, len;
  uint32_t cp;
  bool ok;
};
std::vector<Char> Characters(const std::string& s) {
  std::vector<Char> out;
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t len = b < 0x80 ? 1 : b >= 0xF0 && b <= 0xF4 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 ? 2 : 0;
    uint32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      ok = (c & 0xC0) == 0x80;
      cp = (cp << 6) | (c & 0x3F);
    }
    const uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : len == 4 ? 0x10000 : 0;
    ok = ok && cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    if (!ok) {
      out.push_back({i, 1, 0, false});
      ++i;
    } else {
      out.push_back({i, len, cp, true});
      i += len;
    }
  }
  return out;
}

bool HasControlCharacter(const std::string& s) {
  for (const Char& c : Characters(s)) {
    if (c.ok && Unsafe(c.cp)) return true;
  }
  return false;
}

// request_info.message as the contract says it is shown: invalid bytes and
// unsafe characters dropped (not yet cut to length).
std::string WithoutControlCharacters(const std::string& s) {
  std::string out;
  for (const Char& c : Characters(s)) {
    if (c.ok && !Unsafe(c.cp)) out.append(s, c.pos, c.len);
  }
  return out;
}

// "credits_refunded" or "refunded", bool or a number of credits, at the top
// level, else in request_info (outcome.h, StopReply).
absl::optional<bool> ExpectedRefund(const Body& body) {
  auto flag = [](const Json& object) -> absl::optional<bool> {
    for (const char* key : {"credits_refunded", "refunded"}) {
      auto it = object.find(key);
      if (it == object.end()) continue;
      if (it->is_boolean()) return it->get<bool>();
      if (it->is_number()) return it->get<double>() > 0;
    }
    return absl::nullopt;
  };
  absl::optional<bool> top = flag(body.json);
  return top.has_value() ? top : flag(body.info);
}

void CheckStop(const Input& in, const Body& body) {
  absl::StatusOr<StopReply> stop = logic::ClassifyStopReply(in.result, in.context, in.seen_before);
  const bool want_ok = Is2xx(in.result) && body.success_true;
  if (!stop.ok()) {
    FUZZ_CHECK(!want_ok, absl::StrCat("2xx with request_info.success:true was refused: ",
                                      Describe(stop.status())));
    CheckError(in, stop.status(), /*stop=*/true);
    return;
  }
  FUZZ_CHECK(want_ok, absl::StrCat("OK without 2xx and request_info.success:true, HTTP ",
                                   in.result.http_status));
  const std::string& message = stop->message;
  FUZZ_CHECK(message.size() <= kMaxStopMessageBytes,
             absl::StrCat("StopReply.message is ", message.size(), " bytes"));
  FUZZ_CHECK(
      !HasControlCharacter(message),
      absl::StrCat("StopReply.message has a control character: ", absl::CHexEscape(message)));
  FUZZ_CHECK(IsValidUtf8(message), absl::StrCat("StopReply.message is not UTF-8 (it goes into a "
                                                "proto3 string): ",
                                                absl::CHexEscape(message)));
  std::string raw;
  auto it = body.info.find("message");
  if (it != body.info.end() && it->is_string()) raw = it->get<std::string>();
  const std::string cleaned = WithoutControlCharacters(raw);
  if (cleaned.size() <= kMaxStopMessageBytes) {
    FUZZ_CHECK(message == cleaned,
               absl::StrCat("StopReply.message '", absl::CHexEscape(message),
                            "' is not request_info.message without control characters '",
                            absl::CHexEscape(cleaned), "'"));
  } else {
    // Cut to 256 bytes, at a character boundary (at most 3 bytes short).
    FUZZ_CHECK(message.size() + 3 >= kMaxStopMessageBytes && cleaned.rfind(message, 0) == 0,
               absl::StrCat("StopReply.message '", absl::CHexEscape(message), "' is not a cut of '",
                            absl::CHexEscape(cleaned), "'"));
  }
  FUZZ_CHECK(stop->credits_refunded == ExpectedRefund(body),
             "StopReply.credits_refunded disagrees with the reply's refund fields");
}

void CheckRead(const Input& in, const Body& body) {
  absl::StatusOr<BatchStatus> read = logic::ClassifyBatchRead(in.result, in.context);
  absl::optional<BatchStatus> want;
  if (Is2xx(in.result) && body.success_true) {
    auto batch = body.json.find("batch");
    if (batch != body.json.end() && batch->is_object()) {
      auto status = batch->find("status");
      if (status != batch->end() && status->is_string()) {
        const std::string value = absl::AsciiStrToLower(status->get<std::string>());
        if (value == "idle") want = BatchStatus::kIdle;
        if (value == "queued") want = BatchStatus::kQueued;
        if (value == "running") want = BatchStatus::kRunning;
      }
    }
  }
  if (!read.ok()) {
    FUZZ_CHECK(!want.has_value(),
               absl::StrCat("a readable batch status was refused: ", Describe(read.status())));
    CheckError(in, read.status(), /*stop=*/false);
    return;
  }
  FUZZ_CHECK(want.has_value() && *want == *read,
             absl::StrCat("read gave '", logic::BatchStatusName(*read), "', want '",
                          want ? logic::BatchStatusName(*want) : "an error", "'"));
}

}  // namespace
}  // namespace serpwow::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace serpwow::fuzz;
  const Input input = Decode(data, size);
  const Body body = ReadBody(input.result.body);
  CheckStop(input, body);
  CheckRead(input, body);
  return 0;
}
