// batch-server as an operator runs it: the real binary, its flags, its log
// lines, its signals; and the API key canary: the key is never in a log
// line, a status message or CLI output.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/unique_fd.h"
#include "serpwow/batches/v1/batch_service.grpc.pb.h"
#include "sim/simulator.h"
#include "tests/support/help_check.h"
#include "tests/support/raw_tcp.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_certs.h"

namespace serpwow::testing {
namespace {

// Starts batch-server and waits for its ready line; returns the bound
// "127.0.0.1:PORT", or "" if it did not become ready.
std::string WaitReady(ChildProcess& server) {
  std::string out = server.WaitForOutput("listening on 127.0.0.1:", absl::Seconds(20));
  size_t at = out.find("listening on 127.0.0.1:");
  if (at == std::string::npos) return "";
  at += std::string("listening on ").size();
  size_t end = out.find_first_of(" \n\"", at);
  return out.substr(at, end - at);
}

ProcessResult Batchctl(const std::string& target, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {BATCHCTL_PATH, "--target=" + target, "--timeout=5s"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProcess(argv);
}

TEST(BatchServerProcess, SimulateServesTheDemoAndStopsOnSigterm) {
  ChildProcess server(
      {BATCH_SERVER_PATH, "--simulate", "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0"},
      {});
  const std::string target = WaitReady(server);
  ASSERT_FALSE(target.empty()) << server.Output();
  // Exactly one ready line.
  std::vector<std::string> parts = absl::StrSplit(server.Output(), "batch-server listening on");
  EXPECT_EQ(parts.size(), 2u) << server.Output();

  ProcessResult queued = Batchctl(target, {"stop", "9E867FAA"});
  EXPECT_EQ(queued.exit_code, 0) << queued.err;
  EXPECT_EQ(queued.out, "stopped batch 9E867FAA (was queued): credits refunded\n");
  ProcessResult running = Batchctl(target, {"stop", "2A6F94BB"});
  EXPECT_EQ(running.exit_code, 0) << running.err;
  EXPECT_EQ(running.out, "stopped batch 2A6F94BB (was running): no refund\n");
  ProcessResult idle = Batchctl(target, {"stop", "DEMOIDLE"});
  EXPECT_EQ(idle.exit_code, 9) << idle.err;
  ProcessResult again = Batchctl(target, {"stop", "9E867FAA"});  // now idle
  EXPECT_EQ(again.exit_code, 9) << again.err;
  ProcessResult unknown = Batchctl(target, {"stop", "FFFFFFFF"});
  EXPECT_EQ(unknown.exit_code, 5) << unknown.err;

  // The demo's result sets: their links point at the embedded simulator's
  // plain-http origin, which --simulate accepts (and nothing else over http).
  {
    auto stub = serpwow::batches::v1::BatchService::NewStub(
        grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    serpwow::batches::v1::GetResultSetRequest request;
    request.set_name("batches/9E867FAA/resultSets/3");
    serpwow::batches::v1::ResultSet set;
    grpc::Status status = stub->GetResultSet(&context, request, &set);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(set.searches_total(), 200);
    ASSERT_EQ(set.download_links().page_uris_size(), 1);
    EXPECT_TRUE(absl::StartsWith(set.download_links().page_uris(0), "http://127.0.0.1:"))
        << set.download_links().page_uris(0);
    EXPECT_TRUE(absl::StrContains(set.download_links().page_uris(0), "/files/9E867FAA/"));
  }

  EXPECT_EQ(server.Stop(SIGTERM, absl::Seconds(15)), 0);
  const std::string log = server.Output();
  EXPECT_TRUE(
      absl::StrContains(log, R"("msg":"rpc","method":"StopBatch","code":"OK","duration_ms":)"))
      << log;
  EXPECT_TRUE(absl::StrContains(log, R"("batch_id":"9E867FAA")")) << log;
  EXPECT_TRUE(absl::StrContains(log, "batch-server stopped")) << log;
}

TEST(BatchServerProcess, BadSettingsExitNonZeroNamingTheSetting) {
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string names;
  };
  const std::string missing_file = "/nonexistent/serpwow.key";
  const std::vector<Case> cases = {
      {{"--simulate", "--listen=nonsense"}, {}, "--listen"},
      {{"--simulate", "--listen=127.0.0.1:99999"}, {}, "--listen"},
      {{"--upstream=http://api.serpwow.com/live"}, {"SERPWOW_API_KEY=k"}, "--upstream"},
      {{"--upstream=not a url"}, {"SERPWOW_API_KEY=k"}, "--upstream"},
      {{}, {}, "SERPWOW_API_KEY"},
      {{"--api_key_file=" + missing_file}, {}, "--api_key_file"},
      {{"--simulate", "--upstream_timeout=0s"}, {}, "--upstream_timeout"},
      {{"--simulate", "--log_level=loud"}, {}, "--log_level"},
      {{"--simulate", "--handshake_timeout=0s"}, {}, "--handshake_timeout"},
      {{"--simulate", "--list_rate_per_minute=0"}, {}, "--list_rate_per_minute"},
      {{"--simulate", "--list_burst=0"}, {}, "--list_burst"},
      {{"--simulate", "--list_cache_ttl=-1s"}, {}, "--list_cache_ttl"},
      {{"--simulate", "--download_link_hosts=a b"}, {}, "--download_link_hosts"},
      {{"--simulate", "--upstream=https://api.scaleserp.com"}, {}, "--simulate"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {BATCH_SERVER_PATH, "--metrics_listen=127.0.0.1:0"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    ProcessResult r = RunProcess(argv, c.env, absl::Seconds(10));
    EXPECT_NE(r.exit_code, 0) << absl::StrJoin(c.args, " ");
    EXPECT_FALSE(r.timed_out);
    EXPECT_TRUE(absl::StrContains(r.err, c.names)) << absl::StrJoin(c.args, " ") << " -> " << r.err;
  }
}

TEST(BatchServerProcess, KeyAsAFlagValueIsRefused) {
  ProcessResult r = RunProcess({BATCH_SERVER_PATH, "--api_key=abc"}, {}, absl::Seconds(10));
  EXPECT_NE(r.exit_code, 0);
}

// The canary: a distinctive key (with characters that URL-escaping changes)
// used for real against a simulator that requires it; then every outcome is
// provoked and every byte the server logged and the CLI printed is searched.
TEST(BatchServerProcess, ApiKeyCanaryNeverLeaks) {
  const std::string canary = "CANARY-k3y+Z/9=q";
  const std::string escaped = "CANARY-k3y%2BZ%2F9%3Dq";
  sim::SimulatorOptions sim_options;
  sim_options.api_key = canary;
  auto sim = sim::Simulator::Start(sim_options);
  ASSERT_TRUE(sim.ok()) << sim.status();

  // Half the runs get the key from the environment, half from a file.
  char key_path[] = "/tmp/serpwow-canary-XXXXXX";
  {
    UniqueFd fd(mkstemp(key_path));
    ASSERT_TRUE(fd.valid());
    ASSERT_EQ(write(fd.get(), canary.data(), canary.size()), static_cast<ssize_t>(canary.size()));
  }

  for (bool from_file : {false, true}) {
    (*sim)->ResetRequests();
    (*sim)->PutBatch("QUEUED1", sim::BatchState::kQueued, 10);
    (*sim)->PutBatch("RUNNING1", sim::BatchState::kRunning, 10);
    (*sim)->PutBatch("IDLE1", sim::BatchState::kIdle, 10);
    (*sim)->PutBatch("FAULTY", sim::BatchState::kQueued, 10);
    std::vector<std::string> argv = {
        BATCH_SERVER_PATH, "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
        "--upstream=" + (*sim)->base_url(), "--log_level=debug", "--upstream_timeout=2s",
        // start --wait below: polls in ms, not s.
        "--watch_interval_queued=50ms", "--watch_interval_running=50ms",
        "--watch_interval_idle=50ms"};
    std::vector<std::string> env;
    if (from_file) {
      argv.push_back(std::string("--api_key_file=") + key_path);
    } else {
      env.push_back("SERPWOW_API_KEY=" + canary);
    }
    ChildProcess server(argv, env);
    const std::string target = WaitReady(server);
    ASSERT_FALSE(target.empty()) << server.Output();

    std::string cli_output;
    auto run = [&](const std::vector<std::string>& args) {
      ProcessResult r = Batchctl(target, args);
      cli_output += r.out + r.err;
      ProcessResult json_run = Batchctl(target, [&] {
        auto with_json = args;
        with_json.push_back("--json");
        return with_json;
      }());
      cli_output += json_run.out + json_run.err;
      return r;
    };
    EXPECT_EQ(run({"stop", "QUEUED1"}).exit_code, 0);
    EXPECT_EQ(run({"stop", "RUNNING1"}).exit_code, 0);
    EXPECT_EQ(run({"stop", "IDLE1"}).exit_code, 9);
    EXPECT_EQ(run({"stop", "NOSUCH"}).exit_code, 5);
    EXPECT_EQ(run({"stop", "bad/id?api_key=x"}).exit_code, 3);
    EXPECT_EQ(run({"get", "QUEUED1"}).exit_code, 0);
    EXPECT_EQ(run({"get", "NOSUCH"}).exit_code, 5);
    EXPECT_EQ(run({"get", "bad/id?api_key=x"}).exit_code, 3);
    // Each refusal, for the read GetBatch makes and for the stop.
    for (int status : {401, 402, 429, 500, 503, 418, 302}) {
      for (const auto& [suffix, verb] : std::vector<std::pair<std::string, std::string>>{
               {"/batches/FAULTY", "get"}, {"/FAULTY/stop", "stop"}}) {
        sim::Fault f;
        f.path_suffix = suffix;
        f.status = status;
        f.body =
            absl::StrCat(R"({"request_info":{"success":false,"message":"status )", status, "\"}}");
        if (status == 302) f.headers = {{"Location", "http://127.0.0.2:9/x"}};
        (*sim)->AddFault(f);
        EXPECT_NE(run({verb, "FAULTY"}).exit_code, 0) << verb << " " << status;
        (*sim)->ClearFaults();
      }
    }
    for (auto action : {sim::Fault::Action::kDropConnection, sim::Fault::Action::kResetMidBody,
                        sim::Fault::Action::kHang}) {
      sim::Fault f;
      f.action = action;
      f.path_suffix = "/FAULTY/stop";
      f.status = 200;
      f.body = "{}";
      (*sim)->AddFault(f);
      EXPECT_NE(run({"stop", "FAULTY"}).exit_code, 0);
      (*sim)->ClearFaults();
    }
    // The read RPCs of the account, result sets and searches, with download
    // links that carry the key (raw, escaped, as a parameter): refused, and
    // neither the key nor the link is logged or answered.
    std::string rpc_output;
    {
      (*sim)->PutBatch("LINKS1", sim::BatchState::kIdle, 10);
      ASSERT_TRUE((*sim)->CompleteRuns("LINKS1", 1).ok());
      for (const std::string& link :
           {absl::StrCat((*sim)->base_url(), "/files/LINKS1/a.json?api_key=", escaped),
            absl::StrCat((*sim)->base_url(), "/files/LINKS1/", canary, ".json")}) {
        (*sim)->ClearFaults();
        for (const char* suffix :
             {"/LINKS1/results/1", "/LINKS1/results/1/csv", "/LINKS1/searches/json"}) {
          sim::Fault f;
          f.path_suffix = suffix;
          f.status = 200;
          f.body = absl::StrCat(R"({"request_info":{"success":true},"result":{"id":1,)",
                                R"("download_links":{"pages":[")", link,
                                R"("]}},"download_links":{"pages":[")", link, R"("]}})");
          (*sim)->AddFault(f);
        }
        auto stub = serpwow::batches::v1::BatchService::NewStub(
            grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
        namespace v1 = serpwow::batches::v1;
        using Stub = v1::BatchService::Stub;
        auto call = [&](auto method, const auto& request, auto* response) {
          grpc::ClientContext c;
          c.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
          return ((*stub).*method)(&c, request, response);
        };
        v1::GetResultSetRequest get;
        get.set_name("batches/LINKS1/resultSets/1");
        v1::ExportResultSetRequest exported;
        exported.set_name(get.name());
        exported.set_format(v1::EXPORT_FORMAT_CSV);
        v1::ExportSearchesRequest searches;
        searches.set_parent("batches/LINKS1");
        v1::ResultSet set;
        v1::ExportResultSetResponse export_response;
        v1::ExportSearchesResponse searches_response;
        const std::vector<grpc::Status> statuses = {
            call(&Stub::GetResultSet, get, &set),
            call(&Stub::ExportResultSet, exported, &export_response),
            call(&Stub::ExportSearches, searches, &searches_response)};
        for (const grpc::Status& st : statuses) {
          EXPECT_EQ(st.error_code(), grpc::StatusCode::INTERNAL) << st.error_message();
          rpc_output += st.error_message() + st.error_details();
        }
      }
      (*sim)->ClearFaults();
    }
    // Every other batchctl verb, each also with --json (run() makes both).
    (*sim)->PutBatch("VERBS1", sim::BatchState::kIdle, 10);
    ASSERT_TRUE((*sim)->CompleteRuns("VERBS1", 1).ok());
    ASSERT_TRUE((*sim)->PutSearches("VERBS1", 3).ok());
    for (const std::vector<std::string>& verb : std::vector<std::vector<std::string>>{
             {"list", "--limit=3"},
             {"describe", "VERBS1"},
             {"account"},
             {"results", "list", "VERBS1"},
             {"results", "get", "VERBS1", "1"},
             {"results", "export", "VERBS1", "1", "--format=csv"},
             {"searches", "list", "VERBS1"},
             {"searches", "export", "VERBS1"},
             {"searches", "add", "VERBS1", "--q=canary pizza", "--param", "gl=us"},
             {"searches", "find", "VERBS1", "pizza"},
             {"searches", "list", "VERBS1", "--custom-id=c1"},
             {"searches", "update", "VERBS1", "AAAAAAAAAAAAAAAA", "--q=tea"},
             {"searches", "delete", "VERBS1", "AAAAAAAAAAAAAAAB", "AAAAAAAAAAAAAAAC"},
             {"searches", "delete", "VERBS1", "AAAAAAAAAAAAAAAA"},
             {"searches", "clear", "VERBS1", "--dry-run"},
             {"searches", "clear", "VERBS1", "--yes"},
             {"create", "--name=Canary batch", "--schedule=daily", "--hours=9"},
             {"update", "VERBS1", "--priority=high"},
             {"start", "VERBS1"},
             {"stop", "--all", "--dry_run"},
             {"stop", "--all"},
             {"delete", "VERBS1", "--force"}}) {
      EXPECT_EQ(run(verb).exit_code, 0) << absl::StrJoin(verb, " ");
    }
    EXPECT_EQ(run({"searches", "find", "NOSUCH", "x"}).exit_code, 5);
    EXPECT_EQ(run({"watch", "NOSUCH"}).exit_code, 5);
    EXPECT_EQ(run({"watch", "bad/id?api_key=x"}).exit_code, 3);
    // The watch behind start --wait, to the run's end (moved on by the
    // simulator's clock), plain and as JSON.
    for (const char* format : {"-o=table", "--json"}) {
      (*sim)->PutBatch("WAIT1", sim::BatchState::kIdle, 10);
      ProcessResult waited;
      std::thread cli([&] { waited = Batchctl(target, {"start", "WAIT1", "--wait", format}); });
      const absl::Time until = absl::Now() + absl::Seconds(10);
      while (absl::Now() < until && (*sim)->GetBatch("WAIT1")->state == sim::BatchState::kIdle) {
        absl::SleepFor(absl::Milliseconds(5));
      }
      (*sim)->AdvanceTime(absl::Minutes(3));
      cli.join();
      EXPECT_EQ(waited.exit_code, 0) << waited.out << waited.err;
      cli_output += waited.out + waited.err;
      (*sim)->RemoveBatch("WAIT1");
    }
    EXPECT_EQ(run({"list", "--filter=colour = red"}).exit_code, 3);
    EXPECT_EQ(run({"create", "--name=Bad", "--schedule=daily", "--hours=25"}).exit_code, 3);

