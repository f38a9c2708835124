// The simulator's behaviour that does not depend on the transport, tested
// once and run twice: over plain HTTP and over TLS (the simulator's TLS mode
// with a throwaway CA, tests/sim/sim_test_certs.h). Connections, framing,
// faults, load and shutdown. What only one transport has lives in
// simulator_test.cc (the API itself, the binary) and simulator_tls_test.cc
// (handshakes, resumption, plain HTTP to the TLS port, certificate errors).
#include <curl/curl.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sim/simulator.h"
#include "tests/sim/sim_test_certs.h"
#include "tests/sim/sim_test_client.h"

namespace serpwow::sim {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;
using ::testing::AnyOf;
using testing::Client;
using testing::CountOccurrences;
using ::testing::HasSubstr;
using testing::OpenFdCount;
using testing::RawConnection;
using testing::Reply;
using testing::RunMulti;
using ::testing::StartsWith;
using testing::Transport;
using testing::WaitFor;
using End = RawConnection::End;

constexpr char kKey[] = "sim-transport-test-key";
constexpr char kHtml404[] = "<html><body>Not Found</body></html>";

class SimulatorTransportTest : public ::testing::TestWithParam<Transport> {
 protected:
  static void SetUpTestSuite() { curl_global_init(CURL_GLOBAL_DEFAULT); }

  void SetUp() override {
    ASSERT_TRUE(certs_->error().empty()) << certs_->error();
    StartSim(SimulatorOptions());
  }

  bool tls() const { return GetParam() == Transport::kTls; }
  const char* scheme() const { return tls() ? "https" : "http"; }
  // What a counter of TLS handshakes reads after `n` of them over TLS (the
  // counters stay 0 over plain HTTP).
  int64_t Handshakes(int64_t n) const { return tls() ? n : 0; }

  void StartSim(SimulatorOptions options) {
    sim_.reset();
    options.api_key = kKey;
    if (tls()) {
      options.tls_cert_file = certs_->server_cert();
      options.tls_key_file = certs_->server_key();
    }
    auto s = Simulator::Start(options);
    ASSERT_TRUE(s.ok()) << s.status();
    sim_ = std::move(*s);
  }

  std::string Base(const std::string& host = "127.0.0.1") const {
    return std::string(scheme()) + "://" + host + ":" + std::to_string(sim_->port());
  }
  std::string Url(const std::string& path,
                  const std::string& query = std::string("api_key=") + kKey) const {
    return Base() + path + (query.empty() ? "" : "?" + query);
  }
  // A client for this transport (trusting the test CA over TLS).
  std::unique_ptr<Client> NewClient() const {
    return std::make_unique<Client>(tls() ? certs_->ca_cert() : "");
  }
  std::unique_ptr<RawConnection> Raw(int rcvbuf = 0) const {
    return std::make_unique<RawConnection>(sim_->port(), GetParam(), tls() ? certs_->ca_cert() : "",
                                           rcvbuf);
  }
  Reply Get(const std::string& path, long timeout_ms = 5000) {
    return NewClient()->Get(Url(path), timeout_ms);
  }
  // An easy handle for a multi-handle run: fresh connection, this transport.
  CURL* NewEasy(const std::string& url, long timeout_ms, std::string* body) const {
    CURL* e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    if (tls()) curl_easy_setopt(e, CURLOPT_CAINFO, certs_->ca_cert().c_str());
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &testing::AppendTo);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, body);
    return e;
  }

  const testing::SimTestCerts* const certs_ = &testing::SharedSimTestCerts();
  std::unique_ptr<Simulator> sim_;
};

// --- Basics ------------------------------------------------------------------------

