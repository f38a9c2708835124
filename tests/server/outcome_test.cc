// Unit tests of the reply classification: every row of the error contract,
// without a server (server/logic/outcome.h).
#include "server/logic/outcome.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "server/logic/errors.h"

namespace serpwow::logic {
namespace {

using upstream::HttpResult;
using upstream::TransportError;

HttpResult Reply(long status, std::string body, std::string retry_after = "") {
  HttpResult r;
  r.http_status = status;
  r.body = std::move(body);
  r.retry_after = std::move(retry_after);
  return r;
}

HttpResult Failed(TransportError error) {
  HttpResult r;
  r.error = error;
  return r;
}

ClassifyContext Ctx() {
  ClassifyContext c;
  c.batch_id = "9E867FAA";
  c.default_rate_limit_delay = absl::Seconds(2);
  return c;
}

absl::Status Stop(const HttpResult& r, BatchStatus seen = BatchStatus::kQueued,
                  ClassifyContext ctx = Ctx()) {
  return ClassifyStopReply(r, ctx, seen).status();
}

absl::Duration RetryDelay(const absl::Status& s) {
  auto retry = GetDetail<google::rpc::RetryInfo>(s);
  if (!retry) return absl::InfiniteDuration();
  return absl::Seconds(retry->retry_delay().seconds()) +
         absl::Nanoseconds(retry->retry_delay().nanos());
}

void ExpectError(const absl::Status& s, absl::StatusCode code, const std::string& reason) {
  EXPECT_EQ(s.code(), code) << s;
  auto info = GetDetail<google::rpc::ErrorInfo>(s);
  ASSERT_TRUE(info.has_value()) << s;
  EXPECT_EQ(info->domain(), "serpwow.com");
  EXPECT_EQ(info->reason(), reason);
}

constexpr char kOk[] = R"({"request_info":{"success":true,"message":"Batch stopped"}})";
constexpr char kIdle[] =
    R"({"request_info":{"success":false,"message":"Batch is not currently queued or running, so it cannot be stopped"}})";
constexpr char kNotFound[] =
    R"({"request_info":{"success":false,"message":"Batch with ID '9E867FAA' was not found"}})";

TEST(ClassifyStop, SuccessCarriesTheMessage) {
  auto reply = ClassifyStopReply(Reply(200, kOk), Ctx(), BatchStatus::kQueued);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->message, "Batch stopped");
  EXPECT_FALSE(reply->credits_refunded.has_value());
}

TEST(ClassifyStop, AnyTwoHundredStatusWithSuccessIsOk) {
  EXPECT_TRUE(ClassifyStopReply(Reply(201, kOk), Ctx(), BatchStatus::kRunning).ok());
}

TEST(ClassifyStop, RefundStatementInTheReplyIsRead) {
  auto top =
      ClassifyStopReply(Reply(200, R"({"request_info":{"success":true},"credits_refunded":false})"),
                        Ctx(), BatchStatus::kQueued);
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(top->credits_refunded, absl::optional<bool>(false));
  auto nested =
      ClassifyStopReply(Reply(200, R"({"request_info":{"success":true,"credits_refunded":200}})"),
                        Ctx(), BatchStatus::kRunning);
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(nested->credits_refunded, absl::optional<bool>(true));
}

TEST(ClassifyStop, MessageIsCleanedAndBounded) {
  std::string long_message(1000, 'x');
  auto reply = ClassifyStopReply(
      Reply(200, R"({"request_info":{"success":true,"message":"a\r\nb)" + long_message + "\"}}"),
      Ctx(), BatchStatus::kQueued);
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->message.substr(0, 3), "abx");
  EXPECT_LE(reply->message.size(), 256u);
}

