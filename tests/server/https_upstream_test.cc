// The gateway in front of an https upstream: the simulator in TLS mode on
// 127.0.0.1:0 with a throwaway CA (tests/support/test_certs.h), the gateway
// trusting only that CA (HttpLoopOptions::ca_file, batch-server's
// --upstream_ca_file). A successful StopBatch over TLS, connection reuse
// across calls (no second handshake), and the certificate actually checked.
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/support/gateway_fixture.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_certs.h"

namespace serpwow::testing {
namespace {

using sim::BatchState;

class HttpsUpstreamTest : public GatewayTest {
 protected:
  static void SetUpTestSuite() { certs_ = new TestCerts(MakeTestCerts()); }
  static void TearDownTestSuite() {
    if (!certs_->dir.empty()) RunProcess({"/bin/rm", "-rf", certs_->dir});
    delete certs_;
    certs_ = nullptr;
  }

  // The simulator over TLS with the test server certificate (CN=localhost,
  // SAN 127.0.0.1), the gateway trusting `ca_file`. One upstream loop, so
  // every call shares one connection pool.
  void StartOverTls(const std::string& ca_file) {
    ASSERT_EQ(certs_->error, "");
    sim::SimulatorOptions sim_options;
    sim_options.tls_cert_file = certs_->server_cert;
    sim_options.tls_key_file = certs_->server_key;
    options_.loop.ca_file = ca_file;
    options_.upstream_threads = 1;
    StartAll(sim_options);
  }

  static TestCerts* certs_;
};

TestCerts* HttpsUpstreamTest::certs_ = nullptr;

TEST_F(HttpsUpstreamTest, StopBatchOverHttpsRefundsAndReusesTheConnection) {
  StartOverTls(certs_->ca_cert);
  ASSERT_TRUE(absl::StartsWith(sim_->base_url(), "https://127.0.0.1:")) << sim_->base_url();
  sim_->PutBatch("TLSQ1", BatchState::kQueued, 120);
  sim_->PutBatch("TLSQ2", BatchState::kQueued, 30);
  const int64_t credits = sim_->credits();

  CallResult first = Stop("TLSQ1");
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  EXPECT_EQ(first.response.batch_id(), "TLSQ1");
  EXPECT_TRUE(first.response.credits_refunded());
  EXPECT_EQ(first.response.previous_status(), v1::BATCH_STATUS_QUEUED);
  EXPECT_EQ(sim_->GetBatch("TLSQ1")->state, BatchState::kIdle);
  EXPECT_EQ(sim_->credits(), credits + 120);
  EXPECT_EQ(sim_->request_count(), 2);  // read, then stop
  const int64_t handshakes = sim_->tls_handshakes();
  const int64_t connections = sim_->connections_accepted();
  EXPECT_EQ(handshakes, 1);  // the read and the stop shared one connection
  EXPECT_EQ(connections, 1);

  CallResult second = Stop("TLSQ2");
  ASSERT_TRUE(second.status.ok()) << second.status.error_message();
  EXPECT_TRUE(second.response.credits_refunded());
  EXPECT_EQ(sim_->credits(), credits + 150);
  EXPECT_EQ(sim_->request_count(), 4);
  // Kept alive: no new connection, no new TLS handshake (not even a resumed one).
  EXPECT_EQ(sim_->tls_handshakes(), handshakes);
  EXPECT_EQ(sim_->connections_accepted(), connections);
  EXPECT_EQ(sim_->tls_resumed_handshakes(), 0);
}

TEST_F(HttpsUpstreamTest, ACertificateFromAnotherCaIsRefused) {
  StartOverTls(certs_->other_ca_cert);
  sim_->PutBatch("TLSQ3", BatchState::kQueued, 10);
  CallResult r = Stop("TLSQ3");
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE) << r.status.error_message();
  EXPECT_EQ(r.Reason(), "UPSTREAM_UNAVAILABLE");
  auto info = r.Detail<google::rpc::ErrorInfo>();
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->metadata().at("transport_error"), "tls");
  EXPECT_EQ(sim_->tls_handshakes(), 0);
  EXPECT_EQ(sim_->request_count(), 0);  // nothing was sent, the key included
  EXPECT_EQ(sim_->GetBatch("TLSQ3")->state, BatchState::kQueued);
}

}  // namespace
}  // namespace serpwow::testing
