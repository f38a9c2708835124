// An in-process SerpWow Batches API simulator: a real HTTP/1.1 server on a
// loopback port, for the gateway's `--simulate` mode, the tests and the
// benchmarks. It behaves like the SerpWow Batches API as its public
// documentation describes the batch endpoints (get, start, stop, stop all,
// list) and the account endpoint, and keeps every choice that documentation
// leaves open as a setting.
//
// Threading: the server runs one event-loop thread (epoll, non-blocking
// sockets, keep-alive). Delays are timers in that loop, never sleeps, so
// thousands of slow requests cost no threads. Every public method is
// thread-safe.
//
// Searches and result sets (GET only, as SerpWow routes them, fixed words
// before ids): /batches/{id}/searches/{page} (pages of 1000, with
// searches_page_current and searches_page_count), /batches/{id}/searches/
// json|csv (download links), /batches/{id}/results (newest first),
// /batches/{id}/results/{rs} and its /jsonlines and /csv variants (with
// download links; a missing or expired one is 404 "Result Set with ID 'N'
// was not found in this Batch"). Download links point at the simulator's own
// origin, /files/..., which serves small generated JSON, JSON Lines and CSV
// files without a key. GET /account carries the credits (remaining, used,
// limit, reset time, top-up), the batches and the destinations figures.
// Batch mutations: POST /batches (a JSON object or a form body; `name`
// required, schedule_type and priority must be known words, other documented
// fields stored as given, unknown keys ignored), PUT /batches/{id} (the same
// fields; a body with `searches` adds searches instead, see below), DELETE
// /batches/{id}.
// Search calls: PUT /batches/{id} {"searches":[...]} adds them (ids of 16
// upper-case letters; q required; refused while running like the other
// mutations; the limits below), PUT /batches/{id}/{search_id} changes one
// (the reply's `search` holds the changed fields and the id), DELETE
// /batches/{id}/{search_id} deletes one ("No Search with ID '...' was found
// in this Batch, please check the ID and try again" otherwise), DELETE
// /batches/{id}/searches deletes those of a JSON array of ids, DELETE
// /batches/{id}/clear deletes all, and the searches page with q=TERM (a
// case-insensitive substring of any of a search's values) or custom_id=ID
// is Find. A batch never given searches (PutSearches) counts
// credits_required of them until its first search call, then its real ones
// (none at first). Each search call holds the batch for
// search_mutation_duration (the concurrency model, SimulatorOptions). Their state rules and limits
// are the settings below (start_queued ... delete_queued). List also filters on search_term with
// search_type exact (default: contains) and created_after.
//
// Batch objects (get, list, start) carry every field SerpWow documents for a
// batch, with the defaults a new batch has: id, name, status, enabled true,
// schedule_type "manual", schedule_hours / schedule_days_of_week /
// schedule_days_of_month [], priority "normal", destination_ids [],
// notification_email and notification_webhook "", notification_as_json /
// _jsonlines / _csv false, searches_total_count (= credits_required: one
// credit per search) and searches_page_count (pages of 1000),
// credits_required, next_result_set_id, results_count, searches_type
// "mixed", searches_type_locked false, created_at, and last_run (when the
// last completed run started) only after a run. SetBatchFields() changes any
// of them for a test.
//
// Choices the docs leave open, as implemented (see batch_api.h for the state
// machine):
//  * Routing comes first: a wrong path or verb (anything but GET on a known
//    route) is 404 with the HTML body "<html><body>Not Found</body></html>",
//    whatever the key. Then a missing/empty/wrong api_key is 401, then the
//    endpoint. Unknown batch ids and business-rule failures use the JSON
//    envelope {"request_info":{"success":false,"message":...}}.
//  * Framing errors are answered and the connection closed: 400 malformed,
//    431 header section over 16 KiB, 413 body over 1 MiB, 501 any request
//    Transfer-Encoding, 505 other HTTP versions.
//  * A request held by a fault delay is still carried out when the delay ends,
//    even if the client has gone (a server does not notice abandoned work).
//  * List (GET /batches) takes every documented parameter: status,
//    search_term + search_type (contains by default, starts_with, ends_with,
//    exact; case-insensitive), created_before/after and last_run_before/after
//    (ISO times, strict bounds; a batch that never ran matches no last_run
//    bound), destination_id, only_with_results / only_without_results,
//    sort_by (name by default, created_at, last_run, priority, status),
//    sort_direction, page and page_size (default 25, above 1000 capped).
//    An unknown value is 400 with the envelope. Filters and sorting see the
//    batch as replies show it (SetBatchFields patches included), except the
//    status filter, which uses the state machine's state; ties are broken by
//    id, so pages never overlap. Unknown parameters are ignored.
//  * list_rate_per_minute: SerpWow's 60 List calls a minute, as a sliding
//    window of 60 s (429 beyond, optionally with Retry-After).
//  * Start() raises the process's soft RLIMIT_NOFILE towards the hard limit
//    (at most 65536, common/fd_limit.h), so thousands of loopback
//    connections fit.
//
// TLS mode (SimulatorOptions::tls_cert_file and tls_key_file both set): the
// port speaks HTTPS only, via OpenSSL, TLS 1.2 and 1.3, in the same event loop
// (non-blocking handshakes, reads and writes; no extra threads). Everything
// above holds unchanged inside the TLS stream. Besides:
//  * ALPN: "http/1.1" is selected when the client offers it (never h2); a
//    client that offers no ALPN is served HTTP/1.1 as well.
//  * Session resumption: a server-side session cache (TLS 1.2 session ids)
//    and session tickets (TLS 1.2 and 1.3) are enabled, valid for this
//    Simulator's lifetime; tls_resumed_handshakes() counts their use.
//  * A handshake that fails is not a request: the connection is closed (not
//    recorded, not counted in request_count()). A plain-HTTP request sent to
//    the TLS port gets a plain-text "400 Bad Request" saying the port speaks
//    HTTPS, then the connection is closed; the server keeps serving others.
//  * Orderly closes ("Connection: close", framing errors) send a TLS
//    close_notify before the TCP FIN; kDropConnection also sends close_notify
//    (so a TLS client sees a clean EOF without a reply, as over plain HTTP);
//    kResetMidBody resets the TCP connection without close_notify.
//  * Peers may close without close_notify (treated as an ordinary EOF).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"

