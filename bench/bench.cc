// bench: how thin, fast and cheap the gateway is. Prints a table of figures
// against the targets, and writes the raw latency samples for a plot.
//
//   build/bin/bench                     # everything (about a minute)
//   build/bin/bench --only=latency      # one part: latency, throughput,
//                                       #   concurrency, reuse, startup
//   build/bin/bench --only=compare --peer=build/go-peer/go-peer
//                                       # beside the Go peer (bench/go_peer)
//   build/bin/bench --only=switches [--peer=build/go-peer/go-peer]
//                                       # context switches per call, by thread
//   build/bin/bench --only=grpc_floor   # gRPC's round trip, callback vs async API
//   build/bin/bench --only=watch        # WatchBatch: RSS per open stream and
//                                       #   CPU between polls (10,000 streams)
//   build/bin/bench --only=search       # AddSearches: what the search queue
//                                       #   adds (only on request)
//   bench/run.sh                        # everything + the plot + docs table
//
// The gateway is the real batch-server binary in its own process (so its
// CPU time, threads and peak RSS can be read from /proc), started with
// --upstream pointing at a real simulator on 127.0.0.1:0 inside this
// process. The load generator is the gRPC callback client: it checks every
// response's status and counts errors apart (h2load would not).
#include <curl/curl.h>
#include <dirent.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/process.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "serpwow/batches/v1/batch_service.grpc.pb.h"
#include "server/upstream/http_loop.h"
#include "sim/simulator.h"
#include "tests/support/ports.h"
#include "tests/support/subprocess.h"

ABSL_FLAG(
    std::string, only, "",
    "run one part: latency, throughput, concurrency, reuse, startup, watch, search (the last two "
    "only on request)");
ABSL_FLAG(std::string, server, BATCH_SERVER_PATH, "the batch-server binary to measure");
ABSL_FLAG(int, latency_samples, 3000, "sequential calls for the latency comparison");
ABSL_FLAG(int, throughput_calls, 20000, "calls per throughput run");
ABSL_FLAG(int, in_flight, 2000, "calls in flight for the concurrency run");
ABSL_FLAG(int, reuse_calls, 10000, "sequential calls for the connection-reuse run");
ABSL_FLAG(int, watch_streams, 10000, "WatchBatch streams for --only=watch");
ABSL_FLAG(int, watch_batches, 5, "batches those streams watch");
ABSL_FLAG(std::string, samples_out, "", "write latency samples (µs) as CSV here");
ABSL_FLAG(std::string, peer, "",
          "--only=compare: the other gateway to measure beside --server (bench/go_peer)");
ABSL_FLAG(int, compare_rounds, 3, "--only=compare: rounds, each measuring both alternately");
ABSL_FLAG(std::string, compare_samples_out, "",
          "--only=compare: write both gateways' latency samples (µs, concurrency 1) as CSV here");
ABSL_FLAG(std::string, ca_file, "", "CA for an https upstream (see --upstream_tls_*)");
ABSL_FLAG(std::string, upstream_tls_cert, "", "serve the simulator over TLS with this cert");
ABSL_FLAG(std::string, upstream_tls_key, "", "... and this key");

namespace {

namespace v1 = serpwow::batches::v1;
using serpwow::sim::BatchState;
using serpwow::testing::ChildProcess;

constexpr char kKey[] = "bench-key-0123456789";

// --- /proc readings of the gateway process ---------------------------------

struct ProcStats {
  double cpu_seconds = 0;  // utime + stime
  int threads = 0;
  int64_t rss_kb = 0;
  int64_t peak_rss_kb = 0;  // VmHWM
};

ProcStats ReadProc(pid_t pid) {
  ProcStats s;
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::ostringstream buffer;
  buffer << stat.rdbuf();
  const std::string content = buffer.str();
  size_t close_paren = content.rfind(')');
  if (close_paren != std::string::npos) {
    std::vector<std::string> f = absl::StrSplit(content.substr(close_paren + 2), ' ');
    // Fields after ")": state(0) ... utime(11) stime(12) ... num_threads(17).
    if (f.size() > 17) {
      double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
      int64_t utime = 0, stime = 0;
      absl::SimpleAtoi(f[11], &utime);
      absl::SimpleAtoi(f[12], &stime);
      s.cpu_seconds = static_cast<double>(utime + stime) / ticks;
      absl::SimpleAtoi(f[17], &s.threads);
    }
  }
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, "VmRSS:")) s.rss_kb = std::atoll(line.c_str() + 6);
    if (absl::StartsWith(line, "VmHWM:")) s.peak_rss_kb = std::atoll(line.c_str() + 6);
  }
  return s;
}

// Context switches (voluntary + involuntary) per thread of a process, keyed
// by tid, with the thread's name: /proc/PID/task/TID/{comm,status}.
struct ThreadSwitches {
  std::string name;
  int64_t switches = 0;
};
std::map<int, ThreadSwitches> ReadSwitches(pid_t pid) {
  std::map<int, ThreadSwitches> out;
  const std::string task_dir = absl::StrCat("/proc/", pid, "/task");
  DIR* dir = opendir(task_dir.c_str());
  if (dir == nullptr) return out;
  while (dirent* entry = readdir(dir)) {
    int tid = 0;
    if (!absl::SimpleAtoi(entry->d_name, &tid)) continue;
    ThreadSwitches t;
    std::ifstream comm(absl::StrCat(task_dir, "/", tid, "/comm"));
    std::getline(comm, t.name);
    std::ifstream status(absl::StrCat(task_dir, "/", tid, "/status"));
    std::string line;
    while (std::getline(status, line)) {
      if (absl::StartsWith(line, "voluntary_ctxt_switches:") ||
          absl::StartsWith(line, "nonvoluntary_ctxt_switches:")) {
        t.switches += std::atoll(line.c_str() + line.find(':') + 1);
      }
    }
    out[tid] = std::move(t);
  }
  closedir(dir);
  return out;
}

// The switches between two readings, summed by thread name ("" : the total).
std::map<std::string, int64_t> SwitchesBetween(const std::map<int, ThreadSwitches>& before,
                                               const std::map<int, ThreadSwitches>& after) {
  std::map<std::string, int64_t> by_name;
  for (const auto& [tid, t] : after) {
    auto it = before.find(tid);
    const int64_t n = t.switches - (it == before.end() ? 0 : it->second.switches);
    by_name[t.name] += n;
    by_name[""] += n;
  }
  return by_name;
}

// --- the gateway under test ---------------------------------------------------

class GatewayProcess {
 public:
  GatewayProcess(const std::string& upstream, std::vector<std::string> extra = {},
                 const std::string& binary = absl::GetFlag(FLAGS_server)) {
    std::vector<std::string> argv = {binary, "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
                                     "--upstream=" + upstream, "--log_level=warning"};
    if (!absl::GetFlag(FLAGS_ca_file).empty()) {
      argv.push_back("--upstream_ca_file=" + absl::GetFlag(FLAGS_ca_file));
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    // --log_level=warning hides the ready line: wait on the metrics-free way,
    // by polling health, with the port learned from a --listen we choose.
    int port = serpwow::testing::UnusedLoopbackPort();
    argv[1] = absl::StrCat("--listen=127.0.0.1:", port);  // before the shell prefix
    target_ = absl::StrCat("127.0.0.1:", port);
    // Its log goes to /dev/null through an exec'ing shell (same pid): a pipe
    // nobody reads would fill up and stall the gateway's logging threads.
    argv.insert(argv.begin(), {"/bin/sh", "-c", "exec \"$0\" \"$@\" >/dev/null 2>&1"});
    process_ = std::make_unique<ChildProcess>(
        argv, std::vector<std::string>{absl::StrCat("SERPWOW_API_KEY=", kKey)});
    ready_ = WaitServing(target_, absl::Seconds(10));
  }
  ~GatewayProcess() { process_->Stop(SIGTERM, absl::Seconds(10)); }

  // Polls grpc.health.v1.Health until SERVING. A fresh channel per attempt
  // (refused connects fail at once, every 1 ms): a reused channel would add
  // gRPC's reconnect backoff to what is measured.
  static bool WaitServing(const std::string& target, absl::Duration timeout) {
    const absl::Time until = absl::Now() + timeout;
    while (absl::Now() < until) {
      grpc::ChannelArguments args;
      args.SetInt("bench.attempt", static_cast<int>(absl::ToUnixMicros(absl::Now()) & 0x7fffffff));
      auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
      auto stub = grpc::health::v1::Health::NewStub(channel);
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Milliseconds(500)));
      grpc::health::v1::HealthCheckRequest request;
      grpc::health::v1::HealthCheckResponse response;
      if (stub->Check(&context, request, &response).ok() &&
          response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
        return true;
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
    return false;
  }

  bool ready() const { return ready_; }
  const std::string& target() const { return target_; }
  pid_t pid() const { return process_->pid(); }
  ProcStats stats() const { return ReadProc(process_->pid()); }

 private:
  std::string target_;
  std::unique_ptr<ChildProcess> process_;
  bool ready_ = false;
};

// The most threads a gateway process had, sampled every 20 ms from
// construction until Stop().
class ThreadSampler {
 public:
  explicit ThreadSampler(const GatewayProcess& gw)
      : thread_([this, &gw] {
          while (sampling_.load()) {
            max_ = std::max(max_.load(), gw.stats().threads);
            absl::SleepFor(absl::Milliseconds(20));
          }
        }) {}
  ~ThreadSampler() { Stop(); }
  int Stop() {
    sampling_ = false;
    if (thread_.joinable()) thread_.join();
    return max_.load();
  }

