// Minimal, strict HTTP/1.1 message handling for the project's two small HTTP
// servers (the SerpWow simulator, sim/simulator.cc, and the gateway's /metrics
// endpoint, server/metrics_server.cc): an incremental request parser (RFC 9112
// framing with Content-Length bodies), response serialisation and URL
// percent-decoding. No I/O: the servers own their sockets.
//
// The parser is stateless: it is handed everything buffered so far for the
// next request and either asks for more, returns one complete request (and how
// many bytes it used, so pipelined requests follow), or reports an error
// status after which the connection must be answered and closed (the framing
// can no longer be trusted). It never reads past the first request.
//
// Deliberate limits: no Transfer-Encoding on requests (501: nothing here sends
// request bodies that way), only origin-form targets ("/path?query"), header
// section capped at ParseLimits::max_header_bytes (431, default
// kMaxHeaderBytes), body at ParseLimits::max_body_bytes (413, default
// kMaxBodyBytes). A Host header is not required, so hand-written test clients
// stay simple.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/types/optional.h"

namespace serpwow::http1 {

// Request line plus header fields, including the line ends.
inline constexpr size_t kMaxHeaderBytes = 16 * 1024;
inline constexpr size_t kMaxHeaderCount = 100;
inline constexpr size_t kMaxBodyBytes = 1024 * 1024;

struct Request {
  std::string method;
  std::string target;     // as sent, e.g. "/live/batches/X/stop?api_key=..."
  std::string path;       // target before '?' (raw, not percent-decoded)
  std::string query;      // target after '?' (raw), without any '#fragment'
  int minor_version = 1;  // HTTP/1.<minor>
  // Field names lower-cased; values with surrounding whitespace removed.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Whether the connection may carry another request after this one
  // (HTTP/1.1 default unless "Connection: close"; HTTP/1.0 only with
  // "Connection: keep-alive").
  bool keep_alive = true;

  // First value of the header `lower_name`, or nullptr.
  const std::string* FindHeader(std::string_view lower_name) const;
};

struct ParseResult {
  enum class Kind { kIncomplete, kComplete, kError };
  Kind kind = Kind::kIncomplete;
  // kComplete: bytes of the input that made up the request.
  size_t consumed = 0;
  // kError: the status to answer with (400, 413, 431, 501, 505) and a short
  // human-readable reason for the body.
  int status = 0;
  std::string reason;
  // kIncomplete: the header section is complete, the body is not, and the
  // client asked for "Expect: 100-continue".
  bool expect_continue = false;
};

// Per-server caps; a server that takes no request bodies sets max_body_bytes
// to 0 (any Content-Length above 0 is then 413).
struct ParseLimits {
  size_t max_header_bytes = kMaxHeaderBytes;
  size_t max_body_bytes = kMaxBodyBytes;
};

// Parses the first request in `data` into `*out` (only meaningful when the
// result is kComplete). Empty lines before the request line are skipped as
// RFC 9112 §2.2 recommends; both CRLF and bare LF line ends are accepted.
ParseResult ParseRequest(std::string_view data, Request* out, const ParseLimits& limits = {});

// "OK", "Not Found", ...; "Unknown" for codes without a standard phrase.
const char* ReasonPhrase(int status);

// A response as the server sends it: Content-Length and Connection are always
// computed by SerializeHead, never taken from `headers`.
struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// Status line and header section (ending with the empty line) for `response`,
// announcing `response.body.size()` bytes. Header fields named
// Content-Length, Transfer-Encoding or Connection, and fields whose name or
// value could break the framing (CR, LF, NUL), are dropped from `headers`.
std::string SerializeHead(const Response& response, bool keep_alive);

// Decodes %XX escapes (and '+' as space when `plus_is_space`, the query-string
// convention). Returns nullopt on a malformed escape.
absl::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space);

// Splits "a=1&b=2" into decoded name/value pairs, in order. A parameter without
// '=' gets an empty value; empty parameters ("&&") are skipped. Returns
// nullopt if any escape is malformed.
absl::optional<std::vector<std::pair<std::string, std::string>>> ParseQuery(std::string_view query);

}  // namespace serpwow::http1
