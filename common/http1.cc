#include "common/http1.h"

#include <cctype>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace serpwow::http1 {
namespace {

// RFC 9110 §5.6.2 token characters.
bool IsTokenChar(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

// Control characters other than HTAB (obs-text, >= 0x80, is allowed).
bool HasForbiddenControl(std::string_view s) {
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return true;
  }
  return false;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  absl::AsciiStrToLower(&out);
  return out;
}

ParseResult Error(int status, std::string reason) {
  ParseResult r;
  r.kind = ParseResult::Kind::kError;
  r.status = status;
  r.reason = std::move(reason);
  return r;
}

// Finds the next line starting at `pos`. Returns false if it is not complete
// yet. `line` excludes the terminator ("\n" or "\r\n"); `next` is the offset
// after it.
bool NextLine(std::string_view data, size_t pos, std::string_view* line, size_t* next) {
  size_t nl = data.find('\n', pos);
  if (nl == std::string_view::npos) return false;
  size_t end = nl;
  if (end > pos && data[end - 1] == '\r') --end;
  *line = data.substr(pos, end - pos);
  *next = nl + 1;
  return true;
}

ParseResult ParseRequestLine(std::string_view line, Request* out) {
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return Error(400, "malformed request line");
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return Error(400, "malformed request line");
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method)) return Error(400, "malformed method");
  if (target.empty() || target.front() != '/' || HasForbiddenControl(target)) {
    return Error(400, "request target must be an origin-form path");
  }
  if (version == "HTTP/1.1") {
    out->minor_version = 1;
  } else if (version == "HTTP/1.0") {
    out->minor_version = 0;
  } else if (version.size() == 8 && version.substr(0, 5) == "HTTP/" &&
             std::isdigit(static_cast<unsigned char>(version[5])) && version[6] == '.' &&
             std::isdigit(static_cast<unsigned char>(version[7]))) {
    return Error(505, "only HTTP/1.0 and HTTP/1.1 are supported");
  } else {
    return Error(400, "malformed HTTP version");
  }
  out->method = std::string(method);
  out->target = std::string(target);
  std::string_view no_fragment = target.substr(0, target.find('#'));
  size_t q = no_fragment.find('?');
  out->path = std::string(no_fragment.substr(0, q));
  out->query = q == std::string_view::npos ? std::string() : std::string(no_fragment.substr(q + 1));
  return ParseResult{};
}

bool ConnectionHasToken(std::string_view value, std::string_view token) {
  for (absl::string_view part :
       absl::StrSplit(absl::string_view(value.data(), value.size()), ',')) {
    std::string_view p = TrimOws(std::string_view(part.data(), part.size()));
    if (absl::EqualsIgnoreCase(absl::string_view(p.data(), p.size()),
                               absl::string_view(token.data(), token.size()))) {
      return true;
    }
  }
  return false;
}

}  // namespace