 private:
  std::atomic<int> max_{0};
  std::atomic<bool> sampling_{true};
  std::thread thread_;
};

// --- load generation -------------------------------------------------------------

struct Stats {
  std::vector<double> latencies_us;
  int64_t ok = 0;
  int64_t errors = 0;
  std::string first_error;
  absl::Duration wall;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// Runs `total` StopBatch calls with `concurrency` in flight over `channels`
// channels, re-queueing each batch in the simulator before its call so that
// every call is a full, successful stop.
//
// Channels are created once per target and kept for the whole run: tearing
// down the last callback-API channel and making a new one trips an assertion
// in gRPC 1.51's client callback machinery ("nexting_thread", cq refcount).
std::vector<v1::BatchService::Stub*> StubsFor(const std::string& target, int channels) {
  static absl::Mutex mu;
  static auto* cache =
      new std::map<std::string, std::vector<std::unique_ptr<v1::BatchService::Stub>>>();
  absl::MutexLock lock(&mu);
  auto& stubs = (*cache)[target];
  while (static_cast<int>(stubs.size()) < channels) {
    grpc::ChannelArguments args;
    args.SetInt("bench.channel", static_cast<int>(stubs.size()));  // distinct connections
    stubs.push_back(v1::BatchService::NewStub(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args)));
  }
  std::vector<v1::BatchService::Stub*> out;
  for (int i = 0; i < channels; ++i) out.push_back(stubs[static_cast<size_t>(i)].get());
  return out;
}

// Times `n` sequential unary calls made by `call(context, done_with_ok)`,
// which starts one async call and, when it ends, reports whether it ended as
// expected. Unexpected ends are counted in `*unexpected` and not timed.
template <typename StartCall>
std::vector<double> SequentialLatencies(int n, int* unexpected, StartCall call) {
  std::vector<double> out;
  *unexpected = 0;
  for (int i = 0; i < n; ++i) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    absl::Notification done;
    bool expected = false;
    const absl::Time start = absl::Now();
    call(&context, [&](bool ok) {
      expected = ok;
      done.Notify();
    });
    done.WaitForNotification();
    const double us = absl::ToDoubleMicroseconds(absl::Now() - start);
    if (expected) {
      out.push_back(us);
    } else {
      ++*unexpected;
    }
  }
  return out;
}

