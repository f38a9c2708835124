// serpwow-sim: the SerpWow Batches API simulator as a standalone process, for
// trying the gateway by hand. Loopback only. The accepted api_key comes from
// the environment (SERPWOW_API_KEY), never from a flag, so no key shows up in
// argv or `ps`; without it any non-empty key is accepted.
//
// With --tls_cert_file and --tls_key_file it serves HTTPS only (the base URL
// then starts with https://); see sim/simulator.h for the TLS details.
//
// Prints exactly one "serpwow-sim listening on <base url>" line on stdout (then
// the demo description when seeded), and runs until SIGINT or SIGTERM, after
// which it shuts down cleanly and exits 0. Bad settings exit 2 with a message
// naming the setting.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/flag_env.h"
#include "common/host_port.h"
#include "common/log.h"
#include "common/process.h"
#include "sim/simulator.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:8080",
          "HOST:PORT to listen on. HOST must be loopback (127.0.0.0/8, [::1], localhost); "
          "PORT 0 picks a free port.");
ABSL_FLAG(bool, live_prefix, false, "Serve every path under /live, as api.serpwow.com does.");
ABSL_FLAG(int, stop_idle_status, 400, "HTTP status for stopping an idle batch.");
ABSL_FLAG(int, unknown_batch_status, 404, "HTTP status for an unknown batch id.");
ABSL_FLAG(absl::Duration, queue_delay, absl::Seconds(30),
          "How long a started batch stays queued before it runs (e.g. 30s, 2m).");
ABSL_FLAG(absl::Duration, run_duration, absl::Seconds(60),
          "How long a batch runs before it is idle again.");
ABSL_FLAG(int64_t, credits, 10000, "Account credits at start.");
ABSL_FLAG(bool, seed_demo, true, "Seed demo batches in every state (listed at start).");
ABSL_FLAG(bool, stop_reply_reports_refund, false,
          "Add \"credits_refunded\" and \"previous_status\" to the stop reply (not in the real "
          "API).");
ABSL_FLAG(bool, singular_count_fields, false,
          "Spell the search counts of batch objects search_total_count and search_page_count, "
          "as SerpWow's Get Batch example does (default: searches_..., as every other page).");
ABSL_FLAG(int, list_rate_per_minute, 60,
          "GET /batches calls accepted in any 60 s (SerpWow documents 60); beyond, 429. "
          "0 turns the limit off.");
ABSL_FLAG(bool, list_rate_limit_retry_after, false,
          "Send Retry-After with that 429 (SerpWow is not known to).");
ABSL_FLAG(absl::Duration, result_set_retention, absl::Hours(24 * 14),
          "How long a result set is kept after its run ended (SerpWow: 14 days).");
ABSL_FLAG(bool, links_include_api_key, false,
          "Hostile variant: every download link carries ?api_key=<the key> (the gateway must "
          "refuse to pass such links on).");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM server certificate (optionally followed by its chain). With --tls_key_file, "
          "serve HTTPS only (TLS 1.2/1.3, session resumption on); without both, plain HTTP.");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key (unencrypted) for --tls_cert_file.");
ABSL_FLAG(std::string, start_queued, "refuse",
          "Start of a queued batch: refuse (like a running one) or accept (a no-op success).");
ABSL_FLAG(int, insufficient_credits_status, 402,
          "HTTP status for a start with too few credits (402 or 400).");
ABSL_FLAG(std::string, mutation_refused_when, "running",
          "Update and delete are refused when the batch is running, or queued_or_running.");
ABSL_FLAG(int, busy_status, 400,
          "HTTP status of a start, update or delete refused by the batch's state.");
ABSL_FLAG(int64_t, max_batches, 10000, "Batches per account (POST /batches beyond it fails).");
ABSL_FLAG(int, batch_limit_status, 400, "HTTP status of a create beyond --max_batches.");
ABSL_FLAG(std::string, delete_queued, "refund",
          "Deleting a queued batch: refund its reservation, keep_reservation, or refuse.");
ABSL_FLAG(int64_t, max_searches_per_batch, 15000, "Searches a batch may hold.");
ABSL_FLAG(int64_t, max_searches_with_html, 100,
          "Searches a batch may hold when any of them uses include_html.");
