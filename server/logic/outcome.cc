#include "server/logic/outcome.h"

#include <curl/curl.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/utf8.h"
#include "server/logic/errors.h"

namespace serpwow::logic {
namespace {

using upstream::HttpResult;
using upstream::TransportError;
using Json = nlohmann::json;

constexpr absl::Duration kMaxRetryDelay = absl::Hours(1);
constexpr size_t kMaxMessageBytes = 256;

// SerpWow's replies nest a few levels deep. A body nested deeper is refused
// without parsing: it cannot be a reply we understand, and parsing deeply
// nested input costs far more than this linear scan (a 1 MiB body of '['
// took ~0.4 s), on an upstream loop thread that serves every transfer of
// its share of the batches.
constexpr int kMaxJsonDepth = 32;

bool NestedTooDeep(const std::string& body) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    // The parser ends its input at a NUL byte: what follows is never parsed
    // (found by fuzz_classify_reply: a valid envelope, a NUL, then 200 '[').
    if (c == '\0') return false;
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth) return true;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return false;
}

Envelope ParseEnvelope(const std::string& body) {
  Envelope env;
  if (body.empty() || NestedTooDeep(body)) return env;
  env.json = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (env.json.is_discarded()) return env;
  env.is_json = true;
  if (!env.json.is_object()) return env;
  auto info = env.json.find("request_info");
  if (info == env.json.end() || !info->is_object()) return env;
  auto success = info->find("success");
  if (success != info->end() && success->is_boolean()) {
    env.has_success = true;
    env.success = success->get<bool>();
  }
  auto message = info->find("message");
  if (message != info->end() && message->is_string()) env.message = message->get<std::string>();
  return env;
}

// Characters that can change how a terminal or a log viewer shows what
// follows: C0 and C1 controls (U+009B is an 8-bit escape), DEL, line and
// paragraph separators, and bidirectional overrides.
bool UnsafeCodePoint(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x200E || cp == 0x200F || cp == 0x2028 ||
         cp == 0x2029 || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

}  // namespace

std::string CleanText(const std::string& text) {
  std::string out;
  out.reserve(std::min(text.size(), kMaxMessageBytes));
  for (size_t i = 0; i < text.size();) {
    uint32_t cp = 0;
    const size_t len = Utf8SequenceLength(text, i, &cp);
    if (len == 0) {
      ++i;  // an invalid byte: skip it
      continue;
    }
    if (!UnsafeCodePoint(cp)) {
      if (out.size() + len > kMaxMessageBytes) break;
      out.append(text, i, len);
    }
    i += len;
  }
  return out;
}

