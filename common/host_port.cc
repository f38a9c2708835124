#include "common/host_port.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace serpwow {
namespace {

bool IsNameChar(char c) { return absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '_'; }

bool IsHostName(absl::string_view host) {
  if (host.empty()) return false;
  for (char c : host) {
    if (!IsNameChar(c)) return false;
  }
  return true;
}

// An IPv6 literal as written inside brackets: hex digits, ':' and '.' (for
// an embedded IPv4 tail), at least one ':', then optionally "%zone".
bool IsIpv6Literal(absl::string_view host) {
  absl::string_view address = host.substr(0, host.find('%'));
  if (address.find(':') == absl::string_view::npos) return false;
  for (char c : address) {
    if (!absl::ascii_isxdigit(c) && c != ':' && c != '.') return false;
  }
  if (address.size() < host.size()) {
    absl::string_view zone = host.substr(address.size() + 1);
    return IsHostName(zone);
  }
  return true;
}

}  // namespace

std::string HostPort::ToString() const {
  return is_ipv6() ? absl::StrCat("[", host, "]:", port) : absl::StrCat(host, ":", port);
}

absl::StatusOr<HostPort> ParseHostPort(absl::string_view text, const HostPortSyntax& syntax) {
  auto not_host_port = [&] {
    return absl::InvalidArgumentError(absl::StrCat(syntax.name, " must be HOST:PORT (e.g. ",
                                                   syntax.example, "), got '",
                                                   absl::CHexEscape(text), "'"));
  };
  const size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return not_host_port();
  }
  absl::string_view host = text.substr(0, colon);
  const absl::string_view port_text = text.substr(colon + 1);

  HostPort out;
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return not_host_port();
    host = host.substr(1, host.size() - 2);
    if (!IsIpv6Literal(host)) {
      return absl::InvalidArgumentError(absl::StrCat(syntax.name, ": '", absl::CHexEscape(host),
                                                     "' is not a host name or IP address"));
    }
  } else if (host.find(':') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(syntax.name, ": an IPv6 host must be in brackets, e.g. ", syntax.ipv6_example,
                     ", got '", absl::CHexEscape(text), "'"));
  } else if (!IsHostName(host)) {
    return absl::InvalidArgumentError(absl::StrCat(syntax.name, ": '", absl::CHexEscape(host),
                                                   "' is not a host name or IP address"));
  }
  out.host = std::string(host);

  // Digits only (SimpleAtoi would take "+80" and " 80"); five at most, so the
  // value cannot overflow before the range check.
  int port = 0;
  bool digits = port_text.size() <= 5;
  for (char c : port_text) {
    if (!absl::ascii_isdigit(c)) digits = false;
    if (digits) port = port * 10 + (c - '0');
  }
  if (!digits || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(syntax.name,
                                                   ": the port must be a number from 0 to 65535, "
                                                   "got '",
                                                   absl::CHexEscape(port_text), "'"));
  }
  out.port = port;
  return out;
}

}  // namespace serpwow
