#include "tests/support/raw_tcp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>

#include "absl/time/clock.h"

namespace serpwow::testing {

UniqueFd ConnectLoopback(int port) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return fd;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) fd.reset();
  return fd;
}

absl::optional<absl::Duration> WaitForPeerClose(int fd, absl::Time since, absl::Duration bound) {
  const absl::Time until = since + bound;
  char buf[4096];
  for (absl::Time now = absl::Now(); now < until; now = absl::Now()) {
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(until - now)) + 1);
    if (ready < 0 && errno != EINTR) return absl::nullopt;
    if (ready <= 0) continue;
    const ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return absl::Now() - since;
  }
  return absl::nullopt;
}

}  // namespace serpwow::testing
