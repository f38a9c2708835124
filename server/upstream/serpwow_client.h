// SerpwowClient: the SerpWow Batches REST calls the gateway makes, on top of
// an HttpLoop. It owns the URLs (and so the API key): nothing above this
// layer ever sees a URL that carries the key.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/upstream/endpoints.h"
#include "server/upstream/http_loop.h"

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

// True for "localhost", 127.0.0.0/8 and ::1 (with or without brackets).
bool IsLoopbackHost(const std::string& host);

// OK when `url` is an absolute https URL, or http to a loopback host, with no
// user info, query or fragment. The message names what is wrong.
absl::Status ValidateBaseUrl(const std::string& url);

// OK when `key` is non-empty printable ASCII without spaces. The message never
// repeats the key.
absl::Status ValidateApiKey(const std::string& key);


// Sees every upstream result (metrics). Called on the loop thread; must not
// block.
class UpstreamObserver {
 public:
  virtual ~UpstreamObserver() = default;
  virtual void OnUpstreamResult(Endpoint endpoint, const HttpResult& result) = 0;
};

class SerpwowClient {
 public:
  // Validates the options. `loops` (at least one; loop i created with
  // id_shard i of id_shards loops.size()) and `observer`, if any, must
  // outlive the client. Every call for one batch id goes through the same
  // loop, so one operation's transfer ids keep their order.
  static absl::StatusOr<std::unique_ptr<SerpwowClient>> Create(
      UpstreamOptions options, std::vector<HttpLoop*> loops, UpstreamObserver* observer = nullptr);

  // GET {base}/batches/{id} or GET {base}/batches/{id}/stop, with the key.
  // `batch_id` must already be valid (see logic/batch_id.h); it is
  // percent-encoded anyway. `timeout` is clamped to the configured cap.
  // `done` runs once on that batch's loop thread.
  TransferId Call(Endpoint endpoint, const std::string& batch_id, absl::Duration timeout,
                  HttpCallback done);
  // Cancels a transfer on whichever loop it runs (the id names it).
  void Cancel(TransferId id) { loops_[id % loops_.size()]->Cancel(id); }
  // Runs `fn` after `delay` on a loop thread (retry backoff).
  void RunAfter(absl::Duration delay, std::function<void()> fn) {
    loops_.front()->RunAfter(delay, std::move(fn));
  }

  const UpstreamOptions& options() const { return options_; }

 private:
  SerpwowClient(UpstreamOptions options, std::vector<HttpLoop*> loops, UpstreamObserver* observer,
                std::string key_query);
  const UpstreamOptions options_;
  const std::vector<HttpLoop*> loops_;
  UpstreamObserver* const observer_;
  const std::string key_query_;  // "?api_key=<escaped>"
};

}  // namespace serpwow::upstream
