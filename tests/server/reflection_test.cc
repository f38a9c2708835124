// The gateway's server reflection (grpc.reflection.v1alpha, the only version
// gRPC 1.51 serves) describes BatchService as the proto does, HTTP rules
// included, so generic tools and transcoders can discover it.
//
// reflection.proto is not compiled in: its descriptors are already in
// libgrpc++_reflection, and a second copy aborts at startup. The requests are
// encoded by hand and sent with grpc::GenericStub; the replies are read with
// libprotobuf's UnknownFieldSet and FileDescriptorProto.
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/api/annotations.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/support/gateway_fixture.h"

namespace serpwow::testing {
namespace {

constexpr char kReflectionMethod[] =
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
constexpr char kService[] = "serpwow.batches.v1.BatchService";
constexpr char kServiceFile[] = "serpwow/batches/v1/batch_service.proto";

// ServerReflectionRequest field numbers (grpc/reflection/v1alpha/reflection.proto).
constexpr int kFileContainingSymbol = 4;
constexpr int kListServices = 7;
// ServerReflectionResponse field numbers.
constexpr int kFileDescriptorResponse = 4;
constexpr int kListServicesResponse = 6;
constexpr int kErrorResponse = 7;

// A message holding one length-delimited field: tag, varint length, bytes.
std::string LengthDelimited(int field, const std::string& value) {
  std::string out;
  auto varint = [&out](uint64_t v) {
    while (v >= 0x80) {
      out.push_back(static_cast<char>((v & 0x7F) | 0x80));
      v >>= 7;
    }
    out.push_back(static_cast<char>(v));
  };
  varint((static_cast<uint64_t>(field) << 3) | 2);
  varint(value.size());
  out += value;
  return out;
}

// Every length-delimited field `number` of the message in `bytes`.
std::vector<std::string> Fields(const std::string& bytes, int number) {
  google::protobuf::UnknownFieldSet fields;
  std::vector<std::string> out;
  if (!fields.ParseFromString(bytes)) return out;
  for (int i = 0; i < fields.field_count(); ++i) {
    const auto& f = fields.field(i);
    if (f.number() == number && f.type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
      out.push_back(f.length_delimited());
    }
  }
  return out;
}

grpc::ByteBuffer ToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromBuffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& s : slices)
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

// Sends `requests` (serialized ServerReflectionRequests) on one
// ServerReflectionInfo stream, one at a time, and returns the serialized
// response to each, or the call's status code when it ended in an error
// (e.g. UNIMPLEMENTED where reflection is not served). Every step is bounded
// by a 10 s deadline.
absl::StatusOr<std::vector<std::string>> Reflect(const std::string& address,
                                                 const std::vector<std::string>& requests) {
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  context.set_deadline(absl::ToChronoTime(deadline));
  grpc::CompletionQueue cq;
  // Waits for the one operation in flight; false when it failed.
  auto wait = [&cq, deadline](const char* what) -> absl::Status {
    void* tag = nullptr;
    bool ok = false;
    if (cq.AsyncNext(&tag, &ok, absl::ToChronoTime(deadline + absl::Seconds(5))) !=
        grpc::CompletionQueue::GOT_EVENT) {
      return absl::DeadlineExceededError(absl::StrCat(what, ": no completion"));
    }
    if (!ok) return absl::UnavailableError(absl::StrCat(what, ": failed"));
    return absl::OkStatus();
  };
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      stub.PrepareCall(&context, kReflectionMethod, &cq);
  call->StartCall(nullptr);
  absl::Status step = wait("start");
  std::vector<std::string> responses;
  for (const std::string& request : requests) {
    if (!step.ok()) break;
    call->Write(ToBuffer(request), nullptr);
    if (!(step = wait("write")).ok()) break;
    grpc::ByteBuffer reply;
    call->Read(&reply, nullptr);
    if (!(step = wait("read")).ok()) break;
    responses.push_back(FromBuffer(reply));
  }
  if (step.ok()) {
    call->WritesDone(nullptr);
    step = wait("writes done");
  }
  grpc::Status status;
  call->Finish(&status, nullptr);
  const absl::Status finished = wait("finish");
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
  // The call's own status first: a failed step is what a refused call looks like.
  if (finished.ok() && !status.ok()) {
    // gRPC's and Abseil's code numbers are the same.
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        absl::StrCat("reflection call: ", status.error_message()));
  }
  if (!step.ok()) return step;
  if (!finished.ok()) return finished;
  return responses;
}

class ReflectionTest : public GatewayTest {};