// Sequential calls that end in the gateway itself (an invalid id: answered
// without any upstream call), expected to end INVALID_ARGUMENT.
std::vector<double> NoUpstreamLatencies(const std::string& target, int n, int* unexpected) {
  v1::BatchService::Stub* stub = StubsFor(target, 1)[0];
  v1::StopBatchRequest request;
  request.set_batch_id("not/valid");
  v1::StopBatchResponse response;
  return SequentialLatencies(n, unexpected, [&](grpc::ClientContext* context, auto finished) {
    stub->async()->StopBatch(context, &request, &response, [finished](grpc::Status status) {
      finished(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    });
  });
}

grpc::health::v1::Health::Stub* HealthStubFor(const std::string& target) {
  static absl::Mutex mu;
  static auto* stubs = new std::map<std::string, std::unique_ptr<grpc::health::v1::Health::Stub>>();
  absl::MutexLock lock(&mu);
  auto& stub = (*stubs)[target];  // kept for the process: see StubsFor
  if (stub == nullptr) {
    stub = grpc::health::v1::Health::NewStub(
        grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  }
  return stub.get();
}

// Sequential grpc.health.v1.Health/Check calls (gRPC's own service, no code
// of ours): the bare gRPC round trip on this machine; expected: SERVING.
std::vector<double> HealthLatencies(const std::string& target, int n, int* unexpected) {
  grpc::health::v1::Health::Stub* stub = HealthStubFor(target);
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  return SequentialLatencies(n, unexpected, [&](grpc::ClientContext* context, auto finished) {
    stub->async()->Check(context, &request, &response, [&response, finished](grpc::Status status) {
      finished(status.ok() && response.status() == grpc::health::v1::HealthCheckResponse::SERVING);
    });
  });
}

// What RunLoad calls: StopBatch on a queued batch (the refund path: a read
// and a stop upstream), the same with an invalid id (answered by the gateway
// without any upstream request: the cost of the gRPC hop alone), or GetBatch
// (one read upstream).
// ListBatches (one upstream List, a page of 10 batches mapped; the gateway
// must run with the List pacing out of the way, see Throughput).
enum class Load { kStop, kStopInvalidId, kGet, kList };

// RunLoad (below) runs `total` calls of `load` as described above StubsFor.
Stats RunLoad(const std::string& target, serpwow::sim::Simulator* sim, int total, int concurrency,
              int channels, absl::Duration deadline, Load load = Load::kStop) {
  std::vector<v1::BatchService::Stub*> stubs = StubsFor(target, channels);
  struct Call {
    grpc::ClientContext context;
    v1::StopBatchRequest request;
    v1::StopBatchResponse response;
    v1::GetBatchRequest get_request;
    v1::Batch batch;
    v1::ListBatchesRequest list_request;
    v1::ListBatchesResponse list;
    absl::Time start;
  };
  Stats stats;
  stats.latencies_us.reserve(static_cast<size_t>(total));
  absl::Mutex mu;
  int in_flight = 0, started = 0, finished = 0;
  const absl::Time t0 = absl::Now();
  const int pool = std::max(4 * concurrency, 1024);
  while (true) {
    int n;
    {
      absl::MutexLock lock(&mu);
      auto room = [&] { return in_flight < concurrency || started == total; };
      mu.Await(absl::Condition(&room));
      if (started == total) break;
      n = started++;
      ++in_flight;
    }
    auto call = std::make_shared<Call>();
    const std::string id = absl::StrCat("LOAD", n % pool);
    if (load == Load::kStopInvalidId) {
      call->request.set_batch_id("not/valid");
    } else if (load == Load::kStop) {
      sim->PutBatch(id, BatchState::kQueued, 1);
      call->request.set_batch_id(id);
    } else if (n < pool) {
      sim->PutBatch(id, BatchState::kIdle, 1);  // reads change nothing: one batch per slot
    }
    call->get_request.set_name("batches/" + id);
    call->context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    call->start = absl::Now();
    auto done = [&, call](grpc::Status status) {
      const double us = absl::ToDoubleMicroseconds(absl::Now() - call->start);
      absl::MutexLock lock(&mu);
      bool expected = false;
      switch (load) {
        case Load::kStop:
          expected = status.ok() && call->response.credits_refunded();
          break;
        case Load::kStopInvalidId:
          expected = status.error_code() == grpc::StatusCode::INVALID_ARGUMENT;
          break;
        case Load::kGet:
          expected = status.ok() && call->batch.name() == call->get_request.name();
          break;
        case Load::kList:
          expected = status.ok() && call->list.batches_size() == 10;
          break;
      }
      if (expected) {
        ++stats.ok;
        stats.latencies_us.push_back(us);
      } else {
        ++stats.errors;
        if (stats.first_error.empty()) {
          stats.first_error =
              status.ok() && load == Load::kStop
                  ? absl::StrCat("OK without the refund (refund_basis ",
                                 v1::RefundBasis_Name(call->response.refund_basis()), ")")
                  : absl::StrCat(status.error_code(), " ", status.error_message());
        }
      }
      --in_flight;
      ++finished;
    };
    v1::BatchService::Stub* stub = stubs[static_cast<size_t>(n % channels)];
    if (load == Load::kGet) {
      stub->async()->GetBatch(&call->context, &call->get_request, &call->batch, std::move(done));
    } else if (load == Load::kList) {
      call->list_request.set_page_size(10);
      stub->async()->ListBatches(&call->context, &call->list_request, &call->list, std::move(done));
    } else {
      stub->async()->StopBatch(&call->context, &call->request, &call->response, std::move(done));
    }
  }
  absl::MutexLock lock(&mu);
  auto all = [&] { return finished == total; };
  mu.Await(absl::Condition(&all));
  stats.wall = absl::Now() - t0;
  return stats;
}

// `total` grpc.health.v1.Health/Check calls with `concurrency` in flight on
// one channel: the gRPC server's own cost per unary call (gRPC's built-in
// health service, no code of ours). Returns the calls that ended SERVING.
int64_t HealthLoad(const std::string& target, int total, int concurrency) {
  grpc::health::v1::Health::Stub* stub = HealthStubFor(target);
  struct Call {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
  };
  absl::Mutex mu;
  int in_flight = 0, started = 0, finished = 0;
  int64_t serving = 0;
  while (true) {
    {
      absl::MutexLock lock(&mu);
      auto room = [&] { return in_flight < concurrency || started == total; };
      mu.Await(absl::Condition(&room));
      if (started == total) break;
      ++started;
      ++in_flight;
    }
    auto call = std::make_shared<Call>();
    call->context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    stub->async()->Check(
        &call->context, &call->request, &call->response, [&, call](grpc::Status status) {
          absl::MutexLock lock(&mu);
          if (status.ok() &&
              call->response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
            ++serving;
          }
          --in_flight;
          ++finished;
        });
  }
  absl::MutexLock lock(&mu);
  auto all = [&] { return finished == total; };
  mu.Await(absl::Condition(&all));
  return serving;
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

// The same two upstream calls the gateway makes (read, then stop), made
// directly with one reused libcurl handle: the baseline for added latency.
std::vector<double> DirectLatencies(serpwow::sim::Simulator* sim, int samples) {
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Discard);
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  if (!absl::GetFlag(FLAGS_ca_file).empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, absl::GetFlag(FLAGS_ca_file).c_str());
  }
  std::vector<double> out;
  for (int i = 0; i < samples; ++i) {
    const std::string id = absl::StrCat("DIRECT", i % 1024);
    sim->PutBatch(id, BatchState::kQueued, 1);
    const std::string read = absl::StrCat(sim->base_url(), "/batches/", id, "?api_key=", kKey);
    const std::string stop = absl::StrCat(sim->base_url(), "/batches/", id, "/stop?api_key=", kKey);
    const absl::Time start = absl::Now();
    curl_easy_setopt(curl, CURLOPT_URL, read.c_str());
    CURLcode a = curl_easy_perform(curl);
    curl_easy_setopt(curl, CURLOPT_URL, stop.c_str());
    CURLcode b = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (a == CURLE_OK && b == CURLE_OK && status == 200) {
      out.push_back(absl::ToDoubleMicroseconds(absl::Now() - start));
    }
  }
  curl_easy_cleanup(curl);
  return out;
}

// --- report -------------------------------------------------------------------------

struct Row {
  std::string what, value, target;
  bool met;
};
std::vector<Row> g_rows;

void Report(const std::string& what, const std::string& value, const std::string& target,
            bool met) {
  g_rows.push_back({what, value, target, met});
  std::printf("  %-58s %-26s %-18s %s\n", what.c_str(), value.c_str(), target.c_str(),
              target.empty() ? "" : (met ? "met" : "MISSED"));
  std::fflush(stdout);
}

std::string Us(double us) { return absl::StrCat(static_cast<int64_t>(us + 0.5), " µs"); }

// `search_hold`: SimulatorOptions::search_mutation_duration (0: no hold).
std::unique_ptr<serpwow::sim::Simulator> StartSim(
    bool tls,
    absl::Duration search_hold = serpwow::sim::SimulatorOptions().search_mutation_duration) {
  serpwow::sim::SimulatorOptions options;
  options.api_key = kKey;
  options.search_mutation_duration = search_hold;
  if (tls) {
    options.tls_cert_file = absl::GetFlag(FLAGS_upstream_tls_cert);
    options.tls_key_file = absl::GetFlag(FLAGS_upstream_tls_key);
  }
  auto sim = serpwow::sim::Simulator::Start(options);
  if (!sim.ok()) {
    std::fprintf(stderr, "bench: simulator: %s\n", std::string(sim.status().message()).c_str());
    std::exit(1);
  }
  return std::move(*sim);
}

// 1. Added latency at concurrency 1.
void Latency() {
  std::printf("\n1. Added latency (concurrency 1, %d sequential calls)\n",
              absl::GetFlag(FLAGS_latency_samples));
  auto sim = StartSim(false);
  GatewayProcess gw(sim->base_url());
  if (!gw.ready()) {
    Report("gateway did not start", "", "", false);
    return;
  }
  const int n = absl::GetFlag(FLAGS_latency_samples);
  RunLoad(gw.target(), sim.get(), 300, 1, 1, absl::Seconds(5));  // warm up both paths
  DirectLatencies(sim.get(), 300);
  std::vector<double> direct = DirectLatencies(sim.get(), n);
  Stats via = RunLoad(gw.target(), sim.get(), n, 1, 1, absl::Seconds(5));
  const double d50 = Percentile(direct, 50), d99 = Percentile(direct, 99);
  const double g50 = Percentile(via.latencies_us, 50), g99 = Percentile(via.latencies_us, 99);
  Report("direct libcurl read+stop p50 / p99", absl::StrCat(Us(d50), " / ", Us(d99)), "", true);
  Report("through the gateway p50 / p99", absl::StrCat(Us(g50), " / ", Us(g99)), "", true);
  Report("errors through the gateway", absl::StrCat(via.errors), "0", via.errors == 0);
  int unexpected = 0;
  std::vector<double> health = HealthLatencies(gw.target(), n, &unexpected);
  Report("bare gRPC round trip (gRPC's health check) p50 / p99",
         absl::StrCat(Us(Percentile(health, 50)), " / ", Us(Percentile(health, 99))), "",
         unexpected == 0);
  std::vector<double> hop = NoUpstreamLatencies(gw.target(), n, &unexpected);
  Report("invalid id (answered without upstream) p50 / p99",
         absl::StrCat(Us(Percentile(hop, 50)), " / ", Us(Percentile(hop, 99)),
                      unexpected == 0 ? "" : absl::StrCat(" (", unexpected, " unexpected codes)")),
         "", unexpected == 0);
  Report("added latency p50", Us(g50 - d50), "<= 150 µs", g50 - d50 <= 150);
  Report("added latency p99", Us(g99 - d99), "<= 1000 µs", g99 - d99 <= 1000);
  if (const std::string path = absl::GetFlag(FLAGS_samples_out); !path.empty()) {
    std::ofstream out(path);
    out << "direct_us,gateway_us\n";
    for (size_t i = 0; i < std::max(direct.size(), via.latencies_us.size()); ++i) {
      out << (i < direct.size() ? absl::StrCat(direct[i]) : "") << ","
          << (i < via.latencies_us.size() ? absl::StrCat(via.latencies_us[i]) : "") << "\n";
    }
  }
}

// The gateway's CPU time (from /proc) while `run` makes `calls` calls, per call.
template <typename Run>
double GatewayCpuPerCall(const GatewayProcess& gw, int64_t calls, Run run) {
  const double before = gw.stats().cpu_seconds;
  run();
  return (gw.stats().cpu_seconds - before) * 1e6 / static_cast<double>(std::max<int64_t>(1, calls));
}

// 2. Throughput and CPU per RPC.
void Throughput() {
  std::printf("\n2. Throughput and gateway CPU per RPC (%d calls per run)\n",
              absl::GetFlag(FLAGS_throughput_calls));
  auto sim = StartSim(false);
  GatewayProcess gw(sim->base_url());
  if (!gw.ready()) {
    Report("gateway did not start", "", "", false);
    return;
  }
  RunLoad(gw.target(), sim.get(), 2000, 16, 4, absl::Seconds(10));  // warm up
  for (int concurrency : {1, 16, 256}) {
    const int calls = absl::GetFlag(FLAGS_throughput_calls);
    Stats s;
    const double cpu_us = GatewayCpuPerCall(gw, calls, [&] {
      s = RunLoad(gw.target(), sim.get(), calls, concurrency, std::min(concurrency, 8),
                  absl::Seconds(30));
    });
    const double rps = static_cast<double>(s.ok) / absl::ToDoubleSeconds(s.wall);
    Report(absl::StrCat("concurrency ", concurrency, ": RPC/s, p50, p99"),
           absl::StrCat(static_cast<int64_t>(rps), ", ", Us(Percentile(s.latencies_us, 50)), ", ",
                        Us(Percentile(s.latencies_us, 99))),
           "", true);
    Report(absl::StrCat("concurrency ", concurrency, ": errors"), absl::StrCat(s.errors), "0",
           s.errors == 0);
    Report(absl::StrCat("concurrency ", concurrency, ": gateway CPU per RPC"), Us(cpu_us),
           "<= 100 µs", cpu_us <= 100);
  }
  // GetBatch: one upstream read per call (StopBatch makes two).
  for (int concurrency : {1, 16, 256}) {
    const int calls = absl::GetFlag(FLAGS_throughput_calls);
    Stats s;
    const double cpu_us = GatewayCpuPerCall(gw, calls, [&] {
      s = RunLoad(gw.target(), sim.get(), calls, concurrency, std::min(concurrency, 8),
                  absl::Seconds(30), Load::kGet);
    });
    const double rps = static_cast<double>(s.ok) / absl::ToDoubleSeconds(s.wall);
    Report(absl::StrCat("GetBatch, concurrency ", concurrency, ": RPC/s, p50, p99"),
           absl::StrCat(static_cast<int64_t>(rps), ", ", Us(Percentile(s.latencies_us, 50)), ", ",
                        Us(Percentile(s.latencies_us, 99))),
           "", true);
    Report(absl::StrCat("GetBatch, concurrency ", concurrency, ": gateway CPU per RPC"),
           absl::StrCat(Us(cpu_us), s.errors == 0 ? "" : " (errors: " + s.first_error + ")"), "",
           s.errors == 0);
  }
  // ListBatches: a second gateway on the same simulator, with the List
  // bucket and cache out of the way (SerpWow's 60 a minute would otherwise
  // be the whole figure): the gateway's own cost of a list call. Its latency
  // is mostly the simulator's: it builds, filters and sorts every batch of
  // the account (a few thousand here) for each list, 5-10 ms.
  GatewayProcess lister(sim->base_url(), {"--list_rate_per_minute=100000", "--list_burst=100000",
                                          "--list_cache_ttl=0s"});
  if (!lister.ready()) Report("ListBatches: the second gateway did not start", "", "", false);
  for (int concurrency : {1, 16}) {
    if (!lister.ready()) break;
    const int calls = absl::GetFlag(FLAGS_throughput_calls) / 4;
    Stats s;
    const double cpu_us = GatewayCpuPerCall(lister, calls, [&] {
      s = RunLoad(lister.target(), sim.get(), calls, concurrency, std::min(concurrency, 8),
                  absl::Seconds(30), Load::kList);
    });
    const double rps = static_cast<double>(s.ok) / absl::ToDoubleSeconds(s.wall);
    Report(
        absl::StrCat("ListBatches (10 per page), concurrency ", concurrency, ": RPC/s, p50, p99"),
        absl::StrCat(static_cast<int64_t>(rps), ", ", Us(Percentile(s.latencies_us, 50)), ", ",
                     Us(Percentile(s.latencies_us, 99))),
        "", true);
    Report(absl::StrCat("ListBatches (10 per page), concurrency ", concurrency,
                        ": gateway CPU per RPC"),
           absl::StrCat(Us(cpu_us), s.errors == 0 ? "" : " (errors: " + s.first_error + ")"), "",
           s.errors == 0);
  }
  // Diagnostics, to split the CPU per RPC: the same gateway answering
  // without any upstream request (an invalid id: validation, error details,
  // a warning log line), and gRPC's built-in health check (no code of ours).
  for (int concurrency : {1, 16}) {
    const int calls = absl::GetFlag(FLAGS_throughput_calls);
    Stats s;
    double cpu_us = GatewayCpuPerCall(gw, calls, [&] {
      s = RunLoad(gw.target(), sim.get(), calls, concurrency, std::min(concurrency, 8),
                  absl::Seconds(30), Load::kStopInvalidId);
    });
    Report(absl::StrCat("concurrency ", concurrency, ": CPU per call, invalid id (no upstream)"),
           absl::StrCat(Us(cpu_us), s.errors == 0 ? "" : " (unexpected: " + s.first_error + ")"),
           "", true);
    int64_t serving = 0;
    cpu_us = GatewayCpuPerCall(gw, calls,
                               [&] { serving = HealthLoad(gw.target(), calls, concurrency); });
    Report(absl::StrCat("concurrency ", concurrency, ": CPU per call, gRPC health check"),
           absl::StrCat(Us(cpu_us), serving == calls ? "" : " (some not SERVING)"), "", true);
  }
  // ... and the client side of the two upstream requests alone: the CPU of
  // the thread making them directly with libcurl (blocking easy interface,
  // one reused connection).
  const int pairs = absl::GetFlag(FLAGS_throughput_calls);
  const double t0 = ThreadCpuSeconds();
  const size_t ok_pairs = DirectLatencies(sim.get(), pairs).size();
  const double direct_us = (ThreadCpuSeconds() - t0) * 1e6 / static_cast<double>(pairs);
  Report("direct libcurl read+stop: client CPU per pair", Us(direct_us), "",
         ok_pairs == static_cast<size_t>(pairs));
}

// `n` concurrent delayed requests made directly with one libcurl multi handle
// (one new connection each): what the simulator plus a single-pool libcurl
// client need for one round. Context for measurement 3, not a floor: a
// single pool pays libcurl's per-connection costs (see docs/benchmarks.md).
std::pair<double, double> DirectConcurrent(serpwow::sim::Simulator* sim, int n) {
  CURLM* multi = curl_multi_init();
  std::vector<CURL*> handles;
  std::vector<std::string> urls;
  for (int i = 0; i < n; ++i) {
    urls.push_back(absl::StrCat(sim->base_url(), "/batches/DIRECT", i, "?api_key=", kKey));
  }
  const absl::Time start = absl::Now();
  for (int i = 0; i < n; ++i) {
    CURL* h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, urls[static_cast<size_t>(i)].c_str());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Discard);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_multi_add_handle(multi, h);
    handles.push_back(h);
  }
  int running = 1;
  double first = 0, last = 0;
  int done = 0;
  while (running > 0) {
    curl_multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
      if (m->msg != CURLMSG_DONE) continue;
      const double s = absl::ToDoubleSeconds(absl::Now() - start);
      if (done++ == 0) first = s;
      last = s;
    }
    curl_multi_poll(multi, nullptr, 0, 100, nullptr);
  }
  for (CURL* h : handles) {
    curl_multi_remove_handle(multi, h);
    curl_easy_cleanup(h);
  }
  curl_multi_cleanup(multi);
  return {first, last};
}

