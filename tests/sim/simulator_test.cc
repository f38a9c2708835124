// End-to-end tests of the SerpWow simulator's API and of the serpwow-sim
// binary: real HTTP/1.1 over loopback with libcurl, the simulator on an
// OS-picked port. Durations are short and every wait is bounded. What both
// transports share (connections, framing, faults, load, shutdown) is in
// simulator_transport_test.cc, run over plain HTTP and TLS.
#include "sim/simulator.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/sim/sim_test_certs.h"
#include "tests/sim/sim_test_client.h"
#include "tests/support/help_check.h"

namespace serpwow::sim {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;
using testing::Client;
using testing::CountOccurrences;
using ::testing::HasSubstr;
using testing::Reply;
using testing::WaitFor;

constexpr char kKey[] = "sim-test-key-7f3a9c";
constexpr char kHtml404[] = "<html><body>Not Found</body></html>";

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

TEST_F(SimulatorTest, BatchObjectsCarryEveryDocumentedField) {
  sim_->PutBatch("B1", BatchState::kIdle, 2500, "Big");
  const json b = Get("/batches/B1").Json()["batch"];
  const json want_defaults = {{"enabled", true},
                              {"schedule_type", "manual"},
                              {"schedule_hours", json::array()},
                              {"schedule_days_of_week", json::array()},
                              {"schedule_days_of_month", json::array()},
                              {"priority", "normal"},
                              {"destination_ids", json::array()},
                              {"notification_email", ""},
                              {"notification_webhook", ""},
                              {"notification_as_json", false},
                              {"notification_as_jsonlines", false},
                              {"notification_as_csv", false},
                              {"searches_total_count", 2500},
                              {"searches_page_count", 3},
                              {"credits_required", 2500},
                              {"next_result_set_id", 1},
                              {"results_count", 0},
                              {"searches_type", "mixed"},
                              {"searches_type_locked", false}};
  for (const auto& [key, value] : want_defaults.items()) {
    ASSERT_TRUE(b.contains(key)) << key << " missing from " << b.dump();
    EXPECT_EQ(b[key], value) << key;
  }
  EXPECT_EQ(b["id"], "B1");
  EXPECT_EQ(b["name"], "Big");
  EXPECT_EQ(b["status"], "idle");
  EXPECT_TRUE(b["created_at"].is_string());
  EXPECT_FALSE(b.contains("last_run")) << "no run yet";
  EXPECT_FALSE(b.contains("search_total_count"));
  // The same object in the list and in the start reply.
  json listed = Get("/batches").Json()["batches"][0];
  EXPECT_EQ(listed, b);
  json started = Get("/batches/B1/start").Json()["batch"];
  EXPECT_EQ(started["status"], "queued");
  started["status"] = "idle";
  EXPECT_EQ(started, b);
}

TEST_F(SimulatorTest, SetBatchFieldsPatchesEveryReplyButNotTheState) {
  sim_->PutBatch("B1", BatchState::kIdle, 300);
  ASSERT_TRUE(sim_->SetBatchFields("B1", R"({"schedule_type": "weekly",
                                            "schedule_hours": [9, 17], "priority": "HIGH",
                                            "searches_total_count": null,
                                            "search_total_count": "300",
                                            "status": "paused", "schedule_minutes": [0, 30]})")
                  .ok());
  auto check = [](const json& b, const char* where) {
    EXPECT_EQ(b["id"], "B1") << where;
    EXPECT_EQ(b["schedule_type"], "weekly") << where;
    EXPECT_EQ(b["schedule_hours"], json::parse("[9,17]")) << where;
    EXPECT_EQ(b["priority"], "HIGH") << where;
    EXPECT_FALSE(b.contains("searches_total_count")) << where;
    EXPECT_EQ(b["search_total_count"], "300") << where;
    EXPECT_EQ(b["status"], "paused") << where;
    EXPECT_EQ(b["schedule_minutes"], json::parse("[0,30]")) << where;
    EXPECT_EQ(b["credits_required"], 300) << where;  // untouched fields stay
  };
  check(Get("/batches/B1").Json()["batch"], "get");
  check(Get("/batches").Json()["batches"][0], "list");
  const int64_t before = sim_->credits();
  check(Get("/batches/B1/start").Json()["batch"], "start");
  // The state machine still uses the real state and credits.
  EXPECT_EQ(sim_->GetBatch("B1")->state, BatchState::kQueued);
  EXPECT_EQ(sim_->credits(), before - 300);
  Client c;
  EXPECT_EQ(
      c.Get(Url("/batches", std::string("status=queued&api_key=") + kKey)).Json()["total_count"],
      1);