namespace {

bool MessageSaysNotFound(const std::string& lower) {
  return absl::StrContains(lower, "not found") || absl::StrContains(lower, "does not exist") ||
         absl::StrContains(lower, "no batch with");
}

bool MessageSaysNotStoppable(const std::string& lower) {
  for (const char* phrase :
       {"not currently queued", "not currently running", "not queued", "not running",
        "cannot be stopped", "can not be stopped", "can't be stopped", "already stopped",
        "already idle", "is idle", "not in a stoppable"}) {
    if (absl::StrContains(lower, phrase)) return true;
  }
  return false;
}

// A number of seconds, from a JSON number or a string of digits.
absl::optional<absl::Duration> JsonSeconds(const Json& value) {
  double seconds = -1;
  if (value.is_number()) {
    seconds = value.get<double>();
  } else if (value.is_string()) {
    if (!absl::SimpleAtod(value.get<std::string>(), &seconds)) return absl::nullopt;
  } else {
    return absl::nullopt;
  }
  if (!std::isfinite(seconds) || seconds < 0) return absl::nullopt;
  return std::min(absl::Seconds(std::min(seconds, 86400.0)), kMaxRetryDelay);
}

// The upstream's retry hint: the Retry-After header, else a body
// "retry_after" (top level or in request_info, as the 503 incident replies have).
absl::optional<absl::Duration> RetryHint(const HttpResult& result, const Envelope& env) {
  if (auto header = ParseRetryAfter(result.retry_after, absl::Now())) return header;
  if (!env.is_json || !env.json.is_object()) return absl::nullopt;
  auto top = env.json.find("retry_after");
  if (top != env.json.end()) return JsonSeconds(*top);
  auto info = env.json.find("request_info");
  if (info != env.json.end() && info->is_object()) {
    auto nested = info->find("retry_after");
    if (nested != info->end()) return JsonSeconds(*nested);
  }
  return absl::nullopt;
}

std::string HttpMeta(const HttpResult& result) { return absl::StrCat(result.http_status); }

// "batch 9E867FAA", or "the account" for an account-wide call.
std::string Subject(const ClassifyContext& ctx) {
  return ctx.batch_id.empty() ? std::string("the account") : absl::StrCat("batch ", ctx.batch_id);
}

absl::Status TransportFailure(const HttpResult& result, const ClassifyContext& ctx,
                              const ReplyRules& rules) {
  const std::string& id = ctx.batch_id;
  if (JudgeResult(result, ctx.timeout_is_callers_deadline).unavailable) {
    if (result.error == TransportError::kTimeout) {
      return ErrorBuilder(absl::StatusCode::kUnavailable,
                          absl::StrCat("SerpWow did not answer within the gateway's upstream "
                                       "timeout for ",
                                       Subject(ctx), "; the call is safe to retry"),
                          reason::kUpstreamTimeout)
          .Metadata("batch_id", id);
    }
    std::string what;
    switch (result.error) {
      case TransportError::kResolve:
        what = "could not resolve the SerpWow host name";
        break;
      case TransportError::kConnect:
        what = "could not connect to SerpWow";
        break;
      case TransportError::kTls:
        what = "the TLS handshake with SerpWow failed";
        break;
      case TransportError::kConnectionLost:
        what = "the connection to SerpWow was lost before a full reply";
        break;
      default:  // kOther; libcurl's code is in the debug log, not for callers
        what = "the request to SerpWow failed in the gateway's HTTP client";
        break;
    }
    return ErrorBuilder(absl::StatusCode::kUnavailable,
                        absl::StrCat(what, " while ", rules.doing, id.empty() ? "" : " ", id,
                                     "; the call is safe to retry"),
                        reason::kUpstreamUnavailable)
        .Metadata("batch_id", id)
        .Metadata("transport_error", upstream::TransportErrorName(result.error));
  }
  switch (result.error) {
    case TransportError::kTimeout:  // the caller's own deadline
      return ErrorBuilder(absl::StatusCode::kDeadlineExceeded,
                          absl::StrCat("the call's deadline passed while SerpWow was "
                                       "handling ",
                                       Subject(ctx),
                                       rules.effect != nullptr
                                           ? absl::StrCat("; ", rules.effect,
                                                          " may or may not have taken effect")
                                           : std::string()),
                          reason::kDeadlineExceeded)
          .Metadata("batch_id", id);
    case TransportError::kBodyTooLarge:
      return ErrorBuilder(absl::StatusCode::kInternal,
                          "SerpWow sent a reply larger than the gateway accepts",
                          reason::kUpstreamBadResponse)
          .Metadata("batch_id", id);
    case TransportError::kHeadersTooLarge:
      return ErrorBuilder(absl::StatusCode::kInternal,
                          "SerpWow sent reply headers larger than the gateway accepts",
                          reason::kUpstreamBadResponse)
          .Metadata("batch_id", id);
    case TransportError::kBadReply:
      return ErrorBuilder(absl::StatusCode::kInternal,
                          "SerpWow sent a reply that is not valid HTTP",
                          reason::kUpstreamBadResponse)
          .Metadata("batch_id", id);
    case TransportError::kCancelled:
      return ErrorBuilder(absl::StatusCode::kCancelled, "the call was cancelled",
                          reason::kCancelled)
          .Metadata("batch_id", id);
    default:
      break;
  }
  return absl::InternalError("unreachable");
}

absl::Status NotFound(const ClassifyContext& ctx, const HttpResult& result) {
  return ErrorBuilder(absl::StatusCode::kNotFound,
                      absl::StrCat("batch ", ctx.batch_id,
                                   " was not found on the SerpWow account this gateway uses"),
                      reason::kBatchNotFound)
      .Metadata("batch_id", ctx.batch_id)
      .Metadata("http_status", HttpMeta(result))
      .Resource("serpwow.com/Batch", ctx.batch_id, "no batch with this id on the account");
}

absl::Status NotStoppable(const ClassifyContext& ctx, const HttpResult& result) {
  return ErrorBuilder(absl::StatusCode::kFailedPrecondition,
                      absl::StrCat("batch ", ctx.batch_id,
                                   " is not queued or running, so there is nothing to stop"),
                      reason::kBatchNotStoppable)
      .Metadata("batch_id", ctx.batch_id)
      .Metadata("http_status", HttpMeta(result))
      .Precondition("BATCH_STATE", absl::StrCat("batches/", ctx.batch_id),
                    "only a queued or running batch can be stopped");
}

}  // namespace