// 3. 2,000 calls in flight against a 1 s upstream.
void Concurrency() {
  const int in_flight = absl::GetFlag(FLAGS_in_flight);
  std::printf("\n3. Concurrency (%d calls in flight, every upstream request takes 1 s)\n",
              in_flight);
  auto sim = StartSim(false);
  GatewayProcess gw(sim->base_url());
  if (!gw.ready()) {
    Report("gateway did not start", "", "", false);
    return;
  }
  serpwow::sim::Fault slow;
  slow.delay = absl::Seconds(1);  // status 0: normal answer, a second late
  sim->AddFault(slow);
  auto [first, last] = DirectConcurrent(sim.get(), in_flight);
  Report(
      absl::StrCat("direct libcurl, one pool: ", in_flight, " concurrent 1 s requests, first/last"),
      absl::StrCat(first, " s / ", last, " s"), "", true);
  ThreadSampler threads(gw);
  // One connection per 100 calls: the server allows 100 streams per
  // connection (--max_concurrent_streams), as clients behind a load balancer
  // spread over many connections.
  Stats s = RunLoad(gw.target(), sim.get(), in_flight, in_flight,
                    std::max(8, (in_flight + 99) / 100), absl::Seconds(10));
  const int max_threads = threads.Stop();
  const ProcStats after = gw.stats();
  Report(absl::StrCat(in_flight, " calls (each = 2 upstream requests of 1 s): succeeded"),
         absl::StrCat(s.ok, "/", in_flight), absl::StrCat(in_flight), s.ok == in_flight);
  if (!s.first_error.empty()) Report("first error", s.first_error, "", false);
  Report("call latency min / p50 / max",
         absl::StrCat(Us(Percentile(s.latencies_us, 0)), " / ", Us(Percentile(s.latencies_us, 50)),
                      " / ", Us(Percentile(s.latencies_us, 100))),
         "", true);
  Report("wall time for all of them", absl::StrCat(absl::ToDoubleSeconds(s.wall), " s"), "<= 3 s",
         s.wall <= absl::Seconds(3));
  Report("gateway threads (max sampled)", absl::StrCat(max_threads), "<= 32", max_threads <= 32);
  Report("gateway peak RSS (VmHWM)", absl::StrCat(after.peak_rss_kb / 1024, " MB"), "< 200 MB",
         after.peak_rss_kb < 200 * 1024);
}

