#include "tests/support/gateway_fixture.h"

#include "absl/time/clock.h"

namespace serpwow::testing {

void GatewayTest::StartAll(sim::SimulatorOptions sim_options) {
  if (sim_options.api_key == sim::SimulatorOptions().api_key) sim_options.api_key = kTestKey;
  auto sim = sim::Simulator::Start(sim_options);
  ASSERT_TRUE(sim.ok()) << sim.status();
  sim_ = std::move(*sim);
  StartGateway(sim_->base_url(), kTestKey);
}

void GatewayTest::StartGateway(const std::string& base_url, const std::string& key) {
  options_.listen = "127.0.0.1:0";
  options_.upstream.base_url = base_url;
  options_.upstream.api_key = key;
  auto gateway = Gateway::Start(options_);
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  gateway_ = std::move(*gateway);
  auto channel = grpc::CreateChannel(gateway_->address(), grpc::InsecureChannelCredentials());
  stub_ = v1::BatchService::NewStub(channel);
}

void GatewayTest::TearDown() {
  stub_.reset();
  gateway_.reset();
  sim_.reset();
}

grpc::Status GatewayTest::StopOver(const std::shared_ptr<grpc::Channel>& channel,
                                   const std::string& batch_id) {
  auto stub = v1::BatchService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  v1::StopBatchRequest request;
  request.set_batch_id(batch_id);
  v1::StopBatchResponse response;
  return stub->StopBatch(&context, request, &response);
}

CallResult GatewayTest::Stop(const std::string& batch_id, absl::Duration timeout) {
  v1::StopBatchRequest request;
  request.set_batch_id(batch_id);
  return Call(&v1::BatchService::Stub::StopBatch, request, timeout);
}

bool GatewayTest::WaitForNoUpstreamTransfers(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (gateway_->upstream_in_flight() != 0) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

}  // namespace serpwow::testing