  // A new patch replaces the old one; PutBatch drops it.
  ASSERT_TRUE(sim_->SetBatchFields("B1", R"({"name": "renamed"})").ok());
  json b = Get("/batches/B1").Json()["batch"];
  EXPECT_EQ(b["name"], "renamed");
  EXPECT_EQ(b["status"], "queued");
  EXPECT_EQ(b["schedule_type"], "manual");
  sim_->PutBatch("B1", BatchState::kIdle, 300, "fresh");
  EXPECT_EQ(Get("/batches/B1").Json()["batch"]["name"], "fresh");

  EXPECT_EQ(sim_->SetBatchFields("B1", "[1]").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sim_->SetBatchFields("B1", "{not json").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sim_->SetBatchFields("NOPE", "{}").code(), absl::StatusCode::kNotFound);
}

TEST_F(SimulatorTest, SingularCountFieldsOptionUsesTheGetExampleSpelling) {
  SimulatorOptions options;
  options.singular_count_fields = true;
  StartSim(options);
  sim_->PutBatch("B1", BatchState::kIdle, 1001);
  const json b = Get("/batches/B1").Json()["batch"];
  EXPECT_EQ(b["search_total_count"], 1001);
  EXPECT_EQ(b["search_page_count"], 2);
  EXPECT_FALSE(b.contains("searches_total_count"));
  EXPECT_FALSE(b.contains("searches_page_count"));
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

// Every documented List parameter, on batches whose fields differ.
TEST_F(SimulatorTest, ListFiltersOnEveryDocumentedParameter) {
  sim_->PutBatch("F1", BatchState::kIdle, 1, "Nightly rankings");
  sim_->PutBatch("F2", BatchState::kQueued, 1, "Weekly rankings");
  sim_->PutBatch("F3", BatchState::kIdle, 1, "Nightly audit");
  ASSERT_TRUE(sim_->SetBatchFields("F1", R"({"created_at":"2026-01-10T00:00:00.000Z",
      "last_run":"2026-01-20T00:00:00.000Z","results_count":2,"destination_ids":["D1"],
      "priority":"high"})")
                  .ok());
  ASSERT_TRUE(sim_->SetBatchFields("F2", R"({"created_at":"2026-01-11T00:00:00.000Z",
      "priority":"lowest"})")
                  .ok());
  ASSERT_TRUE(sim_->SetBatchFields("F3", R"({"created_at":"2026-01-12T00:00:00.000Z",
      "last_run":"2026-01-25T00:00:00.000Z","results_count":1,"priority":"highest"})")
                  .ok());
  auto ids = [&](const std::string& query) {
    Client c;
    Reply r = c.Get(Url("/batches", std::string("api_key=") + kKey + "&" + query));
    EXPECT_EQ(r.status, 200) << query << ": " << r.body;
    std::vector<std::string> out;
    const json body = r.Json();  // (a range over a temporary's member would dangle)
    for (const json& b : body["batches"]) out.push_back(b["id"]);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids("status=queued"), (V{"F2"}));
  EXPECT_EQ(ids("search_term=nightly"), (V{"F3", "F1"}));  // contains, any case; by name
  EXPECT_EQ(ids("search_term=rankings&search_type=ends_with"), (V{"F1", "F2"}));
  EXPECT_EQ(ids("search_term=Nightly&search_type=starts_with"), (V{"F3", "F1"}));
  EXPECT_EQ(ids("search_term=nightly%20audit&search_type=exact"), (V{"F3"}));
  EXPECT_EQ(ids("created_after=2026-01-10T12:00:00.000Z&sort_by=created_at"), (V{"F2", "F3"}));
  EXPECT_EQ(ids("created_before=2026-01-11T12:00:00.000Z&sort_by=created_at"), (V{"F1", "F2"}));
  EXPECT_EQ(ids("last_run_after=2026-01-21T00:00:00.000Z"), (V{"F3"}));
  EXPECT_EQ(ids("last_run_before=2026-01-21T00:00:00.000Z"), (V{"F1"}));
  EXPECT_EQ(ids("destination_id=D1"), (V{"F1"}));
  EXPECT_EQ(ids("only_with_results=true&sort_by=created_at"), (V{"F1", "F3"}));
  EXPECT_EQ(ids("only_without_results=true"), (V{"F2"}));
  EXPECT_EQ(ids("sort_by=created_at&sort_direction=descending"), (V{"F3", "F2", "F1"}));
  EXPECT_EQ(ids("sort_by=priority"), (V{"F2", "F1", "F3"}));
  EXPECT_EQ(ids("sort_by=last_run"), (V{"F2", "F1", "F3"}));  // never run first
  EXPECT_EQ(ids("sort_by=status&sort_direction=descending"), (V{"F2", "F1", "F3"}));

  Client c;
  for (const char* bad : {"search_type=fuzzy", "created_after=yesterday", "last_run_before=1",
                          "only_with_results=yes", "sort_by=id", "sort_direction=up",
                          "only_with_results=true&only_without_results=true", "page_size=0"}) {
    Reply r = c.Get(Url("/batches", std::string("api_key=") + kKey + "&" + bad));
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(r.Json()["request_info"]["success"], false) << bad;
  }
}

