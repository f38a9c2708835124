// batchctl: a command-line client for serpwow.batches.v1.BatchService.
// Top-level verbs act on batches (`batchctl stop ID`, `get ID`); child
// resources are nouns with verbs (gh's grammar). Output: client/output.h.
// Exit status: 0 on OK, the gRPC code's number on an RPC error (see
// batchctl_format.h), 64 on a usage error.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
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
#include "client/cli.h"
#include "client/output.h"
#include "common/file.h"
#include "common/flag_env.h"
#include "common/host_port.h"
#include "serpwow/batches/v1/batch_service.grpc.pb.h"

ABSL_FLAG(std::string, target, "localhost:50051",
          "the batch-server to call, HOST:PORT (or a gRPC target such as dns:///HOST:PORT)");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10), "deadline for the call, e.g. 5s or 500ms");
ABSL_FLAG(std::string, o, "",
          "output format: table (the default), wide, json, jsonl or name; when stdout is not a "
          "terminal, tables are tab-separated with no header");
ABSL_FLAG(std::string, output, "", "the same as -o");
ABSL_FLAG(bool, json, false, "the same as -o json");
ABSL_FLAG(bool, no_headers, false, "tables without their header line");
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
    "manages SerpWow batches through batch-server.\n"
    "usage: batchctl COMMAND ARGS [flags]\n"
    "  list [--status=S] [--name=PATTERN] [--created_after=T] [--created_before=T]\n"
    "       [--filter=F] [--sort=FIELD[,desc]] [--limit=N | --all]\n"
    "  get BATCH_ID           one batch as a table row (BATCH_ID or batches/BATCH_ID)\n"
    "  describe BATCH_ID      one batch in full\n"
    "  create --name=N [--schedule=daily --hours=9,17 | --schedule=weekly --days=mon,wed]\n"
    "         [--priority=P] [--webhook=URL] [--email=E] [--as=json,csv] [--destination=ID,..]\n"
    "         [--enabled=true|false] [-f batch.yaml|json] [--request_id=UUID]\n"
    "  update BATCH_ID [the create flags]   changes exactly the fields given\n"
    "  delete BATCH_ID [--force] [--yes]    asks first on a terminal\n"
    "  start BATCH_ID [--request_id=UUID] [--wait]   says the credits reserved and the result\n"
    "         set; --wait follows the run: exit 0 when it completes, 65 without a result set\n"
    "  watch BATCH_ID [--until_done]        one line per change (resumes by itself)\n"
    "  stop BATCH_ID          stop a queued or running batch (says whether credits came back)\n"
    "  stop --all [--dry_run] [--yes]       every queued and running batch, with the refund\n"
    "  account                the account's credits and limits\n"
    "  results list BATCH_ID | get BATCH_ID RS | export BATCH_ID RS [--format=json|jsonl|csv]\n"
    "          [--csv_fields=a,b]\n"
    "  searches list BATCH_ID [--find=TERM | --custom_id=ID] [--limit=N | --all]\n"
    "  searches find BATCH_ID TERM | export BATCH_ID [--format=json|csv]\n"
    "  searches add BATCH_ID (-f searches.csv|jsonl|json | --q=Q [--location=L]\n"
    "         [--search_type=T] [--custom_id=ID] [--max_page=N] [--param KEY=VALUE]...)\n"
    "         in calls of 1000, one after another\n"
    "  searches update BATCH_ID SEARCH_ID [the add flags]   changes exactly the fields given\n"
    "  searches delete BATCH_ID SEARCH_ID...   searches clear BATCH_ID [--dry_run] [--yes]\n"
    "flags: [--target=HOST:PORT] [--timeout=DURATION] [-o table|wide|json|jsonl|name]\n"
    "       [--json] [--no-headers] [--tls | --ca_file=PEM [--cert_file=PEM --key_file=PEM]]\n"
    "       [--server_name=NAME] [--token_file=FILE]   (or the token in BATCHCTL_TOKEN)\n"
    "       flags may be written with dashes or underscores (--no-headers, --no_headers)\n"
    "output: tables fit the terminal; when stdout is not a terminal they are tab-separated,\n"
    "        with no header and exact times (BATCHCTL_FORCE_TTY=1 forces the terminal form)\n"
    "exit status: 0 OK; 1-16 the gRPC status code (3 INVALID_ARGUMENT, 4 DEADLINE_EXCEEDED,\n"
    "5 NOT_FOUND, 8 RESOURCE_EXHAUSTED, 9 FAILED_PRECONDITION, 13 INTERNAL, 14 UNAVAILABLE, ...);\n"
    "64 usage error; 65 a watched run ended without a result set";

}  // namespace

