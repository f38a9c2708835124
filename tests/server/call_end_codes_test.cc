// The codes a call ends with at the edges of its life (#10 item 6), with the
// real batch-server binary, a real simulator and real gRPC clients on
// 127.0.0.1: what the server logs and counts must be what happened.
#include <curl/curl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "serpwow/batches/v1/batch_service.grpc.pb.h"
#include "sim/simulator.h"
#include "tests/support/subprocess.h"

namespace serpwow::testing {
namespace {

namespace v1 = serpwow::batches::v1;

constexpr char kKey[] = "call-end-codes-test-key";

// batch-server's ready line: "listening on 127.0.0.1:PORT" and metrics_port.
struct Ready {
  std::string target;
  int metrics_port = 0;
};

Ready WaitReady(ChildProcess& server) {
  Ready ready;
  const std::string out = server.WaitForOutput("listening on 127.0.0.1:", absl::Seconds(20));
  size_t at = out.find("listening on 127.0.0.1:");
  if (at == std::string::npos) return ready;
  at += std::string("listening on ").size();
  ready.target = out.substr(at, out.find_first_of(" \n\"", at) - at);
  const std::string key = "\"metrics_port\":";
  size_t m = out.find(key, at);
  if (m != std::string::npos) {
    m += key.size();
    if (!absl::SimpleAtoi(out.substr(m, out.find_first_of(",}", m) - m), &ready.metrics_port)) {
      ready.metrics_port = 0;
    }
  }
  return ready;
}

ChildProcess StartServer(const sim::Simulator& sim, const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {BATCH_SERVER_PATH, "--listen=127.0.0.1:0",
                                   "--upstream=" + sim.base_url()};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return ChildProcess(argv, {std::string("SERPWOW_API_KEY=") + kKey});
}

// Channels that do not share a connection (distinct channel arguments).
std::vector<std::unique_ptr<v1::BatchService::Stub>> Stubs(const std::string& target, int n) {
  std::vector<std::unique_ptr<v1::BatchService::Stub>> stubs;
  for (int i = 0; i < n; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("serpwow.test.connection", i);
    stubs.push_back(v1::BatchService::NewStub(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args)));
  }
  return stubs;
}

// The ErrorInfo reason in a status's details, or "".
std::string ReasonOf(const grpc::Status& status) {
  google::rpc::Status proto;
  if (!proto.ParseFromString(status.error_details())) return "";
  for (const auto& any : proto.details()) {
    google::rpc::ErrorInfo info;
    if (any.Is<google::rpc::ErrorInfo>() && any.UnpackTo(&info)) return info.reason();
  }
  return "";
}

// "OK", or "CODE REASON" ("UNAVAILABLE SHUTTING_DOWN"); a status without an
// ErrorInfo, which the gateway did not write, is "CODE -".
std::string Outcome(const grpc::Status& status) {
  if (status.ok()) return "OK";
  const std::string reason = ReasonOf(status);
  return absl::StrCat(absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())),
                      " ", reason.empty() ? "-" : reason);
}

std::string Describe(const std::map<std::string, int>& counts) {
  std::string out;
  for (const auto& [what, n] : counts) absl::StrAppend(&out, "  ", what, ": ", n, "\n");
  return out;
}

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// GET /metrics on 127.0.0.1:`port` with libcurl; "" on failure.
std::string Scrape(int port) {
  CURL* curl = curl_easy_init();
  std::string body;
  const std::string url = absl::StrCat("http://127.0.0.1:", port, "/metrics");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  long status = 0;
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  return status == 200 ? body : "";
}

// The value of one series of a Prometheus exposition; -1 if absent.
double Series(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, series + " ")) continue;
    double v = -1;
    if (absl::SimpleAtod(line.substr(series.size() + 1), &v)) return v;
  }
  return -1;
}

// The value of a JSON string field in one log line ("" if absent).
std::string Field(absl::string_view line, const std::string& name) {
  const std::string key = absl::StrCat("\"", name, "\":\"");
  size_t at = line.find(key);
  if (at == absl::string_view::npos) return "";
  at += key.size();
  return std::string(line.substr(at, line.find('"', at) - at));
}

// The rpc log lines of `method`, counted by "BATCH_ID CODE".
std::map<std::string, int> LoggedRpcs(const std::string& log, const std::string& method) {
  std::map<std::string, int> counts;
  const std::string head = absl::StrCat(R"("msg":"rpc","method":")", method, "\"");
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (!absl::StrContains(line, head)) continue;
    ++counts[absl::StrCat(Field(line, "batch_id"), " ", Field(line, "code"))];
  }
  return counts;
}

