#include "server/logic/watch_hub.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/logic/batch_mutation.h"
#include "server/logic/errors.h"
#include "server/logic/outcome.h"
#include "server/logic/result_sets.h"

namespace serpwow::logic {
namespace {

namespace v1 = serpwow::batches::v1;

// One poll: GET /batches/{id} once (the poller's next poll is the retry),
// mapped as GetBatch maps it.
class WatchReadOperation final : public Operation {
 public:
  WatchReadOperation(UpstreamCaller* caller, const std::string& batch_id, absl::Time deadline)
      : Operation(caller, deadline) {
    batch_id_ = batch_id;
  }
  const v1::Batch& batch() const { return batch_; }
  bool rate_limited() const { return rate_limited_; }
  absl::optional<absl::Duration> retry_after() const { return retry_after_; }

 private:
  absl::Status Validate() override { return absl::OkStatus(); }  // the hub's caller validated
  void Begin() override {
    upstream::UpstreamRequest request;
    request.endpoint = upstream::Endpoint::kGetBatch;
    request.args.batch = batch_id_;
    Send("read", std::move(request), deadline(), upstream_options().timeout_cap,
         Done(&WatchReadOperation::OnRead), 1);
  }
  void OnRead(PhaseOutcome outcome) {
    if (outcome.attempts == 0 || outcome.out_of_time) {
      End(ErrorBuilder(absl::StatusCode::kDeadlineExceeded,
                       absl::StrCat("no time was left to read batch ", batch_id_),
                       reason::kDeadlineExceeded));
      return;
    }
    rate_limited_ = outcome.verdict.rate_limited;
    retry_after_ = ParseRetryAfter(outcome.result.retry_after, absl::Now());
    absl::StatusOr<v1::Batch> batch =
        ReadBatch(outcome.result, Context(batch_id_, outcome.deadline_binds));
    if (!batch.ok()) {
      End(batch.status());
      return;
    }
    batch_ = std::move(*batch);
    End(absl::OkStatus());
  }

  v1::Batch batch_;
  bool rate_limited_ = false;
  absl::optional<absl::Duration> retry_after_;
};

// An error a later poll may mend (SerpWow or the way to it failing, a 429,
// no time): the stream waits for the failure limit. Others end the streams
// that have not had their first event.
bool Transient(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable ||
         status.code() == absl::StatusCode::kResourceExhausted ||
         status.code() == absl::StatusCode::kDeadlineExceeded ||
         status.code() == absl::StatusCode::kInternal;
}

}  // namespace

class WatchHub::Poller : public std::enable_shared_from_this<Poller> {
 public:
  Poller(WatchHub* hub, std::string batch_id) : hub_(hub), batch_id_(std::move(batch_id)) {}

  struct Stream {
    std::shared_ptr<WatchSubscriber> subscriber;
    absl::optional<v1::Batch> since;
    bool until_run_ends = false;
    bool started = false;  // its first events were delivered
    absl::Time opened;
  };

  // Adds a stream; gives it its first events now when the batch was read.
  void Add(Stream stream) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    streams_.push_back(std::move(stream));
    if (snapshot_) Start(streams_.back());
    EndFinished(&streams_);
  }

