#include "server/upstream/serpwow_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace serpwow::upstream {
namespace {

// Owns a CURLU*.
struct CurlUrl {
  CurlUrl() : handle(curl_url()) {}
  ~CurlUrl() {
    if (handle != nullptr) curl_url_cleanup(handle);
  }
  CurlUrl(const CurlUrl&) = delete;
  CurlUrl& operator=(const CurlUrl&) = delete;
  CURLU* handle;
};

// Returns the part, or "" when absent.
std::string UrlPart(CURLU* url, CURLUPart part) {
  char* value = nullptr;
  if (curl_url_get(url, part, &value, 0) != CURLUE_OK || value == nullptr) return "";
  std::string out(value);
  curl_free(value);
  return out;
}

std::string Escape(const std::string& text) {
  char* escaped = curl_easy_escape(nullptr, text.data(), static_cast<int>(text.size()));
  if (escaped == nullptr) return "";
  std::string out(escaped);
  curl_free(escaped);
  return out;
}

}  // namespace

void RedactAll(std::string& text, const std::vector<std::string>& needles) {
  if (text.empty() || needles.empty()) return;
  std::string out;
  size_t copied = 0;
  for (;;) {
    // The earliest occurrence of any needle (the first listed wins a tie).
    size_t at = std::string::npos;
    size_t length = 0;
    for (const std::string& needle : needles) {
      const size_t found = text.find(needle, copied);
      if (found < at) at = found, length = needle.size();
    }
    if (at == std::string::npos) break;
    out.append(text, copied, at - copied).append("[redacted]");
    copied = at + length;
  }
  if (out.empty()) return;  // nothing found: no copy made
  out.append(text, copied, std::string::npos);
  text = std::move(out);
}

bool IsLoopbackHost(const std::string& raw_host) {
  std::string host = absl::AsciiStrToLower(raw_host);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost" || host == "::1" || host == "0:0:0:0:0:0:0:1") return true;
  std::vector<std::string> octets = absl::StrSplit(host, '.');
  if (octets.size() != 4) return false;
  for (const std::string& octet : octets) {
    int value = 0;
    if (octet.empty() || octet.size() > 3 || !absl::SimpleAtoi(octet, &value) || value < 0 ||
        value > 255) {
      return false;
    }
  }
  return octets[0] == "127";
}

