// End-to-end tests of the SerpWow simulator: real HTTP/1.1 over loopback with
// libcurl (and a raw socket where curl would hide the framing), the simulator
// on an OS-picked port. Durations are short and every wait is bounded.
#include "sim/simulator.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/sim/sim_test_certs.h"
#include "tests/support/help_check.h"

namespace serpwow::sim {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;
using ::testing::AnyOf;
using ::testing::HasSubstr;

constexpr char kKey[] = "sim-test-key-7f3a9c";
constexpr char kHtml404[] = "<html><body>Not Found</body></html>";

struct Reply {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::string headers;
  milliseconds elapsed{0};

  json Json() const { return json::parse(body); }
  bool HasHeader(const std::string& line) const {
    return headers.find(line + "\r\n") != std::string::npos;
  }
};

size_t AppendTo(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// One CURL easy handle; reusing it reuses its connection (keep-alive).
class Client {
 public:
  Client() : h_(curl_easy_init()) {}
  ~Client() { curl_easy_cleanup(h_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // For https:// URLs: trust only this CA file.
  void TrustCa(const std::string& ca_file) {
    curl_easy_setopt(h_, CURLOPT_CAINFO, ca_file.c_str());
  }

  Reply Get(const std::string& url, long timeout_ms = 5000, const char* method = nullptr,
            const std::vector<std::string>& extra_headers = {}) {
    Reply r;
    curl_slist* headers = nullptr;
    for (const auto& h : extra_headers) headers = curl_slist_append(headers, h.c_str());
    curl_easy_setopt(h_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h_, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h_, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h_, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h_, CURLOPT_WRITEFUNCTION, &AppendTo);
    curl_easy_setopt(h_, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(h_, CURLOPT_HEADERFUNCTION, &AppendTo);
    curl_easy_setopt(h_, CURLOPT_HEADERDATA, &r.headers);
    auto start = std::chrono::steady_clock::now();
    r.code = curl_easy_perform(h_);
    r.elapsed = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
    curl_easy_getinfo(h_, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_setopt(h_, CURLOPT_HTTPHEADER, nullptr);
    curl_slist_free_all(headers);
    return r;
  }

 private:
  CURL* h_;
};

// A blocking loopback socket for framing tests.
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{2, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawConnection() { ::close(fd_); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return connected_; }
  void Send(const std::string& data) {
    ASSERT_EQ(::send(fd_, data.data(), data.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(data.size()));
  }
  // Everything until the server closes (or 2 s pass: then `*closed` is false).
  std::string ReadUntilClose(bool* closed) {
    std::string out;
    char buf[4096];
    while (true) {
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
        continue;
      }
      *closed = n == 0;
      return out;
    }
  }
  // Reads until `needle` has been seen `count` times (or a timeout/EOF).
  std::string ReadUntil(const std::string& needle, int count) {
    std::string out;
    char buf[4096];
    auto occurrences = [&] {
      int k = 0;
      for (size_t p = out.find(needle); p != std::string::npos; p = out.find(needle, p + 1)) ++k;
      return k;
    };
    while (occurrences() < count) {
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  int fd_;
  bool connected_ = false;
};

int CountOccurrences(const std::string& haystack, const std::string& needle) {
  int k = 0;
  for (size_t p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + 1)) {
    ++k;
  }
  return k;
}

// Polls `done` every 5 ms for at most `limit`.
bool WaitFor(const std::function<bool()>& done, milliseconds limit = milliseconds(3000)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return done();
}

int OpenFdCount() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
  }
  return n;
}

class SimulatorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { curl_global_init(CURL_GLOBAL_DEFAULT); }

  void SetUp() override { StartSim(SimulatorOptions()); }

  void StartSim(SimulatorOptions options) {
    sim_.reset();
    options.api_key = kKey;
    auto s = Simulator::Start(options);
    ASSERT_TRUE(s.ok()) << s.status();
    sim_ = std::move(*s);
  }

  std::string Url(const std::string& path,
                  const std::string& query = std::string("api_key=") + kKey) const {
    return "http://127.0.0.1:" + std::to_string(sim_->port()) + path +
           (query.empty() ? "" : "?" + query);
  }

  Reply Get(const std::string& path, long timeout_ms = 5000) {
    Client c;
    return c.Get(Url(path), timeout_ms);
  }

  std::unique_ptr<Simulator> sim_;
};

// --- Batches: get / start / stop -------------------------------------------------

TEST_F(SimulatorTest, GetBatchReturnsTheDocumentedShape) {
  sim_->PutBatch("B1", BatchState::kIdle, 120, "My \"quoted\" batch");
  Reply r = Get("/batches/B1");
  ASSERT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.status, 200);
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
}

TEST_F(SimulatorTest, BatchIdsArePercentDecodedAndEscapedInJson) {
  sim_->PutBatch("A B/\"C\"", BatchState::kIdle, 1);
  Reply r = Get("/batches/A%20B%2F%22C%22");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["batch"]["id"], "A B/\"C\"");
  Reply missing = Get("/batches/%3Cscript%3E");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.Json()["request_info"]["message"], "Batch with ID '<script>' was not found");
}

TEST_F(SimulatorTest, StartReservesCreditsAndQueues) {
  sim_->PutBatch("B1", BatchState::kIdle, 300);
  const int64_t before = sim_->credits();
  Reply r = Get("/batches/B1/start");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.Json();
  EXPECT_EQ(j["request_info"]["success"], true);
  EXPECT_EQ(j["request_info"]["message"], "Batch started");
  EXPECT_EQ(j["batch"]["status"], "queued");
  EXPECT_EQ(sim_->credits(), before - 300);
  ASSERT_TRUE(sim_->GetBatch("B1").has_value());
  EXPECT_EQ(sim_->GetBatch("B1")->state, BatchState::kQueued);
  EXPECT_EQ(sim_->GetBatch("B1")->credits_reserved, 300);

  Reply again = Get("/batches/B1/start");
  EXPECT_EQ(again.status, 400);
  EXPECT_EQ(again.Json()["request_info"]["success"], false);
  EXPECT_EQ(again.Json()["request_info"]["message"], "Batch is already queued or running");
  EXPECT_EQ(sim_->credits(), before - 300);
}

TEST_F(SimulatorTest, StartWithoutEnoughCreditsIs402) {
  sim_->PutBatch("B1", BatchState::kIdle, 500);
  sim_->SetCredits(499);
  Reply r = Get("/batches/B1/start");
  EXPECT_EQ(r.status, 402);
  EXPECT_EQ(r.Json()["request_info"]["success"], false);
  EXPECT_EQ(r.Json()["request_info"]["message"], "Insufficient credits to start this Batch");
  EXPECT_EQ(sim_->credits(), 499);
  EXPECT_EQ(sim_->GetBatch("B1")->state, BatchState::kIdle);
}

TEST_F(SimulatorTest, StopQueuedRefundsTheReservation) {
  const int64_t initial = sim_->credits();
  sim_->PutBatch("Q1", BatchState::kQueued, 200);
  EXPECT_EQ(sim_->credits(), initial - 200);
  Reply r = Get("/batches/Q1/stop");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json(),
            json::parse(R"({"request_info":{"success":true,"message":"Batch stopped"}})"));
  EXPECT_EQ(sim_->credits(), initial);
  EXPECT_EQ(sim_->GetBatch("Q1")->state, BatchState::kIdle);
  EXPECT_EQ(sim_->GetBatch("Q1")->credits_reserved, 0);
}