TEST(ClassifyStop, MessageKeepsTextDropsWhatCouldFoolATerminal) {
  auto message = [](const std::string& json_message) {
    auto reply = ClassifyStopReply(
        Reply(200, R"({"request_info":{"success":true,"message":")" + json_message + "\"}}"), Ctx(),
        BatchStatus::kQueued);
    EXPECT_TRUE(reply.ok());
    return reply.ok() ? reply->message : "";
  };
  // Found by fuzzing: a C1 control (U+009B, the 8-bit CSI) passed through.
  EXPECT_EQ(message(R"(Batch \u009b31mstopped)"), "Batch 31mstopped");
  // Found by fuzzing: a final non-ASCII character was dropped.
  EXPECT_EQ(message("Batch gestoppt \u2713"), "Batch gestoppt \xE2\x9C\x93");
  EXPECT_EQ(message("caf\u00e9 \u65e5\u672c"), "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC");
  // Bidi overrides and line separators are dropped.
  EXPECT_EQ(message("a\u202eb\u2028c\u2066d"), "abcd");
  // Cut at 256 bytes, never inside a character.
  std::string many;
  for (int i = 0; i < 200; ++i) many += "\u00e9";
  std::string cut = message(many);
  EXPECT_EQ(cut.size(), 256u);
  EXPECT_EQ(cut.substr(254), "\xC3\xA9");
}

TEST(ClassifyStop, DeeplyNestedBodiesAreRefusedCheaply) {
  std::string deep(1 << 20, '[');
  absl::Time start = absl::Now();
  ExpectError(Stop(Reply(200, deep)), absl::StatusCode::kInternal, "UPSTREAM_BAD_RESPONSE");
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(100));
  // Brackets inside strings do not count.
  std::string ok =
      R"({"request_info":{"success":true,"message":")" + std::string(100, '[') + "\"}}";
  EXPECT_TRUE(ClassifyStopReply(Reply(200, ok), Ctx(), BatchStatus::kQueued).ok());
}

TEST(ClassifyStop, IdleBatchIsFailedPrecondition) {
  absl::Status s = Stop(Reply(400, kIdle));
  ExpectError(s, absl::StatusCode::kFailedPrecondition, "BATCH_NOT_STOPPABLE");
  auto pf = GetDetail<google::rpc::PreconditionFailure>(s);
  ASSERT_TRUE(pf.has_value());
  EXPECT_EQ(pf->violations(0).subject(), "batches/9E867FAA");
  // The same refusal with any status, even 200, means the same thing.
  ExpectError(Stop(Reply(200, kIdle)), absl::StatusCode::kFailedPrecondition,
              "BATCH_NOT_STOPPABLE");
  ExpectError(Stop(Reply(409, kIdle)), absl::StatusCode::kFailedPrecondition,
              "BATCH_NOT_STOPPABLE");
}

TEST(ClassifyStop, UnrecognisedRefusalOfABatchSeenIdleIsFailedPrecondition) {
  HttpResult r = Reply(400, R"({"request_info":{"success":false,"message":"Nope"}})");
  ExpectError(Stop(r, BatchStatus::kIdle), absl::StatusCode::kFailedPrecondition,
              "BATCH_NOT_STOPPABLE");
  // Without that evidence it is an unknown refusal.
  ExpectError(Stop(r, BatchStatus::kUnknown), absl::StatusCode::kInternal, "UPSTREAM_REJECTED");
}

TEST(ClassifyStop, UnknownBatchIsNotFound) {
  for (long code : {404L, 400L, 200L}) {
    absl::Status s = Stop(Reply(code, kNotFound));
    ExpectError(s, absl::StatusCode::kNotFound, "BATCH_NOT_FOUND");
    auto ri = GetDetail<google::rpc::ResourceInfo>(s);
    ASSERT_TRUE(ri.has_value());
    EXPECT_EQ(ri->resource_name(), "9E867FAA");
  }
  // A bare 404 with no body is about the batch too.
  ExpectError(Stop(Reply(404, "")), absl::StatusCode::kNotFound, "BATCH_NOT_FOUND");
}

TEST(ClassifyStop, NotFoundRouteIsInternal) {
  ExpectError(Stop(Reply(404, "<html><body>Not Found</body></html>")), absl::StatusCode::kInternal,
              "UPSTREAM_ROUTE_NOT_FOUND");
}

