// The check every download link passes before the gateway hands it to a
// caller (design §2.11). SerpWow's links point at file hosts
// (results.serpwow.com, searches.serpwow.com); a link elsewhere, over plain
// http, or carrying an API key would make the gateway the one that leaks a
// secret or sends a caller somewhere unexpected. Pure; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "serpwow/batches/v1/resources.pb.h"

namespace serpwow::logic {

struct DownloadLinkPolicy {
  // Hosts (lower case) an https link may point at. An entry starting with
  // '.' (".example.com") matches every subdomain of example.com, not
  // example.com itself.
  std::vector<std::string> https_hosts;
  // Exact origins ("http://127.0.0.1:8080", lower case, no trailing slash)
  // whose plain-http links are accepted too: the upstream's own origin when
  // it is a loopback simulator (tests, --simulate), nothing else.
  std::vector<std::string> plain_http_origins;
};

// The policy for an upstream at `upstream_base_url` (already validated):
// `hosts` when not empty, else "results.<d>" and "searches.<d>", where <d> is
// the upstream's host without its first label when it has three or more
// (api.serpwow.com -> serpwow.com), else the host itself; plus, always, the
// upstream's own host (https), and its exact origin for plain http when the
// upstream is plain http (which ValidateBaseUrl allows only on loopback).
DownloadLinkPolicy MakeDownloadLinkPolicy(const std::string& upstream_base_url,
                                          const std::vector<std::string>& hosts);

// OK when `url` may be passed on: an absolute https URL (or http on a
// plain_http_origins origin) whose host the policy lists, without user
// info, whitespace, control or non-ASCII bytes or backslashes; with no
// `api_key` anywhere in it (any case, also percent-encoded, once or twice);
// and containing neither `api_key` (the gateway's key; raw or
// percent-encoded) nor "[redacted]" (where the upstream client already
// scrubbed it out). Otherwise INTERNAL UNSAFE_DOWNLOAD_LINK; the message
// says which rule failed and never contains the URL (nor does anything
// else): the URL must never be logged.
absl::Status CheckDownloadLink(const std::string& url, const DownloadLinkPolicy& policy,
                               const std::string& api_key, const std::string& batch_id);

// Every URL of `links`, as CheckDownloadLink; the first failure.
absl::Status CheckDownloadLinks(const serpwow::batches::v1::DownloadLinks& links,
                                const DownloadLinkPolicy& policy, const std::string& api_key,
                                const std::string& batch_id);

}  // namespace serpwow::logic
