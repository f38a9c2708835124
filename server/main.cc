// batch-server: the SerpWow Batches gRPC gateway. Flags and the key in,
// a running Gateway out; SIGTERM/SIGINT shut it down gracefully.
#include <curl/curl.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "server/gateway.h"
#include "sim/simulator.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:50051", "gRPC listen address, HOST:PORT (port 0: any)");
ABSL_FLAG(std::string, upstream, "https://api.serpwow.com/live",
          "SerpWow Batches API base URL. Scale SERP: https://api.scaleserp.com, Value SERP: "
          "https://api.valueserp.com. Plain http only to a loopback host");
ABSL_FLAG(std::string, api_key_file, "",
          "file holding the SerpWow API key (else the SERPWOW_API_KEY environment variable); "
          "the key is never accepted as a flag value");
ABSL_FLAG(bool, simulate, false,
          "start an embedded SerpWow simulator on a loopback port and use it as the upstream "
          "(no key, no network needed)");
ABSL_FLAG(absl::Duration, upstream_timeout, absl::Seconds(10),
          "upper bound on one upstream request, whatever the caller's deadline");
ABSL_FLAG(absl::Duration, upstream_connect_timeout, absl::Seconds(3),
          "upper bound on connecting to the upstream");
ABSL_FLAG(int, upstream_max_idle_connections, 64, "idle upstream connections kept for reuse");
ABSL_FLAG(std::string, upstream_ca_file, "",
          "CA bundle to verify the upstream's TLS certificate (default: the system store)");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "on SIGTERM/SIGINT, how long calls in flight may take to finish");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error");

namespace {

constexpr int kExitBadConfig = 2;
constexpr int kExitStartFailed = 1;

[[noreturn]] void Fail(int code, const std::string& message) {
  std::fprintf(stderr, "batch-server: %s\n", message.c_str());
  std::exit(code);
}

// Reads the key from --api_key_file or SERPWOW_API_KEY. Messages never
// contain the key.
std::string ReadApiKey() {
  const std::string path = absl::GetFlag(FLAGS_api_key_file);
  const char* env = std::getenv("SERPWOW_API_KEY");
  if (!path.empty() && env != nullptr && *env != '\0') {
    Fail(kExitBadConfig, "both --api_key_file and SERPWOW_API_KEY are set; set only one");
  }
  if (!path.empty()) {
    std::ifstream in(path, std::ios::binary);
    if (!in) Fail(kExitBadConfig, absl::StrCat("--api_key_file: cannot read ", path));
    std::ostringstream content;
    content << in.rdbuf();
    std::string key(absl::StripAsciiWhitespace(content.str()));
    if (key.empty()) Fail(kExitBadConfig, absl::StrCat("--api_key_file: ", path, " is empty"));
    return key;
  }
  if (env != nullptr && *env != '\0') return std::string(absl::StripAsciiWhitespace(env));
  Fail(kExitBadConfig,
       "no SerpWow API key: set SERPWOW_API_KEY or --api_key_file=PATH (or use --simulate)");
}

std::string RandomKey() {
  std::random_device rd;
  std::string key = "sim-";
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 32; ++i) key.push_back(kHex[rd() % 16]);
  return key;
}