TEST_F(ReflectionTest, ListsBatchService) {
  StartAll();
  auto responses = Reflect(gateway_->address(), {LengthDelimited(kListServices, "")});
  ASSERT_TRUE(responses.ok()) << responses.status();
  ASSERT_EQ(responses->size(), 1u);
  const std::vector<std::string> lists = Fields((*responses)[0], kListServicesResponse);
  ASSERT_EQ(lists.size(), 1u) << "no list_services_response";
  std::vector<std::string> names;
  for (const std::string& service : Fields(lists[0], 1)) {
    for (const std::string& name : Fields(service, 1)) names.push_back(name);
  }
  EXPECT_NE(std::find(names.begin(), names.end(), kService), names.end())
      << "listed: " << ::testing::PrintToString(names);
  EXPECT_NE(std::find(names.begin(), names.end(), "grpc.health.v1.Health"), names.end())
      << "listed: " << ::testing::PrintToString(names);
}

TEST_F(ReflectionTest, ServiceDescriptorHasEveryMethodWithItsHttpRule) {
  StartAll();
  auto responses = Reflect(gateway_->address(), {LengthDelimited(kFileContainingSymbol, kService)});
  ASSERT_TRUE(responses.ok()) << responses.status();
  ASSERT_EQ(responses->size(), 1u);
  ASSERT_TRUE(Fields((*responses)[0], kErrorResponse).empty()) << "error_response";
  const std::vector<std::string> file_responses = Fields((*responses)[0], kFileDescriptorResponse);
  ASSERT_EQ(file_responses.size(), 1u) << "no file_descriptor_response";

  // The file with the symbol and the ones it imports (gRPC sends those the
  // stream has not sent yet).
  std::map<std::string, google::protobuf::FileDescriptorProto> files;
  for (const std::string& bytes : Fields(file_responses[0], 1)) {
    google::protobuf::FileDescriptorProto file;
    ASSERT_TRUE(file.ParseFromString(bytes));
    files[file.name()] = file;
  }
  ASSERT_EQ(files.count(kServiceFile), 1u);
  const google::protobuf::FileDescriptorProto& file = files[kServiceFile];
  EXPECT_EQ(file.package(), "serpwow.batches.v1");
  EXPECT_EQ(files.count("serpwow/batches/v1/resources.proto"), 1u);
  EXPECT_EQ(files.count("google/api/annotations.proto"), 1u);
  EXPECT_EQ(files.count("google/api/http.proto"), 1u);

  ASSERT_EQ(file.service_size(), 1);
  const google::protobuf::ServiceDescriptorProto& service = file.service(0);
  EXPECT_EQ(service.name(), "BatchService");
  std::map<std::string, google::protobuf::MethodDescriptorProto> methods;
  for (const auto& m : service.method()) methods[m.name()] = m;
  // One row per RPC: its types and its HTTP rule.
  struct Row {
    const char* method;
    const char* input;
    const char* output;
    google::api::HttpRule::PatternCase pattern;
    const char* path;
    const char* body;
  };
  const Row rows[] = {
      {"GetBatch", "GetBatchRequest", "Batch", google::api::HttpRule::kGet, "/v1/{name=batches/*}",
       ""},
      {"StopBatch", "StopBatchRequest", "StopBatchResponse", google::api::HttpRule::kPost,
       "/v1/{name=batches/*}:stop", "*"},
      {"ListBatches", "ListBatchesRequest", "ListBatchesResponse", google::api::HttpRule::kGet,
       "/v1/batches", ""},
      {"CreateBatch", "CreateBatchRequest", "Batch", google::api::HttpRule::kPost, "/v1/batches",
       "batch"},
      {"UpdateBatch", "UpdateBatchRequest", "Batch", google::api::HttpRule::kPatch,
       "/v1/{batch.name=batches/*}", "batch"},
      {"DeleteBatch", "DeleteBatchRequest", "google.protobuf.Empty", google::api::HttpRule::kDelete,
       "/v1/{name=batches/*}", ""},
      {"StartBatch", "StartBatchRequest", "StartBatchResponse", google::api::HttpRule::kPost,
       "/v1/{name=batches/*}:start", "*"},
      {"StopAllBatches", "StopAllBatchesRequest", "StopAllBatchesResponse",
       google::api::HttpRule::kPost, "/v1/batches:stopAll", "*"},
      {"GetAccount", "GetAccountRequest", "Account", google::api::HttpRule::kGet,
       "/v1/{name=account}", ""},
      {"ListResultSets", "ListResultSetsRequest", "ListResultSetsResponse",
       google::api::HttpRule::kGet, "/v1/{parent=batches/*}/resultSets", ""},
      {"GetResultSet", "GetResultSetRequest", "ResultSet", google::api::HttpRule::kGet,
       "/v1/{name=batches/*/resultSets/*}", ""},
      {"ExportResultSet", "ExportResultSetRequest", "ExportResultSetResponse",
       google::api::HttpRule::kGet, "/v1/{name=batches/*/resultSets/*}:export", ""},
      {"ExportSearches", "ExportSearchesRequest", "ExportSearchesResponse",
       google::api::HttpRule::kGet, "/v1/{parent=batches/*}/searches:export", ""},
      {"ListSearches", "ListSearchesRequest", "ListSearchesResponse", google::api::HttpRule::kGet,
       "/v1/{parent=batches/*}/searches", ""},
      {"AddSearches", "AddSearchesRequest", "AddSearchesResponse", google::api::HttpRule::kPost,
       "/v1/{parent=batches/*}/searches:add", "*"},
      {"UpdateSearch", "UpdateSearchRequest", "Search", google::api::HttpRule::kPatch,
       "/v1/{search.name=batches/*/searches/*}", "search"},
      {"DeleteSearch", "DeleteSearchRequest", "google.protobuf.Empty",
       google::api::HttpRule::kDelete, "/v1/{name=batches/*/searches/*}", ""},
      {"BatchDeleteSearches", "BatchDeleteSearchesRequest", "google.protobuf.Empty",
       google::api::HttpRule::kPost, "/v1/{parent=batches/*}/searches:batchDelete", "*"},
      {"PurgeSearches", "PurgeSearchesRequest", "PurgeSearchesResponse",
       google::api::HttpRule::kPost, "/v1/{parent=batches/*}/searches:purge", "*"},
      {"WatchBatch", "WatchBatchRequest", "WatchBatchEvent", google::api::HttpRule::kGet,
       "/v1/{name=batches/*}:watch", ""},
  };
  // Every method of the service has its row (a new RPC adds one).
  EXPECT_EQ(methods.size(), sizeof(rows) / sizeof(rows[0]));
  auto full = [](const char* type) {
    return absl::StrContains(type, ".") ? absl::StrCat(".", type)
                                        : absl::StrCat(".serpwow.batches.v1.", type);
  };
  auto path_of = [](const google::api::HttpRule& rule) -> std::string {
    switch (rule.pattern_case()) {
      case google::api::HttpRule::kGet:
        return rule.get();
      case google::api::HttpRule::kPost:
        return rule.post();
      case google::api::HttpRule::kPatch:
        return rule.patch();
      case google::api::HttpRule::kDelete:
        return rule.delete_();
      case google::api::HttpRule::kPut:
        return rule.put();
      default:
        return "";
    }
  };
  for (const Row& row : rows) {
    ASSERT_EQ(methods.count(row.method), 1u) << row.method;
    const auto& m = methods[row.method];
    EXPECT_EQ(m.input_type(), full(row.input));
    EXPECT_EQ(m.output_type(), full(row.output));
    ASSERT_TRUE(m.options().HasExtension(google::api::http)) << row.method;
    const google::api::HttpRule& rule = m.options().GetExtension(google::api::http);
    EXPECT_EQ(rule.pattern_case(), row.pattern) << row.method;
    EXPECT_EQ(path_of(rule), row.path) << row.method;
    EXPECT_EQ(rule.body(), row.body) << row.method;
  }
}

// The plaintext --health_listen port serves health and nothing else: gRPC's
// reflection plugin, once registered process-wide, would add reflection to
// every server the process builds, so the gateway adds it to the main
// server's builder only.
TEST_F(ReflectionTest, HealthPortServesHealthButNotReflection) {
  options_.health_listen = "127.0.0.1:0";
  StartAll();
  ASSERT_GT(gateway_->health_port(), 0);
  const std::string health_address = absl::StrCat("127.0.0.1:", gateway_->health_port());

  auto main_port = Reflect(gateway_->address(), {LengthDelimited(kListServices, "")});
  EXPECT_TRUE(main_port.ok()) << main_port.status();
  auto health_port = Reflect(health_address, {LengthDelimited(kListServices, "")});
  EXPECT_EQ(health_port.status().code(), absl::StatusCode::kUnimplemented) << health_port.status();

  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(health_address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("readiness");
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = health->Check(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

}  // namespace
}  // namespace serpwow::testing