    // The key was really used: the simulator accepted the gateway's calls.
    int authorised = 0;
    for (const auto& req : (*sim)->requests()) authorised += req.had_api_key ? 1 : 0;
    EXPECT_GT(authorised, 10);

    EXPECT_EQ(server.Stop(SIGTERM, absl::Seconds(15)), 0);
    const std::string log = server.Output();
    EXPECT_TRUE(absl::StrContains(log, R"("method":"StopBatch")")) << log;  // it did log
    EXPECT_TRUE(absl::StrContains(log, R"("method":"GetBatch")")) << log;
    for (const char* method :
         {"ListBatches", "GetAccount", "ListResultSets", "GetResultSet", "ExportResultSet",
          "ListSearches", "ExportSearches", "CreateBatch", "UpdateBatch", "StartBatch",
          "StopAllBatches", "DeleteBatch", "AddSearches", "UpdateSearch", "DeleteSearch",
          "BatchDeleteSearches", "PurgeSearches", "WatchBatch"}) {
      EXPECT_TRUE(absl::StrContains(log, absl::StrCat("\"method\":\"", method, "\""))) << method;
    }
    EXPECT_TRUE(absl::StrContains(log, R"("method":"ExportSearches")")) << log;
    EXPECT_FALSE(absl::StrContains(log, "/files/LINKS1")) << "a refused link is never logged";
    for (const std::string& needle : {canary, escaped, std::string("CANARY")}) {
      EXPECT_FALSE(absl::StrContains(log, needle)) << "server log leaks the key";
      EXPECT_FALSE(absl::StrContains(cli_output, needle)) << "CLI output leaks the key";
      EXPECT_FALSE(absl::StrContains(rpc_output, needle)) << "a status leaks the key";
    }
    EXPECT_FALSE(absl::StrContains(cli_output, "api_key")) << cli_output;
  }
  unlink(key_path);
}

