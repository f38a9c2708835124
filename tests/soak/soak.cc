// Soak: a bounded load test of the whole gateway under faults, deadlines and
// cancellations, meant for the ASan/LSan build.
//
//   build-asan/bin/soak                          # the full run: 100k RPCs
//   build-asan/bin/soak --rpcs=6000              # what CI runs
//
// A real gateway on 127.0.0.1:0 in front of a real simulator on 127.0.0.1:0,
// driven by the gRPC callback client with `--concurrency` calls in flight.
// Each call picks: a fault batch (--fault_ratio of calls: hang, 503, 429,
// reset, dropped connection, HTML 200, stall, slow reply), an invalid id
// (1%), or a healthy queued/running/idle/unknown batch; a deadline from
// 30 ms to 5 s; and 5% are cancelled by the client after 0-30 ms.
// --search_ratio of calls are search calls instead (AddSearches, some with a
// reused request_id, a filtered ListSearches, PurgeSearches) on eight idle
// batches, through the per-batch search queue.
// Beside them, WatchBatch streams (--watch_streams at most open at once) are
// opened and cancelled at random on the same batches (and on unknown and
// invalid ones), with fast poll intervals so their pollers come and go.
// It checks that every call ends, with a code from the error contract; that
// nothing is left in flight; and that RSS at the end is within 10% of RSS
// after warm-up (the first 20% of calls). LSan checks for leaks at exit.
// Prints a table and "soak: N passed, M failed"; exit status 0 iff all pass.
#include <curl/curl.h>
#include <grpcpp/grpcpp.h>
#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/process.h"
#include "serpwow/batches/v1/batch_service.grpc.pb.h"
#include "server/gateway.h"
#include "sim/simulator.h"

ABSL_FLAG(int, rpcs, 100000, "RPCs to send in all");
ABSL_FLAG(int, concurrency, 64, "RPCs in flight at once");
ABSL_FLAG(double, fault_ratio, 0.15, "share of RPCs aimed at a batch with an injected fault");
ABSL_FLAG(double, max_rss_growth, 0.10, "allowed RSS growth from warm-up to the end");
ABSL_FLAG(uint64_t, seed, 1, "random seed");
ABSL_FLAG(double, search_ratio, 0.1,
          "share of RPCs that are search calls (AddSearches, a filtered ListSearches, "
          "PurgeSearches) on a few batches, through the per-batch search queue");
ABSL_FLAG(int, watch_streams, 64, "WatchBatch streams open at most at once (0: none)");

// In the ASan build: a small quarantine. ASan keeps freed memory out of reuse
// (256 MB by default) to catch use-after-free; filling it would look like RSS
// growth and hide the growth this test is after. Unused in other builds.
extern "C" const char* __asan_default_options() {
  return "quarantine_size_mb=8:thread_local_quarantine_size_kb=256";
}

namespace {

namespace v1 = serpwow::batches::v1;
using serpwow::sim::BatchState;
using serpwow::sim::Fault;

#if defined(__SANITIZE_ADDRESS__)
// From the ASan runtime (sanitizer/allocator_interface.h, not shipped with GCC).
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#define SOAK_ASAN 1
#else
#define SOAK_ASAN 0
#endif

// Bytes the program has allocated and not freed: under ASan, the sanitizer
// allocator's own count (RSS there is dominated by ASan's bookkeeping: shadow
// memory, stack depot, quarantine); else the RSS itself.
int64_t LiveHeapKb();

// Resident set size, after giving free heap pages back to the OS (so that it
// measures memory in use, not what the allocator happens to keep cached).
int64_t RssKb() {
  malloc_trim(0);
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return -1;
}

int64_t LiveHeapKb() {
#if SOAK_ASAN
  return static_cast<int64_t>(__sanitizer_get_current_allocated_bytes() / 1024);
#else
  return -1;
#endif
}

struct FaultKind {
  const char* id;
  Fault fault;
};

std::vector<FaultKind> FaultKinds() {
  auto make = [](Fault::Action action, int status, std::string body, absl::Duration delay) {
    Fault f;
    f.action = action;
    f.status = status;
    f.body = std::move(body);
    f.delay = delay;
    f.drip_interval = absl::Milliseconds(20);
    return f;
  };
  const std::string ok_body = R"({"request_info":{"success":true,"message":"Batch stopped"}})";
  return {
      {"FHANG", make(Fault::Action::kHang, 0, "", absl::ZeroDuration())},
      {"F503", make(Fault::Action::kRespond, 503, R"({"retry_after":0.05})", absl::ZeroDuration())},
      {"F429", make(Fault::Action::kRespond, 429, "", absl::ZeroDuration())},
      {"FRESET", make(Fault::Action::kResetMidBody, 200, ok_body, absl::ZeroDuration())},
      {"FDROP", make(Fault::Action::kDropConnection, 0, "", absl::ZeroDuration())},
      {"FHTML", make(Fault::Action::kRespond, 200, "<html>hi</html>", absl::ZeroDuration())},
      {"FSTALL", make(Fault::Action::kStallAfterHeaders, 200, ok_body, absl::ZeroDuration())},
      {"FSLOW", make(Fault::Action::kRespond, 0, "", absl::Milliseconds(150))},
      {"FDRIP", make(Fault::Action::kSlowDrip, 200, ok_body, absl::ZeroDuration())},
  };
}

class Soak {
 public:
  Soak(v1::BatchService::Stub* stub, serpwow::sim::Simulator* sim, uint64_t seed)
      : stub_(stub), sim_(sim), rng_(seed) {}