  // Removes `subscriber`; true when it was there.
  bool Remove(const WatchSubscriber* subscriber) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto it = std::find_if(streams_.begin(), streams_.end(),
                           [&](const Stream& s) { return s.subscriber.get() == subscriber; });
    if (it == streams_.end()) return false;
    streams_.erase(it);
    return true;
  }

  // Under the hub's lock: stops the poller when it has no stream (or
  // always), handing back the streams and the read in flight.
  bool Stop(bool always, std::vector<Stream>* streams, std::shared_ptr<Operation>* in_flight) {
    absl::MutexLock lock(&mu_);
    if (!always && !streams_.empty()) return false;
    stopped_ = true;
    streams->swap(streams_);
    if (!starting_) *in_flight = std::move(in_flight_);
    return true;
  }

  // The next poll, after `delay` on the batch's loop.
  void Schedule(absl::Duration delay, const char* reason) {
    std::weak_ptr<Poller> weak = weak_from_this();
    hub_->caller_->client().RunAfter(batch_id_, delay, [weak, reason] {
      if (auto self = weak.lock()) self->Due(reason);
    });
  }

  // Takes a token (or waits for the one reserved) and sends `send`.
  void WithToken(std::function<void()> send) {
    const absl::Duration wait = hub_->TakeToken();
    if (wait <= absl::ZeroDuration()) {
      send();
      return;
    }
    std::weak_ptr<Poller> weak = weak_from_this();
    hub_->caller_->client().RunAfter(batch_id_, wait, [weak, send = std::move(send)] {
      if (auto self = weak.lock()) send();
    });
  }

  void Due(const char* reason) {
    if (Stopped()) return;
    std::weak_ptr<Poller> weak = weak_from_this();
    WithToken([weak, reason] {
      if (auto self = weak.lock()) self->SendRead(reason);
    });
  }

 private:
  bool Stopped() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return stopped_;
  }

  void SendRead(const char* reason) {
    auto op = std::make_shared<WatchReadOperation>(hub_->caller_, batch_id_,
                                                   absl::Now() + hub_->options_.read_timeout);
    std::weak_ptr<Poller> weak = weak_from_this();
    StartOp(op, reason, [weak, op = op.get()](absl::Status status, const CallTrace&) {
      if (auto self = weak.lock()) self->OnRead(op, std::move(status));
    });
  }

  // Starts `op` as the read in flight. Stop() never cancels an operation
  // that has not started (its `ended` is not set yet): one stopped during
  // Start() is cancelled here once it has.
  void StartOp(const std::shared_ptr<Operation>& op, const char* reason, Operation::Ended ended) {
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      in_flight_ = op;
      starting_ = true;
    }
    if (hub_->observer_ != nullptr) hub_->observer_->OnWatchPoll(reason);
    Operation::Start(op, std::move(ended));
    std::shared_ptr<Operation> cancel;
    {
      absl::MutexLock lock(&mu_);
      starting_ = false;
      if (stopped_ && in_flight_ == op) cancel = std::move(in_flight_);
    }
    if (cancel != nullptr) cancel->Cancel(absl::CancelledError("the watch ended"));
  }

  void OnRead(WatchReadOperation* op, absl::Status status) {
    std::shared_ptr<Operation> keep;  // `op` stays alive while we read it
    {
      absl::MutexLock lock(&mu_);
      if (stopped_ || in_flight_.get() != op) return;
      keep = std::move(in_flight_);
    }
    const absl::Time now = hub_->clock_();
    if (op->rate_limited()) {
      hub_->RateLimited(op->retry_after());
    } else if (status.ok() || ReasonOf(status) == reason::kBatchNotFound) {
      hub_->NotRateLimited();
    }
    if (status.ok()) {
      failing_since_.reset();
      v1::Batch batch = op->batch();
      std::vector<WatchEvent> events;
      {
        absl::MutexLock lock(&mu_);
        if (snapshot_) events = DiffBatches(*snapshot_, batch);
      }
      pending_ = std::move(events);
      next_ = std::move(batch);
      observed_ = now;
      next_result_set_ = 0;
      FetchResultSets();
      return;
    }
    if (ReasonOf(status) == reason::kBatchNotFound) {
      Deleted(status, now);
    } else {
      Failed(status, now);
    }
    Next(now);
  }

  // Reads the result set of each RUN_COMPLETED of pending_ in turn, then
  // publishes.
  void FetchResultSets() {
    while (next_result_set_ < pending_.size() &&
           (pending_[next_result_set_].type != WatchEventType::kRunCompleted ||
            pending_[next_result_set_].result_set_id == 0)) {
      ++next_result_set_;
    }
    if (next_result_set_ >= pending_.size()) {
      Publish();
      return;
    }
    std::weak_ptr<Poller> weak = weak_from_this();
    WithToken([weak] {
      if (auto self = weak.lock()) self->SendResultSetRead();
    });
  }

  void SendResultSetRead() {
    WatchEvent& event = pending_[next_result_set_];
    event.result_set.set_name(
        absl::StrCat("batches/", batch_id_, "/resultSets/", event.result_set_id));
    auto op = std::make_shared<GetResultSetOperation>(hub_->caller_, event.result_set.name(),
                                                      absl::Now() + hub_->options_.read_timeout,
                                                      hub_->links_);
    std::weak_ptr<Poller> weak = weak_from_this();
    StartOp(op, "result_set", [weak, op = op.get()](absl::Status status, const CallTrace&) {
      if (auto self = weak.lock()) self->OnResultSet(op, status);
    });
  }

  // A result set that cannot be read (expired already, SerpWow failing)
  // leaves the event with the result set's name only: the run did complete.
  void OnResultSet(GetResultSetOperation* op, const absl::Status& status) {
    std::shared_ptr<Operation> keep;
    {
      absl::MutexLock lock(&mu_);
      if (stopped_ || in_flight_.get() != op) return;
      keep = std::move(in_flight_);
    }
    if (status.ok()) pending_[next_result_set_].result_set = op->result();
    ++next_result_set_;
    FetchResultSets();
  }

  void Publish() {
    const absl::Duration interval =
        Jittered(BaseInterval(hub_->options_.intervals, next_.status(), hub_->watched_batches()),
                 hub_->options_.intervals.jitter, hub_->Unit());
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      interval_ = interval;
      snapshot_ = next_;
      observed_at_ = observed_;
      for (Stream& stream : streams_) {
        if (!stream.started) {
          Start(stream);
          continue;
        }
        for (WatchEvent& event : pending_) {
          event.observe_time = observed_;
          event.poll_interval = interval;
          Deliver(stream, event);
        }
      }
      EndFinished(&streams_);
      EndExpired(observed_);
    }
    pending_.clear();
    Next(observed_, interval);
  }

  // Its first events, from the snapshot.
  void Start(Stream& stream) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    stream.started = true;
    std::vector<WatchEvent> events =
        FirstEvents(stream.since ? &*stream.since : nullptr, *snapshot_);
    stream.since.reset();
    for (WatchEvent& event : events) {
      if (event.type == WatchEventType::kRunCompleted && event.result_set_id > 0) {
        // Missed while the caller was away: its name (no extra read on a
        // resume; GetResultSet has the rest).
        event.result_set.set_name(
            absl::StrCat("batches/", batch_id_, "/resultSets/", event.result_set_id));
        event.result_set.set_result_set_id(static_cast<int32_t>(event.result_set_id));
      }
      event.observe_time = observed_at_;
      event.poll_interval = interval_;
      Deliver(stream, event);
    }
  }

  void Deliver(Stream& stream, const WatchEvent& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (stream.subscriber == nullptr) return;
    stream.subscriber->OnWatchEvent(event);
    if (stream.until_run_ends &&
        (event.type == WatchEventType::kRunCompleted || event.type == WatchEventType::kRunEnded)) {
      End(stream, absl::OkStatus(), "run_ended");
    }
  }

  // Ends one stream (its entry is removed by EndFinished). The slot goes
  // back before the subscriber hears of the end: its caller may have the
  // status at once and open the next stream, which must find room under
  // --watch_max_streams.
  void End(Stream& stream, absl::Status status, const char* why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // Moved out: the entry's subscriber is null now, which EndFinished keys on.
    std::shared_ptr<WatchSubscriber> subscriber = std::move(stream.subscriber);
    hub_->StreamsEnded(1);
    subscriber->OnWatchEnd(std::move(status), why);
  }

  // Drops the streams that have ended (subscriber cleared).
  void EndFinished(std::vector<Stream>* streams) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    streams->erase(std::remove_if(streams->begin(), streams->end(),
                                  [](const Stream& s) { return s.subscriber == nullptr; }),
                   streams->end());
  }

  void EndExpired(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const absl::Duration max = hub_->options_.max_duration;
    if (max <= absl::ZeroDuration()) return;
    for (Stream& stream : streams_) {
      if (stream.subscriber != nullptr && now - stream.opened >= max) {
        End(stream, absl::OkStatus(), "max_duration");
      }
    }
    EndFinished(&streams_);
  }

  void EndAll(bool started_only, const absl::Status& status, const char* why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (Stream& stream : streams_) {
      if (stream.subscriber != nullptr && (stream.started || !started_only)) {
        End(stream, status, why);
      }
    }
    EndFinished(&streams_);
  }

  // A NOT_FOUND poll: BATCH_DELETED to the streams that saw the batch, the
  // error to those still waiting for their first read.
  void Deleted(const absl::Status& status, absl::Time now) {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    for (Stream& stream : streams_) {
      if (stream.subscriber == nullptr) continue;
      if (stream.started && snapshot_) {
        WatchEvent event;
        event.type = WatchEventType::kBatchDeleted;
        event.batch = *snapshot_;
        event.observe_time = now;
        event.poll_interval = interval_;
        stream.subscriber->OnWatchEvent(event);
        End(stream, absl::OkStatus(), "batch_deleted");
      } else {
        End(stream, status, "read_failed");
      }
    }
    EndFinished(&streams_);
    snapshot_.reset();  // a stream that comes now waits for the next read
  }

  void Failed(const absl::Status& status, absl::Time now) {
    if (!failing_since_) failing_since_ = now;
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    if (ReasonOf(status) == reason::kShuttingDown) {
      // The upstream loop is stopping: it ends every transfer and runs every
      // timer at once, so a retry would fail at once, again and again.
      EndAll(/*started_only=*/false, status, "shutdown");
    } else if (!Transient(status)) {
      EndAll(/*started_only=*/false, status, "read_failed");  // e.g. a refused key
    }
    if (now - *failing_since_ >= hub_->options_.failure_limit) {
      EndAll(/*started_only=*/false,
             ErrorBuilder(absl::StatusCode::kUnavailable,
                          absl::StrCat("batch ", batch_id_, " could not be read for ",
                                       absl::FormatDuration(now - *failing_since_),
                                       "; resume the watch with since"),
                          reason::kUpstreamUnavailable)
                 .Metadata("batch_id", batch_id_),
             "upstream_unavailable");
    }
    EndExpired(now);
  }

  // Schedules the next poll unless the poller has no stream left.
  void Next(absl::Time now, absl::optional<absl::Duration> interval = absl::nullopt) {
    (void)now;
    if (hub_->MaybeDrop(this)) return;
    if (!interval) {
      absl::MutexLock lock(&mu_);
      const v1::BatchStatus status = snapshot_ ? snapshot_->status() : v1::BATCH_STATUS_QUEUED;
      interval = Jittered(BaseInterval(hub_->options_.intervals, status, hub_->watched_batches()),
                          hub_->options_.intervals.jitter, hub_->Unit());
      // A failed first read is tried again at the quickest interval.
      if (!snapshot_) interval = std::min(*interval, hub_->options_.intervals.running);
    }
    Schedule(*interval, failing_since_ ? "retry" : "interval");
  }

  WatchHub* const hub_;
  const std::string batch_id_;

  // Loop-thread state: one poll cycle at a time.
  absl::optional<absl::Time> failing_since_;
  std::vector<WatchEvent> pending_;  // the events of the read being published
  size_t next_result_set_ = 0;
  v1::Batch next_;
  absl::Time observed_;

  absl::Mutex mu_;
  std::vector<Stream> streams_ ABSL_GUARDED_BY(mu_);
  absl::optional<v1::Batch> snapshot_ ABSL_GUARDED_BY(mu_);
  absl::Time observed_at_ ABSL_GUARDED_BY(mu_);
  absl::Duration interval_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool starting_ ABSL_GUARDED_BY(mu_) = false;  // in StartOp's Operation::Start
  std::shared_ptr<Operation> in_flight_ ABSL_GUARDED_BY(mu_);
};

