// SerpwowClient: the SerpWow Batches REST calls the gateway makes, on top of
// the upstream loops. It owns the URLs (and so the API key): nothing above
// this layer ever sees a URL that carries the key. URLs are built from the
// endpoint table (endpoints.h) and nowhere else.
//
// Nor does anything above this layer see the key in what SerpWow sends back:
// every reply's body and header values are scrubbed here, in the one place
// all of them pass, of the key the gateway holds (raw, and percent-encoded
// with upper- or lower-case hex), before any RPC can pass a piece of it on
// to a caller or into a log line.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/upstream/endpoints.h"
#include "server/upstream/http_loop.h"
#include "server/upstream/loop_pool.h"

namespace serpwow::upstream {

struct UpstreamOptions {
  // SerpWow: https://api.serpwow.com/live; Scale SERP: https://api.scaleserp.com;
  // Value SERP: https://api.valueserp.com. Plain http only to a loopback host.
  std::string base_url = "https://api.serpwow.com/live";
  std::string api_key;
  // Upper bound on any one upstream request, whatever the caller's deadline.
  absl::Duration timeout_cap = absl::Seconds(10);
  absl::Duration connect_timeout = absl::Seconds(3);
  // Replies larger than this are refused (kBodyTooLarge).
  size_t max_body_bytes = 1 << 20;
};

// Replaces every occurrence of each of `needles` (non-empty) in `text` with
// "[redacted]"; the needles are tried in order at each position.
void RedactAll(std::string& text, const std::vector<std::string>& needles);

// True for "localhost", 127.0.0.0/8 and ::1 (with or without brackets).
bool IsLoopbackHost(const std::string& host);

// OK when `url` is an absolute https URL, or http to a loopback host, with no
// user info, query or fragment. The message names what is wrong.
absl::Status ValidateBaseUrl(const std::string& url);

// OK when `key` is non-empty printable ASCII without spaces. The message never
// repeats the key.
absl::Status ValidateApiKey(const std::string& key);

// One request to SerpWow, as the layers above see it: a row of the endpoint
// table and the values for its path, never a URL.
struct UpstreamRequest {
  Endpoint endpoint = Endpoint::kGetBatch;
  PathArgs args;
  // Query parameters besides the key, in order; names and values are
  // percent-encoded here. A parameter named api_key is refused.
  std::vector<std::pair<std::string, std::string>> query;
  // A JSON body (sent as application/json), or empty for none.
  std::string body;
  // This request's cap on the reply body; 0: UpstreamOptions::max_body_bytes.
  // A page of 1000 searches can exceed the default (design §2.12).
  size_t max_body_bytes = 0;
  // Which loop runs it instead of the default (the search calls of
  // --search_mutation_scope=account all run on the "account" loop, where
  // their one queue lives); empty: the default.
  std::string shard = {};
  // Which loop runs it: `shard` when set, else the batch, or "account" for
  // account-wide calls.
  std::string ShardKey() const {
    if (!shard.empty()) return shard;
    return args.batch.empty() ? "account" : args.batch;
  }
};

// Sees every upstream result (metrics). Called on the loop thread; must not
// block.
class UpstreamObserver {
 public:
  virtual ~UpstreamObserver() = default;
  virtual void OnUpstreamResult(Endpoint endpoint, const HttpResult& result) = 0;
};

class SerpwowClient {
 public:
  // Validates the options. `loops` and `observer`, if any, must outlive the
  // client.
  static absl::StatusOr<std::unique_ptr<SerpwowClient>> Create(
      UpstreamOptions options, const LoopPool* loops, UpstreamObserver* observer = nullptr);

  // Sends `request` with the key, on the loop of its shard key. Every path
  // value must fit its placeholder ({batch} and {search}: IsSafeIdSegment;
  // {result_set} and {page}: IsCanonicalPositiveInt) and every placeholder
  // must be filled, else INVALID_ARGUMENT and nothing is sent (the layers
  // above check callers' values first; this is the last guard against
  // reaching a route the caller did not mean). `timeout` is clamped to the
  // configured cap. `done` runs once on that loop's thread, possibly before
  // Call returns.
  absl::StatusOr<TransferId> Call(const UpstreamRequest& request, absl::Duration timeout,
                                  HttpCallback done);
  // Cancels a transfer on whichever loop it runs (the id names it).
  void Cancel(TransferId id) { loops_->Cancel(id); }
  // Runs `fn` after `delay` on the loop of `shard_key` (retry backoff).
  void RunAfter(const std::string& shard_key, absl::Duration delay, std::function<void()> fn) {
    loops_->RunAfter(shard_key, delay, std::move(fn));
  }

  const UpstreamOptions& options() const { return options_; }

 private:
  SerpwowClient(UpstreamOptions options, const LoopPool* loops, UpstreamObserver* observer,
                std::string key_query);
  absl::StatusOr<std::string> UrlFor(const UpstreamRequest& request) const;
  // Replaces every form of the key in `text` with "[redacted]".
  void Scrub(std::string& text) const;

  const UpstreamOptions options_;
  const LoopPool* const loops_;
  UpstreamObserver* const observer_;
  const std::string key_query_;  // "?api_key=<escaped>"
  // The forms of the key Scrub() removes, longest first.
  std::vector<std::string> key_forms_;
};

}  // namespace serpwow::upstream
