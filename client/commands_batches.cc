// The batch commands: verbs at the top level act on batches.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "client/cli.h"

namespace serpwow::client {

std::string BatchName(const std::string& arg) {
  return absl::StartsWith(arg, "batches/") ? arg : "batches/" + arg;
}

int OneArg(const std::string& command, const std::vector<std::string>& args) {
  if (args.size() != 1) return UsageError("'" + command + "' takes exactly one BATCH_ID");
  return 0;
}

int StopCommand(const Env& env, const std::vector<std::string>& args) {
  if (int bad = OneArg("stop", args)) return bad;
  v1::StopBatchRequest request;
  request.set_batch_id(args[0]);
  v1::StopBatchResponse response;
  if (int code = Call(env, &v1::BatchService::Stub::StopBatch, request, &response)) return code;
  switch (env.format) {
    case Format::kJson:
    case Format::kJsonl:
      std::printf("%s\n", StoppedJson(response).c_str());
      break;
    case Format::kName:
      std::printf("batches/%s\n", response.batch_id().c_str());
      break;
    default:
      std::printf("%s\n", FormatStopped(response).c_str());
  }
  return 0;
}

int GetCommand(const Env& env, const std::vector<std::string>& args) {
  if (int bad = OneArg("get", args)) return bad;
  v1::GetBatchRequest request;
  request.set_name(BatchName(args[0]));
  v1::Batch batch;
  if (int code = Call(env, &v1::BatchService::Stub::GetBatch, request, &batch)) return code;
  PrintResources<v1::Batch>(env, {&batch}, false, &BatchColumns, &BatchCells);
  return 0;
}

int DescribeCommand(const Env& env, const std::vector<std::string>& args) {
  if (int bad = OneArg("describe", args)) return bad;
  v1::GetBatchRequest request;
  request.set_name(BatchName(args[0]));
  v1::Batch batch;
  if (int code = Call(env, &v1::BatchService::Stub::GetBatch, request, &batch)) return code;
  if (env.format == Format::kTable || env.format == Format::kWide) {
    std::printf("%s\n", FormatBatch(batch).c_str());
  } else {
    PrintResources<v1::Batch>(env, {&batch}, false, &BatchColumns, &BatchCells);
  }
  return 0;
}

}  // namespace serpwow::client