int serpwow::client::UsageError(const std::string& message) {
  std::fprintf(stderr, "batchctl: %s\n%s\n", message.c_str(), kUsage);
  return kExitUsage;
}

namespace {

using serpwow::client::UsageError;

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
using serpwow::client::Format;

struct Command {
  const char* name;
  serpwow::client::CommandFn run;
};

constexpr Command kCommands[] = {
    {"list", &serpwow::client::ListCommand},         {"get", &serpwow::client::GetCommand},
    {"describe", &serpwow::client::DescribeCommand}, {"create", &serpwow::client::CreateCommand},
    {"update", &serpwow::client::UpdateCommand},     {"delete", &serpwow::client::DeleteCommand},
    {"start", &serpwow::client::StartCommand},       {"stop", &serpwow::client::StopCommand},
    {"account", &serpwow::client::AccountCommand},   {"results", &serpwow::client::ResultsCommand},
    {"searches", &serpwow::client::SearchesCommand}, {"watch", &serpwow::client::WatchCommand},
};

// Flags may be spelled with dashes as well (--no-headers, --token-file):
// kubectl's and gh's habit. absl's names use underscores.
void DashesToUnderscores(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    char* arg = argv[i];
    if (arg[0] != '-' || arg[1] != '-' || arg[2] == '\0') continue;
    if (std::strcmp(arg, "--") == 0) break;  // the rest are not flags
    for (char* c = arg + 2; *c != '\0' && *c != '='; ++c) {
      if (*c == '-') *c = '_';
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  serpwow::SetUpHelp(argc, argv, "client/batchctl.cc", kUsage);
  DashesToUnderscores(argc, argv);
  serpwow::client::SetGivenFlags(argc, argv);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) return UsageError("missing command");
  const std::string command = args[1];
  const Command* chosen = nullptr;
  std::string names;
  for (const Command& c : kCommands) {
    if (command == c.name) chosen = &c;
    absl::StrAppend(&names, names.empty() ? "" : ", ", c.name);
  }
  if (chosen == nullptr) return UsageError("unknown command (the commands are " + names + ")");

  serpwow::client::Env env;
  env.timeout = absl::GetFlag(FLAGS_timeout);
  if (env.timeout <= absl::ZeroDuration()) return UsageError("--timeout must be positive");
  std::string output = absl::GetFlag(FLAGS_o);
  if (output.empty()) output = absl::GetFlag(FLAGS_output);
  if (absl::GetFlag(FLAGS_json)) {
    if (!output.empty() && output != "json") return UsageError("--json is -o json; give one");
    output = "json";
  }
  absl::StatusOr<Format> format = serpwow::client::ParseFormat(output);
  if (!format.ok()) return UsageError(std::string(format.status().message()));
  env.format = *format;
  env.terminal = serpwow::client::DetectTerminal();
  env.no_headers = absl::GetFlag(FLAGS_no_headers);

  if (std::string bad = CheckTarget(absl::GetFlag(FLAGS_target)); !bad.empty()) {
    return UsageError(bad);
  }
  std::string error;
  std::shared_ptr<grpc::ChannelCredentials> credentials = Credentials(&error);
  if (credentials == nullptr) return UsageError(error);
  if (const std::string path = absl::GetFlag(FLAGS_token_file); !path.empty()) {
    if (!ReadFlagFile("--token_file", path, &env.token, &error)) return UsageError(error);
  } else if (const char* token = std::getenv("BATCHCTL_TOKEN")) {
    env.token = token;
  }
  env.token = std::string(absl::StripAsciiWhitespace(env.token));

  grpc::ChannelArguments channel_args;
  if (const std::string name = absl::GetFlag(FLAGS_server_name); !name.empty()) {
    channel_args.SetSslTargetNameOverride(name);
  }
  auto channel = grpc::CreateCustomChannel(absl::GetFlag(FLAGS_target), credentials, channel_args);
  auto stub = v1::BatchService::NewStub(channel);
  env.stub = stub.get();
  return chosen->run(env, std::vector<std::string>(args.begin() + 2, args.end()));
}
