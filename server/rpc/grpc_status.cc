#include "server/rpc/grpc_status.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "google/rpc/status.pb.h"
#include "server/logic/errors.h"

namespace serpwow::rpc {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  absl::Status with_info = status;
  const std::string info_url = logic::TypeUrlOf(google::rpc::ErrorInfo::descriptor()->full_name());
  if (!status.GetPayload(info_url).has_value()) {
    google::rpc::ErrorInfo info;
    info.set_domain(logic::kErrorDomain);
    info.set_reason(absl::StatusCodeToString(status.code()));
    with_info.SetPayload(info_url, absl::Cord(info.SerializeAsString()));
  }
  google::rpc::Status proto;
  proto.set_code(static_cast<int>(status.code()));
  proto.set_message(std::string(status.message()));
  // ErrorInfo first, then the other details in a stable order.
  proto.add_details()->set_type_url(info_url);
  proto.mutable_details(0)->set_value(std::string(*with_info.GetPayload(info_url)));
  with_info.ForEachPayload([&](absl::string_view type_url, const absl::Cord& payload) {
    if (type_url == info_url) return;
    auto* any = proto.add_details();
    any->set_type_url(std::string(type_url));
    any->set_value(std::string(payload));
  });
  std::sort(proto.mutable_details()->begin() + 1, proto.mutable_details()->end(),
            [](const auto& a, const auto& b) { return a.type_url() < b.type_url(); });
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()),
                      proto.SerializeAsString());
}

}  // namespace serpwow::rpc
