// batchctl: a command-line client for serpwow.batches.v1.BatchService.
//   batchctl stop BATCH_ID [--target=HOST:PORT] [--timeout=DURATION] [--json]
//   batchctl get BATCH_ID [same flags]
//            [--tls | --ca_file=PEM [--cert_file=PEM --key_file=PEM]] [--token_file=F]
// Exit status: 0 on OK, the gRPC code's number on an RPC error (see
// batchctl_format.h), 64 on a usage error.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/batchctl_format.h"
#include "common/file.h"
#include "common/flag_env.h"
#include "common/host_port.h"
#include "serpwow/batches/v1/batch_service.grpc.pb.h"

ABSL_FLAG(std::string, target, "localhost:50051",
          "the batch-server to call, HOST:PORT (or a gRPC target such as dns:///HOST:PORT)");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10), "deadline for the call, e.g. 5s or 500ms");
ABSL_FLAG(bool, json, false, "print the response (or the error status) as proto JSON");
ABSL_FLAG(bool, tls, false, "use TLS, verifying the server with the system's CA store");
ABSL_FLAG(std::string, ca_file, "", "PEM CA bundle to verify the server (implies --tls)");
ABSL_FLAG(std::string, cert_file, "", "PEM client certificate for mTLS (implies --tls)");
ABSL_FLAG(std::string, key_file, "", "PEM client private key for mTLS");
ABSL_FLAG(std::string, server_name, "", "expected TLS server name, if not the --target host");
ABSL_FLAG(std::string, token_file, "",
          "file holding the bearer token to send (else the BATCHCTL_TOKEN environment variable, "
          "if set)");