namespace serpwow::sim {

enum class BatchState { kIdle, kQueued, kRunning };

// "idle", "queued", "running".
const char* BatchStateName(BatchState state);

struct SimulatorOptions {
  // Address to bind. Port 0 lets the OS choose; see Simulator::port().
  std::string host = "127.0.0.1";
  int port = 0;
  // Every request must carry `api_key=<this>` in its query string, else 401
  // {"request_info":{"success":false,"message":"Supplied api_key is not valid"}}.
  // Empty accepts any non-empty key.
  std::string api_key = "simulator-key";
  // Serve every path under "/live" as SerpWow does (Scale SERP and Value SERP
  // do not). Without it, "/live/..." paths are 404.
  bool live_prefix = false;
  // HTTP status for stopping a batch that is idle (docs: unknown; likely 400).
  int stop_idle_status = 400;
  // HTTP status for an unknown batch id (docs: 404 or 400).
  int unknown_batch_status = 404;
  // After /start a batch is queued for this long, then running for
  // run_duration, then idle again (a finished run).
  absl::Duration queue_delay = absl::Seconds(30);
  absl::Duration run_duration = absl::Seconds(60);
  // Account credits at start.
  int64_t initial_credits = 10000;
  // TLS: both set (PEM files, read once by Start()) makes the port serve
  // HTTPS only; both empty (the default) serves plain HTTP. tls_cert_file
  // holds the server certificate, optionally followed by its chain;
  // tls_key_file its unencrypted private key (encrypted keys are refused,
  // there is nobody to ask for a passphrase). A missing, unreadable or
  // invalid file, a key that does not match the certificate, or only one of
  // the two set, makes Start() return InvalidArgument naming the setting:
  // "tls_cert_file=<path>: ..." or "tls_key_file=<path>: ...".
  std::string tls_cert_file;
  std::string tls_key_file;
  // When true, the stop reply carries "credits_refunded": <bool> and
  // "previous_status" beside request_info (the real API documents no such
  // fields; this lets tests exercise "the stop reply wins").
  bool stop_reply_reports_refund = false;
  // When true, batch objects spell the search counts as SerpWow's Get Batch
  // example does, "search_total_count" and "search_page_count", instead of
  // the plural "searches_..." every other page uses.
  bool singular_count_fields = false;
  // SerpWow's List limit (60 requests a minute [D list]): more than this many
  // GET /batches in any 60 s are answered 429 (the refused ones do not
  // count). 0 turns the limit off.
  int list_rate_per_minute = 0;
  // Whether that 429 carries Retry-After (seconds until a request fits
  // again). SerpWow sends none as far as anyone has seen, hence false.
  bool list_rate_limit_retry_after = false;
  // How long a result set is kept after its run ended (SerpWow: 14 days);
  // it then disappears from the result routes (evaluated lazily).
  absl::Duration result_set_retention = absl::Hours(24 * 14);
  // A hostile variant: every download link carries "?api_key=<the key>", to
  // prove that the gateway refuses to pass such links on.
  bool links_include_api_key = false;

