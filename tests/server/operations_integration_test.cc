// Running it like a production service, in process: health through a
// shutdown, the graceful drain, metrics scraped over HTTP, request ids,
// bearer-token auth and TLS/mTLS. Real gateway, real simulator, real gRPC
// clients and a real HTTP scrape, all on 127.0.0.1 with OS-picked ports.
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/unique_fd.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/support/gateway_fixture.h"
#include "tests/support/http_get.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_certs.h"

namespace serpwow::testing {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using sim::BatchState;

// Health of `service`: SERVING, NOT_SERVING, or the RPC's error code name.
std::string HealthOf(const std::shared_ptr<grpc::Channel>& channel, const std::string& service) {
  auto stub = Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
  HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return absl::StrCat("error ", status.error_code());
  return HealthCheckResponse::ServingStatus_Name(response.status());
}

// Parses the Prometheus text format: "name{labels}" -> value. Fails the test
// on a line that is neither a comment nor "series value".
std::map<std::string, double> ParseMetrics(const std::string& text) {
  std::map<std::string, double> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    size_t space = line.rfind(' ');
    EXPECT_NE(space, absl::string_view::npos) << line;
    if (space == absl::string_view::npos) continue;
    double value = 0;
    EXPECT_TRUE(absl::SimpleAtod(line.substr(space + 1), &value)) << line;
    out[std::string(line.substr(0, space))] = value;
  }
  return out;
}

class OperationsTest : public GatewayTest {
 protected:
  std::shared_ptr<grpc::Channel> Channel() {
    return grpc::CreateChannel(gateway_->address(), grpc::InsecureChannelCredentials());
  }
};

