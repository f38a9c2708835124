// The account and the child resources of a batch, as nouns with verbs (gh's
// grammar): `account`, `results list|get|export`, `searches VERB` (the
// verbs that list and change searches are in commands_searches.cc).
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/child_format.h"
#include "client/cli.h"

ABSL_FLAG(std::string, format, "json",
          "results export / searches export: the files' format, json, jsonl (results only) or "
          "csv");
ABSL_FLAG(std::vector<std::string>, csv_fields, {},
          "results export --format=csv: the result fields for the columns, comma-separated "
          "(e.g. organic_results.position,organic_results.title)");

namespace serpwow::client {
namespace {

absl::StatusOr<v1::ExportFormat> ExportFormatFlag(bool allow_jsonl) {
  const std::string format = absl::GetFlag(FLAGS_format);
  if (format == "json") return v1::EXPORT_FORMAT_JSON;
  if (format == "csv") return v1::EXPORT_FORMAT_CSV;
  if (format == "jsonl" && allow_jsonl) return v1::EXPORT_FORMAT_JSON_LINES;
  return absl::InvalidArgumentError(absl::StrCat("--format=", format, ": the formats are json",
                                                 allow_jsonl ? ", jsonl" : "", " and csv"));
}

std::string ResultSetName(const std::string& batch, const std::string& result_set) {
  return absl::StrCat(BatchName(batch), "/resultSets/", result_set);
}

// An export's answer: the links, one per line, or the whole response as JSON.
template <typename Response>
int PrintLinks(const Env& env, const Response& response) {
  if (env.format == Format::kJson || env.format == Format::kJsonl) {
    std::printf("%s\n", MessageJson(response).c_str());
  } else {
    std::fputs(FormatLinks(response.download_links()).c_str(), stdout);
  }
  return 0;
}

int ResultsList(const Env& env, const std::vector<std::string>& args) {
  if (args.size() != 1) return UsageError("'results list' takes one BATCH_ID");
  v1::ListResultSetsRequest request;
  request.set_parent(BatchName(args[0]));
  return ListAndPrint(env, &v1::BatchService::Stub::ListResultSets, request,
                      &v1::ListResultSetsResponse::result_sets, &ResultSetColumns, &ResultSetCells);
}

int ResultsGet(const Env& env, const std::vector<std::string>& args) {
  if (args.size() != 2) return UsageError("'results get' takes BATCH_ID RESULT_SET_ID");
  v1::GetResultSetRequest request;
  request.set_name(ResultSetName(args[0], args[1]));
  v1::ResultSet result_set;
  if (int code = Call(env, &v1::BatchService::Stub::GetResultSet, request, &result_set)) {
    return code;
  }
  if (env.format == Format::kTable || env.format == Format::kWide) {
    std::printf("%s\n", FormatResultSet(result_set).c_str());
  } else {
    PrintResources<v1::ResultSet>(env, {&result_set}, false, &ResultSetColumns, &ResultSetCells);
  }
  return 0;
}

int ResultsExport(const Env& env, const std::vector<std::string>& args) {
  if (args.size() != 2) return UsageError("'results export' takes BATCH_ID RESULT_SET_ID");
  absl::StatusOr<v1::ExportFormat> format = ExportFormatFlag(true);
  if (!format.ok()) return UsageError(std::string(format.status().message()));
  v1::ExportResultSetRequest request;
  request.set_name(ResultSetName(args[0], args[1]));
  request.set_format(*format);
  for (const std::string& field : absl::GetFlag(FLAGS_csv_fields)) request.add_csv_fields(field);
  v1::ExportResultSetResponse response;
  if (int code = Call(env, &v1::BatchService::Stub::ExportResultSet, request, &response)) {
    return code;
  }
  return PrintLinks(env, response);
}

int SearchesExport(const Env& env, const std::vector<std::string>& args) {
  if (args.size() != 1) return UsageError("'searches export' takes one BATCH_ID");
  absl::StatusOr<v1::ExportFormat> format = ExportFormatFlag(false);
  if (!format.ok()) return UsageError(std::string(format.status().message()));
  v1::ExportSearchesRequest request;
  request.set_parent(BatchName(args[0]));
  request.set_format(*format);
  v1::ExportSearchesResponse response;
  if (int code = Call(env, &v1::BatchService::Stub::ExportSearches, request, &response)) {
    return code;
  }
  return PrintLinks(env, response);
}

struct Verb {
  const char* name;
  CommandFn run;
};

// `noun VERB ARGS...`: the verb picked from `verbs`.
int Dispatch(const char* noun, const std::vector<Verb>& verbs, const Env& env,
             const std::vector<std::string>& args) {
  std::string names;
  for (const Verb& v : verbs) {
    if (!args.empty() && args[0] == v.name) {
      return v.run(env, std::vector<std::string>(args.begin() + 1, args.end()));
    }
    absl::StrAppend(&names, names.empty() ? "" : ", ", v.name);
  }
  return UsageError(absl::StrCat("'", noun, "' needs a verb: ", names));
}

}  // namespace

int AccountCommand(const Env& env, const std::vector<std::string>& args) {
  if (!args.empty()) return UsageError("'account' takes no arguments");
  v1::GetAccountRequest request;
  request.set_name("account");
  v1::Account account;
  if (int code = Call(env, &v1::BatchService::Stub::GetAccount, request, &account)) return code;
  PrintResources<v1::Account>(env, {&account}, false, &AccountColumns, &AccountCells);
  return 0;
}

int ResultsCommand(const Env& env, const std::vector<std::string>& args) {
  return Dispatch("results",
                  {{"list", &ResultsList},
                   {"get", &ResultsGet},
                   {"export", &ResultsExport},
                   {"links", &ResultsExport}},
                  env, args);
}

int SearchesCommand(const Env& env, const std::vector<std::string>& args) {
  return Dispatch("searches",
                  {{"list", &SearchesList},
                   {"find", &SearchesFind},
                   {"export", &SearchesExport},
                   {"add", &SearchesAdd},
                   {"update", &SearchesUpdate},
                   {"delete", &SearchesDelete},
                   {"clear", &SearchesClear}},
                  env, args);
}

}  // namespace serpwow::client