// 4. Upstream connection reuse.
void Reuse() {
  const bool tls = !absl::GetFlag(FLAGS_upstream_tls_cert).empty();
  const int calls = absl::GetFlag(FLAGS_reuse_calls);
  std::printf("\n4. Connection reuse (%d sequential calls, upstream %s)\n", calls,
              tls ? "https" : "http");
  auto sim = StartSim(tls);
  GatewayProcess gw(sim->base_url(), {"--upstream_max_idle_connections=8"});
  if (!gw.ready()) {
    Report("gateway did not start", "", "", false);
    return;
  }
  RunLoad(gw.target(), sim.get(), 100, 1, 1, absl::Seconds(5));  // first connection
  const int64_t conns_before = sim->connections_accepted();
  const int64_t hs_before = tls ? sim->tls_handshakes() : 0;
  Stats s = RunLoad(gw.target(), sim.get(), calls, 1, 1, absl::Seconds(5));
  const int64_t conns = sim->connections_accepted() - conns_before;
  Report("errors", absl::StrCat(s.errors), "0", s.errors == 0);
  Report("upstream connections opened during the run (pool size 8)", absl::StrCat(conns), "<= 8",
         conns <= 8);
  Report("upstream connections in all (incl. warm-up)", absl::StrCat(sim->connections_accepted()),
         "", true);
  if (tls) {
    const int64_t handshakes = sim->tls_handshakes() - hs_before;
    Report("new TLS handshakes in steady state", absl::StrCat(handshakes), "0", handshakes == 0);
  }
}

// Diagnostic: the upstream loop alone (in process), one GET at a time.
void LoopAlone() {
  std::printf("\nDiagnostic: HttpLoop alone, sequential GETs\n");
  auto sim = StartSim(false);
  sim->PutBatch("LOOP", BatchState::kQueued, 1);
  auto loop = serpwow::upstream::HttpLoop::Create({});
  const std::string url = absl::StrCat(sim->base_url(), "/batches/LOOP?api_key=", kKey);
  std::vector<double> us;
  for (int i = 0; i < 3000; ++i) {
    serpwow::upstream::HttpRequest request;
    request.url = url;
    absl::Notification done;
    const absl::Time start = absl::Now();
    (*loop)->Submit(request, [&](serpwow::upstream::HttpResult) { done.Notify(); });
    done.WaitForNotification();
    us.push_back(absl::ToDoubleMicroseconds(absl::Now() - start));
  }
  Report("HttpLoop GET p50 / p99",
         absl::StrCat(Us(Percentile(us, 50)), " / ", Us(Percentile(us, 99))), "", true);
  std::vector<double> direct = DirectLatencies(sim.get(), 3000);
  Report("direct easy read+stop p50 (two GETs)", Us(Percentile(direct, 50)), "", true);
}

// 5. Startup: exec to SERVING.
void Startup() {
  std::printf("\n5. Startup (exec to health SERVING, --simulate, 10 runs)\n");
  std::vector<double> ms;
  for (int i = 0; i < 10; ++i) {
    const int port = serpwow::testing::UnusedLoopbackPort();
    const std::string target = absl::StrCat("127.0.0.1:", port);
    const absl::Time start = absl::Now();
    ChildProcess p({absl::GetFlag(FLAGS_server), "--simulate", absl::StrCat("--listen=", target),
                    "--metrics_listen=", "--log_level=warning"},
                   {});
    if (GatewayProcess::WaitServing(target, absl::Seconds(10))) {
      ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
    }
    p.Stop(SIGTERM, absl::Seconds(10));
  }
  const double p50 = Percentile(ms, 50);
  Report("exec to SERVING, median of 10 (max)",
         absl::StrCat(static_cast<int>(p50 + 0.5), " ms (",
                      static_cast<int>(Percentile(ms, 100) + 0.5), " ms)"),
         "<= 100 ms", ms.size() == 10 && p50 <= 100);
}

// 8. The gateway beside a peer (--peer, e.g. bench/go_peer), measured in the
// same run on the same simulator and load generator, alternately, round
// after round (this VM's speed drifts: only figures of one run compare).
// Each regime gives the CPU per StopBatch of both processes, their ratio,
// and where it applies the floor: gRPC's own health check round trip on the
// gateway plus the client CPU of the two upstream requests made directly
// with libcurl.
struct Side {
  std::string label;
  std::unique_ptr<GatewayProcess> process;
};

// min-max of `v` ("152-170 µs"), and the median.
std::string Range(std::vector<double> v) {
  if (v.empty()) return "-";
  std::sort(v.begin(), v.end());
  return absl::StrCat(static_cast<int64_t>(v.front() + 0.5), "-",
                      static_cast<int64_t>(v.back() + 0.5), " µs");
}
double Median(const std::vector<double>& v) { return Percentile(v, 50); }

// The 10,000-in-flight part of section 8 (also alone: --only=burst, with
// --peer optional).
void Burst(serpwow::sim::Simulator* sim, const std::string& peer) {
  std::vector<Side> sides(peer.empty() ? 1 : 2);
  sides[0].label = "batch-server";
  if (!peer.empty()) sides[1].label = "peer";
  // 10,000 calls in flight on a 1 s + 1 s upstream, once per side, each in
  // a fresh process: wall time, threads and peak RSS. batch-server's bound
  // on calls in flight comes from its memory limit (2,730 for the default
  // 256Mi): it runs with room for 10,000, as a deployment that expects them
  // would.
  serpwow::sim::Fault slow;
  slow.delay = absl::Seconds(1);
  sim->AddFault(slow);
  sides[0].process = std::make_unique<GatewayProcess>(
      sim->base_url(), std::vector<std::string>{"--memory_limit=1Gi", "--max_in_flight=10000"});
  if (!peer.empty()) {
    sides[1].process =
        std::make_unique<GatewayProcess>(sim->base_url(), std::vector<std::string>{}, peer);
  }
  for (Side& side : sides) {
    GatewayProcess& gw = *side.process;
    if (!gw.ready()) {
      Report(side.label + " did not start for the 10,000", "", "", false);
      continue;
    }
    ThreadSampler threads(gw);
    constexpr int kBurst = 10000;
    Stats st = RunLoad(gw.target(), sim, kBurst, kBurst, kBurst / 100, absl::Seconds(20));
    const int max_threads = threads.Stop();
    if (!st.first_error.empty()) Report(side.label + ": first error", st.first_error, "", false);
    Report(
        absl::StrCat(side.label, ": 10,000 in flight: ok, wall, threads, peak RSS"),
        absl::StrCat(st.ok, ", ", absl::StrFormat("%.2f", absl::ToDoubleSeconds(st.wall)), " s, ",
                     max_threads, ", ", gw.stats().peak_rss_kb / 1024, " MB"),
        side.label == "batch-server" ? "10000, <= 4 s, <= 32, < 500 MB" : "",
        side.label != "batch-server" || (st.ok == kBurst && st.wall <= absl::Seconds(4) &&
                                         max_threads <= 32 && gw.stats().peak_rss_kb < 500 * 1024));
  }
  sim->ClearFaults();
}