ABSL_FLAG(int64_t, max_searches_per_call, 1000, "Searches one add-searches call may add.");
ABSL_FLAG(int64_t, max_page_limit, 20, "The largest max_page of a search.");
ABSL_FLAG(int, search_not_found_status, 404,
          "HTTP status of \"No Search with ID ... was found in this Batch\" (404 or 400).");
ABSL_FLAG(std::string, bulk_delete_unknown_ids, "error",
          "A bulk delete of searches naming an unknown id: error (nothing deleted) or "
          "ignore (the known ones deleted).");
ABSL_FLAG(bool, find_supports_custom_id, true,
          "Find (the searches page with q=) also takes custom_id=ID.");
ABSL_FLAG(std::string, search_mutation_scope, "batch",
          "A search call holds its batch, or the whole account, for "
          "--search_mutation_duration; another one meanwhile gets 429.");
ABSL_FLAG(absl::Duration, search_mutation_duration, absl::Milliseconds(20),
          "How long a search call holds its batch (or account); 0: no concurrency limit.");
ABSL_FLAG(uint64_t, id_seed, 1, "Seed of the ids of created batches (8 upper-case hex).");
ABSL_FLAG(bool, verbose, false, "Log one line per request (method, path, status) on stderr.");

namespace {

int Fail(const std::string& message) {
  std::cerr << "serpwow-sim: " << message << std::endl;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Before any thread starts: every thread inherits the blocked shutdown
  // signals, so only WaitForShutdownSignal() below sees them.
  if (absl::Status s = serpwow::SetUpProcess(); !s.ok()) return Fail(std::string(s.message()));

  serpwow::SetUpHelp(
      argc, argv, "sim/sim_main.cc",
      "A local SerpWow Batches API simulator (loopback only).\n"
      "The accepted api_key is read from $SERPWOW_API_KEY; unset, any non-empty key works.\n"
      "Usage: serpwow-sim [--listen=127.0.0.1:8080] [--live_prefix] [--queue_delay=30s] ...\n"
      "       [--tls_cert_file=server.crt --tls_key_file=server.key]  (HTTPS only)");
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    return Fail(absl::StrCat("unexpected argument '", positional[1], "' (flags only)"));
  }
  if (absl::GetFlag(FLAGS_verbose)) serpwow::SetMinLogLevel(serpwow::LogLevel::kDebug);