TEST_F(SimulatorTest, RecordsTheQueryWithoutTheKey) {
  Client c;
  c.Get(Url("/batches", std::string("status=idle&api_key=") + kKey + "&page=2"));
  std::vector<RecordedRequest> seen = sim_->requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(seen[0].had_api_key);
  using P = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(seen[0].params, (P{{"status", "idle"}, {"page", "2"}}));
}

TEST_F(SimulatorTest, ListRateLimitPerMinute) {
  for (bool retry_after : {false, true}) {
    SimulatorOptions options;
    options.list_rate_per_minute = 3;
    options.list_rate_limit_retry_after = retry_after;
    StartSim(options);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(Get("/batches").status, 200) << i;
    Reply limited = Get("/batches");
    EXPECT_EQ(limited.status, 429);
    EXPECT_EQ(limited.Json()["request_info"]["success"], false);
    EXPECT_EQ(limited.HasHeader("Retry-After: 60"), retry_after) << limited.headers;
    EXPECT_EQ(limited.headers.find("Retry-After") != std::string::npos, retry_after);
    // Other routes are not limited.
    EXPECT_EQ(Get("/account").status, 200);
  }
}

TEST_F(SimulatorTest, GeneratedBatchesAreDeterministicAndVaried) {
  std::vector<std::string> ids = sim_->AddGeneratedBatches(2500, 7);
  ASSERT_EQ(ids.size(), 2500u);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 2500u);
  json page = Get("/batches").Json();
  EXPECT_EQ(page["total_count"], 2500);
  auto other = Simulator::Start(SimulatorOptions());
  ASSERT_TRUE(other.ok());
  EXPECT_EQ((*other)->AddGeneratedBatches(2500, 7), ids);  // same seed, same batches
  Client c;
  json queued = c.Get(Url("/batches", std::string("status=queued&api_key=") + kKey)).Json();
  EXPECT_GT(queued["total_count"].get<int>(), 0);
  EXPECT_LT(queued["total_count"].get<int>(), 250);
  // created_at one second apart: oldest first by created_at is creation order.
  json oldest =
      c.Get(Url("/batches", std::string("sort_by=created_at&page_size=3&api_key=") + kKey)).Json();
  EXPECT_EQ(oldest["batches"][0]["id"], ids[0]);
  EXPECT_EQ(oldest["batches"][2]["id"], ids[2]);
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

// --- The virtual clock, searches, result sets, files ------------------------------

