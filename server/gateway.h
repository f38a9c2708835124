// Gateway: the assembled service (upstream loop, SerpWow client, stopper,
// gRPC server) behind one Start(). batch-server's main and the service tests
// use it the same way.
#pragma once

#include <grpcpp/server.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/logic/stop_batch.h"
#include "server/rpc/batch_service.h"
#include "server/upstream/http_loop.h"
#include "server/upstream/serpwow_client.h"

namespace serpwow {

struct GatewayOptions {
  // HOST:PORT; port 0 picks a free port (see Gateway::port()).
  std::string listen = "0.0.0.0:50051";
  upstream::UpstreamOptions upstream;
  upstream::HttpLoopOptions loop;
  logic::StopperOptions stopper;
};

// OK for "HOST:PORT", "[IPV6]:PORT" with 0 <= PORT <= 65535; the message names
// what is wrong.
absl::Status ValidateListenAddress(const std::string& address);

class Gateway {
 public:
  // Validates the options, starts the upstream loop and the gRPC server.
  // Requires curl_global_init() to have run.
  static absl::StatusOr<std::unique_ptr<Gateway>> Start(GatewayOptions options);

  // Shutdown(absl::ZeroDuration()) if not done yet.
  ~Gateway();

  // The bound port, and "HOST:PORT" with it.
  int port() const { return port_; }
  std::string address() const { return address_; }

  // Stops accepting calls; calls in flight get until `grace` to finish, then
  // are cancelled. Returns when every call has ended. Idempotent.
  void Shutdown(absl::Duration grace);

  upstream::HttpLoop& loop() { return *loop_; }

 private:
  Gateway() = default;
  std::unique_ptr<upstream::HttpLoop> loop_;
  std::unique_ptr<upstream::SerpwowClient> client_;
  std::unique_ptr<logic::BatchStopper> stopper_;
  std::unique_ptr<rpc::BatchServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string address_;
  bool shut_down_ = false;
};

}  // namespace serpwow
