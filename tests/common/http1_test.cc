// Unit tests of the simulator's HTTP request parser and URL decoding (no
// sockets). The end-to-end behaviour is in simulator_test.cc.
#include "common/http1.h"

#include <string>

#include "gtest/gtest.h"

namespace serpwow::http1 {
namespace {

using Kind = ParseResult::Kind;

TEST(HttpParserTest, ParsesRequestLineHeadersAndQuery) {
  Request req;
  const std::string data =
      "GET /live/batches/AB%20C/stop?api_key=k&x=1#frag HTTP/1.1\r\nHost: a\r\nX-Thing:  v  "
      "\r\n\r\n";
  ParseResult r = ParseRequest(data, &req);
  ASSERT_EQ(r.kind, Kind::kComplete);
  EXPECT_EQ(r.consumed, data.size());
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.path, "/live/batches/AB%20C/stop");
  EXPECT_EQ(req.query, "api_key=k&x=1");
  EXPECT_EQ(req.minor_version, 1);
  ASSERT_NE(req.FindHeader("x-thing"), nullptr);
  EXPECT_EQ(*req.FindHeader("x-thing"), "v");
  EXPECT_TRUE(req.keep_alive);
}

TEST(HttpParserTest, IncompleteUntilHeadersAndBodyArrive) {
  Request req;
  EXPECT_EQ(ParseRequest("GET / HTTP/1.1\r\nHost: a\r\n", &req).kind, Kind::kIncomplete);
  const std::string head = "POST /x HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n";
  ParseResult r = ParseRequest(head + "ab", &req);
  EXPECT_EQ(r.kind, Kind::kIncomplete);
  EXPECT_TRUE(r.expect_continue);
  r = ParseRequest(head + "abcdeGET", &req);
  ASSERT_EQ(r.kind, Kind::kComplete);
  EXPECT_EQ(req.body, "abcde");
  EXPECT_EQ(r.consumed, head.size() + 5);  // the pipelined "GET" is left alone
}

TEST(HttpParserTest, AcceptsBareLfAndLeadingEmptyLines) {
  Request req;
  ParseResult r = ParseRequest("\r\n\nGET /a HTTP/1.0\nConnection: keep-alive\n\n", &req);
  ASSERT_EQ(r.kind, Kind::kComplete);
  EXPECT_EQ(req.path, "/a");
  EXPECT_EQ(req.minor_version, 0);
  EXPECT_TRUE(req.keep_alive);
}

TEST(HttpParserTest, KeepAliveRules) {
  Request req;
  ASSERT_EQ(ParseRequest("GET / HTTP/1.1\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", &req).kind,
            Kind::kComplete);
  EXPECT_FALSE(req.keep_alive);
  ASSERT_EQ(ParseRequest("GET / HTTP/1.0\r\n\r\n", &req).kind, Kind::kComplete);
  EXPECT_FALSE(req.keep_alive);
}

TEST(HttpParserTest, RejectsMalformedRequests) {
  Request req;
  for (const char* bad : {
           "GET\r\n\r\n",
           "GET /a\r\n\r\n",
           "GET  /a HTTP/1.1\r\n\r\n",
           "GET a HTTP/1.1\r\n\r\n",
           "GE(T /a HTTP/1.1\r\n\r\n",
           "GET /a HTTX/1.1\r\n\r\n",
           "GET /a HTTP/1.1\r\nNoColon\r\n\r\n",
           "GET /a HTTP/1.1\r\nBad Name: v\r\n\r\n",
           "GET /a HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
           "GET /a HTTP/1.1\r\nContent-Length: 12x\r\n\r\n",
           "GET /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
       }) {
    ParseResult r = ParseRequest(bad, &req);
    EXPECT_EQ(r.kind, Kind::kError) << bad;
    EXPECT_EQ(r.status, 400) << bad;
  }
}

TEST(HttpParserTest, ErrorStatusesForLimitsAndUnsupportedFeatures) {
  Request req;
  EXPECT_EQ(ParseRequest("GET /a HTTP/2.0\r\n\r\n", &req).status, 505);
  EXPECT_EQ(ParseRequest("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &req).status,
            501);
  EXPECT_EQ(ParseRequest("POST /a HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", &req).status, 413);
  // An unterminated header section over the cap is refused without waiting.
  std::string big = "GET /a HTTP/1.1\r\nX: " + std::string(kMaxHeaderBytes, 'a');
  EXPECT_EQ(ParseRequest(big, &req).status, 431);
  std::string many = "GET /a HTTP/1.1\r\n";
  for (size_t i = 0; i <= kMaxHeaderCount; ++i) many += "X: 1\r\n";
  EXPECT_EQ(ParseRequest(many + "\r\n", &req).status, 431);
}

TEST(HttpParserTest, PercentDecoding) {
  EXPECT_EQ(PercentDecode("a%20b%2Fc+d", false), "a b/c+d");
  EXPECT_EQ(PercentDecode("a+b", true), "a b");
  EXPECT_EQ(PercentDecode("%e2%82%AC", false), "\xe2\x82\xac");
  EXPECT_FALSE(PercentDecode("%", false).has_value());
  EXPECT_FALSE(PercentDecode("%2", false).has_value());
  EXPECT_FALSE(PercentDecode("%zz", false).has_value());
  auto q = ParseQuery("api_key=a%26b&&flag&x=1=2");
  ASSERT_TRUE(q.has_value());
  ASSERT_EQ(q->size(), 3u);
  EXPECT_EQ((*q)[0], (std::pair<std::string, std::string>("api_key", "a&b")));
  EXPECT_EQ((*q)[1], (std::pair<std::string, std::string>("flag", "")));
  EXPECT_EQ((*q)[2], (std::pair<std::string, std::string>("x", "1=2")));
  EXPECT_FALSE(ParseQuery("a=%G1").has_value());
}

TEST(HttpParserTest, SerializeHeadComputesFramingAndDropsUnsafeHeaders) {
  Response r;
  r.status = 429;
  r.headers = {{"Content-Length", "1"}, {"X-Ok", "yes"}, {"X-Bad", "a\r\nInjected: 1"}};
  r.body = "hello";
  std::string head = SerializeHead(r, false);
  EXPECT_EQ(head.rfind("HTTP/1.1 429 Too Many Requests\r\n", 0), 0u);
  EXPECT_NE(head.find("Content-Length: 5\r\n"), std::string::npos);
  EXPECT_EQ(head.find("Content-Length: 1\r\n"), std::string::npos);
  EXPECT_NE(head.find("X-Ok: yes\r\n"), std::string::npos);
  EXPECT_EQ(head.find("Injected"), std::string::npos);
  EXPECT_NE(head.find("Connection: close\r\n\r\n"), std::string::npos);
}

}  // namespace
}  // namespace serpwow::http1
