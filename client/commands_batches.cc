// The batch commands: verbs at the top level act on batches.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/batch_file.h"
#include "client/cli.h"

ABSL_FLAG(int64_t, limit, 100, "list commands: at most this many items (0: all of them)");
ABSL_FLAG(bool, all, false,
          "list commands: every item (--limit=0); stop: stop every queued and running batch");
ABSL_FLAG(std::string, status, "", "list: only batches in this status (idle, queued, running)");
ABSL_FLAG(std::string, name, "",
          "list: display names matching this pattern (a '*' at the start and/or end is a "
          "wildcard); create/update: the display name");
ABSL_FLAG(std::string, created_after, "", "list: created after this RFC 3339 time");
ABSL_FLAG(std::string, created_before, "", "list: created before this RFC 3339 time");
ABSL_FLAG(std::string, filter, "",
          "list: an AIP-160 filter as the server takes it (joined to the other list flags "
          "with AND)");
ABSL_FLAG(std::string, sort, "",
          "list: display_name, create_time (the default), last_run_time, priority or status, "
          "optionally followed by ',desc'");
ABSL_FLAG(std::string, schedule, "", "create/update: manual, hourly, daily, weekly or monthly");
ABSL_FLAG(std::vector<std::string>, hours, {}, "create/update: hours of the day, e.g. 9,17");
ABSL_FLAG(std::vector<std::string>, days, {},
          "create/update: days of a weekly schedule (mon,wed) or of a monthly one (1,15)");
ABSL_FLAG(std::string, priority, "", "create/update: lowest, low, normal, high or highest");
ABSL_FLAG(std::string, webhook, "", "create/update: the https URL notified when a run completes");
ABSL_FLAG(std::string, email, "", "create/update: the address notified when a run completes");
ABSL_FLAG(std::vector<std::string>, as, {},
          "create/update: the notifications' result formats, among json, jsonlines and csv");
ABSL_FLAG(std::vector<std::string>, destination, {}, "create/update: destination ids");
ABSL_FLAG(std::string, enabled, "", "create/update: true or false, whether the schedule runs");
ABSL_FLAG(std::string, f, "",
          "create/update: the batch from a file (JSON or YAML with the proto's field names, "
          "e.g. display_name, schedule_type: SCHEDULE_TYPE_DAILY, schedule_hours: [9, 17]); "
          "flags given beside it win");
ABSL_FLAG(bool, force, false, "delete: also a batch that has searches or result sets");
ABSL_FLAG(bool, yes, false, "delete, stop --all, searches clear: do not ask first");
ABSL_FLAG(bool, wait, false,
          "start: follow the run until it ends (exit 0 with a result set, 65 without one)");
ABSL_FLAG(bool, dry_run, false,
          "stop --all: list what would be stopped, stop nothing; searches clear: only count");
ABSL_FLAG(std::string, request_id, "",
          "create/start: the request's UUID (default: a new one per invocation), so that a "
          "retry of the same command is answered once");

namespace serpwow::client {

// A random (version 4) UUID.
std::string NewUuid() {
  std::random_device device;
  std::mt19937_64 rng((static_cast<uint64_t>(device()) << 32) ^ device());
  uint64_t hi = rng(), lo = rng();
  hi = (hi & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;
  lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;
  std::string hex = absl::StrCat(absl::Hex(hi, absl::kZeroPad16), absl::Hex(lo, absl::kZeroPad16));
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4), "-",
                      hex.substr(16, 4), "-", hex.substr(20));
}

std::string RequestId() {
  const std::string given = absl::GetFlag(FLAGS_request_id);
  return given.empty() ? NewUuid() : given;
}

// Asks on the terminal; true for "y" or "yes". Not asked (true) with --yes
// or when stdin is not a terminal.
bool Confirm(const std::string& question) {
  if (absl::GetFlag(FLAGS_yes) || isatty(STDIN_FILENO) != 1) return true;
  std::fprintf(stderr, "%s [y/N] ", question.c_str());
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  answer = absl::AsciiStrToLower(absl::StripAsciiWhitespace(answer));
  return answer == "y" || answer == "yes";
}