void Compare() {
  const std::string peer = absl::GetFlag(FLAGS_peer);
  if (peer.empty()) {
    std::fprintf(stderr, "bench: --only=compare needs --peer=PATH (bench/go_peer/build.sh)\n");
    std::exit(64);
  }
  const int rounds = std::max(1, absl::GetFlag(FLAGS_compare_rounds));
  const int calls = absl::GetFlag(FLAGS_throughput_calls);
  std::printf("\n8. batch-server beside %s (%d rounds, alternating; CPU per StopBatch)\n",
              peer.c_str(), rounds);
  auto sim = StartSim(false);
  std::vector<Side> sides;
  sides.push_back({"batch-server", std::make_unique<GatewayProcess>(sim->base_url())});
  sides.push_back({"peer", std::make_unique<GatewayProcess>(sim->base_url(),
                                                            std::vector<std::string>{}, peer)});
  for (const Side& side : sides) {
    if (!side.process->ready()) {
      Report(side.label + " did not start", "", "", false);
      return;
    }
    RunLoad(side.process->target(), sim.get(), 2000, 16, 4, absl::Seconds(10));  // warm up
  }
  // cpu[side][regime], one figure per round.
  struct Regime {
    std::string name;
    int concurrency;
    int calls;
    absl::Duration upstream_delay;  // per upstream request
    double target_ratio;            // at most this × the peer; 0: no target
    bool has_floor;
  };
  const std::vector<Regime> regimes = {
      {"concurrency 1", 1, calls / 2, absl::ZeroDuration(), 1.0, false},
      {"concurrency 16", 16, calls, absl::ZeroDuration(), 0.8, true},
      {"concurrency 256", 256, calls, absl::ZeroDuration(), 0.8, true},
      {"concurrency 64, upstream 20 ms", 64, std::max(640, calls / 10), absl::Milliseconds(20), 0.8,
       false},
      {"2,000 in flight, upstream 1 s", 2000, 2000, absl::Seconds(1), 0.8, false},
  };
  std::vector<std::vector<std::vector<double>>> cpu(
      sides.size(), std::vector<std::vector<double>>(regimes.size()));
  std::vector<std::vector<int64_t>> errors(sides.size(), std::vector<int64_t>(regimes.size(), 0));
  std::vector<std::vector<double>> p50(sides.size()), p99(sides.size());
  std::vector<std::vector<double>> samples(sides.size());
  std::vector<double> direct_p50, health_cpu16, health_cpu256, direct_cpu;
  for (int round = 0; round < rounds; ++round) {
    for (size_t r = 0; r < regimes.size(); ++r) {
      const Regime& regime = regimes[r];
      sim->ClearFaults();
      if (regime.upstream_delay > absl::ZeroDuration()) {
        serpwow::sim::Fault slow;
        slow.delay = regime.upstream_delay;
        sim->AddFault(slow);
      }
      // Alternate which side goes first, round by round.
      for (size_t k = 0; k < sides.size(); ++k) {
        const size_t i = (k + static_cast<size_t>(round)) % sides.size();
        GatewayProcess& gw = *sides[i].process;
        Stats st;
        const int channels = regime.concurrency >= 1000 ? (regime.concurrency + 99) / 100
                                                        : std::min(regime.concurrency, 8);
        cpu[i][r].push_back(GatewayCpuPerCall(gw, regime.calls, [&] {
          st = RunLoad(gw.target(), sim.get(), regime.calls, regime.concurrency, channels,
                       absl::Seconds(30));
        }));
        errors[i][r] += st.errors;
        if (regime.concurrency == 1) {
          p50[i].push_back(Percentile(st.latencies_us, 50));
          p99[i].push_back(Percentile(st.latencies_us, 99));
          if (round == 0) samples[i] = st.latencies_us;
        }
      }
      if (regime.concurrency == 1) {
        direct_p50.push_back(Percentile(DirectLatencies(sim.get(), regime.calls), 50));
      }
    }
    sim->ClearFaults();
    // The floor, on the gateway process: gRPC's own round trip, plus the
    // client side of the two upstream requests made directly.
    GatewayProcess& gw = *sides[0].process;
    health_cpu16.push_back(
        GatewayCpuPerCall(gw, calls, [&] { HealthLoad(gw.target(), calls, 16); }));
    health_cpu256.push_back(
        GatewayCpuPerCall(gw, calls, [&] { HealthLoad(gw.target(), calls, 256); }));
    const double t0 = ThreadCpuSeconds();
    DirectLatencies(sim.get(), calls / 2);
    direct_cpu.push_back((ThreadCpuSeconds() - t0) * 1e6 / static_cast<double>(calls / 2));
  }
  for (size_t r = 0; r < regimes.size(); ++r) {
    const Regime& regime = regimes[r];
    const double ours = Median(cpu[0][r]), theirs = Median(cpu[1][r]);
    const double ratio = theirs > 0 ? ours / theirs : 0;
    const std::string errs =
        errors[0][r] + errors[1][r] == 0
            ? ""
            : absl::StrCat(" (errors: ", errors[0][r], " / ", errors[1][r], ")");
    Report(absl::StrCat(regime.name, ": CPU, batch-server | peer"),
           absl::StrCat(Range(cpu[0][r]), " | ", Range(cpu[1][r]), errs), "", errs.empty());
    Report(absl::StrCat(regime.name, ": ratio (medians)"), absl::StrFormat("%.2f", ratio),
           regime.target_ratio > 0 ? absl::StrFormat("<= %.1f", regime.target_ratio) : "",
           regime.target_ratio == 0 || (ratio > 0 && ratio <= regime.target_ratio));
    if (regime.has_floor) {
      const double floor =
          Median(regime.concurrency == 16 ? health_cpu16 : health_cpu256) + Median(direct_cpu);
      Report(absl::StrCat(regime.name, ": batch-server / floor (", Us(floor), ")"),
             absl::StrFormat("%.2f", ours / floor), "<= 1.2", ours <= 1.2 * floor);
    }
  }
  const double added_ours = Median(p50[0]) - Median(direct_p50);
  const double added_theirs = Median(p50[1]) - Median(direct_p50);
  Report("concurrency 1: added latency p50, batch-server | peer",
         absl::StrCat(Us(added_ours), " | ", Us(added_theirs)), "<= the peer's",
         added_ours <= added_theirs);
  const double added99 = Median(p99[0]) - Median(direct_p50);
  Report("concurrency 1: p99 batch-server | peer",
         absl::StrCat(Us(Median(p99[0])), " | ", Us(Median(p99[1]))), "added <= 1000 µs",
         added99 <= 1000);
  if (const std::string path = absl::GetFlag(FLAGS_compare_samples_out); !path.empty()) {
    std::ofstream out(path);
    out << "batch_server_us,peer_us\n";
    for (size_t i = 0; i < std::max(samples[0].size(), samples[1].size()); ++i) {
      out << (i < samples[0].size() ? absl::StrCat(samples[0][i]) : "") << ","
          << (i < samples[1].size() ? absl::StrCat(samples[1][i]) : "") << "\n";
    }
  }
  Burst(sim.get(), peer);
  sim->ClearFaults();
}

