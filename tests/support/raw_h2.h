// A bare HTTP/2 client for hostile-caller tests: it writes frames exactly as
// told (no flow control, no stream limit, settings acknowledged only when
// asked), so a test can do what a well-behaved gRPC library never would:
// open more streams than the server allows, reset each stream right after
// its HEADERS (the "rapid reset" pattern), send metadata over any limit or a
// `-bin` value that is not base64. It reads what the server sends only to
// count it (HPACK blocks are not decoded).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/unique_fd.h"

namespace serpwow::testing {

class RawH2Client {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  // What the server sent, as counted by Pump().
  struct Seen {
    int settings = 0;                     // SETTINGS frames (not ACKs)
    int64_t max_concurrent_streams = -1;  // last advertised, -1: never
    int64_t max_header_list_size = -1;
    int headers = 0;  // HEADERS frames (responses and trailers)
    int rst_stream = 0;
    std::map<uint32_t, int> rst_codes;  // error code -> count
    int streams_ended = 0;              // END_STREAM or RST_STREAM, per stream
    int goaway = 0;
    uint32_t goaway_code = 0;
    bool closed = false;  // the server closed the connection (EOF or error)
    int64_t bytes = 0;
  };

  // Connects to 127.0.0.1:port (blocking, bounded).
  static absl::StatusOr<RawH2Client> Connect(int port);

  // The client preface and a SETTINGS frame (empty, or with `settings`
  // id/value pairs).
  absl::Status SendPreface(const std::vector<std::pair<uint16_t, uint32_t>>& settings = {});
  // HEADERS for a gRPC POST to `path` (":method POST", ":scheme http",
  // content-type application/grpc, te trailers) plus `extra`, literal
  // fields without indexing; split into CONTINUATION frames past 16 KiB.
  absl::Status SendRequestHeaders(uint32_t stream, absl::string_view path, const Headers& extra,
                                  bool end_stream);
  // One DATA frame carrying a gRPC message (5-byte prefix + `message`).
  absl::Status SendGrpcMessage(uint32_t stream, absl::string_view message, bool end_stream);
  absl::Status SendRstStream(uint32_t stream, uint32_t code);
  absl::Status SendSettingsAck();

  // Reads and counts whatever the server sends for up to `wait` (returns
  // early when the connection closes). With ack_settings, SETTINGS are
  // acknowledged; PINGs are always answered.
  void Pump(absl::Duration wait);
  // Writes are buffered; Flush sends them all, reading (and counting) while
  // the socket is not writable so neither side can deadlock. Every Send*
  // flushes when more than 64 KiB are waiting.
  absl::Status Flush(absl::Duration timeout = absl::Seconds(30));

  void set_ack_settings(bool ack) { ack_settings_ = ack; }
  const Seen& seen() const { return seen_; }
  // Closes the socket at once.
  void Close() { fd_.reset(); }

 private:
  explicit RawH2Client(UniqueFd fd) : fd_(std::move(fd)) {}
  void Frame(uint8_t type, uint8_t flags, uint32_t stream, absl::string_view payload);
  absl::Status MaybeFlush();
  // Reads what is available without blocking; false once closed.
  bool ReadAvailable();
  void ParseFrames();

  UniqueFd fd_;
  std::string out_;
  std::string in_;
  bool ack_settings_ = true;
  Seen seen_;
};

}  // namespace serpwow::testing
