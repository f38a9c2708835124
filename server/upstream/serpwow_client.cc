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
                                                                     std::vector<HttpLoop*> loops,
                                                                     UpstreamObserver* observer) {
  if (loops.empty()) return absl::InvalidArgumentError("no upstream loop");
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
      new SerpwowClient(std::move(options), std::move(loops), observer, std::move(key_query)));
}

SerpwowClient::SerpwowClient(UpstreamOptions options, std::vector<HttpLoop*> loops,
                             UpstreamObserver* observer, std::string key_query)
    : options_(std::move(options)),
      loops_(std::move(loops)),
      observer_(observer),
      key_query_(std::move(key_query)) {}

TransferId SerpwowClient::Call(Endpoint endpoint, const std::string& batch_id,
                               absl::Duration timeout, HttpCallback done) {
  HttpRequest request;
  request.url = absl::StrCat(options_.base_url, "/batches/", Escape(batch_id),
                             endpoint == Endpoint::kStopBatch ? "/stop" : "", key_query_);
  request.timeout = std::min(timeout, options_.timeout_cap);
  request.connect_timeout = options_.connect_timeout;
  request.max_body_bytes = options_.max_body_bytes;
  HttpLoop* loop = loops_[std::hash<std::string>{}(batch_id) % loops_.size()];
  if (observer_ == nullptr) return loop->Submit(std::move(request), std::move(done));
  return loop->Submit(std::move(request),
                      [observer = observer_, endpoint, done = std::move(done)](HttpResult r) {
                        observer->OnUpstreamResult(endpoint, r);
                        done(std::move(r));
                      });
}

}  // namespace serpwow::upstream
