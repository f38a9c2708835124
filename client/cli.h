// What every batchctl command is built from: the call settings, one way to
// call an RPC and report its error, and one way to print resources in the
// output format asked for (client/output.h). Commands live in
// commands_*.cc; batchctl.cc parses the flags and picks one.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/batchctl_format.h"
#include "client/output.h"
#include "serpwow/batches/v1/batch_service.grpc.pb.h"

namespace serpwow::client {

namespace v1 = serpwow::batches::v1;

// Prints `message` and the usage on stderr; returns kExitUsage.
int UsageError(const std::string& message);

// What every command works with: the stub, the call settings and where and
// how to print.
struct Env {
  v1::BatchService::Stub* stub = nullptr;
  std::string token;
  absl::Duration timeout;
  Format format = Format::kTable;
  Terminal terminal;
  bool no_headers = false;
};

// Prints a failed call's status (-o json: the google.rpc.Status on stdout;
// else one line on stderr) and returns its exit status.
int ReportError(const Env& env, const grpc::Status& status);

// Calls one RPC with the deadline and the token. On an error, prints it
// (-o json: the google.rpc.Status on stdout; else one line on stderr) and
// returns its exit status; 0 on OK.
template <typename Request, typename Response>
int Call(const Env& env,
         grpc::Status (v1::BatchService::Stub::*method)(grpc::ClientContext*, const Request&,
                                                        Response*),
         const Request& request, Response* response) {
  grpc::ClientContext context;
  if (!env.token.empty()) context.AddMetadata("authorization", "Bearer " + env.token);
  context.set_deadline(absl::ToChronoTime(absl::Now() + env.timeout));
  grpc::Status status = (env.stub->*method)(&context, request, response);
  if (status.ok()) return 0;
  return ReportError(env, status);
}

// "9E867FAA" or "batches/9E867FAA" -> "batches/9E867FAA". The server checks
// the id; anything odd is its INVALID_ARGUMENT, not a guess here.
std::string BatchName(const std::string& arg);

// Resources as the output format asks: a table (one row each, columns and
// cells from `columns` and `cells`; exact times with -o wide or when stdout
// is not a terminal) or messages (-o json|jsonl|name).
template <typename T>
void PrintResources(const Env& env, const std::vector<const T*>& items, bool as_list,
                    std::vector<Column> (*columns)(bool wide),
                    std::vector<std::string> (*cells)(const T&, bool wide, bool exact_times,
                                                      absl::Time now)) {
  if (env.format != Format::kTable && env.format != Format::kWide) {
    std::vector<const google::protobuf::Message*> messages(items.begin(), items.end());
    std::fputs(PrintMessages(messages, env.format, as_list).c_str(), stdout);
    return;
  }
  const bool wide = env.format == Format::kWide;
  Table table(columns(wide));
  const absl::Time now = absl::Now();
  for (const T* item : items) table.AddRow(cells(*item, wide, wide || !env.terminal.is_tty, now));
  std::fputs(table.Render(env.terminal, env.no_headers).c_str(), stdout);
}

// Pages through a List RPC until `limit` items (0: all of them) or the last
// page, appending to `*out`; `*more` tells whether items were left (the
// total is the response's total_size when it has one). The exit status of
// the first failed call, else 0.
template <typename Request, typename Response, typename Item>
int ListPages(const Env& env,
              grpc::Status (v1::BatchService::Stub::*method)(grpc::ClientContext*, const Request&,
                                                             Response*),
              Request request,
              const google::protobuf::RepeatedPtrField<Item>& (Response::*items)() const,
              int64_t limit, std::vector<Item>* out, bool* more, int64_t* total) {
  *more = false;
  while (true) {
    const int64_t left = limit == 0 ? 1000 : limit - static_cast<int64_t>(out->size());
    request.set_page_size(static_cast<int32_t>(left < 1000 ? left : 1000));
    Response response;
    if (int code = Call(env, method, request, &response)) return code;
    for (const Item& item : (response.*items)()) {
      if (limit != 0 && static_cast<int64_t>(out->size()) >= limit) {
        *more = true;
        break;
      }
      out->push_back(item);
    }
    *total = response.total_size();
    if (response.next_page_token().empty()) return 0;
    if (limit != 0 && static_cast<int64_t>(out->size()) >= limit) {
      *more = true;
      return 0;
    }
    request.set_page_token(response.next_page_token());
  }
}

// The exit status of a list command: ListPages with the --limit, then the
// items in the output format, then ReportMore when items were left out.
template <typename Request, typename Response, typename Item>
int ListAndPrint(const Env& env,
                 grpc::Status (v1::BatchService::Stub::*method)(grpc::ClientContext*,
                                                                const Request&, Response*),
                 const Request& request,
                 const google::protobuf::RepeatedPtrField<Item>& (Response::*items)() const,
                 std::vector<Column> (*columns)(bool wide),
                 std::vector<std::string> (*cells)(const Item&, bool wide, bool exact_times,
                                                   absl::Time now));

// After a list cut by --limit: "showing 100 of 2345 (--limit=0 or --all for
// all)" on stderr, so it never mixes with the rows.
void ReportMore(size_t shown, int64_t total);

// The --limit for list commands (--all is --limit=0).
int64_t ListLimit();

// Whether the flag `name` (absl's spelling, e.g. "created_after") was on
// the command line, so that `update` changes exactly the fields given (a
// flag set to its default value counts). SetGivenFlags records them from
// argv before absl parses it.
void SetGivenFlags(int argc, char** argv);
bool Given(const std::string& name);

// A random (version 4) UUID: the request_id of a command's call.
std::string NewUuid();

// Asks `question` on the terminal; true for "y" or "yes". Not asked (true)
// with --yes or when stdin is not a terminal.
bool Confirm(const std::string& question);

// Every value of a flag that may be repeated (`--param gl=us --param hl=en`:
// absl keeps only the last), in order, as SetGivenFlags saw them.
std::vector<std::string> GivenValues(const std::string& name);

// Exactly one positional argument, else a usage error (its exit status).
int OneArg(const std::string& command, const std::vector<std::string>& args);

// The commands (commands_*.cc): each takes the arguments after its name.
using CommandFn = int (*)(const Env& env, const std::vector<std::string>& args);
int StopCommand(const Env& env, const std::vector<std::string>& args);
int GetCommand(const Env& env, const std::vector<std::string>& args);
int DescribeCommand(const Env& env, const std::vector<std::string>& args);
int ListCommand(const Env& env, const std::vector<std::string>& args);
int CreateCommand(const Env& env, const std::vector<std::string>& args);
int UpdateCommand(const Env& env, const std::vector<std::string>& args);
int DeleteCommand(const Env& env, const std::vector<std::string>& args);
int StartCommand(const Env& env, const std::vector<std::string>& args);
int AccountCommand(const Env& env, const std::vector<std::string>& args);
int ResultsCommand(const Env& env, const std::vector<std::string>& args);
int SearchesCommand(const Env& env, const std::vector<std::string>& args);
int WatchCommand(const Env& env, const std::vector<std::string>& args);
// `searches VERB` (commands_searches.cc).
int SearchesList(const Env& env, const std::vector<std::string>& args);
int SearchesFind(const Env& env, const std::vector<std::string>& args);
int SearchesAdd(const Env& env, const std::vector<std::string>& args);
int SearchesUpdate(const Env& env, const std::vector<std::string>& args);
int SearchesDelete(const Env& env, const std::vector<std::string>& args);
int SearchesClear(const Env& env, const std::vector<std::string>& args);
// Follows batch `name` with WatchBatch until the stream is done (the
// batch deleted, or with `until_run_ends` the run's end), resuming with
// `since` after UNAVAILABLE or a stream the server ended early (its
// connection age, --watch_max_duration). Each event is printed (one line,
// or -o json|jsonl one object per line) unless `quiet`; `*last` gets the
// last event. The exit status: 0 when the stream is done (with
// until_run_ends: the run completed with a result set), 65
// (kExitRunEndedWithoutResults) when the run ended without one or the batch
// was deleted, else the failed call's.
int WatchBatch(const Env& env, const std::string& name, bool until_run_ends, const v1::Batch* since,
               bool quiet, v1::WatchBatchEvent* last);

template <typename Request, typename Response, typename Item>
int ListAndPrint(const Env& env,
                 grpc::Status (v1::BatchService::Stub::*method)(grpc::ClientContext*,
                                                                const Request&, Response*),
                 const Request& request,
                 const google::protobuf::RepeatedPtrField<Item>& (Response::*items)() const,
                 std::vector<Column> (*columns)(bool wide),
                 std::vector<std::string> (*cells)(const Item&, bool wide, bool exact_times,
                                                   absl::Time now)) {
  std::vector<Item> all;
  bool more = false;
  int64_t total = 0;
  if (int code = ListPages(env, method, request, items, ListLimit(), &all, &more, &total)) {
    return code;
  }
  std::vector<const Item*> pointers;
  for (const Item& item : all) pointers.push_back(&item);
  PrintResources<Item>(env, pointers, true, columns, cells);
  if (more) ReportMore(pointers.size(), total);
  return 0;
}

}  // namespace serpwow::client