// The process's environment as the kernel shows it to anyone who may read
// /proc/PID/environ (the block the process started with, whatever unsetenv
// did since); "" if it cannot be read.
std::string EnvironOf(pid_t pid) {
  UniqueFd fd(open(absl::StrCat("/proc/", pid, "/environ").c_str(), O_RDONLY | O_CLOEXEC));
  std::string out;
  char buf[4096];
  ssize_t n = 0;
  while (fd.valid() && (n = read(fd.get(), buf, sizeof(buf))) > 0) out.append(buf, n);
  return out;
}

// SERPWOW_API_KEY leaves the environment once read: its bytes are gone from
// /proc/PID/environ (unsetenv alone would leave them there), and the server
// still calls SerpWow with it. With --simulate it is not used, and goes all
// the same.
TEST(BatchServerProcess, ApiKeyLeavesTheEnvironmentOnceRead) {
  const std::string key = "ENVKEY-7c1f0e9a4b2d";
  sim::SimulatorOptions sim_options;
  sim_options.api_key = key;
  auto sim = sim::Simulator::Start(sim_options);
  ASSERT_TRUE(sim.ok()) << sim.status();
  (*sim)->PutBatch("ENVQ1", sim::BatchState::kQueued, 10);
  const std::vector<std::string> env = {"SERPWOW_API_KEY=" + key, "SERPWOW_TEST_MARKER=present"};
  for (bool simulate : {false, true}) {
    std::vector<std::string> argv = {BATCH_SERVER_PATH, "--listen=127.0.0.1:0",
                                     "--metrics_listen="};
    argv.push_back(simulate ? "--simulate" : "--upstream=" + (*sim)->base_url());
    ChildProcess server(argv, env);
    const std::string target = WaitReady(server);
    ASSERT_FALSE(target.empty()) << server.Output();
    const std::string environ_block = EnvironOf(server.pid());
    // The right file, read: the rest of the environment is there.
    EXPECT_TRUE(absl::StrContains(environ_block, std::string("SERPWOW_TEST_MARKER=present\0", 28)))
        << "simulate=" << simulate;
    EXPECT_FALSE(absl::StrContains(environ_block, key)) << "simulate=" << simulate;
    EXPECT_FALSE(absl::StrContains(environ_block, "ENVKEY")) << "simulate=" << simulate;
    if (!simulate) {
      // Still held: the simulator, which requires the key, accepts the stop.
      ProcessResult r = Batchctl(target, {"stop", "ENVQ1"});
      EXPECT_EQ(r.exit_code, 0) << r.err;
      EXPECT_EQ(r.out, "stopped batch ENVQ1 (was queued): credits refunded\n");
    }
    EXPECT_EQ(server.Stop(SIGTERM, absl::Seconds(10)), 0);
    EXPECT_FALSE(absl::StrContains(server.Output(), key));
  }
}