TEST_F(SimulatorTest, AdvanceTimeRunsTheTimersWithoutWaiting) {
  sim_->PutBatch("T2", BatchState::kIdle, 40);  // queue 30 s, run 60 s by default
  ASSERT_EQ(Get("/batches/T2/start").status, 200);
  sim_->AdvanceTime(absl::Seconds(31));
  EXPECT_EQ(Get("/batches/T2").Json()["batch"]["status"], "running");
  sim_->AdvanceTime(absl::Seconds(60));
  const json b = Get("/batches/T2").Json()["batch"];
  EXPECT_EQ(b["status"], "idle");
  EXPECT_EQ(b["results_count"], 1);
  const json sets = Get("/batches/T2/results").Json();
  ASSERT_EQ(sets["results"].size(), 1u);
  EXPECT_EQ(sets["results"][0]["id"], 1);
  EXPECT_EQ(sets["results"][0]["searches_total"], 40);
}

TEST_F(SimulatorTest, SearchesAreStoredAndPagedByAThousand) {
  sim_->PutBatch("S1", BatchState::kIdle, 7);
  // Without searches the batch counts credits_required of them (as before).
  EXPECT_EQ(Get("/batches/S1").Json()["batch"]["searches_total_count"], 7);
  EXPECT_EQ(Get("/batches/S1/searches/1").Json()["searches"].size(), 0u);
  ASSERT_TRUE(sim_->PutSearches("S1", 1500).ok());
  EXPECT_FALSE(sim_->PutSearches("NOPE", 1).ok());
  const json b = Get("/batches/S1").Json()["batch"];
  EXPECT_EQ(b["searches_total_count"], 1500);
  EXPECT_EQ(b["searches_page_count"], 2);
  EXPECT_EQ(b["credits_required"], 7) << "credits_required is unchanged";
  const json p1 = Get("/batches/S1/searches/1").Json();
  EXPECT_EQ(p1["searches"].size(), 1000u);
  EXPECT_EQ(p1["searches_page_current"], 1);
  EXPECT_EQ(p1["searches_page_count"], 2);
  EXPECT_EQ(p1["searches"][0]["q"], "query 1");
  EXPECT_EQ(p1["searches"][0]["id"].get<std::string>().size(), 16u);
  EXPECT_EQ(Get("/batches/S1/searches/2").Json()["searches"].size(), 500u);
  EXPECT_EQ(Get("/batches/S1/searches/3").Json()["searches"].size(), 0u);
  EXPECT_EQ(Get("/batches/S1/searches/0").status, 400);
  EXPECT_EQ(Get("/batches/NOPE/searches/1").status, 404);
  // Fixed words before ids: json and csv are the link routes, not pages.
  const json links = Get("/batches/S1/searches/json").Json();
  EXPECT_EQ(links["searches_total_count"], 1500);
  ASSERT_EQ(links["download_links"]["pages"].size(), 2u);
  const std::string csv = Get("/batches/S1/searches/csv").Json()["download_links"]["pages"][0];
  EXPECT_TRUE(absl::EndsWith(csv, "/files/S1/searches/page_1.csv")) << csv;
}