WatchHub::WatchHub(UpstreamCaller* caller, const DownloadLinkPolicy* links, WatchOptions options,
                   WatchObserver* observer, Clock clock)
    : caller_(caller),
      links_(links),
      options_(options),
      observer_(observer),
      clock_(std::move(clock)),
      budget_(options.intervals.poll_rate, options.pause_initial, options.pause_max, clock_()),
      rng_(std::random_device{}()) {}

WatchHub::~WatchHub() {
  Shutdown(ErrorBuilder(absl::StatusCode::kUnavailable, "the server is shutting down",
                        reason::kShuttingDown));
}

absl::Status WatchHub::Watch(std::shared_ptr<WatchSubscriber> subscriber, WatchRequest request) {
  std::shared_ptr<Poller> created;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return *shut_down_;
    if (streams_.load(std::memory_order_relaxed) >= options_.max_streams) {
      return ErrorBuilder(absl::StatusCode::kUnavailable,
                          absl::StrCat("this server already has ", options_.max_streams,
                                       " watch streams open (--watch_max_streams); retry later "
                                       "or elsewhere"),
                          reason::kGatewayOverloaded)
          .Metadata("batch_id", request.batch_id);
    }
    std::shared_ptr<Poller>& poller = pollers_[request.batch_id];
    if (poller == nullptr) {
      poller = std::make_shared<Poller>(this, request.batch_id);
      created = poller;
      batches_.store(pollers_.size(), std::memory_order_relaxed);
    }
    const size_t open = streams_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (observer_ != nullptr) observer_->OnWatchStreams(static_cast<int64_t>(open));
    Poller::Stream stream;
    stream.subscriber = std::move(subscriber);
    stream.since = std::move(request.since);
    stream.until_run_ends = request.until_run_ends;
    stream.opened = clock_();
    poller->Add(std::move(stream));
  }
  if (created != nullptr) created->Due("first");
  return absl::OkStatus();
}