  serpwow::sim::SimulatorOptions options;
  absl::StatusOr<serpwow::HostPort> listen = serpwow::ParseHostPort(
      absl::GetFlag(FLAGS_listen), {"--listen", "127.0.0.1:8080", "[::1]:8080"});
  if (!listen.ok()) return Fail(std::string(listen.status().message()));
  options.host = listen->host;
  options.port = listen->port;
  const char* key = std::getenv("SERPWOW_API_KEY");
  options.api_key = key != nullptr ? key : "";
  options.live_prefix = absl::GetFlag(FLAGS_live_prefix);
  options.stop_idle_status = absl::GetFlag(FLAGS_stop_idle_status);
  options.unknown_batch_status = absl::GetFlag(FLAGS_unknown_batch_status);
  options.queue_delay = absl::GetFlag(FLAGS_queue_delay);
  options.run_duration = absl::GetFlag(FLAGS_run_duration);
  options.initial_credits = absl::GetFlag(FLAGS_credits);
  options.stop_reply_reports_refund = absl::GetFlag(FLAGS_stop_reply_reports_refund);
  options.singular_count_fields = absl::GetFlag(FLAGS_singular_count_fields);
  options.list_rate_per_minute = absl::GetFlag(FLAGS_list_rate_per_minute);
  options.list_rate_limit_retry_after = absl::GetFlag(FLAGS_list_rate_limit_retry_after);
  if (options.list_rate_per_minute < 0) return Fail("--list_rate_per_minute must not be negative");
  options.result_set_retention = absl::GetFlag(FLAGS_result_set_retention);
  options.links_include_api_key = absl::GetFlag(FLAGS_links_include_api_key);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  if (options.initial_credits < 0) return Fail("--credits must not be negative");
  {
    using O = serpwow::sim::SimulatorOptions;
    const std::string start_queued = absl::GetFlag(FLAGS_start_queued);
    if (start_queued != "refuse" && start_queued != "accept") {
      return Fail("--start_queued must be refuse or accept");
    }
    options.start_queued =
        start_queued == "accept" ? O::StartQueued::kAccept : O::StartQueued::kRefuse;
    const std::string refused_when = absl::GetFlag(FLAGS_mutation_refused_when);
    if (refused_when != "running" && refused_when != "queued_or_running") {
      return Fail("--mutation_refused_when must be running or queued_or_running");
    }
    options.mutation_refused_when = refused_when == "running"
                                        ? O::MutationRefusedWhen::kRunning
                                        : O::MutationRefusedWhen::kQueuedOrRunning;
    const std::string delete_queued = absl::GetFlag(FLAGS_delete_queued);
    if (delete_queued == "refund") {
      options.delete_queued = O::DeleteQueued::kRefund;
    } else if (delete_queued == "keep_reservation") {
      options.delete_queued = O::DeleteQueued::kKeepReservation;
    } else if (delete_queued == "refuse") {
      options.delete_queued = O::DeleteQueued::kRefuse;
    } else {
      return Fail("--delete_queued must be refund, keep_reservation or refuse");
    }
    options.insufficient_credits_status = absl::GetFlag(FLAGS_insufficient_credits_status);
    options.busy_status = absl::GetFlag(FLAGS_busy_status);
    options.max_batches = absl::GetFlag(FLAGS_max_batches);
    options.batch_limit_status = absl::GetFlag(FLAGS_batch_limit_status);
    options.id_seed = absl::GetFlag(FLAGS_id_seed);
    options.max_searches_per_batch = absl::GetFlag(FLAGS_max_searches_per_batch);
    options.max_searches_with_html = absl::GetFlag(FLAGS_max_searches_with_html);
    options.max_searches_per_call = absl::GetFlag(FLAGS_max_searches_per_call);
    options.max_page_limit = absl::GetFlag(FLAGS_max_page_limit);
    options.search_not_found_status = absl::GetFlag(FLAGS_search_not_found_status);
    options.find_supports_custom_id = absl::GetFlag(FLAGS_find_supports_custom_id);
    options.search_mutation_duration = absl::GetFlag(FLAGS_search_mutation_duration);
    const std::string bulk = absl::GetFlag(FLAGS_bulk_delete_unknown_ids);
    if (bulk == "error") {
      options.bulk_delete_unknown_ids = O::BulkDeleteUnknownIds::kError;
    } else if (bulk == "ignore") {
      options.bulk_delete_unknown_ids = O::BulkDeleteUnknownIds::kIgnore;
    } else {
      return Fail("--bulk_delete_unknown_ids must be error or ignore");
    }
    const std::string scope = absl::GetFlag(FLAGS_search_mutation_scope);
    if (scope == "batch") {
      options.search_mutation_scope = O::SearchMutationScope::kBatch;
    } else if (scope == "account") {
      options.search_mutation_scope = O::SearchMutationScope::kAccount;
    } else {
      return Fail("--search_mutation_scope must be batch or account");
    }
    if (options.max_batches < 0) return Fail("--max_batches must not be negative");
  }

  auto sim = serpwow::sim::Simulator::Start(options);
  if (!sim.ok()) {
    const std::string message(sim.status().message());
    if (sim.status().code() == absl::StatusCode::kInvalidArgument &&
        (message.rfind("host ", 0) == 0 || message.rfind("port ", 0) == 0)) {
      return Fail(absl::StrCat("--listen=", absl::GetFlag(FLAGS_listen), ": ", message));
    }
    if (sim.status().code() == absl::StatusCode::kInvalidArgument) {
      return Fail(absl::StrCat("--", message));
    }
    return Fail(absl::StrCat("cannot listen on ", absl::GetFlag(FLAGS_listen), ": ", message));
  }
  if (absl::GetFlag(FLAGS_seed_demo)) (*sim)->SeedDemo();

  std::cout << "serpwow-sim listening on " << (*sim)->base_url() << "\n";
  if (absl::GetFlag(FLAGS_seed_demo)) std::cout << serpwow::sim::Simulator::SeedDemoDescription();
  std::cout << std::flush;

  const int signal_number = serpwow::WaitForShutdownSignal();
  SERPWOW_LOG(kInfo, "serpwow-sim: ", signal_number == SIGINT ? "SIGINT" : "SIGTERM",
              ", shutting down");
  sim->reset();
  return 0;
}
