// What only the simulator's TLS mode has: session resumption, the counters,
// plain HTTP (or garbage) sent to the TLS port, certificate and key errors.
// Everything both transports share (connections, framing, faults, load,
// shutdown) is in simulator_transport_test.cc, run over plain HTTP and TLS.
// HTTPS over loopback with libcurl (CURLOPT_CAINFO = a throwaway test CA made
// by the openssl CLI). Durations are short and every wait is bounded.
#include <curl/curl.h>

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sim/simulator.h"
#include "tests/sim/sim_test_certs.h"
#include "tests/sim/sim_test_client.h"

namespace serpwow::sim {
namespace {

using testing::Client;
using ::testing::HasSubstr;
using testing::RawConnection;
using testing::Reply;
using testing::Transport;

constexpr char kKey[] = "sim-tls-test-key";

class SimulatorTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { curl_global_init(CURL_GLOBAL_DEFAULT); }

  void SetUp() override {
    ASSERT_TRUE(certs_->error().empty()) << certs_->error();
    StartSim(SimulatorOptions());
  }

  void StartSim(SimulatorOptions options) {
    sim_.reset();
    options.api_key = kKey;
    options.tls_cert_file = certs_->server_cert();
    options.tls_key_file = certs_->server_key();
    auto s = Simulator::Start(options);
    ASSERT_TRUE(s.ok()) << s.status();
    sim_ = std::move(*s);
  }

  std::string Url(const std::string& path,
                  const std::string& query = std::string("api_key=") + kKey) const {
    return "https://127.0.0.1:" + std::to_string(sim_->port()) + path +
           (query.empty() ? "" : "?" + query);
  }
  std::string Ca() const { return certs_->ca_cert(); }

  Reply Get(const std::string& path, long timeout_ms = 5000) {
    Client c(Ca());
    return c.Get(Url(path), timeout_ms);
  }

  // One shared-session resumption round: two easy handles, one CURLSH.
  void ExpectResumption(long ssl_version) {
    CURLSH* share = curl_share_init();
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    {
      Client first(Ca(), share, ssl_version);
      Reply a = first.Get(Url("/account"));
      ASSERT_EQ(a.code, CURLE_OK) << curl_easy_strerror(a.code);
      EXPECT_EQ(a.status, 200);
      EXPECT_EQ(sim_->tls_handshakes(), 1);
      EXPECT_EQ(sim_->tls_resumed_handshakes(), 0);

      Client second(Ca(), share, ssl_version);
      Reply b = second.Get(Url("/account"));
      ASSERT_EQ(b.code, CURLE_OK) << curl_easy_strerror(b.code);
      EXPECT_EQ(b.status, 200);
      EXPECT_EQ(sim_->connections_accepted(), 2);
      EXPECT_EQ(sim_->tls_handshakes(), 2);
      EXPECT_EQ(sim_->tls_resumed_handshakes(), 1);
    }
    curl_share_cleanup(share);
  }

  const testing::SimTestCerts* const certs_ = &testing::SharedSimTestCerts();
  std::unique_ptr<Simulator> sim_;
};

// --- Resumption and counters ---------------------------------------------------------

TEST_F(SimulatorTlsTest, SharedSessionResumesOverTls12) {
  ExpectResumption(CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2);
}

TEST_F(SimulatorTlsTest, SharedSessionResumesOverTls13) {
  // The server sends its TLS 1.3 tickets with the end of the handshake, so
  // they precede the first response: the client always holds one in time.
  ExpectResumption(CURL_SSLVERSION_TLSv1_3 | CURL_SSLVERSION_MAX_TLSv1_3);
}

TEST_F(SimulatorTlsTest, CountersStayZeroWithoutTls) {
  auto plain = Simulator::Start(SimulatorOptions());
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ((*plain)->base_url(), "http://127.0.0.1:" + std::to_string((*plain)->port()));
  EXPECT_EQ((*plain)->tls_handshakes(), 0);
  EXPECT_EQ((*plain)->tls_resumed_handshakes(), 0);
}

// --- Not TLS, or TLS that fails ----------------------------------------------------

TEST_F(SimulatorTlsTest, PlainHttpToTheTlsPortGets400AndTheServerKeepsServing) {
  Client plain(Ca());
  Reply r =
      plain.Get("http://127.0.0.1:" + std::to_string(sim_->port()) + "/account?api_key=" + kKey);
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(r.HasHeader("Connection: close")) << r.headers;
  EXPECT_THAT(r.body, HasSubstr("HTTPS only"));
  EXPECT_THAT(r.body, HasSubstr(sim_->base_url()));
  EXPECT_EQ(sim_->tls_handshakes(), 0);
  EXPECT_EQ(sim_->request_count(), 0);  // not a request the API saw

  // Not HTTP and not TLS either: the connection is just closed.
  {
    RawConnection garbage(sim_->port(), Transport::kPlain);
    ASSERT_TRUE(garbage.connected());
    ASSERT_TRUE(garbage.Send(std::string("\x01\x02\x03\x04\x05\x06\x07\x08 hello\r\n\r\n", 16)));
    RawConnection::End end = RawConnection::End::kTimeout;
    EXPECT_EQ(garbage.ReadUntilClose(&end), "");
    EXPECT_NE(end, RawConnection::End::kTimeout);
  }
  // A TLS client that does not trust the certificate gives up mid-handshake.
  {
    CURL* h = curl_easy_init();
    const std::string url = Url("/account");
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_CAINFO, certs_->other_ca_cert().c_str());
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    EXPECT_EQ(curl_easy_perform(h), CURLE_PEER_FAILED_VERIFICATION);
    curl_easy_cleanup(h);
  }
  EXPECT_EQ(sim_->tls_handshakes(), 0);
  EXPECT_EQ(sim_->connections_accepted(), 3);

  Reply ok = Get("/account");
  ASSERT_EQ(ok.code, CURLE_OK) << curl_easy_strerror(ok.code);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(sim_->tls_handshakes(), 1);
  EXPECT_EQ(sim_->request_count(), 1);
}

TEST_F(SimulatorTlsTest, BadCertificateOrKeyIsInvalidArgumentNamingTheFile) {
  struct Case {
    std::string cert, key, mention;
  };
  const std::string missing = certs_->dir() + "/no-such-file.pem";
  const std::vector<Case> cases = {
      {missing, certs_->server_key(), "tls_cert_file=" + missing},
      {certs_->garbage_file(), certs_->server_key(), "tls_cert_file=" + certs_->garbage_file()},
      {certs_->server_key(), certs_->server_key(), "tls_cert_file=" + certs_->server_key()},
      {certs_->server_cert(), missing, "tls_key_file=" + missing},
      {certs_->server_cert(), certs_->garbage_file(), "tls_key_file=" + certs_->garbage_file()},
      {certs_->server_cert(), certs_->other_key(), "tls_key_file=" + certs_->other_key()},
      {certs_->server_cert(), certs_->encrypted_server_key(),
       "tls_key_file=" + certs_->encrypted_server_key()},
      {certs_->server_cert(), "", "tls_key_file is not set"},
      {"", certs_->server_key(), "tls_cert_file is not set"},
  };
  for (const Case& k : cases) {
    SimulatorOptions o;
    o.tls_cert_file = k.cert;
    o.tls_key_file = k.key;
    auto s = Simulator::Start(o);
    ASSERT_FALSE(s.ok()) << k.mention;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
    EXPECT_THAT(std::string(s.status().message()), HasSubstr(k.mention));
  }
}

}  // namespace
}  // namespace serpwow::sim