TEST_F(SimulatorTest, ResultSetsCarryLinksToServedFilesAndExpire) {
  sim_->PutBatch("R1", BatchState::kIdle, 3);
  ASSERT_TRUE(sim_->PutSearches("R1", 3).ok());
  ASSERT_TRUE(sim_->CompleteRuns("R1", 2).ok());
  const json list = Get("/batches/R1/results").Json();
  EXPECT_EQ(list["results_count"], 2);
  EXPECT_EQ(list["results"][0]["id"], 2) << "newest first";
  EXPECT_EQ(list["batch"]["next_result_set_id"], 3);
  const std::string origin = "http://127.0.0.1:" + std::to_string(sim_->port());
  for (const auto& [suffix, ext] : std::vector<std::pair<std::string, std::string>>{
           {"", "json"}, {"/jsonlines", "jsonl"}, {"/csv", "csv"}}) {
    const json r = Get("/batches/R1/results/1" + suffix).Json()["result"];
    EXPECT_EQ(r["id"], 1);
    EXPECT_EQ(r["download_links"]["pages"][0], origin + "/files/R1/results/1/page_1." + ext);
    Client c;
    Reply file = c.Get(origin + "/files/R1/results/1/page_1." + ext);  // no key needed
    EXPECT_EQ(file.status, 200) << ext;
    EXPECT_THAT(file.body, HasSubstr("query 3")) << ext;
  }
  const json missing = Get("/batches/R1/results/9").Json();
  EXPECT_EQ(missing["request_info"]["success"], false);
  EXPECT_THAT(missing["request_info"]["message"].get<std::string>(), HasSubstr("Result Set"));
  EXPECT_EQ(Get("/batches/R1/results/1/pdf").status, 404);
  EXPECT_EQ(Get("/batches/R1/results/1/json").status, 404);
  Client c;
  EXPECT_EQ(c.Get(Url("/batches/R1/results/1"), 5000, "DELETE").status, 404);
  // Retention: 14 days after the run ended (lazily).
  sim_->AdvanceTime(absl::Hours(24 * 14) + absl::Seconds(1));
  EXPECT_EQ(Get("/batches/R1/results").Json()["results"].size(), 0u);
  EXPECT_EQ(Get("/batches/R1/results/1").status, 404);
  EXPECT_EQ(Get("/batches/R1").Json()["batch"]["results_count"], 0);
}

TEST_F(SimulatorTest, HostileLinksCarryTheKey) {
  SimulatorOptions options;
  options.links_include_api_key = true;
  StartSim(options);
  sim_->PutBatch("H1", BatchState::kIdle, 3);
  ASSERT_TRUE(sim_->CompleteRuns("H1").ok());
  const std::string link =
      Get("/batches/H1/results/1").Json()["result"]["download_links"]["all_pages"];
  EXPECT_THAT(link, HasSubstr(std::string("?api_key=") + kKey));
}

TEST_F(SimulatorTest, AccountCarriesTheExtraFigures) {
  const json a = Get("/account").Json()["account_info"];
  for (const char* key :
       {"credits_used", "credits_limit", "credits_reset_at", "topup_credits_remaining",
        "destinations_used", "destinations_limit", "destinations_available"}) {
    EXPECT_TRUE(a.contains(key)) << key;
  }
  EXPECT_EQ(a["destinations_limit"], 50);
}

// --- Faults ----------------------------------------------------------------------

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

TEST_F(SimulatorTest, FaultSlowDripOfTheNormalResponse) {
  Fault f;
  f.action = Fault::Action::kSlowDrip;
  f.drip_interval = absl::Milliseconds(1);
  sim_->AddFault(f);
  Reply r = Get("/account");
  ASSERT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.Json()["account_info"]["credits_remaining"], sim_->credits());
}

// --- Batch mutations: create, update, delete and their state rules ---------------

TEST_F(SimulatorTest, CreateTakesJsonOrAFormAndMakesSeededIds) {
  Client c;
  Reply json_body = c.Send(Url("/batches"), "POST",
                           R"({"name":"J","schedule_type":"daily","schedule_hours":[9,17],)"
                           R"("priority":"high","enabled":false})",
                           "application/json");
  ASSERT_EQ(json_body.status, 200) << json_body.body;
  json j = json_body.Json()["batch"];
  EXPECT_EQ(j["name"], "J");
  EXPECT_EQ(j["schedule_type"], "daily");
  EXPECT_EQ(j["schedule_hours"], json::array({9, 17}));
  EXPECT_EQ(j["priority"], "high");
  EXPECT_EQ(j["enabled"], false);
  EXPECT_EQ(j["status"], "idle");
  const std::string id = j["id"];
  EXPECT_EQ(id.size(), 8u);
  EXPECT_EQ(id.find_first_not_of("0123456789ABCDEF"), std::string::npos) << id;

  Reply form = c.Send(Url("/batches"), "POST",
                      "name=F+1&schedule_type=weekly&schedule_days_of_week=1,3&"
                      "notification_as_csv=true&destination_ids=D1,D2",
                      "application/x-www-form-urlencoded");
  ASSERT_EQ(form.status, 200) << form.body;
  j = form.Json()["batch"];
  EXPECT_EQ(j["name"], "F 1");
  EXPECT_EQ(j["schedule_days_of_week"], json::array({1, 3}));
  EXPECT_EQ(j["notification_as_csv"], true);
  EXPECT_EQ(j["destination_ids"], json::array({"D1", "D2"}));
  EXPECT_EQ(sim_->batches_created(), 2);

  // The same seed makes the same ids.
  StartSim(SimulatorOptions());
  Client again;
  EXPECT_EQ(again.Send(Url("/batches"), "POST", R"({"name":"J"})", "application/json")
                .Json()["batch"]["id"],
            id);
}

