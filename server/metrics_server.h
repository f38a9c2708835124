// MetricsServer: serves GET /metrics (Prometheus text format) on its own
// port and thread, apart from the gRPC port, so a scraper can never delay an
// RPC and no RPC can delay a scrape.
//
// Design: one thread runs a small epoll loop (level-triggered, non-blocking
// sockets) over the listening socket, a wake-up eventfd and the open
// connections. Requests are parsed with the shared HTTP/1.1 parser
// (common/http1.h; no request bodies: a Content-Length above 0 is 413, a
// header section over 8 KiB is 431) and answered in order; keep-alive is
// honoured, pipelined requests are answered one after the other.
//  * Per-request deadline: from its accept, and again from the end of each
//    response, a connection has `request_timeout` to deliver its next request
//    completely and take the response; then it is closed. So a client that
//    sends nothing, or drips a byte a second, holds a slot for at most that
//    long, and never holds up anyone else (nobody waits for it: all I/O is
//    non-blocking).
//  * Bounded connections: at most `max_connections` are open. A connection
//    accepted beyond that evicts the open connection that has waited longest
//    for a request (idle or slow); if every open connection is busy sending a
//    response, the new one is closed at once instead.
//  * `render` runs on the loop thread, one scrape at a time; it must be quick
//    (the gateway's renders its counters).
// With 100 idle or dripping connections open, a new scrape is answered
// without waiting for any of them (tests/server/metrics_server_test.cc).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/unique_fd.h"

namespace serpwow {

struct MetricsServerOptions {
  // Open connections at most (at least 1).
  int max_connections = 64;
  // See "Per-request deadline" above (positive).
  absl::Duration request_timeout = absl::Seconds(5);
};

class MetricsServer {
 public:
  // Binds `address` (HOST:PORT as --metrics_listen takes it; port 0 picks
  // one) and starts serving. `render` is called on the server's thread for
  // every scrape. InvalidArgument names --metrics_listen for a bad address;
  // Unavailable when it cannot listen there.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& address,
                                                              std::function<std::string()> render,
                                                              MetricsServerOptions options = {});
  ~MetricsServer();  // stops, closes every connection and joins
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const { return port_; }

 private:
  class Loop;
  MetricsServer(int port, std::unique_ptr<Loop> loop);

  const int port_;
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
};

}  // namespace serpwow