absl::Status BadResponse(const ClassifyContext& ctx, const HttpResult& result,
                         const std::string& what) {
  return ErrorBuilder(absl::StatusCode::kInternal,
                      absl::StrCat("SerpWow answered HTTP ", result.http_status, " with ", what,
                                   "; this is not an error in the request"),
                      reason::kUpstreamBadResponse)
      .Metadata("batch_id", ctx.batch_id)
      .Metadata("http_status", HttpMeta(result));
}

namespace {

// Everything that is not a 2xx with success:true, for any operation.
absl::Status ClassifyFailure(const HttpResult& result, const Envelope& env,
                             const ClassifyContext& ctx, const ReplyRules& rules) {
  const long code = result.http_status;
  const std::string lower = absl::AsciiStrToLower(env.message);
  const bool refused = env.has_success && !env.success;

  // Status codes whose meaning does not depend on the body.
  switch (code) {
    case 401:
      return ErrorBuilder(absl::StatusCode::kInternal,
                          "SerpWow rejected the gateway's own API key; the caller's request is "
                          "fine, the gateway's configuration must be fixed",
                          reason::kUpstreamAuthFailed)
          .Metadata("http_status", HttpMeta(result));
    case 402:
      return ErrorBuilder(absl::StatusCode::kResourceExhausted,
                          "the SerpWow account is out of credits or has a payment problem",
                          reason::kCreditsExhausted)
          .Metadata("http_status", HttpMeta(result))
          .Quota("serpwow.com/account", "out of credits, or a payment problem (HTTP 402)");
    case 429: {
      absl::Duration delay = RetryHint(result, env).value_or(ctx.default_rate_limit_delay);
      return ErrorBuilder(absl::StatusCode::kResourceExhausted,
                          absl::StrCat("SerpWow's rate limit was reached; retry after ",
                                       absl::FormatDuration(delay)),
                          reason::kRateLimited)
          .Metadata("http_status", HttpMeta(result))
          .RetryAfter(delay);
    }
    default:
      break;
  }
  if (JudgeResult(result, ctx.timeout_is_callers_deadline).unavailable) {  // 500/502/503/504
    ErrorBuilder error(
        absl::StatusCode::kUnavailable,
        absl::StrCat("SerpWow is failing (HTTP ", code, "); the call is safe to retry"),
        reason::kUpstreamUnavailable);
    error.Metadata("http_status", HttpMeta(result)).Metadata("batch_id", ctx.batch_id);
    if (auto hint = RetryHint(result, env)) error.RetryAfter(*hint);
    return error;
  }

  // The body's own words win over the remaining status codes.
  if (refused && MessageSaysNotFound(lower)) return NotFound(ctx, result);
  if (rules.refusal != nullptr) {
    if (absl::optional<absl::Status> own = rules.refusal(result, env, ctx)) return *own;
  }

  if (code == 404) {
    // SerpWow documents 404 for "invalid URL or wrong verb" too. A reply in
    // its JSON envelope (or an empty one) is about the batch; an HTML page or
    // other text is about the route: a misconfigured --upstream, which must
    // not be reported as "batch not found".
    if (env.has_success || result.body.empty()) return NotFound(ctx, result);
    return ErrorBuilder(absl::StatusCode::kInternal,
                        "SerpWow does not know the route the gateway called; check the "
                        "gateway's --upstream (SerpWow needs the /live prefix, Scale SERP and "
                        "Value SERP do not)",
                        reason::kUpstreamRouteNotFound)
        .Metadata("http_status", HttpMeta(result));
  }
  if (code >= 300 && code < 400) {
    return ErrorBuilder(absl::StatusCode::kInternal,
                        absl::StrCat("SerpWow answered with a redirect (HTTP ", code,
                                     "), which the gateway never follows; check --upstream"),
                        reason::kUpstreamRedirect)
        .Metadata("http_status", HttpMeta(result));
  }
  if (code >= 400 && code < 500) {
    return ErrorBuilder(absl::StatusCode::kInternal,
                        absl::StrCat("SerpWow refused the gateway's request (HTTP ", code, ")"),
                        reason::kUpstreamRejected)
        .Metadata("batch_id", ctx.batch_id)
        .Metadata("http_status", HttpMeta(result));
  }
  if (code >= 200 && code < 300) {
    if (!env.is_json) return BadResponse(ctx, result, "a body that is not JSON");
    if (!env.has_success) {
      return BadResponse(ctx, result, "JSON that lacks request_info.success");
    }
    return BadResponse(ctx, result, "success:false and a message the gateway does not recognise");
  }
  return BadResponse(ctx, result, "an unexpected status");
}

}  // namespace