TEST_P(SimulatorTransportTest, GetBatchReturnsTheDocumentedShape) {
  EXPECT_EQ(sim_->base_url(), Base());
  sim_->PutBatch("B1", BatchState::kIdle, 120, "My \"quoted\" batch");
  Reply r = Get("/batches/B1");
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.http_version, CURL_HTTP_VERSION_1_1);  // over TLS, ALPN never picks h2
  EXPECT_TRUE(r.HasHeader("Content-Type: application/json")) << r.headers;
  json j = r.Json();
  EXPECT_EQ(j["request_info"]["success"], true);
  const json& b = j["batch"];
  EXPECT_EQ(b["id"], "B1");
  EXPECT_EQ(b["name"], "My \"quoted\" batch");
  EXPECT_EQ(b["status"], "idle");
  EXPECT_EQ(b["enabled"], true);
  EXPECT_EQ(b["schedule_type"], "manual");
  EXPECT_EQ(b["priority"], "normal");
  EXPECT_EQ(b["credits_required"], 120);
  EXPECT_EQ(b["searches_total_count"], 120);
  EXPECT_EQ(b["next_result_set_id"], 1);
  EXPECT_EQ(b["results_count"], 0);
  EXPECT_THAT(b["created_at"].get<std::string>(),
              ::testing::MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z"));

  // By name too (the test certificate also names localhost).
  sim_->PutBatch("Q1", BatchState::kQueued, 10);
  Reply by_name =
      NewClient()->Get(Base("localhost") + "/batches/Q1/stop?api_key=" + std::string(kKey));
  ASSERT_EQ(by_name.code, CURLE_OK) << curl_easy_strerror(by_name.code);
  EXPECT_EQ(by_name.status, 200);
  EXPECT_EQ(sim_->GetBatch("Q1")->state, BatchState::kIdle);
  EXPECT_EQ(sim_->tls_handshakes(), Handshakes(2));
  EXPECT_EQ(sim_->request_count(), 2);
}

TEST_P(SimulatorTransportTest, LivePrefixWhenEnabledAndOnlyThen) {
  SimulatorOptions options;
  options.live_prefix = true;
  StartSim(options);
  EXPECT_EQ(sim_->base_url(), Base() + "/live");
  sim_->PutBatch("Q1", BatchState::kQueued, 10);
  EXPECT_EQ(Get("/live/batches/Q1").status, 200);
  EXPECT_EQ(Get("/live/account").status, 200);
  Reply bare = Get("/batches/Q1");
  EXPECT_EQ(bare.status, 404);
  EXPECT_EQ(bare.body, kHtml404);
  EXPECT_EQ(Get("/live/batches/Q1/stop").status, 200);
  EXPECT_EQ(sim_->GetBatch("Q1")->state, BatchState::kIdle);

  StartSim(SimulatorOptions());
  EXPECT_EQ(sim_->base_url(), Base());
  EXPECT_EQ(Get("/live/account").body, kHtml404);
  EXPECT_EQ(Get("/account").status, 200);
}

// --- Connections and framing -------------------------------------------------------

TEST_P(SimulatorTransportTest, KeepAliveReusesOneConnection) {
  auto c = NewClient();
  Reply a = c->Get(Url("/account"));
  Reply b = c->Get(Url("/batches"));
  ASSERT_EQ(a.code, CURLE_OK) << curl_easy_strerror(a.code);
  ASSERT_EQ(b.code, CURLE_OK) << curl_easy_strerror(b.code);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(b.status, 200);
  EXPECT_TRUE(a.HasHeader("Connection: keep-alive"));
  EXPECT_EQ(sim_->connections_accepted(), 1);
  EXPECT_EQ(sim_->tls_handshakes(), Handshakes(1));
  EXPECT_EQ(sim_->tls_resumed_handshakes(), 0);
  EXPECT_EQ(sim_->request_count(), 2);
}

TEST_P(SimulatorTransportTest, ConnectionCloseIsHonoured) {
  auto c = NewClient();
  Reply a = c->Get(Url("/account"), 5000, nullptr, {"Connection: close"});
  EXPECT_EQ(a.status, 200);
  EXPECT_TRUE(a.HasHeader("Connection: close"));
  EXPECT_EQ(c->Get(Url("/account")).status, 200);
  EXPECT_EQ(sim_->connections_accepted(), 2);
  EXPECT_EQ(sim_->tls_handshakes(), Handshakes(2));
}

TEST_P(SimulatorTransportTest, PipelinedRequestsAreAnsweredInOrderThenAnOrderlyClose) {
  auto conn = Raw();
  ASSERT_TRUE(conn->connected());
  const std::string key = std::string("?api_key=") + kKey;
  sim_->PutBatch("Q1", BatchState::kQueued, 1);
  ASSERT_TRUE(conn->Send("GET /batches/Q1" + key + " HTTP/1.1\r\nHost: x\r\n\r\n" +
                         "POST /account" + key + " HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello" +
                         "GET /account" + key + " HTTP/1.1\r\n\r\n" + "GET /batches/Q1/stop" + key +
                         " HTTP/1.1\r\nConnection: close\r\n\r\n"));
  End end = End::kTimeout;
  std::string all = conn->ReadUntilClose(&end);
  EXPECT_EQ(end, End::kOrderly);  // a FIN, or over TLS a close_notify: not a truncation
  EXPECT_EQ(CountOccurrences(all, "HTTP/1.1 "), 4) << all;
  EXPECT_EQ(CountOccurrences(all, "HTTP/1.1 200 OK\r\n"), 3) << all;
  size_t first = all.find("\"status\":\"queued\"");
  size_t second = all.find(kHtml404);
  size_t third = all.find("credits_remaining");
  size_t fourth = all.find("Batch stopped");
  ASSERT_NE(first, std::string::npos);
  ASSERT_NE(second, std::string::npos);
  ASSERT_NE(third, std::string::npos);
  ASSERT_NE(fourth, std::string::npos);
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
  EXPECT_LT(third, fourth);
  EXPECT_EQ(sim_->request_count(), 4);
}

