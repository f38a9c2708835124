// The /metrics endpoint on its own: a real MetricsServer on 127.0.0.1:0 and
// raw loopback sockets, so the framing, the deadlines and the connection cap
// can be seen byte by byte. Every wait is bounded.
#include "server/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace serpwow {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kExposition[] = "# TYPE up gauge\nup 1\n";

// A blocking client socket; reads give up after `read_timeout`.
UniqueFd Connect(int port, absl::Duration read_timeout = absl::Seconds(3)) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv = absl::ToTimeval(read_timeout);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) fd.reset();
  return fd;
}

bool SendAll(const UniqueFd& fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd.get(), data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Everything until the server closes; `*closed` is false if the read timed
// out first.
std::string ReadUntilClose(const UniqueFd& fd, bool* closed) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      continue;
    }
    *closed = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
    return out;
  }
}

// Reads one response (head plus Content-Length bytes), or what came before a
// timeout or close. Bytes read beyond it (a pipelined response) are kept in
// `*pending` for the next call.
std::string ReadResponse(const UniqueFd& fd, std::string* pending) {
  std::string& out = *pending;
  char buf[4096];
  for (;;) {
    const size_t head_end = out.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      const size_t at = out.find("Content-Length: ");
      if (at != std::string::npos && at < head_end) {
        const size_t end = head_end + 4 + std::stoul(out.substr(at + 16));
        if (out.size() >= end) {
          std::string response = out.substr(0, end);
          out.erase(0, end);
          return response;
        }
      }
    }
    ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n <= 0) return std::exchange(out, std::string());
    out.append(buf, static_cast<size_t>(n));
  }
}

std::string ReadResponse(const UniqueFd& fd) {
  std::string pending;
  return ReadResponse(fd, &pending);
}

// True if the server has closed `fd` (EOF or reset) within `wait`.
bool ClosedWithin(const UniqueFd& fd, absl::Duration wait) {
  pollfd p{fd.get(), POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(wait))) <= 0) return false;
  char c;
  return ::recv(fd.get(), &c, 1, MSG_DONTWAIT) <= 0;
}

