// batchctl: a command-line client for serpwow.batches.v1.BatchService.
//   batchctl stop BATCH_ID [--target=HOST:PORT] [--timeout=DURATION] [--json]
// Exit status: 0 on OK, the gRPC code's number on an RPC error (see
// batchctl_format.h), 64 on a usage error.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/batchctl_format.h"
#include "serpwow/batches/v1/batch_service.grpc.pb.h"

ABSL_FLAG(std::string, target, "localhost:50051", "the batch-server to call, HOST:PORT");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10), "deadline for the call, e.g. 5s or 500ms");
ABSL_FLAG(bool, json, false, "print the response (or the error status) as proto JSON");

namespace {

constexpr char kUsage[] =
    "stops a SerpWow batch through batch-server.\n"
    "usage: batchctl stop BATCH_ID [--target=HOST:PORT] [--timeout=DURATION] [--json]\n"
    "exit status: 0 OK; 1-16 the gRPC status code (3 INVALID_ARGUMENT, 4 DEADLINE_EXCEEDED,\n"
    "5 NOT_FOUND, 8 RESOURCE_EXHAUSTED, 9 FAILED_PRECONDITION, 13 INTERNAL, 14 UNAVAILABLE, ...);\n"
    "64 usage error";

int UsageError(const char* message) {
  std::fprintf(stderr, "batchctl: %s\n%s\n", message, kUsage);
  return serpwow::client::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) return UsageError("missing command");
  if (std::string(args[1]) != "stop") return UsageError("unknown command (only 'stop' exists)");
  if (args.size() != 3) return UsageError("'stop' takes exactly one BATCH_ID");
  const absl::Duration timeout = absl::GetFlag(FLAGS_timeout);
  if (timeout <= absl::ZeroDuration()) return UsageError("--timeout must be positive");

  auto channel =
      grpc::CreateChannel(absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials());
  auto stub = serpwow::batches::v1::BatchService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  serpwow::batches::v1::StopBatchRequest request;
  request.set_batch_id(args[2]);
  serpwow::batches::v1::StopBatchResponse response;
  grpc::Status status = stub->StopBatch(&context, request, &response);

  const bool json = absl::GetFlag(FLAGS_json);
  if (status.ok()) {
    std::printf("%s\n", json ? serpwow::client::StoppedJson(response).c_str()
                             : serpwow::client::FormatStopped(response).c_str());
    return 0;
  }
  if (json) {
    std::printf("%s\n", serpwow::client::ErrorJson(status).c_str());
  } else {
    std::fprintf(stderr, "batchctl: %s\n", serpwow::client::FormatError(status).c_str());
  }
  return serpwow::client::ExitCodeFor(status.error_code());
}