namespace {

std::string Quoted(const std::string& value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// The list flags as one AIP-160 filter (the server checks it).
absl::StatusOr<std::string> ListFilter() {
  std::vector<std::string> terms;
  if (const std::string status = absl::GetFlag(FLAGS_status); !status.empty()) {
    terms.push_back("status = " + absl::AsciiStrToUpper(status));
  }
  if (const std::string name = absl::GetFlag(FLAGS_name); !name.empty()) {
    terms.push_back("display_name = " + Quoted(name));
  }
  if (const std::string after = absl::GetFlag(FLAGS_created_after); !after.empty()) {
    terms.push_back("create_time > " + Quoted(after));
  }
  if (const std::string before = absl::GetFlag(FLAGS_created_before); !before.empty()) {
    terms.push_back("create_time < " + Quoted(before));
  }
  if (const std::string raw = absl::GetFlag(FLAGS_filter); !raw.empty()) terms.push_back(raw);
  return absl::StrJoin(terms, " AND ");
}

std::string OrderBy() {
  std::string sort = absl::GetFlag(FLAGS_sort);
  if (absl::EndsWith(sort, ",desc")) return sort.substr(0, sort.size() - 5) + " desc";
  if (absl::EndsWith(sort, ",asc")) return sort.substr(0, sort.size() - 4);
  return sort;
}

absl::Status ParseInts(const char* flag, const std::vector<std::string>& values,
                       google::protobuf::RepeatedField<int32_t>* out) {
  out->Clear();
  for (const std::string& v : values) {
    int32_t n = 0;
    if (!absl::SimpleAtoi(v, &n)) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, ": '", v, "' is not a number"));
    }
    out->Add(n);
  }
  return absl::OkStatus();
}

// The batch fields the create/update flags set, and their mask paths.
absl::Status BatchFromFlags(v1::Batch* batch, std::vector<std::string>* paths) {
  if (const std::string file = absl::GetFlag(FLAGS_f); !file.empty()) {
    absl::Status read = ReadBatchFile(file, batch, paths);
    if (!read.ok()) return read;
  }
  auto set = [paths](const char* path) {
    if (std::find(paths->begin(), paths->end(), path) == paths->end()) paths->push_back(path);
  };
  if (Given("name")) {
    batch->set_display_name(absl::GetFlag(FLAGS_name));
    set("display_name");
  }
  if (Given("schedule")) {
    const std::string word = absl::AsciiStrToUpper(absl::GetFlag(FLAGS_schedule));
    v1::ScheduleType type;
    if (!v1::ScheduleType_Parse("SCHEDULE_TYPE_" + word, &type) ||
        type == v1::SCHEDULE_TYPE_UNSPECIFIED) {
      return absl::InvalidArgumentError(
          "--schedule: one of manual, hourly, daily, weekly, monthly");
    }
    batch->set_schedule_type(type);
    set("schedule_type");
  }
  if (Given("hours")) {
    if (absl::Status s =
            ParseInts("hours", absl::GetFlag(FLAGS_hours), batch->mutable_schedule_hours());
        !s.ok()) {
      return s;
    }
    set("schedule_hours");
  }
  if (Given("days")) {
    static constexpr const char* kDays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    const std::vector<std::string> days = absl::GetFlag(FLAGS_days);
    bool names = !days.empty();
    for (const std::string& d : days) {
      names = names && std::find(std::begin(kDays), std::end(kDays), absl::AsciiStrToLower(d)) !=
                           std::end(kDays);
    }
    if (names) {
      batch->clear_schedule_days_of_week();
      for (const std::string& d : days) {
        batch->add_schedule_days_of_week(static_cast<int32_t>(
            std::find(std::begin(kDays), std::end(kDays), absl::AsciiStrToLower(d)) -
            std::begin(kDays)));
      }
      set("schedule_days_of_week");
    } else {
      if (absl::Status s = ParseInts("days", days, batch->mutable_schedule_days_of_month());
          !s.ok()) {
        return absl::InvalidArgumentError(
            "--days: day names (mon,wed) for a weekly schedule, or days of the month (1,15)");
      }
      set("schedule_days_of_month");
    }
  }
  if (Given("priority")) {
    v1::Priority priority;
    if (!v1::Priority_Parse("PRIORITY_" + absl::AsciiStrToUpper(absl::GetFlag(FLAGS_priority)),
                            &priority) ||
        priority == v1::PRIORITY_UNSPECIFIED) {
      return absl::InvalidArgumentError("--priority: one of lowest, low, normal, high, highest");
    }
    batch->set_priority(priority);
    set("priority");
  }
  if (Given("webhook")) {
    batch->set_notification_webhook(absl::GetFlag(FLAGS_webhook));
    set("notification_webhook");
  }
  if (Given("email")) {
    batch->set_notification_email(absl::GetFlag(FLAGS_email));
    set("notification_email");
  }
  if (Given("as")) {
    bool json = false, jsonlines = false, csv = false;
    for (const std::string& f : absl::GetFlag(FLAGS_as)) {
      if (f == "json") {
        json = true;
      } else if (f == "jsonlines" || f == "jsonl") {
        jsonlines = true;
      } else if (f == "csv") {
        csv = true;
      } else if (!f.empty()) {
        return absl::InvalidArgumentError("--as: among json, jsonlines and csv");
      }
    }
    batch->set_notification_as_json(json);
    batch->set_notification_as_jsonlines(jsonlines);
    batch->set_notification_as_csv(csv);
    set("notification_as_json");
    set("notification_as_jsonlines");
    set("notification_as_csv");
  }
  if (Given("destination")) {
    batch->clear_destination_ids();
    for (const std::string& d : absl::GetFlag(FLAGS_destination)) batch->add_destination_ids(d);
    set("destination_ids");
  }
  if (Given("enabled")) {
    const std::string value = absl::GetFlag(FLAGS_enabled);
    if (value != "true" && value != "false") {
      return absl::InvalidArgumentError("--enabled: true or false");
    }
    batch->set_enabled(value == "true");
    set("enabled");
  }
  return absl::OkStatus();
}