TEST(ClassifyStop, RejectedKeyIsInternalNotTheCallersFault) {
  absl::Status s = Stop(Reply(
      401, R"({"request_info":{"success":false,"message":"Supplied api_key is not valid"}})"));
  ExpectError(s, absl::StatusCode::kInternal, "UPSTREAM_AUTH_FAILED");
  EXPECT_NE(s.code(), absl::StatusCode::kUnauthenticated);
}

TEST(ClassifyStop, OutOfCreditsIsResourceExhaustedWithQuotaFailure) {
  absl::Status s =
      Stop(Reply(402, R"({"request_info":{"success":false,"message":"Out of credits"}})"));
  ExpectError(s, absl::StatusCode::kResourceExhausted, "CREDITS_EXHAUSTED");
  EXPECT_TRUE(GetDetail<google::rpc::QuotaFailure>(s).has_value());
}

TEST(ClassifyStop, RateLimitedCarriesRetryInfo) {
  absl::Status with_header = Stop(Reply(429, "", "7"));
  ExpectError(with_header, absl::StatusCode::kResourceExhausted, "RATE_LIMITED");
  EXPECT_EQ(RetryDelay(with_header), absl::Seconds(7));
  absl::Status without = Stop(Reply(429, "slow down"));
  ExpectError(without, absl::StatusCode::kResourceExhausted, "RATE_LIMITED");
  EXPECT_EQ(RetryDelay(without), absl::Seconds(2));  // the configured default
  absl::Status from_body = Stop(Reply(429, R"({"retry_after": 12})"));
  EXPECT_EQ(RetryDelay(from_body), absl::Seconds(12));
}

TEST(ClassifyStop, ServerErrorsAreUnavailable) {
  for (long code : {500L, 502L, 503L, 504L}) {
    absl::Status s = Stop(Reply(code, "<html>oops</html>"));
    ExpectError(s, absl::StatusCode::kUnavailable, "UPSTREAM_UNAVAILABLE");
    EXPECT_FALSE(GetDetail<google::rpc::RetryInfo>(s).has_value()) << code;
  }
  absl::Status hinted = Stop(Reply(503, R"({"message":"parsing incident","retry_after":3600})"));
  ExpectError(hinted, absl::StatusCode::kUnavailable, "UPSTREAM_UNAVAILABLE");
  EXPECT_EQ(RetryDelay(hinted), absl::Hours(1));
  EXPECT_EQ(RetryDelay(Stop(Reply(502, "", "30"))), absl::Seconds(30));
}

TEST(ClassifyStop, TransportFailuresAreUnavailable) {
  for (TransportError e : {TransportError::kResolve, TransportError::kConnect, TransportError::kTls,
                           TransportError::kConnectionLost, TransportError::kOther}) {
    absl::Status s = Stop(Failed(e));
    ExpectError(s, absl::StatusCode::kUnavailable, "UPSTREAM_UNAVAILABLE");
    // libcurl's code is for the debug log, never the caller's message.
    EXPECT_FALSE(absl::StrContains(s.message(), "libcurl")) << s.message();
  }
}

TEST(ClassifyStop, TimeoutDependsOnWhoseLimitItWas) {
  ClassifyContext callers = Ctx();
  callers.timeout_is_callers_deadline = true;
  ExpectError(Stop(Failed(TransportError::kTimeout), BatchStatus::kQueued, callers),
              absl::StatusCode::kDeadlineExceeded, "DEADLINE_EXCEEDED");
  ExpectError(Stop(Failed(TransportError::kTimeout)), absl::StatusCode::kUnavailable,
              "UPSTREAM_TIMEOUT");
}

TEST(ClassifyStop, CancelledTransferIsCancelled) {
  ExpectError(Stop(Failed(TransportError::kCancelled)), absl::StatusCode::kCancelled, "CANCELLED");
}