Verdict JudgeResult(const HttpResult& r, bool timeout_is_callers_deadline) {
  Verdict v;
  switch (r.error) {
    case TransportError::kNone: {
      v.answered = true;
      const long code = r.http_status;
      v.rate_limited = code == 429;
      v.unavailable = code == 500 || code == 502 || code == 503 || code == 504;
      v.retryable = v.unavailable;
      v.maybe_applied = v.unavailable;
      break;
    }
    case TransportError::kResolve:
    case TransportError::kTls:
      v.unavailable = true;
      break;
    case TransportError::kConnect:
      v.unavailable = v.retryable = true;
      break;
    case TransportError::kConnectionLost:
      v.unavailable = v.retryable = v.maybe_applied = true;
      break;
    case TransportError::kTimeout:
      // A timeout the caller's short deadline set says nothing about SerpWow.
      v.unavailable = v.retryable = !timeout_is_callers_deadline;
      v.maybe_applied = true;
      break;
    case TransportError::kOther:
      v.unavailable = v.maybe_applied = true;
      break;
    case TransportError::kBodyTooLarge:
    case TransportError::kHeadersTooLarge:
    case TransportError::kBadReply:
      v.answered = true;  // something came back: SerpWow is up, the reply is bad
      break;
    case TransportError::kCancelled:
      break;
  }
  return v;
}

const char* BatchStatusName(BatchStatus status) {
  switch (status) {
    case BatchStatus::kUnknown:
      return "unknown";
    case BatchStatus::kIdle:
      return "idle";
    case BatchStatus::kQueued:
      return "queued";
    case BatchStatus::kRunning:
      return "running";
  }
  return "unknown";
}

absl::optional<absl::Duration> ParseRetryAfter(const std::string& raw, absl::Time now) {
  std::string value(absl::StripAsciiWhitespace(raw));
  if (value.empty()) return absl::nullopt;
  int64_t seconds = 0;
  if (absl::SimpleAtoi(value, &seconds)) {
    if (seconds < 0) return absl::nullopt;
    return std::min(absl::Seconds(std::min<int64_t>(seconds, 86400)), kMaxRetryDelay);
  }
  // delta-seconds too large for int64: RFC 9110 §1.2 says to treat it as a
  // very large value, not to ignore it.
  if (std::all_of(value.begin(), value.end(), [](char c) { return absl::ascii_isdigit(c); })) {
    return kMaxRetryDelay;
  }
  time_t when = curl_getdate(value.c_str(), nullptr);
  if (when < 0) return absl::nullopt;
  absl::Duration delay = absl::FromTimeT(when) - now;
  return std::clamp(delay, absl::ZeroDuration(), kMaxRetryDelay);
}