TEST_F(SimulatorTest, CreateRefusesBadValuesAndTheLimit) {
  Client c;
  for (const char* body : {R"({})", R"({"name":""})", R"({"name":"x","priority":"urgent"})",
                           R"({"name":"x","schedule_hours":[24]})", R"([1])", "not json"}) {
    Reply r = c.Send(Url("/batches"), "POST", body, "application/json");
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_EQ(r.Json()["request_info"]["success"], false) << body;
  }
  SimulatorOptions o;
  o.max_batches = 1;
  o.batch_limit_status = 403;
  StartSim(o);
  Client c2;
  EXPECT_EQ(c2.Send(Url("/batches"), "POST", R"({"name":"a"})", "application/json").status, 200);
  Reply full = c2.Send(Url("/batches"), "POST", R"({"name":"b"})", "application/json");
  EXPECT_EQ(full.status, 403);
  EXPECT_EQ(c2.Get(Url("/account")).Json()["account_info"]["batches_available"], 0);
  EXPECT_EQ(sim_->batches_created(), 1);
}

TEST_F(SimulatorTest, UpdateAndDeleteFollowTheStateRules) {
  sim_->PutBatch("I1", BatchState::kIdle, 0);
  sim_->PutBatch("R1", BatchState::kRunning, 5);
  Client c;
  Reply up =
      c.Send(Url("/batches/I1"), "PUT", R"({"name":"New","priority":"low"})", "application/json");
  ASSERT_EQ(up.status, 200) << up.body;
  EXPECT_EQ(up.Json()["batch"]["priority"], "low");
  EXPECT_EQ(sim_->GetBatch("I1")->name, "New");
  // A body with `searches` adds them (the search routes' tests are below).
  EXPECT_EQ(
      c.Send(Url("/batches/I1"), "PUT", R"({"searches":[{"q":"x"}]})", "application/json").status,
      200);
  EXPECT_EQ(c.Send(Url("/batches/R1"), "PUT", R"({"name":"x"})", "application/json").status, 400);
  EXPECT_EQ(c.Get(Url("/batches/R1"), 5000, "DELETE").status, 400);
  EXPECT_TRUE(sim_->GetBatch("R1").has_value());
  Reply gone = c.Get(Url("/batches/I1"), 5000, "DELETE");
  EXPECT_EQ(gone.status, 200);
  EXPECT_EQ(gone.Json()["request_info"]["message"], "batch deleted");
  EXPECT_FALSE(sim_->GetBatch("I1").has_value());
  EXPECT_EQ(c.Get(Url("/batches/I1"), 5000, "DELETE").status, 404);
}