namespace {

constexpr char kUsage[] =
    "stops or shows a SerpWow batch through batch-server.\n"
    "usage: batchctl stop BATCH_ID [--target=HOST:PORT] [--timeout=DURATION] [--json]\n"
    "       batchctl get BATCH_ID  (or batches/BATCH_ID) [same flags]\n"
    "       [--tls | --ca_file=PEM [--cert_file=PEM --key_file=PEM]] [--server_name=NAME]\n"
    "       [--token_file=FILE]   (or the token in BATCHCTL_TOKEN)\n"
    "exit status: 0 OK; 1-16 the gRPC status code (3 INVALID_ARGUMENT, 4 DEADLINE_EXCEEDED,\n"
    "5 NOT_FOUND, 8 RESOURCE_EXHAUSTED, 9 FAILED_PRECONDITION, 13 INTERNAL, 14 UNAVAILABLE, ...);\n"
    "64 usage error";

int UsageError(const std::string& message) {
  std::fprintf(stderr, "batchctl: %s\n%s\n", message.c_str(), kUsage);
  return serpwow::client::kExitUsage;
}

// A gRPC target URI (dns:///host:port, unix:///path, ...) is passed through
// as it is; anything else must be HOST:PORT. Empty if fine, else the message.
std::string CheckTarget(const std::string& target) {
  for (const char* scheme : {"dns:", "unix:", "unix-abstract:", "ipv4:", "ipv6:", "xds:"}) {
    if (absl::StartsWith(target, scheme)) return "";
  }
  absl::Status s =
      serpwow::ParseHostPort(target, {"--target", "localhost:50051", "[::1]:50051"}).status();
  return s.ok() ? "" : std::string(s.message());
}

// *out = the content of `path`; else the error, prefixed with `flag`.
bool ReadFlagFile(const char* flag, const std::string& path, std::string* out, std::string* error) {
  absl::StatusOr<std::string> content = serpwow::ReadFile(path);
  if (!content.ok()) {
    *error = absl::StrCat(flag, ": ", content.status().message());
    return false;
  }
  *out = std::move(*content);
  return true;
}

// Channel credentials from the TLS flags; an error message on bad flags.
std::shared_ptr<grpc::ChannelCredentials> Credentials(std::string* error) {
  const std::string ca = absl::GetFlag(FLAGS_ca_file);
  const std::string cert = absl::GetFlag(FLAGS_cert_file);
  const std::string key = absl::GetFlag(FLAGS_key_file);
  if (!absl::GetFlag(FLAGS_tls) && ca.empty() && cert.empty() && key.empty()) {
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  if (!ca.empty() && !ReadFlagFile("--ca_file", ca, &ssl.pem_root_certs, error)) return nullptr;
  if (cert.empty() != key.empty()) {
    *error = "--cert_file and --key_file go together";
    return nullptr;
  }
  if (!cert.empty() && (!ReadFlagFile("--cert_file", cert, &ssl.pem_cert_chain, error) ||
                        !ReadFlagFile("--key_file", key, &ssl.pem_private_key, error))) {
    return nullptr;
  }
  return grpc::SslCredentials(ssl);
}

namespace v1 = serpwow::batches::v1;

// One verb: the request it builds from its argument, and how it prints.
template <typename Request, typename Response>
struct Verb {
  grpc::Status (v1::BatchService::Stub::*method)(grpc::ClientContext*, const Request&, Response*);
  Request (*request)(const std::string& arg);
  std::string (*format)(const Response&);
};

v1::StopBatchRequest StopRequest(const std::string& id) {
  v1::StopBatchRequest request;
  request.set_batch_id(id);
  return request;
}

v1::GetBatchRequest GetRequest(const std::string& id) {
  v1::GetBatchRequest request;
  request.set_name(absl::StartsWith(id, "batches/") ? id : "batches/" + id);
  return request;
}

// Calls the verb and prints its outcome; the exit status.
template <typename Request, typename Response>
int Run(const Verb<Request, Response>& verb, v1::BatchService::Stub& stub,
        grpc::ClientContext& context, const std::string& arg) {
  Response response;
  grpc::Status status = (stub.*verb.method)(&context, verb.request(arg), &response);
  const bool json = absl::GetFlag(FLAGS_json);
  if (status.ok()) {
    std::printf("%s\n", json ? serpwow::client::MessageJson(response).c_str()
                             : verb.format(response).c_str());
    return 0;
  }
  if (json) {
    std::printf("%s\n", serpwow::client::ErrorJson(status).c_str());
  } else {
    std::fprintf(stderr, "batchctl: %s\n", serpwow::client::FormatError(status).c_str());
  }
  return serpwow::client::ExitCodeFor(status.error_code());
}

}  // namespace

int main(int argc, char** argv) {
  serpwow::SetUpHelp(argc, argv, "client/batchctl.cc", kUsage);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) return UsageError("missing command");
  const std::string command = args[1];
  if (command != "stop" && command != "get") {
    return UsageError("unknown command (the commands are 'stop' and 'get')");
  }
  if (args.size() != 3) return UsageError("'" + command + "' takes exactly one BATCH_ID");
  const absl::Duration timeout = absl::GetFlag(FLAGS_timeout);
  if (timeout <= absl::ZeroDuration()) return UsageError("--timeout must be positive");

  if (std::string bad = CheckTarget(absl::GetFlag(FLAGS_target)); !bad.empty()) {
    return UsageError(bad);
  }
  std::string error;
  std::shared_ptr<grpc::ChannelCredentials> credentials = Credentials(&error);
  if (credentials == nullptr) return UsageError(error);
  std::string token;
  if (const std::string path = absl::GetFlag(FLAGS_token_file); !path.empty()) {
    if (!ReadFlagFile("--token_file", path, &token, &error)) return UsageError(error);
  } else if (const char* env = std::getenv("BATCHCTL_TOKEN")) {
    token = env;
  }
  token = std::string(absl::StripAsciiWhitespace(token));

  grpc::ChannelArguments channel_args;
  if (const std::string name = absl::GetFlag(FLAGS_server_name); !name.empty()) {
    channel_args.SetSslTargetNameOverride(name);
  }
  auto channel = grpc::CreateCustomChannel(absl::GetFlag(FLAGS_target), credentials, channel_args);
  auto stub = v1::BatchService::NewStub(channel);
  grpc::ClientContext context;
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  if (command == "get") {
    return Run(Verb<v1::GetBatchRequest, v1::Batch>{&v1::BatchService::Stub::GetBatch, &GetRequest,
                                                    &serpwow::client::FormatBatch},
               *stub, context, args[2]);
  }
  return Run(
      Verb<v1::StopBatchRequest, v1::StopBatchResponse>{
          &v1::BatchService::Stub::StopBatch, &StopRequest, &serpwow::client::FormatStopped},
      *stub, context, args[2]);
}