TEST_F(SimulatorTest, StopRunningDoesNotRefund) {
  const int64_t initial = sim_->credits();
  sim_->PutBatch("R1", BatchState::kRunning, 150);
  Reply r = Get("/batches/R1/stop");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["request_info"]["message"], "Batch stopped");
  EXPECT_EQ(sim_->credits(), initial - 150);
  EXPECT_EQ(sim_->GetBatch("R1")->state, BatchState::kIdle);
}

TEST_F(SimulatorTest, StopIdleUsesTheConfiguredStatus) {
  sim_->PutBatch("I1", BatchState::kIdle, 10);
  Reply r = Get("/batches/I1/stop");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Json(), json::parse(R"({"request_info":{"success":false,"message":
      "Batch is not currently queued or running, so it cannot be stopped"}})"));

  SimulatorOptions options;
  options.stop_idle_status = 409;
  StartSim(options);
  sim_->PutBatch("I1", BatchState::kIdle, 10);
  EXPECT_EQ(Get("/batches/I1/stop").status, 409);
}

TEST_F(SimulatorTest, StopReplyCanReportTheRefund) {
  SimulatorOptions options;
  options.stop_reply_reports_refund = true;
  StartSim(options);
  sim_->PutBatch("Q1", BatchState::kQueued, 10);
  sim_->PutBatch("R1", BatchState::kRunning, 10);
  json q = Get("/batches/Q1/stop").Json();
  EXPECT_EQ(q["credits_refunded"], true);
  EXPECT_EQ(q["previous_status"], "queued");
  json r = Get("/batches/R1/stop").Json();
  EXPECT_EQ(r["credits_refunded"], false);
  EXPECT_EQ(r["previous_status"], "running");
  // Off by default.
  StartSim(SimulatorOptions());
  sim_->PutBatch("Q1", BatchState::kQueued, 10);
  EXPECT_FALSE(Get("/batches/Q1/stop").Json().contains("credits_refunded"));
}

TEST_F(SimulatorTest, UnknownBatchUsesTheConfiguredStatus) {
  for (const char* op : {"", "/start", "/stop"}) {
    Reply r = Get(std::string("/batches/NOPE") + op);
    EXPECT_EQ(r.status, 404) << op;
    EXPECT_TRUE(r.HasHeader("Content-Type: application/json"));
    EXPECT_EQ(r.Json(), json::parse(R"({"request_info":{"success":false,
        "message":"Batch with ID 'NOPE' was not found"}})"));
  }
  SimulatorOptions options;
  options.unknown_batch_status = 400;
  StartSim(options);
  Reply r = Get("/batches/NOPE/stop");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Json()["request_info"]["message"], "Batch with ID 'NOPE' was not found");
}

// --- Auth ------------------------------------------------------------------------

TEST_F(SimulatorTest, MissingOrWrongKeyIs401) {
  sim_->PutBatch("B1", BatchState::kQueued, 10);
  const json expected = json::parse(
      R"({"request_info":{"success":false,"message":"Supplied api_key is not valid"}})");
  Client c;
  for (const std::string& query : {std::string(""), std::string("api_key="),
                                   std::string("api_key=wrong"), std::string("x=1")}) {
    Reply r = c.Get(Url("/batches/B1/stop", query));
    EXPECT_EQ(r.status, 401) << query;
    EXPECT_EQ(r.Json(), expected) << query;
  }
  EXPECT_EQ(sim_->GetBatch("B1")->state, BatchState::kQueued);  // nothing happened
  std::vector<RecordedRequest> recorded = sim_->requests();
  ASSERT_EQ(recorded.size(), 4u);
  EXPECT_FALSE(recorded[0].had_api_key);
  EXPECT_FALSE(recorded[1].had_api_key);  // present but empty
  EXPECT_TRUE(recorded[2].had_api_key);
  EXPECT_FALSE(recorded[3].had_api_key);
}

TEST_F(SimulatorTest, KeyIsPercentDecodedAndEmptyOptionAcceptsAnyKey) {
  SimulatorOptions options;
  StartSim(options);  // key kKey
  Client c;
  std::string encoded;
  for (unsigned char ch : std::string(kKey)) {
    encoded += '%';
    encoded += "0123456789ABCDEF"[ch >> 4];
    encoded += "0123456789ABCDEF"[ch & 15];
  }
  EXPECT_EQ(c.Get(Url("/account", "api_key=" + encoded)).status, 200);

  auto s = Simulator::Start([] {
    SimulatorOptions o;
    o.api_key = "";
    return o;
  }());
  ASSERT_TRUE(s.ok());
  std::string base = "http://127.0.0.1:" + std::to_string((*s)->port());
  EXPECT_EQ(c.Get(base + "/account?api_key=anything").status, 200);
  EXPECT_EQ(c.Get(base + "/account?api_key=").status, 401);
  EXPECT_EQ(c.Get(base + "/account").status, 401);
}