int StopAll(const Env& env) {
  v1::StopAllBatchesRequest request;
  const bool dry_run = absl::GetFlag(FLAGS_dry_run);
  const bool ask = !dry_run && !absl::GetFlag(FLAGS_yes) && isatty(STDIN_FILENO) == 1;
  v1::StopAllBatchesResponse listing;
  if (dry_run || ask) {
    request.set_validate_only(true);
    if (int code = Call(env, &v1::BatchService::Stub::StopAllBatches, request, &listing)) {
      return code;
    }
    if (env.format == Format::kJson || env.format == Format::kJsonl) {
      std::printf("%s\n", MessageJson(listing).c_str());
    } else {
      std::fputs(FormatStopAllTable(listing, env.terminal, env.no_headers).c_str(), stdout);
      std::fprintf(stderr, "%s\n", FormatStopAllSummary(listing, true).c_str());
    }
    if (dry_run) return 0;
    if (!Confirm(absl::StrCat("stop these ", listing.batches_size(), " batches?"))) {
      std::fprintf(stderr, "batchctl: nothing stopped\n");
      return 0;
    }
  }
  request.set_validate_only(false);
  v1::StopAllBatchesResponse response;
  if (int code = Call(env, &v1::BatchService::Stub::StopAllBatches, request, &response)) {
    return code;
  }
  if (env.format == Format::kJson || env.format == Format::kJsonl) {
    std::printf("%s\n", MessageJson(response).c_str());
    return 0;
  }
  if (!ask) std::fputs(FormatStopAllTable(response, env.terminal, env.no_headers).c_str(), stdout);
  std::printf("%s\n", FormatStopAllSummary(response, false).c_str());
  if (response.batches_failed_to_stop() > 0) {
    std::fprintf(stderr, "batchctl: warning: SerpWow failed to stop %d batches\n",
                 response.batches_failed_to_stop());
  }
  return 0;
}

}  // namespace

std::string BatchName(const std::string& arg) {
  return absl::StartsWith(arg, "batches/") ? arg : "batches/" + arg;
}

int ReportError(const Env& env, const grpc::Status& status) {
  if (env.format == Format::kJson || env.format == Format::kJsonl) {
    std::printf("%s\n", ErrorJson(status).c_str());
  } else {
    std::fprintf(stderr, "batchctl: %s\n", FormatError(status).c_str());
  }
  return ExitCodeFor(status.error_code());
}