TEST_F(OperationsTest, HealthThroughAShutdown) {
  options_.drain_delay = absl::Milliseconds(800);
  StartAll();
  auto channel = Channel();
  for (const char* service : {"", "liveness", "readiness", "serpwow.batches.v1.BatchService"}) {
    EXPECT_EQ(HealthOf(channel, service), "SERVING") << service;
  }
  EXPECT_EQ(HealthOf(channel, "no.such.Service"), "error 5");  // NOT_FOUND

  std::thread shutdown([this] { gateway_->Shutdown(absl::Seconds(1)); });
  // During the drain delay the server still answers, and says it is going.
  absl::Time until = absl::Now() + absl::Seconds(2);
  while (HealthOf(channel, "readiness") == "SERVING" && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(HealthOf(channel, "readiness"), "NOT_SERVING");
  EXPECT_EQ(HealthOf(channel, ""), "NOT_SERVING");
  EXPECT_EQ(HealthOf(channel, "serpwow.batches.v1.BatchService"), "NOT_SERVING");
  EXPECT_EQ(HealthOf(channel, "liveness"), "SERVING");  // never tied to draining
  shutdown.join();
  // After the shutdown nothing answers any more.
  EXPECT_NE(HealthOf(Channel(), "liveness"), "SERVING");
}

TEST_F(OperationsTest, LivenessDoesNotDependOnTheUpstream) {
  StartAll();
  sim_.reset();  // the upstream is gone
  EXPECT_EQ(HealthOf(Channel(), "liveness"), "SERVING");
  EXPECT_EQ(HealthOf(Channel(), "readiness"), "SERVING");
}

TEST_F(OperationsTest, ShutdownLetsQuickCallsFinishAndEndsTheRestUnavailable) {
  StartAll();
  sim_->PutBatch("QUICK", BatchState::kQueued, 10);
  sim_->PutBatch("STUCK", BatchState::kQueued, 10);
  sim::Fault quick;
  quick.path_suffix = "/QUICK/stop";
  quick.delay = absl::Milliseconds(300);
  sim_->AddFault(quick);
  sim::Fault stuck;
  stuck.path_suffix = "/STUCK/stop";
  stuck.action = sim::Fault::Action::kHang;
  sim_->AddFault(stuck);

  struct Call {
    grpc::ClientContext context;
    v1::StopBatchRequest request;
    v1::StopBatchResponse response;
    grpc::Status status;
    absl::Notification done;
  };
  Call calls[2];
  const char* ids[2] = {"QUICK", "STUCK"};
  for (int i = 0; i < 2; ++i) {
    calls[i].context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    calls[i].request.set_batch_id(ids[i]);
    stub_->async()->StopBatch(&calls[i].context, &calls[i].request, &calls[i].response,
                              [&call = calls[i]](grpc::Status s) {
                                call.status = std::move(s);
                                call.done.Notify();
                              });
  }
  absl::Time until = absl::Now() + absl::Seconds(5);
  while (gateway_->upstream_in_flight() < 2 && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  const absl::Time start = absl::Now();
  gateway_->Shutdown(absl::Seconds(1));
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(calls[0].done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  ASSERT_TRUE(calls[1].done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_TRUE(calls[0].status.ok()) << calls[0].status.error_message();
  EXPECT_TRUE(calls[0].response.credits_refunded());
  EXPECT_EQ(calls[1].status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(absl::StrContains(calls[1].status.error_message(), "shutting down"));
  EXPECT_GE(took, absl::Milliseconds(900));
  EXPECT_LT(took, absl::Seconds(3));  // nothing outlives the grace by much
}

TEST_F(OperationsTest, MetricsAreScrapedOverHttp) {
  options_.metrics_listen = "127.0.0.1:0";
  StartAll();
  sim_->PutBatch("M1", BatchState::kQueued, 10);
  sim_->PutBatch("M2", BatchState::kIdle, 10);
  ASSERT_GT(gateway_->metrics_port(), 0);
  EXPECT_TRUE(Stop("M1").status.ok());
  EXPECT_EQ(Stop("M2").status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Stop("NOPE").status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Stop("bad/id").status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  auto [status, body] = HttpGet(gateway_->metrics_port(), "/metrics");
  ASSERT_EQ(status, 200);
  EXPECT_TRUE(absl::StrContains(body, "# TYPE serpwow_gateway_rpcs_total counter"));
  EXPECT_TRUE(absl::StrContains(body, "# TYPE serpwow_gateway_rpc_duration_seconds histogram"));
  std::map<std::string, double> m = ParseMetrics(body);
  EXPECT_EQ(m[R"(serpwow_gateway_rpcs_total{method="StopBatch",code="OK"})"], 1);
  EXPECT_EQ(m[R"(serpwow_gateway_rpcs_total{method="StopBatch",code="FAILED_PRECONDITION"})"], 1);
  EXPECT_EQ(m[R"(serpwow_gateway_rpcs_total{method="StopBatch",code="NOT_FOUND"})"], 1);
  EXPECT_EQ(m[R"(serpwow_gateway_rpcs_total{method="StopBatch",code="INVALID_ARGUMENT"})"], 1);
  EXPECT_EQ(m[R"(serpwow_gateway_rpc_duration_seconds_count{method="StopBatch"})"], 4);
  EXPECT_EQ(m[R"(serpwow_gateway_rpc_duration_seconds_bucket{method="StopBatch",le="+Inf"})"], 4);
  // Three RPCs reached the upstream: three reads (two 2xx, one 404) and three stops.
  EXPECT_EQ(
      m[R"(serpwow_gateway_upstream_requests_total{endpoint="get_batch",status_class="2xx"})"], 2);
  EXPECT_EQ(
      m[R"(serpwow_gateway_upstream_requests_total{endpoint="get_batch",status_class="4xx"})"], 1);
  EXPECT_EQ(
      m[R"(serpwow_gateway_upstream_requests_total{endpoint="stop_batch",status_class="2xx"})"], 1);
  EXPECT_EQ(
      m[R"(serpwow_gateway_upstream_requests_total{endpoint="stop_batch",status_class="4xx"})"], 2);
  EXPECT_EQ(m[R"(serpwow_gateway_upstream_duration_seconds_count{endpoint="stop_batch"})"], 3);
  EXPECT_EQ(m["serpwow_gateway_rpcs_in_flight"], 0);
  EXPECT_GE(m["serpwow_gateway_upstream_connections_opened_total"], 1);
  EXPECT_LE(m["serpwow_gateway_upstream_connections_opened_total"], 3);  // reused
  // No unbounded label values: no batch id, no key anywhere in the exposition.
  for (const char* secret : {"M1", "NOPE", kTestKey, "api_key"}) {
    EXPECT_FALSE(absl::StrContains(body, secret)) << secret;
  }
  EXPECT_EQ(HttpGet(gateway_->metrics_port(), "/").first, 404);
}

TEST_F(OperationsTest, RequestIdRoundTrip) {
  StartAll();
  sim_->PutBatch("R1", BatchState::kQueued, 10);
  auto call = [&](const char* request_id) {
    grpc::ClientContext context;
    if (request_id != nullptr) context.AddMetadata("x-request-id", request_id);
    v1::StopBatchRequest request;
    request.set_batch_id("R1");
    v1::StopBatchResponse response;
    // The first stop succeeds (initial metadata); the others are refused
    // (the batch is idle then), and errors carry it in the trailers.
    const bool ok = stub_->StopBatch(&context, request, &response).ok();
    const auto& metadata =
        ok ? context.GetServerInitialMetadata() : context.GetServerTrailingMetadata();
    auto it = metadata.find("x-request-id");
    return it == metadata.end() ? std::string() : std::string(it->second.data(), it->second.size());
  };
  EXPECT_EQ(call("req-7f3a.42"), "req-7f3a.42");
  std::string generated = call(nullptr);
  EXPECT_EQ(generated.size(), 32u);
  EXPECT_EQ(generated.find_first_not_of("0123456789abcdef"), std::string::npos) << generated;
  EXPECT_NE(call(nullptr), generated);
  // Hostile ids are replaced, not echoed.
  std::string replaced = call("bad id with spaces");
  EXPECT_EQ(replaced.size(), 32u);
}

// An error is Trailers-Only: its request id is in the trailing metadata, and
// no initial metadata commits the call.
TEST_F(OperationsTest, ErrorsCarryTheRequestIdInTheTrailers) {
  StartAll();
  grpc::ClientContext context;
  context.AddMetadata("x-request-id", "req-missing-1");
  v1::GetBatchRequest request;
  request.set_name("batches/NOSUCH");
  v1::Batch response;
  EXPECT_EQ(stub_->GetBatch(&context, request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(context.GetServerInitialMetadata().count("x-request-id"), 0u);
  auto it = context.GetServerTrailingMetadata().find("x-request-id");
  ASSERT_NE(it, context.GetServerTrailingMetadata().end());
  EXPECT_EQ(std::string(it->second.data(), it->second.size()), "req-missing-1");
}

// The sample retry policy of deploy/README.md retries every UNAVAILABLE the
// gateway answers, not only SHUTTING_DOWN: here SerpWow fails the gateway's
// own three attempts with 503 (UPSTREAM_UNAVAILABLE), and the client's
// policy sends the call again, which succeeds.
TEST_F(OperationsTest, ClientRetryPoliciesRetryTheGatewaysUnavailable) {
  StartAll();
  sim_->PutBatch("RETRY1", BatchState::kIdle, 10);
  sim::Fault fault;
  fault.status = 503;
  fault.body = "<html>down</html>";
  fault.headers = {{"Content-Type", "text/html"}};
  fault.times = 3;  // the gateway's own attempts
  sim_->AddFault(fault);
  grpc::ChannelArguments args;
  args.SetServiceConfigJSON(R"({"methodConfig": [{
      "name": [{"service": "serpwow.batches.v1.BatchService"}],
      "retryPolicy": {"maxAttempts": 2, "initialBackoff": "0.05s", "maxBackoff": "0.1s",
                      "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]})");
  auto channel =
      grpc::CreateCustomChannel(gateway_->address(), grpc::InsecureChannelCredentials(), args);
  auto stub = v1::BatchService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::GetBatchRequest request;
  request.set_name("batches/RETRY1");
  v1::Batch response;
  grpc::Status status = stub->GetBatch(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  EXPECT_EQ(response.batch_id(), "RETRY1");
  EXPECT_EQ(sim_->request_count(), 4) << "three failed attempts, then the client's retry";
}

TEST_F(OperationsTest, BearerTokensGateEveryCallButHealth) {
  char path[] = "/tmp/serpwow-tokens-XXXXXX";
  ASSERT_TRUE(UniqueFd(mkstemp(path)).valid());  // made, and closed again
  {
    std::ofstream out(path);
    out << "# callers\nold-token-0123456789abcdef\n\nnew-token-0123456789abcdef\n";
  }
  options_.auth_tokens_file = path;
  StartAll();
  sim_->PutBatch("A1", BatchState::kQueued, 10);
  auto call = [&](const std::string& authorization) {
    grpc::ClientContext context;
    if (!authorization.empty()) context.AddMetadata("authorization", authorization);
    v1::StopBatchRequest request;
    request.set_batch_id("A1");
    v1::StopBatchResponse response;
    return stub_->StopBatch(&context, request, &response);
  };
  EXPECT_EQ(call("").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(call("Bearer wrong-token-0123456789abc").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(call("Basic old-token-0123456789abcdef").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(sim_->request_count(), 0);                     // refused before any upstream call
  EXPECT_EQ(HealthOf(Channel(), "readiness"), "SERVING");  // probes need no token
  grpc::Status ok = call("Bearer new-token-0123456789abcdef");
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(call("Bearer old-token-0123456789abcdef").error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);  // accepted; the batch is idle now
  unlink(path);
}

class TlsTest : public GatewayTest {
 protected:
  static void SetUpTestSuite() { certs_ = new TestCerts(MakeTestCerts()); }
  static void TearDownTestSuite() {
    if (!certs_->dir.empty()) {
      RunProcess({"/bin/rm", "-rf", certs_->dir});
    }
    delete certs_;
  }

  std::shared_ptr<grpc::Channel> TlsChannel(const std::string& ca, bool client_cert) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadFileOrEmpty(ca);
    if (client_cert) {
      ssl.pem_cert_chain = ReadFileOrEmpty(certs_->client_cert);
      ssl.pem_private_key = ReadFileOrEmpty(certs_->client_key);
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    return grpc::CreateCustomChannel(gateway_->address(), grpc::SslCredentials(ssl), args);
  }

  static TestCerts* certs_;
};
TestCerts* TlsTest::certs_ = nullptr;

TEST_F(TlsTest, TlsCallersConnectPlaintextCallersFail) {
  ASSERT_EQ(certs_->error, "");
  options_.tls.cert_file = certs_->server_cert;
  options_.tls.key_file = certs_->server_key;
  StartAll();
  sim_->PutBatch("T1", BatchState::kQueued, 10);
  grpc::Status tls = StopOver(TlsChannel(certs_->ca_cert, false), "T1");
  EXPECT_TRUE(tls.ok()) << tls.error_message();
  grpc::Status plain =
      StopOver(grpc::CreateChannel(gateway_->address(), grpc::InsecureChannelCredentials()), "T1");
  EXPECT_EQ(plain.error_code(), grpc::StatusCode::UNAVAILABLE);
  grpc::Status wrong_ca = StopOver(TlsChannel(certs_->other_ca_cert, false), "T1");
  EXPECT_EQ(wrong_ca.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(sim_->request_count(), 2);  // only the TLS call reached the upstream
}

TEST_F(TlsTest, MutualTlsRequiresAClientCertificate) {
  ASSERT_EQ(certs_->error, "");
  options_.tls.cert_file = certs_->server_cert;
  options_.tls.key_file = certs_->server_key;
  options_.tls.client_ca_file = certs_->ca_cert;
  StartAll();
  sim_->PutBatch("T2", BatchState::kQueued, 10);
  EXPECT_EQ(StopOver(TlsChannel(certs_->ca_cert, false), "T2").error_code(),
            grpc::StatusCode::UNAVAILABLE);
  grpc::Status with_cert = StopOver(TlsChannel(certs_->ca_cert, true), "T2");
  EXPECT_TRUE(with_cert.ok()) << with_cert.error_message();
}

TEST_F(TlsTest, PlaintextHealthListenerForProbesWhenTlsIsOn) {
  ASSERT_EQ(certs_->error, "");
  options_.tls.cert_file = certs_->server_cert;
  options_.tls.key_file = certs_->server_key;
  options_.health_listen = "127.0.0.1:0";
  options_.drain_delay = absl::Milliseconds(600);
  StartAll();
  ASSERT_GT(gateway_->health_port(), 0);
  auto probe = grpc::CreateChannel(absl::StrCat("127.0.0.1:", gateway_->health_port()),
                                   grpc::InsecureChannelCredentials());
  EXPECT_EQ(HealthOf(probe, "liveness"), "SERVING");
  EXPECT_EQ(HealthOf(probe, "readiness"), "SERVING");
  // Only health there: no BatchService on the plaintext port.
  EXPECT_EQ(StopOver(probe, "X").error_code(), grpc::StatusCode::UNIMPLEMENTED);
  std::thread shutdown([this] { gateway_->Shutdown(absl::Seconds(1)); });
  absl::Time until = absl::Now() + absl::Seconds(2);
  while (HealthOf(probe, "readiness") == "SERVING" && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(HealthOf(probe, "readiness"), "NOT_SERVING");
  EXPECT_EQ(HealthOf(probe, "liveness"), "SERVING");
  shutdown.join();
}

TEST_F(TlsTest, BadTlsSettingsAreRefusedAtStart) {
  GatewayOptions o;
  o.listen = "127.0.0.1:0";
  o.upstream.base_url = "http://127.0.0.1:1";
  o.upstream.api_key = kTestKey;
  o.tls.cert_file = certs_->server_cert;  // no key
  EXPECT_EQ(Gateway::Start(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.tls.key_file = "/nonexistent.key";
  EXPECT_EQ(Gateway::Start(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.tls = TlsOptions{};
  o.tls.client_ca_file = certs_->ca_cert;  // mTLS without TLS
  EXPECT_EQ(Gateway::Start(o).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace serpwow::testing
