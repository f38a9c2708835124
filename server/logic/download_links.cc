#include "server/logic/download_links.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "server/logic/errors.h"

namespace serpwow::logic {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoded; anything else (a lone '%') kept as it is.
std::string LenientPercentDecode(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && HexValue(text[i + 1]) >= 0 &&
        HexValue(text[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

struct Origin {
  std::string scheme;     // "https" or "http", lower case
  std::string authority;  // host[:port], lower case
  std::string host;
};

// The scheme and authority of an absolute http(s) URL, or false.
bool ParseOrigin(absl::string_view url, Origin* out) {
  absl::string_view rest;
  if (absl::StartsWithIgnoreCase(url, "https://")) {
    out->scheme = "https";
    rest = url.substr(8);
  } else if (absl::StartsWithIgnoreCase(url, "http://")) {
    out->scheme = "http";
    rest = url.substr(7);
  } else {
    return false;
  }
  const size_t end = rest.find_first_of("/?#");
  const absl::string_view authority = rest.substr(0, end);
  if (authority.empty() || absl::StrContains(authority, '@') || authority[0] == '[') return false;
  const size_t colon = authority.find(':');
  const absl::string_view host = authority.substr(0, colon);
  if (host.empty()) return false;
  for (char c : host) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '.') return false;
  }
  if (colon != absl::string_view::npos) {
    const absl::string_view port = authority.substr(colon + 1);
    if (port.empty() || port.size() > 5) return false;
    for (char c : port) {
      if (!absl::ascii_isdigit(c)) return false;
    }
  }
  out->authority = absl::AsciiStrToLower(authority);
  out->host = absl::AsciiStrToLower(host);
  return true;
}

bool HostListed(const std::string& host, const std::vector<std::string>& hosts) {
  for (const std::string& entry : hosts) {
    if (entry.empty()) continue;
    if (entry[0] == '.' ? absl::EndsWith(host, entry) && host.size() > entry.size()
                        : host == entry) {
      return true;
    }
  }
  return false;
}

absl::Status Unsafe(const std::string& why, const std::string& batch_id) {
  return ErrorBuilder(
             absl::StatusCode::kInternal,
             absl::StrCat("SerpWow gave a download link the gateway does not pass on (", why,
                          "); nothing was returned. The gateway's --download_link_hosts "
                          "lists the hosts it accepts"),
             reason::kUnsafeDownloadLink)
      .Metadata("batch_id", batch_id);
}

}  // namespace

DownloadLinkPolicy MakeDownloadLinkPolicy(const std::string& upstream_base_url,
                                          const std::vector<std::string>& hosts) {
  DownloadLinkPolicy policy;
  Origin upstream;
  const bool parsed = ParseOrigin(upstream_base_url, &upstream);
  if (!hosts.empty()) {
    for (const std::string& h : hosts) {
      std::string host = absl::AsciiStrToLower(absl::StripAsciiWhitespace(h));
      if (!host.empty()) policy.https_hosts.push_back(std::move(host));
    }
  } else if (parsed) {
    const std::vector<absl::string_view> labels = absl::StrSplit(upstream.host, '.');
    std::string domain = upstream.host;
    if (labels.size() >= 3 && !absl::ascii_isdigit(upstream.host.back())) {
      domain = upstream.host.substr(labels[0].size() + 1);
    }
    policy.https_hosts.push_back("results." + domain);
    policy.https_hosts.push_back("searches." + domain);
  }
  if (parsed) {
    policy.https_hosts.push_back(upstream.host);
    if (upstream.scheme == "http") {
      policy.plain_http_origins.push_back("http://" + upstream.authority);
    }
  }
  return policy;
}

absl::Status CheckDownloadLink(const std::string& url, const DownloadLinkPolicy& policy,
                               const std::string& api_key, const std::string& batch_id) {
  for (char c : url) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '\\') {
      return Unsafe("not a plain ASCII URL", batch_id);
    }
  }
  Origin origin;
  if (!ParseOrigin(url, &origin)) return Unsafe("not an absolute https URL", batch_id);
  if (origin.scheme == "http") {
    const std::string o = "http://" + origin.authority;
    if (std::find(policy.plain_http_origins.begin(), policy.plain_http_origins.end(), o) ==
        policy.plain_http_origins.end()) {
      return Unsafe("not https", batch_id);
    }
  } else if (!HostListed(origin.host, policy.https_hosts)) {
    return Unsafe("a host the gateway does not expect", batch_id);
  }
  const std::string once = LenientPercentDecode(url);
  const std::string twice = LenientPercentDecode(once);
  for (const std::string* form : {&url, &once, &twice}) {
    const std::string lower = absl::AsciiStrToLower(*form);
    if (absl::StrContains(lower, "api_key") || absl::StrContains(lower, "api%5fkey")) {
      return Unsafe("it carries an api_key parameter", batch_id);
    }
    if ((!api_key.empty() && absl::StrContains(*form, api_key)) ||
        absl::StrContains(*form, "[redacted]")) {
      return Unsafe("it carries the gateway's API key", batch_id);
    }
  }
  return absl::OkStatus();
}

absl::Status CheckDownloadLinks(const serpwow::batches::v1::DownloadLinks& links,
                                const DownloadLinkPolicy& policy, const std::string& api_key,
                                const std::string& batch_id) {
  for (const std::string& url : links.page_uris()) {
    if (absl::Status s = CheckDownloadLink(url, policy, api_key, batch_id); !s.ok()) return s;
  }
  if (!links.all_pages_uri().empty()) {
    return CheckDownloadLink(links.all_pages_uri(), policy, api_key, batch_id);
  }
  return absl::OkStatus();
}

}  // namespace serpwow::logic