int OneArg(const std::string& command, const std::vector<std::string>& args) {
  if (args.size() != 1) return UsageError("'" + command + "' takes exactly one BATCH_ID");
  return 0;
}

namespace {
std::vector<std::string>& GivenFlags() {
  static std::vector<std::string>* given = new std::vector<std::string>();
  return *given;
}
// The values of the flags that may be repeated, by name.
std::vector<std::pair<std::string, std::string>>& RepeatedValues() {
  static auto* values = new std::vector<std::pair<std::string, std::string>>();
  return *values;
}
constexpr const char* kRepeatedFlags[] = {"param"};
}  // namespace

void SetGivenFlags(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") break;
    if (arg.size() < 2 || arg[0] != '-') continue;
    arg = arg.substr(arg[1] == '-' ? 2 : 1);
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    GivenFlags().push_back(name);
    for (const char* repeated : kRepeatedFlags) {
      if (name != repeated) continue;
      if (eq != std::string::npos) {
        RepeatedValues().emplace_back(name, arg.substr(eq + 1));
      } else if (i + 1 < argc) {
        RepeatedValues().emplace_back(name, argv[i + 1]);  // `--param gl=us`
      }
    }
  }
}

std::vector<std::string> GivenValues(const std::string& name) {
  std::vector<std::string> out;
  for (const auto& [flag, value] : RepeatedValues()) {
    if (flag == name) out.push_back(value);
  }
  return out;
}

bool Given(const std::string& name) {
  const auto& given = GivenFlags();
  return std::find(given.begin(), given.end(), name) != given.end();
}

int64_t ListLimit() { return absl::GetFlag(FLAGS_all) ? 0 : absl::GetFlag(FLAGS_limit); }

void ReportMore(size_t shown, int64_t total) {
  if (total > 0) {
    std::fprintf(stderr, "showing %zu of %lld (--limit=0 or --all for all)\n", shown,
                 static_cast<long long>(total));
  } else {
    std::fprintf(stderr, "showing the first %zu (--limit=0 or --all for all)\n", shown);
  }
}

