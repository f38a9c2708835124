// MetricsServer: serves GET /metrics (Prometheus text format) on its own
// port and thread, apart from the gRPC port. Scrapes are rare and small, so
// connections are handled one at a time, each with a 2 s I/O timeout: a
// stuck scraper delays the next scrape, never an RPC.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace serpwow {

class MetricsServer {
 public:
  // Binds `address` (HOST:PORT; port 0 picks one) and starts serving.
  // `render` is called on the server's thread for every scrape.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& address,
                                                              std::function<std::string()> render);
  ~MetricsServer();  // stops and joins
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const { return port_; }

 private:
  MetricsServer(int listen_fd, int wake_fd, int port, std::function<std::string()> render);
  void Run();
  void Serve(int fd);

  const int listen_fd_;
  const int wake_fd_;
  const int port_;
  const std::function<std::string()> render_;
  std::thread thread_;
};

}  // namespace serpwow