// --- Routing ---------------------------------------------------------------------

TEST_F(SimulatorTest, UnknownRoutesAndWrongVerbsAre404Html) {
  sim_->PutBatch("B1", BatchState::kQueued, 10);
  Client c;
  for (const char* path : {"/", "/batch/B1", "/batches/B1/pause", "/batches/B1/stop/x",
                           "/batches//stop", "/batches/", "/live/batches/B1"}) {
    Reply r = c.Get(Url(path));
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.body, kHtml404) << path;
    EXPECT_TRUE(r.HasHeader("Content-Type: text/html")) << path;
  }
  for (const char* method : {"POST", "PUT", "DELETE"}) {
    Reply r = c.Get(Url("/batches/B1/stop"), 5000, method);
    EXPECT_EQ(r.status, 404) << method;
    EXPECT_EQ(r.body, kHtml404);
  }
  // A wrong route is 404 whatever the key.
  EXPECT_EQ(c.Get(Url("/nope", "")).status, 404);
  EXPECT_EQ(sim_->GetBatch("B1")->state, BatchState::kQueued);
}

TEST_F(SimulatorTest, LivePrefixWhenEnabledAndOnlyThen) {
  SimulatorOptions options;
  options.live_prefix = true;
  StartSim(options);
  EXPECT_EQ(sim_->base_url(), "http://127.0.0.1:" + std::to_string(sim_->port()) + "/live");
  sim_->PutBatch("Q1", BatchState::kQueued, 10);
  EXPECT_EQ(Get("/live/batches/Q1").status, 200);
  EXPECT_EQ(Get("/live/account").status, 200);
  Reply bare = Get("/batches/Q1");
  EXPECT_EQ(bare.status, 404);
  EXPECT_EQ(bare.body, kHtml404);
  EXPECT_EQ(Get("/live/batches/Q1/stop").status, 200);
  EXPECT_EQ(sim_->GetBatch("Q1")->state, BatchState::kIdle);

  StartSim(SimulatorOptions());
  EXPECT_EQ(sim_->base_url(), "http://127.0.0.1:" + std::to_string(sim_->port()));
  EXPECT_EQ(Get("/live/account").body, kHtml404);
  EXPECT_EQ(Get("/account").status, 200);
}

// --- Stop all, list, account -----------------------------------------------------

TEST_F(SimulatorTest, StopAllStopsEveryActiveBatchWithTheRefundRules) {
  const int64_t initial = sim_->credits();
  sim_->PutBatch("Q1", BatchState::kQueued, 100);
  sim_->PutBatch("Q2", BatchState::kQueued, 20);
  sim_->PutBatch("R1", BatchState::kRunning, 7);
  sim_->PutBatch("I1", BatchState::kIdle, 1000);
  sim_->PutBatch("stopall", BatchState::kQueued, 1);  // the route wins over the id
  Reply r = Get("/batches/stopall");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json(), json::parse(R"({"request_info":{"success":true,"message":"4 Batches stopped"},
      "batches_stopped":4,"batches_failed_to_stop":0})"));
  EXPECT_EQ(sim_->credits(), initial - 7);
  for (const char* id : {"Q1", "Q2", "R1", "I1", "stopall"}) {
    EXPECT_EQ(sim_->GetBatch(id)->state, BatchState::kIdle) << id;
  }
  EXPECT_EQ(Get("/batches/stopall").Json()["batches_stopped"], 0);
}