int StopCommand(const Env& env, const std::vector<std::string>& args) {
  if (absl::GetFlag(FLAGS_all)) {
    if (!args.empty()) return UsageError("'stop --all' takes no BATCH_ID");
    return StopAll(env);
  }
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

int ListCommand(const Env& env, const std::vector<std::string>& args) {
  if (!args.empty()) return UsageError("'list' takes no arguments; filter with its flags");
  absl::StatusOr<std::string> filter = ListFilter();
  if (!filter.ok()) return UsageError(std::string(filter.status().message()));
  v1::ListBatchesRequest request;
  request.set_filter(*filter);
  request.set_order_by(OrderBy());
  return ListAndPrint(env, &v1::BatchService::Stub::ListBatches, request,
                      &v1::ListBatchesResponse::batches, &BatchColumns, &BatchCells);
}

int CreateCommand(const Env& env, const std::vector<std::string>& args) {
  if (!args.empty()) return UsageError("'create' takes no arguments; give --name and flags or -f");
  v1::CreateBatchRequest request;
  std::vector<std::string> paths;
  if (absl::Status s = BatchFromFlags(request.mutable_batch(), &paths); !s.ok()) {
    return UsageError(std::string(s.message()));
  }
  request.set_request_id(RequestId());
  v1::Batch batch;
  if (int code = Call(env, &v1::BatchService::Stub::CreateBatch, request, &batch)) return code;
  if (env.format == Format::kTable || env.format == Format::kWide) {
    std::printf("created batch %s \"%s\"\n", batch.batch_id().c_str(),
                batch.display_name().c_str());
  } else {
    PrintResources<v1::Batch>(env, {&batch}, false, &BatchColumns, &BatchCells);
  }
  return 0;
}

int UpdateCommand(const Env& env, const std::vector<std::string>& args) {
  if (int bad = OneArg("update", args)) return bad;
  v1::UpdateBatchRequest request;
  std::vector<std::string> paths;
  if (absl::Status s = BatchFromFlags(request.mutable_batch(), &paths); !s.ok()) {
    return UsageError(std::string(s.message()));
  }
  if (paths.empty()) return UsageError("'update' needs at least one field to change");
  request.mutable_batch()->set_name(BatchName(args[0]));
  for (const std::string& path : paths) request.mutable_update_mask()->add_paths(path);
  v1::Batch batch;
  if (int code = Call(env, &v1::BatchService::Stub::UpdateBatch, request, &batch)) return code;
  if (env.format == Format::kTable || env.format == Format::kWide) {
    std::printf("updated batch %s: %s\n", batch.batch_id().c_str(),
                absl::StrJoin(paths, ", ").c_str());
  } else {
    PrintResources<v1::Batch>(env, {&batch}, false, &BatchColumns, &BatchCells);
  }
  return 0;
}

int DeleteCommand(const Env& env, const std::vector<std::string>& args) {
  if (int bad = OneArg("delete", args)) return bad;
  const std::string name = BatchName(args[0]);
  // A free read first: the prompt and the summary say what goes with it.
  v1::GetBatchRequest get;
  get.set_name(name);
  v1::Batch before;
  if (int code = Call(env, &v1::BatchService::Stub::GetBatch, get, &before)) return code;
  const std::string contents = absl::StrCat(before.searches_total_count(), " searches, ",
                                            before.results_count(), " result sets");
  if (!Confirm(absl::StrCat("delete batch ", before.batch_id(), " \"", before.display_name(),
                            "\" (", contents, ")?"))) {
    std::fprintf(stderr, "batchctl: not deleted\n");
    return 0;
  }
  v1::DeleteBatchRequest request;
  request.set_name(name);
  request.set_force(absl::GetFlag(FLAGS_force));
  google::protobuf::Empty empty;
  if (int code = Call(env, &v1::BatchService::Stub::DeleteBatch, request, &empty)) return code;
  if (env.format == Format::kName) {
    std::printf("%s\n", name.c_str());
  } else {
    std::printf("deleted batch %s (%s)\n", before.batch_id().c_str(), contents.c_str());
  }
  return 0;
}

int StartCommand(const Env& env, const std::vector<std::string>& args) {
  if (int bad = OneArg("start", args)) return bad;
  v1::StartBatchRequest request;
  request.set_name(BatchName(args[0]));
  request.set_request_id(RequestId());
  v1::StartBatchResponse response;
  if (int code = Call(env, &v1::BatchService::Stub::StartBatch, request, &response)) return code;
  switch (env.format) {
    case Format::kJson:
    case Format::kJsonl:
      std::printf("%s\n", MessageJson(response).c_str());
      break;
    case Format::kName:
      std::printf("%s\n", response.name().c_str());
      break;
    default:
      std::printf("%s\n", FormatStarted(response).c_str());
  }
  std::fflush(stdout);
  if (!absl::GetFlag(FLAGS_wait)) return 0;
  // The watch starts from the batch as the start left it, seen as queued:
  // a run that is over before the first poll (or one stopped at once) is
  // still reported, as RUN_COMPLETED or RUN_ENDED.
  v1::Batch since = response.batch();
  if (since.status() == v1::BATCH_STATUS_IDLE || since.status() == v1::BATCH_STATUS_UNSPECIFIED) {
    since.set_status(v1::BATCH_STATUS_QUEUED);
  }
  v1::WatchBatchEvent last;
  const int code = WatchBatch(env, response.name(), true, &since, false, &last);
  if (env.format == Format::kTable || env.format == Format::kWide) {
    if (code == 0) {
      const v1::ResultSet& rs = last.result_set();
      std::printf("run completed: result set %d, %d searches, %d failed\n", rs.result_set_id(),
                  rs.searches_completed(), rs.searches_failed());
    } else if (code == kExitRunEndedWithoutResults) {
      std::printf("%s\n", last.type() == v1::WatchBatchEvent::EVENT_TYPE_BATCH_DELETED
                              ? "the batch was deleted before its run ended"
                              : "run ended without results");
    }
  }
  return code;
}

}  // namespace serpwow::client