// Diagnostic: the threads a StopBatch travels through. For the gateway (and
// --peer when given), context switches per call, in total and by thread
// name, at concurrency 1 and 16 on the fast upstream and at 64 on a 20 ms
// one. Every wake-up of a sleeping thread is a switch: the fewer per call,
// the less the call pays in scheduler work.
//   build/bin/bench --only=switches [--peer=build/go-peer/go-peer]
void Switches() {
  std::printf("\nDiagnostic: context switches per StopBatch, by thread name\n");
  auto sim = StartSim(false);
  std::vector<Side> sides;
  sides.push_back({"batch-server", std::make_unique<GatewayProcess>(sim->base_url())});
  if (const std::string peer = absl::GetFlag(FLAGS_peer); !peer.empty()) {
    sides.push_back({"peer", std::make_unique<GatewayProcess>(sim->base_url(),
                                                              std::vector<std::string>{}, peer)});
  }
  const int calls = absl::GetFlag(FLAGS_throughput_calls) / 4;
  struct Regime {
    int concurrency;
    absl::Duration delay;
  };
  for (const Regime regime : {Regime{1, absl::ZeroDuration()}, Regime{16, absl::ZeroDuration()},
                              Regime{64, absl::Milliseconds(20)}}) {
    sim->ClearFaults();
    if (regime.delay > absl::ZeroDuration()) {
      serpwow::sim::Fault slow;
      slow.delay = regime.delay;
      sim->AddFault(slow);
    }
    const int n = regime.delay > absl::ZeroDuration() ? std::max(640, calls / 10) : calls;
    for (Side& side : sides) {
      GatewayProcess& gw = *side.process;
      if (!gw.ready()) continue;
      RunLoad(gw.target(), sim.get(), 500, regime.concurrency, std::min(regime.concurrency, 8),
              absl::Seconds(30));  // warm up: connections, handles, threads
      const auto before = ReadSwitches(gw.pid());
      const double cpu = GatewayCpuPerCall(gw, n, [&] {
        RunLoad(gw.target(), sim.get(), n, regime.concurrency, std::min(regime.concurrency, 8),
                absl::Seconds(30));
      });
      const auto by_name = SwitchesBetween(before, ReadSwitches(gw.pid()));
      std::string detail;
      std::vector<std::pair<int64_t, std::string>> sorted;
      for (const auto& [name, count] : by_name) {
        if (!name.empty() && count > 0) sorted.push_back({count, name});
      }
      std::sort(sorted.rbegin(), sorted.rend());
      for (const auto& [count, name] : sorted) {
        absl::StrAppendFormat(&detail, " %s %.2f", name, static_cast<double>(count) / n);
      }
      Report(absl::StrCat(side.label, ", concurrency ", regime.concurrency,
                          regime.delay > absl::ZeroDuration() ? ", upstream 20 ms" : "",
                          ": switches per call (CPU)"),
             absl::StrFormat("%.2f (%s)", static_cast<double>(by_name.at("")) / n, Us(cpu)), "",
             true);
      std::printf("    by thread:%s\n", detail.c_str());
    }
  }
  sim->ClearFaults();
  // gRPC's own round trip (its health service, no upstream): the part of
  // the figures above that is gRPC's.
  for (int concurrency : {1, 16}) {
    GatewayProcess& gw = *sides[0].process;
    const auto before = ReadSwitches(gw.pid());
    const double cpu =
        GatewayCpuPerCall(gw, calls, [&] { HealthLoad(gw.target(), calls, concurrency); });
    const auto by_name = SwitchesBetween(before, ReadSwitches(gw.pid()));
    Report(absl::StrCat("batch-server, health Check, concurrency ", concurrency,
                        ": switches per call (CPU)"),
           absl::StrFormat("%.2f (%s)", static_cast<double>(by_name.at("")) / calls, Us(cpu)), "",
           true);
  }
}

// Diagnostic: what a unary call costs in gRPC itself on each server API, for
// the choice of the gateway's threading. bench/grpc_probe serves health
// Check on the callback API (the gateway's) or on the async API with one
// thread that polls and handles, answering on that thread or from another
// one woken per call (as the gateway answers from its upstream loop).
//   build/bin/bench --only=grpc_floor
void GrpcFloor() {
  std::printf("\nDiagnostic: gRPC's own unary round trip, by server API (health Check)\n");
  const int calls = absl::GetFlag(FLAGS_throughput_calls);
  struct Variant {
    std::string label;
    std::vector<std::string> args;
  };
  const std::vector<Variant> variants = {
      {"callback API, answered on gRPC's thread", {"--api=callback"}},
      {"callback API, answered from another thread", {"--api=callback", "--finish_from=other"}},
      {"async API, one thread, answered on it", {"--api=async"}},
      {"async API, one thread, answered from another", {"--api=async", "--finish_from=other"}},
  };
  for (const Variant& variant : variants) {
    GatewayProcess probe("http://127.0.0.1:9", variant.args, GRPC_PROBE_PATH);
    if (!probe.ready()) {
      Report(variant.label + ": did not start", "", "", false);
      continue;
    }
    HealthLoad(probe.target(), 2000, 16);  // warm up
    for (int concurrency : {1, 16, 256}) {
      const int n = concurrency == 1 ? calls / 4 : calls;
      const auto before = ReadSwitches(probe.pid());
      const double cpu =
          GatewayCpuPerCall(probe, n, [&] { HealthLoad(probe.target(), n, concurrency); });
      const auto by_name = SwitchesBetween(before, ReadSwitches(probe.pid()));
      Report(absl::StrCat(variant.label, ", c", concurrency, ": CPU (switches)"),
             absl::StrFormat("%s (%.2f)", Us(cpu), static_cast<double>(by_name.at("")) / n), "",
             true);
    }
  }
}

// WatchBatch: what an open stream costs. --watch_streams streams over
// --watch_batches idle batches, read by this process's callback client; the
// gateway polls idle batches every 30 s (jittered by 20%: 24-36 s), so the
// 10 s window that follows the first reads has no poll in it.
class BenchWatcher : public grpc::ClientReadReactor<v1::WatchBatchEvent> {
 public:
  BenchWatcher(v1::BatchService::Stub* stub, const std::string& batch_id,
               std::atomic<int>* first_events)
      : first_events_(first_events) {
    request_.set_name("batches/" + batch_id);
    stub->async()->WatchBatch(&context_, &request_, this);
    StartRead(&event_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (!seen_) first_events_->fetch_add(1);
    seen_ = true;
    StartRead(&event_);
  }
  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    done_ = true;
  }
  void CancelAndWait() {
    context_.TryCancel();
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&done_), absl::Seconds(30));
  }

 private:
  std::atomic<int>* first_events_;
  grpc::ClientContext context_;
  v1::WatchBatchRequest request_;
  v1::WatchBatchEvent event_;
  bool seen_ = false;
  absl::Mutex mu_;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