  // Batch mutations (POST /batches, PUT and DELETE /batches/{id}) and the
  // state rules the docs leave open (design §4, "undocumented choices").
  // Start of a queued batch: refused like a running one (busy_status), or
  // accepted (a success that changes nothing and reserves nothing more).
  enum class StartQueued { kRefuse, kAccept };
  StartQueued start_queued = StartQueued::kRefuse;
  // HTTP status for a start with credits < credits_required (402 or 400).
  int insufficient_credits_status = 402;
  // Update and delete are refused while running, or while queued too.
  enum class MutationRefusedWhen { kRunning, kQueuedOrRunning };
  MutationRefusedWhen mutation_refused_when = MutationRefusedWhen::kRunning;
  // HTTP status of a start, update or delete refused by the batch's state.
  int busy_status = 400;
  // Batches per account, and the status of a create beyond it (GET /account
  // reports batches_limit = max_batches).
  int64_t max_batches = 10000;
  int batch_limit_status = 400;
  // Deleting a queued batch (when mutation_refused_when allows it at all):
  // its reservation is refunded, kept (lost to the account), or the delete
  // is refused (busy_status).
  enum class DeleteQueued { kRefund, kKeepReservation, kRefuse };
  DeleteQueued delete_queued = DeleteQueued::kRefund;
  // Seed of the RNG that makes created batches' ids (8 upper-case hex).
  uint64_t id_seed = 1;

