#include "server/memory_guard.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/unique_fd.h"

namespace serpwow {
namespace {

// Local port of an inet socket, or -1.
int LocalPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return -1;
  if (addr.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
  }
  if (addr.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  }
  return -1;
}

std::string Peer(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    port = ntohs(in->sin_port);
    return absl::StrCat(host, ":", port);
  }
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
  ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
  port = ntohs(in6->sin6_port);
  return absl::StrCat("[", host, "]:", port);
}

ino_t InodeOf(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return 0;
  return st.st_ino;
}

// Bytes the kernel has received on a TCP socket (tcpi_bytes_received), or
// false if it is not one.
bool BytesReceived(int fd, uint64_t* bytes) {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return false;
  if (len < offsetof(tcp_info, tcpi_bytes_received) + sizeof(info.tcpi_bytes_received)) {
    return false;
  }
  *bytes = info.tcpi_bytes_received;
  return true;
}

// The accepted (not listening) TCP sockets of this process on `port`.
std::vector<ConnectionSample> GrpcConnections(int port) {
  std::vector<ConnectionSample> found;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return found;
  const int dir_fd = ::dirfd(dir);
  while (dirent* entry = ::readdir(dir)) {
    int fd = -1;
    if (!absl::SimpleAtoi(entry->d_name, &fd) || fd == dir_fd) continue;
    const ino_t inode = InodeOf(fd);
    if (inode == 0 || LocalPort(fd) != port) continue;
    int listening = 0;
    socklen_t len = sizeof(listening);
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || listening != 0) {
      continue;
    }
    ConnectionSample sample;
    sample.fd = fd;
    sample.inode = inode;
    if (!BytesReceived(fd, &sample.bytes_received)) continue;
    found.push_back(std::move(sample));
  }
  ::closedir(dir);
  return found;
}

}  // namespace

int64_t ResidentBytes() {
  // /proc/self/statm: size resident shared ... (in pages). Read with one
  // read(2): no stdio buffer, no allocation.
  UniqueFd fd(::open("/proc/self/statm", O_RDONLY | O_CLOEXEC));
  if (!fd) return 0;
  char buf[128];
  const ssize_t n = ::read(fd.get(), buf, sizeof(buf) - 1);
  if (n <= 0) return 0;
  buf[n] = '\0';
  unsigned long long size = 0, resident = 0;
  if (std::sscanf(buf, "%llu %llu", &size, &resident) != 2) return 0;
  return static_cast<int64_t>(resident) * ::sysconf(_SC_PAGESIZE);
}

GuardDecision DecideGuard(int64_t rss, const MemoryGuardOptions& options, const GuardState& state,
                          absl::Time now) {
  GuardDecision d;
  const double limit = static_cast<double>(options.limit_bytes);
  const double used = static_cast<double>(rss);
  d.shed = used > options.shed_fraction * limit && now >= state.next_scan;
  d.trim = used > options.trim_fraction * limit && now - state.last_trim >= absl::Seconds(1);
  return d;
}

absl::Time NextScanAt(absl::Time end, absl::Duration cost) { return end + 49 * cost; }

std::vector<size_t> FloodingConnections(const std::vector<ConnectionSample>& samples,
                                        uint64_t min_bytes) {
  std::vector<size_t> flooding;
  for (size_t i = 0; i < samples.size(); ++i) {
    if (samples[i].bytes_received > 0 && samples[i].bytes_received >= min_bytes) {
      flooding.push_back(i);
    }
  }
  std::sort(flooding.begin(), flooding.end(), [&samples](size_t a, size_t b) {
    return samples[a].bytes_received > samples[b].bytes_received;
  });
  return flooding;
}

std::unique_ptr<MemoryGuard> MemoryGuard::Start(
    MemoryGuardOptions options, std::function<void(const ConnectionSample&)> on_shed) {
  return std::unique_ptr<MemoryGuard>(new MemoryGuard(std::move(options), std::move(on_shed)));
}

MemoryGuard::MemoryGuard(MemoryGuardOptions options,
                         std::function<void(const ConnectionSample&)> on_shed)
    : options_(std::move(options)), on_shed_(std::move(on_shed)) {
  thread_ = std::thread([this] { Run(); });
}

MemoryGuard::~MemoryGuard() {
  stop_.Notify();
  thread_.join();
}

void MemoryGuard::Run() {
  pthread_setname_np(pthread_self(), "memory-guard");  // for per-thread figures
  GuardState state;
  while (!stop_.WaitForNotificationWithTimeout(options_.period)) {
    const int64_t rss = ResidentBytes();
    const GuardDecision d = DecideGuard(rss, options_, state, absl::Now());
    if (d.shed) {
      absl::Duration cost;
      Shed(&cost);
      state.next_scan = NextScanAt(absl::Now(), cost);
    }
    if (d.trim) {
      ::malloc_trim(0);
      state.last_trim = absl::Now();
    }
  }
}

int MemoryGuard::Shed(absl::Duration* cost) {
  absl::Time start = absl::Now();
  std::vector<ConnectionSample> before = GrpcConnections(options_.grpc_port);
  *cost = absl::Now() - start;
  if (before.empty() || stop_.WaitForNotificationWithTimeout(options_.sample)) return 0;
  start = absl::Now();
  std::vector<ConnectionSample> samples;
  for (ConnectionSample& s : before) {
    uint64_t now_bytes = 0;
    if (InodeOf(s.fd) != s.inode || !BytesReceived(s.fd, &now_bytes)) continue;
    s.bytes_received = now_bytes - s.bytes_received;
    samples.push_back(std::move(s));
  }
  *cost += absl::Now() - start;
  int shed = 0;
  for (size_t i : FloodingConnections(samples, options_.min_bytes_to_shed)) {
    ConnectionSample& victim = samples[i];
    // The fd is gRPC's: check it still is the same socket just before (gRPC
    // may have closed it and the number been reused), and only shut it
    // down: gRPC sees the connection end and closes the fd itself.
    if (InodeOf(victim.fd) != victim.inode) continue;
    victim.peer = Peer(victim.fd);
    ::shutdown(victim.fd, SHUT_RDWR);
    ++shed;
    if (on_shed_) on_shed_(victim);
  }
  return shed;
}

}  // namespace serpwow
