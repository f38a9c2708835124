// The values that cross the boundary between the upstream loop and the code
// above it: what to send, what came back. No libcurl here, so the pure reply
// classifier (server/logic/outcome.h) and its fuzzers build without the loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/time/time.h"

namespace serpwow::upstream {

enum class HttpMethod { kGet, kPost, kPut, kDelete };
const char* HttpMethodName(HttpMethod method);  // "GET", ...

// Why a transfer produced no HTTP response. kNone means it did.
enum class TransportError {
  kNone,
  kResolve,          // DNS lookup failed
  kConnect,          // TCP connect refused or unreachable
  kTls,              // TLS handshake or certificate verification failed
  kConnectionLost,   // reset, closed early, nothing received, truncated body
  kTimeout,          // the transfer's own timeout elapsed
  kBodyTooLarge,     // the reply body exceeded HttpRequest::max_body_bytes
  kHeadersTooLarge,  // the reply head exceeded HttpRequest::max_header_bytes, or one
                     // header line exceeded libcurl's own line limit (100 KiB)
  kBadReply,         // not HTTP, or a content encoding that failed to decode
  kCancelled,        // Cancel() or loop shutdown
  kOther,            // anything else (e.g. out of memory, bad URL)
};

// "resolve", "connect", ...: stable names for logs and metrics.
const char* TransportErrorName(TransportError error);

struct HttpRequest {
  HttpMethod method = HttpMethod::kGet;
  // Full URL, secrets included. Never logged by the loop.
  std::string url;
  // Sent as the request body when non-empty (any method), with
  // `content_type`; a request without a body sends none, whatever the
  // handle's previous transfer sent.
  std::string body;
  std::string content_type = "application/json";
  // Total time allowed; must be positive.
  absl::Duration timeout = absl::Seconds(10);
  absl::Duration connect_timeout = absl::Seconds(3);
  // Reply bodies larger than this fail with kBodyTooLarge.
  size_t max_body_bytes = 1 << 20;
  // Reply heads (status line and header lines, of every head the transfer
  // receives) larger than this fail with kHeadersTooLarge. Kept below
  // libcurl's own cap on a whole head (300 KiB, reported as a receive error
  // that looks like a lost connection), so that the gateway, not libcurl,
  // decides and knows why.
  size_t max_header_bytes = 64 << 10;
};

using TransferId = uint64_t;

struct HttpResult {
  // Which transfer this is the result of (per loop, ids increase with
  // submission order).
  TransferId transfer_id = 0;
  TransportError error = TransportError::kNone;
  // libcurl's code, for diagnostics (never its error text: it may carry a URL).
  int curl_code = 0;
  // HTTP status; 0 when error != kNone.
  long http_status = 0;
  std::string body;
  // Raw header values, empty when absent.
  std::string retry_after;
  std::string content_type;
  // Time from submission to completion.
  absl::Duration elapsed;
  // True when this transfer had to open a new connection.
  bool opened_connection = false;
};

using HttpCallback = std::function<void(HttpResult)>;

}  // namespace serpwow::upstream