TEST_F(SimulatorTest, TheUndocumentedChoicesAreSettings) {
  SimulatorOptions o;
  o.mutation_refused_when = SimulatorOptions::MutationRefusedWhen::kQueuedOrRunning;
  o.busy_status = 409;
  o.start_queued = SimulatorOptions::StartQueued::kAccept;
  o.insufficient_credits_status = 400;
  StartSim(o);
  sim_->PutBatch("Q1", BatchState::kQueued, 5);
  sim_->PutBatch("R1", BatchState::kRunning, 5);
  sim_->PutBatch("X1", BatchState::kIdle, 1000000);
  Client c;
  EXPECT_EQ(c.Send(Url("/batches/Q1"), "PUT", R"({"name":"x"})", "application/json").status, 409);
  EXPECT_EQ(c.Get(Url("/batches/Q1/start")).status, 200);  // accepted while queued
  EXPECT_EQ(c.Get(Url("/batches/R1/start")).status, 409);
  EXPECT_EQ(c.Get(Url("/batches/X1/start")).status, 400);
  EXPECT_EQ(sim_->starts(), 1);

  for (auto [choice, refunded] :
       {std::pair{SimulatorOptions::DeleteQueued::kRefund, true},
        std::pair{SimulatorOptions::DeleteQueued::kKeepReservation, false}}) {
    SimulatorOptions d;
    d.delete_queued = choice;
    StartSim(d);
    const int64_t before = sim_->credits();
    sim_->PutBatch("Q1", BatchState::kQueued, 30);
    Client dc;
    EXPECT_EQ(dc.Get(Url("/batches/Q1"), 5000, "DELETE").status, 200);
    EXPECT_EQ(sim_->credits(), refunded ? before : before - 30);
  }
  SimulatorOptions refuse;
  refuse.delete_queued = SimulatorOptions::DeleteQueued::kRefuse;
  StartSim(refuse);
  sim_->PutBatch("Q1", BatchState::kQueued, 30);
  Client rc;
  EXPECT_EQ(rc.Get(Url("/batches/Q1"), 5000, "DELETE").status, 400);
}

TEST_F(SimulatorTest, ListFindsBatchesByExactNameAndCreationTime) {
  Client c;
  const std::string id =
      c.Send(Url("/batches"), "POST", R"({"name":"Nightly"})", "application/json")
          .Json()["batch"]["id"];
  c.Send(Url("/batches"), "POST", R"({"name":"Nightly 2"})", "application/json");
  auto list = [&](const std::string& query) {
    return c.Get(Url("/batches", std::string("api_key=") + kKey + "&" + query)).Json();
  };
  json exact = list("search_term=Nightly&search_type=exact");
  ASSERT_EQ(exact["batches"].size(), 1u);
  EXPECT_EQ(exact["batches"][0]["id"], id);
  EXPECT_EQ(list("search_term=Nightly")["batches"].size(), 2u);  // contains
  EXPECT_EQ(list("search_term=Nightly&created_after=2999-01-01T00:00:00.000Z")["batches"].size(),
            0u);
  EXPECT_EQ(list("search_term=Nightly&created_after=2000-01-01T00:00:00.000Z")["batches"].size(),
            2u);
  EXPECT_EQ(
      c.Get(Url("/batches", std::string("api_key=") + kKey + "&created_after=yesterday")).status,
      400);
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

// --- Lifecycle ---------------------------------------------------------------------

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
  // The five demo batches reserve 400; the generated active ones their own,
  // measured on a second simulator that holds only those.
  auto other = Simulator::Start(o);
  ASSERT_TRUE(other.ok());
  const int64_t other_initial = (*other)->credits();
  EXPECT_EQ((*other)->AddGeneratedBatches(Simulator::kDemoGeneratedBatches, 1).size(),
            static_cast<size_t>(Simulator::kDemoGeneratedBatches));
  const int64_t generated_reserved = other_initial - (*other)->credits();
  EXPECT_GT(generated_reserved, 0);
  EXPECT_EQ(sim.credits(), initial - 400 - generated_reserved);
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
  EXPECT_EQ(sim.credits(), initial - 200 - generated_reserved);
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
    UniqueFd out_write, err_write;
    if (!MakePipe(&out_, &out_write, O_CLOEXEC) || !MakePipe(&err_, &err_write, O_CLOEXEC)) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_write.get(), STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err_write.get(), STDERR_FILENO);
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
  }  // the write ends close here: only the child holds them
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // Reads from stdout until `lines` newlines have arrived, EOF or `limit`.
  std::string ReadLines(int lines, milliseconds limit) { return Read(out_.get(), lines, limit); }
  std::string ReadStderr(milliseconds limit) { return Read(err_.get(), 1 << 30, limit); }

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
  UniqueFd out_;  // read ends of the child's stdout and stderr
  UniqueFd err_;
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

  Client c(certs.ca_cert());
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

