#include "server/gateway.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <chrono>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace serpwow {

absl::Status ValidateListenAddress(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen must be HOST:PORT (e.g. 0.0.0.0:50051), got '", address, "'"));
  }
  std::string host = address.substr(0, colon);
  if (host.find(':') != std::string::npos && (host.front() != '[' || host.back() != ']')) {
    return absl::InvalidArgumentError(
        "--listen: an IPv6 host must be in brackets, e.g. [::]:50051");
  }
  int port = -1;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen: the port must be a number from 0 to 65535, got '",
                     address.substr(colon + 1), "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(GatewayOptions options) {
  if (absl::Status s = ValidateListenAddress(options.listen); !s.ok()) return s;
  std::unique_ptr<Gateway> gw(new Gateway());
  absl::StatusOr<std::unique_ptr<upstream::HttpLoop>> loop =
      upstream::HttpLoop::Create(options.loop);
  if (!loop.ok()) return loop.status();
  gw->loop_ = std::move(*loop);
  absl::StatusOr<std::unique_ptr<upstream::SerpwowClient>> client =
      upstream::SerpwowClient::Create(options.upstream, gw->loop_.get());
  if (!client.ok()) return client.status();
  gw->client_ = std::move(*client);
  gw->stopper_ = std::make_unique<logic::BatchStopper>(gw->client_.get(), options.stopper);
  gw->service_ = std::make_unique<rpc::BatchServiceImpl>(gw->stopper_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &gw->port_);
  builder.RegisterService(gw->service_.get());
  gw->server_ = builder.BuildAndStart();
  if (gw->server_ == nullptr || gw->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("--listen: could not listen on ", options.listen,
                                               " (address in use or not local?)"));
  }
  gw->address_ = absl::StrCat(options.listen.substr(0, options.listen.rfind(':')), ":", gw->port_);
  gw->server_->GetHealthCheckService()->SetServingStatus(
      serpwow::batches::v1::BatchService::service_full_name(), true);
  return gw;
}

Gateway::~Gateway() { Shutdown(absl::ZeroDuration()); }

void Gateway::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  if (server_ != nullptr) {
    server_->GetHealthCheckService()->Shutdown();
    server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    server_->Wait();
  }
  // Every RPC has ended; now the loop can go (it cancels what is left).
  loop_.reset();
}

}  // namespace serpwow