TEST_F(SimulatorTest, ListFiltersSortsByNameAndPages) {
  sim_->PutBatch("X1", BatchState::kIdle, 1, "delta");
  sim_->PutBatch("X2", BatchState::kQueued, 1, "alpha");
  sim_->PutBatch("X3", BatchState::kRunning, 1, "charlie");
  sim_->PutBatch("X4", BatchState::kQueued, 1, "bravo");
  sim_->PutBatch("X5", BatchState::kIdle, 1, "echo");

  json all = Get("/batches").Json();
  EXPECT_EQ(all["request_info"]["success"], true);
  EXPECT_EQ(all["total_count"], 5);
  EXPECT_EQ(all["total_pages"], 1);
  EXPECT_EQ(all["current_page"], 1);
  EXPECT_EQ(all["count_this_page"], 5);
  std::vector<std::string> names;
  for (const json& b : all["batches"]) names.push_back(b["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"alpha", "bravo", "charlie", "delta", "echo"}));

  Client c;
  json page2 =
      c.Get(Url("/batches", std::string("api_key=") + kKey + "&page=2&page_size=2")).Json();
  EXPECT_EQ(page2["total_count"], 5);
  EXPECT_EQ(page2["total_pages"], 3);
  EXPECT_EQ(page2["current_page"], 2);
  EXPECT_EQ(page2["count_this_page"], 2);
  EXPECT_EQ(page2["batches"][0]["name"], "charlie");
  EXPECT_EQ(page2["batches"][1]["name"], "delta");

  json beyond =
      c.Get(Url("/batches", std::string("api_key=") + kKey + "&page=9&page_size=2")).Json();
  EXPECT_EQ(beyond["count_this_page"], 0);
  EXPECT_TRUE(beyond["batches"].empty());

  json queued = c.Get(Url("/batches", std::string("status=queued&api_key=") + kKey)).Json();
  EXPECT_EQ(queued["total_count"], 2);
  EXPECT_EQ(queued["batches"][0]["id"], "X2");
  EXPECT_EQ(queued["batches"][1]["id"], "X4");
  EXPECT_EQ(
      c.Get(Url("/batches", std::string("status=running&api_key=") + kKey)).Json()["total_count"],
      1);
  EXPECT_EQ(c.Get(Url("/batches", std::string("status=all&api_key=") + kKey)).Json()["total_count"],
            5);

  EXPECT_EQ(c.Get(Url("/batches", std::string("status=done&api_key=") + kKey)).status, 400);
  EXPECT_EQ(c.Get(Url("/batches", std::string("page=0&api_key=") + kKey)).status, 400);
  EXPECT_EQ(c.Get(Url("/batches", std::string("page_size=x&api_key=") + kKey)).status, 400);
  // page_size is capped at 1000.
  json big = c.Get(Url("/batches", std::string("page_size=5000&api_key=") + kKey)).Json();
  EXPECT_EQ(big["total_pages"], 1);
}

TEST_F(SimulatorTest, AccountReportsCreditsAndBatches) {
  SimulatorOptions options;
  options.initial_credits = 777;
  StartSim(options);
  sim_->PutBatch("Q1", BatchState::kQueued, 77);
  sim_->PutBatch("I1", BatchState::kIdle, 5);
  json j = Get("/account").Json();
  EXPECT_EQ(j["request_info"]["success"], true);
  EXPECT_EQ(j["account_info"]["credits_remaining"], 700);
  EXPECT_EQ(j["account_info"]["batches_used"], 2);
  sim_->SetCredits(5);
  EXPECT_EQ(Get("/account").Json()["account_info"]["credits_remaining"], 5);
}

// --- Timers ----------------------------------------------------------------------

TEST_F(SimulatorTest, QueuedBatchRunsThenFinishesOnTheTimers) {
  SimulatorOptions options;
  options.queue_delay = absl::Milliseconds(50);
  options.run_duration = absl::Milliseconds(100);
  StartSim(options);
  sim_->PutBatch("T1", BatchState::kIdle, 40);
  const int64_t initial = sim_->credits();
  ASSERT_EQ(Get("/batches/T1/start").status, 200);
  auto status = [&] { return Get("/batches/T1").Json()["batch"]["status"].get<std::string>(); };
  EXPECT_TRUE(WaitFor([&] { return status() == "running"; }));
  EXPECT_TRUE(WaitFor([&] { return status() == "idle"; }));
  json b = Get("/batches/T1").Json()["batch"];
  EXPECT_EQ(b["results_count"], 1);
  EXPECT_EQ(b["next_result_set_id"], 2);
  EXPECT_TRUE(b.contains("last_run"));
  EXPECT_EQ(sim_->credits(), initial - 40);  // the run consumed its reservation
  EXPECT_EQ(Get("/batches/T1/stop").status, 400);
}

// --- Connections -----------------------------------------------------------------

TEST_F(SimulatorTest, KeepAliveReusesOneConnection) {
  Client c;
  Reply a = c.Get(Url("/account"));
  Reply b = c.Get(Url("/batches"));
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(b.status, 200);
  EXPECT_TRUE(a.HasHeader("Connection: keep-alive"));
  EXPECT_EQ(sim_->connections_accepted(), 1);
  EXPECT_EQ(sim_->request_count(), 2);
}

TEST_F(SimulatorTest, ConnectionCloseIsHonoured) {
  Client c;
  Reply a = c.Get(Url("/account"), 5000, nullptr, {"Connection: close"});
  EXPECT_EQ(a.status, 200);
  EXPECT_TRUE(a.HasHeader("Connection: close"));
  EXPECT_EQ(c.Get(Url("/account")).status, 200);
  EXPECT_EQ(sim_->connections_accepted(), 2);
}

TEST_F(SimulatorTest, PipelinedRequestsAreAnsweredInOrder) {
  RawConnection conn(sim_->port());
  ASSERT_TRUE(conn.connected());
  const std::string key = std::string("?api_key=") + kKey;
  sim_->PutBatch("Q1", BatchState::kQueued, 1);
  conn.Send("GET /batches/Q1" + key + " HTTP/1.1\r\nHost: x\r\n\r\n" + "POST /account" + key +
            " HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello" + "GET /batches/Q1/stop" + key +
            " HTTP/1.1\r\nConnection: close\r\n\r\n");
  bool closed = false;
  std::string all = conn.ReadUntilClose(&closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(CountOccurrences(all, "HTTP/1.1 "), 3) << all;
  size_t first = all.find("\"status\":\"queued\"");
  size_t second = all.find(kHtml404);
  size_t third = all.find("Batch stopped");
  ASSERT_NE(first, std::string::npos);
  ASSERT_NE(second, std::string::npos);
  ASSERT_NE(third, std::string::npos);
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
  EXPECT_EQ(sim_->request_count(), 3);
}

TEST_F(SimulatorTest, MalformedRequestGets400AndClose) {
  RawConnection conn(sim_->port());
  conn.Send("GET /account HTTP/1.1\r\nBroken header\r\n\r\n");
  bool closed = false;
  std::string all = conn.ReadUntilClose(&closed);
  EXPECT_THAT(all, ::testing::StartsWith("HTTP/1.1 400 Bad Request\r\n"));
  EXPECT_THAT(all, HasSubstr("Connection: close\r\n"));
  EXPECT_TRUE(closed);
  EXPECT_EQ(sim_->request_count(), 0);
}

TEST_F(SimulatorTest, OversizedHeadersGet431AndClose) {
  RawConnection conn(sim_->port());
  conn.Send("GET /account HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
  bool closed = false;
  std::string all = conn.ReadUntilClose(&closed);
  EXPECT_THAT(all, ::testing::StartsWith("HTTP/1.1 431 "));
  EXPECT_TRUE(closed);
}

TEST_F(SimulatorTest, ChunkedRequestBodiesAreRefused) {
  RawConnection conn(sim_->port());
  conn.Send("POST /account HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  bool closed = false;
  EXPECT_THAT(conn.ReadUntilClose(&closed), ::testing::StartsWith("HTTP/1.1 501 "));
  EXPECT_TRUE(closed);
}

TEST_F(SimulatorTest, HeadGetsNoBodyAndKeepsTheFraming) {
  RawConnection conn(sim_->port());
  const std::string key = std::string("?api_key=") + kKey;
  conn.Send("HEAD /account" + key + " HTTP/1.1\r\n\r\nGET /account" + key +
            " HTTP/1.1\r\nConnection: close\r\n\r\n");
  bool closed = false;
  std::string all = conn.ReadUntilClose(&closed);
  EXPECT_TRUE(closed);
  ASSERT_THAT(all, ::testing::StartsWith("HTTP/1.1 404 Not Found\r\n"));
  size_t end_of_head = all.find("\r\n\r\n");
  ASSERT_NE(end_of_head, std::string::npos);
  EXPECT_THAT(all.substr(0, end_of_head),
              HasSubstr("Content-Length: " + std::to_string(sizeof(kHtml404) - 1)));
  EXPECT_THAT(all.substr(end_of_head + 4), ::testing::StartsWith("HTTP/1.1 200 OK\r\n"));
}

TEST_F(SimulatorTest, ExpectContinueIsAnswered) {
  RawConnection conn(sim_->port());
  conn.Send("POST /account HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(conn.ReadUntil("\r\n\r\n", 1), "HTTP/1.1 100 Continue\r\n\r\n");
  conn.Send("hello");
  EXPECT_THAT(conn.ReadUntil(kHtml404, 1), ::testing::StartsWith("HTTP/1.1 404 Not Found\r\n"));
}

TEST_F(SimulatorTest, ConnectionsThatSendNothingAreClosedWhenTheClientLeaves) {
  const int fds = OpenFdCount();
  {
    RawConnection a(sim_->port());
    RawConnection b(sim_->port());
    b.Send("GET /acc");  // a partial request
    EXPECT_TRUE(WaitFor([&] { return sim_->connections_accepted() == 2; }));
  }
  EXPECT_TRUE(WaitFor([&] { return OpenFdCount() == fds; }));
  EXPECT_EQ(sim_->request_count(), 0);
}

// --- Faults ----------------------------------------------------------------------

TEST_F(SimulatorTest, FaultRespondInjectsAStatusThenRunsOut) {
  sim_->PutBatch("Q1", BatchState::kQueued, 10);
  Fault f;
  f.path_suffix = "/stop";
  f.status = 429;
  f.headers = {{"X-Why", "rate"}};
  f.body = R"({"request_info":{"success":false,"message":"slow down"}})";
  f.times = 1;
  sim_->AddFault(f);
  Client c;
  EXPECT_EQ(c.Get(Url("/batches/Q1")).status, 200);  // suffix does not match
  Reply r = c.Get(Url("/batches/Q1/stop"));
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.body, f.body);
  EXPECT_TRUE(r.HasHeader("X-Why: rate"));
  EXPECT_TRUE(r.HasHeader("Content-Type: application/json"));
  EXPECT_EQ(sim_->GetBatch("Q1")->state, BatchState::kQueued);
  EXPECT_EQ(c.Get(Url("/batches/Q1/stop")).status, 200);  // used up
  EXPECT_EQ(sim_->request_count(), 3);
}

TEST_F(SimulatorTest, FaultsApplyBeforeAuthAndAreMatchedWithoutLivePrefix) {
  SimulatorOptions options;
  options.live_prefix = true;
  StartSim(options);
  Fault f;
  f.path_suffix = "/batches/ABC";
  f.status = 503;
  f.body = "down";
  f.headers = {{"Content-Type", "text/plain"}};
  sim_->AddFault(f);
  Client c;
  Reply r = c.Get(Url("/live/batches/ABC", ""));  // no key at all
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "down");
  EXPECT_TRUE(r.HasHeader("Content-Type: text/plain"));
  EXPECT_EQ(c.Get(Url("/live/batches/ABC")).status, 503);  // times = -1: every time
  sim_->ClearFaults();
  EXPECT_EQ(c.Get(Url("/live/batches/ABC")).status, 404);
  auto recorded = sim_->requests();
  ASSERT_EQ(recorded.size(), 3u);
  EXPECT_FALSE(recorded[0].had_api_key);
  EXPECT_EQ(recorded[0].path, "/live/batches/ABC");
  EXPECT_TRUE(recorded[1].had_api_key);
}

TEST_F(SimulatorTest, FirstMatchingFaultWins) {
  Fault a;
  a.status = 500;
  a.times = 1;
  Fault b;
  b.status = 502;
  b.times = 1;
  sim_->AddFault(a);
  sim_->AddFault(b);
  Client c;
  EXPECT_EQ(c.Get(Url("/account")).status, 500);
  EXPECT_EQ(c.Get(Url("/account")).status, 502);
  EXPECT_EQ(c.Get(Url("/account")).status, 200);
}

TEST_F(SimulatorTest, FaultDelayThenNormalHandling) {
  sim_->PutBatch("Q1", BatchState::kQueued, 10);
  Fault f;
  f.path_suffix = "/stop";
  f.delay = absl::Milliseconds(150);
  sim_->AddFault(f);
  Reply r = Get("/batches/Q1/stop");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Json()["request_info"]["message"], "Batch stopped");
  EXPECT_GE(r.elapsed.count(), 150);
  EXPECT_EQ(sim_->GetBatch("Q1")->state, BatchState::kIdle);
}

TEST_F(SimulatorTest, FaultDropConnectionClosesWithoutAnswer) {
  sim_->PutBatch("Q1", BatchState::kQueued, 10);
  Fault f;
  f.action = Fault::Action::kDropConnection;
  f.times = 1;
  sim_->AddFault(f);
  Reply r = Get("/batches/Q1/stop");
  EXPECT_THAT(r.code, AnyOf(CURLE_GOT_NOTHING, CURLE_RECV_ERROR)) << curl_easy_strerror(r.code);
  EXPECT_EQ(sim_->GetBatch("Q1")->state, BatchState::kQueued);  // not executed
  EXPECT_EQ(sim_->request_count(), 1);
}

TEST_F(SimulatorTest, FaultHangNeverAnswers) {
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

TEST_F(SimulatorTest, FaultStallAfterHeadersSendsOnlyTheHead) {
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

TEST_F(SimulatorTest, FaultSlowDripSendsOneBytePerInterval) {
  Fault f;
  f.action = Fault::Action::kSlowDrip;
  f.status = 200;
  f.body = "abcde";
  f.drip_interval = absl::Milliseconds(30);
  f.times = 1;
  sim_->AddFault(f);
  Client c;
  Reply r = c.Get(Url("/account"));
  ASSERT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.body, "abcde");
  EXPECT_GE(r.elapsed.count(), 5 * 30);
  // The connection stays usable afterwards.
  EXPECT_EQ(c.Get(Url("/account")).status, 200);
  EXPECT_EQ(sim_->connections_accepted(), 1);
}

TEST_F(SimulatorTest, FaultSlowDripOfTheNormalResponse) {
  Fault f;
  f.action = Fault::Action::kSlowDrip;
  f.drip_interval = absl::Milliseconds(1);
  sim_->AddFault(f);
  Reply r = Get("/account");
  ASSERT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.Json()["account_info"]["credits_remaining"], sim_->credits());
}

TEST_F(SimulatorTest, FaultResetMidBodyTruncatesAndResets) {
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
}

TEST_F(SimulatorTest, FaultResetMidBodyAfterTheStopTookEffect) {
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

// --- Recording -------------------------------------------------------------------

TEST_F(SimulatorTest, RecordsRequestsWithoutTheKey) {
  SetMinLogLevel(LogLevel::kDebug);
  ::testing::internal::CaptureStderr();
  sim_->PutBatch("Q1", BatchState::kQueued, 1);
  Client c;
  c.Get(Url("/batches/Q1/stop", std::string("api_key=") + kKey + "&source=test"));
  c.Get(Url("/nope", std::string("api_key=") + kKey));
  c.Get(Url("/account", ""));
  c.Get(Url("/batches/Q1"), 5000, "DELETE");
  c.Get(Url(std::string("/batches/Q1&api_key=") + kKey, ""));  // "?" forgotten
  ASSERT_TRUE(FlushLogs(absl::Seconds(5)));  // lines are written by a background thread
  std::string log = ::testing::internal::GetCapturedStderr();
  SetMinLogLevel(LogLevel::kInfo);

  EXPECT_EQ(sim_->request_count(), 5);
  std::vector<RecordedRequest> recorded = sim_->requests();
  ASSERT_EQ(recorded.size(), 5u);
  EXPECT_EQ(recorded[0].method, "GET");
  EXPECT_EQ(recorded[0].path, "/batches/Q1/stop");
  EXPECT_TRUE(recorded[0].had_api_key);
  EXPECT_EQ(recorded[1].path, "/nope");
  EXPECT_EQ(recorded[2].path, "/account");
  EXPECT_FALSE(recorded[2].had_api_key);
  EXPECT_EQ(recorded[3].method, "DELETE");
  EXPECT_EQ(recorded[4].path, "/batches/Q1&api_key=REDACTED");
  for (const RecordedRequest& r : recorded) {
    EXPECT_THAT(r.method + r.path, ::testing::Not(HasSubstr(kKey)));
    EXPECT_THAT(r.path, ::testing::Not(HasSubstr("?")));
  }
  EXPECT_THAT(log, HasSubstr("/batches/Q1/stop -> 200"));
  EXPECT_THAT(log, ::testing::Not(HasSubstr(kKey)));

  sim_->ResetRequests();
  EXPECT_EQ(sim_->request_count(), 0);
  EXPECT_TRUE(sim_->requests().empty());
}

// --- Load and shutdown -----------------------------------------------------------

// Drives `handles` on one multi handle until all finish or `limit` passes.
// Returns the number finished.
int RunMulti(CURLM* multi, int handles, milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  int running = handles;
  int finished = 0;
  while (finished < handles && std::chrono::steady_clock::now() < deadline) {
    curl_multi_perform(multi, &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg == CURLMSG_DONE) ++finished;
    }
    if (finished < handles) curl_multi_poll(multi, nullptr, 0, 20, nullptr);
  }
  return finished;
}

TEST_F(SimulatorTest, TwoHundredDelayedRequestsFinishTogether) {
  constexpr int kClients = 200;
  Fault f;
  f.delay = absl::Milliseconds(300);
  sim_->AddFault(f);
  CURLM* multi = curl_multi_init();
  std::vector<CURL*> easy(kClients);
  std::vector<std::string> bodies(kClients);
  const std::string url = Url("/account");
  for (int i = 0; i < kClients; ++i) {
    easy[i] = curl_easy_init();
    curl_easy_setopt(easy[i], CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy[i], CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(easy[i], CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, &AppendTo);
    curl_easy_setopt(easy[i], CURLOPT_WRITEDATA, &bodies[i]);
    curl_multi_add_handle(multi, easy[i]);
  }
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(RunMulti(multi, kClients, milliseconds(5000)), kClients);
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, milliseconds(300));
  EXPECT_LT(elapsed, milliseconds(2000));  // concurrent, not 200 x 300 ms
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
  EXPECT_EQ(sim_->request_count(), kClients);
}

TEST(SimulatorLifecycleTest, DestructionWithOpenAndHangingConnectionsLeaksNoFds) {
  const int fds_before = OpenFdCount();
  {
    auto s = Simulator::Start(SimulatorOptions());
    ASSERT_TRUE(s.ok());
    std::unique_ptr<Simulator> sim = std::move(*s);
    Fault hang;
    hang.action = Fault::Action::kHang;
    hang.path_suffix = "/hang";
    sim->AddFault(hang);

    constexpr int kClients = 8;
    CURLM* multi = curl_multi_init();
    std::vector<CURL*> easy;
    const std::string base = "http://127.0.0.1:" + std::to_string(sim->port());
    for (int i = 0; i < kClients; ++i) {
      CURL* e = curl_easy_init();
      const std::string url = base + (i % 2 ? "/hang" : "/account") + "?api_key=simulator-key";
      curl_easy_setopt(e, CURLOPT_URL, url.c_str());
      curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
      curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
      curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &AppendTo);
      std::string* sink = new std::string;
      curl_easy_setopt(e, CURLOPT_WRITEDATA, sink);
      curl_easy_setopt(e, CURLOPT_PRIVATE, sink);
      curl_multi_add_handle(multi, e);
      easy.push_back(e);
    }
    // Half finish (keep-alive connections stay open), half hang.
    EXPECT_EQ(RunMulti(multi, kClients / 2, milliseconds(3000)), kClients / 2);
    EXPECT_TRUE(WaitFor([&] { return sim->request_count() == kClients; }));
    EXPECT_EQ(sim->connections_accepted(), kClients);

    auto start = std::chrono::steady_clock::now();
    sim.reset();  // must not wait for the hanging clients
    EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1000));

    // The hanging clients now see the connection closed, promptly.
    EXPECT_EQ(RunMulti(multi, kClients / 2, milliseconds(3000)), kClients / 2);
    for (CURL* e : easy) {
      std::string* sink = nullptr;
      curl_easy_getinfo(e, CURLINFO_PRIVATE, &sink);
      delete sink;
      curl_multi_remove_handle(multi, e);
      curl_easy_cleanup(e);
    }
    curl_multi_cleanup(multi);
  }
  EXPECT_EQ(OpenFdCount(), fds_before);
}