class MetricsServerTest : public ::testing::Test {
 protected:
  void Start(MetricsServerOptions options = {}) {
    auto server = MetricsServer::Start(
        "127.0.0.1:0",
        [this] {
          ++renders_;
          return std::string(kExposition);
        },
        options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ASSERT_GT(server_->port(), 0);
  }

  // One scrape on a fresh connection; the response, or "" after `limit`.
  std::string Scrape(absl::Duration limit = absl::Seconds(3)) {
    UniqueFd fd = Connect(server_->port(), limit);
    if (!fd) return "";
    if (!SendAll(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) return "";
    bool closed = false;
    return ReadUntilClose(fd, &closed);
  }

  std::atomic<int> renders_{0};
  std::unique_ptr<MetricsServer> server_;
};

TEST_F(MetricsServerTest, ServesMetricsAndRefusesEverythingElse) {
  Start();
  std::string r = Scrape();
  EXPECT_THAT(r, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(r, HasSubstr("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
  EXPECT_THAT(r, HasSubstr(absl::StrCat("Content-Length: ", sizeof(kExposition) - 1, "\r\n")));
  EXPECT_THAT(r, HasSubstr("Connection: close\r\n"));
  EXPECT_TRUE(absl::EndsWith(r, std::string("\r\n\r\n") + kExposition)) << r;
  EXPECT_EQ(renders_.load(), 1);

  struct Case {
    std::string request;
    std::string status_line;
  };
  for (const Case& c : std::vector<Case>{
           {"GET /metrics?name[]=up HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n"},
           {"GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found\r\n"},
           {"GET /metricsx HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found\r\n"},
           {"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 405 Method Not Allowed\r\n"},
           {"GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", "HTTP/1.1 413 "},
           {"GET /metrics HTTP/1.1\r\nBroken header\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
           {"GET /metrics HTTP/2.0\r\n\r\n", "HTTP/1.1 505 "},
           {"GET /metrics HTTP/1.1\r\nX-Big: " + std::string(10000, 'a') + "\r\n\r\n",
            "HTTP/1.1 431 "},
       }) {
    UniqueFd fd = Connect(server_->port());
    ASSERT_TRUE(SendAll(fd, c.request));
    std::string reply = ReadResponse(fd);
    EXPECT_THAT(reply, StartsWith(c.status_line)) << c.request.substr(0, 40);
    if (absl::StartsWith(c.status_line, "HTTP/1.1 405")) {
      EXPECT_THAT(reply, HasSubstr("Allow: GET\r\n"));
    }
  }
  EXPECT_EQ(renders_.load(), 2);
}

TEST_F(MetricsServerTest, KeepAliveAndPipelinedRequestsAreAnsweredInOrder) {
  Start();
  UniqueFd fd = Connect(server_->port());
  ASSERT_TRUE(SendAll(fd, "GET /metrics HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\n"));
  std::string pending;
  std::string first = ReadResponse(fd, &pending);
  EXPECT_THAT(first, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(first, HasSubstr("Connection: keep-alive\r\n"));
  EXPECT_THAT(ReadResponse(fd, &pending), StartsWith("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_EQ(pending, "");
  ASSERT_TRUE(SendAll(fd, "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n"));
  bool closed = false;
  EXPECT_THAT(ReadUntilClose(fd, &closed), StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_TRUE(closed);
  EXPECT_EQ(renders_.load(), 2);
}

TEST_F(MetricsServerTest, ARequestFollowedByTheClientsFinIsStillAnswered) {
  Start();
  UniqueFd fd = Connect(server_->port());
  ASSERT_TRUE(SendAll(fd, "GET /metrics HTTP/1.0\r\n\r\n"));
  ::shutdown(fd.get(), SHUT_WR);
  bool closed = false;
  std::string r = ReadUntilClose(fd, &closed);
  EXPECT_THAT(r, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_TRUE(closed);
}

TEST_F(MetricsServerTest, ConnectionsThatDoNotFinishARequestAreClosedAtTheDeadline) {
  MetricsServerOptions options;
  options.request_timeout = absl::Milliseconds(300);
  Start(options);
  UniqueFd idle = Connect(server_->port());
  UniqueFd partial = Connect(server_->port());
  ASSERT_TRUE(SendAll(partial, "GET /metr"));
  // A kept-alive connection gets the same time for its next request.
  UniqueFd kept = Connect(server_->port());
  ASSERT_TRUE(SendAll(kept, "GET /metrics HTTP/1.1\r\n\r\n"));
  EXPECT_THAT(ReadResponse(kept), StartsWith("HTTP/1.1 200 OK\r\n"));
  const absl::Time start = absl::Now();
  for (const UniqueFd* fd : {&idle, &partial, &kept}) {
    EXPECT_TRUE(ClosedWithin(*fd, absl::Seconds(2)));
  }
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_THAT(Scrape(), StartsWith("HTTP/1.1 200 OK\r\n"));  // still serving
}

TEST_F(MetricsServerTest, TheCapEvictsTheConnectionThatWaitedLongest) {
  MetricsServerOptions options;
  options.max_connections = 2;
  Start(options);
  UniqueFd oldest = Connect(server_->port());
  UniqueFd older = Connect(server_->port());
  // Let the server accept both, in this order, before the third arrives.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_THAT(Scrape(), StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_TRUE(ClosedWithin(oldest, absl::Seconds(2)));
  EXPECT_FALSE(ClosedWithin(older, absl::Milliseconds(200)));
  ASSERT_TRUE(SendAll(older, "GET /metrics HTTP/1.1\r\n\r\n"));
  EXPECT_THAT(ReadResponse(older), StartsWith("HTTP/1.1 200 OK\r\n"));
}

TEST_F(MetricsServerTest, AConnectionJustServedIsNotTheOneEvicted) {
  MetricsServerOptions options;
  options.max_connections = 2;
  Start(options);
  UniqueFd served = Connect(server_->port());  // accepted first...
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  UniqueFd idle = Connect(server_->port());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(SendAll(served, "GET /metrics HTTP/1.1\r\n\r\n"));  // ...but served last
  EXPECT_THAT(ReadResponse(served), StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(Scrape(), StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_TRUE(ClosedWithin(idle, absl::Seconds(2)));
  EXPECT_FALSE(ClosedWithin(served, absl::Milliseconds(200)));
}

// 100 connections open: half idle, half dripping a header byte every 50 ms.
// A scrape must still be answered within 1 s: with the default cap (64:
// eviction) and with room for all of them (nobody waits for anybody).
void ScrapeBesideHundredIdleAndSlowConnections(int port,
                                               const std::function<std::string()>& scrape) {
  std::vector<UniqueFd> idle, slow;
  for (int i = 0; i < 50; ++i) {
    idle.push_back(Connect(port));
    slow.push_back(Connect(port));
    ASSERT_TRUE(idle.back() && slow.back());
    ASSERT_TRUE(SendAll(slow.back(), "G"));
  }
  std::atomic<bool> stop{false};
  std::thread dripper([&] {
    const std::string header = "ET /metrics HTTP/1.1\r\nX-Slow: " + std::string(1000, 'a');
    for (size_t i = 0; i < header.size() && !stop.load(); ++i) {
      for (const UniqueFd& fd : slow) {
        ::send(fd.get(), &header[i], 1, MSG_NOSIGNAL | MSG_DONTWAIT);  // evicted ones fail
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // all accepted, dripping
  const absl::Time start = absl::Now();
  const std::string reply = scrape();
  const absl::Duration took = absl::Now() - start;
  stop.store(true);
  dripper.join();
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_TRUE(absl::EndsWith(reply, kExposition)) << reply;
  EXPECT_LT(took, absl::Seconds(1));
}

TEST_F(MetricsServerTest, AScrapeIsAnsweredWithinOneSecondBesideHundredSlowConnections) {
  Start();  // defaults: at most 64 connections, 5 s per request
  ScrapeBesideHundredIdleAndSlowConnections(server_->port(),
                                            [this] { return Scrape(absl::Seconds(1)); });
}

TEST_F(MetricsServerTest, AScrapeIsAnsweredWithinOneSecondWhenAllHundredFit) {
  MetricsServerOptions options;
  options.max_connections = 200;
  Start(options);
  ScrapeBesideHundredIdleAndSlowConnections(server_->port(),
                                            [this] { return Scrape(absl::Seconds(1)); });
}

TEST_F(MetricsServerTest, DestructionWithOpenConnectionsIsPrompt) {
  Start();
  std::vector<UniqueFd> open;
  for (int i = 0; i < 10; ++i) open.push_back(Connect(server_->port()));
  ASSERT_TRUE(SendAll(open[0], "GET /metr"));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const absl::Time start = absl::Now();
  server_.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  for (const UniqueFd& fd : open) EXPECT_TRUE(ClosedWithin(fd, absl::Seconds(1)));
}

TEST(MetricsServerStartTest, BadAddressesNameTheFlag) {
  auto render = [] { return std::string(); };
  for (const char* address : {"nonsense", "127.0.0.1:99999", "::1:9090"}) {
    auto server = MetricsServer::Start(address, render);
    ASSERT_FALSE(server.ok()) << address;
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument) << address;
    EXPECT_THAT(std::string(server.status().message()), StartsWith("--metrics_listen")) << address;
  }
  EXPECT_EQ(MetricsServer::Start("nonsense", render).status().message(),
            "--metrics_listen must be HOST:PORT (e.g. 0.0.0.0:9090), got 'nonsense'");
  MetricsServerOptions zero;
  zero.max_connections = 0;
  EXPECT_EQ(MetricsServer::Start("127.0.0.1:0", render, zero).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MetricsServerStartTest, APortInUseIsUnavailable) {
  auto first = MetricsServer::Start("127.0.0.1:0", [] { return std::string(); });
  ASSERT_TRUE(first.ok());
  auto second = MetricsServer::Start(absl::StrCat("127.0.0.1:", (*first)->port()),
                                     [] { return std::string(); });
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("--metrics_listen"));
}

}  // namespace
}  // namespace serpwow