void WatchHub::Unwatch(const WatchSubscriber* subscriber, const std::string& batch_id) {
  std::shared_ptr<Operation> in_flight;
  {
    absl::MutexLock lock(&mu_);
    auto it = pollers_.find(batch_id);
    if (it == pollers_.end() || !it->second->Remove(subscriber)) return;
    StreamsEnded(1);
    std::vector<Poller::Stream> none;
    if (it->second->Stop(false, &none, &in_flight)) {
      pollers_.erase(it);
      batches_.store(pollers_.size(), std::memory_order_relaxed);
    }
  }
  if (in_flight != nullptr) in_flight->Cancel(absl::CancelledError("no stream watches the batch"));
}

bool WatchHub::MaybeDrop(Poller* poller) {
  std::shared_ptr<Operation> in_flight;
  std::shared_ptr<Poller> keep;  // destroyed outside the lock
  {
    absl::MutexLock lock(&mu_);
    std::vector<Poller::Stream> none;
    if (!poller->Stop(false, &none, &in_flight)) return false;
    for (auto it = pollers_.begin(); it != pollers_.end(); ++it) {
      if (it->second.get() == poller) {
        keep = std::move(it->second);
        pollers_.erase(it);
        break;
      }
    }
    batches_.store(pollers_.size(), std::memory_order_relaxed);
  }
  if (in_flight != nullptr) in_flight->Cancel(absl::CancelledError("no stream watches the batch"));
  return true;
}