serpwow::LogLevel ParseLogLevel(const std::string& name) {
  if (name == "debug") return serpwow::LogLevel::kDebug;
  if (name == "info") return serpwow::LogLevel::kInfo;
  if (name == "warning") return serpwow::LogLevel::kWarning;
  if (name == "error") return serpwow::LogLevel::kError;
  Fail(kExitBadConfig, "--log_level must be debug, info, warning or error");
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "serves serpwow.batches.v1.BatchService in front of the SerpWow Batches API.\n"
      "  batch-server --simulate                 # try it, no key needed\n"
      "  SERPWOW_API_KEY=... batch-server        # production");
  absl::ParseCommandLine(argc, argv);
  serpwow::SetMinLogLevel(ParseLogLevel(absl::GetFlag(FLAGS_log_level)));

  // Before any thread exists: signals are taken by sigwait below, and
  // libcurl's global state is set up once.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    Fail(kExitStartFailed, "libcurl initialisation failed");
  }

  serpwow::GatewayOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.upstream.timeout_cap = absl::GetFlag(FLAGS_upstream_timeout);
  options.upstream.connect_timeout = absl::GetFlag(FLAGS_upstream_connect_timeout);
  options.loop.max_idle_connections = absl::GetFlag(FLAGS_upstream_max_idle_connections);
  options.loop.ca_file = absl::GetFlag(FLAGS_upstream_ca_file);
  if (options.upstream.timeout_cap <= absl::ZeroDuration()) {
    Fail(kExitBadConfig, "--upstream_timeout must be positive");
  }
  if (options.upstream.connect_timeout <= absl::ZeroDuration()) {
    Fail(kExitBadConfig, "--upstream_connect_timeout must be positive");
  }
  if (options.loop.max_idle_connections < 1) {
    Fail(kExitBadConfig, "--upstream_max_idle_connections must be at least 1");
  }
  if (absl::GetFlag(FLAGS_shutdown_grace) < absl::ZeroDuration()) {
    Fail(kExitBadConfig, "--shutdown_grace must not be negative");
  }

  std::unique_ptr<serpwow::sim::Simulator> simulator;
  std::string upstream_label;
  if (absl::GetFlag(FLAGS_simulate)) {
    if (absl::GetFlag(FLAGS_upstream) != "https://api.serpwow.com/live") {
      Fail(kExitBadConfig, "--simulate and --upstream exclude each other");
    }
    serpwow::sim::SimulatorOptions sim_options;
    sim_options.api_key = RandomKey();
    sim_options.live_prefix = true;  // behave like SerpWow itself
    absl::StatusOr<std::unique_ptr<serpwow::sim::Simulator>> sim =
        serpwow::sim::Simulator::Start(sim_options);
    if (!sim.ok()) {
      Fail(kExitStartFailed, absl::StrCat("--simulate: ", sim.status().message()));
    }
    simulator = std::move(*sim);
    simulator->SeedDemo();
    options.upstream.base_url = simulator->base_url();
    options.upstream.api_key = sim_options.api_key;
    upstream_label = absl::StrCat("embedded simulator at ", simulator->base_url());
  } else {
    options.upstream.base_url = absl::GetFlag(FLAGS_upstream);
    if (absl::Status s = serpwow::upstream::ValidateBaseUrl(options.upstream.base_url); !s.ok()) {
      Fail(kExitBadConfig, std::string(s.message()));
    }
    options.upstream.api_key = ReadApiKey();
    if (absl::Status s = serpwow::upstream::ValidateApiKey(options.upstream.api_key); !s.ok()) {
      Fail(kExitBadConfig, std::string(s.message()));
    }
    upstream_label = options.upstream.base_url;
  }

  absl::StatusOr<std::unique_ptr<serpwow::Gateway>> gateway =
      serpwow::Gateway::Start(std::move(options));
  if (!gateway.ok()) {
    Fail(gateway.status().code() == absl::StatusCode::kInvalidArgument ? kExitBadConfig
                                                                       : kExitStartFailed,
         std::string(gateway.status().message()));
  }
  SERPWOW_LOG(kInfo, "batch-server listening on ", (*gateway)->address(),
              " (upstream: ", upstream_label, ")");
  if (simulator != nullptr) {
    SERPWOW_LOG(kInfo, "simulated account:\n", serpwow::sim::Simulator::SeedDemoDescription());
  }

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  SERPWOW_LOG(kInfo, "received ", signal_number == SIGTERM ? "SIGTERM" : "SIGINT",
              "; shutting down (grace ", absl::FormatDuration(absl::GetFlag(FLAGS_shutdown_grace)),
              ")");
  (*gateway)->Shutdown(absl::GetFlag(FLAGS_shutdown_grace));
  gateway->reset();
  simulator.reset();
  curl_global_cleanup();
  SERPWOW_LOG(kInfo, "batch-server stopped");
  return 0;
}