TEST(SimulatorLifecycleTest, RefusesNonLoopbackHostsAndBadOptions) {
  for (const char* host :
       {"0.0.0.0", "192.168.1.10", "8.8.8.8", "::", "example.com", "", "::ffff:127.0.0.1"}) {
    SimulatorOptions o;
    o.host = host;
    auto s = Simulator::Start(o);
    ASSERT_FALSE(s.ok()) << host;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << host;
    EXPECT_THAT(std::string(s.status().message()), HasSubstr("loopback")) << host;
  }
  SimulatorOptions bad_port;
  bad_port.port = 70000;
  EXPECT_EQ(Simulator::Start(bad_port).status().code(), absl::StatusCode::kInvalidArgument);
  SimulatorOptions bad_status;
  bad_status.stop_idle_status = 42;
  EXPECT_EQ(Simulator::Start(bad_status).status().code(), absl::StatusCode::kInvalidArgument);
  SimulatorOptions bad_delay;
  bad_delay.queue_delay = absl::Seconds(-1);
  EXPECT_EQ(Simulator::Start(bad_delay).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SimulatorLifecycleTest, AcceptsLoopbackSpellings) {
  for (const char* host : {"127.0.0.1", "localhost", "127.0.0.2"}) {
    SimulatorOptions o;
    o.host = host;
    auto s = Simulator::Start(o);
    ASSERT_TRUE(s.ok()) << host << ": " << s.status();
    EXPECT_GT((*s)->port(), 0);
  }
  SimulatorOptions v6;
  v6.host = "::1";
  auto s = Simulator::Start(v6);
  if (s.ok()) {
    EXPECT_EQ((*s)->base_url(), "http://[::1]:" + std::to_string((*s)->port()));
  } else {
    EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable) << s.status();  // no IPv6 here
  }
  // Two simulators cannot share a fixed port.
  auto first = Simulator::Start(SimulatorOptions());
  ASSERT_TRUE(first.ok());
  SimulatorOptions same;
  same.port = (*first)->port();
  EXPECT_EQ(Simulator::Start(same).status().code(), absl::StatusCode::kUnavailable);
}