void WatchHub::Shutdown(const absl::Status& status) {
  std::vector<std::shared_ptr<Poller>> pollers;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = status;
    for (auto& [id, poller] : pollers_) pollers.push_back(std::move(poller));
    pollers_.clear();
    batches_.store(0, std::memory_order_relaxed);
  }
  for (const std::shared_ptr<Poller>& poller : pollers) {
    std::vector<Poller::Stream> streams;
    std::shared_ptr<Operation> in_flight;
    poller->Stop(true, &streams, &in_flight);
    if (in_flight != nullptr) in_flight->Cancel(status);
    for (Poller::Stream& stream : streams) {
      if (stream.subscriber == nullptr) continue;  // counted when it ended
      StreamsEnded(1);
      stream.subscriber->OnWatchEnd(status, "shutdown");
    }
  }
}

void WatchHub::StreamsEnded(size_t n) {
  if (n == 0) return;
  const size_t open = streams_.fetch_sub(n, std::memory_order_relaxed) - n;
  if (observer_ != nullptr) observer_->OnWatchStreams(static_cast<int64_t>(open));
}

absl::Duration WatchHub::TakeToken() {
  absl::MutexLock lock(&budget_mu_);
  return budget_.Take(clock_());
}

void WatchHub::RateLimited(absl::optional<absl::Duration> retry_after) {
  absl::MutexLock lock(&budget_mu_);
  budget_.RateLimited(clock_(), retry_after);
}

void WatchHub::NotRateLimited() {
  absl::MutexLock lock(&budget_mu_);
  budget_.NotRateLimited();
}

double WatchHub::Unit() {
  absl::MutexLock lock(&budget_mu_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
}

}  // namespace serpwow::logic