// Calls whose deadline passes while the upstream hangs, 4 connections, 500
// calls/s, deadlines from 50 ms to 400 ms: each caller hears
// DEADLINE_EXCEEDED (its own library decides), and the server must say the
// same in the call's log line and in serpwow_gateway_rpcs_total. It used to
// say CANCELLED for about half of them: the caller's deadline fires a little
// before the server's copy (cancel_cause.h) and its RST_STREAM arrives first.
// Calls that the callers really cancel, long before their deadline, stay
// CANCELLED.
TEST(CallEndCodes, AnExpiredDeadlineIsDeadlineExceededInTheLogAndTheMetrics) {
  sim::SimulatorOptions sim_options;
  sim_options.api_key = kKey;
  auto sim = sim::Simulator::Start(sim_options);
  ASSERT_TRUE(sim.ok()) << sim.status();
  for (const char* id : {"HANGDL", "HANGCX"}) {
    (*sim)->PutBatch(id, sim::BatchState::kQueued, 10);
    sim::Fault hang;
    hang.path_suffix = absl::StrCat("/batches/", id);
    hang.action = sim::Fault::Action::kHang;
    (*sim)->AddFault(hang);
  }
  ChildProcess server =
      StartServer(**sim, {"--metrics_listen=127.0.0.1:0", "--upstream_timeout=30s"});
  const Ready ready = WaitReady(server);
  ASSERT_FALSE(ready.target.empty()) << server.Output();
  ASSERT_NE(ready.metrics_port, 0) << server.Output();
  auto stubs = Stubs(ready.target, 4);

  struct Call {
    grpc::ClientContext context;
    v1::GetBatchRequest request;
    v1::Batch response;
  };
  absl::Mutex mu;
  std::map<std::string, int> heard;
  int ended = 0;
  std::vector<std::unique_ptr<Call>> calls;
  auto start = [&](const std::string& name, absl::Duration timeout) {
    calls.push_back(std::make_unique<Call>());
    Call& c = *calls.back();
    c.context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    c.request.set_name(name);
    stubs[calls.size() % stubs.size()]->async()->GetBatch(
        &c.context, &c.request, &c.response, [&, name](grpc::Status status) {
          absl::MutexLock lock(&mu);
          ++heard[absl::StrCat(name, " ", Outcome(status))];
          ++ended;
        });
  };
  // 20 calls that the callers cancel once the server has them upstream.
  constexpr int kCancelled = 20;
  for (int i = 0; i < kCancelled; ++i) start("batches/HANGCX", absl::Seconds(20));
  auto upstream_reads = [&](const std::string& id) {
    int n = 0;
    for (const auto& r : (*sim)->requests()) n += absl::EndsWith(r.path, "/batches/" + id);
    return n;
  };
  const absl::Time until = absl::Now() + absl::Seconds(10);
  while (upstream_reads("HANGCX") < kCancelled && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(upstream_reads("HANGCX"), kCancelled);
  for (auto& c : calls) c->context.TryCancel();
  // 200 calls whose deadlines pass, one every 2 ms.
  constexpr int kExpiring = 200;
  const absl::Time launch = absl::Now();
  for (int i = 0; i < kExpiring; ++i) {
    absl::SleepFor(launch + i * absl::Milliseconds(2) - absl::Now());
    start("batches/HANGDL", absl::Milliseconds(50 + (i * 37) % 350));
  }
  {
    absl::MutexLock lock(&mu);
    auto all = [&] { return ended == kCancelled + kExpiring; };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(20)));
    // The caller's library decides, or the server when its deadline came
    // first (then with reason DEADLINE_EXCEEDED).
    EXPECT_EQ(heard["batches/HANGDL DEADLINE_EXCEEDED -"] +
                  heard["batches/HANGDL DEADLINE_EXCEEDED DEADLINE_EXCEEDED"],
              kExpiring)
        << Describe(heard);
    EXPECT_EQ(heard["batches/HANGCX CANCELLED -"], kCancelled) << Describe(heard);
  }

  // The server ends each call a moment after its caller.
  std::string metrics;
  const absl::Time settle = absl::Now() + absl::Seconds(10);
  do {
    metrics = Scrape(ready.metrics_port);
    if (Series(metrics, "serpwow_gateway_rpcs_in_flight") == 0) break;
    absl::SleepFor(absl::Milliseconds(20));
  } while (absl::Now() < settle);
  ASSERT_EQ(Series(metrics, "serpwow_gateway_rpcs_in_flight"), 0) << metrics;
  EXPECT_EQ(server.Stop(SIGTERM, absl::Seconds(15)), 0);
  const std::map<std::string, int> logged = LoggedRpcs(server.Output(), "GetBatch");
  // A call whose deadline passed before it was sent never reaches the
  // server; most do.
  const int seen =
      logged.count("HANGDL DEADLINE_EXCEEDED") ? logged.at("HANGDL DEADLINE_EXCEEDED") : 0;
  EXPECT_GE(seen, kExpiring * 3 / 4) << Describe(logged);
  EXPECT_EQ(logged.count("HANGDL CANCELLED"), 0u) << Describe(logged);
  EXPECT_EQ(logged.count("HANGCX CANCELLED") ? logged.at("HANGCX CANCELLED") : 0, kCancelled)
      << Describe(logged);
  EXPECT_EQ(logged.size(), 2u) << Describe(logged);
  const std::string total = R"(serpwow_gateway_rpcs_total{method="GetBatch",code=")";
  EXPECT_EQ(Series(metrics, total + R"(DEADLINE_EXCEEDED"})"), seen) << metrics;
  EXPECT_EQ(Series(metrics, total + R"(CANCELLED"})"), kCancelled) << metrics;
}

}  // namespace
}  // namespace serpwow::testing
