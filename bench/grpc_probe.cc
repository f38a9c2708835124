// grpc_probe: a diagnostic for bench --only=grpc_floor (never part of the
// product). It serves grpc.health.v1.Health/Check, answering SERVING, on one
// of the two gRPC C++ server APIs, so that bench can measure what each costs
// per call on this machine before the gateway is moved from one to the other:
//   --api=callback      the callback API (what batch-server uses): gRPC 1.51
//                       runs the handlers on its own completion-queue threads
//                       (at least two, taking turns as epoll's poller);
//   --api=async         the async completion-queue API with one thread that
//                       both polls and handles;
//   --finish_from=other the answer is given from another thread, woken per
//                       call, as the gateway answers from its upstream loop
//                       (default: on the thread that received the call).
// It takes batch-server's --listen; other flags are accepted and ignored, so
// that bench starts it like the gateway.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace {

namespace health = grpc::health::v1;

// Runs each handed-over function on one thread of its own, woken per call.
class Finisher {
 public:
  Finisher() : thread_([this] { Run(); }) {}
  ~Finisher() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
  }
  void Post(std::function<void()> fn) {
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(fn));
  }

 private:
  void Run() {
    for (;;) {
      std::deque<std::function<void()>> ready;
      {
        absl::MutexLock lock(&mu_);
        auto some = [this] { return stop_ || !queue_.empty(); };
        mu_.Await(absl::Condition(&some));
        if (stop_) return;
        ready.swap(queue_);
      }
      for (auto& fn : ready) fn();
    }
  }
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

class CallbackHealth final : public health::Health::CallbackService {
 public:
  explicit CallbackHealth(Finisher* finisher) : finisher_(finisher) {}
  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const health::HealthCheckRequest* /*request*/,
                                  health::HealthCheckResponse* response) override {
    response->set_status(health::HealthCheckResponse::SERVING);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    if (finisher_ != nullptr) {
      finisher_->Post([reactor] { reactor->Finish(grpc::Status::OK); });
    } else {
      reactor->Finish(grpc::Status::OK);
    }
    return reactor;
  }

 private:
  Finisher* finisher_;
};

// One Check on the async API: requested, answered, then deleted.
class AsyncCheck {
 public:
  AsyncCheck(health::Health::AsyncService* service, grpc::ServerCompletionQueue* cq,
             Finisher* finisher)
      : service_(service), cq_(cq), finisher_(finisher), responder_(&context_) {
    service_->RequestCheck(&context_, &request_, &responder_, cq_, cq_, this);
  }
  void Proceed(bool ok) {
    if (answered_ || !ok) {
      delete this;
      return;
    }
    new AsyncCheck(service_, cq_, finisher_);  // the next call's slot
    answered_ = true;
    response_.set_status(health::HealthCheckResponse::SERVING);
    if (finisher_ != nullptr) {
      finisher_->Post([this] { responder_.Finish(response_, grpc::Status::OK, this); });
    } else {
      responder_.Finish(response_, grpc::Status::OK, this);
    }
  }

 private:
  health::Health::AsyncService* service_;
  grpc::ServerCompletionQueue* cq_;
  Finisher* finisher_;
  grpc::ServerContext context_;
  health::HealthCheckRequest request_;
  health::HealthCheckResponse response_;
  grpc::ServerAsyncResponseWriter<health::HealthCheckResponse> responder_;
  bool answered_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:50051", api = "callback";
  bool other = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--listen=", 0) == 0) listen = arg.substr(9);
    if (arg.rfind("--api=", 0) == 0) api = arg.substr(6);
    if (arg == "--finish_from=other") other = true;
  }
  std::unique_ptr<Finisher> finisher;
  if (other) finisher = std::make_unique<Finisher>();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials());
  if (api == "async") {
    health::Health::AsyncService service;
    builder.RegisterService(&service);
    std::unique_ptr<grpc::ServerCompletionQueue> cq = builder.AddCompletionQueue();
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    if (server == nullptr) return 1;
    // Enough slots that calls never wait for one (each answered call posts
    // the next).
    for (int i = 0; i < 512; ++i) new AsyncCheck(&service, cq.get(), finisher.get());
    void* tag = nullptr;
    bool ok = false;
    while (cq->Next(&tag, &ok)) static_cast<AsyncCheck*>(tag)->Proceed(ok);
    return 0;
  }
  if (api != "callback") {
    std::fprintf(stderr, "grpc_probe: --api=callback|async\n");
    return 64;
  }
  CallbackHealth service(finisher.get());
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) return 1;
  server->Wait();
  return 0;
}