// SIGTERM with slow RPCs in flight: the quick ones finish, the stuck ones end
// with UNAVAILABLE when the grace period is over, new calls are refused, and
// the process exits 0 within the grace period (plus a little).
TEST(BatchServerProcess, SigtermWithSlowCallsInFlight) {
  sim::SimulatorOptions sim_options;
  sim_options.api_key = "sigterm-test-key";
  auto sim = sim::Simulator::Start(sim_options);
  ASSERT_TRUE(sim.ok()) << sim.status();
  const std::vector<std::string> quick = {"QUICK1", "QUICK2", "QUICK3"};
  const std::vector<std::string> stuck = {"STUCK1", "STUCK2"};
  for (const auto& id : quick) {
    (*sim)->PutBatch(id, sim::BatchState::kQueued, 10);
    sim::Fault f;
    f.path_suffix = "/" + id + "/stop";
    f.delay = absl::Milliseconds(400);
    (*sim)->AddFault(f);
  }
  for (const auto& id : stuck) {
    (*sim)->PutBatch(id, sim::BatchState::kQueued, 10);
    sim::Fault f;
    f.path_suffix = "/" + id + "/stop";
    f.action = sim::Fault::Action::kHang;
    (*sim)->AddFault(f);
  }
  ChildProcess server({BATCH_SERVER_PATH, "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
                       "--upstream=" + (*sim)->base_url(), "--shutdown_grace=1500ms"},
                      {"SERPWOW_API_KEY=sigterm-test-key"});
  const std::string target = WaitReady(server);
  ASSERT_FALSE(target.empty()) << server.Output();

  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  auto stub = serpwow::batches::v1::BatchService::NewStub(channel);
  struct Call {
    grpc::ClientContext context;
    serpwow::batches::v1::StopBatchRequest request;
    serpwow::batches::v1::StopBatchResponse response;
    grpc::Status status;
    absl::Notification done;
  };
  std::vector<std::string> ids = quick;
  ids.insert(ids.end(), stuck.begin(), stuck.end());
  std::vector<std::unique_ptr<Call>> calls;
  while (calls.size() < ids.size()) calls.push_back(std::make_unique<Call>());
  for (size_t i = 0; i < calls.size(); ++i) {
    Call& c = *calls[i];
    c.context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    c.request.set_batch_id(ids[i]);
    stub->async()->StopBatch(&c.context, &c.request, &c.response, [&c](grpc::Status st) {
      c.status = std::move(st);
      c.done.Notify();
    });
  }
  // Wait until every stop is in flight upstream.
  const absl::Time until = absl::Now() + absl::Seconds(10);
  auto stops_seen = [&] {
    int n = 0;
    for (const auto& r : (*sim)->requests()) n += absl::EndsWith(r.path, "/stop") ? 1 : 0;
    return n;
  };
  while (stops_seen() < static_cast<int>(calls.size()) && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ(stops_seen(), static_cast<int>(calls.size()));

  const absl::Time sigterm_at = absl::Now();
  kill(server.pid(), SIGTERM);
  absl::SleepFor(absl::Milliseconds(150));
  // A new call after SIGTERM is refused.
  {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
    serpwow::batches::v1::StopBatchRequest request;
    request.set_batch_id("QUICK1");
    serpwow::batches::v1::StopBatchResponse response;
    grpc::Status late = stub->StopBatch(&context, request, &response);
    EXPECT_EQ(late.error_code(), grpc::StatusCode::UNAVAILABLE) << late.error_message();
  }
  for (auto& c : calls) ASSERT_TRUE(c->done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  for (size_t i = 0; i < quick.size(); ++i) {
    EXPECT_TRUE(calls[i]->status.ok()) << ids[i] << ": " << calls[i]->status.error_message();
    EXPECT_TRUE(calls[i]->response.credits_refunded()) << ids[i];
  }
  for (size_t i = quick.size(); i < calls.size(); ++i) {
    EXPECT_EQ(calls[i]->status.error_code(), grpc::StatusCode::UNAVAILABLE) << ids[i];
  }
  EXPECT_EQ(server.Stop(SIGTERM, absl::Seconds(10)), 0);
  const absl::Duration took = absl::Now() - sigterm_at;
  EXPECT_LT(took, absl::Milliseconds(1500) + absl::Seconds(2));
  EXPECT_TRUE(absl::StrContains(server.Output(), "batch-server stopped")) << server.Output();
}

TEST(BatchServerProcess, EverySettingCanComeFromTheEnvironment) {
  // Environment only.
  ChildProcess from_env({BATCH_SERVER_PATH},
                        {"BATCH_SERVER_SIMULATE=true", "BATCH_SERVER_LISTEN=127.0.0.1:0",
                         "BATCH_SERVER_METRICS_LISTEN=127.0.0.1:0"});
  std::string target = WaitReady(from_env);
  EXPECT_FALSE(target.empty()) << from_env.Output();
  if (!target.empty()) {
    ProcessResult r = Batchctl(target, {"stop", "2A6F94BB"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  EXPECT_EQ(from_env.Stop(SIGTERM, absl::Seconds(10)), 0) << from_env.Output();
  ProcessResult level = RunProcess({BATCH_SERVER_PATH, "--simulate"},
                                   {"BATCH_SERVER_LOG_LEVEL=loud"}, absl::Seconds(10));
  EXPECT_EQ(level.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(level.err, "--log_level")) << level.err;

  // The command line wins over the environment.
  ChildProcess both({BATCH_SERVER_PATH, "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0"},
                    {"BATCH_SERVER_SIMULATE=1", "BATCH_SERVER_LISTEN=nonsense"});
  target = WaitReady(both);
  EXPECT_FALSE(target.empty()) << both.Output();
  if (!target.empty()) {
    ProcessResult r = Batchctl(target, {"stop", "9E867FAA"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  EXPECT_EQ(both.Stop(SIGTERM, absl::Seconds(10)), 0);

  // A bad value names the variable, not the value.
  ProcessResult bad = RunProcess({BATCH_SERVER_PATH}, {"BATCH_SERVER_UPSTREAM_TIMEOUT=SECRETish"},
                                 absl::Seconds(10));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(bad.err, "BATCH_SERVER_UPSTREAM_TIMEOUT")) << bad.err;
  EXPECT_FALSE(absl::StrContains(bad.err, "SECRETish")) << bad.err;

  // --help documents the variables.
  ProcessResult help = RunProcess({BATCH_SERVER_PATH, "--help"}, {}, absl::Seconds(10));
  for (const char* var :
       {"BATCH_SERVER_LISTEN", "BATCH_SERVER_METRICS_LISTEN", "BATCH_SERVER_SHUTDOWN_GRACE",
        "BATCH_SERVER_TLS_CERT_FILE", "BATCH_SERVER_AUTH_TOKENS_FILE",
        "BATCH_SERVER_MAX_CONNECTION_AGE", "BATCH_SERVER_HANDSHAKE_TIMEOUT", "SERPWOW_API_KEY"}) {
    EXPECT_TRUE(absl::StrContains(help.out + help.err, var)) << var;
  }
}

// --handshake_timeout, from the environment and from the command line (which
// wins): a connection that never sends the HTTP/2 preface is closed after it,
// and the server keeps serving.
TEST(BatchServerProcess, HandshakeTimeoutComesFromTheFlagOrTheEnvironment) {
  struct Case {
    const char* name;
    std::vector<std::string> args;
    std::vector<std::string> env;
  };
  const std::vector<Case> cases = {
      {"environment", {}, {"BATCH_SERVER_HANDSHAKE_TIMEOUT=300ms"}},
      {"flag over environment",
       {"--handshake_timeout=300ms"},
       {"BATCH_SERVER_HANDSHAKE_TIMEOUT=1h"}},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {BATCH_SERVER_PATH, "--simulate", "--listen=127.0.0.1:0",
                                     "--metrics_listen="};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    ChildProcess server(argv, c.env);
    const std::string target = WaitReady(server);
    ASSERT_FALSE(target.empty()) << c.name << ": " << server.Output();
    int port = 0;
    ASSERT_TRUE(absl::SimpleAtoi(target.substr(target.rfind(':') + 1), &port)) << target;
    const absl::Time start = absl::Now();
    UniqueFd silent = ConnectLoopback(port);
    ASSERT_TRUE(silent.valid()) << c.name;
    absl::optional<absl::Duration> closed = WaitForPeerClose(silent.get(), start, absl::Seconds(5));
    ASSERT_TRUE(closed.has_value()) << c.name << ": still open after 5 s";
    EXPECT_GE(*closed, absl::Milliseconds(250)) << c.name;
    EXPECT_LT(*closed, absl::Milliseconds(2300)) << c.name;
    ProcessResult r = Batchctl(target, {"stop", "9E867FAA"});
    EXPECT_EQ(r.exit_code, 0) << c.name << ": " << r.err;
    EXPECT_EQ(server.Stop(SIGTERM, absl::Seconds(10)), 0) << c.name;
  }
}

TEST(BatchServerProcess, HelpExitsZeroListingTheFlagsWithoutBuildPaths) {
  for (const char* help : {"--help", "-h"}) {
    ProcessResult r = RunProcess({BATCH_SERVER_PATH, help}, {}, absl::Seconds(10));
    EXPECT_EQ(r.exit_code, 0) << help << ": " << r.err;
    EXPECT_EQ(r.err, "") << help;
    EXPECT_TRUE(absl::StartsWith(r.out, "batch-server: serves serpwow.batches.v1.BatchService"))
        << r.out;
    EXPECT_TRUE(HelpIsClean(
        r.out, {"listen", "metrics_listen", "health_listen", "upstream", "api_key_file", "simulate",
                "upstream_timeout", "upstream_ca_file", "shutdown_grace", "log_level",
                "tls_cert_file", "auth_tokens_file", "max_connection_age", "handshake_timeout"}));
    EXPECT_TRUE(absl::StrContains(r.out, "--listen=\"0.0.0.0:50051\"")) << r.out;
  }
  // --help wins over settings that would make it exit 2, and starts nothing.
  ProcessResult r = RunProcess({BATCH_SERVER_PATH, "--listen=nonsense", "--help"},
                               {"BATCH_SERVER_LOG_LEVEL=loud"}, absl::Seconds(10));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(absl::StrContains(r.out + r.err, "listening on"));
}

// --upstream_ca_file end to end: an https upstream (the simulator in TLS mode
// with a throwaway CA) is trusted with the flag, and refused without it (the
// system store does not know the test CA).
TEST(BatchServerProcess, UpstreamCaFileTrustsAnHttpsUpstream) {
  TestCerts certs = MakeTestCerts();
  ASSERT_EQ(certs.error, "");
  sim::SimulatorOptions sim_options;
  sim_options.api_key = "tls-process-key-0123456789";
  sim_options.tls_cert_file = certs.server_cert;
  sim_options.tls_key_file = certs.server_key;
  auto sim = sim::Simulator::Start(sim_options);
  ASSERT_TRUE(sim.ok()) << sim.status();
  (*sim)->PutBatch("TLSQ1", sim::BatchState::kQueued, 10);
  const std::vector<std::string> env = {"SERPWOW_API_KEY=" + sim_options.api_key};
  for (bool with_ca : {true, false}) {
    std::vector<std::string> argv = {BATCH_SERVER_PATH, "--listen=127.0.0.1:0",
                                     "--metrics_listen=", "--upstream=" + (*sim)->base_url(),
                                     "--upstream_timeout=3s"};
    if (with_ca) argv.push_back("--upstream_ca_file=" + certs.ca_cert);
    ChildProcess server(argv, env);
    const std::string target = WaitReady(server);
    ASSERT_FALSE(target.empty()) << server.Output();
    ProcessResult r = Batchctl(target, {"stop", "TLSQ1"});
    if (with_ca) {
      EXPECT_EQ(r.exit_code, 0) << r.err;
      EXPECT_EQ(r.out, "stopped batch TLSQ1 (was queued): credits refunded\n");
      EXPECT_GE((*sim)->tls_handshakes(), 1);
      (*sim)->PutBatch("TLSQ1", sim::BatchState::kQueued, 10);
    } else {
      EXPECT_EQ(r.exit_code, 14) << r.err;  // UNAVAILABLE: the certificate is not trusted
      EXPECT_EQ((*sim)->GetBatch("TLSQ1")->state, sim::BatchState::kQueued);
    }
    EXPECT_EQ(server.Stop(SIGTERM, absl::Seconds(10)), 0);
    EXPECT_FALSE(absl::StrContains(server.Output() + r.out + r.err, sim_options.api_key));
  }
  RunProcess({"/bin/rm", "-rf", certs.dir});
}

// Logging never blocks: with stderr a pipe that nobody reads (it fills after
// 64 KiB), thousands of calls that each log a line still all complete, and the
// lines that did not fit are counted and reported once the pipe is read again.
TEST(BatchServerProcess, AnUnreadLogNeverStallsCalls) {
  ChildProcess server(
      {BATCH_SERVER_PATH, "--simulate", "--listen=127.0.0.1:0", "--metrics_listen="}, {});
  const std::string target = WaitReady(server);
  ASSERT_FALSE(target.empty()) << server.Output();
  // From here on nothing reads the server's stderr until Stop().
  auto stub = serpwow::batches::v1::BatchService::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  constexpr int kCalls = 8000;  // each logs a warning line of ~300 bytes: > 2 MiB in all
  const absl::Time start = absl::Now();
  for (int i = 0; i < kCalls; ++i) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    serpwow::batches::v1::StopBatchRequest request;
    request.set_batch_id("not/valid");
    serpwow::batches::v1::StopBatchResponse response;
    grpc::Status status = stub->StopBatch(&context, request, &response);
    ASSERT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << "call " << i << ": " << status.error_message();
  }
  const absl::Duration took = absl::Now() - start;
  EXPECT_LT(took, absl::Seconds(60));
  EXPECT_EQ(server.Stop(SIGTERM, absl::Seconds(10)), 0);
  const std::string out = server.Output();
  EXPECT_TRUE(absl::StrContains(out, "log lines dropped")) << out.substr(0, 2000);
  EXPECT_TRUE(absl::StrContains(out, "batch-server stopped")) << out.substr(out.size() - 2000);
}

}  // namespace
}  // namespace serpwow::testing