  // Search calls (PUT /batches/{id} with `searches`, PUT and DELETE
  // /batches/{id}/{search_id}, DELETE /batches/{id}/searches and /clear,
  // and Find: GET /batches/{id}/searches/{page} with q or custom_id).
  // SerpWow's limits: searches per batch (max_page not counted here), per
  // batch when any search uses include_html, per call, and max_page.
  int64_t max_searches_per_batch = 15000;
  int64_t max_searches_with_html = 100;
  int64_t max_searches_per_call = 1000;
  int64_t max_page_limit = 20;
  // HTTP status of "No Search with ID '...' was found in this Batch".
  int search_not_found_status = 404;
  // A bulk delete naming an unknown id: fails whole (search_not_found_status,
  // nothing deleted), or deletes the known ones.
  enum class BulkDeleteUnknownIds { kError, kIgnore };
  BulkDeleteUnknownIds bulk_delete_unknown_ids = BulkDeleteUnknownIds::kError;
  // Find takes custom_id=ID (an exact match) besides q=TERM; without it a
  // custom_id parameter is ignored.
  bool find_supports_custom_id = true;
  // THE CONCURRENCY MODEL: a search call holds its batch (or, with kAccount,
  // the whole account) for search_mutation_duration: its reply is sent when
  // that time has passed (a timer in the event loop), and another search
  // call arriving meanwhile gets 429 (the JSON envelope, success false) and
  // changes nothing. 0 turns the model off.
  enum class SearchMutationScope { kBatch, kAccount };
  SearchMutationScope search_mutation_scope = SearchMutationScope::kBatch;
  absl::Duration search_mutation_duration = absl::Milliseconds(20);
};

// One batch as the simulator holds it.
struct BatchSnapshot {
  std::string id;
  std::string name;
  BatchState state = BatchState::kIdle;
  int64_t credits_required = 0;
  // Credits reserved by the current queued/running run (0 when idle).
  int64_t credits_reserved = 0;
};

// A fault applied to matching requests instead of (or before) the normal
// behaviour. Faults are checked in the order they were added; the first that
// matches and has uses left applies (a used-up fault is removed). Faults apply
// before routing and the api_key check; the request is recorded either way.
//
// `delay` comes first for every action but kHang. For kStallAfterHeaders,
// kSlowDrip and kResetMidBody, status 0 means "the normal response": the
// request is carried out (e.g. the batch really stops) and only its reply is
// stalled, dripped or cut. kDropConnection and kHang never carry it out.
// In `headers`, Content-Length, Transfer-Encoding and Connection are ignored
// (the simulator frames the reply); without a Content-Type, a non-empty body
// is sent as application/json.
struct Fault {
  enum class Action {
    // After `delay`, answer `status` with `headers` and `body` (as-is, with a
    // correct Content-Length). status 0 means: behave normally after `delay`.
    kRespond,
    // Close the connection without answering (after `delay`). In TLS mode a
    // close_notify precedes the FIN.
    kDropConnection,
    // Accept and read the request, then never answer until the client goes away.
    kHang,
    // Send the status line and headers (Content-Length of the full body) and
    // then stall forever without a body byte.
    kStallAfterHeaders,
    // Send headers, then the body one byte every `drip_interval` (at least
    // 1 ms); the first byte comes one interval after the headers.
    kSlowDrip,
    // Send headers and half of the body (rounded down), then reset the
    // connection (RST, via SO_LINGER {1, 0}; in TLS mode without close_notify).
    kResetMidBody,
  };
  Action action = Action::kRespond;
  // Applies to requests whose raw (still percent-encoded) path, without the
  // query string and without the "/live" prefix, ends with this suffix, e.g.
  // "/stop" or "/batches/ABC". Empty matches every request.
  std::string path_suffix;
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  absl::Duration delay = absl::ZeroDuration();
  absl::Duration drip_interval = absl::Milliseconds(100);
  // How many requests this fault applies to; -1 for all.
  int times = -1;
};

// A request as the simulator saw it. The api_key value is never stored.
struct RecordedRequest {
  std::string method;
  std::string path;  // as sent (percent-encoded, "/live" kept), no query string
  // The query string carried a non-empty api_key parameter (valid or not).
  bool had_api_key = false;
  // The decoded query parameters in order, api_key left out (secrets in
  // values scrubbed as in logs).
  std::vector<std::pair<std::string, std::string>> params;
};

class Simulator {
 public:
  // Binds, starts the event-loop thread and returns once it accepts.
  static absl::StatusOr<std::unique_ptr<Simulator>> Start(SimulatorOptions options);

  // Stops the loop, closes every connection, joins the thread.
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // The bound port.
  int port() const;
  // "http://127.0.0.1:PORT" ("https://" in TLS mode) plus "/live" when
  // live_prefix is set: what the gateway takes as --upstream.
  std::string base_url() const;