absl::Status ValidateBaseUrl(const std::string& url) {
  if (url.empty()) return absl::InvalidArgumentError("--upstream is empty");
  CurlUrl parsed;
  if (parsed.handle == nullptr) return absl::ResourceExhaustedError("out of memory");
  if (curl_url_set(parsed.handle, CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    return absl::InvalidArgumentError(
        "--upstream is not an absolute URL (expected e.g. https://api.serpwow.com/live)");
  }
  std::string scheme = absl::AsciiStrToLower(UrlPart(parsed.handle, CURLUPART_SCHEME));
  std::string host = UrlPart(parsed.handle, CURLUPART_HOST);
  if (!UrlPart(parsed.handle, CURLUPART_USER).empty() ||
      !UrlPart(parsed.handle, CURLUPART_PASSWORD).empty()) {
    return absl::InvalidArgumentError("--upstream must not carry user info");
  }
  if (!UrlPart(parsed.handle, CURLUPART_QUERY).empty() ||
      !UrlPart(parsed.handle, CURLUPART_FRAGMENT).empty()) {
    return absl::InvalidArgumentError(
        "--upstream must not have a query or fragment (the API key comes from "
        "SERPWOW_API_KEY or --api_key_file)");
  }
  if (scheme == "https") return absl::OkStatus();
  if (scheme == "http") {
    if (IsLoopbackHost(host)) return absl::OkStatus();
    return absl::InvalidArgumentError(
        "--upstream uses plain http to a non-loopback host; use https (plain http is only "
        "allowed to 127.0.0.1, ::1 or localhost, for the simulator)");
  }
  return absl::InvalidArgumentError("--upstream must be an https URL");
}

absl::Status ValidateApiKey(const std::string& key) {
  if (key.empty()) return absl::InvalidArgumentError("the API key is empty");
  if (key.size() > 512) return absl::InvalidArgumentError("the API key is longer than 512 bytes");
  for (char c : key) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      return absl::InvalidArgumentError(
          "the API key contains a space, a control character or a non-ASCII byte");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SerpwowClient>> SerpwowClient::Create(UpstreamOptions options,
                                                                     const LoopPool* loops,
                                                                     UpstreamObserver* observer) {
  if (loops == nullptr || loops->size() == 0) return absl::InvalidArgumentError("no upstream loop");
  if (absl::Status s = ValidateBaseUrl(options.base_url); !s.ok()) return s;
  if (absl::Status s = ValidateApiKey(options.api_key); !s.ok()) return s;
  if (options.timeout_cap <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the upstream timeout must be positive");
  }
  if (options.connect_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the upstream connect timeout must be positive");
  }
  while (absl::EndsWith(options.base_url, "/")) options.base_url.pop_back();
  std::string key_query = absl::StrCat("?api_key=", Escape(options.api_key));
  return std::unique_ptr<SerpwowClient>(
      new SerpwowClient(std::move(options), loops, observer, std::move(key_query)));
}

SerpwowClient::SerpwowClient(UpstreamOptions options, const LoopPool* loops,
                             UpstreamObserver* observer, std::string key_query)
    : options_(std::move(options)),
      loops_(loops),
      observer_(observer),
      key_query_(std::move(key_query)) {
  // Percent-encoded by us (upper-case hex) and by anyone else (either case).
  const std::string& key = options_.api_key;
  const std::string upper = Escape(key);
  std::string lower = upper;
  for (size_t i = 0; i < lower.size(); ++i) {
    if (lower[i] == '%' && i + 2 < lower.size()) {
      lower[i + 1] = absl::ascii_tolower(lower[i + 1]);
      lower[i + 2] = absl::ascii_tolower(lower[i + 2]);
    }
  }
  for (const std::string& form : {upper, lower, key}) {
    if (std::find(key_forms_.begin(), key_forms_.end(), form) == key_forms_.end()) {
      key_forms_.push_back(form);
    }
  }
  std::sort(key_forms_.begin(), key_forms_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

void SerpwowClient::Scrub(std::string& text) const { RedactAll(text, key_forms_); }

absl::StatusOr<std::string> SerpwowClient::UrlFor(const UpstreamRequest& request) const {
  const EndpointInfo& info = InfoOf(request.endpoint);
  std::string url = options_.base_url;
  for (absl::string_view segment : absl::StrSplit(info.path, '/', absl::SkipEmpty())) {
    url.push_back('/');
    if (segment.front() != '{') {
      absl::StrAppend(&url, segment);
      continue;
    }
    const std::string* value = nullptr;
    bool is_id = true;
    if (segment == "{batch}") {
      value = &request.args.batch;
    } else if (segment == "{search}") {
      value = &request.args.search;
    } else if (segment == "{result_set}") {
      value = &request.args.result_set, is_id = false;
    } else if (segment == "{page}") {
      value = &request.args.page, is_id = false;
    }
    // The value itself is never quoted: it may be anything.
    if (value == nullptr || (is_id ? !IsSafeIdSegment(*value) : !IsCanonicalPositiveInt(*value))) {
      return absl::InvalidArgumentError(absl::StrCat("refused to call ", info.name,
                                                     ": the value for ", segment,
                                                     " is missing or not allowed there"));
    }
    absl::StrAppend(&url, Escape(*value));
  }
  url += key_query_;
  for (const auto& [name, value] : request.query) {
    if (name.empty() || absl::EqualsIgnoreCase(name, "api_key")) {
      return absl::InvalidArgumentError(
          absl::StrCat("refused to call ", info.name, ": a query parameter name is not allowed"));
    }
    absl::StrAppend(&url, "&", Escape(name), "=", Escape(value));
  }
  return url;
}

absl::StatusOr<TransferId> SerpwowClient::Call(const UpstreamRequest& request,
                                               absl::Duration timeout, HttpCallback done) {
  absl::StatusOr<std::string> url = UrlFor(request);
  if (!url.ok()) return url.status();
  HttpRequest http;
  http.method = InfoOf(request.endpoint).method;
  http.url = std::move(*url);
  http.body = request.body;
  http.timeout = std::min(timeout, options_.timeout_cap);
  http.connect_timeout = options_.connect_timeout;
  http.max_body_bytes =
      request.max_body_bytes != 0 ? request.max_body_bytes : options_.max_body_bytes;
  HttpLoop& loop = loops_->For(request.ShardKey());
  return loop.Submit(std::move(http),
                     [this, endpoint = request.endpoint, done = std::move(done)](HttpResult r) {
                       Scrub(r.body);
                       Scrub(r.retry_after);
                       Scrub(r.content_type);
                       if (observer_ != nullptr) observer_->OnUpstreamResult(endpoint, r);
                       done(std::move(r));
                     });
}

}  // namespace serpwow::upstream
