// The simulated account behind the HTTP server: batches, credits and the
// Batches API routes. Transport-free (it maps an ApiRequest to an
// http::Response) so it can be reasoned about and tested on its own; the
// event loop in simulator.cc owns the sockets, faults and recording.
//
// Batch lifecycle, evaluated lazily from timestamps on every access:
//   idle --start--> queued --queue_delay--> running --run_duration--> idle
// /start reserves credits_required (taken from the account). Stopping a queued
// batch refunds the reservation; stopping a running one does not (the run
// consumed it), and neither does a run that completes. A completed run adds
// one result set (id next_result_set_id, which then grows by one); a stopped
// run adds none. Result sets expire result_set_retention after their run
// ended (lazily too); results_count is the number kept. Batches whose
// `follows_timers` is false (the demo seed) stay in their state until an API
// call moves them. All of it reads the time through Now() (the virtual
// clock).
//
// Request handling order: /files/... (download links: no key, outside
// "/live"), then route (wrong path or verb -> 404 HTML, whatever the
// key), query decoding (malformed escape -> 400 JSON), api_key (-> 401 JSON),
// then the endpoint.
//
// Thread-safe: one mutex around all state.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "nlohmann/json.hpp"
#include "sim/http.h"
#include "sim/simulator.h"

namespace serpwow::sim {

// A request reduced to what the API logic needs. The api_key is checked when
// the request is received and then dropped; only the verdict is kept.
struct ApiRequest {
  enum class Auth { kMissing, kInvalid, kValid };
  std::string method;
  std::string path;  // raw path (percent-encoded as sent), no query string
  // Decoded query parameters other than api_key, in order.
  std::vector<std::pair<std::string, std::string>> params;
  bool malformed_query = false;
  Auth auth = Auth::kMissing;
  // The request body and its Content-Type (lower-cased, parameters kept).
  std::string body;
  std::string content_type;
};

// `expected_key` empty accepts any non-empty key. The key is compared and
// forgotten; it is not copied into the result.
ApiRequest MakeApiRequest(const http::Request& request, const std::string& expected_key);

class BatchApi {
 public:
  explicit BatchApi(const SimulatorOptions& options);

  // Never throws; an unexpected internal error becomes a 500 JSON envelope.
  // `reply_delay` (may be null) receives how long the reply must wait before
  // it is sent: a search call's hold (SimulatorOptions' concurrency model).
  http::Response Handle(const ApiRequest& request, absl::Duration* reply_delay = nullptr);

  void PutBatch(const std::string& id, BatchState state, int64_t credits_required,
                const std::string& name, bool follows_timers);
  // See Simulator::SetBatchFields.
  absl::Status SetBatchFields(const std::string& id, const std::string& json_object);
  absl::optional<BatchSnapshot> GetBatch(const std::string& id);
  void RemoveBatch(const std::string& id);
  int64_t credits();
  void SetCredits(int64_t credits);
  // See Simulator::AddGeneratedBatches.
  std::vector<std::string> AddGeneratedBatches(int count, uint64_t seed);
  // See Simulator::PutSearches, CompleteRuns, AdvanceTime.
  absl::Status PutSearches(const std::string& id, int count);
  absl::Status CompleteRuns(const std::string& id, int runs);
  void AdvanceTime(absl::Duration d);
  // "http://127.0.0.1:PORT": where download links point (set once the port
  // is bound).
  void SetFilesOrigin(const std::string& origin);
  int64_t batches_created();
  int64_t starts();
  int64_t search_calls_refused();
  int64_t searches_added();
  int64_t search_count(const std::string& id);

 private:
  // One run's result set (kept until expires_at = ended_at + retention).
  struct ResultSet {
    int64_t id = 0;
    absl::Time started_at;
    absl::Time ended_at;
    int64_t searches_total = 0;
  };

  struct Batch {
    std::string id;
    std::string name;
    absl::Time created_at;
    int64_t credits_required = 0;
    BatchState state = BatchState::kIdle;
    absl::Time state_since;  // when the current state began
    bool follows_timers = true;
    int64_t reserved = 0;
    int64_t results_count = 0;
    int64_t next_result_set_id = 1;
    absl::optional<absl::Time> last_run;
    std::string priority = "normal";
    std::vector<std::string> destination_ids;
    // SetBatchFields(): a merge patch applied to this batch's JSON (null: none).
    nlohmann::json field_patch;
    // PutSearches(): the batch's searches; without it the batch counts
    // credits_required searches (one credit each) but lists none.
    bool has_searches = false;
    std::vector<nlohmann::json> searches;
    std::vector<ResultSet> result_sets;  // oldest first
    // The settable fields as created or updated (an object; null: defaults).
    nlohmann::json settings;
  };