  // Starts call number `n`; `done` runs when it ends.
  void StartCall(int n, std::function<void()> done) {
    auto call = std::make_shared<Call>();
    std::string id;
    double deadline_s;
    bool cancel;
    int cancel_after_ms;
    double search = -1;  // >= 0: a search call, of the kind it picks
    {
      absl::MutexLock lock(&rng_mu_);
      std::uniform_real_distribution<double> u(0, 1);
      const double pick = u(rng_);
      if (u(rng_) < search_ratio_) {
        // Eight idle batches, so that calls queue up behind each other (and
        // some find the queue full: BATCH_BUSY).
        search = u(rng_);
        id = absl::StrCat("S", n % 8);
      } else if (pick < fault_ratio_) {
        id = kinds_[static_cast<size_t>(u(rng_) * static_cast<double>(kinds_.size())) %
                    kinds_.size()];
      } else if (pick < fault_ratio_ + 0.01) {
        id = "bad/../id";
      } else {
        const double kind = u(rng_);
        id = absl::StrCat("B", n % 512);
        if (kind < 0.6) {
          sim_->PutBatch(id, BatchState::kQueued, 1);
        } else if (kind < 0.8) {
          sim_->PutBatch(id, BatchState::kRunning, 1);
        } else if (kind < 0.95) {
          sim_->PutBatch(id, BatchState::kIdle, 1);
        } else {
          id = absl::StrCat("UNKNOWN", n);
        }
      }
      static constexpr double kDeadlines[] = {0.03, 0.2, 1, 5};
      deadline_s = kDeadlines[static_cast<size_t>(u(rng_) * 4) % 4];
      cancel = u(rng_) < 0.05;
      cancel_after_ms = static_cast<int>(u(rng_) * 30);
    }
    call->context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(deadline_s)));
    call->cancel_at = absl::Now() + absl::Milliseconds(cancel_after_ms);
    auto ended = [this, call, done = std::move(done)](grpc::Status status) {
      Record(status);
      call->ended.store(true);
      done();
    };
    const std::string parent = absl::StrCat("batches/", id);
    if (search >= 0.5) {
      call->add.set_parent(parent);
      for (int i = 0; i < 2; ++i) call->add.add_searches()->set_q(absl::StrCat("soak ", n, i));
      if (search >= 0.9)
        call->add.set_request_id(
            absl::StrCat("00000000-0000-4000-8000-0000000000", absl::Dec(n % 64, absl::kZeroPad2)));
      stub_->async()->AddSearches(&call->context, &call->add, &call->add_response,
                                  std::move(ended));
    } else if (search >= 0.2) {
      call->find.set_parent(parent);
      call->find.set_filter("q = \"soak\"");
      call->find.set_page_size(10);
      stub_->async()->ListSearches(&call->context, &call->find, &call->find_response,
                                   std::move(ended));
    } else if (search >= 0) {
      // Keeps the batches' searches (held by the simulator, in this
      // process) from growing without bound.
      call->purge.set_parent(parent);
      call->purge.set_filter("*");
      call->purge.set_force(true);
      stub_->async()->PurgeSearches(&call->context, &call->purge, &call->purge_response,
                                    std::move(ended));
    } else {
      call->request.set_batch_id(id);
      stub_->async()->StopBatch(&call->context, &call->request, &call->response, std::move(ended));
    }
    if (cancel) {
      absl::MutexLock lock(&cancel_mu_);
      to_cancel_.push_back(call);
    }
  }

  // Cancels the calls whose time has come (called from the driver loop).
  void CancelDue() {
    std::vector<std::shared_ptr<Call>> due;
    {
      absl::MutexLock lock(&cancel_mu_);
      const absl::Time now = absl::Now();
      auto it = to_cancel_.begin();
      while (it != to_cancel_.end()) {
        if ((*it)->cancel_at <= now || (*it)->ended.load()) {
          due.push_back(*it);
          it = to_cancel_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& c : due) {
      if (!c->ended.load()) c->context.TryCancel();
    }
  }

  std::map<grpc::StatusCode, int64_t> codes() {
    absl::MutexLock lock(&codes_mu_);
    return codes_;
  }

  std::vector<std::string> kinds_;
  double fault_ratio_ = 0.15;
  double search_ratio_ = 0.1;

 private:
  struct Call {
    grpc::ClientContext context;
    v1::StopBatchRequest request;
    v1::StopBatchResponse response;
    v1::AddSearchesRequest add;
    v1::AddSearchesResponse add_response;
    v1::ListSearchesRequest find;
    v1::ListSearchesResponse find_response;
    v1::PurgeSearchesRequest purge;
    v1::PurgeSearchesResponse purge_response;
    absl::Time cancel_at;
    std::atomic<bool> ended{false};
  };

  void Record(const grpc::Status& status) {
    absl::MutexLock lock(&codes_mu_);
    ++codes_[status.error_code()];
  }

  v1::BatchService::Stub* stub_;
  serpwow::sim::Simulator* sim_;
  absl::Mutex rng_mu_;
  std::mt19937_64 rng_;
  absl::Mutex cancel_mu_;
  std::vector<std::shared_ptr<Call>> to_cancel_;
  absl::Mutex codes_mu_;
  std::map<grpc::StatusCode, int64_t> codes_;
};

// WatchBatch streams opened and cancelled at random (Tick, from the driver
// loop). Each stream is a callback reactor that reads until the end.
class WatchSoak {
 public:
  WatchSoak(v1::BatchService::Stub* stub, uint64_t seed, int max_open)
      : stub_(stub), rng_(seed), max_open_(max_open) {}
  ~WatchSoak() { CancelAllAndWait(absl::Seconds(30)); }

  void Tick(int n) {
    if (max_open_ <= 0) return;
    std::shared_ptr<Stream> cancel;
    {
      absl::MutexLock lock(&mu_);
      std::uniform_real_distribution<double> u(0, 1);
      Reap();
      if (static_cast<int>(open_.size()) < max_open_ && u(rng_) < 0.5) {
        const double kind = u(rng_);
        std::string id = absl::StrCat("B", static_cast<int>(u(rng_) * 512));
        if (kind < 0.05) id = absl::StrCat("WUNKNOWN", n);
        if (kind > 0.98) id = "bad/../id";
        auto stream = std::make_shared<Stream>(this);
        stream->request.set_name(absl::StrCat("batches/", id));
        if (u(rng_) < 0.3) stream->request.set_until(v1::WatchBatchRequest::UNTIL_RUN_ENDS);
        open_.push_back(stream);
        ++opened_;
        stub_->async()->WatchBatch(&stream->context, &stream->request, stream.get());
        stream->StartRead(&stream->event);
        stream->StartCall();
      } else if (!open_.empty() && u(rng_) < 0.5) {
        cancel =
            open_[static_cast<size_t>(u(rng_) * static_cast<double>(open_.size())) % open_.size()];
      }
    }
    if (cancel != nullptr) cancel->context.TryCancel();
  }

  // Cancels every stream and waits for each to end; true when all did.
  bool CancelAllAndWait(absl::Duration timeout) {
    std::vector<std::shared_ptr<Stream>> open;
    {
      absl::MutexLock lock(&mu_);
      open = open_;
    }
    for (auto& s : open) s->context.TryCancel();
    absl::MutexLock lock(&mu_);
    auto all_done = [&] { return ended_ == opened_; };
    const bool done = mu_.AwaitWithTimeout(absl::Condition(&all_done), timeout);
    if (done) open_.clear();
    return done;
  }

  int64_t opened() {
    absl::MutexLock lock(&mu_);
    return opened_;
  }
  int64_t events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  std::map<grpc::StatusCode, int64_t> codes() {
    absl::MutexLock lock(&mu_);
    return codes_;
  }

 private:
  struct Stream : grpc::ClientReadReactor<v1::WatchBatchEvent> {
    explicit Stream(WatchSoak* owner) : soak(owner) {}
    void OnReadDone(bool ok) override {
      if (!ok) return;
      {
        absl::MutexLock lock(&soak->mu_);
        ++soak->events_;
      }
      StartRead(&event);
    }
    void OnDone(const grpc::Status& status) override {
      absl::MutexLock lock(&soak->mu_);
      ++soak->codes_[status.error_code()];
      ++soak->ended_;
      done = true;
    }
    WatchSoak* soak;
    grpc::ClientContext context;
    v1::WatchBatchRequest request;
    v1::WatchBatchEvent event;
    bool done = false;  // guarded by soak->mu_
  };

  // Forgets the streams that have ended.
  void Reap() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<std::shared_ptr<Stream>> keep;
    for (auto& s : open_) {
      if (!s->done) keep.push_back(s);
    }
    open_.swap(keep);
  }

  v1::BatchService::Stub* stub_;
  absl::Mutex mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  const int max_open_;
  std::vector<std::shared_ptr<Stream>> open_ ABSL_GUARDED_BY(mu_);
  int64_t opened_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t ended_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t events_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<grpc::StatusCode, int64_t> codes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  serpwow::ProcessSetupOptions process;
  process.block_shutdown_signals = false;
  process.init_curl = true;
  if (!serpwow::SetUpProcess(process).ok()) return 1;
  serpwow::SetMinLogLevel(serpwow::LogLevel::kError);  // no per-RPC lines
  // As batch-server runs: Abseil's deadlock detector keeps a graph of lock
  // orders that grows with the number of mutexes ever created (a debugging
  // aid, on in Debian's build), which would blur the RSS check.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const int total = absl::GetFlag(FLAGS_rpcs);
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  int passed = 0, failed = 0;
  auto check = [&](bool ok, const std::string& what) {
    std::printf("%-62s %s\n", what.c_str(), ok ? "PASS" : "FAIL");
    (ok ? passed : failed)++;
  };

  int64_t rss_warm = 0, rss_end = 0, heap_warm = 0, heap_end = 0;
  std::map<grpc::StatusCode, int64_t> codes;
  absl::Duration elapsed;
  bool all_ended = false;
  int64_t left_in_flight = -1;
  bool watches_ended = false;
  int64_t watches_opened = 0, watch_events = 0, watch_streams_left = -1, calls_left = -1;
  int64_t search_queued_left = -1;
  std::map<grpc::StatusCode, int64_t> watch_codes;
  // Outlive everything below: late callbacks (only on a failed run) touch them.
  absl::Mutex mu;
  int in_flight = 0, finished = 0;
  {
    serpwow::sim::SimulatorOptions sim_options;
    sim_options.api_key = "soak-key";
    auto sim = serpwow::sim::Simulator::Start(sim_options);
    if (!sim.ok()) {
      std::fprintf(stderr, "soak: simulator: %s\n", std::string(sim.status().message()).c_str());
      return 1;
    }
    std::vector<FaultKind> kinds = FaultKinds();
    for (FaultKind& k : kinds) {
      (*sim)->PutBatch(k.id, BatchState::kQueued, 1);
      k.fault.path_suffix = absl::StrCat("/", k.id, "/stop");
      (*sim)->AddFault(k.fault);
    }
    serpwow::GatewayOptions options;
    options.listen = "127.0.0.1:0";
    options.upstream.base_url = (*sim)->base_url();
    options.upstream.api_key = "soak-key";
    options.upstream.timeout_cap = absl::Milliseconds(500);
    // A low failure ratio and a short open period make the breaker cycle
    // (open, trials, close) many times during the run instead of never
    // opening on 15% faults, or failing everything fast for seconds.
    options.calls.breaker.failure_ratio = 0.1;
    options.calls.breaker.open_for = absl::Milliseconds(100);
    // Watch pollers that read often, so that streams see events and polls
    // are in flight when streams are cancelled.
    options.watch.intervals.queued = options.watch.intervals.running = absl::Milliseconds(20);
    options.watch.intervals.idle = absl::Milliseconds(50);
    options.watch.intervals.poll_rate = 500;
    auto gateway = serpwow::Gateway::Start(options);
    if (!gateway.ok()) {
      std::fprintf(stderr, "soak: gateway: %s\n", std::string(gateway.status().message()).c_str());
      return 1;
    }
    auto channel = grpc::CreateChannel((*gateway)->address(), grpc::InsecureChannelCredentials());
    auto stub = v1::BatchService::NewStub(channel);
    Soak soak(stub.get(), sim->get(), absl::GetFlag(FLAGS_seed));
    for (const FaultKind& k : kinds) soak.kinds_.push_back(k.id);
    soak.fault_ratio_ = absl::GetFlag(FLAGS_fault_ratio);
    soak.search_ratio_ = absl::GetFlag(FLAGS_search_ratio);
    for (int i = 0; i < 8; ++i) (*sim)->PutBatch(absl::StrCat("S", i), BatchState::kIdle, 1);
    WatchSoak watches(stub.get(), absl::GetFlag(FLAGS_seed) + 1,
                      absl::GetFlag(FLAGS_watch_streams));

    const absl::Time start = absl::Now();
    const int warm_up = std::max(1, total / 5);
    for (int n = 0; n < total; ++n) {
      {
        absl::MutexLock lock(&mu);
        auto room = [&] { return in_flight < concurrency; };
        while (!mu.AwaitWithTimeout(absl::Condition(&room), absl::Milliseconds(5))) {
          mu.Unlock();
          soak.CancelDue();
          mu.Lock();
        }
        ++in_flight;
      }
      soak.CancelDue();
      watches.Tick(n);
      // The simulator logs every request it sees; keep that log (which lives
      // in this process too) from counting as growth.
      if (n % 500 == 0) (*sim)->ResetRequests();
      soak.StartCall(n, [&] {
        absl::MutexLock lock(&mu);
        --in_flight;
        ++finished;
      });
      if (n > warm_up && n % std::max(1, total / 10) == 0) {
        (*sim)->ResetRequests();
        std::printf("  after %6d RPCs: RSS %lld kB, live heap %lld kB\n", n,
                    static_cast<long long>(RssKb()), static_cast<long long>(LiveHeapKb()));
      }
      if (n == warm_up) {
        // Let the warm-up calls settle, then take the reference RSS.
        absl::MutexLock lock(&mu);
        auto settled = [&] { return in_flight == 0; };
        mu.AwaitWithTimeout(absl::Condition(&settled), absl::Seconds(30));
        mu.Unlock();
        watches.CancelAllAndWait(absl::Seconds(30));  // the reference holds no stream
        mu.Lock();
        (*sim)->ResetRequests();
        rss_warm = RssKb();
        heap_warm = LiveHeapKb();
      }
    }
    {
      absl::MutexLock lock(&mu);
      auto done = [&] { return finished == total; };
      // Every call has a deadline of at most 5 s; allow generous slack.
      for (int i = 0; i < 200 && !done(); ++i) {
        mu.AwaitWithTimeout(absl::Condition(&done), absl::Milliseconds(50));
        mu.Unlock();
        soak.CancelDue();
        mu.Lock();
      }
      all_ended = done();
    }
    elapsed = absl::Now() - start;
    watches_ended = watches.CancelAllAndWait(absl::Seconds(30));
    watches_opened = watches.opened();
    watch_events = watches.events();
    watch_codes = watches.codes();
    absl::SleepFor(absl::Milliseconds(200));
    left_in_flight = (*gateway)->upstream_in_flight();
    calls_left = static_cast<int64_t>((*gateway)->calls_in_flight());
    watch_streams_left = static_cast<int64_t>((*gateway)->watch_hub().streams());
    search_queued_left = (*gateway)->search_queue().size();
    (*sim)->ResetRequests();
    rss_end = RssKb();
    heap_end = LiveHeapKb();
    codes = soak.codes();
    (*gateway)->Shutdown(absl::Seconds(1));
  }
  curl_global_cleanup();

  std::printf("soak: %d RPCs, concurrency %d, fault ratio %.2f, %.1f s, %.0f RPC/s\n", total,
              concurrency, absl::GetFlag(FLAGS_fault_ratio), absl::ToDoubleSeconds(elapsed),
              total / std::max(0.001, absl::ToDoubleSeconds(elapsed)));
  std::printf("%-24s %10s\n", "code", "calls");
  int64_t counted = 0;
  const std::set<grpc::StatusCode> contract = {
      grpc::StatusCode::OK, grpc::StatusCode::CANCELLED, grpc::StatusCode::INVALID_ARGUMENT,
      grpc::StatusCode::DEADLINE_EXCEEDED, grpc::StatusCode::NOT_FOUND,
      grpc::StatusCode::RESOURCE_EXHAUSTED, grpc::StatusCode::FAILED_PRECONDITION,
      grpc::StatusCode::INTERNAL, grpc::StatusCode::UNAVAILABLE,
      // the search calls': BATCH_BUSY, and
      // OUTCOME_UNKNOWN for an add
      grpc::StatusCode::ABORTED, grpc::StatusCode::UNKNOWN};
  bool only_contract_codes = true;
  for (const auto& [code, n] : codes) {
    const int c = static_cast<int>(code);
    std::printf("%-24s %10lld\n",
                absl::StatusCodeToString(static_cast<absl::StatusCode>(c)).c_str(),
                static_cast<long long>(n));
    counted += n;
    only_contract_codes = only_contract_codes && contract.count(code) > 0;
  }
  std::printf("RSS after warm-up %lld kB, at the end %lld kB (%+.1f%%)\n",
              static_cast<long long>(rss_warm), static_cast<long long>(rss_end),
              rss_warm > 0
                  ? 100.0 * static_cast<double>(rss_end - rss_warm) / static_cast<double>(rss_warm)
                  : 0.0);
  check(all_ended && counted == total, absl::StrCat("every RPC ended (", counted, "/", total, ")"));
  check(only_contract_codes, "every code is one of the error contract's");
  check(codes[grpc::StatusCode::OK] > 0 && codes[grpc::StatusCode::UNAVAILABLE] > 0 &&
            codes[grpc::StatusCode::DEADLINE_EXCEEDED] > 0,
        "the mix produced OK, UNAVAILABLE and DEADLINE_EXCEEDED");
  check(left_in_flight == 0, "no upstream transfer left in flight");
  if (absl::GetFlag(FLAGS_search_ratio) > 0) {
    check(search_queued_left == 0, "no search call left queued or holding its batch's queue");
  }
  if (absl::GetFlag(FLAGS_watch_streams) > 0) {
    std::printf("watch: %lld streams opened, %lld events read;",
                static_cast<long long>(watches_opened), static_cast<long long>(watch_events));
    for (const auto& [code, n] : watch_codes) {
      std::printf(" %s %lld", absl::StatusCodeToString(static_cast<absl::StatusCode>(code)).c_str(),
                  static_cast<long long>(n));
    }
    std::printf("\n");
    check(watches_ended && watches_opened > 0 && watch_events > 0,
          "every watch stream ended (and they saw events)");
    check(watch_streams_left == 0 && calls_left == 0,
          "no watch stream open and no call (poll) in flight at the end");
  }
  const double allowed = 1 + absl::GetFlag(FLAGS_max_rss_growth);
  if (SOAK_ASAN) {
    // Under ASan, RSS mostly measures the sanitizer's own bookkeeping (shadow
    // memory, stack depot), which keeps growing slowly while the program's
    // heap stays flat; what the program holds is the sanitizer allocator's
    // count of live bytes. The release build checks RSS itself.
    std::printf("live heap after warm-up %lld kB, at the end %lld kB\n",
                static_cast<long long>(heap_warm), static_cast<long long>(heap_end));
    check(
        heap_warm > 0 && static_cast<double>(heap_end) <= static_cast<double>(heap_warm) * allowed,
        "live heap at the end within the allowed growth (ASan build)");
  } else {
    check(rss_warm > 0 && static_cast<double>(rss_end) <= static_cast<double>(rss_warm) * allowed,
          "RSS at the end within the allowed growth of warm-up RSS");
  }
  std::printf("soak: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