// --- Demo ------------------------------------------------------------------------

TEST(SimulatorDemoTest, SeedDemoCoversEveryOutcome) {
  SimulatorOptions o;
  o.queue_delay = absl::Milliseconds(1);  // the demo batches ignore the timers
  o.run_duration = absl::Milliseconds(1);
  auto s = Simulator::Start(o);
  ASSERT_TRUE(s.ok());
  Simulator& sim = **s;
  const int64_t initial = sim.credits();
  sim.SeedDemo();
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(sim.GetBatch("DEMOIDLE")->state, BatchState::kIdle);
  EXPECT_EQ(sim.GetBatch("9E867FAA")->state, BatchState::kQueued);
  EXPECT_EQ(sim.GetBatch("2A6F94BB")->state, BatchState::kRunning);
  EXPECT_EQ(sim.GetBatch("CAC8651D")->state, BatchState::kQueued);
  EXPECT_EQ(sim.GetBatch("9E867FAA")->credits_reserved, 200);
  EXPECT_EQ(sim.credits(), initial - 400);
  const std::string text = Simulator::SeedDemoDescription();
  for (const char* id : {"DEMOIDLE", "9E867FAA", "2A6F94BB", "CAC8651D", "DEMOHUGE"}) {
    EXPECT_THAT(text, HasSubstr(id));
    EXPECT_TRUE(sim.GetBatch(id).has_value()) << id;
  }
  EXPECT_THAT(text, HasSubstr("refunded"));
  EXPECT_THAT(text, HasSubstr("no refund"));
  EXPECT_THAT(text, HasSubstr("not found"));

  Client c;
  const std::string base = "http://127.0.0.1:" + std::to_string(sim.port());
  EXPECT_EQ(c.Get(base + "/batches/DEMOHUGE/start?api_key=simulator-key").status, 402);
  EXPECT_EQ(c.Get(base + "/batches/9E867FAA/stop?api_key=simulator-key").status, 200);
  EXPECT_EQ(sim.credits(), initial - 200);
  // Once started through the API, a demo batch follows the timers again.
  EXPECT_EQ(c.Get(base + "/batches/9E867FAA/start?api_key=simulator-key").status, 200);
  EXPECT_TRUE(WaitFor([&] { return sim.GetBatch("9E867FAA")->state == BatchState::kIdle; }));
}