void Watch() {
  const int streams = absl::GetFlag(FLAGS_watch_streams);
  const int batches = std::max(1, absl::GetFlag(FLAGS_watch_batches));
  std::printf("\n6. WatchBatch: %d streams on %d batches\n", streams, batches);
  auto sim = StartSim(false);
  for (int b = 0; b < batches; ++b) sim->PutBatch(absl::StrCat("WATCH", b), BatchState::kIdle, 10);
  GatewayProcess gw(sim->base_url(),
                    {"--watch_interval_idle=30s", absl::StrCat("--watch_max_streams=", streams),
                     "--max_concurrent_streams=1000", "--memory_limit=2Gi"});
  if (!gw.ready()) {
    Report("gateway did not start", "", "", false);
    return;
  }
  const int channels = std::max(1, (streams + 499) / 500);
  std::vector<v1::BatchService::Stub*> stubs = StubsFor(gw.target(), channels);
  std::atomic<int> first_events{0};
  // One stream per channel first (connections and the batches' pollers up),
  // then the reference RSS.
  std::vector<std::unique_ptr<BenchWatcher>> watchers;
  for (int c = 0; c < channels; ++c) {
    watchers.push_back(std::make_unique<BenchWatcher>(
        stubs[static_cast<size_t>(c)], absl::StrCat("WATCH", c % batches), &first_events));
  }
  for (int i = 0; i < 1000 && first_events.load() < channels; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  absl::SleepFor(absl::Milliseconds(500));
  const ProcStats before = gw.stats();
  const absl::Time opening = absl::Now();
  for (int s = channels; s < streams; ++s) {
    watchers.push_back(std::make_unique<BenchWatcher>(stubs[static_cast<size_t>(s % channels)],
                                                      absl::StrCat("WATCH", s % batches),
                                                      &first_events));
  }
  for (int i = 0; i < 3000 && first_events.load() < streams; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  const double open_s = absl::ToDoubleSeconds(absl::Now() - opening);
  absl::SleepFor(absl::Seconds(1));
  const ProcStats open = gw.stats();
  Report("streams open with their first event",
         absl::StrCat(first_events.load(), " in ", static_cast<int>(open_s * 1000), " ms"),
         absl::StrCat(streams), first_events.load() == streams);
  const double kb_per_stream = static_cast<double>(open.rss_kb - before.rss_kb) /
                               static_cast<double>(std::max(1, streams - channels));
  Report("gateway RSS per open stream",
         absl::StrCat(static_cast<int>(kb_per_stream * 10) / 10.0, " KB"), "< 20 KB",
         kb_per_stream < 20);
  Report("gateway RSS with the streams open", absl::StrCat(open.rss_kb / 1024, " MB"), "", true);
  // The idle window: no poll is due (the first reads were < 24 s ago).
  sim->ResetRequests();
  const ProcStats idle_before = gw.stats();
  absl::SleepFor(absl::Seconds(10));
  const ProcStats idle_after = gw.stats();
  const double cpu_ms = (idle_after.cpu_seconds - idle_before.cpu_seconds) * 1000;
  Report("gateway CPU over 10 s between polls", absl::StrCat(static_cast<int>(cpu_ms), " ms"),
         "~0 (<= 100 ms)", cpu_ms <= 100);
  Report("upstream reads in that window", absl::StrCat(sim->request_count()), "0",
         sim->request_count() == 0);
  for (auto& w : watchers) w->CancelAndWait();
}

// --- the search queue -------------------------------------------------------------

constexpr int kSearchBatches = 64;  // each gets samples / 64 searches, far below 15,000

// The two upstream requests AddSearches of one search makes (the count read,
// GET /batches/{id}, then the add, PUT /batches/{id} {"searches": [...]}),
// made directly with one reused libcurl handle: the baseline.
std::vector<double> DirectSearchAddLatencies(serpwow::sim::Simulator* sim, int samples) {
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Discard);
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  const std::string body = R"({"searches":[{"q":"coffee","location":"United States","gl":"us"}]})";
  std::vector<double> out;
  for (int i = 0; i < samples; ++i) {
    const std::string url =
        absl::StrCat(sim->base_url(), "/batches/DSEARCH", i % kSearchBatches, "?api_key=", kKey);
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    const absl::Time start = absl::Now();
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, nullptr);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    CURLcode a = curl_easy_perform(curl);
    long read_status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &read_status);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
    CURLcode b = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (a == CURLE_OK && b == CURLE_OK && read_status == 200 && status == 200) {
      out.push_back(absl::ToDoubleMicroseconds(absl::Now() - start));
    }
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return out;
}

// Sequential AddSearches of one search through the gateway (its count read,
// its turn in the batch's search queue, the add), expected OK.
std::vector<double> GatewaySearchAddLatencies(const std::string& target, int n, int* unexpected) {
  v1::BatchService::Stub* stub = StubsFor(target, 1)[0];
  std::vector<v1::AddSearchesRequest> requests(kSearchBatches);
  for (int b = 0; b < kSearchBatches; ++b) {
    requests[static_cast<size_t>(b)].set_parent(absl::StrCat("batches/GSEARCH", b));
    v1::Search* search = requests[static_cast<size_t>(b)].add_searches();
    search->set_q("coffee");
    search->set_location("United States");
    (*search->mutable_params())["gl"] = "us";
  }
  v1::AddSearchesResponse response;
  int i = 0;
  return SequentialLatencies(n, unexpected, [&](grpc::ClientContext* context, auto finished) {
    stub->async()->AddSearches(context, &requests[static_cast<size_t>(i++ % kSearchBatches)],
                               &response,
                               [finished](grpc::Status status) { finished(status.ok()); });
  });
}

// 7. The search queue's added latency: AddSearches of 1 search at
// concurrency 1 through the gateway vs the same two upstream requests made
// directly. The simulator holds no search call (search_mutation_duration 0),
// so the difference is the gateway: the gRPC hop, validation, the queue's
// hand-off to the batch's loop and back, and the mapping of the reply.
// Reproduce: build/bin/bench --only=search [--latency_samples=N]
void Search() {
  const int n = absl::GetFlag(FLAGS_latency_samples);
  std::printf("\n7. Search queue: AddSearches of 1 search (concurrency 1, %d sequential calls)\n",
              n);
  auto sim = StartSim(false, absl::ZeroDuration());
  for (int b = 0; b < kSearchBatches; ++b) {
    sim->PutBatch(absl::StrCat("GSEARCH", b), BatchState::kIdle, 1);
    sim->PutBatch(absl::StrCat("DSEARCH", b), BatchState::kIdle, 1);
  }
  GatewayProcess gw(sim->base_url());
  if (!gw.ready()) {
    Report("gateway did not start", "", "", false);
    return;
  }
  int unexpected = 0;
  GatewaySearchAddLatencies(gw.target(), 300, &unexpected);  // warm up both paths
  DirectSearchAddLatencies(sim.get(), 300);
  std::vector<double> direct = DirectSearchAddLatencies(sim.get(), n);
  std::vector<double> via = GatewaySearchAddLatencies(gw.target(), n, &unexpected);
  const double d50 = Percentile(direct, 50), d99 = Percentile(direct, 99);
  const double g50 = Percentile(via, 50), g99 = Percentile(via, 99);
  Report("direct libcurl GET+PUT p50 / p99", absl::StrCat(Us(d50), " / ", Us(d99)), "",
         static_cast<int>(direct.size()) == n);
  Report("AddSearches through the gateway p50 / p99", absl::StrCat(Us(g50), " / ", Us(g99)), "",
         true);
  Report("errors through the gateway", absl::StrCat(unexpected), "0", unexpected == 0);
  Report("search call added latency p50 / p99", absl::StrCat(Us(g50 - d50), " / ", Us(g99 - d99)),
         "", true);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  serpwow::ProcessSetupOptions process;
  process.block_shutdown_signals = false;
  process.raise_fd_limit = false;  // raised below, up to the hard limit itself
  process.init_curl = true;
  if (!serpwow::SetUpProcess(process).ok()) return 1;
  serpwow::RaiseFdLimit(RLIM_INFINITY);
  serpwow::SetMinLogLevel(serpwow::LogLevel::kError);
  std::printf("bench: %ld cores, gateway %s\n", sysconf(_SC_NPROCESSORS_ONLN),
              absl::GetFlag(FLAGS_server).c_str());
  std::printf("  %-58s %-26s %-18s %s\n", "measure", "value", "target", "");
  const std::string only = absl::GetFlag(FLAGS_only);
  if (only.empty() || only == "latency") Latency();
  if (only.empty() || only == "throughput") Throughput();
  if (only.empty() || only == "concurrency") Concurrency();
  if (only.empty() || only == "reuse") Reuse();
  if (only.empty() || only == "startup") Startup();
  if (only == "loop") LoopAlone();
  if (only == "compare") Compare();
  if (only == "switches") Switches();
  if (only == "grpc_floor") GrpcFloor();
  if (only == "burst") {
    auto sim = StartSim(false);
    Burst(sim.get(), absl::GetFlag(FLAGS_peer));
  }
  if (only == "watch") Watch();
  if (only == "search") Search();
  int met = 0, missed = 0;
  for (const Row& r : g_rows) {
    if (r.target.empty()) continue;
    (r.met ? met : missed)++;
  }
  std::printf("\nbench: %d targets met, %d missed\n", met, missed);
  curl_global_cleanup();
  return 0;
}
