// One call with oversized or malformed metadata must not take down the other
// calls on its HTTP/2 connection (issue #10 item 4); where gRPC 1.51 cannot
// keep it to the one call, the test pins what it does (docs/faults.md,
// "Metadata").
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "tests/support/gateway_fixture.h"
#include "tests/support/raw_h2.h"

namespace serpwow::testing {
namespace {

class MetadataLimitsTest : public GatewayTest {
 protected:
  // Ten GetBatch calls that take 600 ms upstream, in flight on stub_'s
  // connection.
  struct Neighbour {
    grpc::ClientContext context;
    v1::GetBatchRequest request;
    v1::Batch response;
    grpc::Status status;
    absl::Notification done;
  };
  std::vector<std::unique_ptr<Neighbour>> StartNeighbours() {
    std::vector<std::unique_ptr<Neighbour>> calls;
    for (int i = 0; i < 10; ++i) {
      calls.push_back(std::make_unique<Neighbour>());
      Neighbour& n = *calls.back();
      n.context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
      n.request.set_name("batches/SLOW0001");
      stub_->async()->GetBatch(&n.context, &n.request, &n.response, [&n](grpc::Status s) {
        n.status = std::move(s);
        n.done.Notify();
      });
    }
    return calls;
  }
  void SetUpSlowBatch() {
    StartAll();
    sim_->PutBatch("SLOW0001", sim::BatchState::kQueued, 10);
    sim::Fault slow;
    slow.path_suffix = "/SLOW0001";
    slow.delay = absl::Milliseconds(600);
    sim_->AddFault(slow);
  }
};

// Over the per-call limit (8 KiB) and under gRPC's (64 KiB): the call fails
// alone, at once, nothing sent; its ten neighbours on the same connection
// finish OK. Before the limits were set, a 9 KiB call failed all ten.
TEST_F(MetadataLimitsTest, OversizedMetadataFailsAlone) {
  SetUpSlowBatch();
  for (size_t size : {9u << 10, 20u << 10, 60u << 10}) {
    auto neighbours = StartNeighbours();
    absl::SleepFor(absl::Milliseconds(100));  // let them reach the upstream
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    context.AddMetadata("x-big", std::string(size, 'a'));
    v1::GetBatchRequest request;
    request.set_name("batches/SLOW0001");
    RpcResult<v1::Batch> big;
    big.status = stub_->GetBatch(&context, request, &big.response);
    EXPECT_EQ(big.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << size;
    EXPECT_EQ(big.Reason(), "METADATA_TOO_LARGE") << size;
    EXPECT_TRUE(absl::StrContains(big.status.error_message(), "at most 8192")) << size;
    for (auto& n : neighbours) {
      ASSERT_TRUE(n->done.WaitForNotificationWithTimeout(absl::Seconds(15)));
      EXPECT_TRUE(n->status.ok()) << size << ": a neighbour failed: " << n->status.error_code()
                                  << " " << n->status.error_message();
    }
  }
  // 1 + 3 x 10 upstream reads: the oversized calls sent nothing.
  EXPECT_EQ(sim_->requests().size(), 30u);
}

// What gRPC 1.51 does not keep to one call, pinned so that docs/faults.md
// stays true: metadata over gRPC's own limit (64 KiB), and a `-bin` value
// that is not base64 (the CVE-2023-32732 class), fail the whole connection.
// The server itself keeps serving new connections.
TEST_F(MetadataLimitsTest, WhatGrpcFailsPerConnectionLeavesTheServerServing) {
  SetUpSlowBatch();
  v1::GetBatchRequest slow;
  slow.set_name("batches/SLOW0001");
  const std::string message = slow.SerializeAsString();
  constexpr char kPath[] = "/serpwow.batches.v1.BatchService/GetBatch";
  const std::vector<std::pair<std::string, RawH2Client::Headers>> hostile = {
      {"200 KiB of metadata", {{"x-big", std::string(200 << 10, 'a')}}},
      {"a -bin value that is not base64", {{"x-data-bin", "!!!not base64!!!"}}},
  };
  for (const auto& [what, headers] : hostile) {
    auto client = RawH2Client::Connect(gateway_->port());
    ASSERT_TRUE(client.ok()) << client.status();
    ASSERT_TRUE(client->SendPreface().ok());
    client->Pump(absl::Milliseconds(50));
    for (uint32_t stream = 1; stream <= 9; stream += 2) {  // five neighbours
      ASSERT_TRUE(client->SendRequestHeaders(stream, kPath, {}, false).ok());
      ASSERT_TRUE(client->SendGrpcMessage(stream, message, true).ok());
    }
    (void)client->Flush();
    client->Pump(absl::Milliseconds(100));
    (void)client->SendRequestHeaders(11, kPath, headers, false);
    (void)client->SendGrpcMessage(11, message, true);
    (void)client->Flush();
    const absl::Time until = absl::Now() + absl::Seconds(5);
    while (!client->seen().closed && client->seen().streams_ended < 6 && absl::Now() < until) {
      client->Pump(absl::Milliseconds(50));
    }
    std::printf("[metadata] %s: goaway %d, connection closed %d, streams ended %d, reset %d\n",
                what.c_str(), client->seen().goaway, client->seen().closed ? 1 : 0,
                client->seen().streams_ended, client->seen().rst_stream);
    EXPECT_TRUE(client->seen().closed || client->seen().goaway > 0) << what;
    // A new connection is served.
    auto channel = grpc::CreateChannel(gateway_->address(), grpc::InsecureChannelCredentials());
    auto stub = v1::BatchService::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    v1::Batch batch;
    EXPECT_TRUE(stub->GetBatch(&context, slow, &batch).ok()) << what;
  }
}

}  // namespace
}  // namespace serpwow::testing