TEST(ClassifyStop, BadRepliesAreInternal) {
  ExpectError(Stop(Reply(200, "<html>hello</html>")), absl::StatusCode::kInternal,
              "UPSTREAM_BAD_RESPONSE");
  ExpectError(Stop(Reply(200, R"({"request_info":{"succ)")), absl::StatusCode::kInternal,
              "UPSTREAM_BAD_RESPONSE");
  ExpectError(Stop(Reply(200, R"({"ok":true})")), absl::StatusCode::kInternal,
              "UPSTREAM_BAD_RESPONSE");
  ExpectError(Stop(Reply(200, R"([1,2,3])")), absl::StatusCode::kInternal, "UPSTREAM_BAD_RESPONSE");
  ExpectError(Stop(Reply(200, "")), absl::StatusCode::kInternal, "UPSTREAM_BAD_RESPONSE");
  ExpectError(Stop(Reply(200, R"({"request_info":{"success":false,"message":"hmm"}})")),
              absl::StatusCode::kInternal, "UPSTREAM_BAD_RESPONSE");
  ExpectError(Stop(Failed(TransportError::kBodyTooLarge)), absl::StatusCode::kInternal,
              "UPSTREAM_BAD_RESPONSE");
  ExpectError(Stop(Failed(TransportError::kBadReply)), absl::StatusCode::kInternal,
              "UPSTREAM_BAD_RESPONSE");
  ExpectError(Stop(Failed(TransportError::kHeadersTooLarge)), absl::StatusCode::kInternal,
              "UPSTREAM_BAD_RESPONSE");
  ExpectError(Stop(Reply(501, "")), absl::StatusCode::kInternal, "UPSTREAM_BAD_RESPONSE");
}

TEST(ClassifyStop, OtherClientErrorsAreInternal) {
  for (long code : {400L, 403L, 405L, 418L, 422L}) {
    ExpectError(Stop(Reply(code, R"({"request_info":{"success":false,"message":"?"}})")),
                absl::StatusCode::kInternal, "UPSTREAM_REJECTED");
  }
}

TEST(ClassifyStop, RedirectsAreInternal) {
  ExpectError(Stop(Reply(302, "")), absl::StatusCode::kInternal, "UPSTREAM_REDIRECT");
}

TEST(ClassifyStop, MessagesNeverCarryTheUpstreamBody) {
  const std::string secret_body =
      R"({"request_info":{"success":false,"message":"SECRET-BODY-TEXT"}})";
  for (long code : {200L, 400L, 401L, 402L, 403L, 404L, 429L, 500L, 503L}) {
    absl::Status s = Stop(Reply(code, secret_body));
    EXPECT_EQ(std::string(s.message()).find("SECRET-BODY-TEXT"), std::string::npos) << code;
    EXPECT_EQ(std::string(s.message()).find("http"), std::string::npos) << s.message();
  }
}

TEST(ClassifyRead, StatusIsRead) {
  auto body = [](const char* status) {
    return std::string(R"({"request_info":{"success":true},"batch":{"id":"9E867FAA","status":")") +
           status + "\"}}";
  };
  EXPECT_EQ(*ClassifyBatchRead(Reply(200, body("queued")), Ctx()), BatchStatus::kQueued);
  EXPECT_EQ(*ClassifyBatchRead(Reply(200, body("running")), Ctx()), BatchStatus::kRunning);
  EXPECT_EQ(*ClassifyBatchRead(Reply(200, body("idle")), Ctx()), BatchStatus::kIdle);
  ExpectError(ClassifyBatchRead(Reply(200, body("paused")), Ctx()).status(),
              absl::StatusCode::kInternal, "UPSTREAM_BAD_RESPONSE");
  ExpectError(ClassifyBatchRead(Reply(200, R"({"request_info":{"success":true}})"), Ctx()).status(),
              absl::StatusCode::kInternal, "UPSTREAM_BAD_RESPONSE");
}

TEST(ClassifyRead, FailuresUseTheSameTable) {
  ExpectError(ClassifyBatchRead(Reply(404, kNotFound), Ctx()).status(), absl::StatusCode::kNotFound,
              "BATCH_NOT_FOUND");
  ExpectError(ClassifyBatchRead(Reply(401, ""), Ctx()).status(), absl::StatusCode::kInternal,
              "UPSTREAM_AUTH_FAILED");
  // "not stoppable" wording means nothing to a read.
  ExpectError(ClassifyBatchRead(Reply(400, kIdle), Ctx()).status(), absl::StatusCode::kInternal,
              "UPSTREAM_REJECTED");
}

TEST(RetryAfter, SecondsAndDates) {
  absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  EXPECT_EQ(ParseRetryAfter("120", now), absl::Seconds(120));
  EXPECT_EQ(ParseRetryAfter(" 5 ", now), absl::Seconds(5));
  EXPECT_EQ(ParseRetryAfter("999999", now), absl::Hours(1));
  EXPECT_FALSE(ParseRetryAfter("", now).has_value());
  EXPECT_FALSE(ParseRetryAfter("-3", now).has_value());
  EXPECT_FALSE(ParseRetryAfter("soon", now).has_value());
  // Found by fuzzing: a number too large for int64 was ignored (RFC 9110: a
  // very large value).
  EXPECT_EQ(ParseRetryAfter("9223372036857775807", now), absl::Hours(1));
  // 1700000000 is Tue, 14 Nov 2023 22:13:20 GMT.
  EXPECT_EQ(ParseRetryAfter("Tue, 14 Nov 2023 22:13:50 GMT", now), absl::Seconds(30));
  EXPECT_EQ(ParseRetryAfter("Tue, 14 Nov 2023 22:00:00 GMT", now), absl::ZeroDuration());
}

// "What counts as an upstream failure" is one function; the classifier's
// UNAVAILABLE answers agree with it for every status and transport error.
TEST(Verdict, OneDefinitionOfFailureAgreesWithTheClassifier) {
  ClassifyContext ctx;
  ctx.batch_id = "B1";
  for (long code : {200L, 204L, 301L, 400L, 401L, 402L, 404L, 409L, 429L, 500L, 501L, 502L, 503L,
                    504L, 505L, 599L}) {
    upstream::HttpResult r;
    r.http_status = code;
    r.body = R"({"request_info":{"success":false,"message":"x"}})";
    const Verdict v = JudgeResult(r, false);
    const bool five = code == 500 || code == 502 || code == 503 || code == 504;
    EXPECT_EQ(v.unavailable, five) << code;
    EXPECT_EQ(v.retryable, five) << code;
    EXPECT_EQ(v.rate_limited, code == 429) << code;
    EXPECT_TRUE(v.answered) << code;
    absl::StatusOr<BatchStatus> read = ClassifyBatchRead(r, ctx);
    EXPECT_EQ(!read.ok() && read.status().code() == absl::StatusCode::kUnavailable, five) << code;
  }
  struct Case {
    upstream::TransportError error;
    bool callers_deadline;
    bool unavailable, retryable, maybe_applied;
  };
  using TE = upstream::TransportError;
  for (const Case& c :
       {Case{TE::kResolve, false, true, false, false}, Case{TE::kConnect, false, true, true, false},
        Case{TE::kTls, false, true, false, false},
        Case{TE::kConnectionLost, false, true, true, true},
        Case{TE::kTimeout, false, true, true, true}, Case{TE::kTimeout, true, false, false, true},
        Case{TE::kBodyTooLarge, false, false, false, false},
        Case{TE::kHeadersTooLarge, false, false, false, false},
        Case{TE::kBadReply, false, false, false, false},
        Case{TE::kCancelled, false, false, false, false},
        Case{TE::kOther, false, true, false, true}}) {
    upstream::HttpResult r;
    r.error = c.error;
    const Verdict v = JudgeResult(r, c.callers_deadline);
    const char* name = upstream::TransportErrorName(c.error);
    EXPECT_EQ(v.unavailable, c.unavailable) << name;
    EXPECT_EQ(v.retryable, c.retryable) << name;
    EXPECT_EQ(v.maybe_applied, c.maybe_applied) << name;
    EXPECT_FALSE(v.rate_limited) << name;
    ctx.timeout_is_callers_deadline = c.callers_deadline;
    absl::StatusOr<BatchStatus> read = ClassifyBatchRead(r, ctx);
    ASSERT_FALSE(read.ok());
    EXPECT_EQ(read.status().code() == absl::StatusCode::kUnavailable, c.unavailable) << name;
  }
}

}  // namespace
}  // namespace serpwow::logic
