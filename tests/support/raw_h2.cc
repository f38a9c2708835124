#include "tests/support/raw_h2.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace serpwow::testing {
namespace {

constexpr absl::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr uint8_t kData = 0x0, kHeaders = 0x1, kRstStream = 0x3, kSettings = 0x4, kPing = 0x6,
                  kGoaway = 0x7, kContinuation = 0x9;
constexpr uint8_t kEndStream = 0x1, kAck = 0x1, kEndHeaders = 0x4;
constexpr size_t kMaxFrame = 16384;  // SETTINGS_MAX_FRAME_SIZE's default
constexpr size_t kFlushAt = 64 * 1024;

// HPACK integer with an N-bit prefix (RFC 7541 §5.1), OR-ed into `first`.
void PutInt(std::string* out, uint8_t first, int prefix_bits, uint64_t value) {
  const uint64_t max = (1u << prefix_bits) - 1;
  if (value < max) {
    out->push_back(static_cast<char>(first | value));
    return;
  }
  out->push_back(static_cast<char>(first | max));
  value -= max;
  while (value >= 128) {
    out->push_back(static_cast<char>((value % 128) + 128));
    value /= 128;
  }
  out->push_back(static_cast<char>(value));
}

// "Literal header field without indexing, new name", no Huffman (§6.2.2).
void PutField(std::string* out, absl::string_view name, absl::string_view value) {
  out->push_back('\0');
  PutInt(out, 0, 7, name.size());
  out->append(name.data(), name.size());
  PutInt(out, 0, 7, value.size());
  out->append(value.data(), value.size());
}

uint32_t Be32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
}

}  // namespace

absl::StatusOr<RawH2Client> RawH2Client::Connect(int port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return absl::UnavailableError(absl::StrCat("connect: ", std::strerror(errno)));
  }
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
  return RawH2Client(std::move(fd));
}

void RawH2Client::Frame(uint8_t type, uint8_t flags, uint32_t stream, absl::string_view payload) {
  const size_t n = payload.size();
  const char header[9] = {static_cast<char>(n >> 16),
                          static_cast<char>(n >> 8),
                          static_cast<char>(n),
                          static_cast<char>(type),
                          static_cast<char>(flags),
                          static_cast<char>((stream >> 24) & 0x7f),
                          static_cast<char>(stream >> 16),
                          static_cast<char>(stream >> 8),
                          static_cast<char>(stream)};
  out_.append(header, sizeof(header));
  out_.append(payload.data(), payload.size());
}

absl::Status RawH2Client::MaybeFlush() {
  return out_.size() > kFlushAt ? Flush() : absl::OkStatus();
}

absl::Status RawH2Client::SendPreface(const std::vector<std::pair<uint16_t, uint32_t>>& settings) {
  out_.append(kPreface.data(), kPreface.size());
  std::string payload;
  for (const auto& [id, value] : settings) {
    const char entry[6] = {static_cast<char>(id >> 8),     static_cast<char>(id),
                           static_cast<char>(value >> 24), static_cast<char>(value >> 16),
                           static_cast<char>(value >> 8),  static_cast<char>(value)};
    payload.append(entry, sizeof(entry));
  }
  Frame(kSettings, 0, 0, payload);
  return Flush();
}

absl::Status RawH2Client::SendRequestHeaders(uint32_t stream, absl::string_view path,
                                             const Headers& extra, bool end_stream) {
  std::string block;
  PutField(&block, ":method", "POST");
  PutField(&block, ":scheme", "http");
  PutField(&block, ":path", path);
  PutField(&block, ":authority", "127.0.0.1");
  PutField(&block, "content-type", "application/grpc");
  PutField(&block, "te", "trailers");
  for (const auto& [name, value] : extra) PutField(&block, name, value);
  absl::string_view rest = block;
  bool first = true;
  while (first || !rest.empty()) {
    absl::string_view chunk = rest.substr(0, kMaxFrame);
    rest.remove_prefix(chunk.size());
    uint8_t flags = rest.empty() ? kEndHeaders : 0;
    if (first && end_stream) flags |= kEndStream;
    Frame(first ? kHeaders : kContinuation, flags, stream, chunk);
    first = false;
  }
  return MaybeFlush();
}

