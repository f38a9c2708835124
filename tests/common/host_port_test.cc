// ParseHostPort: what is accepted, and the messages for what is not.
#include "common/host_port.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace serpwow {
namespace {

using ::testing::HasSubstr;

const HostPortSyntax kListen{"--listen", "0.0.0.0:50051", "[::]:50051"};

TEST(ParseHostPortTest, AcceptsNamesIpv4AndBracketedIpv6) {
  struct Case {
    const char* text;
    const char* host;
    int port;
  };
  for (const Case& c :
       {Case{"0.0.0.0:50051", "0.0.0.0", 50051}, Case{"localhost:0", "localhost", 0},
        Case{"my-host.example_1:65535", "my-host.example_1", 65535}, Case{"[::]:9090", "::", 9090},
        Case{"[::1]:1", "::1", 1}, Case{"[fe80::1%eth0]:80", "fe80::1%eth0", 80},
        Case{"[::ffff:127.0.0.1]:8080", "::ffff:127.0.0.1", 8080},
        Case{"127.0.0.1:00080", "127.0.0.1", 80}}) {
    absl::StatusOr<HostPort> got = ParseHostPort(c.text, kListen);
    ASSERT_TRUE(got.ok()) << c.text << ": " << got.status();
    EXPECT_EQ(got->host, c.host) << c.text;
    EXPECT_EQ(got->port, c.port) << c.text;
  }
}

TEST(ParseHostPortTest, ToStringRoundTrips) {
  EXPECT_EQ(ParseHostPort("[::1]:80")->ToString(), "[::1]:80");
  EXPECT_EQ(ParseHostPort("example.com:443")->ToString(), "example.com:443");
  EXPECT_TRUE(ParseHostPort("[::1]:80")->is_ipv6());
  EXPECT_FALSE(ParseHostPort("127.0.0.1:80")->is_ipv6());
}

TEST(ParseHostPortTest, NotHostPortNamesTheValueAndAnExample) {
  for (const char* text :
       {"nonsense", "127.0.0.1", ":50051", "host:", "", "[::1]", "[]:80", "[::1:80", "::1]:80x"}) {
    absl::StatusOr<HostPort> got = ParseHostPort(text, kListen);
    ASSERT_FALSE(got.ok()) << text;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(got.status().message()), HasSubstr("--listen")) << text;
  }
  EXPECT_EQ(ParseHostPort("nonsense", kListen).status().message(),
            "--listen must be HOST:PORT (e.g. 0.0.0.0:50051), got 'nonsense'");
}

TEST(ParseHostPortTest, Ipv6MustBeBracketed) {
  EXPECT_EQ(ParseHostPort("::1:50051", kListen).status().message(),
            "--listen: an IPv6 host must be in brackets, e.g. [::]:50051, got '::1:50051'");
}

TEST(ParseHostPortTest, PortIsDecimalZeroTo65535) {
  for (const char* text :
       {"h:65536", "h:99999", "h:123456", "h:-1", "h:+80", "h: 80", "h:8o", "h:0x50"}) {
    absl::StatusOr<HostPort> got = ParseHostPort(text, kListen);
    ASSERT_FALSE(got.ok()) << text;
    EXPECT_THAT(std::string(got.status().message()),
                HasSubstr("--listen: the port must be a number from 0 to 65535, got '"))
        << text;
  }
  EXPECT_EQ(ParseHostPort("h:99999", kListen).status().message(),
            "--listen: the port must be a number from 0 to 65535, got '99999'");
}

TEST(ParseHostPortTest, HostsWithOtherCharactersAreRefusedAndQuotedEscaped) {
  for (const char* text :
       {"a b:80", "user@host:80", "host/x:80", "[1.2.3.4]:80", "[::g]:80", "[::1%]:80"}) {
    absl::StatusOr<HostPort> got = ParseHostPort(text, kListen);
    ASSERT_FALSE(got.ok()) << text;
    EXPECT_THAT(std::string(got.status().message()), HasSubstr("is not a host name or IP address"))
        << text;
  }
  // A control character cannot reach a log line as it is.
  std::string message(ParseHostPort("evil\nline:80", kListen).status().message());
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_THAT(message, HasSubstr("evil\\nline"));
}

TEST(ParseHostPortTest, DefaultSyntaxNamesAnAddress) {
  EXPECT_EQ(ParseHostPort("x").status().message(),
            "address must be HOST:PORT (e.g. 127.0.0.1:8080), got 'x'");
}

}  // namespace
}  // namespace serpwow
