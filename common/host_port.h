// HOST:PORT values (listen addresses and targets given as flags): one parser,
// one set of messages.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace serpwow {

struct HostPort {
  // Without brackets: "0.0.0.0", "::", "localhost". Never empty.
  std::string host;
  // 0..65535; 0 asks the OS for a free port when listening.
  int port = 0;

  bool is_ipv6() const { return host.find(':') != std::string::npos; }
  // "HOST:PORT", with brackets around an IPv6 host: what ParseHostPort reads.
  std::string ToString() const;
};

// How error messages name the value and what they offer as examples.
struct HostPortSyntax {
  std::string name = "address";  // e.g. "--listen"
  std::string example = "127.0.0.1:8080";
  std::string ipv6_example = "[::1]:8080";
};

// Parses "HOST:PORT" or "[IPV6]:PORT". HOST is a host name (letters, digits,
// '.', '-', '_') or an IPv4 literal, or in brackets an IPv6 literal
// (optionally with a %zone); PORT is 1 to 5 decimal digits, 0 to 65535.
// Nothing is resolved. On error, InvalidArgument with one of:
//   "<name> must be HOST:PORT (e.g. <example>), got '<text>'"
//   "<name>: an IPv6 host must be in brackets, e.g. <ipv6_example>, got '<text>'"
//   "<name>: the port must be a number from 0 to 65535, got '<port>'"
//   "<name>: '<host>' is not a host name or IP address"
// (what is quoted back is C-escaped, so a control character cannot break a
// log line).
absl::StatusOr<HostPort> ParseHostPort(absl::string_view text, const HostPortSyntax& syntax = {});

}  // namespace serpwow
