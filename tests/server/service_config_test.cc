// deploy/client-service-config.json, the service config the docs give
// clients: it names every method of the service exactly once, the methods
// that are not idempotent upstream retry nothing but UNAVAILABLE (which the
// gateway answers only when nothing was applied), and gRPC accepts it: calls
// through a channel that uses it reach a real gateway.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "tests/support/gateway_fixture.h"

namespace serpwow::testing {
namespace {

nlohmann::json Config() {
  std::ifstream in(SERPWOW_SOURCE_DIR "/deploy/client-service-config.json");
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

TEST(ServiceConfigFile, NamesEveryMethodOnceWithItsRetryClass) {
  const nlohmann::json config = Config();
  std::map<std::string, std::set<std::string>> retried;  // method -> codes
  for (const auto& method_config : config.at("methodConfig")) {
    for (const auto& name : method_config.at("name")) {
      EXPECT_EQ(name.at("service"), "serpwow.batches.v1.BatchService");
      const std::string method = name.at("method");
      EXPECT_EQ(retried.count(method), 0u) << method << " is named twice";
      std::set<std::string> codes;
      for (const auto& code : method_config.at("retryPolicy").at("retryableStatusCodes")) {
        codes.insert(code.get<std::string>());
      }
      retried[method] = codes;
    }
  }
  const google::protobuf::ServiceDescriptor* service =
      v1::GetBatchRequest::descriptor()->file()->FindServiceByName("BatchService");
  ASSERT_NE(service, nullptr);
  for (int i = 0; i < service->method_count(); ++i) {
    const std::string method = service->method(i)->name();
    EXPECT_EQ(retried.count(method), 1u) << method << " has no method config";
  }
  EXPECT_EQ(retried.size(), static_cast<size_t>(service->method_count()))
      << "the config names a method the service does not have";
  for (const char* not_idempotent :
       {"CreateBatch", "StartBatch", "AddSearches", "BatchDeleteSearches"}) {
    EXPECT_EQ(retried[not_idempotent], std::set<std::string>{"UNAVAILABLE"}) << not_idempotent;
  }
  // A watch stream lasts as long as the caller wants: no method timeout.
  for (const auto& method_config : config.at("methodConfig")) {
    for (const auto& name : method_config.at("name")) {
      if (name.at("method") == "WatchBatch") {
        EXPECT_FALSE(method_config.contains("timeout"));
      }
    }
  }
}

class ServiceConfigTest : public GatewayTest {};

TEST_F(ServiceConfigTest, GrpcAcceptsItAndCallsGoThrough) {
  StartAll();
  sim_->PutBatch("CFG1", sim::BatchState::kIdle, 10);
  grpc::ChannelArguments args;
  args.SetServiceConfigJSON(Config().dump());
  auto channel =
      grpc::CreateCustomChannel(gateway_->address(), grpc::InsecureChannelCredentials(), args);
  auto stub = v1::BatchService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::GetBatchRequest request;
  request.set_name("batches/CFG1");
  v1::Batch batch;
  grpc::Status status = stub->GetBatch(&context, request, &batch);
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  EXPECT_EQ(batch.batch_id(), "CFG1");
}

}  // namespace
}  // namespace serpwow::testing
