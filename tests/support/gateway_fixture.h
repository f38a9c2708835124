// A real gateway on 127.0.0.1:0 in front of a real simulator on
// 127.0.0.1:0, with a real gRPC stub: the service-test tier.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "serpwow/batches/v1/batch_service.grpc.pb.h"
#include "server/gateway.h"
#include "sim/simulator.h"

namespace serpwow::testing {

namespace v1 = serpwow::batches::v1;

inline constexpr char kTestKey[] = "test-key-0123456789";

// The outcome of one call, for any RPC: its status, response and time.
template <typename Response>
struct RpcResult {
  grpc::Status status;
  Response response;
  absl::Duration elapsed;

  // The google.rpc detail of type T in the status, if any.
  template <typename T>
  absl::optional<T> Detail() const {
    google::rpc::Status proto;
    if (!proto.ParseFromString(status.error_details())) return absl::nullopt;
    for (const auto& any : proto.details()) {
      T out;
      if (any.Is<T>() && any.UnpackTo(&out)) return out;
    }
    return absl::nullopt;
  }
  std::string Reason() const {
    auto info = Detail<google::rpc::ErrorInfo>();
    return info ? info->reason() : "";
  }
  // Number of google.rpc.ErrorInfo details (the contract says exactly one).
  int ErrorInfoCount() const {
    google::rpc::Status proto;
    if (!proto.ParseFromString(status.error_details())) return 0;
    int n = 0;
    for (const auto& any : proto.details()) n += any.Is<google::rpc::ErrorInfo>() ? 1 : 0;
    return n;
  }
};

using CallResult = RpcResult<v1::StopBatchResponse>;

class GatewayTest : public ::testing::Test {
 protected:
  // Starts the simulator with `sim_options` and a gateway in front of it.
  // Tests may change options_ (upstream settings) before calling.
  void StartAll(sim::SimulatorOptions sim_options = {});
  // Starts only the gateway with the given upstream base URL and key.
  void StartGateway(const std::string& base_url, const std::string& key);
  void TearDown() override;

  CallResult Stop(const std::string& batch_id, absl::Duration timeout = absl::Seconds(10));
  // A StopBatch over another channel (TLS, a second connection), 5 s deadline.
  static grpc::Status StopOver(const std::shared_ptr<grpc::Channel>& channel,
                               const std::string& batch_id);
  // Any unary RPC through the stub, e.g. Call(&v1::BatchService::Stub::GetBatch, request).
  template <typename Request, typename Response>
  RpcResult<Response> Call(grpc::Status (v1::BatchService::Stub::*method)(grpc::ClientContext*,
                                                                          const Request&,
                                                                          Response*),
                           const Request& request, absl::Duration timeout = absl::Seconds(10)) {
    RpcResult<Response> result;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    const absl::Time start = absl::Now();
    result.status = ((*stub_).*method)(&context, request, &result.response);
    result.elapsed = absl::Now() - start;
    return result;
  }
  // Waits (bounded) until the gateway has no upstream transfer in flight.
  bool WaitForNoUpstreamTransfers(absl::Duration timeout);

  GatewayOptions options_;
  std::unique_ptr<sim::Simulator> sim_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<v1::BatchService::Stub> stub_;
};

}  // namespace serpwow::testing