// --- The serpwow-sim binary -------------------------------------------------------

extern "C" char** environ;

// A child process with stdout and stderr on pipes.
class Child {
 public:
  Child(const std::vector<std::string>& args, const std::vector<std::string>& extra_env) {
    int out[2];
    int err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<std::string> env_strings(extra_env);
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::string(*e).rfind("SERPWOW_API_KEY=", 0) != 0) env_strings.emplace_back(*e);
    }
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data()) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    ::close(err[1]);
    out_ = out[0];
    err_ = err[0];
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) ::close(out_);
    if (err_ >= 0) ::close(err_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // Reads from stdout until `lines` newlines have arrived, EOF or `limit`.
  std::string ReadLines(int lines, milliseconds limit) { return Read(out_, lines, limit); }
  std::string ReadStderr(milliseconds limit) { return Read(err_, 1 << 30, limit); }

  // The exit status, or -1 if it does not exit within `limit`.
  int Wait(milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
    return -1;
  }

 private:
  static std::string Read(int fd, int lines, milliseconds limit) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (CountOccurrences(out, "\n") < lines) {
      auto left =
          std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[1024];
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

  pid_t pid_ = -1;
  int out_ = -1;
  int err_ = -1;
};

std::string SimBinary() {
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return "";
  std::string path(self, static_cast<size_t>(n));
  return path.substr(0, path.rfind('/') + 1) + "serpwow-sim";
}

TEST(SimulatorBinaryTest, ServesUntilSigtermThenExitsZero) {
  const std::string binary = SimBinary();
  if (::access(binary.c_str(), X_OK) != 0) GTEST_SKIP() << binary << " not built";
  Child child({binary, "--listen=127.0.0.1:0", "--live_prefix", "--stop_idle_status=409"},
              {"SERPWOW_API_KEY=env-key-123"});
  ASSERT_TRUE(child.started());
  std::string out = child.ReadLines(2, milliseconds(10000));
  const std::string prefix = "serpwow-sim listening on http://127.0.0.1:";
  ASSERT_EQ(out.rfind(prefix, 0), 0u) << out;
  const int port = std::stoi(out.substr(prefix.size()));
  ASSERT_GT(port, 0);
  EXPECT_EQ(out.substr(0, out.find('\n')), prefix + std::to_string(port) + "/live");
  out += child.ReadLines(100, milliseconds(300));
  EXPECT_THAT(out, HasSubstr("9E867FAA"));  // the demo description

  Client c;
  const std::string base = "http://127.0.0.1:" + std::to_string(port) + "/live";
  EXPECT_EQ(c.Get(base + "/account?api_key=env-key-123").status, 200);
  EXPECT_EQ(c.Get(base + "/account?api_key=other").status, 401);
  EXPECT_EQ(c.Get(base + "/batches/9E867FAA/stop?api_key=env-key-123").status, 200);
  EXPECT_EQ(c.Get(base + "/batches/DEMOIDLE/stop?api_key=env-key-123").status, 409);

  ASSERT_EQ(::kill(child.pid(), SIGTERM), 0);
  EXPECT_EQ(child.Wait(milliseconds(5000)), 0);
}

TEST(SimulatorBinaryTest, ServesHttpsWithTheTlsFlags) {
  const std::string binary = SimBinary();
  if (::access(binary.c_str(), X_OK) != 0) GTEST_SKIP() << binary << " not built";
  testing::SimTestCerts certs;
  ASSERT_TRUE(certs.error().empty()) << certs.error();
  Child child({binary, "--listen=127.0.0.1:0", "--seed_demo=false",
               "--tls_cert_file=" + certs.server_cert(), "--tls_key_file=" + certs.server_key()},
              {"SERPWOW_API_KEY=env-key-123"});
  ASSERT_TRUE(child.started());
  std::string out = child.ReadLines(1, milliseconds(10000));
  const std::string prefix = "serpwow-sim listening on https://127.0.0.1:";
  ASSERT_EQ(out.rfind(prefix, 0), 0u) << out;
  const int port = std::stoi(out.substr(prefix.size()));
  ASSERT_GT(port, 0);

  Client c;
  c.TrustCa(certs.ca_cert());
  const std::string base = "https://127.0.0.1:" + std::to_string(port);
  Reply r = c.Get(base + "/account?api_key=env-key-123");
  EXPECT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(c.Get(base + "/account?api_key=other").status, 401);

  ASSERT_EQ(::kill(child.pid(), SIGTERM), 0);
  EXPECT_EQ(child.Wait(milliseconds(5000)), 0);
}

TEST(SimulatorBinaryTest, HelpExitsZeroListingTheFlagsWithoutBuildPaths) {
  const std::string binary = SimBinary();
  if (::access(binary.c_str(), X_OK) != 0) GTEST_SKIP() << binary << " not built";
  for (const char* help : {"--help", "-h"}) {
    Child child({binary, help}, {});
    ASSERT_TRUE(child.started());
    const std::string out = child.ReadLines(1 << 20, milliseconds(10000));
    EXPECT_EQ(child.Wait(milliseconds(5000)), 0) << help;
    EXPECT_EQ(child.ReadStderr(milliseconds(10)), "");
    EXPECT_EQ(out.rfind("serpwow-sim: A local SerpWow Batches API simulator", 0), 0u) << out;
    EXPECT_TRUE(serpwow::testing::HelpIsClean(
        out, {"listen", "live_prefix", "queue_delay", "run_duration", "credits", "seed_demo",
              "tls_cert_file", "tls_key_file", "verbose"}));
    EXPECT_THAT(out, ::testing::Not(HasSubstr("listening on")));
  }
}

TEST(SimulatorBinaryTest, BadSettingsExitNonZeroNamingTheSetting) {
  const std::string binary = SimBinary();
  if (::access(binary.c_str(), X_OK) != 0) GTEST_SKIP() << binary << " not built";
  struct Case {
    std::vector<std::string> args;
    std::string mention;
  };
  for (const Case& k : std::vector<Case>{
           {{"--listen=10.1.2.3:8080"}, "--listen"},
           {{"--listen=0.0.0.0:8080"}, "loopback"},
           {{"--listen=127.0.0.1:99999"}, "port"},
           {{"--listen=127.0.0.1"}, "HOST:PORT"},
           {{"--listen=127.0.0.1:0", "--stop_idle_status=7"}, "stop_idle_status"},
           {{"--listen=127.0.0.1:0", "--queue_delay=-5s"}, "queue_delay"},
           {{"--listen=127.0.0.1:0", "--tls_cert_file=/nonexistent/c.pem",
             "--tls_key_file=/nonexistent/k.pem"},
            "--tls_cert_file=/nonexistent/c.pem"},
           {{"--listen=127.0.0.1:0", "--tls_cert_file=/nonexistent/c.pem"}, "tls_key_file"},
       }) {
    std::vector<std::string> args = {binary};
    args.insert(args.end(), k.args.begin(), k.args.end());
    Child child(args, {});
    ASSERT_TRUE(child.started());
    std::string err = child.ReadStderr(milliseconds(10000));
    EXPECT_EQ(child.Wait(milliseconds(5000)), 2) << k.args.back();
    EXPECT_THAT(err, HasSubstr(k.mention)) << err;
    EXPECT_EQ(child.ReadLines(1, milliseconds(10)), "");
  }
}

}  // namespace
}  // namespace serpwow::sim