// --- Search calls and the concurrency model ----------------------------------

namespace serpwow::sim {
namespace {

TEST_F(SimulatorTest, ASearchCallHoldsTheBatchAndAnotherMeanwhileGets429) {
  SimulatorOptions options;
  options.search_mutation_duration = absl::Milliseconds(300);
  StartSim(options);
  sim_->PutBatch("H1", BatchState::kIdle, 0);
  ASSERT_TRUE(sim_->PutSearches("H1", 0).ok());
  Reply first;
  std::thread holder([&] {
    Client c;
    first = c.Send(Url("/batches/H1"), "PUT", R"({"searches":[{"q":"a"},{"q":"b"}]})",
                   "application/json");
  });
  // Wait until the first one is carried out (its reply is still held).
  for (int i = 0; i < 500 && sim_->searches_added() < 2; ++i) absl::SleepFor(absl::Milliseconds(2));
  Client c;
  Reply refused =
      c.Send(Url("/batches/H1"), "PUT", R"({"searches":[{"q":"c"}]})", "application/json");
  holder.join();
  EXPECT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(refused.Json()["request_info"]["success"], false);
  EXPECT_EQ(sim_->search_calls_refused(), 1);
  EXPECT_EQ(sim_->search_count("H1"), 2);  // the refused call changed nothing
  // Another batch is not held (scope batch).
  sim_->PutBatch("H2", BatchState::kIdle, 0);
  EXPECT_EQ(c.Send(Url("/batches/H2/clear"), "DELETE", "", "application/json").status, 200);
}

TEST_F(SimulatorTest, SearchRoutesAddUpdateDeleteBulkClearAndFind) {
  SimulatorOptions options;
  options.search_mutation_duration = absl::ZeroDuration();
  options.max_searches_with_html = 2;
  StartSim(options);
  sim_->PutBatch("S1", BatchState::kIdle, 0);
  ASSERT_TRUE(sim_->PutSearches("S1", 3).ok());
  Client c;
  const json page = Get("/batches/S1/searches/1").Json();
  const std::string id0 = page["searches"][0]["id"];
  const std::string id1 = page["searches"][1]["id"];
  Reply up = c.Send(Url("/batches/S1/" + id0), "PUT", R"({"q":"espresso"})", "application/json");
  ASSERT_EQ(up.status, 200) << up.body;
  EXPECT_EQ(up.Json()["search"]["q"], "espresso");
  const json found = c.Get(Url("/batches/S1/searches/1") + "&q=ESPRESSO").Json();
  ASSERT_EQ(found["searches"].size(), 1u);
  EXPECT_EQ(c.Send(Url("/batches/S1/NOSUCHSEARCH"), "DELETE", "", "").status, 404);
  EXPECT_EQ(c.Send(Url("/batches/S1/searches"), "DELETE", json::array({id1, "UNKNOWN"}).dump(),
                   "application/json")
                .status,
            404);  // bulk_delete_unknown_ids=error: nothing deleted
  EXPECT_EQ(sim_->search_count("S1"), 3);
  EXPECT_EQ(
      c.Send(Url("/batches/S1/searches"), "DELETE", json::array({id1}).dump(), "application/json")
          .status,
      200);
  EXPECT_EQ(c.Send(Url("/batches/S1/" + id0), "DELETE", "", "").status, 200);
  EXPECT_EQ(sim_->search_count("S1"), 1);
  EXPECT_EQ(c.Send(Url("/batches/S1"), "PUT",
                   R"({"searches":[{"q":"x","include_html":true},{"q":"y"}]})", "application/json")
                .status,
            400);  // 3 with include_html > 2
  EXPECT_EQ(c.Send(Url("/batches/S1"), "PUT", R"({"searches":[{"q":"x","max_page":21}]})",
                   "application/json")
                .status,
            400);
  EXPECT_EQ(c.Send(Url("/batches/S1/clear"), "DELETE", "", "").status, 200);
  EXPECT_EQ(sim_->search_count("S1"), 0);
}

}  // namespace
}  // namespace serpwow::sim