TEST_P(SimulatorTransportTest, LargeRequestBodyThenAPipelinedRequest) {
  auto conn = Raw();
  ASSERT_TRUE(conn->connected());
  const std::string key = std::string("?api_key=") + kKey;
  // ~600 KiB in one write (over TLS dozens of 16 KiB records), then a GET.
  const std::string body(600 * 1024, 'b');
  ASSERT_TRUE(conn->Send("POST /account" + key +
                         " HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) +
                         "\r\n\r\n" + body + "GET /account" + key + " HTTP/1.1\r\n\r\n"));
  std::string all = conn->ReadUntil("credits_remaining", 1);
  EXPECT_THAT(all, StartsWith("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_THAT(all, HasSubstr("HTTP/1.1 200 OK\r\n"));
  EXPECT_EQ(sim_->request_count(), 2);
  EXPECT_EQ(sim_->connections_accepted(), 1);
}

TEST_P(SimulatorTransportTest, LargeResponsesToASlowReader) {
  for (int i = 0; i < 1000; ++i) {
    sim_->PutBatch("BATCH" + std::to_string(i), BatchState::kIdle, 1,
                   "a batch with a fairly long name, number " + std::to_string(i));
  }
  // A tiny receive window and a late reader: the server's writes block
  // (EAGAIN, or over TLS WANT_WRITE) while the second reply is appended
  // behind the first.
  auto conn = Raw(/*rcvbuf=*/4096);
  ASSERT_TRUE(conn->connected());
  const std::string req =
      std::string("GET /batches?page_size=1000&api_key=") + kKey + " HTTP/1.1\r\n\r\n";
  ASSERT_TRUE(conn->Send(req + req));
  std::this_thread::sleep_for(milliseconds(200));
  std::string all = conn->ReadUntil("\"count_this_page\":1000", 2);
  EXPECT_EQ(CountOccurrences(all, "\"count_this_page\":1000"), 2);
  EXPECT_GT(all.size(), 2u * 100 * 1024);
  const size_t second = all.find("HTTP/1.1 200 OK\r\n", 1);
  ASSERT_NE(second, std::string::npos);
  const size_t body_start = all.find("\r\n\r\n") + 4;
  EXPECT_NO_THROW(json::parse(all.substr(body_start, second - body_start)));
}

TEST_P(SimulatorTransportTest, MalformedRequestGets400AndClose) {
  auto conn = Raw();
  ASSERT_TRUE(conn->Send("GET /account HTTP/1.1\r\nBroken header\r\n\r\n"));
  End end = End::kTimeout;
  std::string all = conn->ReadUntilClose(&end);
  EXPECT_THAT(all, StartsWith("HTTP/1.1 400 Bad Request\r\n"));
  EXPECT_THAT(all, HasSubstr("Connection: close\r\n"));
  EXPECT_EQ(end, End::kOrderly);
  EXPECT_EQ(sim_->request_count(), 0);
}

TEST_P(SimulatorTransportTest, OversizedHeadersGet431AndClose) {
  auto conn = Raw();
  ASSERT_TRUE(
      conn->Send("GET /account HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n"));
  End end = End::kTimeout;
  EXPECT_THAT(conn->ReadUntilClose(&end), StartsWith("HTTP/1.1 431 "));
  EXPECT_NE(end, End::kTimeout);
}

TEST_P(SimulatorTransportTest, ChunkedRequestBodiesAreRefused) {
  auto conn = Raw();
  ASSERT_TRUE(conn->Send("POST /account HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
  End end = End::kTimeout;
  EXPECT_THAT(conn->ReadUntilClose(&end), StartsWith("HTTP/1.1 501 "));
  EXPECT_EQ(end, End::kOrderly);
}

TEST_P(SimulatorTransportTest, HeadGetsNoBodyAndKeepsTheFraming) {
  auto conn = Raw();
  const std::string key = std::string("?api_key=") + kKey;
  ASSERT_TRUE(conn->Send("HEAD /account" + key + " HTTP/1.1\r\n\r\nGET /account" + key +
                         " HTTP/1.1\r\nConnection: close\r\n\r\n"));
  End end = End::kTimeout;
  std::string all = conn->ReadUntilClose(&end);
  EXPECT_EQ(end, End::kOrderly);
  ASSERT_THAT(all, StartsWith("HTTP/1.1 404 Not Found\r\n"));
  size_t end_of_head = all.find("\r\n\r\n");
  ASSERT_NE(end_of_head, std::string::npos);
  EXPECT_THAT(all.substr(0, end_of_head),
              HasSubstr("Content-Length: " + std::to_string(sizeof(kHtml404) - 1)));
  EXPECT_THAT(all.substr(end_of_head + 4), StartsWith("HTTP/1.1 200 OK\r\n"));
}

TEST_P(SimulatorTransportTest, ExpectContinueIsAnswered) {
  auto conn = Raw();
  ASSERT_TRUE(
      conn->Send("POST /account HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  EXPECT_EQ(conn->ReadUntil("\r\n\r\n", 1), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(conn->Send("hello"));
  EXPECT_THAT(conn->ReadUntil(kHtml404, 1), StartsWith("HTTP/1.1 404 Not Found\r\n"));
}

TEST_P(SimulatorTransportTest, ConnectionsThatSendNothingAreClosedWhenTheClientLeaves) {
  const int fds = OpenFdCount();
  {
    auto a = Raw();
    auto b = Raw();
    ASSERT_TRUE(b->Send("GET /acc"));  // a partial request
    EXPECT_TRUE(WaitFor([&] { return sim_->connections_accepted() == 2; }));
  }
  EXPECT_TRUE(WaitFor([&] { return OpenFdCount() == fds; })) << OpenFdCount() << " vs " << fds;
  EXPECT_EQ(sim_->request_count(), 0);
}

// --- Faults ------------------------------------------------------------------------

TEST_P(SimulatorTransportTest, FaultRespondInjectsAStatusThenRunsOut) {
  sim_->PutBatch("Q1", BatchState::kQueued, 10);
  Fault f;
  f.path_suffix = "/stop";
  f.status = 429;
  f.headers = {{"X-Why", "rate"}};
  f.body = R"({"request_info":{"success":false,"message":"slow down"}})";
  f.times = 1;
  sim_->AddFault(f);
  auto c = NewClient();
  EXPECT_EQ(c->Get(Url("/batches/Q1")).status, 200);  // suffix does not match
  Reply r = c->Get(Url("/batches/Q1/stop"));
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.body, f.body);
  EXPECT_TRUE(r.HasHeader("X-Why: rate"));
  EXPECT_TRUE(r.HasHeader("Content-Type: application/json"));
  EXPECT_EQ(sim_->GetBatch("Q1")->state, BatchState::kQueued);
  EXPECT_EQ(c->Get(Url("/batches/Q1/stop")).status, 200);  // used up
  EXPECT_EQ(sim_->request_count(), 3);
  // An injected answer keeps the connection like a real one.
  EXPECT_EQ(sim_->connections_accepted(), 1);
  EXPECT_EQ(sim_->tls_handshakes(), Handshakes(1));
}

TEST_P(SimulatorTransportTest, FaultDelayThenNormalHandling) {
  sim_->PutBatch("Q1", BatchState::kQueued, 10);
  Fault f;
  f.path_suffix = "/stop";
  f.delay = absl::Milliseconds(150);
  sim_->AddFault(f);
  Reply r = Get("/batches/Q1/stop");
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Json()["request_info"]["message"], "Batch stopped");
  EXPECT_GE(r.elapsed.count(), 150);
  EXPECT_EQ(sim_->GetBatch("Q1")->state, BatchState::kIdle);
}

TEST_P(SimulatorTransportTest, FaultDropConnectionClosesWithoutAnswer) {
  sim_->PutBatch("Q1", BatchState::kQueued, 10);
  Fault f;
  f.action = Fault::Action::kDropConnection;
  f.times = 2;
  sim_->AddFault(f);
  Reply r = Get("/batches/Q1/stop");
  EXPECT_THAT(r.code, AnyOf(CURLE_GOT_NOTHING, CURLE_RECV_ERROR)) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(sim_->GetBatch("Q1")->state, BatchState::kQueued);  // not executed

  // Raw: no byte of a reply, then an orderly end (over TLS a close_notify).
  auto conn = Raw();
  ASSERT_TRUE(conn->connected());
  ASSERT_TRUE(conn->Send(std::string("GET /account?api_key=") + kKey + " HTTP/1.1\r\n\r\n"));
  End end = End::kTimeout;
  EXPECT_EQ(conn->ReadUntilClose(&end), "");
  EXPECT_EQ(end, End::kOrderly);
  EXPECT_EQ(sim_->request_count(), 2);
}

TEST_P(SimulatorTransportTest, FaultHangNeverAnswersAndIsClosedWhenTheClientLeaves) {
  Fault f;
  f.action = Fault::Action::kHang;
  f.delay = absl::Milliseconds(10);  // ignored for kHang
  sim_->AddFault(f);
  const int fds = OpenFdCount();
  Reply r = Get("/account", 300);
  EXPECT_EQ(r.code, CURLE_OPERATION_TIMEDOUT);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(sim_->request_count(), 1);
  // The client went away (its socket is closed): the server closes its side.
  EXPECT_TRUE(WaitFor([&] { return OpenFdCount() == fds; })) << OpenFdCount() << " vs " << fds;
}

TEST_P(SimulatorTransportTest, FaultStallAfterHeadersSendsOnlyTheHead) {
  Fault f;
  f.action = Fault::Action::kStallAfterHeaders;
  f.status = 200;
  f.body = R"({"request_info":{"success":true}})";
  sim_->AddFault(f);
  const int fds = OpenFdCount();
  Reply r = Get("/account", 300);
  EXPECT_EQ(r.code, CURLE_OPERATION_TIMEDOUT);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.HasHeader("Content-Length: " + std::to_string(f.body.size()))) << r.headers;
  EXPECT_TRUE(r.body.empty());
  EXPECT_TRUE(WaitFor([&] { return OpenFdCount() == fds; }));
}

TEST_P(SimulatorTransportTest, FaultSlowDripSendsOneBytePerIntervalAndKeepsTheConnection) {
  Fault f;
  f.action = Fault::Action::kSlowDrip;
  f.status = 200;
  f.body = "abcde";
  f.drip_interval = absl::Milliseconds(30);
  f.times = 1;
  sim_->AddFault(f);
  auto c = NewClient();
  Reply r = c->Get(Url("/account"));
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.body, "abcde");
  EXPECT_GE(r.elapsed.count(), 5 * 30);
  // The connection stays usable afterwards.
  EXPECT_EQ(c->Get(Url("/account")).status, 200);
  EXPECT_EQ(sim_->connections_accepted(), 1);
  EXPECT_EQ(sim_->tls_handshakes(), Handshakes(1));
}

TEST_P(SimulatorTransportTest, FaultResetMidBodyTruncatesAndResets) {
  Fault f;
  f.action = Fault::Action::kResetMidBody;
  f.status = 200;
  f.body = std::string(100, 'x');
  f.times = 1;
  sim_->AddFault(f);
  Reply r = Get("/account");
  EXPECT_THAT(r.code, AnyOf(CURLE_RECV_ERROR, CURLE_PARTIAL_FILE)) << curl_easy_strerror(r.code);
  EXPECT_LT(r.body.size(), 100u);
  EXPECT_EQ(r.status, 200);

  // Raw: the half body arrives, then an abrupt end (a reset; over TLS also
  // no close_notify).
  sim_->AddFault(f);
  auto conn = Raw();
  ASSERT_TRUE(conn->connected());
  ASSERT_TRUE(conn->Send(std::string("GET /account?api_key=") + kKey + " HTTP/1.1\r\n\r\n"));
  End end = End::kTimeout;
  std::string all = conn->ReadUntilClose(&end);
  EXPECT_EQ(end, End::kAbrupt);
  EXPECT_THAT(all, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(all, ::testing::EndsWith("\r\n\r\n" + std::string(50, 'x')));
}

TEST_P(SimulatorTransportTest, FaultResetMidBodyAfterTheStopTookEffect) {
  sim_->PutBatch("Q1", BatchState::kQueued, 60);
  const int64_t before = sim_->credits();
  Fault f;
  f.action = Fault::Action::kResetMidBody;  // status 0: the real reply, cut
  f.path_suffix = "/stop";
  sim_->AddFault(f);
  Reply r = Get("/batches/Q1/stop");
  EXPECT_NE(r.code, CURLE_OK);
  EXPECT_EQ(sim_->GetBatch("Q1")->state, BatchState::kIdle);
  EXPECT_EQ(sim_->credits(), before + 60);
}

// --- Load and shutdown -------------------------------------------------------------

TEST_P(SimulatorTransportTest, TwoHundredDelayedRequestsFinishTogether) {
  constexpr int kClients = 200;
  Fault f;
  f.delay = absl::Milliseconds(300);
  sim_->AddFault(f);
  CURLM* multi = curl_multi_init();
  std::vector<CURL*> easy(kClients);
  std::vector<std::string> bodies(kClients);
  const std::string url = Url("/account");
  for (int i = 0; i < kClients; ++i) {
    easy[i] = NewEasy(url, 10000, &bodies[i]);
    curl_multi_add_handle(multi, easy[i]);
  }
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(RunMulti(multi, kClients, milliseconds(10000)), kClients);
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, milliseconds(300));
  // Concurrent, not 200 x 300 ms; 200 full TLS handshakes on a shared
  // machine (and under sanitizers) get more room.
  EXPECT_LT(elapsed, milliseconds(tls() ? 4000 : 2000));
  for (int i = 0; i < kClients; ++i) {
    long status = 0;
    curl_easy_getinfo(easy[i], CURLINFO_RESPONSE_CODE, &status);
    EXPECT_EQ(status, 200) << i;
    EXPECT_THAT(bodies[i], HasSubstr("credits_remaining"));
    curl_multi_remove_handle(multi, easy[i]);
    curl_easy_cleanup(easy[i]);
  }
  curl_multi_cleanup(multi);
  EXPECT_EQ(sim_->connections_accepted(), kClients);
  EXPECT_EQ(sim_->tls_handshakes(), Handshakes(kClients));
  EXPECT_EQ(sim_->request_count(), kClients);
}

TEST_P(SimulatorTransportTest, DestructionWithOpenAndHangingConnectionsLeaksNoFds) {
  sim_.reset();
  const int fds_before = OpenFdCount();
  {
    StartSim(SimulatorOptions());
    Fault hang;
    hang.action = Fault::Action::kHang;
    hang.path_suffix = "/hang";
    sim_->AddFault(hang);

    // Connected, nothing sent (over TLS: mid-handshake, no ClientHello).
    RawConnection silent(sim_->port(), Transport::kPlain);
    ASSERT_TRUE(silent.connected());

    constexpr int kClients = 8;
    CURLM* multi = curl_multi_init();
    std::vector<CURL*> easy;
    std::vector<std::string> sinks(kClients);
    for (int i = 0; i < kClients; ++i) {
      CURL* e = NewEasy(Url(i % 2 ? "/hang" : "/account"), 5000, &sinks[static_cast<size_t>(i)]);
      curl_multi_add_handle(multi, e);
      easy.push_back(e);
    }
    // Half finish (their keep-alive connections stay open), half hang.
    EXPECT_EQ(RunMulti(multi, kClients / 2, milliseconds(5000)), kClients / 2);
    EXPECT_TRUE(WaitFor([&] { return sim_->request_count() == kClients; }));
    EXPECT_EQ(sim_->connections_accepted(), kClients + 1);
    EXPECT_EQ(sim_->tls_handshakes(), Handshakes(kClients));

    auto start = std::chrono::steady_clock::now();
    sim_.reset();  // must not wait for anyone
    EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1000));

    // The hanging clients now see the connection closed, promptly.
    EXPECT_EQ(RunMulti(multi, kClients / 2, milliseconds(3000)), kClients / 2);
    for (CURL* e : easy) {
      curl_multi_remove_handle(multi, e);
      curl_easy_cleanup(e);
    }
    curl_multi_cleanup(multi);
    End end = End::kTimeout;
    EXPECT_EQ(silent.ReadUntilClose(&end), "");
    EXPECT_NE(end, End::kTimeout);
  }
  EXPECT_EQ(OpenFdCount(), fds_before);
}

// Envoy style: one instantiation over both transports, named by
// testing::TransportName ("Transports/SimulatorTransportTest.X/Tls").
std::string TransportParamName(const ::testing::TestParamInfo<Transport>& param) {
  return testing::TransportName(param.param);
}

INSTANTIATE_TEST_SUITE_P(Transports, SimulatorTransportTest,
                         ::testing::Values(Transport::kPlain, Transport::kTls), TransportParamName);

}  // namespace
}  // namespace serpwow::sim