  // The batch object as replies carry it (every documented field, then the
  // batch's field_patch).
  nlohmann::json BatchJson(const Batch& batch) const;

  // The simulator's one clock: the wall clock plus AdvanceTime()'s offset.
  // Every time the API logic reads goes through here; callable with or
  // without mu_ held.
  absl::Time Now() const;
  int64_t SearchCount(const Batch& batch) const;
  // Appends a completed run's result set (started at `started`, ending at
  // `ended`).
  void AddResultSet(Batch& batch, absl::Time started, absl::Time ended) const;
  nlohmann::json ResultSetJson(const Batch& batch, const ResultSet& set) const;
  // Download links for `kind` ("searches" or "results/N") in `ext`; `pages`
  // files plus (unless empty) one all-pages file.
  nlohmann::json Links(const std::string& batch_id, const std::string& kind, const std::string& ext,
                       int64_t pages, bool all_pages) const;

  // Applies the queue/run timers up to `now`.
  void Advance(Batch& batch, absl::Time now) const;
  void AdvanceAll(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves a queued/running batch to idle; returns true if credits came back.
  bool StopLocked(Batch& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  http::Response Route(const ApiRequest& request, absl::Duration* reply_delay);
  // The concurrency model: a 429 when the batch `id` (or the account) is
  // held by another search call, else nullopt, and this call holds it now
  // (`reply_delay` set to the hold).
  absl::optional<http::Response> HoldForSearchCall(const std::string& id,
                                                   absl::Duration* reply_delay);
  http::Response AddSearches(const std::string& id, const nlohmann::json& searches);
  http::Response UpdateSearch(const std::string& id, const std::string& search_id,
                              const ApiRequest& request);
  http::Response DeleteSearch(const std::string& id, const std::string& search_id);
  http::Response DeleteSearches(const std::string& id, const ApiRequest& request);
  http::Response ClearSearches(const std::string& id);
  http::Response FindSearches(const std::string& id, const std::string& page,
                              const ApiRequest& request);
  // A new search id (16 letters, as SerpWow's) not in `taken`, which gets it.
  std::string NewSearchIdLocked(std::unordered_set<std::string>* taken)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  http::Response GetOne(const std::string& id);
  http::Response Start(const std::string& id);
  http::Response Stop(const std::string& id);
  http::Response StopAll();
  http::Response List(const ApiRequest& request);
  http::Response Account();
  http::Response SearchesPage(const std::string& id, const std::string& page);
  http::Response SearchesLinks(const std::string& id, const std::string& ext);
  http::Response ResultSets(const std::string& id);
  http::Response OneResultSet(const std::string& id, const std::string& rs, const std::string& ext);
  http::Response File(std::string_view path);

  // SerpWow's List limit: a 429 when list_rate_per_minute requests were
  // accepted in the last 60 s, else nullopt (and this one counts).
  absl::optional<http::Response> ListRateLimited() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  http::Response Create(const ApiRequest& request);
  http::Response Update(const std::string& id, const ApiRequest& request);
  http::Response Delete(const std::string& id);
  // Whether update/delete are refused in `state` (mutation_refused_when).
  bool MutationRefused(BatchState state) const;
  std::string NewIdLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SimulatorOptions options_;
  absl::Mutex mu_;
  std::map<std::string, Batch> batches_ ABSL_GUARDED_BY(mu_);
  int64_t credits_ ABSL_GUARDED_BY(mu_);
  std::deque<absl::Time> list_times_ ABSL_GUARDED_BY(mu_);  // accepted List calls, last 60 s
  std::atomic<int64_t> clock_offset_ns_{0};                 // AdvanceTime()
  std::string files_origin_ ABSL_GUARDED_BY(mu_);
  int64_t batches_created_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t starts_ ABSL_GUARDED_BY(mu_) = 0;
  std::mt19937_64 id_rng_ ABSL_GUARDED_BY(mu_);
  // The concurrency model: until when each batch (or "account") is held.
  std::map<std::string, absl::Time> held_until_ ABSL_GUARDED_BY(mu_);
  int64_t search_calls_refused_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t searches_added_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace serpwow::sim