absl::Status RawH2Client::SendGrpcMessage(uint32_t stream, absl::string_view message,
                                          bool end_stream) {
  std::string payload(5, '\0');
  const uint32_t n = static_cast<uint32_t>(message.size());
  payload[1] = static_cast<char>(n >> 24);
  payload[2] = static_cast<char>(n >> 16);
  payload[3] = static_cast<char>(n >> 8);
  payload[4] = static_cast<char>(n);
  payload.append(message.data(), message.size());
  Frame(kData, end_stream ? kEndStream : 0, stream, payload);
  return MaybeFlush();
}

absl::Status RawH2Client::SendRstStream(uint32_t stream, uint32_t code) {
  const char payload[4] = {static_cast<char>(code >> 24), static_cast<char>(code >> 16),
                           static_cast<char>(code >> 8), static_cast<char>(code)};
  Frame(kRstStream, 0, stream, absl::string_view(payload, sizeof(payload)));
  return MaybeFlush();
}

absl::Status RawH2Client::SendSettingsAck() {
  Frame(kSettings, kAck, 0, "");
  return Flush();
}

absl::Status RawH2Client::Flush(absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  size_t sent = 0;
  while (sent < out_.size()) {
    if (!fd_) return absl::UnavailableError("closed");
    ssize_t n = ::send(fd_.get(), out_.data() + sent, out_.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      seen_.closed = true;
      out_.clear();
      return absl::UnavailableError(absl::StrCat("send: ", std::strerror(errno)));
    }
    if (absl::Now() >= until) {
      out_.erase(0, sent);
      return absl::DeadlineExceededError("the server stopped reading");
    }
    pollfd p{fd_.get(), POLLIN | POLLOUT, 0};
    ::poll(&p, 1, 100);
    if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0 && !ReadAvailable()) {
      out_.clear();
      return absl::UnavailableError("the server closed the connection");
    }
  }
  out_.clear();
  return absl::OkStatus();
}

void RawH2Client::Pump(absl::Duration wait) {
  const absl::Time until = absl::Now() + wait;
  while (fd_ && !seen_.closed) {
    const int64_t left = absl::ToInt64Milliseconds(until - absl::Now());
    if (left <= 0) break;
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 100))) > 0) ReadAvailable();
    if (!out_.empty()) (void)Flush();
  }
}

bool RawH2Client::ReadAvailable() {
  char buf[65536];
  while (fd_) {
    ssize_t n = ::recv(fd_.get(), buf, sizeof(buf), 0);
    if (n > 0) {
      seen_.bytes += n;
      in_.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
    seen_.closed = true;
    break;
  }
  ParseFrames();
  return !seen_.closed;
}

void RawH2Client::ParseFrames() {
  size_t at = 0;
  while (in_.size() - at >= 9) {
    const auto* h = reinterpret_cast<const unsigned char*>(in_.data() + at);
    const size_t length = (size_t{h[0]} << 16) | (size_t{h[1]} << 8) | h[2];
    if (in_.size() - at < 9 + length) break;
    const uint8_t type = h[3];
    const uint8_t flags = h[4];
    const uint32_t stream = Be32(in_.data() + at + 5) & 0x7fffffff;
    const char* payload = in_.data() + at + 9;
    switch (type) {
      case kSettings:
        if ((flags & kAck) == 0) {
          ++seen_.settings;
          for (size_t i = 0; i + 6 <= length; i += 6) {
            const uint16_t id =
                static_cast<uint16_t>((static_cast<unsigned char>(payload[i]) << 8) |
                                      static_cast<unsigned char>(payload[i + 1]));
            const uint32_t value = Be32(payload + i + 2);
            if (id == 0x3) seen_.max_concurrent_streams = value;
            if (id == 0x6) seen_.max_header_list_size = value;
          }
          if (ack_settings_) Frame(kSettings, kAck, 0, "");
        }
        break;
      case kPing:
        if ((flags & kAck) == 0) Frame(kPing, kAck, 0, absl::string_view(payload, length));
        break;
      case kHeaders:
        ++seen_.headers;
        if ((flags & kEndStream) != 0 && stream != 0) ++seen_.streams_ended;
        break;
      case kData:
        if ((flags & kEndStream) != 0 && stream != 0) ++seen_.streams_ended;
        break;
      case kRstStream:
        ++seen_.rst_stream;
        ++seen_.streams_ended;
        if (length >= 4) ++seen_.rst_codes[Be32(payload)];
        break;
      case kGoaway:
        ++seen_.goaway;
        if (length >= 8) seen_.goaway_code = Be32(payload + 4);
        break;
      default:
        break;
    }
    at += 9 + length;
  }
  in_.erase(0, at);
}

}  // namespace serpwow::testing
