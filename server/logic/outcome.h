// Classification of upstream replies: a pure function from what came back
// (transport error, HTTP status, body, headers) to a domain value or an error
// status with google.rpc details (see errors.h). No I/O, no gRPC types.
//
// Order of evidence, as SerpWow's docs suggest (its official clients key on
// the envelope, not the status): transport error, then HTTP status, then
// whether the body is the JSON envelope, then request_info.success, then the
// message text.
//
// The generic rows are written once (ClassifyReply); an operation adds only
// its own refusals and its words (ReplyRules), so that no generic message
// speaks of the wrong operation. The contract (code, reason):
//   transport: connect/DNS/TLS/reset          UNAVAILABLE         UPSTREAM_UNAVAILABLE
//              timeout, caller's deadline     DEADLINE_EXCEEDED   DEADLINE_EXCEEDED
//              timeout, gateway's own cap     UNAVAILABLE         UPSTREAM_TIMEOUT
//              body over the cap, not HTTP    INTERNAL            UPSTREAM_BAD_RESPONSE
//              cancelled                      CANCELLED           CANCELLED
//   2xx, success:true                         OK
//   any status, "not found" message           NOT_FOUND           BATCH_NOT_FOUND
//   404 with the JSON envelope or no body     NOT_FOUND           BATCH_NOT_FOUND
//   404 with another body (a wrong route)     INTERNAL            UPSTREAM_ROUTE_NOT_FOUND
//   the operation's own refusals (ReplyRules::refusal), e.g. for the stop:
//         a "not queued or running" message,
//         or 400/409/422 success:false after
//         a read that saw the batch idle      FAILED_PRECONDITION BATCH_NOT_STOPPABLE
//   401                                       INTERNAL            UPSTREAM_AUTH_FAILED
//   402                                       RESOURCE_EXHAUSTED  CREDITS_EXHAUSTED
//   429                                       RESOURCE_EXHAUSTED  RATE_LIMITED (+RetryInfo)
//   500, 502, 503, 504                        UNAVAILABLE         UPSTREAM_UNAVAILABLE (+RetryInfo
//                                                                 when Retry-After/retry_after)
//   3xx (redirects are never followed)        INTERNAL            UPSTREAM_REDIRECT
//   other 4xx                                 INTERNAL            UPSTREAM_REJECTED
//   other 1xx/5xx, 2xx not the envelope,
//   success:false with no known meaning       INTERNAL            UPSTREAM_BAD_RESPONSE
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "server/upstream/http_types.h"

