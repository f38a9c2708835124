// No proxy ever sees a plain http upstream URL (it carries the key): with
// http_proxy, https_proxy and all_proxy pointing at a listener, a gateway in
// front of a simulator on 127.0.0.2 (loopback, but outside the old no-proxy
// list) calls the simulator directly and the listener gets no connection.
// Its own binary: it sets the process's environment.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/unique_fd.h"
#include "tests/support/gateway_fixture.h"

namespace serpwow::testing {
namespace {

TEST(UpstreamProxyTest, PlainHttpNeverGoesThroughAnEnvironmentProxy) {
  UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener.get(), 16), 0);
  ASSERT_EQ(getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string proxy = absl::StrCat("http://127.0.0.1:", ntohs(addr.sin_port));
  for (const char* name :
       {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
    setenv(name, proxy.c_str(), 1);
  }
  unsetenv("no_proxy");
  unsetenv("NO_PROXY");

  sim::SimulatorOptions o;
  o.host = "127.0.0.2";
  o.api_key = kTestKey;
  auto sim = sim::Simulator::Start(o);
  ASSERT_TRUE(sim.ok()) << sim.status();
  (*sim)->PutBatch("P1", sim::BatchState::kQueued, 5);
  GatewayOptions options;
  options.listen = "127.0.0.1:0";
  options.upstream.base_url = (*sim)->base_url();
  options.upstream.api_key = kTestKey;
  auto gateway = Gateway::Start(options);
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  // The test's own gRPC channel must not use the environment proxy either.
  grpc::ChannelArguments no_proxy;
  no_proxy.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
  auto stub = v1::BatchService::NewStub(grpc::CreateCustomChannel(
      (*gateway)->address(), grpc::InsecureChannelCredentials(), no_proxy));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  v1::StopBatchRequest request;
  request.set_batch_id("P1");
  v1::StopBatchResponse response;
  grpc::Status status = stub->StopBatch(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(response.credits_refunded());
  EXPECT_GE((*sim)->request_count(), 2);
  // The proxy was never contacted.
  EXPECT_LT(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC), 0);
  EXPECT_EQ(errno, EAGAIN);
}

TEST(UpstreamProxyTest, AConfiguredProxyIsRefusedForPlainHttp) {
  GatewayOptions options;
  options.listen = "127.0.0.1:0";
  options.upstream.base_url = "http://127.0.0.1:9/live";
  options.upstream.api_key = kTestKey;
  options.loop.proxy = "http://127.0.0.1:3128";
  auto gateway = Gateway::Start(options);
  ASSERT_FALSE(gateway.ok());
  EXPECT_EQ(gateway.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(gateway.status().message()).find("--upstream_proxy"), std::string::npos);
}

}  // namespace
}  // namespace serpwow::testing