  // Adds or replaces a batch. A batch added as queued or running reserves
  // `credits_required` (taken from the account, which may go negative) and
  // follows the queue/run timers from now on. An empty name defaults to the
  // id. Replacing or removing a batch never changes the account's credits.
  void PutBatch(const std::string& id, BatchState state, int64_t credits_required = 100,
                const std::string& name = "");
  // Overrides what the batch object of `id` looks like in every reply that
  // carries it (get, list, start): `json_object` (a JSON object's text) is
  // applied to the emitted object as an RFC 7396 merge patch, so its keys
  // replace or add fields (unknown keys, odd types, the singular count
  // spellings...) and a null removes one. Only the JSON changes: the state
  // machine, credits and the route's id keep using the real values. A later
  // call replaces the previous patch; PutBatch() of the same id drops it.
  // InvalidArgument when `json_object` is not a JSON object, NotFound when
  // there is no batch `id`.
  absl::Status SetBatchFields(const std::string& id, const std::string& json_object);
  absl::optional<BatchSnapshot> GetBatch(const std::string& id) const;
  void RemoveBatch(const std::string& id);
  // Seeds a demo account: batches in every state (idle, queued, running),
  // with ids printed in SeedDemoDescription(): DEMOIDLE (idle, 100 credits),
  // 9E867FAA (queued, 200), 2A6F94BB (running, 150), CAC8651D (queued, 50)
  // and DEMOHUGE (idle, 100000000: start gives 402). The queued and running
  // demo batches ignore the queue/run timers, so a newcomer can try every stop
  // outcome at leisure; once stopped or started through the API they follow
  // the timers like any other batch. The seeded reservations (400 credits)
  // are taken from the account.
  // The demo account also holds kDemoGeneratedBatches generated batches
  // (AddGeneratedBatches with seed 1), so that paging, filters and sorting
  // show.
  void SeedDemo();
  static std::string SeedDemoDescription();
  static constexpr int kDemoGeneratedBatches = 300;

  // Adds `count` batches at once (ids, names and fields from an RNG seeded
  // with `seed`, so the same call gives the same batches): ids are 8
  // upper-case hex digits not yet in use; names "<Word> <kind> NNNN"
  // (e.g. "Nightly rankings 0042"); created_at one second apart, the last one
  // now; one in 20 queued and one in 20 running (following the timers,
  // reserving their credits), the rest idle; one in 3 has result sets and a
  // last_run; priorities cycle through all five; one in 7 has destination
  // "DEST1". Returns the ids in creation order.
  std::vector<std::string> AddGeneratedBatches(int count, uint64_t seed);

  int64_t credits() const;
  void SetCredits(int64_t credits);
  // Batches created through POST /batches, and starts carried out (a 200
  // reply to /start, accepted queued restarts included), since start: what
  // tests read to prove that one call never created or started twice.
  int64_t batches_created() const;
  int64_t starts() const;
  // Search calls refused with 429 by the concurrency model, and searches
  // added by PUT /batches/{id} since start.
  int64_t search_calls_refused() const;
  int64_t searches_added() const;
  // The searches batch `id` holds now (its listed ones), or -1 when there is
  // no such batch.
  int64_t search_count(const std::string& id) const;

  // Gives batch `id` `count` generated searches (ids of 16 upper-case
  // letters, q "query N", location, search_type, custom_id "cN", and the
  // extra parameters gl and num), replacing any it had. From then on its
  // searches_total_count / searches_page_count follow the real count (a
  // batch never given searches counts credits_required of them, as before,
  // and lists none). NotFound when there is no batch `id`.
  absl::Status PutSearches(const std::string& id, int count);
  // Adds `runs` completed result sets to batch `id` at once, each ending now
  // (simulator time) and started run_duration before; as a run that
  // completes through the timers does. NotFound when there is no batch `id`.
  absl::Status CompleteRuns(const std::string& id, int runs = 1);
  // The simulator's virtual clock: every timer, timestamp and expiry reads
  // the wall clock plus the sum of the durations given here, so tests of
  // runs and expiry need no sleeps.
  void AdvanceTime(absl::Duration d);

  void AddFault(Fault fault);
  void ClearFaults();

  // Requests fully received since start (or the last ResetRequests()),
  // including those a fault answered, dropped or held. Malformed requests
  // (answered 400/431/...) are not counted.
  int64_t request_count() const;
  // The newest requests, in arrival order (at most 100000 are kept).
  std::vector<RecordedRequest> requests() const;
  void ResetRequests();
  // TCP connections accepted since start (in TLS mode including those whose
  // handshake then failed).
  int64_t connections_accepted() const;
  // TLS mode: handshakes completed since start, and those of them that
  // resumed a session (SSL_session_reused: a session id from the cache or a
  // ticket). Both stay 0 without TLS.
  int64_t tls_handshakes() const;
  int64_t tls_resumed_handshakes() const;

 private:
  class Impl;
  explicit Simulator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace serpwow::sim