namespace serpwow::logic {

enum class BatchStatus { kUnknown, kIdle, kQueued, kRunning };
const char* BatchStatusName(BatchStatus status);  // "unknown", "idle", ...

// What one upstream result says about SerpWow and about the request, decided
// once here for every consumer: the classifier's codes below, the retry
// rules of each effect class and the circuit breaker all read this, so
// "an upstream failure" has one definition.
struct Verdict {
  // SerpWow, or the way to it, is failing: a transport error other than a
  // cancel, an oversized or non-HTTP reply, or a timeout set by the caller's
  // own deadline; or HTTP 500/502/503/504. The classifier answers these
  // UNAVAILABLE (UPSTREAM_UNAVAILABLE, or UPSTREAM_TIMEOUT for the gateway's
  // own cap); the breaker counts them as failed calls.
  bool unavailable = false;
  // Unavailable and worth another attempt: connect failures, lost
  // connections, the gateway's own timeout, 500/502/503/504. Not DNS or TLS
  // failures (configuration, not load) nor other libcurl failures.
  bool retryable = false;
  // HTTP 429.
  bool rate_limited = false;
  // The request may have reached SerpWow and been carried out although no
  // usable reply came back: lost connections, timeouts, 5xx, other failures.
  // False when the name did not resolve, the connection or TLS never came up.
  bool maybe_applied = false;
  // SerpWow answered with an HTTP status (it is up, whatever it said).
  bool answered = false;
};
Verdict JudgeResult(const upstream::HttpResult& result, bool timeout_is_callers_deadline);

struct ClassifyContext {
  // Already validated; used in messages and details. Empty for an
  // account-wide call (list, stop all, the account): messages then speak of
  // "the account" and no batch_id metadata is set.
  std::string batch_id;
  // What a read just before saw (kUnknown when it failed or none was made);
  // it only sharpens an otherwise ambiguous refusal.
  BatchStatus seen_before = BatchStatus::kUnknown;
  // True when the transfer's timeout was the caller's remaining deadline (so a
  // timeout means DEADLINE_EXCEEDED); false when it was the gateway's own cap.
  bool timeout_is_callers_deadline = false;
  // RetryInfo delay for a 429 that gives no hint.
  absl::Duration default_rate_limit_delay = absl::Seconds(1);
};

// The parts of SerpWow's JSON envelope the classifier looks at.
struct Envelope {
  bool is_json = false;      // the body parsed as JSON
  bool has_success = false;  // ...with request_info.success a bool
  bool success = false;
  std::string message;  // request_info.message, if a string (raw: clean it before use)
  nlohmann::json json;  // the whole body (discarded when not JSON)
};

// What is particular to one operation.
struct ReplyRules {
  // Its words in generic messages: "... while <doing> <batch_id>" (the id
  // left out for an account-wide call, e.g. "listing batches").
  const char* doing = "calling SerpWow for batch";
  // When it changes state: what a deadline passing mid-request may or may
  // not have done ("the stop"); nullptr for reads.
  const char* effect = nullptr;
  // Its own refusals: consulted for a reply that is not a success, after the
  // rows that depend on the status alone (401, 402, 429, 5xx) and after
  // "not found"; nullopt lets the generic rows go on.
  absl::optional<absl::Status> (*refusal)(const upstream::HttpResult& result, const Envelope& env,
                                          const ClassifyContext& context) = nullptr;
};

// The rules of a read of one batch (GetBatch, StopBatch's pre-read): no
// refusals of its own.
inline constexpr ReplyRules kReadBatchRules{"reading batch", nullptr, nullptr};

// Every generic row for any endpoint: the envelope of a 2xx reply with
// request_info.success true, or the error.
absl::StatusOr<Envelope> ClassifyReply(const upstream::HttpResult& result,
                                       const ClassifyContext& context, const ReplyRules& rules);

// The error for a 2xx success reply whose content the gateway cannot use
// (`what`: "no batch object", ...): INTERNAL UPSTREAM_BAD_RESPONSE.
absl::Status BadResponse(const ClassifyContext& context, const upstream::HttpResult& result,
                         const std::string& what);

// Upstream text is shown to people, never trusted: keeps well-formed UTF-8
// without control, bidi or separator characters, cut to 256 bytes at a
// character boundary.
std::string CleanText(const std::string& text);

// The reply's request_info.message, cleaned (CleanText); "" when it has none.
std::string UpstreamMessageOf(const upstream::HttpResult& result);

// A 400, 409 or 422 reply in SerpWow's envelope with success:false whose
// message does not say "not found": how SerpWow refuses a mutation without
// saying why in a documented way (design §1.4, "refused while running");
// the operation confirms with a read what it means.
bool IsMutationRefusal(const upstream::HttpResult& result);

// GET /batches/{id}: the batch's status, or the error.
absl::StatusOr<BatchStatus> ClassifyBatchRead(const upstream::HttpResult& result,
                                              const ClassifyContext& context);

struct StopReply {
  // request_info.message, cleaned of control characters and cut to 256 bytes.
  std::string message;
  // Set when the reply itself says whether credits were refunded
  // ("credits_refunded" or "refunded", bool or a number of credits, at the top
  // level or in request_info). Not part of the documented API.
  absl::optional<bool> credits_refunded;
};

// GET /batches/{id}/stop. `seen_before` is what a read just before saw
// (kUnknown when it failed); it overrides context.seen_before.
absl::StatusOr<StopReply> ClassifyStopReply(const upstream::HttpResult& result,
                                            const ClassifyContext& context,
                                            BatchStatus seen_before);

// The upstream's retry hint in a reply: the Retry-After header, else a body
// "retry_after" (top level or in request_info). Clamped to [0, 1h].
absl::optional<absl::Duration> RetryHintOf(const upstream::HttpResult& result);

// Parses a Retry-After header value (delta-seconds or an HTTP date, relative
// to `now`). nullopt when absent or unparsable. Clamped to [0, 1h].
absl::optional<absl::Duration> ParseRetryAfter(const std::string& value, absl::Time now);

}  // namespace serpwow::logic