const std::string* Request::FindHeader(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

ParseResult ParseRequest(std::string_view data, Request* out, const ParseLimits& limits) {
  const size_t max_header = limits.max_header_bytes;
  *out = Request();
  size_t pos = 0;
  while (pos < data.size() && (data[pos] == '\r' || data[pos] == '\n')) ++pos;
  const size_t start = pos;
  if (start > max_header) return Error(400, "too many empty lines");
  auto incomplete_or_too_big = [&](size_t upto) {
    if (upto - start > max_header) return Error(431, "request header section too large");
    return ParseResult{};
  };

  std::string_view line;
  size_t next = 0;
  if (!NextLine(data, pos, &line, &next)) return incomplete_or_too_big(data.size());
  if (next - start > max_header) return Error(431, "request header section too large");
  if (ParseResult r = ParseRequestLine(line, out); r.kind == ParseResult::Kind::kError) return r;
  pos = next;

  // Header fields up to the empty line.
  while (true) {
    if (!NextLine(data, pos, &line, &next)) return incomplete_or_too_big(data.size());
    if (next - start > max_header) return Error(431, "request header section too large");
    pos = next;
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') {
      return Error(400, "obsolete header line folding");
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return Error(400, "header line without ':'");
    std::string_view name = line.substr(0, colon);
    if (!IsToken(name)) return Error(400, "malformed header name");
    std::string_view value = TrimOws(line.substr(colon + 1));
    if (HasForbiddenControl(value)) return Error(400, "control character in header value");
    if (out->headers.size() >= kMaxHeaderCount) return Error(431, "too many header fields");
    out->headers.emplace_back(ToLower(name), std::string(value));
  }
  const size_t body_start = pos;

  size_t content_length = 0;
  bool have_length = false;
  bool keep_alive = out->minor_version >= 1;
  bool expect_continue = false;
  for (const auto& [name, value] : out->headers) {
    if (name == "transfer-encoding") {
      return Error(501, "Transfer-Encoding in requests is not supported");
    }
    if (name == "content-length") {
      if (value.empty() || value.size() > 18) {
        return value.empty() ? Error(400, "empty Content-Length") : Error(413, "body too large");
      }
      size_t n = 0;
      for (char c : value) {
        if (!std::isdigit(static_cast<unsigned char>(c))) {
          return Error(400, "malformed Content-Length");
        }
        n = n * 10 + static_cast<size_t>(c - '0');
      }
      if (have_length && n != content_length) return Error(400, "conflicting Content-Length");
      have_length = true;
      content_length = n;
    } else if (name == "connection") {
      if (ConnectionHasToken(value, "close")) {
        keep_alive = false;
      } else if (out->minor_version == 0 && ConnectionHasToken(value, "keep-alive")) {
        keep_alive = true;
      }
    } else if (name == "expect") {
      expect_continue =
          out->minor_version >= 1 &&
          absl::EqualsIgnoreCase(absl::string_view(value.data(), value.size()), "100-continue");
    }
  }
  if (content_length > limits.max_body_bytes) return Error(413, "body too large");
  out->keep_alive = keep_alive;
  if (data.size() - body_start < content_length) {
    ParseResult r;
    r.expect_continue = expect_continue;
    return r;
  }
  out->body = std::string(data.substr(body_start, content_length));
  ParseResult r;
  r.kind = ParseResult::Kind::kComplete;
  r.consumed = body_start + content_length;
  return r;
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string SerializeHead(const Response& response, bool keep_alive) {
  std::string head =
      absl::StrCat("HTTP/1.1 ", response.status, " ", ReasonPhrase(response.status), "\r\n");
  for (const auto& [name, value] : response.headers) {
    if (!IsToken(name) || value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      continue;
    }
    std::string lower = ToLower(name);
    if (lower == "content-length" || lower == "transfer-encoding" || lower == "connection") {
      continue;
    }
    absl::StrAppend(&head, name, ": ", value, "\r\n");
  }
  absl::StrAppend(&head, "Date: ",
                  absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", absl::Now(), absl::UTCTimeZone()),
                  "\r\n", "Content-Length: ", response.body.size(), "\r\n",
                  "Connection: ", keep_alive ? "keep-alive" : "close", "\r\n\r\n");
  return head;
}

absl::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return absl::nullopt;
      if (!std::isxdigit(static_cast<unsigned char>(text[i + 1])) ||
          !std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
        return absl::nullopt;
      }
      auto hex = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        return std::tolower(static_cast<unsigned char>(h)) - 'a' + 10;
      };
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

absl::optional<std::vector<std::pair<std::string, std::string>>> ParseQuery(
    std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  for (absl::string_view part :
       absl::StrSplit(absl::string_view(query.data(), query.size()), '&')) {
    if (part.empty()) continue;
    size_t eq = part.find('=');
    absl::string_view raw_name = part.substr(0, eq);
    absl::string_view raw_value =
        eq == absl::string_view::npos ? absl::string_view() : part.substr(eq + 1);
    auto name = PercentDecode(std::string_view(raw_name.data(), raw_name.size()), true);
    auto value = PercentDecode(std::string_view(raw_value.data(), raw_value.size()), true);
    if (!name || !value) return absl::nullopt;
    params.emplace_back(std::move(*name), std::move(*value));
  }
  return params;
}

}  // namespace serpwow::http1
