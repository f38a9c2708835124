// The codes a call ends with at the edges of its life (#10 item 6), with the
// real batch-server binary, a real simulator and real gRPC clients on
// 127.0.0.1: what the callers hear, and what the server logs and counts,
// must be what happened.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
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
#include "tests/support/http_get.h"
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

// A client retry policy for the whole service (deploy/README.md has the one
// for StopBatch), retrying the given status codes.
std::string RetryPolicy(const std::string& codes) {
  return absl::StrCat(
      R"({"methodConfig":[{"name":[{"service":"serpwow.batches.v1.BatchService"}],)",
      R"("retryPolicy":{"maxAttempts":3,"initialBackoff":"0.1s","maxBackoff":"1s",)",
      R"("backoffMultiplier":2,"retryableStatusCodes":[)", codes, "]}}]}");
}

// Channels that do not share a connection (distinct channel arguments), with
// `service_config` when it is not empty.
std::vector<std::unique_ptr<v1::BatchService::Stub>> Stubs(const std::string& target, int n,
                                                           const std::string& service_config = "") {
  static std::atomic<int> connection{0};
  std::vector<std::unique_ptr<v1::BatchService::Stub>> stubs;
  for (int i = 0; i < n; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("serpwow.test.connection", connection++);
    if (!service_config.empty()) args.SetServiceConfigJSON(service_config);
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

// GET /metrics on 127.0.0.1:`port`; "" on failure.
std::string Scrape(int port) {
  auto [status, body] = HttpGet(port, "/metrics");
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

  // The server ends each call a moment after its caller, and under load a
  // call the caller has already given up on may reach the server only after
  // the others ended: settled means nothing in flight and the counts the
  // same over 300 ms.
  const std::string total = R"(serpwow_gateway_rpcs_total{method="GetBatch",code=")";
  auto ended_count = [&](const std::string& m) {
    return Series(m, total + R"(DEADLINE_EXCEEDED"})") + Series(m, total + R"(CANCELLED"})");
  };
  std::string metrics;
  const absl::Time settle = absl::Now() + absl::Seconds(10);
  int64_t last = -1;
  int steady = 0;
  do {
    metrics = Scrape(ready.metrics_port);
    const int64_t now_ended = static_cast<int64_t>(ended_count(metrics));
    const bool idle = Series(metrics, "serpwow_gateway_rpcs_in_flight") == 0;
    steady = idle && now_ended == last ? steady + 1 : 0;
    last = now_ended;
    if (steady >= 3) break;
    absl::SleepFor(absl::Milliseconds(100));
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
  EXPECT_EQ(Series(metrics, total + R"(DEADLINE_EXCEEDED"})"), seen) << metrics;
  EXPECT_EQ(Series(metrics, total + R"(CANCELLED"})"), kCancelled) << metrics;
}

// Closed-loop load: `channels` connections, `per_channel` GetBatch calls of
// `name` in flight on each; each call that ends starts the next on its channel, until
// Stop() or until the channel cannot connect any more ("UNAVAILABLE -": the
// client library's own, the server is gone). Tallies the outcomes; a
// SHUTTING_DOWN answer must carry the request id in its trailing metadata
// only (a Trailers-Only answer, which retry policies may retry).
class Load {
 public:
  Load(const std::string& target, int channels, int per_channel, std::string name,
       const std::string& service_config = "")
      : stubs_(Stubs(target, channels, service_config)),
        per_channel_(per_channel),
        name_(std::move(name)) {}
  ~Load() { Stop(absl::Seconds(20)); }

  void Start() {
    for (auto& stub : stubs_) {
      for (int i = 0; i < per_channel_; ++i) Issue(stub.get(), i % 2 == 0 ? name_ : kInvalidName);
    }
  }
  int Ended() {
    absl::MutexLock lock(&mu_);
    return ended_;
  }
  // Starts no more calls; waits (bounded) until every call has ended.
  bool Stop(absl::Duration timeout) {
    stopping_.store(true);
    absl::MutexLock lock(&mu_);
    auto none = [this] { return running_ == 0; };
    return mu_.AwaitWithTimeout(absl::Condition(&none), timeout);
  }
  std::map<std::string, int> Tally() {
    absl::MutexLock lock(&mu_);
    return tally_;
  }

 private:
  struct Call {
    grpc::ClientContext context;
    v1::GetBatchRequest request;
    v1::Batch response;
  };

  // Half the calls name no valid batch: answered at once, without the
  // upstream, so that those loops spend their time between calls and are
  // sure to send some when the server begins to refuse.
  static constexpr char kInvalidName[] = "batches/not a batch";

  void Issue(v1::BatchService::Stub* stub, const std::string& name) {
    {
      absl::MutexLock lock(&mu_);
      ++running_;
    }
    auto* call = new Call;
    call->context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    call->request.set_name(name);
    stub->async()->GetBatch(
        &call->context, &call->request, &call->response,
        [this, stub, call, name](grpc::Status status) {
          std::string outcome = Outcome(status);
          if (outcome == "UNAVAILABLE SHUTTING_DOWN" &&
              (call->context.GetServerInitialMetadata().count("x-request-id") != 0 ||
               call->context.GetServerTrailingMetadata().count("x-request-id") != 1)) {
            outcome += " (request id not in the trailers only)";
          }
          delete call;
          if (outcome != "UNAVAILABLE -" && !stopping_.load()) Issue(stub, name);
          absl::MutexLock lock(&mu_);
          ++tally_[outcome];
          ++ended_;
          --running_;
        });
  }

  const std::vector<std::unique_ptr<v1::BatchService::Stub>> stubs_;
  const int per_channel_;
  const std::string name_;
  std::atomic<bool> stopping_{false};
  absl::Mutex mu_;
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  int ended_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, int> tally_ ABSL_GUARDED_BY(mu_);
};

// SIGTERM while 8 connections keep 8 calls each in flight, 4 rounds (the
// defect: 0-31 calls per round heard CANCELLED, with no details, which no
// retry policy retries; gRPC had dropped them, the server never saw them).
// Every call ends OK or INVALID_ARGUMENT (taken before the signal), UNAVAILABLE SHUTTING_DOWN
// (refused by the gateway), or, once the server is gone, the client
// library's own UNAVAILABLE (no ErrorInfo: it never reached a server). Half
// the connections have a retry policy on UNAVAILABLE (deploy/README.md): it
// retries every refusal, so none reaches their callers.
TEST(CallEndCodes, SigtermUnderLoadRefusesWithShuttingDownNeverCancelled) {
  sim::SimulatorOptions sim_options;
  sim_options.api_key = kKey;
  auto sim = sim::Simulator::Start(sim_options);
  ASSERT_TRUE(sim.ok()) << sim.status();
  (*sim)->PutBatch("LOAD1", sim::BatchState::kQueued, 10);
  constexpr int kRounds = 4;
  std::map<std::string, int> plain_total;
  std::map<std::string, int> retrying_total;
  int refused = 0;
  for (int round = 0; round < kRounds; ++round) {
    ChildProcess server = StartServer(**sim, {"--metrics_listen=", "--shutdown_grace=3s"});
    const Ready ready = WaitReady(server);
    ASSERT_FALSE(ready.target.empty()) << server.Output();
    Load plain(ready.target, 4, 8, "batches/LOAD1");
    Load retrying(ready.target, 4, 8, "batches/LOAD1", RetryPolicy(R"("UNAVAILABLE")"));
    plain.Start();
    retrying.Start();
    // Under way: some hundreds of calls answered before the signal.
    const absl::Time until = absl::Now() + absl::Seconds(10);
    while (plain.Ended() + retrying.Ended() < 1000 && absl::Now() < until) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    ASSERT_GE(plain.Ended() + retrying.Ended(), 1000);
    EXPECT_EQ(server.Stop(SIGTERM, absl::Seconds(15)), 0);
    ASSERT_TRUE(plain.Stop(absl::Seconds(15)));
    ASSERT_TRUE(retrying.Stop(absl::Seconds(15)));
    for (const auto& [outcome, n] : plain.Tally()) {
      plain_total[outcome] += n;
      EXPECT_TRUE(outcome == "OK" || outcome == "INVALID_ARGUMENT INVALID_NAME" ||
                  outcome == "UNAVAILABLE SHUTTING_DOWN" || outcome == "UNAVAILABLE -")
          << "round " << round << ": " << n << " call(s) ended " << outcome << "\n"
          << Describe(plain.Tally());
    }
    for (const auto& [outcome, n] : retrying.Tally()) {
      retrying_total[outcome] += n;
      EXPECT_TRUE(outcome == "OK" || outcome == "INVALID_ARGUMENT INVALID_NAME" ||
                  outcome == "UNAVAILABLE -")
          << "round " << round << ", with a retry policy: " << n << " call(s) ended " << outcome
          << "\n"
          << Describe(retrying.Tally());
    }
    // What the server logged agrees: none of its calls ended CANCELLED.
    const std::map<std::string, int> logged = LoggedRpcs(server.Output(), "GetBatch");
    for (const auto& [what, n] : logged) {
      EXPECT_FALSE(absl::EndsWith(what, " CANCELLED")) << Describe(logged);
    }
    for (const auto& [what, n] : logged) refused += absl::EndsWith(what, " UNAVAILABLE") ? n : 0;
  }
  std::printf("over %d rounds, without a retry policy:\n%s", kRounds,
              Describe(plain_total).c_str());
  std::printf("with a retry policy on UNAVAILABLE:\n%s", Describe(retrying_total).c_str());
  std::printf("refused by the server (its log): %d\n", refused);
  EXPECT_EQ(plain_total["CANCELLED -"] + retrying_total["CANCELLED -"], 0);
  EXPECT_GT(plain_total["OK"], 0);
  EXPECT_GT(retrying_total["OK"], 0);
  EXPECT_GT(plain_total["UNAVAILABLE SHUTTING_DOWN"], 0);        // the refusals were exercised
  EXPECT_GT(refused, plain_total["UNAVAILABLE SHUTTING_DOWN"]);  // and retried ones too
}

// Clients that send calls at their own pace, whatever the answers (open
// loop). One that bounds its calls in flight, as most do, fills its bound
// with held answers during the refusal window and so has nothing in the air
// at the GOAWAY either. One without a bound can have calls in the air then;
// gRPC 1.51 drops them and the caller hears CANCELLED (docs/faults.md:
// gRPC's share). Those calls never reached the gateway, and the gateway
// never answers CANCELLED to a caller that is still waiting, so a retry
// policy that also retries CANCELLED is safe, and with it such a client
// hears no CANCELLED either. 2 connections of each kind below, each sending
// a call every 4 ms, 2 rounds; what the unbounded client without that policy
// heard is printed, not checked.
TEST(CallEndCodes, OpenLoopClientsHearNoCancelledWhenBoundedOrRetryingCancelled) {
  sim::SimulatorOptions sim_options;
  sim_options.api_key = kKey;
  auto sim = sim::Simulator::Start(sim_options);
  ASSERT_TRUE(sim.ok()) << sim.status();
  (*sim)->PutBatch("LOAD1", sim::BatchState::kQueued, 10);
  struct Kind {
    const char* name;
    const char* retry_codes;
    int max_in_flight;  // 0: no bound
  };
  const Kind kinds[] = {{"bounded", R"("UNAVAILABLE")", 32},
                        {"unbounded, retries CANCELLED", R"("UNAVAILABLE","CANCELLED")", 0},
                        {"unbounded", R"("UNAVAILABLE")", 0}};
  constexpr int kRounds = 2;
  int refused = 0;
  absl::Mutex mu;
  std::map<std::string, int> total;
  for (int round = 0; round < kRounds; ++round) {
    ChildProcess server = StartServer(**sim, {"--metrics_listen=", "--shutdown_grace=3s"});
    const Ready ready = WaitReady(server);
    ASSERT_FALSE(ready.target.empty()) << server.Output();
    struct Sender {
      const Kind* kind;
      std::unique_ptr<v1::BatchService::Stub> stub;
      int in_flight = 0;  // guarded by mu
    };
    std::vector<std::unique_ptr<Sender>> senders;
    for (const Kind& kind : kinds) {
      for (int i = 0; i < 2; ++i) {
        auto sender = std::make_unique<Sender>();
        sender->kind = &kind;
        grpc::ChannelArguments args;
        args.SetInt("serpwow.test.connection", static_cast<int>(senders.size()));
        args.SetServiceConfigJSON(RetryPolicy(kind.retry_codes));
        sender->stub = v1::BatchService::NewStub(
            grpc::CreateCustomChannel(ready.target, grpc::InsecureChannelCredentials(), args));
        senders.push_back(std::move(sender));
      }
    }
    struct Call {
      grpc::ClientContext context;
      v1::GetBatchRequest request;
      v1::Batch response;
    };
    int running = 0;
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (auto& sender : senders) {
      threads.emplace_back([&, s = sender.get()] {
        for (absl::Time next = absl::Now(); !stop.load(); next += absl::Milliseconds(4)) {
          absl::SleepFor(next - absl::Now());
          {
            absl::MutexLock lock(&mu);
            if (s->kind->max_in_flight > 0 && s->in_flight >= s->kind->max_in_flight) continue;
            ++s->in_flight;
            ++running;
          }
          auto* call = new Call;
          call->context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
          call->request.set_name("batches/LOAD1");
          s->stub->async()->GetBatch(&call->context, &call->request, &call->response,
                                     [&, s, call](grpc::Status status) {
                                       delete call;
                                       absl::MutexLock lock(&mu);
                                       ++total[absl::StrCat(s->kind->name, ": ", Outcome(status))];
                                       --s->in_flight;
                                       --running;
                                     });
        }
      });
    }
    // Under way, then SIGTERM; the senders go on until the server is gone.
    absl::SleepFor(absl::Milliseconds(300));
    EXPECT_EQ(server.Stop(SIGTERM, absl::Seconds(15)), 0);
    stop.store(true);
    for (std::thread& t : threads) t.join();
    const std::map<std::string, int> logged = LoggedRpcs(server.Output(), "GetBatch");
    absl::MutexLock lock(&mu);
    auto none = [&] { return running == 0; };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&none), absl::Seconds(20)));
    refused += logged.count("LOAD1 UNAVAILABLE") ? logged.at("LOAD1 UNAVAILABLE") : 0;
  }
  absl::MutexLock lock(&mu);
  std::printf("over %d rounds:\n%s", kRounds, Describe(total).c_str());
  for (const Kind& kind : kinds) {
    const std::string name = kind.name;
    EXPECT_GT(total[name + ": OK"], 0) << Describe(total);
    if (name != "unbounded") {
      EXPECT_EQ(total[name + ": CANCELLED -"], 0) << Describe(total);
    }
  }
  std::printf("refused by the server (its log): %d\n", refused);
  EXPECT_GT(refused, 0);  // the refusals were exercised (and retried)
}

}  // namespace
}  // namespace serpwow::testing