absl::optional<absl::Duration> RetryHintOf(const HttpResult& result) {
  if (result.error != TransportError::kNone) return absl::nullopt;
  return RetryHint(result, ParseEnvelope(result.body));
}

absl::StatusOr<Envelope> ClassifyReply(const HttpResult& result, const ClassifyContext& context,
                                       const ReplyRules& rules) {
  if (result.error != TransportError::kNone) return TransportFailure(result, context, rules);
  Envelope env = ParseEnvelope(result.body);
  const bool two_xx = result.http_status >= 200 && result.http_status < 300;
  if (!two_xx || !env.has_success || !env.success) {
    return ClassifyFailure(result, env, context, rules);
  }
  return env;
}

namespace {

// The stop's own refusals: "not queued or running" in any known wording, or
// an unrecognised 400/409/422 refusal of a batch a read just saw idle (the
// documented case with wording we do not know yet).
absl::optional<absl::Status> StopRefusal(const HttpResult& result, const Envelope& env,
                                         const ClassifyContext& ctx) {
  if (!env.has_success || env.success) return absl::nullopt;
  const long code = result.http_status;
  if (MessageSaysNotStoppable(absl::AsciiStrToLower(env.message)) ||
      (ctx.seen_before == BatchStatus::kIdle && (code == 400 || code == 409 || code == 422))) {
    return NotStoppable(ctx, result);
  }
  return absl::nullopt;
}

constexpr ReplyRules kStopBatchRules{"stopping batch", "the stop", &StopRefusal};

}  // namespace

std::string UpstreamMessageOf(const HttpResult& result) {
  if (result.error != TransportError::kNone) return "";
  return CleanText(ParseEnvelope(result.body).message);
}

bool IsMutationRefusal(const HttpResult& result) {
  const long code = result.http_status;
  if (result.error != TransportError::kNone || (code != 400 && code != 409 && code != 422)) {
    return false;
  }
  const Envelope env = ParseEnvelope(result.body);
  return env.has_success && !env.success &&
         !MessageSaysNotFound(absl::AsciiStrToLower(env.message));
}

absl::StatusOr<BatchStatus> ClassifyBatchRead(const HttpResult& result,
                                              const ClassifyContext& context) {
  absl::StatusOr<Envelope> env = ClassifyReply(result, context, kReadBatchRules);
  if (!env.ok()) return env.status();
  auto batch = env->json.find("batch");
  if (batch == env->json.end() || !batch->is_object()) {
    return BadResponse(context, result, "no batch object");
  }
  auto status = batch->find("status");
  if (status == batch->end() || !status->is_string()) {
    return BadResponse(context, result, "a batch without a status");
  }
  const std::string value = absl::AsciiStrToLower(status->get<std::string>());
  if (value == "idle") return BatchStatus::kIdle;
  if (value == "queued") return BatchStatus::kQueued;
  if (value == "running") return BatchStatus::kRunning;
  return BadResponse(context, result, "a batch status the gateway does not know");
}

absl::StatusOr<StopReply> ClassifyStopReply(const HttpResult& result,
                                            const ClassifyContext& context,
                                            BatchStatus seen_before) {
  ClassifyContext with_read = context;
  with_read.seen_before = seen_before;
  absl::StatusOr<Envelope> env = ClassifyReply(result, with_read, kStopBatchRules);
  if (!env.ok()) return env.status();
  StopReply reply;
  reply.message = CleanText(env->message);
  // An explicit refund statement in the reply (undocumented, but if SerpWow
  // ever sends one it is better evidence than our pre-read).
  auto refund_flag = [](const Json& object) -> absl::optional<bool> {
    for (const char* key : {"credits_refunded", "refunded"}) {
      auto it = object.find(key);
      if (it == object.end()) continue;
      if (it->is_boolean()) return it->get<bool>();
      if (it->is_number()) return it->get<double>() > 0;
    }
    return absl::nullopt;
  };
  reply.credits_refunded = refund_flag(env->json);
  if (!reply.credits_refunded) {
    // ClassifyReply found request_info (success is true), so this never inserts.
    reply.credits_refunded = refund_flag(env->json.at("request_info"));
  }
  return reply;
}

}  // namespace serpwow::logic
