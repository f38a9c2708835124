// batch-server as an operator runs it: the real binary, its flags, its log
// lines, its signals; and the API key canary: the key is never in a log
// line, a status message or CLI output.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "sim/simulator.h"
#include "tests/support/subprocess.h"

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
  int fd = mkstemp(key_path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, canary.data(), canary.size()), static_cast<ssize_t>(canary.size()));
  close(fd);

  for (bool from_file : {false, true}) {
    (*sim)->ResetRequests();
    (*sim)->PutBatch("QUEUED1", sim::BatchState::kQueued, 10);
    (*sim)->PutBatch("RUNNING1", sim::BatchState::kRunning, 10);
    (*sim)->PutBatch("IDLE1", sim::BatchState::kIdle, 10);
    (*sim)->PutBatch("FAULTY", sim::BatchState::kQueued, 10);
    std::vector<std::string> argv = {BATCH_SERVER_PATH,
                                     "--listen=127.0.0.1:0",
                                     "--metrics_listen=127.0.0.1:0",
                                     "--upstream=" + (*sim)->base_url(),
                                     "--log_level=debug",
                                     "--upstream_timeout=2s"};
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
    for (int status : {401, 402, 429, 500, 503, 418, 302}) {
      sim::Fault f;
      f.path_suffix = "/FAULTY/stop";
      f.status = status;
      f.body =
          absl::StrCat(R"({"request_info":{"success":false,"message":"status )", status, "\"}}");
      if (status == 302) f.headers = {{"Location", "http://127.0.0.2:9/x"}};
      (*sim)->AddFault(f);
      EXPECT_NE(run({"stop", "FAULTY"}).exit_code, 0) << status;
      (*sim)->ClearFaults();
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
    // The key was really used: the simulator accepted the gateway's calls.
    int authorised = 0;
    for (const auto& req : (*sim)->requests()) authorised += req.had_api_key ? 1 : 0;
    EXPECT_GT(authorised, 10);

    EXPECT_EQ(server.Stop(SIGTERM, absl::Seconds(15)), 0);
    const std::string log = server.Output();
    EXPECT_TRUE(absl::StrContains(log, R"("method":"StopBatch")")) << log;  // it did log
    for (const std::string& needle : {canary, escaped, std::string("CANARY")}) {
      EXPECT_FALSE(absl::StrContains(log, needle)) << "server log leaks the key";
      EXPECT_FALSE(absl::StrContains(cli_output, needle)) << "CLI output leaks the key";
    }
    EXPECT_FALSE(absl::StrContains(cli_output, "api_key")) << cli_output;
  }
  unlink(key_path);
}

}  // namespace
}  // namespace serpwow::testing
